/*
 * dane - whether an MX host is to be reached with DANE TLS (RFC 7672
 * 2.2), decided from DNS before connecting.
 *
 * sallyport validates no signature itself: the resolver of dns_servers
 * does, and dnssec = yes trusts its AD bit (resolve.h). The TLSA
 * records of a host count only when the MX lookup that named it and
 * the lookup of its addresses were secure: an attacker who can forge
 * either can send us to a host of his with records of his, or none.
 *
 * The TLSA base domain (RFC 7672 2.2.2): when the host's addresses came
 * through a CNAME chain (secure from end to end, as the AD bit of the
 * answer says), the records are looked for first at the name the chain
 * ends at, then, when that name has none (securely), at the MX host
 * name itself. As Postfix does, the first secure RRset found decides,
 * and a failed lookup stops the search: that host is deferred, never
 * tried in clear text, since a bogus answer (SERVFAIL from a validating
 * resolver) may be an attacker hiding the records.
 *
 * Usable records for SMTP (RFC 7672 3.1): DANE-TA(2) and DANE-EE(3),
 * selectors 0 and 1, matching types 0, 1 (32 bytes) and 2 (64 bytes).
 * PKIX-TA(0) and PKIX-EE(1) are not (3.1.3), nor anything else: an
 * RRset of unusable records only still says the server has TLS, so TLS
 * is mandatory, unauthenticated (2.2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliver/deliver_int.h"
#include "dns/dns_rdata.h"
#include "dns/resolve.h"

#define SHA256_LEN	32
#define SHA512_LEN	64

const char *
dane_verdict_name(enum dane_verdict v)
{
	switch (v) {
	case DANE_VERIFY:
		return "dane";
	case DANE_ENCRYPT:
		return "encrypt";
	case DANE_DEFER:
		return "defer";
	default:
		return "opportunistic";
	}
}

/* dane_usable - can a TLSA record authenticate an SMTP server? */
static bool
dane_usable(const struct dns_tlsa *t)
{
	if (t->usage != 2 && t->usage != 3)
		return false;
	if (t->selector > 1)
		return false;
	switch (t->mtype) {
	case 0:
		return t->len > 0;
	case 1:
		return t->len == SHA256_LEN;
	case 2:
		return t->len == SHA512_LEN;
	default:
		return false;
	}
}

/* dane_records - the usable records and the presentation form of all
 * of them, from p->set */
static int
dane_records(struct dane_plan *p)
{
	size_t	 i, len;

	if ((p->tlsa = calloc(p->set.n + 1, sizeof(*p->tlsa))) == NULL ||
	    (p->records = calloc(p->set.n + 1, sizeof(*p->records))) == NULL)
		return -1;
	for (i = 0; i < p->set.n; i++) {
		const struct dns_tlsa *t = &p->set.v[i];

		len = 3 * 4 + 2 * t->len + 1;
		if ((p->records[p->nrecords] = malloc(len)) == NULL)
			return -1;
		(void)dns_tlsa_format(t, p->records[p->nrecords], len);
		p->nrecords++;
		if (!dane_usable(t))
			continue;
		p->tlsa[p->ntlsa].usage = t->usage;
		p->tlsa[p->ntlsa].selector = t->selector;
		p->tlsa[p->ntlsa].mtype = t->mtype;
		p->tlsa[p->ntlsa].data = t->data;
		p->tlsa[p->ntlsa].len = t->len;
		p->ntlsa++;
	}
	return 0;
}

/* dane_lookup - the TLSA records at _PORT._tcp.name: 1 when a secure
 * RRset was found (in p->set), 0 when none (securely or not: *secure
 * tells), -1 when the lookup failed */
static int
dane_lookup(const struct config *cfg, const char *name, unsigned port,
    struct dane_plan *p, bool *secure)
{
	int	 rc;

	dns_tlsa_set_free(&p->set);
	snprintf(p->tlsa_name, sizeof(p->tlsa_name), "_%u._tcp.%s", port,
	    name);
	p->looked_up = true;
	rc = resolve_tlsa(cfg, name, port, &p->set, secure);
	p->tlsa_rc = rc;
	p->tlsa_secure = *secure;
	if (rc == RESOLVE_TEMP)
		return -1;
	if (rc == RESOLVE_OK && *secure) {
		snprintf(p->base, sizeof(p->base), "%s", name);
		return 1;
	}
	dns_tlsa_set_free(&p->set);
	return 0;
}

int
dane_plan_host(const struct config *cfg, const struct mx_target *t,
    unsigned port, struct dane_plan *p)
{
	const char	*host = t->mx.name;
	bool		 secure = false;
	int		 found = 0;

	memset(p, 0, sizeof(*p));
	p->verdict = DANE_NONE;
	p->tls = CLIENT_TLS_OPPORTUNISTIC;
	p->policy = TLSRPT_NO_POLICY;
	p->mx_secure = cfg->dnssec && t->mx_secure;
	p->addr_secure = cfg->dnssec && t->rc == RESOLVE_OK && t->sec.secure;
	if (!cfg->dnssec) {
		snprintf(p->why, sizeof(p->why), "dnssec = no");
		return 0;
	}
	if (!p->mx_secure) {
		snprintf(p->why, sizeof(p->why), "MX lookup not DNSSEC-secure");
		return 0;
	}
	if (t->rc != RESOLVE_OK) {
		snprintf(p->why, sizeof(p->why), "no address");
		return 0;
	}
	if (!p->addr_secure) {
		snprintf(p->why, sizeof(p->why), "address lookup of %s not "
		    "DNSSEC-secure", host);
		return 0;
	}
	/* A secure CNAME chain: its end first, then the MX host name. */
	if (t->sec.cname[0] != '\0' && strcasecmp(t->sec.cname, host) != 0)
		found = dane_lookup(cfg, t->sec.cname, port, p, &secure);
	if (found == 0)
		found = dane_lookup(cfg, host, port, p, &secure);
	if (found == -1) {
		p->verdict = DANE_DEFER;
		p->tls = CLIENT_TLS_NONE;
		snprintf(p->why, sizeof(p->why), "TLSA lookup of %s failed "
		    "(SERVFAIL, bogus or no answer)", p->tlsa_name);
		return 0;
	}
	if (found == 0) {
		snprintf(p->why, sizeof(p->why), secure ? "no TLSA records" :
		    "TLSA records not DNSSEC-secure");
		return 0;
	}
	p->policy = TLSRPT_TLSA;
	if (dane_records(p) == -1) {
		dane_plan_free(p);
		p->verdict = DANE_DEFER;
		p->tls = CLIENT_TLS_NONE;
		snprintf(p->why, sizeof(p->why), "out of memory");
		return -1;
	}
	if (p->ntlsa > 0) {
		p->verdict = DANE_VERIFY;
		p->tls = CLIENT_TLS_DANE;
		snprintf(p->why, sizeof(p->why), "%zu usable TLSA record%s at "
		    "%s", p->ntlsa, p->ntlsa == 1 ? "" : "s", p->tlsa_name);
	} else {
		p->verdict = DANE_ENCRYPT;
		p->tls = CLIENT_TLS_ENCRYPT;
		snprintf(p->why, sizeof(p->why), "TLSA records at %s, none "
		    "usable: TLS without authentication", p->tlsa_name);
	}
	return 0;
}

void
dane_plan_free(struct dane_plan *p)
{
	for (size_t i = 0; p->records != NULL && i < p->nrecords; i++)
		free(p->records[i]);
	free(p->records);
	free(p->tlsa);
	dns_tlsa_set_free(&p->set);
	p->records = NULL;
	p->tlsa = NULL;
	p->nrecords = p->ntlsa = 0;
}
