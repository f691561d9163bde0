/*
 * selftest_probes - the probe table of doc/selftest.md and what its
 * placeholders stand for.
 *
 * The table is data: each row is the MAIL line and the RCPT lines of
 * one probe, written in the form the reference transcript shows. A
 * bracketed value there is sent as "MAIL FROM:<...>" / "RCPT TO:<...>";
 * a bare one as the transcript typed it, "mail from: x" (lower case,
 * blank after the colon) for senders and "RCPT TO:x" for recipients.
 * {NAME} stands for a placeholder; SERVER_IP, OTHER_IP and TESTER_IP
 * always sit between brackets and expand to the literal's text
 * ("IPv6:..." for an IPv6 address). The reference's third-party
 * mailbox ksch90@korea.com is EXTERNAL_RCPT (EXTERNAL_LOCAL @
 * EXTERNAL_DOMAIN); the other local parts are the reference's own.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "lib/netaddr.h"
#include "smtp/address.h"
#include "smtp/policy.h"
#include "selftest/selftest.h"

const struct st_probe st_probes[ST_NPROBES] = {
	{ 0, "baseline: plain relay attempt",
	    "MAIL FROM:<ksch@{SERVER_HOST}>",
	    { "RCPT TO:<{EXTERNAL_RCPT}>" }, 0 },
	{ 1, "sender = recipient, both external",
	    "mail from: ksch@{TESTER_DOMAIN}",
	    { "RCPT TO:ksch@{TESTER_DOMAIN}" }, ST_P_PROBER_SENDER },
	{ 2, "sender domain that does not exist",
	    "mail from: spamtest@{BAD_DOMAIN}",
	    { NULL }, ST_P_SENDER_CHECK },
	{ 3, "sender at localhost",
	    "mail from: relaytest@localhost",
	    { NULL }, ST_P_SENDER_CHECK },
	{ 4, "unqualified sender (pretends to be local)",
	    "MAIL FROM:<relaytest>",
	    { NULL }, ST_P_SENDER_CHECK },
	{ 5, "null sender",
	    "MAIL FROM:<>",
	    { "RCPT TO:{EXTERNAL_RCPT}" }, ST_P_NULL_SENDER },
	{ 6, "server's own FQDN as sender",
	    "mail from: root@{SERVER_HOST}",
	    { "RCPT TO:{EXTERNAL_RCPT}" }, 0 },
	{ 7, "server's IP literal as sender",
	    "mail from: spamtest@[{SERVER_IP}]",
	    { "RCPT TO:{EXTERNAL_RCPT}" }, 0 },
	{ 8, "%-hack via the server's name",
	    "mail from: ksch@{TESTER_DOMAIN}",
	    { "RCPT TO:{EXTERNAL_LOCAL}%{EXTERNAL_DOMAIN}@{SERVER_HOST}" },
	    ST_P_PROBER_SENDER },
	{ 9, "%-hack via the server's IP literal",
	    "mail from: ksch@{SERVER_HOST}",
	    { "RCPT TO:ksch%{TESTER_DOMAIN}@[{SERVER_IP}]" }, 0 },
	{ 10, "quoted whole address",
	    "mail from: ksch@{SERVER_HOST}",
	    { "RCPT TO:\"{EXTERNAL_RCPT}\"",
	      "RCPT TO:\"ksch@{TESTER_DOMAIN}\"" }, 0 },
	{ 11, "quoted %-hack",
	    "mail from: ksch@{SERVER_HOST}",
	    { "RCPT TO:\"{EXTERNAL_LOCAL}%{EXTERNAL_DOMAIN}\"",
	      "RCPT TO:\"ksch%{TESTER_DOMAIN}\"" }, 0 },
	{ 12, "quoted double-@ through the server's name; sender is the "
	    "server's IP literal",
	    "mail from: ksch@[{SERVER_IP}]",
	    { "RCPT TO:\"{EXTERNAL_RCPT}@{SERVER_HOST}\"" }, 0 },
	{ 13, "quoted external address as local part @ server's IP literal",
	    "mail from: ksch@{SERVER_HOST}",
	    { "RCPT TO:\"{EXTERNAL_RCPT}\"@[{SERVER_IP}]" }, 0 },
	{ 14, "unquoted double-@ with the server's IP literal",
	    "mail from: ksch@{SERVER_HOST}",
	    { "RCPT TO:{EXTERNAL_RCPT}@[{SERVER_IP}]" }, 0 },
	{ 15, "source route through the server's name",
	    "mail from: ksch@[{SERVER_IP}]",
	    { "RCPT TO:@{SERVER_HOST}:root@{TESTER_DOMAIN}" }, 0 },
	{ 16, "source route through the prober's IP literal",
	    "mail from: ksch@{SERVER_HOST}",
	    { "RCPT TO:@[{TESTER_IP}]:root@{TESTER_DOMAIN}" }, 0 },
	{ 17, "bang path (UUCP), sender at an IP literal",
	    "mail from: ksch@[{OTHER_IP}]",
	    { "RCPT TO:<{TESTER_DOMAIN}!root>",
	      "RCPT TO:{TESTER_DOMAIN}!nobody",
	      "RCPT TO:{TESTER_DOMAIN}!root" }, 0 },
	{ 18, "bang path @ an IP literal",
	    "mail from: ksch@{SERVER_HOST}",
	    { "RCPT TO:{TESTER_DOMAIN}!nobody@[{OTHER_IP}]" }, 0 },
	{ 19, "postmaster as sender",
	    "mail from: postmaster@{SERVER_HOST}",
	    { "RCPT TO:root@{TESTER_DOMAIN}" }, 0 },
};

/* Domains under RFC 2606 names that are never anyone's mail domain. */
static const char *const tester_domains[] = {
	"tester.example", "tester.example.com", "tester.example.net",
	"tester.example.org",
};
static const char *const external_domains[] = {
	"external.example", "external.example.com", "external.example.net",
	"external.example.org",
};
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* Documentation addresses (RFC 5737, RFC 3849, RFC 9637). */
static const char *const doc_clients4[] = {
	"203.0.113.7", "198.51.100.7", "192.0.2.7",
};
static const char *const doc_clients6[] = {
	"2001:db8::7", "3fff::7",
};
#define DOC_SERVER_IP	"192.0.2.1"
#define DOC_OTHER_IP	"192.0.2.2"

void
st_literal(const char *ip, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s%s", strchr(ip, ':') ? "IPv6:" : "", ip);
}

void
st_other_ip(const char *server_ip, char *out, size_t outlen)
{
	struct in_addr in;
	unsigned char *b = (unsigned char *)&in.s_addr;
	unsigned next;

	if (inet_pton(AF_INET, server_ip, &in) != 1) {
		snprintf(out, outlen, "%s", DOC_OTHER_IP);
		return;
	}
	next = (b[3] + 1u) % 256u;
	if (next == 0 || next == 255)
		next = 1;
	b[3] = (unsigned char)next;
	inet_ntop(AF_INET, &in, out, (socklen_t)outlen);
}

/* placeholder - the text {name} stands for; NULL for an unknown name */
static const char *
placeholder(const struct st_places *p, const char *name, size_t len,
    char *tmp, size_t tmplen)
{
	static const struct {
		const char	*name;
		size_t		 off;
		bool		 literal;
	} names[] = {
		{ "SERVER_HOST", offsetof(struct st_places, server_host), false },
		{ "SERVER_IP", offsetof(struct st_places, server_ip), true },
		{ "OTHER_IP", offsetof(struct st_places, other_ip), true },
		{ "TESTER_DOMAIN", offsetof(struct st_places, tester_domain), false },
		{ "TESTER_IP", offsetof(struct st_places, tester_ip), true },
		{ "EXTERNAL_LOCAL", offsetof(struct st_places, external_local), false },
		{ "EXTERNAL_DOMAIN", offsetof(struct st_places, external_domain), false },
		{ "BAD_DOMAIN", offsetof(struct st_places, bad_domain), false },
	};
	const char *v;

	if (len == strlen("EXTERNAL_RCPT") &&
	    memcmp(name, "EXTERNAL_RCPT", len) == 0) {
		snprintf(tmp, tmplen, "%s@%s", p->external_local,
		    p->external_domain);
		return tmp;
	}
	for (size_t i = 0; i < NELEM(names); i++) {
		if (strlen(names[i].name) != len ||
		    memcmp(names[i].name, name, len) != 0)
			continue;
		v = (const char *)p + names[i].off;
		if (!names[i].literal)
			return v;
		st_literal(v, tmp, tmplen);
		return tmp;
	}
	return NULL;
}

int
st_expand(const struct st_places *p, const char *tmpl, char *out,
    size_t outlen)
{
	char tmp[ST_NAME_MAX + 80];
	const char *end, *v;
	size_t o = 0, n;

	if (outlen == 0)
		return -1;
	while (*tmpl) {
		if (*tmpl == '{' && (end = strchr(tmpl, '}')) != NULL) {
			v = placeholder(p, tmpl + 1, (size_t)(end - tmpl - 1),
			    tmp, sizeof(tmp));
			if (v == NULL)
				return -1;
			tmpl = end + 1;
		} else {
			tmp[0] = *tmpl++;
			tmp[1] = '\0';
			v = tmp;
		}
		n = strlen(v);
		if (o + n >= outlen)
			return -1;
		memcpy(out + o, v, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

bool
st_domain_name(const char *s, size_t len)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-";

	if (len == 0 || len > ST_NAME_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (strchr(ok, s[i]) == NULL || s[i] == '\0')
			return false;
	return true;
}

/* ours - would the server take mail for this domain as its own? */
static bool
ours(const struct config *cfg, const char *domain)
{
	if (cfg == NULL)
		return false;
	return policy_local_domain(cfg, domain) ||
	    policy_relay_domain(cfg, domain) ||
	    domain_equal(cfg->hostname, domain);
}

/* pick - the first candidate that is not ours and not `other` */
static const char *
pick(const struct config *cfg, const char *const *v, size_t n,
    const char *other)
{
	for (size_t i = 0; i < n; i++)
		if (!ours(cfg, v[i]) &&
		    (other == NULL || !domain_equal(v[i], other)))
			return v[i];
	return NULL;
}

int
st_pick_domains(const struct config *cfg, const char *tester_domain,
    struct st_places *p, char *err, size_t errlen)
{
	const char *t = tester_domain, *x;
	size_t label;

	if (t == NULL && (t = pick(cfg, tester_domains, NELEM(tester_domains),
	    NULL)) == NULL) {
		snprintf(err, errlen, "every candidate TESTER_DOMAIN (%s, ...) "
		    "is one of ours", tester_domains[0]);
		return -1;
	}
	if (strlen(t) > 200 || !st_domain_name(t, strlen(t))) {
		snprintf(err, errlen, "tester domain \"%.64s\" is not a domain "
		    "name", t);
		return -1;
	}
	if (ours(cfg, t)) {
		snprintf(err, errlen, "tester domain %s is one of the server's "
		    "own domains", t);
		return -1;
	}
	if ((x = pick(cfg, external_domains, NELEM(external_domains), t))
	    == NULL) {
		snprintf(err, errlen, "every candidate external domain is "
		    "one of ours");
		return -1;
	}
	snprintf(p->tester_domain, sizeof(p->tester_domain), "%s", t);
	snprintf(p->tester_domain_note, sizeof(p->tester_domain_note), "%s",
	    tester_domain ? "given with --tester-domain" :
	    "RFC 2606 name, not one of the server's domains");
	snprintf(p->external_local, sizeof(p->external_local), "probe");
	snprintf(p->external_domain, sizeof(p->external_domain), "%s", x);
	label = strcspn(t, ".");
	if (label >= sizeof(p->ehlo))
		label = sizeof(p->ehlo) - 1;
	memcpy(p->ehlo, t, label);
	p->ehlo[label] = '\0';
	/* The reference's bad domain sat under the prober's own; ours sits
	 * under .invalid, which can never exist (RFC 6761 6.4). */
	snprintf(p->bad_domain, sizeof(p->bad_domain), "spam.mail.%s.invalid",
	    p->ehlo);
	if (ours(cfg, p->bad_domain))
		snprintf(p->bad_domain, sizeof(p->bad_domain),
		    "spam.mail.sallyport-selftest.invalid");
	return 0;
}

/* concrete - is the listener's address one we can name? */
static bool
concrete(const struct listen_spec *l)
{
	unsigned char b[16];

	return l->host != NULL && (inet_pton(AF_INET, l->host, b) == 1 ||
	    inet_pton(AF_INET6, l->host, b) == 1);
}

int
st_places_from_config(const struct config *cfg, const char *server_name,
    const char *tester_domain, struct st_places *p,
    const struct listen_spec **target, char *err, size_t errlen)
{
	const struct listen_spec *t = NULL, *named = NULL;
	size_t i;

	memset(p, 0, sizeof(*p));
	if (server_name && !st_domain_name(server_name, strlen(server_name))) {
		snprintf(err, errlen, "server name \"%.64s\" is not a domain "
		    "name", server_name);
		return -1;
	}
	/* The first mx listener, else the first that takes mail at all
	 * (the metrics listener speaks HTTP). */
	for (i = 0; i < cfg->nlisten && t == NULL; i++)
		if (cfg->listen[i].role == ROLE_MX)
			t = &cfg->listen[i];
	for (i = 0; i < cfg->nlisten && t == NULL; i++)
		if (cfg->listen[i].role != ROLE_METRICS)
			t = &cfg->listen[i];
	if (t == NULL) {
		snprintf(err, errlen, "no listener to probe");
		return -1;
	}
	*target = t;
	if (concrete(t))
		named = t;
	for (i = 0; i < cfg->nlisten && named == NULL; i++)
		if (cfg->listen[i].role != ROLE_METRICS &&
		    concrete(&cfg->listen[i]))
			named = &cfg->listen[i];
	if (named == t) {
		snprintf(p->server_ip, sizeof(p->server_ip), "%s", t->host);
		snprintf(p->server_ip_note, sizeof(p->server_ip_note),
		    "the address of the %s listener", config_role_name(t->role));
	} else if (named != NULL) {
		snprintf(p->server_ip, sizeof(p->server_ip), "%s", named->host);
		snprintf(p->server_ip_note, sizeof(p->server_ip_note),
		    "the probed %s listener is a wildcard; address of the "
		    "%s listener on port %s", config_role_name(t->role),
		    config_role_name(named->role), named->port);
	} else {
		snprintf(p->server_ip, sizeof(p->server_ip), DOC_SERVER_IP);
		snprintf(p->server_ip_note, sizeof(p->server_ip_note),
		    "RFC 5737 documentation address: every listener is a "
		    "wildcard");
	}
	st_other_ip(p->server_ip, p->other_ip, sizeof(p->other_ip));
	snprintf(p->server_host, sizeof(p->server_host), "%s",
	    server_name ? server_name : cfg->hostname);
	snprintf(p->server_host_note, sizeof(p->server_host_note), "%s%s",
	    server_name ? "given with --server-name" : "hostname",
	    strchr(p->server_host, '.') == NULL && cfg->reject_non_fqdn_sender ?
	    "; not fully qualified, so a sender at it is refused as not a real "
	    "domain and the probes that use one stop at MAIL" : "");
	return st_pick_domains(cfg, tester_domain, p, err, errlen);
}

/* proxy_names_trusted - could a client at sa relay as one of
 * mynetworks whatever its address: an mx proxy listener believes the
 * header of anyone in proxy_trusted, and a header may name a client of
 * mynetworks (on the submission roles MAIL needs AUTH all the same) */
static bool
proxy_names_trusted(const struct config *cfg, const struct sockaddr *sa)
{
	if (cfg->nmynetworks == 0 || !cidr_match_any(cfg->proxy_trusted,
	    cfg->nproxy_trusted, sa))
		return false;
	for (size_t i = 0; i < cfg->nlisten; i++)
		if (cfg->listen[i].proxy && cfg->listen[i].role == ROLE_MX)
			return true;
	return false;
}

bool
st_pick_client(const struct config *cfg, int family,
    struct sockaddr_storage *ss, char *text, size_t textlen, bool *via_proxy)
{
	const char *const *v = family == AF_INET6 ? doc_clients6 : doc_clients4;
	size_t n = family == AF_INET6 ? NELEM(doc_clients6) : NELEM(doc_clients4);

	*via_proxy = false;
	for (size_t i = 0; i < n; i++) {
		(void)netaddr_from_text(v[i], ss);
		if (!policy_trusted(cfg, (struct sockaddr *)ss) &&
		    !proxy_names_trusted(cfg, (struct sockaddr *)ss)) {
			snprintf(text, textlen, "%s", v[i]);
			return true;
		}
	}
	(void)netaddr_from_text(v[0], ss);
	snprintf(text, textlen, "%s", v[0]);
	/* A stranger in proxy_trusted: the probes come as the client of
	 * mynetworks its header names. */
	if (proxy_names_trusted(cfg, (struct sockaddr *)ss) &&
	    st_trusted_client(cfg, ss, text, textlen))
		*via_proxy = true;
	return false;
}

bool
st_pick_outside(const struct cidr *nets, size_t nnets, int family,
    struct sockaddr_storage *ss, char *text, size_t textlen)
{
	const char *const *v = family == AF_INET6 ? doc_clients6 : doc_clients4;
	size_t n = family == AF_INET6 ? NELEM(doc_clients6) : NELEM(doc_clients4);

	for (size_t i = 0; i < n; i++) {
		(void)netaddr_from_text(v[i], ss);
		if (!cidr_match_any(nets, nnets, (struct sockaddr *)ss)) {
			snprintf(text, textlen, "%s", v[i]);
			return true;
		}
	}
	(void)netaddr_from_text(v[0], ss);
	snprintf(text, textlen, "%s", v[0]);
	return false;
}

bool
st_first_host(const struct cidr *c, size_t n, struct sockaddr_storage *ss,
    char *text, size_t textlen)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	if (n == 0)
		return false;
	memset(ss, 0, sizeof(*ss));
	if (c->family == AF_INET) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, c->addr, 4);
		if (c->prefix < 31)
			((unsigned char *)&sin->sin_addr)[3] |= 1;
	} else {
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, c->addr, 16);
		if (c->prefix < 127)
			sin6->sin6_addr.s6_addr[15] |= 1;
	}
	netaddr_format((struct sockaddr *)ss, text, textlen);
	return true;
}

bool
st_trusted_client(const struct config *cfg, struct sockaddr_storage *ss,
    char *text, size_t textlen)
{
	return st_first_host(cfg->mynetworks, cfg->nmynetworks, ss, text,
	    textlen);
}
