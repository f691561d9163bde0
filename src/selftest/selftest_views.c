/*
 * selftest_views - the probes from the viewpoints after the first (an
 * untrusted IPv4 client on the first mx listener), in process:
 *
 *  - an untrusted IPv6 client on the same listener, which must get the
 *    very answers the IPv4 client got (a stray ::/0 in mynetworks, or
 *    any rule that looks at one family only, shows as a difference);
 *  - every other mx listener, on its own;
 *  - every proxy listener: a header from a proxy in proxy_trusted names
 *    an outside client, and the probes come from that client; a header
 *    naming a mynetworks client from outside proxy_trusted is closed.
 *    Both go through proxy_decide, which the daemon decides with too;
 *  - the whole address space: the probes come from documentation
 *    addresses, so a network in mynetworks (or proxy_trusted, with an
 *    mx proxy listener) that leaves them out but holds more than an
 *    IPv4 /8 or a /16 of global IPv6 is a relay for that much of the
 *    Internet all the same, and fails.
 *
 * Each viewpoint is a run of rows (printed like the first table) and a
 * check, which is what the exit status counts.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "lib/netaddr.h"
#include "lib/proxy.h"
#include "selftest/selftest.h"

/* Where a header says the client connected when the listener has no
 * address of that family (RFC 5737, RFC 3849). */
#define DOC_DST4	"192.0.2.1"
#define DOC_DST6	"2001:db8::1"
#define PROXY_SPORT	"40000"		/* the client's port in a header */
/* The widest network a list may hold: a private IPv4 /8 (10/8), a
 * /16 of global IPv6 (2000::/3). */
#define WIDE_V4		8
#define WIDE_V6		16

/* listener_ip - the listener's address, or NULL for a wildcard */
static const char *
listener_ip(const struct listen_spec *ls)
{
	unsigned char b[16];

	if (ls->host != NULL && (inet_pton(AF_INET, ls->host, b) == 1 ||
	    inet_pton(AF_INET6, ls->host, b) == 1))
		return ls->host;
	return NULL;
}

/* view_run - the probes from client ss on listener ls, as a new run;
 * NULL when the engine could not run them or out of memory */
static struct st_run *
view_run(struct selftest *st, const struct st_viewer *v,
    const struct listen_spec *ls, const struct sockaddr_storage *ss,
    const char *client, const char *title, const char *via)
{
	struct st_places saved = st->p;
	const char *ip = listener_ip(ls);
	char where[ST_NOTE_MAX];
	struct st_run *r;
	int rc;

	st_listener_name(where, sizeof(where), ls);
	if ((r = st_add_run(st, title, where, client)) == NULL)
		return NULL;
	snprintf(r->via, sizeof(r->via), "%s", via ? via : "");
	snprintf(st->p.tester_ip, sizeof(st->p.tester_ip), "%s", client);
	if (ip != NULL && ls != st->listener) {
		snprintf(st->p.server_ip, sizeof(st->p.server_ip), "%s", ip);
		st_other_ip(ip, st->p.other_ip, sizeof(st->p.other_ip));
	}
	v->from(v->ctx, ss, client, ls->role, ls->role == ROLE_SUBMISSIONS);
	rc = st_run_rows(st, v->tr, r->rows, r->listener, client);
	st->p = saved;
	if (rc == -1)
		return NULL;
	if (v->judge)
		v->judge(v->ctx, r->rows);
	return r;
}

/* judge_against_first - a run on an mx listener gets the answers the
 * first run got when that was an untrusted client's; else (another
 * role, or a first client that is trusted) no probe relays */
static void
judge_against_first(struct selftest *st, struct st_check *c,
    const struct listen_spec *ls, const char *name,
    const struct st_row *rows)
{
	struct sockaddr_storage ss;
	char text[NETADDR_STRLEN];
	bool via_proxy;

	if (ls->role == ROLE_MX && st->listener->role == ROLE_MX &&
	    st_pick_client(st->cfg, AF_INET, &ss, text, sizeof(text),
	    &via_proxy))
		st_compare_runs(c, "first run", st->rows, name, rows);
	else
		st_judge_run(c, rows);
}

/* view_ipv6 - the probes as an untrusted IPv6 client, compared with
 * IPv4's answers probe by probe */
static int
view_ipv6(struct selftest *st, const struct st_viewer *v)
{
	struct sockaddr_storage ss;
	char text[NETADDR_STRLEN], where[ST_NOTE_MAX], title[ST_NOTE_MAX * 2];
	struct st_check *c;
	struct st_run *r;
	bool untrusted, via_proxy;

	untrusted = st_pick_client(st->cfg, AF_INET6, &ss, text, sizeof(text),
	    &via_proxy);
	st_listener_name(where, sizeof(where), st->listener);
	snprintf(title, sizeof(title), "Probes as untrusted IPv6 client %s "
	    "(%s) on the listener %s", text, untrusted ? "RFC 3849/9637 "
	    "documentation address, not in mynetworks" : via_proxy ? "as a "
	    "PROXY header from proxy_trusted names it: every IPv6 "
	    "documentation address is in proxy_trusted" : "every IPv6 "
	    "documentation address is in mynetworks, so this client is "
	    "trusted", where);
	if ((r = view_run(st, v, st->listener, &ss, text, title, NULL)) == NULL)
		return -1;
	snprintf(title, sizeof(title), "IPv6 client %s on %s: the probes get "
	    "the answers IPv4 client %s got, and none relays", text, where,
	    st->client);
	if ((c = st_add_check(st, title)) == NULL)
		return -1;
	if (!untrusted)
		snprintf(c->note, sizeof(c->note), "every IPv6 documentation "
		    "address is in %s", via_proxy ? "proxy_trusted" :
		    "mynetworks");
	st_compare_runs(c, "IPv4", st->rows, "IPv6", r->rows);
	return 0;
}

/* view_listener - the probes on another mx listener */
static int
view_listener(struct selftest *st, const struct st_viewer *v,
    const struct listen_spec *ls)
{
	struct sockaddr_storage ss;
	char text[NETADDR_STRLEN], where[ST_NOTE_MAX], title[ST_NOTE_MAX * 2];
	struct st_check *c;
	struct st_run *r;
	bool via_proxy;

	/* The client of the first run. */
	(void)st_pick_client(st->cfg, AF_INET, &ss, text, sizeof(text),
	    &via_proxy);
	st_listener_name(where, sizeof(where), ls);
	snprintf(title, sizeof(title), "Probes as untrusted client %s on the "
	    "listener %s", text, where);
	if ((r = view_run(st, v, ls, &ss, text, title, NULL)) == NULL)
		return -1;
	snprintf(title, sizeof(title), "listener %s: the probes from %s get "
	    "the answers of the first run, and none relays", where, text);
	if ((c = st_add_check(st, title)) == NULL)
		return -1;
	judge_against_first(st, c, ls, where, r->rows);
	return 0;
}

/* proxy_header - a version 1 header from the client `claim` to the
 * listener, parsed as the daemon parses it; -1 with a reason */
static int
proxy_header(const struct listen_spec *ls, const char *claim,
    struct proxy_hdr *hdr, char *line, size_t linelen, char *err,
    size_t errlen)
{
	const char *ip = listener_ip(ls);
	bool v6 = strchr(claim, ':') != NULL;
	size_t need;

	if (ip == NULL || (strchr(ip, ':') != NULL) != v6)
		ip = v6 ? DOC_DST6 : DOC_DST4;
	snprintf(line, linelen, "PROXY %s %s %s %s %s\r\n", v6 ? "TCP6" :
	    "TCP4", claim, ip, PROXY_SPORT, ls->port);
	if (proxy_parse(line, strlen(line), hdr, &need, err, errlen) !=
	    PROXY_DONE) {
		if (err[0] == '\0')
			snprintf(err, errlen, "incomplete");
		return -1;
	}
	line[strcspn(line, "\r")] = '\0';
	return 0;
}

/* header_decide - the header naming `claim`, sent by `from`, as the
 * daemon takes it (proxy_decide); -1 when the parser refused it, and
 * the check has `if_refused` and says why */
static int
header_decide(const struct config *cfg, const struct listen_spec *ls,
    const char *claim, const struct sockaddr_storage *from,
    struct st_check *c, enum st_verdict if_refused, struct proxy_hdr *hdr,
    char *line, size_t linelen, enum proxy_trust *trust)
{
	char err[160] = "";

	if (proxy_header(ls, claim, hdr, line, linelen, err,
	    sizeof(err)) == -1) {
		c->verdict = if_refused;
		snprintf(c->note, sizeof(c->note), "the header was refused: %s",
		    err);
		return -1;
	}
	/* The header's dst is where the connection arrived. */
	*trust = proxy_decide(cfg->proxy_trusted, cfg->nproxy_trusted, from,
	    &hdr->dst, hdr);
	return 0;
}

/* trust_words - what proxy_decide said, for a note */
static const char *
trust_words(enum proxy_trust t)
{
	switch (t) {
	case PROXY_T_REFUSE:	return "closed (not in proxy_trusted)";
	case PROXY_T_WAIT:	return "waiting for the header";
	case PROXY_T_SELF:	return "taken as the proxy's own connection";
	default:		return "believed: the session is the client's";
	}
}

/* view_proxy_outside - a trusted proxy's header names an outside
 * client: the probes come from that client */
static int
view_proxy_outside(struct selftest *st, const struct st_viewer *v,
    const struct listen_spec *ls, const char *where)
{
	const struct config *cfg = st->cfg;
	struct sockaddr_storage proxy, claim;
	char ptext[NETADDR_STRLEN], ctext[NETADDR_STRLEN], client[NETADDR_STRLEN];
	char line[PROXY_V1_MAX + 1], via[ST_NOTE_MAX];
	char title[ST_NOTE_MAX * 2];
	struct proxy_hdr hdr;
	enum proxy_trust trust;
	struct st_check *c;
	struct st_run *r;

	(void)st_first_host(cfg->proxy_trusted, cfg->nproxy_trusted, &proxy,
	    ptext, sizeof(ptext));
	/* Outside mynetworks: whether proxy_trusted holds it does not
	 * matter, for the header names it. */
	(void)st_pick_outside(cfg->mynetworks, cfg->nmynetworks, AF_INET,
	    &claim, ctext, sizeof(ctext));
	snprintf(title, sizeof(title), "proxy listener %s: a header from "
	    "proxy %s (in proxy_trusted) naming outside client %s: the probes "
	    "get the answers of the first run, and none relays", where, ptext,
	    ctext);
	if ((c = st_add_check(st, title)) == NULL)
		return -1;
	if (cfg->nproxy_trusted == 0) {
		snprintf(c->note, sizeof(c->note), "not applicable: "
		    "proxy_trusted is empty, so every connection is closed");
		return 0;
	}
	if (header_decide(cfg, ls, ctext, &proxy, c, ST_FAIL, &hdr, line,
	    sizeof(line), &trust) == -1)
		return 0;
	if (trust != PROXY_T_CLIENT) {
		c->verdict = ST_FAIL;
		snprintf(c->note, sizeof(c->note), "%s: %s", line,
		    trust_words(trust));
		return 0;
	}
	netaddr_format((const struct sockaddr *)&hdr.src, client,
	    sizeof(client));
	snprintf(via, sizeof(via), "from proxy %s: %s (%s)", ptext, line,
	    trust_words(trust));
	snprintf(title, sizeof(title), "Probes through the proxy listener %s "
	    "as client %s, named by a PROXY header", where, client);
	if ((r = view_run(st, v, ls, &hdr.src, client, title, via)) == NULL)
		return -1;
	judge_against_first(st, c, ls, "proxied", r->rows);
	snprintf(c->note + strlen(c->note), sizeof(c->note) -
	    strlen(c->note), "%s%s", c->note[0] ? "; " : "", via);
	return 0;
}

/* view_proxy_claim - a header naming a mynetworks client from a host
 * outside proxy_trusted: closed, as the daemon closes it */
static int
view_proxy_claim(struct selftest *st, const struct listen_spec *ls,
    const char *where)
{
	const struct config *cfg = st->cfg;
	struct sockaddr_storage from, mine;
	char ftext[NETADDR_STRLEN], mtext[NETADDR_STRLEN];
	char title[ST_NOTE_MAX * 2];
	char line[PROXY_V1_MAX + 1];
	struct proxy_hdr hdr;
	enum proxy_trust trust;
	struct st_check *c;
	bool outside;

	if (!st_trusted_client(cfg, &mine, mtext, sizeof(mtext))) {
		snprintf(title, sizeof(title), "proxy listener %s: a header "
		    "naming a mynetworks client from outside proxy_trusted "
		    "gets no trust", where);
		if ((c = st_add_check(st, title)) == NULL)
			return -1;
		snprintf(c->note, sizeof(c->note), "not applicable: mynetworks "
		    "is empty, so there is no trust to claim");
		return 0;
	}
	/* From each family's documentation addresses: when proxy_trusted
	 * holds every one of a family, it holds (as far as this test can
	 * tell) all of it, and that family is shown. */
	outside = st_pick_outside(cfg->proxy_trusted, cfg->nproxy_trusted,
	    AF_INET, &from, ftext, sizeof(ftext));
	if (outside)
		outside = st_pick_outside(cfg->proxy_trusted,
		    cfg->nproxy_trusted, AF_INET6, &from, ftext, sizeof(ftext));
	if (outside)
		(void)st_pick_outside(cfg->proxy_trusted, cfg->nproxy_trusted,
		    AF_INET, &from, ftext, sizeof(ftext));
	snprintf(title, sizeof(title), "proxy listener %s: a header naming "
	    "mynetworks client %s from %s, not a proxy, gets no trust "
	    "(closed)", where, mtext, ftext);
	if ((c = st_add_check(st, title)) == NULL)
		return -1;
	if (header_decide(cfg, ls, mtext, &from, c, ST_PASS, &hdr, line,
	    sizeof(line), &trust) == -1)
		return 0;
	c->verdict = trust == PROXY_T_REFUSE ? ST_PASS : ST_FAIL;
	snprintf(c->note, sizeof(c->note), "%.110s from %s: %s%s", line, ftext,
	    trust_words(trust), outside ? "" : "; proxy_trusted holds "
	    "every documentation address: anyone may claim mynetworks");
	return 0;
}

/* too_wide - does c hold more than an IPv4 /8 (an IPv4-mapped network
 * counts as IPv4, as cidr_match takes it) or more than a /16 of global
 * unicast IPv6 (2000::/3; ULA and link-local are no one's relay)? */
static bool
too_wide(const struct cidr *c)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0xff, 0xff };
	unsigned bits;

	if (c->family == AF_INET)
		return c->prefix < WIDE_V4;
	if (c->prefix >= 96 && memcmp(c->addr, mapped, sizeof(mapped)) == 0)
		return c->prefix - 96 < WIDE_V4;
	if (c->prefix >= WIDE_V6)
		return false;
	/* Overlapping 2000::/3: the first min(prefix, 3) bits are 001. */
	bits = c->prefix < 3 ? c->prefix : 3;
	return bits == 0 || ((c->addr[0] ^ 0x20) >> (8 - bits)) == 0;
}

/* wide_list - the wide networks of v[0..n) into the check's note */
static void
wide_list(struct st_check *c, const char *what, const struct cidr *v,
    size_t n)
{
	char net[CIDR_STRLEN];
	size_t len;

	for (size_t i = 0; i < n; i++) {
		if (!too_wide(&v[i]))
			continue;
		cidr_format(&v[i], net, sizeof(net));
		len = strlen(c->note);
		snprintf(c->note + len, sizeof(c->note) - len, "%s%s %s",
		    c->verdict == ST_FAIL ? ", " : "", what, net);
		c->verdict = ST_FAIL;
	}
}

/* view_wide - no network wide enough to be a relay for much of the
 * Internet where the probes' documentation addresses cannot show it */
static int
view_wide(struct selftest *st)
{
	const struct config *cfg = st->cfg;
	struct st_check *c;
	bool proxy_mx = false;
	size_t len;

	for (size_t i = 0; i < cfg->nlisten; i++)
		proxy_mx |= cfg->listen[i].proxy &&
		    cfg->listen[i].role == ROLE_MX;
	if ((c = st_add_check(st, "mynetworks and proxy_trusted hold no "
	    "network wider than an IPv4 /8 or a /16 of global IPv6")) == NULL)
		return -1;
	c->verdict = ST_PASS;
	wide_list(c, "mynetworks", cfg->mynetworks, cfg->nmynetworks);
	/* A header from proxy_trusted may name a client of mynetworks. */
	if (proxy_mx && cfg->nmynetworks > 0)
		wide_list(c, "proxy_trusted", cfg->proxy_trusted,
		    cfg->nproxy_trusted);
	if (c->verdict == ST_FAIL && (len = strlen(c->note)) <
	    sizeof(c->note))
		snprintf(c->note + len, sizeof(c->note) - len, ": every "
		    "address in it may relay, though the probes' documentation "
		    "addresses are not in it; list your own networks only");
	return 0;
}

int
st_views_local(struct selftest *st, const struct st_viewer *v)
{
	const struct config *cfg = st->cfg;
	char where[ST_NOTE_MAX];

	if (view_ipv6(st, v) == -1 || view_wide(st) == -1)
		return -1;
	for (size_t i = 0; i < cfg->nlisten; i++) {
		const struct listen_spec *ls = &cfg->listen[i];

		if (ls->role == ROLE_METRICS)
			continue;
		st_listener_name(where, sizeof(where), ls);
		if (ls->proxy) {
			if (view_proxy_outside(st, v, ls, where) == -1 ||
			    view_proxy_claim(st, ls, where) == -1)
				return -1;
		} else if (ls->role == ROLE_MX && ls != st->listener &&
		    view_listener(st, v, ls) == -1)
			return -1;
	}
	return 0;
}
