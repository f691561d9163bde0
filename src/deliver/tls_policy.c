/*
 * tls_policy - sallyport --tls-policy DOMAIN: the MX walk of a
 * delivery to DOMAIN, made with the same lookups (deliver_mx_list,
 * deliver_mx_group, dane_plan_host) but without connecting, printed
 * one "key: value" a line, a host's lines indented under it:
 *
 *	domain: dane.example
 *	dnssec: yes
 *	mx-lookup: secure
 *	host: mx1.dane.example
 *	  preference: 10
 *	  addresses: 192.0.2.25 2001:db8::25 (secure)
 *	  tlsa-lookup: _25._tcp.mx1.dane.example: 1 record (secure)
 *	  tlsa: 3 1 1 0C72AC70... (usable)
 *	  plan: dane (1 usable TLSA record at _25._tcp.mx1.dane.example)
 *
 * A policy of another kind adds its own lines: one per domain after
 * print_domain's, one per host after print_host's. MTA-STS adds
 * mta-sts: (the mode, id, cached or fetched now), mta-sts-mx: and
 * mta-sts-failure:, and makes a host's plan sts or skip under enforce. Anything read from
 * DNS is printed as log lines are (log_escape: control characters as
 * \r, \n, \xHH), so that a line is one line.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/config.h"
#include "deliver/deliver_int.h"
#include "deliver/sts.h"
#include "deliver/tls_policy.h"
#include "dns/resolve.h"
#include "lib/log.h"
#include "lib/netaddr.h"

/* put - "INDENTkey: value\n", the value's odd bytes escaped */
static void
put(const char *indent, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
put(const char *indent, const char *key, const char *fmt, ...)
{
	char	 buf[2048], out[4 * sizeof(buf)];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	printf("%s%s: %s\n", indent, key, log_escape(out, sizeof(out), buf,
	    (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1));
}

static const char *
secure_word(bool secure)
{
	return secure ? "secure" : "insecure";
}

static const char *
resolve_words(int rc)
{
	switch (rc) {
	case RESOLVE_NONE:
		return "host not found";
	case DELIVER_LOOPS:
		return "this server";
	default:
		return "DNS failure";
	}
}

/* print_domain - the lines about the domain as a whole */
static void
print_domain(const struct config *cfg, const char *domain, int rc,
    const struct mx_target *mx, size_t nmx)
{
	put("", "domain", "%s", domain);
	put("", "dnssec", "%s", cfg->dnssec ? "yes" : "no (no answer is "
	    "secure: no DANE)");
	if (cfg->smarthost != NULL)
		put("", "smarthost", "%s (mail goes there, not to the hosts "
		    "below)", cfg->smarthost);
	if (rc == RESOLVE_OK)
		put("", "mx-lookup", "%s%s", secure_word(nmx > 0 &&
		    mx[0].mx_secure), nmx == 1 && strcasecmp(mx[0].mx.name,
		    domain) == 0 ? " (no MX: the domain itself)" : "");
	else
		put("", "mx-lookup", "failed (%s)", rc == RESOLVE_NONE ?
		    "no mail server for the domain" : rc == RESOLVE_BADNAME ?
		    "not a valid internationalized domain name" :
		    "DNS failure");
}

/* print_sts - the domain's MTA-STS policy, as a delivery would find it
 * now (fetched when due, but not cached by this look) */
static void
print_sts(const struct config *cfg, const struct sts_state *st)
{
	char	 mxs[512];
	size_t	 i, at = 0;

	if (!cfg->mta_sts) {
		put("", "mta-sts", "off (mta_sts = no)");
		return;
	}
	if (st->have)
		put("", "mta-sts", "%s (id %s, %s%s, max_age %lu)",
		    mtasts_mode_name(st->c.policy.mode), st->c.id,
		    strcmp(st->source, "cache") == 0 ? "cached" : "fetched now",
		    st->expired ? ", expired: in force until a new one is "
		    "fetched" : "", st->c.policy.max_age);
	else
		put("", "mta-sts", "no policy");
	if (st->have && st->c.policy.nmx > 0) {
		mxs[0] = '\0';
		for (i = 0; i < st->c.policy.nmx && at < sizeof(mxs); i++)
			at += (size_t)snprintf(mxs + at, sizeof(mxs) - at,
			    "%s%s", i > 0 ? " " : "", st->c.policy.mx[i]);
		put("", "mta-sts-mx", "%s", mxs);
	}
	if (st->failure != TLSRPT_SUCCESS)
		put("", "mta-sts-failure", "%s: %s",
		    tlsrpt_result_name(st->failure), st->detail);
}

/* print_addrs - "A B C (secure)" */
static void
print_addrs(const struct mx_target *t)
{
	char	 line[DELIVER_MAX_ADDRS * (NETADDR_STRLEN + 1) + 1] = "";
	char	 ip[NETADDR_STRLEN];
	size_t	 a;

	if (t->rc != RESOLVE_OK) {
		put("  ", "addresses", "none (%s)", resolve_words(t->rc));
		return;
	}
	for (a = 0; a < t->naddr; a++) {
		netaddr_format((const struct sockaddr *)&t->addrs[a], ip,
		    sizeof(ip));
		strcat(line, a > 0 ? " " : "");
		strcat(line, ip);
	}
	put("  ", "addresses", "%s (%s)", line, secure_word(t->sec.secure));
	if (t->sec.cname[0] != '\0')
		put("  ", "cname", "%s", t->sec.cname);
}

/* print_tlsa - the TLSA lookup and its records */
static void
print_tlsa(const struct dane_plan *p)
{
	size_t	 i, u = 0;

	if (!p->looked_up) {
		put("  ", "tlsa-lookup", "not done");
		return;
	}
	if (p->tlsa_rc == RESOLVE_TEMP)
		put("  ", "tlsa-lookup", "%s: failed (SERVFAIL, bogus or no "
		    "answer)", p->tlsa_name);
	else if (p->nrecords + p->set.malformed == 0)
		put("  ", "tlsa-lookup", "%s: %s (%s)", p->tlsa_name,
		    p->tlsa_rc == RESOLVE_NONE ? "no records" :
		    "records", secure_word(p->tlsa_secure));
	else
		put("  ", "tlsa-lookup", "%s: %zu record%s (%s)", p->tlsa_name,
		    p->nrecords + p->set.malformed, p->nrecords +
		    p->set.malformed == 1 ? "" : "s",
		    secure_word(p->tlsa_secure));
	/* p->tlsa[] holds the usable ones, in the order of p->records */
	for (i = 0; i < p->nrecords; i++) {
		bool usable = u < p->ntlsa && p->tlsa[u].data ==
		    p->set.v[i].data;

		u += usable;
		put("  ", "tlsa", "%s (%s)", p->records[i], usable ? "usable" :
		    "unusable");
	}
	if (p->set.malformed > 0)
		put("  ", "tlsa", "%zu malformed (unusable)", p->set.malformed);
}

/* print_host - one host and its plan; false when it cannot be planned
 * (out of memory) */
static bool
print_host(const struct config *cfg, const struct mx_target *t,
    const char *domain, const struct sts_state *st)
{
	struct dane_plan	 p;
	int			 rc;
	bool			 sts, in;

	put("", "host", "%s", t->mx.name);
	put("  ", "preference", "%u", t->mx.pref);
	print_addrs(t);
	rc = dane_plan_host(cfg, t, 25, &p);
	print_tlsa(&p);
	/* MTA-STS where DANE leaves the host opportunistic (deliver_sts.c) */
	sts = st->have && st->c.policy.mode != MTASTS_NONE &&
	    p.verdict == DANE_NONE;
	in = sts && mtasts_mx_match(&st->c.policy, t->mx.name);
	if (t->rc != RESOLVE_OK)
		put("  ", "plan", "skip (%s)", resolve_words(t->rc));
	else if (sts && st->c.policy.mode == MTASTS_ENFORCE && in)
		put("  ", "plan", "sts (the MTA-STS policy of %s: TLS, a "
		    "certificate valid for %s)", domain, t->mx.name);
	else if (sts && st->c.policy.mode == MTASTS_ENFORCE)
		put("  ", "plan", "skip (not in the MTA-STS policy of %s, mode "
		    "enforce: 451 4.7.5)", domain);
	else
		put("  ", "plan", "%s (%s%s)", dane_verdict_name(p.verdict),
		    p.why, !sts ? "" : in ? "; MTA-STS testing: in the "
		    "policy" : "; MTA-STS testing: not in the policy");
	dane_plan_free(&p);
	return rc == 0;
}

int
tls_policy_command(const char *config, int argc, char **argv)
{
	struct mx_target	*mx;
	struct sts_state	*st = NULL;
	struct config		*cfg;
	size_t			 nmx = 0, k, end = 0;
	int			 rc, self, status = 0;

	if (argc != 1 || argv[0][0] == '\0') {
		fprintf(stderr, "usage:\n" TLS_POLICY_USAGE);
		return 2;
	}
	cfg = config_load_tell(config);
	if (cfg == NULL)
		return 2;
	if ((mx = calloc(DELIVER_MAX_MX, sizeof(*mx))) == NULL ||
	    (st = calloc(1, sizeof(*st))) == NULL) {
		free(mx);
		fprintf(stderr, "sallyport: --tls-policy: out of memory\n");
		config_free(cfg);
		return 2;
	}
	rc = deliver_mx_list(cfg, argv[0], mx, DELIVER_MAX_MX, &nmx);
	print_domain(cfg, argv[0], rc, mx, nmx);
	if (rc == RESOLVE_OK && cfg->smarthost == NULL) {
		sts_policy_look(cfg, argv[0], st);
		print_sts(cfg, st);
	}
	if (rc != RESOLVE_OK || nmx == 0)
		status = 1;
	for (k = 0; rc == RESOLVE_OK && k < nmx; k++) {
		/* A preference group at a time, as a delivery walks them:
		 * at this server's own preference the walk stops. */
		if (k == end && (self = deliver_mx_group(cfg, mx, k, nmx,
		    &end)) != 0) {
			put("", "stop", "%s", self == -1 ? "own addresses "
			    "unknown (getifaddrs)" : "this server is among "
			    "the hosts of this preference: the walk ends");
			if (k == 0)
				status = 1;
			break;
		}
		if (!print_host(cfg, &mx[k], argv[0], st))
			status = 2;
	}
	fflush(stdout);
	free(st);
	free(mx);
	config_free(cfg);
	return status;
}
