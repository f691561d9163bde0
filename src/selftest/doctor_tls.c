/*
 * doctor_tls - the deployment doctor's TLS checks: MTA-STS (the
 * _mta-sts TXT record and the policy served over HTTPS agree and name
 * our MX hosts), DANE (the TLSA records of our MX hosts match the
 * certificate we serve), and the certificate itself (its chain, its
 * names, its expiry).
 *
 * Nothing is parsed or matched here: the record and the policy are
 * tlspol/mtasts.c's, the fetch is the queue runner's (sts_fetch, lent
 * through the hooks), the TLSA lookup is resolve_tlsa (the resolver's
 * AD bit, as delivery trusts it), and the match is OpenSSL's DANE code
 * in a TLS handshake between our own server context and a DANE client
 * over a socket pair: what a sender would see, chain as served.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dns/dns_answer.h"
#include "dns/resolve.h"
#include "sec/tls.h"
#include "sec/tls_cert.h"
#include "selftest/doctor.h"
#include "tlspol/mtasts.h"
#include "tlspol/tlsrpt.h"

#define DOC_CERT_WARN_DAYS	14	/* expiry closer than this: WARN */
#define DOC_STS_MIN_AGE		86400	/* a max_age under a day: WARN */
#define DOC_STS_AGE		604800	/* the max_age we suggest: a week */
#define DOC_HANDSHAKE_ROUNDS	64	/* steps of the loopback handshake */
#define DOC_MX_MAX		64	/* MX names of all local domains */

/* The MX names of the local domains, each once. */
struct mxnames {
	char	 v[DOC_MX_MAX][256];
	size_t	 n;
	char	 unsigned_by[DOC_MX_MAX][256];	/* a local domain naming it
					 * in an MX answer that was not
					 * DNSSEC-validated, or "" */
};

/* mx_of - the MX names of domain (the domain itself when it has none:
 * the implicit MX); false when DNS did not answer */
static bool
mx_of(struct doctor *d, const char *domain, char out[][256], size_t *n)
{
	enum dns_result r = doc_names(d, domain, DNS_TYPE_MX, out, n);
	size_t	 i, k = 0;

	for (i = 0; i < *n; i++)	/* a null MX names no host */
		if (out[i][0] != '\0' && out[i][0] != '.')
			memmove(out[k++], out[i], 256);
	*n = k;
	if (r == DNS_NOT_FOUND && *n == 0) {
		snprintf(out[0], 256, "%s", domain);
		*n = 1;
	}
	return r != DNS_TEMPFAIL;
}

/* ours - is host one of this server's names? With our public addresses
 * known, an MX host that resolves to none of them is another server's
 * (a backup MX elsewhere; the mx job speaks of it) */
static bool
ours(struct doctor *d, const char *host)
{
	struct sockaddr_storage a[DOC_ADDRS_MAX];
	size_t	 n = 0, i;

	if (d->naddrs == 0 || doc_host_addrs(d, host, a, &n) != DNS_FOUND)
		return true;
	for (i = 0; i < n; i++)
		if (doc_is_ours(d, (const struct sockaddr *)&a[i]))
			return true;
	return false;
}

static void
mx_add(struct mxnames *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcasecmp(m->v[i], name) == 0)
			return;
	if (m->n < DOC_MX_MAX)
		snprintf(m->v[m->n++], 256, "%s", name);
}

/* our_mx - our MX names over all local domains */
static void
our_mx(struct doctor *d, struct mxnames *m)
{
	char	 v[DOC_NAMES_MAX][256];
	size_t	 n, i, k;

	m->n = 0;
	for (i = 0; i < d->cfg->local_domains.n; i++) {
		n = 0;
		(void)mx_of(d, d->cfg->local_domains.v[i], v, &n);
		for (k = 0; k < n; k++)
			if (ours(d, v[k]))
				mx_add(m, v[k]);
	}
}

/* --- MTA-STS ---------------------------------------------------------------- */

/* sts_fix_publish - the record and the policy to publish for domain */
static void
sts_fix_publish(struct doc_check *c, const char *domain, bool record,
    char mx[][256], size_t nmx)
{
	char	 id[32];
	time_t	 now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(id, sizeof(id), "%Y%m%d%H%M", &tm);
	if (record)
		doc_fix(c, "publish: _mta-sts.%s. TXT \"v=STSv1; id=%s\" (in "
		    "the zone of %s; a new id each time the policy changes)",
		    domain, id, domain);
	doc_fix(c, "serve https://mta-sts.%s/.well-known/mta-sts.txt "
	    "(Content-Type: text/plain, a certificate valid for mta-sts.%s, "
	    "no redirect) holding:", domain, domain);
	doc_fix(c, "  version: STSv1");
	doc_fix(c, "  mode: testing   (enforce once the TLS reports are "
	    "clean)");
	for (size_t i = 0; i < nmx; i++)
		doc_fix(c, "  mx: %s", mx[i]);
	doc_fix(c, "  max_age: %d", DOC_STS_AGE);
}

/* sts_record - the _mta-sts TXT record of domain: 1 valid (id set), 0
 * none (c WARN), -1 bad or no answer (c set) */
static int
sts_record(struct doctor *d, struct doc_check *c, const char *domain,
    char id[MTASTS_ID_MAX + 1])
{
	struct dns_txt_set set;
	const char *txts[DOC_NAMES_MAX];
	size_t	 lens[DOC_NAMES_MAX], n = 0, i;
	char	 name[300], why[MTASTS_WHY_MAX];
	enum dns_result r;
	int	 rc = -1;

	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	r = doc_txt(d, name, &set);
	if (r == DNS_TEMPFAIL) {
		doc_set(c, DOC_ERROR, "no answer for the TXT record of %s",
		    name);
		goto done;
	}
	for (i = 0; i < set.n && n < DOC_NAMES_MAX; i++, n++) {
		txts[n] = set.v[i].text;
		lens[n] = set.v[i].len;
	}
	if (mtasts_record_pick(txts, lens, n, id, why, sizeof(why)) == 0) {
		rc = 1;
		goto done;
	}
	/* A record meant as ours but malformed is not "none". */
	for (i = 0; i < n && strcmp(why, "no v=STSv1 record") == 0; i++)
		if (lens[i] >= 5 && strncasecmp(txts[i], "v=STS", 5) == 0)
			(void)mtasts_record_parse(txts[i], lens[i], id, why,
			    sizeof(why));
	if (strcmp(why, "no v=STSv1 record") == 0) {
		rc = 0;
		doc_set(c, DOC_WARN, "no MTA-STS record at %s: senders cannot "
		    "insist on TLS to %s (optional, RFC 8461)", name, domain);
	} else
		doc_set(c, DOC_FAIL, "the TXT record at %s is not valid "
		    "MTA-STS: %s; senders ignore it", name, why);
done:
	dns_txt_set_free(&set);
	return rc;
}

/* sts_policy - the policy of domain under record id: fetched, parsed,
 * compared with the MX names */
static void
sts_policy(struct doctor *d, struct doc_check *c, const char *domain,
    const char *id, char mx[][256], size_t nmx)
{
	struct mtasts_policy pol;
	enum tlsrpt_result res;
	char	 why[256], missing[512] = "", patterns[512] = "";
	char	*body;
	size_t	 len = 0, i, at = 0, pat = 0;
	size_t	 max = (size_t)d->cfg->mta_sts_max_size;

	if (d->hooks == NULL || d->hooks->sts_fetch == NULL) {
		doc_set(c, DOC_ERROR, "record id=%s; the policy fetch is not "
		    "available here", id);
		return;
	}
	if ((body = malloc(max + 1)) == NULL) {
		doc_set(c, DOC_ERROR, "out of memory");
		return;
	}
	res = d->hooks->sts_fetch(d->cfg, domain, body, max, &len, why,
	    sizeof(why));
	if (res != TLSRPT_SUCCESS) {
		doc_set(c, DOC_FAIL, "record id=%s is published, but the "
		    "policy at https://mta-sts.%s/.well-known/mta-sts.txt "
		    "could not be had (%s): %s; senders that saw a policy "
		    "before keep it until it expires, others apply none", id,
		    domain, tlsrpt_result_name(res), why);
		sts_fix_publish(c, domain, false, mx, nmx);
		goto done;
	}
	if (mtasts_policy_parse(body, len, &pol, why, sizeof(why)) == -1) {
		doc_set(c, DOC_FAIL, "record id=%s; the policy is not valid: "
		    "%s", id, why);
		sts_fix_publish(c, domain, false, mx, nmx);
		goto done;
	}
	for (i = 0; i < pol.nmx && pat < sizeof(patterns); i++)
		pat += (size_t)snprintf(patterns + pat, sizeof(patterns) - pat,
		    "%s%s", i ? ", " : "", pol.mx[i]);
	for (i = 0; i < nmx && at < sizeof(missing); i++)
		if (!mtasts_mx_match(&pol, mx[i]))
			at += (size_t)snprintf(missing + at,
			    sizeof(missing) - at, "%s%s", at ? ", " : "",
			    mx[i]);
	if (pol.mode != MTASTS_NONE && missing[0] != '\0') {
		doc_set(c, DOC_FAIL, "record id=%s, policy mode %s, mx %s: "
		    "MX %s not in the policy; under enforce senders refuse "
		    "to deliver there", id, mtasts_mode_name(pol.mode),
		    patterns, missing);
		for (i = 0; i < nmx; i++)
			if (!mtasts_mx_match(&pol, mx[i]))
				doc_fix(c, "add to the policy at https://mta-sts."
				    "%s/.well-known/mta-sts.txt: mx: %s", domain,
				    mx[i]);
		doc_fix(c, "then publish a new id: _mta-sts.%s. TXT "
		    "\"v=STSv1; id=...\" (senders refetch when it changes)",
		    domain);
	} else if (pol.mode == MTASTS_NONE) {
		doc_set(c, DOC_WARN, "record id=%s, policy mode none: senders "
		    "apply no policy (mode none withdraws one)", id);
		doc_fix(c, "to protect %s, serve mode: testing (then enforce) "
		    "and publish a new id in _mta-sts.%s", domain, domain);
	} else if (pol.max_age < DOC_STS_MIN_AGE) {
		doc_set(c, DOC_WARN, "record id=%s, policy mode %s, mx %s; "
		    "max_age %lu s is under a day: a sender off-line longer "
		    "loses the policy", id, mtasts_mode_name(pol.mode),
		    patterns, pol.max_age);
		doc_fix(c, "set max_age: %d (a week) or more in the policy, and "
		    "publish a new id in _mta-sts.%s", DOC_STS_AGE, domain);
	} else
		doc_set(c, DOC_PASS, "record id=%s, policy mode %s, max_age "
		    "%lu, mx %s: covers %s%s", id, mtasts_mode_name(pol.mode),
		    pol.max_age, patterns, nmx ? "every MX" : "(no MX found)",
		    pol.mode == MTASTS_TESTING ? "; mode testing: senders "
		    "report, enforce when the reports are clean" : "");
done:
	free(body);
}

void
doc_job_mta_sts(struct doctor *d)
{
	char	 mx[DOC_NAMES_MAX][256], id[MTASTS_ID_MAX + 1];
	size_t	 nmx;

	for (size_t i = 0; i < d->cfg->local_domains.n; i++) {
		const char *domain = d->cfg->local_domains.v[i];
		struct doc_check *c = doc_add(d, "mta-sts", domain);
		int	 rc;

		if (c == NULL)
			return;
		nmx = 0;
		(void)mx_of(d, domain, mx, &nmx);
		if ((rc = sts_record(d, c, domain, id)) == 0)
			sts_fix_publish(c, domain, true, mx, nmx);
		else if (rc == 1)
			sts_policy(d, c, domain, id, mx, nmx);
	}
}

/* --- DANE ----------------------------------------------------------------- */

/* handshake - our server context against a DANE client for name over a
 * socket pair: 0 matched, 1 no record matched, 2 no record OpenSSL can
 * use (a selector or matching type it does not know, a digest of the
 * wrong length), -1 could not tell (why) */
static int
handshake(struct tls_ctx *ctx, const char *name, const struct tls_tlsa *rr,
    size_t n, char *why, size_t whylen)
{
	struct tls_conn	*srv = NULL, *cli = NULL;
	enum tls_status	 s = TLS_WANT_READ, k = TLS_WANT_READ;
	int		 fd[2], rc = -1;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fd) == -1) {
		snprintf(why, whylen, "socketpair failed");
		return -1;
	}
	(void)fcntl(fd[0], F_SETFL, O_NONBLOCK);
	(void)fcntl(fd[1], F_SETFL, O_NONBLOCK);
	if ((srv = tls_conn_new(ctx, fd[0])) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto done;
	}
	if ((cli = tls_client_dane_new(fd[1], name, NULL, rr, n, why,
	    whylen)) == NULL) {
		rc = 2;
		goto done;
	}
	for (int i = 0; i < DOC_HANDSHAKE_ROUNDS; i++) {
		if (k != TLS_DONE && k != TLS_FAIL)
			k = tls_handshake(cli);
		if (s != TLS_DONE && s != TLS_FAIL)
			s = tls_handshake(srv);
		if (k == TLS_FAIL || (k == TLS_DONE && s == TLS_DONE) ||
		    s == TLS_FAIL || s == TLS_EOF || k == TLS_EOF)
			break;
	}
	if (k == TLS_DONE && tls_conn_peer_auth(cli) == TLS_PEER_DANE)
		rc = 0;
	else if (k == TLS_FAIL &&
	    tls_conn_verify_failure(cli) == TLS_VERIFY_NO_TLSA)
		rc = 1;
	else
		snprintf(why, whylen, "handshake with our own certificate "
		    "failed: %s", cli && k == TLS_FAIL ? tls_conn_error(cli) :
		    srv ? tls_conn_error(srv) : "?");
done:
	tls_conn_free(cli);
	tls_conn_free(srv);
	close(fd[0]);
	close(fd[1]);
	return rc;
}

/* tlsa_fix - the record to publish for our key */
static void
tlsa_fix(struct doc_check *c, const char *mx, const char *spki)
{
	if (spki[0] == '\0')
		return;
	doc_fix(c, "publish: _25._tcp.%s. TLSA 3 1 1 %s (in the "
	    "DNSSEC-signed zone holding %s; keep it across renewals by "
	    "reusing the key, or publish the next key's record before the "
	    "switch)", mx, spki, mx);
}

/* tlsa_one - the TLSA records of one MX name against our certificate */
static void
tlsa_one(struct doctor *d, struct tls_ctx *ctx, const char *ctxerr,
    const char *mx, const char *unsigned_by, const char *spki)
{
	struct doc_check *c = doc_add(d, "tlsa", mx);
	struct dns_tlsa_set set = { NULL, 0, 0 };
	struct tls_tlsa	*rr = NULL;
	char	 why[256], list[1024] = "", rec[300];
	size_t	 n = 0, i, at = 0;
	bool	 secure = false;
	int	 rc, m;

	if (c == NULL)
		return;
	rc = resolve_tlsa(d->cfg, mx, 25, &set, &secure);
	if (rc == RESOLVE_TEMP) {
		doc_set(c, DOC_ERROR, "no answer for _25._tcp.%s TLSA (a "
		    "timeout, or SERVFAIL: a validating resolver's answer for "
		    "a bogus signature, for which DANE senders defer)", mx);
		goto done;
	}
	if (rc != RESOLVE_OK) {
		doc_set(c, DOC_PASS, "no TLSA records at _25._tcp.%s: no DANE "
		    "(optional; it needs a DNSSEC-signed zone)", mx);
		goto done;
	}
	for (i = 0; i < set.n && at < sizeof(list); i++) {
		(void)dns_tlsa_format(&set.v[i], rec, sizeof(rec));
		at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%s",
		    i ? "; " : "", rec);
	}
	if (ctx == NULL) {
		doc_set(c, DOC_FAIL, "TLSA records at _25._tcp.%s (%s), but "
		    "no certificate to serve: %s; DANE senders defer", mx, list,
		    ctxerr);
		goto done;
	}
	if ((rr = calloc(set.n + 1, sizeof(*rr))) == NULL) {
		doc_set(c, DOC_ERROR, "out of memory");
		goto done;
	}
	for (i = 0; i < set.n; i++)
		if (set.v[i].usage == 2 || set.v[i].usage == 3) {
			rr[n].usage = set.v[i].usage;
			rr[n].selector = set.v[i].selector;
			rr[n].mtype = set.v[i].mtype;
			rr[n].data = set.v[i].data;
			rr[n].len = set.v[i].len;
			n++;
		}
	m = n > 0 ? handshake(ctx, mx, rr, n, why, sizeof(why)) : 2;
	if (m == 2) {
		doc_set(c, DOC_WARN, "TLSA records at _25._tcp.%s (%s), none "
		    "usable for SMTP (RFC 7672 3.1: usage 2 or 3, selector 0 or "
		    "1, matching type 0, 1 or 2): DANE "
		    "senders use TLS without authentication", mx, list);
		tlsa_fix(c, mx, spki);
	} else if (m == 1) {
		doc_set(c, DOC_FAIL, "TLSA records at _25._tcp.%s (%s): none "
		    "matches the certificate of tls_cert; DANE senders defer "
		    "every message to %s", mx, list, mx);
		tlsa_fix(c, mx, spki);
		doc_fix(c, "and remove the records that match no "
		    "certificate served");
	} else if (m == -1)
		doc_set(c, DOC_ERROR, "TLSA records at _25._tcp.%s (%s): %s",
		    mx, list, why);
	else if (!secure) {
		doc_set(c, DOC_WARN, "TLSA records at _25._tcp.%s (%s) match "
		    "our certificate, but the answer was not DNSSEC-validated "
		    "(%s): senders ignore records they cannot validate", mx,
		    list, d->cfg->dnssec ? "no AD bit from dns_servers" :
		    "dnssec = no, so the AD bit is not asked for");
		doc_fix(c, "sign the zone holding %s with DNSSEC (and, to "
		    "have it checked, set dnssec = yes with a validating "
		    "resolver in dns_servers)", mx);
	} else if (unsigned_by[0] != '\0') {
		doc_set(c, DOC_WARN, "TLSA records at _25._tcp.%s (%s), "
		    "DNSSEC-validated, match our certificate; but the MX answer "
		    "of %s naming it was not validated, so senders to %s do "
		    "not use DANE (RFC 7672 2.2.1)", mx, list, unsigned_by,
		    unsigned_by);
		doc_fix(c, "sign the zone of %s with DNSSEC (a DS record at "
		    "its parent)", unsigned_by);
	} else
		doc_set(c, DOC_PASS, "TLSA records at _25._tcp.%s (%s), "
		    "DNSSEC-validated, match our certificate", mx, list);
done:
	free(rr);
	dns_tlsa_set_free(&set);
}

/* mx_security - for each name of m, a local domain whose MX answer
 * naming it was not validated: senders to that domain ignore TLSA
 * records (RFC 7672 2.2.1), however well signed the host's zone */
static void
mx_security(struct doctor *d, struct mxnames *m)
{
	struct mx_host	 hosts[DOC_NAMES_MAX];
	struct resolve_sec sec;
	size_t		 n, i, k, j;

	for (i = 0; i < d->cfg->local_domains.n; i++) {
		const char *domain = d->cfg->local_domains.v[i];

		n = 0;
		memset(&sec, 0, sizeof(sec));
		if (resolve_mx_sec(d->cfg, domain, hosts, DOC_NAMES_MAX, &n,
		    &sec) != RESOLVE_OK || sec.secure)
			continue;
		for (k = 0; k < n; k++)
			for (j = 0; j < m->n; j++)
				if (strcasecmp(hosts[k].name, m->v[j]) == 0 &&
				    m->unsigned_by[j][0] == '\0')
					snprintf(m->unsigned_by[j], 256, "%s",
					    domain);
	}
}

void
doc_job_tlsa(struct doctor *d)
{
	struct mxnames	*m = calloc(1, sizeof(*m));
	struct tls_ctx	*ctx = NULL;
	struct tls_cert	*cert = NULL;
	char		 err[512] = "no tls_cert", spki[65] = "";

	if (m == NULL)
		return;
	our_mx(d, m);
	if (d->cfg->dnssec)
		mx_security(d, m);
	if (d->cfg->tls_cert != NULL &&
	    (ctx = tls_ctx_new(d->cfg, err, sizeof(err))) != NULL &&
	    (cert = tls_cert_load(d->cfg->tls_cert, err, sizeof(err))) !=
	    NULL && tls_cert_spki_sha256(cert, spki) == -1)
		spki[0] = '\0';
	for (size_t i = 0; i < m->n; i++)
		tlsa_one(d, ctx, err, m->v[i], m->unsigned_by[i], spki);
	tls_cert_free(cert);
	if (ctx != NULL)
		tls_ctx_unref(ctx);
	free(m);
}

/* --- the certificate -------------------------------------------------------- */

/* cert_names_text - the certificate's names, for a detail */
static void
cert_names_text(const struct tls_cert *cert, char *out, size_t outlen)
{
	char	 v[TLS_CERT_NAMES_MAX][256];
	size_t	 n = tls_cert_names(cert, v, TLS_CERT_NAMES_MAX), at = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && at < outlen; i++)
		at += (size_t)snprintf(out + at, outlen - at, "%s%s",
		    i ? ", " : "", v[i]);
	if (n == 0)
		snprintf(out, outlen, "none");
}

/* cert_main - the chain, the key and the expiry */
static void
cert_main(struct doctor *d, struct doc_check *c, const struct tls_cert *cert,
    const char *names)
{
	const char *ca = d->cfg->mta_sts_ca_file;
	time_t	 end = tls_cert_not_after(cert), now = time(NULL);
	long	 days = (long)((end - now) / 86400);
	char	 date[32] = "?", why[256];
	struct tm tm;

	if (gmtime_r(&end, &tm) != NULL)
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm);
	if (end <= now) {
		doc_set(c, DOC_FAIL, "expired %s (names %s): senders that "
		    "check (MTA-STS, DANE-TA) refuse it", date, names);
		doc_fix(c, "renew the certificate of tls_cert %s now, and "
		    "reload sallyport (systemctl reload sallyport)",
		    d->cfg->tls_cert);
	} else if (tls_cert_verify(cert, ca, why, sizeof(why)) == -1) {
		doc_set(c, DOC_FAIL, "names %s, expires %s; the chain does not "
		    "verify against %s: %s", names, date, ca ? ca :
		    "the system's CA store", why);
		doc_fix(c, "tls_cert %s must hold the certificate then every "
		    "intermediate up to a CA the world trusts (Let's Encrypt: "
		    "fullchain.pem, not cert.pem)", d->cfg->tls_cert);
	} else if (days < DOC_CERT_WARN_DAYS) {
		doc_set(c, DOC_WARN, "expires %s, in %ld day%s (names %s; the "
		    "chain verifies)", date, days, days == 1 ? "" : "s", names);
		doc_fix(c, "renew the certificate of tls_cert %s (more than "
		    "%d days ahead), and reload sallyport", d->cfg->tls_cert,
		    DOC_CERT_WARN_DAYS);
	} else
		doc_set(c, DOC_PASS, "names %s; the chain verifies against %s; "
		    "the key matches; expires %s, in %ld days", names, ca ? ca :
		    "the system's CA store", date, days);
}

/* cert_name - one name the certificate must carry */
static void
cert_name(struct doctor *d, const struct tls_cert *cert, const char *names,
    const char *host, const char *role)
{
	struct doc_check *c = doc_add(d, "cert-name", host);

	if (tls_cert_has_name(cert, host))
		doc_set(c, DOC_PASS, "%s: among the certificate's names (%s)",
		    role, names);
	else {
		doc_set(c, DOC_FAIL, "%s, not among the certificate's names "
		    "(%s): senders that check (MTA-STS) refuse to deliver "
		    "to it", role, names);
		doc_fix(c, "get a certificate for tls_cert that also names "
		    "%s (a subjectAltName DNS:%s; certbot: -d %s), and reload "
		    "sallyport", host, host, host);
	}
}

void
doc_job_cert(struct doctor *d)
{
	const struct config *cfg = d->cfg;
	struct doc_check *c = doc_add(d, "cert",
	    cfg->tls_cert ? cfg->tls_cert : cfg->hostname);
	struct tls_cert	*cert = NULL;
	struct tls_ctx	*ctx;
	struct mxnames	*m = NULL;
	char		 err[512], names[1024];

	if (c == NULL)
		return;
	if (cfg->tls_cert == NULL) {
		doc_set(c, DOC_WARN, "no tls_cert: STARTTLS is not offered, "
		    "mail reaches us in clear");
		doc_fix(c, "set tls_cert (the full chain) and tls_key in %s",
		    cfg->path ? cfg->path : "sallyport.conf");
		return;
	}
	if ((ctx = tls_ctx_new(cfg, err, sizeof(err))) == NULL ||
	    (cert = tls_cert_load(cfg->tls_cert, err, sizeof(err))) == NULL) {
		doc_set(c, DOC_FAIL, "%s", err);
		doc_fix(c, "tls_cert: the chain in PEM, the certificate first; "
		    "tls_key: its private key, without a passphrase");
		goto done;
	}
	cert_names_text(cert, names, sizeof(names));
	cert_main(d, c, cert, names);
	if ((m = calloc(1, sizeof(*m))) == NULL)
		goto done;
	cert_name(d, cert, names, cfg->hostname, "the hostname");
	our_mx(d, m);
	for (size_t i = 0; i < m->n; i++)
		if (strcasecmp(m->v[i], cfg->hostname) != 0)
			cert_name(d, cert, names, m->v[i], "an MX host");
done:
	free(m);
	tls_cert_free(cert);
	if (ctx != NULL)
		tls_ctx_unref(ctx);
}
