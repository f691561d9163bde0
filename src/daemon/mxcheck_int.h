/*
 * mxcheck_int - one transaction's checks, shared by mxcheck.c (running
 * them on the loop) and mxcheck_verdict.c (what their results say:
 * the Authentication-Results field, a refusal, the quarantine mark).
 */
#ifndef SALLYPORT_MXCHECK_INT_H
#define SALLYPORT_MXCHECK_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <ev.h>

#include "auth/dkim_verify.h"
#include "auth/dmarc.h"
#include "auth/spf.h"
#include "daemon/mxcheck.h"
#include "lib/buf.h"

enum mx_policy { MX_OFF, MX_HEADER, MX_ENFORCE };

struct mx_key {
	struct mxcheck	*m;
	size_t		 i;		/* the signature */
	struct dns_req	*req;		/* NULL: answered */
};

struct mxcheck {
	struct mxcheck_params p;
	enum mx_policy	 spf_pol, dkim_pol, dmarc_pol;
	bool		 run_spf, run_dkim, run_dmarc;
	char		 sender[257];
	char		 helo[256];
	char		 ip[64];

	/* SPF, from MAIL on */
	struct spf_lookup *spf;		/* running */
	bool		 spf_done;
	enum spf_result	 spf_result;
	bool		 spf_helo;	/* the HELO identity was checked */
	char		 spf_domain[256];
	char		 spf_why[256];	/* explanation (fail) or problem */
	mxcheck_cb	*spf_cb;	/* MAIL waits for it */
	void		*spf_arg;
	bool		 starting;	/* inside mxcheck_new */
	ev_timer	 spf_later;	/* an answer that came inside it */

	/* DKIM, from DATA on */
	struct dkim_verify *dkim;
	bool		 dkim_unreadable;	/* header past its bounds */
	struct mx_key	 keys[DKIM_MAX_SIGNATURES];
	size_t		 keys_out;
	bool		 keys_starting;	/* inside the loop asking them */
	bool		 dkim_done;
	ev_timer	 dkim_timer;

	/* DMARC, once SPF and DKIM are done */
	const struct dmarc_from *from;
	struct dmarc	*dmarc;
	struct dns_req	*dmarc_req;
	bool		 dmarc_stepping, dmarc_fed;
	bool		 dmarc_started, dmarc_done;
	ev_timer	 dmarc_timer;
	const struct dmarc_outcome *outcome;	/* NULL: not checked */

	/* the end */
	bool		 ended;
	mxcheck_cb	*end_cb;
	void		*end_arg;
	struct buf	 fields;	/* what is put on the message */
	char		 summary[1024];	/* for the log */
	char		 reply[1024];	/* a refusal (the engine cuts it) */
};

/* mxcheck_verdict.c */
/* After SPF, for MAIL's wait: refuse a fail under spf_policy enforce. */
void	mxcheck_spf_verdict(struct mxcheck *, struct smtp_check_result *);
/* At the end: the fields, the summary, and accept or refuse. */
void	mxcheck_verdict(struct mxcheck *, struct smtp_check_result *);
/* The one spelling of a policy key's value. */
enum mx_policy mxcheck_policy(const char *);

#endif
