/*
 * selftest_local - the self-test in process: the probes and checks run
 * through the real engine and policy under the real configuration
 * (the transport is selftest_engine.c), from the untrusted client, a
 * client of mynetworks, IPv6, each submission listener (untrusted and
 * authenticated), then the other viewpoints (selftest_views.c) and the
 * features (selftest_features.c).
 *
 * No port is bound and nothing is queued: a probe never sends DATA, and
 * the engine's spool keeps nothing and fails every commit.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/log.h"
#include "selftest/selftest.h"
#include "selftest/selftest_engine.h"
#include "smtp/address.h"
#include "smtp/policy.h"

/* --- checks ------------------------------------------------------------ */

/* one_rcpt - a session MAIL + one RCPT; the RCPT's reply class (2, 4,
 * 5) or 0 */
static int
one_rcpt(const struct st_transport *tr, const char *ehlo, const char *mail,
    const char *rcpt, struct st_transcript *t)
{
	const char *lines[2] = { mail, rcpt };
	const enum st_kind kinds[2] = { ST_MAIL, ST_RCPT };

	if (st_session(tr, ehlo, lines, kinds, 2, t) == -1)
		return 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].kind == ST_RCPT)
			return t->v[i].code == 0 ? 0 :
			    t->v[i].code < 400 ? 2 : t->v[i].code / 100;
	return 0;
}

/* reply_note - "RCPT got: <reply>" for a check that failed */
static void
reply_note(struct st_check *c, const char *what)
{
	for (size_t i = 0; i < c->t.n; i++)
		if (c->t.v[i].kind == ST_RCPT)
			snprintf(c->note, sizeof(c->note), "%s: %s", what,
			    c->t.v[i].reply ? c->t.v[i].reply :
			    c->t.v[i].error ? c->t.v[i].error : "no reply");
}

/* check_domains - the MX takes mail for its own and its relay domains
 * from anyone: postmaster@ each of them, from the untrusted client */
static void
check_domains(struct selftest *st, const struct st_transport *tr)
{
	const struct config *cfg = st->cfg;
	const struct strlist *lists[2] = { &cfg->local_domains,
	    &cfg->relay_domains };
	char name[ST_NOTE_MAX], rcpt[ST_LINE_MAX];
	struct st_check *c;

	if (st->listener->role != ROLE_MX) {
		if ((c = st_add_check(st, "mail for our domains is accepted "
		    "from anyone")) != NULL)
			snprintf(c->note, sizeof(c->note), "not applicable: "
			    "no mx listener");
		return;
	}
	for (size_t k = 0; k < 2; k++)
		for (size_t i = 0; i < lists[k]->n; i++) {
			const char *d = lists[k]->v[i];

			snprintf(name, sizeof(name), "mail for %s domain %s is "
			    "accepted from %s", k ? "relay" : "local", d,
			    st->client);
			if ((c = st_add_check(st, name)) == NULL)
				return;
			snprintf(rcpt, sizeof(rcpt), "RCPT TO:<postmaster@%s>",
			    d);
			c->verdict = one_rcpt(tr, st->p.ehlo, "MAIL FROM:<>",
			    rcpt, &c->t) == 2 ? ST_PASS : ST_FAIL;
			if (c->verdict == ST_FAIL)
				reply_note(c, "refused");
		}
	if (lists[0]->n + lists[1]->n == 0 && (c = st_add_check(st,
	    "mail for our domains is accepted from anyone")) != NULL) {
		c->verdict = ST_FAIL;
		snprintf(c->note, sizeof(c->note), "local_domains and "
		    "relay_domains are empty: the mx listener refuses every "
		    "message from outside mynetworks");
	}
}

/* relay_attempt - MAIL FROM:<> (past every sender check), RCPT TO:
 * EXTERNAL_RCPT, from the client ss; the RCPT's reply class */
static int
relay_attempt(struct selftest *st, struct st_local *l,
    const struct st_transport *tr, const struct sockaddr_storage *ss,
    const char *text, struct st_check *c)
{
	char rcpt[ST_LINE_MAX];

	st_engine_from(l, ss, text);
	snprintf(rcpt, sizeof(rcpt), "RCPT TO:<%s@%s>", st->p.external_local,
	    st->p.external_domain);
	return one_rcpt(tr, st->p.ehlo, "MAIL FROM:<>", rcpt, &c->t);
}

/* routed_here - where a recipient the engine accepted goes: 1 when it
 * is delivered here (a local domain, by a mailbox or the catch-all:
 * local delivery acts on no %, ! or @ in a local part), 2 when it is
 * handed to qmail-queue with a routing local part (qmail-send acts on a
 * %-hack when control/percenthack lists the domain), 0 otherwise. */
static int
routed_here(const struct config *cfg, const char *sent)
{
	static const char rcpt[] = "RCPT TO:";
	struct address a;
	const char *err;

	if (strncasecmp(sent, rcpt, sizeof(rcpt) - 1) != 0 ||
	    address_parse(sent + sizeof(rcpt) - 1, strlen(sent) -
	    (sizeof(rcpt) - 1), &a, &err) == -1 || a.domain[0] == '\0' ||
	    !policy_local_rcpt(cfg, a.local, a.domain))
		return 0;
	if (config_qmail_queue(cfg))
		return (a.flags & (ADDR_F_ROUTING | ADDR_F_ROUTE)) ? 2 : 0;
	return 1;
}

/* judge_kept_here - a relay probe "relayed" by a 250 for a local part
 * with %, ! or @ at one of our local domains (allow_untrusted_routing):
 * delivered here, it went nowhere else, so the probe passes, saying so;
 * handed to qmail-queue it may be a real relay, so it fails, saying
 * when. Anything else that got 250 stays a failure. */
static void
judge_kept_here(const struct config *cfg, struct st_row *rows)
{
	for (size_t i = 0; i < ST_NPROBES; i++) {
		struct st_row *r = &rows[i];
		bool here = false, other = false, qmail = false;

		if (r->probe == NULL || r->verdict != ST_FAIL)
			continue;
		for (size_t j = 0; j < r->t.n; j++) {
			const struct st_exchange *x = &r->t.v[j];
			int where;

			if (x->kind != ST_RCPT || x->code < 200 ||
			    x->code >= 300 || x->sent == NULL)
				continue;
			where = routed_here(cfg, x->sent);
			here |= where == 1;
			qmail |= where == 2;
			other |= where != 1;
		}
		if (here && !other) {
			r->verdict = ST_PASS;
			snprintf(r->note, sizeof(r->note), "accepted for a "
			    "local domain and delivered here (a mailbox or "
			    "the catch-all): local delivery acts on no %%, ! "
			    "or @ in a local part, so nothing is relayed");
		} else if (qmail) {
			size_t n = strlen(r->note);

			snprintf(r->note + n, sizeof(r->note) - n, "%shanded "
			    "to qmail-queue: qmail relays it when its "
			    "control/percenthack lists the domain after the "
			    "%% (then an open relay; set "
			    "allow_untrusted_routing = no)", n ? "; " : "");
		}
	}
}

/* view_from - the viewpoints' client, listener role and TLS */
static void
view_from(void *ctx, const struct sockaddr_storage *ss, const char *text,
    enum listen_role role, bool tls)
{
	struct st_local *l = ctx;

	st_engine_from(l, ss, text);
	l->role = role;
	l->tls = tls;
}

static void
view_judge(void *ctx, struct st_row *rows)
{
	struct st_local *l = ctx;

	judge_kept_here(l->cfg, rows);
}

/* check_null_sender - bounces come in on the MX; a submission listener
 * takes no MAIL at all without AUTH */
static void
check_null_sender(struct selftest *st)
{
	struct st_check *c;

	if (st->listener->role == ROLE_MX) {
		st_check_null_sender(st);
		return;
	}
	if ((c = st_add_check(st, "bounces (MAIL FROM:<>) are accepted "
	    "(probe 5)")) != NULL)
		snprintf(c->note, sizeof(c->note), "not applicable: no mx "
		    "listener");
}

static void
check_trusted_relay(struct selftest *st, struct st_local *l,
    const struct st_transport *tr)
{
	struct sockaddr_storage ss;
	char text[NETADDR_STRLEN], name[ST_NOTE_MAX];
	struct st_check *c;

	if (!st_trusted_client(st->cfg, &ss, text, sizeof(text))) {
		if ((c = st_add_check(st, "a client in mynetworks can relay"))
		    != NULL)
			snprintf(c->note, sizeof(c->note), "mynetworks is "
			    "empty: nobody relays without AUTH");
		return;
	}
	if (st->listener->role != ROLE_MX) {
		if ((c = st_add_check(st, "a client in mynetworks can relay"))
		    != NULL)
			snprintf(c->note, sizeof(c->note), "not applicable: "
			    "no mx listener, and on the submission listeners "
			    "every client logs in");
		return;
	}
	snprintf(name, sizeof(name), "client %s in mynetworks can relay to "
	    "an outside domain", text);
	if ((c = st_add_check(st, name)) == NULL)
		return;
	c->verdict = relay_attempt(st, l, tr, &ss, text, c) == 2 ? ST_PASS :
	    ST_FAIL;
	if (c->verdict == ST_FAIL)
		reply_note(c, "refused");
}

/* check_ipv6 - the probes come from IPv4; mynetworks could still trust
 * every IPv6 client (a stray ::/0), so try to relay from IPv6 too */
static void
check_ipv6(struct selftest *st, struct st_local *l,
    const struct st_transport *tr)
{
	struct sockaddr_storage ss;
	char text[NETADDR_STRLEN], name[ST_NOTE_MAX];
	struct st_check *c;
	bool untrusted, via_proxy;
	int a;

	untrusted = st_pick_client(st->cfg, AF_INET6, &ss, text, sizeof(text),
	    &via_proxy);
	snprintf(name, sizeof(name), "IPv6 client %s outside mynetworks "
	    "cannot relay", text);
	if ((c = st_add_check(st, name)) == NULL)
		return;
	a = relay_attempt(st, l, tr, &ss, text, c);
	c->verdict = a == 2 ? ST_FAIL : ST_PASS;
	if (a == 2)
		reply_note(c, untrusted ? "relayed" : via_proxy ? "every "
		    "IPv6 documentation address is in proxy_trusted, so its "
		    "PROXY header may name a client of mynetworks; relayed" :
		    "every IPv6 documentation address is in mynetworks; "
		    "relayed");
	else if (a == 4)
		reply_note(c, "refused only temporarily");
}

/* sender_ok - may user send as addr under cfg (anyone may, without
 * sender_login_check and a map)? */
static bool
sender_ok(const struct config *cfg, const char *user, const char *addr)
{
	struct address a;
	const char *err;

	if (address_parse(addr, strlen(addr), &a, &err) == -1)
		return false;
	return (!cfg->sender_login_check && cfg->sender_map == NULL) ||
	    policy_sender_login(cfg, user, &a);
}

/* owned_sender - a sender the login owns under cfg: the login when it
 * is an address, else LOGIN@ the first local domain that it owns; ""
 * (the null sender, anyone's) when there is none */
static void
owned_sender(const struct config *cfg, const char *user, char *out,
    size_t outlen)
{
	if (user[0] != '\0' && strchr(user, '@') != NULL) {
		snprintf(out, outlen, "%s", user);
		if (sender_ok(cfg, user, out))
			return;
	} else if (user[0] != '\0') {
		for (size_t i = 0; i < cfg->local_domains.n; i++) {
			snprintf(out, outlen, "%s@%s", user,
			    cfg->local_domains.v[i]);
			if (sender_ok(cfg, user, out))
				return;
		}
	}
	out[0] = '\0';
}

/* foreign_sender - an address of the login's domain (or the first
 * local domain) that is not the login's */
static void
foreign_sender(const struct config *cfg, const char *user,
    const struct st_places *p, char *out, size_t outlen)
{
	const char *at = strchr(user, '@');
	const char *domain = at ? at + 1 : cfg->local_domains.n ?
	    cfg->local_domains.v[0] : p->server_host;
	size_t n = at ? (size_t)(at - user) : strlen(user);
	bool ksch = n == 4 && strncasecmp(user, "ksch", 4) == 0;

	snprintf(out, outlen, "%s@%s", ksch ? "ksch-other" : "ksch", domain);
}

/* check_submission - each submission listener, as the untrusted client
 * sees it, then as the authenticated user: sessions as a client of the
 * listener (inside TLS from the first byte on submissions, after a
 * STARTTLS answered as if on submission) */
static void
check_submission(struct selftest *st, struct st_local *l,
    const struct st_transport *tr, const struct sockaddr_storage *client)
{
	const struct config *cfg = st->cfg;
	const char *user = l->o->creds ? l->o->creds->user : "";
	char where[NETADDR_STRLEN + 16], name[ST_NOTE_MAX];
	struct st_view v;
	struct st_check *c;
	size_t n = 0;

	st_engine_from(l, client, st->client);
	for (size_t i = 0; i < cfg->nlisten; i++) {
		const struct listen_spec *ls = &cfg->listen[i];

		if (ls->role != ROLE_SUBMISSION && ls->role != ROLE_SUBMISSIONS)
			continue;
		n++;
		st_listener_text(where, sizeof(where), ls);
		st_listener_name(name, sizeof(name), ls);
		memset(&v, 0, sizeof(v));
		v.where = where;
		v.listener = name;
		v.role = ls->role;
		v.sasl_asked = &l->sasl_asked;
		v.login_check = cfg->sender_login_check ||
		    cfg->sender_map != NULL;
		owned_sender(cfg, user, v.own, sizeof(v.own));
		foreign_sender(cfg, user, &st->p, v.foreign,
		    sizeof(v.foreign));
		snprintf(l->local_end, sizeof(l->local_end), "%s;%s",
		    st->p.server_ip, ls->port);
		l->role = ls->role;
		l->tls = ls->role == ROLE_SUBMISSIONS;
		st_check_submission(st, tr, &v);
		l->real_sasl = l->o->sasl != NULL;
		st_check_auth(st, tr, l->o->creds, &v);
		l->real_sasl = false;
		l->tls = false;
	}
	if (n == 0 && l->o->creds && (c = st_add_check(st, "user relays "
	    "after AUTH on the submission listeners")) != NULL)
		snprintf(c->note, sizeof(c->note), "not applicable: no "
		    "submission or submissions listener, so --auth-user has "
		    "nothing to test");
	l->role = st->listener->role;
	l->tls = l->role == ROLE_SUBMISSIONS;
}


int
selftest_local(const struct config *cfg, const struct st_local_opts *o,
    struct selftest *st, char *err, size_t errlen)
{
	static const struct st_local_opts none;
	struct st_local l;
	struct st_transport tr;
	struct sockaddr_storage client;
	struct timespec t0, t1;
	bool via_proxy;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(st, 0, sizeof(*st));
	if (o == NULL)
		o = &none;
	st->cfg = cfg;
	if (st_places_from_config(cfg, o->server_name, o->tester_domain,
	    &st->p, &st->listener, err, errlen) == -1)
		return -1;
	if (st_pick_client(cfg, AF_INET, &client, st->client,
	    sizeof(st->client), &via_proxy))
		snprintf(st->client_note, sizeof(st->client_note),
		    "RFC 5737 documentation address, not in mynetworks");
	else if (via_proxy)
		snprintf(st->client_note, sizeof(st->client_note),
		    "in mynetworks, as named by the PROXY header of a "
		    "stranger: every RFC 5737 documentation address is in "
		    "proxy_trusted, and a proxy listener believes it");
	else
		snprintf(st->client_note, sizeof(st->client_note),
		    "RFC 5737 documentation address; every one of them is "
		    "in mynetworks, so this client is trusted");
	snprintf(st->p.tester_ip, sizeof(st->p.tester_ip), "%s", st->client);
	if ((st->policy = st_policy_text(st)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}

	st_engine_init(&l, cfg, &st->p, o, st->listener->role, &tr);
	st_engine_from(&l, &client, st->client);
	/* The engine's reject lines are the table's replies here: the
	 * log stays quiet from now on (the self-test is a command of its
	 * own; nothing else runs in this process). */
	log_set_quiet(1);
	st_listener_name(st->where, sizeof(st->where), st->listener);
	rc = st_run_probes(st, &tr);
	if (rc == 0) {
		struct st_viewer view = { &tr, view_from, view_judge, &l };

		judge_kept_here(cfg, st->rows);
		check_domains(st, &tr);
		check_null_sender(st);
		check_trusted_relay(st, &l, &tr);
		check_ipv6(st, &l, &tr);
		check_submission(st, &l, &tr, &client);
		if (st_views_local(st, &view) == -1)
			rc = -1;
		view_from(&l, &client, st->client, st->listener->role,
		    st->listener->role == ROLE_SUBMISSIONS);
		if (rc == 0 && st_features_local(st, &view, o) == -1)
			rc = -1;
		view_from(&l, &client, st->client, st->listener->role,
		    st->listener->role == ROLE_SUBMISSIONS);
	}
	st_engine_free(&l);
	if (rc == -1) {
		snprintf(err, errlen, "the engine could not run a session");
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	st->elapsed = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return 0;
}
