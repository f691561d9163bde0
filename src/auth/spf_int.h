/*
 * spf_int - the inside of an SPF check, shared by the files that make
 * it: spf.c (the machine), spf_answer.c (answers folded in) and
 * spf_check.c (the object and its results). Not for other users.
 */
#ifndef SALLYPORT_SPF_INT_H
#define SALLYPORT_SPF_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/spf.h"
#include "auth/spf_macro.h"
#include "auth/spf_record.h"

#define NAME_SIZE	(SPF_DOMAIN_MAX + 3)	/* a name, a dot and NUL */

struct frame {
	char		 domain[NAME_SIZE];	/* %{d} */
	char		*text;			/* the SPF record */
	size_t		 len, pos;		/* its length, next term */
	struct spf_term	 redirect, exp;
	char		 qual;		/* the include: that made this frame */
	bool		 redirected;	/* reached through redirect= */
};

enum step {
	ST_START,
	ST_FETCH,		/* ask for the frame's record */
	ST_FETCHED,
	ST_TERM,		/* read and evaluate the next term */
	ST_TARGET,		/* expand the term's domain, then ask */
	ST_A_DONE,
	ST_MX_DONE,
	ST_MX_ADDR,
	ST_MX_ADDR_DONE,
	ST_PTR_DONE,
	ST_EXISTS_DONE,
	ST_REDIRECT,
	ST_PV,			/* validate the PTR names, then pv_ret */
	ST_PV_PTR_DONE,
	ST_PV_ADDR,
	ST_PV_ADDR_DONE,
	ST_EXP,
	ST_EXP_DONE,
	ST_EXP_EXPAND,		/* the explanation's text in hand */
	ST_WAIT,		/* a question is out */
	ST_DONE,
};

/* What the answer being fed is folded into. */
enum fold {
	FOLD_RECORD,		/* TXT: the one SPF record */
	FOLD_EXP,		/* TXT: the one explanation */
	FOLD_ADDR,		/* A/AAAA: does one match? */
	FOLD_MX,		/* MX: exchange names */
	FOLD_PTR,		/* PTR: names */
};

struct spf {
	struct spf_limits	 lim;
	int			 family;
	unsigned char		 ip[16];
	enum spf_identity	 identity;
	char			 sender[2 * NAME_SIZE + 64];	/* %{s} */
	char			*local;		/* in sender: %{l} */
	char			 sender_domain[NAME_SIZE];	/* %{o} */
	char			*helo, *receiver;
	unsigned long long	 now;

	struct frame		*frames;	/* lim.dns_terms + 1 */
	size_t			 depth;
	unsigned		 terms, voids, queries;
	struct spf_term		 term;		/* the one being evaluated */
	char			 target[SPF_EXPAND_MAX];
	enum step		 step, after, pv_ret;

	/* the question out, and what its answer has said so far */
	char			 qname[NAME_SIZE];
	unsigned		 qtype;
	enum fold		 fold;
	enum spf_dns		 rcode;
	unsigned		 count;		/* records of qtype */
	unsigned		 nspf;		/* FOLD_RECORD: SPF records */
	bool			 too_long, match;
	char			*rec;		/* FOLD_RECORD/EXP: first one */
	size_t			 reclen;

	/* MX names of the mx being evaluated */
	char			(*mx)[NAME_SIZE];
	unsigned		 nmx, imx;
	/* PTR names, validated once per check */
	char			(*pv)[NAME_SIZE];
	bool			*pv_ok;
	unsigned		 npv, ipv;
	bool			 pv_done;
	char			 p[NAME_SIZE];	/* %{p} */

	enum spf_result		 result;
	char			*exp_text;	/* exp='s TXT, unexpanded */
	size_t			 exp_len;
	char			*explanation;
	char			 problem[400];
};

/* spf.c */
/* Run the machine until it asks a question or is done. */
void		spf_run(struct spf *);
/* Is the client's address in addr/prefix? */
bool		spf_in_net(const struct spf *, const unsigned char *addr,
		    unsigned prefix);
/* A string into a buffer of n bytes, cut short if need be. */
void		spf_copy(char *dst, size_t n, const char *src);
/* SPF_TYPE_A or SPF_TYPE_AAAA, for the client's family. */
unsigned	spf_addr_type(const struct spf *);

#endif
