/*
 * selftest_report - the self-test's result for a person: the policy in
 * words, a table of the probes, the checks, one summary line.
 *
 * Replies come from the server, perhaps a hostile one: every byte
 * outside printable ASCII is shown as \xNN (a backslash as \\).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "selftest/selftest.h"

#define POLICY_MAX	(64 * 1024)
#define WRAP		76	/* paragraph width */
#define IDEA_W		28	/* idea column */

/* --- text helpers ------------------------------------------------------ */

/* esc - printable text of network bytes: \xNN outside ASCII 0x20-0x7e */
static const char *
esc(char *out, size_t outlen, const char *in)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; in && *in && o + 5 < outlen; in++) {
		unsigned char c = (unsigned char)*in;

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			out[o++] = (char)c;
		} else if (c == '\\') {
			out[o++] = '\\';
			out[o++] = '\\';
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

/* list - "a, b and c" of a string list, or `none` */
static void
list(struct buf *b, char *const *v, size_t n, const char *none)
{
	char e[ST_NAME_MAX * 4 + 8];

	if (n == 0)
		buf_printf(b, "%s", none);
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "%s%s", i == 0 ? "" : i + 1 == n ? " and " : ", ",
		    esc(e, sizeof(e), v[i]));
}

void
st_listener_text(char *out, size_t outlen, const struct listen_spec *l)
{
	bool v6 = l->host && strchr(l->host, ':');

	snprintf(out, outlen, "%s%s%s:%s", v6 ? "[" : "",
	    l->host ? l->host : "*", v6 ? "]" : "", l->port);
}

void
st_listener_name(char *out, size_t outlen, const struct listen_spec *l)
{
	size_t n;

	st_listener_text(out, outlen, l);
	n = strlen(out);
	snprintf(out + n, outlen - n, " %s%s", config_role_name(l->role),
	    l->proxy ? " proxy" : "");
}

/* --- the policy in words ----------------------------------------------- */

static void
policy_local(const struct selftest *st, struct buf *b)
{
	const struct config *cfg = st->cfg;
	char net[CIDR_STRLEN], l[NETADDR_STRLEN + 16];
	size_t nsub = 0;

	buf_printf(b, "Policy of %s: ", cfg->path ? cfg->path : "(config)");
	if (cfg->nmynetworks == 0)
		buf_printf(b, "no network may relay (mynetworks is empty); ");
	else {
		buf_printf(b, "clients in ");
		for (size_t i = 0; i < cfg->nmynetworks; i++) {
			cidr_format(&cfg->mynetworks[i], net, sizeof(net));
			buf_printf(b, "%s%s", i == 0 ? "" :
			    i + 1 == cfg->nmynetworks ? " and " : ", ", net);
		}
		buf_printf(b, " may relay to any domain; ");
	}
	buf_printf(b, "any other client may send only to the local domains ");
	list(b, cfg->local_domains.v, cfg->local_domains.n, "(none)");
	buf_printf(b, " (kept here) and to ");
	if (cfg->relay_domains.n == 0)
		buf_printf(b, "no relay domains");
	else {
		buf_printf(b, "the relay domains ");
		list(b, cfg->relay_domains.v, cfg->relay_domains.n, "");
		buf_printf(b, " (passed on)");
	}
	if (cfg->allow_untrusted_routing)
		buf_printf(b, ", and may route through them with %%, ! or @ "
		    "in the local part or a source route "
		    "(allow_untrusted_routing). ");
	else
		buf_printf(b, ", never through %%, ! or @ in the local part "
		    "or a source route. ");
	if (!cfg->reject_unqualified_sender && !cfg->reject_non_fqdn_sender &&
	    !cfg->reject_unknown_sender_domain)
		buf_printf(b, "Senders are not checked. ");
	else {
		bool any = false;

		buf_printf(b, "Senders are refused when they have ");
		if (cfg->reject_unqualified_sender) {
			buf_printf(b, "no domain");
			any = true;
		}
		if (cfg->reject_non_fqdn_sender) {
			buf_printf(b, "%sa domain without a dot (localhost)",
			    any ? ", " : "");
			any = true;
		}
		if (cfg->reject_unknown_sender_domain) {
			buf_printf(b, "%sa domain that does not exist in DNS "
			    "(asked of ", any ? " or " : "");
			if (cfg->dns_servers.n == 0)
				buf_printf(b, "the servers in /etc/resolv.conf");
			else
				list(b, cfg->dns_servers.v, cfg->dns_servers.n,
				    "");
			buf_printf(b, ")");
		}
		buf_printf(b, ". ");
	}
	/* The metrics listener takes no mail: not among them. */
	buf_printf(b, "Listeners: ");
	for (size_t i = 0, n = 0; i < cfg->nlisten; i++) {
		if (cfg->listen[i].role == ROLE_METRICS)
			continue;
		st_listener_text(l, sizeof(l), &cfg->listen[i]);
		buf_printf(b, "%s%s %s%s", n++ ? ", " : "", l,
		    config_role_name(cfg->listen[i].role), cfg->listen[i].proxy ?
		    " (its clients named by PROXY headers from proxy_trusted)" :
		    "");
		nsub += cfg->listen[i].role != ROLE_MX;
	}
	if (cfg->tls_cert == NULL) {
		buf_printf(b, ". There is no certificate (tls_cert), so no "
		    "listener offers STARTTLS or AUTH, and a client outside "
		    "mynetworks is treated the same on every listener.");
		return;
	}
	buf_printf(b, ". AUTH is offered only inside TLS, never in clear: ");
	for (size_t i = 0, n = 0; i < cfg->nlisten; i++) {
		if (cfg->listen[i].role == ROLE_METRICS)
			continue;
		st_listener_text(l, sizeof(l), &cfg->listen[i]);
		buf_printf(b, "%s%s (%s) %s", n++ ? "; " : "", l,
		    config_role_name(cfg->listen[i].role),
		    st_listener_auth(cfg, &cfg->listen[i]));
	}
	buf_printf(b, ". A client that has logged in may relay to any "
	    "domain%s%s.", cfg->sender_map != NULL ? ", from the addresses "
	    "sender_login_map gives its login only" : cfg->sender_login_check ?
	    ", from its own addresses only (sender_login_check)" : "",
	    nsub ? "; on the "
	    "submission listeners nobody sends without logging in" : "");
}

const char *
st_listener_auth(const struct config *cfg, const struct listen_spec *ls)
{
	if (cfg->tls_cert == NULL)
		return "never (no tls_cert: neither STARTTLS nor AUTH)";
	switch (ls->role) {
	case ROLE_SUBMISSIONS:
		return "from the first byte (implicit TLS), and MAIL "
		    "requires it";
	case ROLE_SUBMISSION:
		return "after STARTTLS, and MAIL requires it";
	default:
		return "after STARTTLS, to clients that choose to log in";
	}
}

/* first_line - the first line of a reply, escaped */
static const char *
first_line(char *out, size_t outlen, const char *reply)
{
	char line[1024];
	size_t n = reply ? strcspn(reply, "\n") : 0;

	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, reply ? reply : "", n);
	line[n] = '\0';
	return esc(out, outlen, line);
}

static void
policy_remote(const struct selftest *st, struct buf *b)
{
	char t[1024], g[4200], a[4200];
	const struct st_exchange *greet = st->intro.n ? &st->intro.v[0] : NULL;
	const char *ehlo = NULL, *auth;
	bool tls = false;

	for (size_t i = 0; i < st->intro.n; i++)
		if (st->intro.v[i].kind == ST_EHLO &&
		    st->intro.v[i].code == 250) {
			ehlo = st->intro.v[i].reply;
			tls = st->intro.v[i].tls;
		}
	buf_printf(b, "Remote audit of %s (%s), which greets with \"%s\". Its "
	    "configuration is not known here: the probes show how it treats "
	    "this machine, %s, as a client. ", esc(t, sizeof(t), st->target),
	    st->p.server_ip, greet && greet->reply ? first_line(g, sizeof(g),
	    greet->reply) : greet && greet->error ? greet->error : "",
	    st->client);
	if (ehlo == NULL) {
		buf_printf(b, "It did not accept EHLO, so it offers neither "
		    "STARTTLS nor AUTH.");
		return;
	}
	auth = st_ehlo_has(ehlo, "AUTH");
	if (tls)
		buf_printf(b, "It speaks TLS from the first byte (implicit "
		    "TLS); inside it, its EHLO reply offers %s.", auth ?
		    first_line(a, sizeof(a), auth) : "no AUTH");
	else if (auth)
		buf_printf(b, "Its EHLO reply offers %s%s before TLS: passwords "
		    "could cross the wire in clear.", st_ehlo_has(ehlo, "STARTTLS") ?
		    "STARTTLS, but also " : "", first_line(a, sizeof(a), auth));
	else if (st_ehlo_has(ehlo, "STARTTLS"))
		buf_printf(b, "Its EHLO reply offers STARTTLS and no AUTH "
		    "before TLS.");
	else
		buf_printf(b, "Its EHLO reply offers neither STARTTLS nor "
		    "AUTH.");
}

char *
st_policy_text(const struct selftest *st)
{
	struct buf b;
	char *s;

	buf_init(&b, POLICY_MAX);
	if (st->remote)
		policy_remote(st, &b);
	else
		policy_local(st, &b);
	if (buf_append(&b, "", 1) == -1) {
		buf_free(&b);
		return NULL;
	}
	s = b.data;		/* the buffer's bytes become the caller's */
	return s;
}

/* wrap - print text in lines of at most `width`, each after `indent` */
static void
wrap(FILE *fp, const char *text, size_t width, const char *indent)
{
	while (*text) {
		size_t n = strlen(text), cut = n;

		if (n > width) {
			cut = width;
			while (cut > 0 && text[cut] != ' ')
				cut--;
			if (cut == 0)
				cut = strcspn(text, " ");
		}
		fprintf(fp, "%s%.*s\n", indent, (int)cut, text);
		text += cut;
		while (*text == ' ')
			text++;
	}
}

/* --- the table ----------------------------------------------------------- */

/* shown - exchanges that belong in the table: MAIL and RCPT, and the
 * greeting or EHLO when they refused */
static bool
shown(const struct st_exchange *x)
{
	if (x->kind == ST_MAIL || x->kind == ST_RCPT || x->kind == ST_AUTH ||
	    x->kind == ST_STARTTLS || x->kind == ST_DATA || x->kind == ST_BODY)
		return true;
	if (x->kind == ST_RSET || x->kind == ST_QUIT)
		return false;
	return x->code == 0 || x->code >= 400;
}

/* reply_line - line `i` of x's reply (escaped), or its error; NULL past
 * the last */
static const char *
reply_line(const struct st_exchange *x, size_t i, char *out, size_t outlen)
{
	char line[1024];
	const char *p = x->reply;
	size_t n;

	if (p == NULL) {
		if (i > 0)
			return NULL;
		snprintf(out, outlen, "(%s)", x->error ? x->error : "no reply");
		return out;
	}
	while (i-- > 0) {
		if ((p = strchr(p, '\n')) == NULL)
			return NULL;
		p++;
	}
	n = strcspn(p, "\n");
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, p, n);
	line[n] = '\0';
	return esc(out, outlen, line);
}

struct widths {
	int	sent, reply, listener;
};

static void
measure(const struct st_transcript *t, struct widths *w)
{
	char out[4200];
	const char *r;

	for (size_t i = 0; i < t->n; i++) {
		const struct st_exchange *x = &t->v[i];

		if (!shown(x))
			continue;
		if (x->sent && (int)strlen(esc(out, sizeof(out), x->sent)) >
		    w->sent)
			w->sent = (int)strlen(out);
		for (size_t k = 0; (r = reply_line(x, k, out, sizeof(out)));
		    k++)
			if ((int)strlen(r) > w->reply)
				w->reply = (int)strlen(r);
	}
}

/* idea_line - line `i` of the idea wrapped to IDEA_W, or "" */
static const char *
idea_line(const char *idea, size_t i, char *out, size_t outlen)
{
	size_t n;

	out[0] = '\0';
	while (*idea) {
		n = strlen(idea);
		if (n > IDEA_W) {
			n = IDEA_W;
			while (n > 0 && idea[n] != ' ')
				n--;
			if (n == 0)
				n = IDEA_W;
		}
		if (i-- == 0) {
			snprintf(out, outlen, "%.*s", (int)n, idea);
			return out;
		}
		idea += n;
		while (*idea == ' ')
			idea++;
	}
	return out;
}

static void
print_row(FILE *fp, const struct st_row *row, const struct widths *w)
{
	char sent[4200], reply[4200], idea[IDEA_W + 1], num[8];
	char where[ST_NOTE_MAX * 4];
	const struct st_transcript *t = &row->t;
	size_t line = 0;
	const char *r;

	snprintf(num, sizeof(num), "%d", row->probe->number);
	esc(where, sizeof(where), row->listener);
	for (size_t i = 0; i < t->n; i++) {
		const struct st_exchange *x = &t->v[i];

		if (!shown(x))
			continue;
		esc(sent, sizeof(sent), x->sent ? x->sent : "(connect)");
		for (size_t k = 0; (r = reply_line(x, k, reply, sizeof(reply)));
		    k++, line++) {
			fprintf(fp, "%3s  %-*s  %-*s  %-*s  ", line == 0 ? num :
			    "", w->listener, line == 0 ? where : "",
			    IDEA_W, idea_line(row->probe->idea, line, idea,
			    sizeof(idea)), w->sent, k == 0 ? sent : "");
			if (line == 0)
				fprintf(fp, "%-*s  %s\n", w->reply, r,
				    st_verdict_name(row->verdict));
			else
				fprintf(fp, "%s\n", r);
		}
	}
	for (; *idea_line(row->probe->idea, line, idea, sizeof(idea)); line++)
		fprintf(fp, "%3s  %-*s  %s\n", "", w->listener, "", idea);
	if (row->note[0])
		fprintf(fp, "%3s  note: %s\n", "", esc(reply, sizeof(reply),
		    row->note));
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].dns)
			fprintf(fp, "%3s  dns: %s\n", "", esc(reply,
			    sizeof(reply), t->v[i].dns));
}

void
st_summary(const struct selftest *st, struct buf *b)
{
	struct st_counts c;
	const char *sep = "";
	/* A name holds what was typed (--auth-user, a target): escaped. */
	char name[ST_NOTE_MAX * 4 + 1];

	st_count(st, &c);
	buf_printf(b, "baseline and 19 probes: %u PASS, %u WEAK, %u FAIL",
	    c.pass, c.weak, c.fail);
	if (c.error)
		buf_printf(b, ", %u ERROR", c.error);
	buf_printf(b, "; checks: %u PASS, %u FAIL, %u N/A", c.cpass, c.cfail,
	    c.cna);
	if (c.cweak)
		buf_printf(b, ", %u WEAK", c.cweak);
	if (c.cerror)
		buf_printf(b, ", %u ERROR", c.cerror);
	buf_printf(b, ": ");
	if (c.fail) {
		buf_printf(b, "OPEN RELAY: probe%s ", c.fail > 1 ? "s" : "");
		for (size_t i = 0; i < ST_NPROBES; i++)
			if (st->rows[i].verdict == ST_FAIL) {
				buf_printf(b, "%s%d", sep,
				    st->rows[i].probe->number);
				sep = ", ";
			}
		buf_printf(b, " would relay");
		if (c.cfail)
			buf_printf(b, ", and %u check%s failed", c.cfail,
			    c.cfail > 1 ? "s" : "");
	} else if (c.cfail) {
		buf_printf(b, "not an open relay, but %u check%s failed: ",
		    c.cfail, c.cfail > 1 ? "s" : "");
		for (size_t i = 0; i < st->nchecks; i++)
			if (st->checks[i].verdict == ST_FAIL) {
				buf_printf(b, "%s%s", sep, esc(name,
				    sizeof(name), st->checks[i].name));
				sep = "; ";
			}
	} else if (c.error) {
		buf_printf(b, "incomplete: %u probe%s could not run", c.error,
		    c.error > 1 ? "s" : "");
	} else if (c.cerror) {
		buf_printf(b, "not an open relay, but incomplete: ");
		for (size_t i = 0; i < st->nchecks; i++)
			if (st->checks[i].verdict == ST_ERROR) {
				buf_printf(b, "%s%s", sep, esc(name,
				    sizeof(name), st->checks[i].name));
				sep = "; ";
			}
		buf_printf(b, " could not be checked");
	} else {
		buf_printf(b, "not an open relay");
	}
	if (c.unreached && !c.fail)
		buf_printf(b, " (%u probe%s stopped at MAIL, before the relay "
		    "test)", c.unreached, c.unreached > 1 ? "s" : "");
}

static void
print_places(FILE *fp, const struct selftest *st)
{
	const struct st_places *p = &st->p;
	char h[1100], l[NETADDR_STRLEN + 16];
	struct buf b;

	buf_init(&b, POLICY_MAX);
	if (st->remote)
		buf_printf(&b, "Probes from %s (%s) to %s.", st->client,
		    st->client_note, esc(h, sizeof(h), st->target));
	else {
		st_listener_text(l, sizeof(l), st->listener);
		buf_printf(&b, "Probes in process as untrusted client %s (%s) "
		    "on the %s listener %s.", st->client, st->client_note,
		    config_role_name(st->listener->role), l);
	}
	buf_printf(&b, " SERVER_HOST=%s (%s), SERVER_IP=%s (%s), OTHER_IP=%s, "
	    "TESTER_DOMAIN=%s (%s), TESTER_IP=%s, EXTERNAL_RCPT=%s@%s, "
	    "BAD_DOMAIN=%s. Each probe is one session: EHLO %s, the lines "
	    "below, RSET, QUIT; no DATA, nothing queued.",
	    esc(h, sizeof(h), p->server_host), p->server_host_note,
	    p->server_ip, p->server_ip_note, p->other_ip, p->tester_domain,
	    p->tester_domain_note, p->tester_ip, p->external_local,
	    p->external_domain, p->bad_domain, p->ehlo);
	if (buf_append(&b, "", 1) == 0)
		wrap(fp, b.data, WRAP, "");
	buf_free(&b);
}

/* print_table - the rows of one run, each naming its listener */
static void
print_table(FILE *fp, const struct st_row *rows)
{
	struct widths w = { (int)strlen("sent"), (int)strlen("reply"),
	    (int)strlen("listener") };
	char where[ST_NOTE_MAX * 4];

	for (size_t i = 0; i < ST_NPROBES; i++) {
		measure(&rows[i].t, &w);
		if ((int)strlen(esc(where, sizeof(where), rows[i].listener)) >
		    w.listener)
			w.listener = (int)strlen(where);
	}
	fprintf(fp, "%3s  %-*s  %-*s  %-*s  %-*s  %s\n", "#", w.listener,
	    "listener", IDEA_W, "idea", w.sent, "sent", w.reply, "reply",
	    "verdict");
	for (size_t i = 0; i < ST_NPROBES; i++)
		if (rows[i].probe)
			print_row(fp, &rows[i], &w);
}

void
selftest_print_text(const struct selftest *st, FILE *fp)
{
	char out[4200], reply[4200];
	struct buf b;
	const char *r;

	wrap(fp, st->policy ? st->policy : "", WRAP, "");
	fputc('\n', fp);
	print_places(fp, st);
	fputc('\n', fp);
	print_table(fp, st->rows);
	for (size_t k = 0; k < st->nruns; k++) {
		const struct st_run *run = &st->runs[k];

		fputc('\n', fp);
		snprintf(out, sizeof(out), "%s.%s%s", run->title,
		    run->via[0] ? " Header " : "", run->via);
		wrap(fp, esc(reply, sizeof(reply), out), WRAP, "");
		fputc('\n', fp);
		print_table(fp, run->rows);
	}
	fprintf(fp, "\nChecks:\n");
	for (size_t i = 0; i < st->nchecks; i++) {
		const struct st_check *c = &st->checks[i];

		fprintf(fp, "  %-5s %s\n", st_verdict_name(c->verdict),
		    esc(out, sizeof(out), c->name));
		for (size_t k = 0; k < c->t.n; k++) {
			const struct st_exchange *x = &c->t.v[k];

			if (!shown(x))
				continue;
			fprintf(fp, "        %s%s -> %s\n", x->tls ?
			    "(in TLS) " : "", esc(out, sizeof(out),
			    x->sent ? x->sent : "(connect)"),
			    (r = reply_line(x, 0, reply, sizeof(reply))) ? r : "");
		}
		if (c->note[0])
			fprintf(fp, "        note: %s\n", esc(out, sizeof(out),
			    c->note));
	}
	buf_init(&b, POLICY_MAX);
	st_summary(st, &b);
	fprintf(fp, "\n%.*s; run took %.1f ms\n", (int)b.len,
	    b.data ? b.data : "", st->elapsed * 1000);
	buf_free(&b);
}
