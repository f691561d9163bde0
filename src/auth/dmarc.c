/*
 * dmarc - the per-message DMARC evaluator: policy discovery as a small
 * state machine over the caller's DNS answers, alignment of the SPF and
 * DKIM results fed to it, and the policy that follows (dmarc.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dmarc.h"

enum state {
	ST_ASK_FROM,	/* _dmarc.FROM */
	ST_ASK_ORG,	/* _dmarc.ORG */
	ST_ASK_EXISTS,	/* does FROM exist? (np=) */
	ST_DONE,
};

/* what one identifier (SPF, or DKIM's best) brought, by alignment */
struct ident {
	int		 pass_strict, pass_relaxed;
	int		 temp_strict, temp_relaxed;
	char		 domain[ORGDOMAIN_MAX];	/* for the reason */
	enum dmarc_auth	 auth;
	int		 fed;
};

struct dmarc {
	const struct orgdomain	*psl;
	enum state		 state;
	unsigned		 sample;
	char			 from[ORGDOMAIN_MAX];
	char			 org[ORGDOMAIN_MAX];
	char			 qname[ORGDOMAIN_MAX + 8];
	const char		*from_problem;	/* no author domain */
	enum dmarc_result	 early;		/* set before evaluation */
	int			 early_set;
	int			 at_org;	/* the record is the org's */
	int			 nonexistent;	/* FROM does not exist */
	char			 note[96];	/* a lookup's remark */
	struct ident		 spf, dkim;
	struct dmarc_outcome	 out;
};

static void	say(char *, size_t, const char *, ...)
	__attribute__((format(printf, 3, 4)));
static void	finish(struct dmarc *, enum dmarc_result, const char *, ...)
	__attribute__((format(printf, 3, 4)));

/* vsay - a text into out, cut with "..." when it is longer (a reason
 * names domains a peer chose: it is bounded, not complete) */
static void
vsay(char *out, size_t len, const char *fmt, va_list ap)
{
	int n = vsnprintf(out, len, fmt, ap);

	if (n >= 0 && (size_t)n >= len && len > 4)
		memcpy(out + len - 4, "...", 4);
}

static void
say(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(out, len, fmt, ap);
	va_end(ap);
}

/* finish - the lookups end with result r (not yet evaluated) */
static void
finish(struct dmarc *d, enum dmarc_result r, const char *fmt, ...)
{
	va_list ap;

	d->state = ST_DONE;
	d->early = r;
	d->early_set = 1;
	va_start(ap, fmt);
	vsay(d->out.reason, sizeof(d->out.reason), fmt, ap);
	va_end(ap);
}

struct dmarc *
dmarc_new(const struct dmarc_params *p)
{
	struct dmarc *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->psl = p->psl;
	d->sample = p->sample % 100;
	d->out.domain = d->from;
	d->out.record_domain = "";
	if (p->from->status != DMARC_FROM_OK) {
		d->from_problem = dmarc_from_problem(p->from);
		d->state = ST_DONE;
		return d;
	}
	memcpy(d->from, p->from->domain, sizeof(d->from));
	orgdomain_of(d->psl, d->from, d->org);
	d->state = ST_ASK_FROM;
	return d;
}

void
dmarc_free(struct dmarc *d)
{
	free(d);
}

/* feed - one result for identifier id, aligned or not with From */
static void
feed(struct dmarc *d, struct ident *id, enum dmarc_auth a, const char *dom)
{
	char norm[ORGDOMAIN_MAX];
	int strict, relaxed;

	if (dom == NULL || d->from[0] == '\0' ||
	    orgdomain_norm(dom, strlen(dom), norm) != 0)
		return;
	strict = strcmp(norm, d->from) == 0;
	relaxed = strict || orgdomain_aligned(d->psl, norm, d->from, 0);
	/* keep the domain that says the most: a pass, else an aligned one */
	if (!id->fed || (a == DMARC_AUTH_PASS && id->auth != DMARC_AUTH_PASS) ||
	    (a == id->auth && relaxed && !id->pass_relaxed &&
	    !id->temp_relaxed)) {
		memcpy(id->domain, norm, sizeof(norm));
		id->auth = a;
	}
	id->fed = 1;
	if (a == DMARC_AUTH_PASS) {
		id->pass_strict |= strict;
		id->pass_relaxed |= relaxed;
	} else if (a == DMARC_AUTH_TEMPERROR) {
		id->temp_strict |= strict;
		id->temp_relaxed |= relaxed;
	}
}

void
dmarc_spf(struct dmarc *d, enum dmarc_auth a, const char *domain)
{
	feed(d, &d->spf, a, domain);
}

void
dmarc_dkim(struct dmarc *d, enum dmarc_auth a, const char *domain)
{
	feed(d, &d->dkim, a, domain);
}

/* qname - "_dmarc." dom into d->qname; -1 when that is no DNS name */
static int
qname(struct dmarc *d, const char *dom)
{
	int n = snprintf(d->qname, sizeof(d->qname), "_dmarc.%s", dom);

	return n < 0 || n > 253 ? -1 : 0;
}

int
dmarc_step(struct dmarc *d, struct dmarc_query *q)
{
	for (;;) {
		switch (d->state) {
		case ST_ASK_FROM:
		case ST_ASK_ORG:
			if (qname(d, d->state == ST_ASK_FROM ? d->from :
			    d->org) != 0) {
				/* no such name, so no record there */
				dmarc_answer_txt(d, DMARC_DNS_NXDOMAIN, NULL,
				    NULL, 0);
				continue;
			}
			q->type = DMARC_Q_TXT;
			q->name = d->qname;
			return 1;
		case ST_ASK_EXISTS:
			q->type = DMARC_Q_EXISTS;
			q->name = d->from;
			return 1;
		case ST_DONE:
			break;
		}
		return 0;
	}
}

void
dmarc_answer_txt(struct dmarc *d, enum dmarc_dns dns,
    const char *const *records, const size_t *lens, size_t n)
{
	const char *where = d->state == ST_ASK_FROM ? d->from : d->org;
	struct dmarc_record rec, found;
	enum dmarc_record_status st, found_st = DMARC_REC_NOT_DMARC;
	char why[96], found_why[96] = "";
	size_t i, count = 0;

	if (d->state != ST_ASK_FROM && d->state != ST_ASK_ORG)
		return;
	if (dns == DMARC_DNS_TEMPFAIL) {
		finish(d, DMARC_RESULT_TEMPERROR, "DNS lookup of _dmarc.%s "
		    "failed for now", where);
		return;
	}
	for (i = 0; dns == DMARC_DNS_OK && i < n; i++) {
		st = dmarc_record_parse(records[i], lens[i], &rec, why,
		    sizeof(why));
		if (st == DMARC_REC_NOT_DMARC)
			continue;
		if (count++ == 0) {
			found = rec;
			found_st = st;
			memcpy(found_why, why, sizeof(why));
		}
	}
	if (count > 1) {
		finish(d, DMARC_RESULT_NONE, "%zu DMARC records at _dmarc.%s",
		    count, where);
		return;
	}
	if (count == 0) {
		if (d->state == ST_ASK_FROM && strcmp(d->from, d->org) != 0) {
			d->state = ST_ASK_ORG;
			return;
		}
		finish(d, DMARC_RESULT_NONE, "no DMARC record for %s",
		    d->from);
		return;
	}
	d->at_org = d->state == ST_ASK_ORG;
	d->out.record_domain = d->at_org ? d->org : d->from;
	if (found_st == DMARC_REC_INVALID) {
		finish(d, DMARC_RESULT_NONE, "invalid DMARC record at "
		    "_dmarc.%s: %s", where, found_why);
		return;
	}
	d->out.record = found;
	d->out.has_record = 1;
	if (found_why[0] != '\0')
		say(d->note, sizeof(d->note), " (%s)", found_why);
	/* np= matters only for a subdomain, and only if it says more */
	if (d->at_org && found.has_np && found.np != found.sp)
		d->state = ST_ASK_EXISTS;
	else
		d->state = ST_DONE;
}

void
dmarc_answer_exists(struct dmarc *d, enum dmarc_dns dns)
{
	if (d->state != ST_ASK_EXISTS)
		return;
	d->nonexistent = dns == DMARC_DNS_NXDOMAIN;
	if (dns == DMARC_DNS_TEMPFAIL)
		say(d->note, sizeof(d->note), " (could not tell whether "
		    "%s exists: sp= applies)", d->from);
	d->state = ST_DONE;
}

void
dmarc_abort(struct dmarc *d, const char *why)
{
	if (d->state == ST_DONE)
		return;
	if (d->state == ST_ASK_EXISTS) {
		dmarc_answer_exists(d, DMARC_DNS_TEMPFAIL);
		return;
	}
	finish(d, DMARC_RESULT_TEMPERROR, "%s", why);
}

/* requested - p=, sp= or np= for this message */
static enum dmarc_policy
requested(const struct dmarc *d, const char **tag)
{
	const struct dmarc_record *r = &d->out.record;

	if (!d->at_org || strcmp(d->from, d->org) == 0) {
		*tag = "p";
		return r->p;
	}
	if (d->nonexistent && r->has_np) {
		*tag = "np";
		return r->np;
	}
	*tag = r->has_sp ? "sp" : "p";
	return r->sp;
}

/* describe - what SPF or DKIM brought, for the reason */
static const char *
describe(const struct ident *id, int aligned, char *buf, size_t len)
{
	static const char *const auth[] = { "fail", "pass", "temperror" };

	if (!id->fed)
		say(buf, len, "none");
	else
		say(buf, len, "%s for %s%s", auth[id->auth], id->domain,
		    id->auth != DMARC_AUTH_PASS ? "" :
		    aligned ? ", aligned" : ", not aligned");
	return buf;
}

const struct dmarc_outcome *
dmarc_evaluate(struct dmarc *d)
{
	struct dmarc_outcome *o = &d->out;
	const struct dmarc_record *r = &o->record;
	char spf[ORGDOMAIN_MAX + 32], dkim[ORGDOMAIN_MAX + 32];
	const char *tag;
	int temp;

	o->policy = DMARC_POLICY_NONE;
	if (d->from_problem != NULL) {
		/* RFC 7489 6.6.1: such mail is typically rejected */
		o->result = DMARC_RESULT_PERMERROR;
		o->policy = DMARC_POLICY_REJECT;
		o->requested = DMARC_POLICY_REJECT;
		say(o->reason, sizeof(o->reason), "%s", d->from_problem);
		return o;
	}
	if (d->state != ST_DONE) {
		o->result = DMARC_RESULT_TEMPERROR;
		say(o->reason, sizeof(o->reason), "DMARC lookups not "
		    "finished");
		return o;
	}
	if (d->early_set) {
		o->result = d->early;
		return o;
	}
	o->spf_aligned = r->aspf_strict ? d->spf.pass_strict :
	    d->spf.pass_relaxed;
	o->dkim_aligned = r->adkim_strict ? d->dkim.pass_strict :
	    d->dkim.pass_relaxed;
	temp = (r->aspf_strict ? d->spf.temp_strict : d->spf.temp_relaxed) ||
	    (r->adkim_strict ? d->dkim.temp_strict : d->dkim.temp_relaxed);
	describe(&d->spf, o->spf_aligned, spf, sizeof(spf));
	describe(&d->dkim, o->dkim_aligned, dkim, sizeof(dkim));
	o->requested = requested(d, &tag);
	if (o->spf_aligned || o->dkim_aligned) {
		o->result = DMARC_RESULT_PASS;
		say(o->reason, sizeof(o->reason), "%s: SPF %s; DKIM %s",
		    d->from, spf, dkim);
		return o;
	}
	if (temp) {
		o->result = DMARC_RESULT_TEMPERROR;
		/* no policy, but whether pct= would have spared a failure:
		 * the caller may defer what the domain asks to reject */
		o->sampled_out = d->sample >= r->pct;
		say(o->reason, sizeof(o->reason), "%s: no aligned pass, "
		    "an aligned check failed for now: SPF %s; DKIM %s",
		    d->from, spf, dkim);
		return o;
	}
	o->result = DMARC_RESULT_FAIL;
	o->policy = o->requested;
	if (d->sample >= r->pct && o->policy != DMARC_POLICY_NONE) {
		o->sampled_out = 1;
		o->policy = o->policy == DMARC_POLICY_REJECT ?
		    DMARC_POLICY_QUARANTINE : DMARC_POLICY_NONE;
	}
	say(o->reason, sizeof(o->reason), "%s: no aligned SPF or DKIM "
	    "pass (SPF %s; DKIM %s); %s=%s%s%s", d->from, spf, dkim, tag,
	    dmarc_policy_name(o->requested), o->sampled_out ?
	    ", not in the pct= sample" : "", d->note);
	return o;
}

const char *
dmarc_result_name(enum dmarc_result r)
{
	static const char *const names[] = {
		"none", "pass", "fail", "temperror", "permerror"
	};

	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] :
	    "permerror";
}
