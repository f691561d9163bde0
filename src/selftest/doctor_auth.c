/*
 * doctor_auth - the deployment doctor's checks of mail authentication:
 * every local domain (and the hostname, for bounces) publishes SPF that
 * passes our public addresses (evaluated by auth/spf.c, driven by the
 * daemon's spf_lookup through the hooks), every dkim_sign key is the one published at
 * SELECTOR._domainkey.DOMAIN (auth/dkim_key.c), and every local domain
 * has a valid DMARC record with a reporting address
 * (auth/dmarc_record.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/dkim_key.h"
#include "auth/dmarc_record.h"
#include "auth/orgdomain.h"
#include "auth/spf.h"
#include "selftest/doctor.h"
#include "smtp/policy.h"

#define RECORD_TEXT_MAX	1024	/* a record as the report shows it */
#define DETAIL_MAX	1024

/* --- SPF ---------------------------------------------------------------- */

/* spf_text - is this TXT an SPF record (RFC 7208 4.5: "v=spf1" then a
 * blank or the end)? */
static bool
spf_text(const struct dns_txt *t)
{
	return t->len >= 6 && strncasecmp(t->text, "v=spf1", 6) == 0 &&
	    (t->len == 6 || t->text[6] == ' ');
}

struct spf_wait {
	bool		 done;
	enum spf_result	 result;
	char		 problem[256];
};

static void
spf_done(void *arg, const struct spf *spf)
{
	struct spf_wait *w = arg;

	w->done = true;
	w->result = spf ? spf_result(spf) : SPF_TEMPERROR;
	snprintf(w->problem, sizeof(w->problem), "%s", spf ?
	    spf_problem(spf) : "out of memory");
}

/* spf_eval - check_host() for a, as mail from postmaster@domain, or
 * for the HELO name (a bounce: null MAIL FROM) when helo is set */
static enum spf_result
spf_eval(struct doctor *d, const char *domain, bool helo,
    const struct doc_addr *a, char *problem, size_t problemlen)
{
	const struct doctor_hooks *h = d->hooks;
	struct spf_wait w = { false, SPF_TEMPERROR, "" };
	struct spf_limits lim = SPF_LIMITS_DEFAULT;
	struct spf_params p;
	struct spf_lookup *l;
	char from[300];

	if (h == NULL || h->spf_start == NULL) {
		snprintf(problem, problemlen, "no SPF evaluator");
		return SPF_TEMPERROR;
	}
	if (h->spf_limits)
		h->spf_limits(d->cfg, &lim);
	snprintf(from, sizeof(from), "postmaster@%s", domain);
	memset(&p, 0, sizeof(p));
	p.family = a->ss.ss_family;
	p.ip = a->ss.ss_family == AF_INET6 ?
	    ((const struct sockaddr_in6 *)(const void *)&a->ss)->sin6_addr.
	    s6_addr : (const unsigned char *)&((const struct sockaddr_in *)
	    (const void *)&a->ss)->sin_addr;
	p.mail_from = helo ? "" : from;
	p.helo = helo ? domain : d->cfg->hostname;
	p.receiver = d->cfg->hostname;
	p.now = (unsigned long long)time(NULL);
	p.limits = &lim;
	l = h->spf_start(d->loop, d->dns, &p, 0, spf_done, &w);
	while (!w.done) {
		if (!doc_wait(d) && !w.done) {
			h->spf_cancel(l);
			snprintf(w.problem, sizeof(w.problem), "the check "
			    "stopped without an answer");
			break;
		}
	}
	snprintf(problem, problemlen, "%s", w.problem);
	return w.result;
}

/* spf_fixed - the record with our addresses that it lacks put after
 * v=spf1; or a new one when there is none */
static void
spf_fix(struct doctor *d, struct doc_check *c, const char *domain,
    const struct dns_txt *rec, const bool *missing)
{
	char mechs[DETAIL_MAX] = "", m[NETADDR_STRLEN + 8], text[4096];
	size_t o = 0;

	for (size_t i = 0; i < d->naddrs; i++) {
		if (!missing[i])
			continue;
		doc_spf_mech(&d->addrs[i], m, sizeof(m));
		o += (size_t)snprintf(mechs + o, sizeof(mechs) - o, " %s", m);
		if (o >= sizeof(mechs))
			break;
	}
	if (rec == NULL) {
		doc_fix(c, "publish: %s. IN TXT \"v=spf1%s -all\"", domain,
		    mechs[0] ? mechs : " mx");
		return;
	}
	doc_printable(rec->text + 6, rec->len - 6, text, sizeof(text));
	doc_fix(c, "publish: %s. IN TXT \"v=spf1%s%s\" (in place of the "
	    "record there now)", domain, mechs, text);
}

/* spf_of_domain - the SPF line of a local domain, or of the hostname
 * (helo): the identity receivers check for our bounces (RFC 7208 2.3),
 * where no record is a WARN, not a FAIL */
static void
spf_of_domain(struct doctor *d, const char *domain, bool helo)
{
	char shown[RECORD_TEXT_MAX], problem[256], detail[DETAIL_MAX] = "";
	const struct dns_txt *rec = NULL;
	struct dns_txt_set set;
	struct doc_check *c;
	enum dns_result r;
	enum doc_verdict v = DOC_PASS;
	size_t nspf = 0, o = 0;
	bool *missing;

	if ((c = doc_add(d, "spf", domain)) == NULL)
		return;
	r = doc_txt(d, domain, &set);
	for (size_t i = 0; i < set.n; i++)
		if (spf_text(&set.v[i])) {
			rec = &set.v[i];
			nspf++;
		}
	if (r == DNS_TEMPFAIL) {
		doc_set(c, DOC_ERROR, "no answer from DNS for %s TXT", domain);
		goto out;
	}
	if ((missing = calloc(d->naddrs + 1, sizeof(*missing))) == NULL) {
		doc_set(c, DOC_ERROR, "out of memory");
		goto out;
	}
	if (nspf == 0) {
		doc_set(c, helo ? DOC_WARN : DOC_FAIL, "no SPF record: "
		    "receivers cannot tell our %s from forgeries", helo ?
		    "bounces (checked by the HELO name)" : "mail");
		for (size_t i = 0; i < d->naddrs; i++)
			missing[i] = true;
		spf_fix(d, c, domain, NULL, missing);
		free(missing);
		goto out;
	}
	if (nspf > 1) {
		doc_set(c, DOC_FAIL, "%zu SPF records: a permerror for every "
		    "receiver (RFC 7208 4.5)", nspf);
		doc_fix(c, "remove all but one of the TXT records \"v=spf1 "
		    "...\" at %s", domain);
		free(missing);
		goto out;
	}
	doc_printable(rec->text, rec->len, shown, sizeof(shown));
	for (size_t i = 0; i < d->naddrs && o < sizeof(detail); i++) {
		enum spf_result sr = spf_eval(d, domain, helo, &d->addrs[i], problem,
		    sizeof(problem));

		o += (size_t)snprintf(detail + o, sizeof(detail) - o,
		    "%s%s for %s%s%s", i ? "; " : "", spf_result_name(sr),
		    d->addrs[i].text, problem[0] ? ": " : "", problem);
		if (sr == SPF_PASS)
			continue;
		if (sr == SPF_TEMPERROR) {
			if (v == DOC_PASS)
				v = DOC_ERROR;
			continue;
		}
		v = DOC_FAIL;
		missing[i] = sr != SPF_PERMERROR;
	}
	if (d->naddrs == 0)
		doc_set(c, DOC_WARN, "\"%s\"; not evaluated: our addresses "
		    "are unknown (see addresses)", shown);
	else
		doc_set(c, v, "\"%s\": %s", shown, detail);
	if (v == DOC_FAIL) {
		bool any = false;

		for (size_t i = 0; i < d->naddrs; i++)
			any |= missing[i];
		if (any)
			spf_fix(d, c, domain, rec, missing);
		else
			doc_fix(c, "correct the record at %s (the problem is "
			    "above)", domain);
	}
	free(missing);
out:
	dns_txt_set_free(&set);
}

void
doc_job_spf(struct doctor *d)
{
	for (size_t i = 0; i < d->cfg->local_domains.n; i++)
		spf_of_domain(d, d->cfg->local_domains.v[i], false);
	if (!policy_local_domain(d->cfg, d->cfg->hostname))
		spf_of_domain(d, d->cfg->hostname, true);
}

/* --- DKIM --------------------------------------------------------------- */

static void
dkim_key(struct doctor *d, const struct dkim_sign_key *k)
{
	char name[600], shown[RECORD_TEXT_MAX], *record;
	struct dns_txt_set set;
	struct dkim_key pub;
	struct doc_check *c;
	const char *why = NULL;
	enum dns_result r;
	bool same = false, revoked = false, parsed = false;

	snprintf(name, sizeof(name), "%s._domainkey.%s", k->selector,
	    k->domain);
	if ((c = doc_add(d, "dkim", name)) == NULL)
		return;
	r = doc_txt(d, name, &set);
	for (size_t i = 0; i < set.n && !same; i++) {
		if (dkim_key_parse(set.v[i].text, set.v[i].len, &pub,
		    &why) == -1)
			continue;
		parsed = true;
		revoked |= pub.revoked != 0;
		same = dkim_key_same(pub.pkey, k->pkey) != 0;
		dkim_key_clear(&pub);
	}
	if (r == DNS_TEMPFAIL)
		doc_set(c, DOC_ERROR, "no answer from DNS for %s TXT", name);
	else if (same)
		doc_set(c, DOC_PASS, "publishes the key of %s", k->keyfile);
	else {
		if (r == DNS_NOT_FOUND)
			doc_set(c, DOC_FAIL, "no TXT record: receivers cannot "
			    "verify what we sign with %s", k->keyfile);
		else if (revoked)
			doc_set(c, DOC_FAIL, "the key is revoked (p= empty)");
		else if (parsed)
			doc_set(c, DOC_FAIL, "publishes another key than %s",
			    k->keyfile);
		else {
			doc_printable(set.v[0].text, set.v[0].len, shown,
			    sizeof(shown));
			doc_set(c, DOC_FAIL, "\"%s\" is no DKIM key record: %s",
			    shown, why ? why : "unreadable");
		}
		if ((record = dkim_key_record(k->pkey, k->selector,
		    k->domain)) != NULL)
			doc_fix(c, "publish: %s%s", record, r == DNS_NOT_FOUND ?
			    "" : " (in place of the record there now)");
		free(record);
	}
	dns_txt_set_free(&set);
}

void
doc_job_dkim(struct doctor *d)
{
	for (size_t i = 0; i < d->cfg->ndkim_sign; i++)
		dkim_key(d, &d->cfg->dkim_sign[i]);
}

/* --- DMARC -------------------------------------------------------------- */

/* dmarc_find - the DMARC records at _dmarc.NAME: how many, the text
 * and the reading of the first (RFC 7489 6.6.3: other TXT records are
 * discarded; more than one DMARC record is none) */
static enum dns_result
dmarc_find(struct doctor *d, const char *domain, size_t *n, char *text,
    size_t textlen, struct dmarc_record *rec, enum dmarc_record_status *st,
    char *why, size_t whylen)
{
	char name[300];
	struct dns_txt_set set;
	enum dns_result r;

	*n = 0;
	snprintf(name, sizeof(name), "_dmarc.%s", domain);
	r = doc_txt(d, name, &set);
	for (size_t i = 0; i < set.n; i++) {
		struct dmarc_record one;
		char w[256];
		enum dmarc_record_status s = dmarc_record_parse(set.v[i].text,
		    set.v[i].len, &one, w, sizeof(w));

		if (s == DMARC_REC_NOT_DMARC)
			continue;
		if ((*n)++ == 0) {
			*rec = one;
			*st = s;
			snprintf(why, whylen, "%s", w);
			doc_printable(set.v[i].text, set.v[i].len, text,
			    textlen);
		}
	}
	dns_txt_set_free(&set);
	return r;
}

static void
dmarc_domain(struct doctor *d, const struct orgdomain *psl,
    const char *domain)
{
	char text[RECORD_TEXT_MAX], why[256], org[ORGDOMAIN_MAX];
	char norm[ORGDOMAIN_MAX];
	const char *at = domain;
	struct dmarc_record rec;
	enum dmarc_record_status st = DMARC_REC_INVALID;
	struct doc_check *c;
	enum dns_result r;
	size_t n;

	if ((c = doc_add(d, "dmarc", domain)) == NULL)
		return;
	r = dmarc_find(d, domain, &n, text, sizeof(text), &rec, &st, why,
	    sizeof(why));
	/* None here: the Organizational Domain's applies (RFC 7489 6.6.3). */
	if (r != DNS_TEMPFAIL && n == 0 && psl != NULL &&
	    orgdomain_norm(domain, strlen(domain), norm) == 0) {
		orgdomain_of(psl, norm, org);
		if (strcmp(org, norm) != 0) {
			at = org;
			r = dmarc_find(d, org, &n, text, sizeof(text), &rec,
			    &st, why, sizeof(why));
		}
	}
	if (r == DNS_TEMPFAIL) {
		doc_set(c, DOC_ERROR, "no answer from DNS for _dmarc.%s TXT",
		    at);
		return;
	}
	if (n == 0) {
		doc_set(c, DOC_FAIL, "no DMARC record at _dmarc.%s: receivers "
		    "apply no policy to mail forged in our name", domain);
		doc_fix(c, "publish: _dmarc.%s. IN TXT \"v=DMARC1; p=none; "
		    "rua=mailto:postmaster@%s\" (p=none reports only; make it "
		    "quarantine or reject once the reports look right)", domain,
		    domain);
		return;
	}
	if (n > 1) {
		doc_set(c, DOC_FAIL, "%zu DMARC records at _dmarc.%s: receivers "
		    "use none (RFC 7489 6.6.3)", n, at);
		doc_fix(c, "remove all but one of the TXT records \"v=DMARC1 "
		    "...\" at _dmarc.%s", at);
		return;
	}
	if (st == DMARC_REC_INVALID) {
		doc_set(c, DOC_FAIL, "\"%s\" at _dmarc.%s is invalid: %s", text,
		    at, why);
		doc_fix(c, "publish: _dmarc.%s. IN TXT \"v=DMARC1; p=none; "
		    "rua=mailto:postmaster@%s\" (in place of the record there "
		    "now)", at, at);
		return;
	}
	if (rec.rua_count == 0) {
		doc_set(c, DOC_WARN, "\"%s\" at _dmarc.%s has no reporting "
		    "address (rua=): nobody hears of mail that fails", text, at);
		doc_fix(c, "publish: _dmarc.%s. IN TXT \"%s; rua=mailto:"
		    "postmaster@%s\" (in place of the record there now)", at,
		    text, at);
		return;
	}
	doc_set(c, rec.p_from_rua ? DOC_WARN : DOC_PASS, "\"%s\"%s%s: policy "
	    "%s, reports to %u address%s%s", text, at != domain ? " at _dmarc." :
	    "", at != domain ? at : "", dmarc_policy_name(rec.p),
	    rec.rua_count, rec.rua_count == 1 ? "" : "es", rec.p_from_rua ?
	    "; p= is invalid, taken as none" : "");
	if (rec.p_from_rua)
		doc_fix(c, "set p=none, p=quarantine or p=reject in the record "
		    "at _dmarc.%s", at);
}

void
doc_job_dmarc(struct doctor *d)
{
	struct orgdomain *psl;
	char err[256];

	/* Without the list, only the domain's own record is looked at. */
	psl = orgdomain_load(NULL, err, sizeof(err));
	for (size_t i = 0; i < d->cfg->local_domains.n; i++)
		dmarc_domain(d, psl, d->cfg->local_domains.v[i]);
	if (psl != NULL)
		orgdomain_free(psl);
}
