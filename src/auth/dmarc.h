/*
 * dmarc - DMARC's check of one message (RFC 7489 section 6.6, np= of
 * RFC 9091) as an evaluator that does no I/O: it asks the caller for
 * the TXT records at _dmarc.DOMAIN (and, for np=, whether a domain
 * exists) and is fed the answers, so the daemon's event loop and a
 * test drive the same code.
 *
 *	struct dmarc_params dp = { psl, &from, sample };
 *	struct dmarc *d = dmarc_new(&dp);
 *	dmarc_spf(d, DMARC_AUTH_PASS, "bounce.example.com");
 *	dmarc_dkim(d, DMARC_AUTH_PASS, "example.com");  (each signature)
 *	while (dmarc_step(d, &q))
 *		... look q.name up, then dmarc_answer_txt(d, ...) or
 *		dmarc_answer_exists(d, ...) as q.type says
 *	const struct dmarc_outcome *o = dmarc_evaluate(d);
 *	o->result, o->policy, o->reason ...
 *	dmarc_free(d);
 *
 * The DNS questions do not depend on the SPF and DKIM results, which
 * may be fed at any time before dmarc_evaluate: the lookups can run
 * while the message is still arriving.
 *
 * The lookups (6.6.3): _dmarc.FROM-DOMAIN; when it has no DMARC record
 * (NXDOMAIN, no data, or no TXT beginning with v=DMARC1), _dmarc.ORG
 * of the Organizational Domain, when that differs. Several DMARC
 * records at the name found, or a record that cannot be used
 * (dmarc_record.h): no DMARC processing, result none. A temporary DNS
 * failure: temperror, and nothing applied.
 *
 * The result: pass when SPF or a DKIM signature passed for a domain
 * aligned with the From domain (aspf=, adkim=: relaxed, the same
 * Organizational Domain, or strict, the same name). Otherwise, when an
 * aligned SPF or DKIM check had a temporary error, temperror (so that a
 * DNS failure never turns into a refusal); otherwise fail, and the
 * policy is the record's: p= when it was found at the From domain,
 * else sp= (np= when the From domain does not exist and np= is there).
 * pct= is sampled with the caller's `sample` (0..99): outside the
 * sample, reject becomes quarantine and quarantine becomes none
 * (6.6.4).
 *
 * No single author domain (dmarc_from.h: no From:, several From:
 * fields, addresses in several domains, an unreadable one): permerror
 * with policy reject and no lookup, as RFC 7489 6.6.1 says such mail is
 * typically rejected; a From: with addresses in two domains cannot so
 * escape the policy of the one it forges.
 */
#ifndef SALLYPORT_DMARC_H
#define SALLYPORT_DMARC_H

#include <stddef.h>

#include "auth/dmarc_from.h"
#include "auth/dmarc_record.h"
#include "auth/orgdomain.h"

/* RFC 8601's dmarc results */
enum dmarc_result {
	DMARC_RESULT_NONE,
	DMARC_RESULT_PASS,
	DMARC_RESULT_FAIL,
	DMARC_RESULT_TEMPERROR,
	DMARC_RESULT_PERMERROR,
};

/* An SPF or DKIM result as DMARC sees it: only a pass counts; a
 * temporary error can make DMARC's temperror; anything else (fail,
 * softfail, neutral, none, permerror, policy) is a fail. */
enum dmarc_auth {
	DMARC_AUTH_FAIL,
	DMARC_AUTH_PASS,
	DMARC_AUTH_TEMPERROR,
};

/* How a lookup ended. TXT: OK with its records (none: no data).
 * Exists: OK when the domain has an A, AAAA or MX record; NXDOMAIN when
 * it has none of them or does not exist at all (RFC 9091 2.1). */
enum dmarc_dns {
	DMARC_DNS_OK,
	DMARC_DNS_NXDOMAIN,
	DMARC_DNS_TEMPFAIL,
};

enum dmarc_qtype {
	DMARC_Q_TXT,		/* the TXT records at name */
	DMARC_Q_EXISTS,		/* does name exist (A, AAAA, MX)? */
};

struct dmarc_query {
	enum dmarc_qtype type;
	const char	*name;		/* valid until the answer */
};

struct dmarc_params {
	const struct orgdomain	 *psl;
	const struct dmarc_from	 *from;		/* every From: fed */
	unsigned		  sample;	/* uniform in 0..99, for pct= */
};

#define DMARC_REASON_MAX	256

struct dmarc_outcome {
	enum dmarc_result result;
	enum dmarc_policy policy;	/* to apply: none unless fail (or a
					 * permerror of From:) */
	const char	*domain;	/* the From domain ("" when none) */
	const char	*record_domain;	/* where the record was ("" none) */
	int		 has_record;
	struct dmarc_record record;	/* when has_record */
	enum dmarc_policy requested;	/* p=, sp= or np= (before pct=) */
	int		 sampled_out;	/* pct= spared the message (a fail,
					 * or a temperror after the record) */
	int		 spf_aligned;	/* an aligned SPF pass */
	int		 dkim_aligned;	/* an aligned DKIM pass */
	char		 reason[DMARC_REASON_MAX];
};

struct dmarc;

/* NULL without memory. */
struct dmarc	*dmarc_new(const struct dmarc_params *);
void		 dmarc_free(struct dmarc *);

/* The SPF result and the domain it was checked for: MAIL FROM's, or
 * HELO's when MAIL FROM was null (RFC 7489 3.1.2). Once. */
void		 dmarc_spf(struct dmarc *, enum dmarc_auth, const char *domain);
/* A DKIM signature's result and its d=. Any number. */
void		 dmarc_dkim(struct dmarc *, enum dmarc_auth, const char *d);

/* 1: answer *q; 0: no more questions. */
int		 dmarc_step(struct dmarc *, struct dmarc_query *q);
/* The answer to a DMARC_Q_TXT: n records, each one's strings joined
 * (len bytes). */
void		 dmarc_answer_txt(struct dmarc *, enum dmarc_dns,
		    const char *const *records, const size_t *lens, size_t n);
void		 dmarc_answer_exists(struct dmarc *, enum dmarc_dns);
/* The caller gives up on the lookups (out of time): temperror. */
void		 dmarc_abort(struct dmarc *, const char *why);

/* Once dmarc_step has said 0: the outcome, valid until dmarc_free. */
const struct dmarc_outcome *dmarc_evaluate(struct dmarc *);

const char	*dmarc_result_name(enum dmarc_result);

#endif
