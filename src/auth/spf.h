/*
 * spf - SPF's check_host() (RFC 7208 section 4) as a state machine that
 * does no I/O.
 *
 * The caller makes a check with spf_new, then loops: spf_step says
 * which DNS question comes next (name and type) or that the check is
 * done; the caller asks DNS however it likes (c-ares on the daemon's
 * loop, a table in a test) and feeds the answer back, each record with
 * spf_answer_rr and the outcome with spf_answer_end. Nothing is kept
 * from an answer but what the check needs, each part bounded: one SPF
 * record of at most record_max bytes, at most mx_names or ptr_names
 * names, a yes/no for addresses; so a hostile answer costs no memory.
 *
 *	struct spf *s = spf_new(&params);
 *	struct spf_query q;
 *	while (spf_step(s, &q)) {
 *		... for each record: spf_answer_rr(s, type, data, len);
 *		spf_answer_end(s, SPF_DNS_OK);  (or NXDOMAIN, TEMPFAIL)
 *	}
 *	spf_result(s), spf_domain(s), spf_explanation(s)
 *
 * The limits of RFC 7208 4.6.4 hold: at most dns_terms (10) of the terms
 * that ask DNS (include, a, mx, ptr, exists, redirect), at most
 * void_lookups (2) of them answered with nothing, at most mx_names (10)
 * MX records for one mx (more is a permerror) and ptr_names (10) names
 * of a PTR answer looked at (the rest ignored). Include and redirect
 * loops end at the term limit.
 */
#ifndef SALLYPORT_SPF_H
#define SALLYPORT_SPF_H

#include <stdbool.h>
#include <stddef.h>

enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

/* The identity checked (RFC 7208 2.3, 2.4). */
enum spf_identity {
	SPF_ID_MAILFROM,
	SPF_ID_HELO,		/* null MAIL FROM: postmaster@HELO */
};

/* DNS record types asked for, as on the wire. */
#define SPF_TYPE_A	1
#define SPF_TYPE_PTR	12
#define SPF_TYPE_MX	15
#define SPF_TYPE_TXT	16
#define SPF_TYPE_AAAA	28

/* How a DNS question ended. OK with no record is "no data". */
enum spf_dns {
	SPF_DNS_OK,
	SPF_DNS_NXDOMAIN,
	SPF_DNS_TEMPFAIL,	/* SERVFAIL, timeout, unreadable answer */
};

struct spf_limits {
	unsigned	dns_terms;	/* RFC 7208 4.6.4: 10 */
	unsigned	void_lookups;	/* 2 */
	unsigned	mx_names;	/* 10 */
	unsigned	ptr_names;	/* 10 */
	size_t		record_max;	/* bytes of one SPF record */
};

#define SPF_LIMITS_DEFAULT	{ 10, 2, 10, 10, 4096 }
/* Largest values a configuration may set. */
#define SPF_DNS_TERMS_MAX	100
#define SPF_NAMES_MAX		100
#define SPF_RECORD_MAX		65535

struct spf_params {
	int			 family;	/* AF_INET or AF_INET6 */
	const unsigned char	*ip;		/* 4 or 16 bytes; an IPv4-
						 * mapped IPv6 counts as IPv4 */
	const char		*mail_from;	/* MAIL FROM's address, no
						 * brackets; "" or NULL: null */
	const char		*helo;		/* HELO/EHLO argument */
	const char		*receiver;	/* our host name, %{r} */
	unsigned long long	 now;		/* %{t}: seconds since 1970 */
	const struct spf_limits	*limits;	/* NULL: SPF_LIMITS_DEFAULT */
};

struct spf;

/* The next DNS question, valid until the answer is fed. */
struct spf_query {
	const char	*name;
	unsigned	 type;		/* SPF_TYPE_* */
};

/* A check; NULL without memory or with an address family that is
 * neither IPv4 nor IPv6. */
struct spf	*spf_new(const struct spf_params *);
void		 spf_free(struct spf *);

/* true: answer *q; false: the check is done. */
bool		 spf_step(struct spf *, struct spf_query *q);
/* One record of the answer to the last question. A and AAAA: the 4 or
 * 16 address bytes; MX: the exchange's name and PTR: the name, as
 * text ("mail.example.com", a final dot or not); TXT: the RDATA as on
 * the wire (character-strings, each after its length byte). Records
 * of another type (a CNAME on the way) are ignored. */
void		 spf_answer_rr(struct spf *, unsigned type, const void *data,
		    size_t len);
/* The answer is complete. */
void		 spf_answer_end(struct spf *, enum spf_dns);

/* The caller gives up (out of time): the check ends now as temperror,
 * with `why` as its problem. */
void		 spf_abort(struct spf *, const char *why);

/* Once done: */
enum spf_result	 spf_result(const struct spf *);
enum spf_identity spf_identity(const struct spf *);
/* The domain the result is for (MAIL FROM's, or HELO's): what DMARC
 * aligns with the From domain. */
const char	*spf_domain(const struct spf *);
/* For fail: the explanation from the record's exp=, expanded; NULL
 * when there is none (no exp=, or it could not be used), in which case
 * the caller says its own. */
const char	*spf_explanation(const struct spf *);
/* For permerror and temperror: what went wrong, for the log; "" for
 * the other results. */
const char	*spf_problem(const struct spf *);
/* DNS questions asked, for the log. */
unsigned	 spf_queries(const struct spf *);

const char	*spf_result_name(enum spf_result);
const char	*spf_identity_name(enum spf_identity);

#endif
