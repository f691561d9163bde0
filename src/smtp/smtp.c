/*
 * smtp - SMTP server engine: the session and its input.
 *
 * The session reads command lines into a bounded buffer and dispatches
 * them through one table, whose handlers are smtp_cmd.c's and
 * smtp_auth.c's; in DATA it hands bytes to the smtp_data state machine
 * and streams the result to the spool; at the end, the checks, the
 * signature and the filters have their say before the commit. Every reply goes out through
 * smtp_reply() (smtp_session.c), which also counts errors. Nothing here
 * touches a socket or a file: see struct smtp_io.
 */
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "smtp/policy.h"
#include "smtp/smtp.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_filter.h"
#include "smtp/smtp_reply.h"
#include "smtp/smtp_session.h"

enum {
	CMD_NEEDS_HELO	= 1 << 0,	/* 503 before HELO/EHLO */
	CMD_NO_ARGS	= 1 << 1,	/* 501 when given arguments */
};

struct smtp_cmd {
	const char	*name;
	void		(*fn)(struct smtp_session *, const char *arg, size_t len);
	unsigned	 flags;
};

/* The whole dispatch. The sentinel row handles unknown commands. */
static const struct smtp_cmd smtp_cmds[] = {
	{ "EHLO",	smtp_cmd_ehlo,		0 },
	{ "HELO",	smtp_cmd_helo,		0 },
	{ "MAIL",	smtp_cmd_mail,		CMD_NEEDS_HELO },
	{ "RCPT",	smtp_cmd_rcpt,		CMD_NEEDS_HELO },
	{ "DATA",	smtp_cmd_data,		CMD_NEEDS_HELO | CMD_NO_ARGS },
	{ "RSET",	smtp_cmd_rset,		CMD_NO_ARGS },
	{ "NOOP",	smtp_cmd_noop,		0 },
	{ "QUIT",	smtp_cmd_quit,		CMD_NO_ARGS },
	{ "VRFY",	smtp_cmd_vrfy,		0 },
	{ "HELP",	smtp_cmd_help,		0 },
	{ "STARTTLS",	smtp_cmd_starttls,	0 },
	{ "AUTH",	smtp_cmd_auth,		CMD_NEEDS_HELO },
	/* A web client or proxy talking to the wrong port: hang up. */
	{ "GET",	smtp_cmd_http,		0 },
	{ "POST",	smtp_cmd_http,		0 },
	{ "HEAD",	smtp_cmd_http,		0 },
	{ "PUT",	smtp_cmd_http,		0 },
	{ "CONNECT",	smtp_cmd_http,		0 },
	{ NULL,		smtp_cmd_unknown,	0 },
};

/* --- session ------------------------------------------------------------ */

struct smtp_session *
smtp_new(const struct config *cfg, const struct smtp_peer *peer,
    const struct smtp_io *io, void *ctx)
{
	struct smtp_session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->cfg = cfg;
	s->io = io;
	s->ctx = ctx;
	s->sid = peer->session_id;
	if (peer->addr)
		memcpy(&s->addr, peer->addr, peer->addr->sa_family == AF_INET6 ?
		    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	snprintf(s->addr_text, sizeof(s->addr_text), "%s", peer->addr_text);
	s->client.role = peer->role;
	s->listener = peer->listener < METRICS_LISTENERS ? peer->listener :
	    METRICS_LISTENERS - 1;
	/* A local user, known by the kernel's word (SO_PEERCRED), is as
	 * trusted as mynetworks, as Postfix's sendmail is: ours to relay
	 * and to sign. No other path can claim the role. */
	s->client.trusted = peer->role == ROLE_LOCAL || (peer->addr &&
	    !peer->untrusted &&
	    policy_trusted(cfg, (const struct sockaddr *)&s->addr));
	if (peer->role == ROLE_LOCAL)
		snprintf(s->local_user, sizeof(s->local_user), "%s",
		    peer->local_user ? peer->local_user : "unknown");
	s->tls_offer = peer->tls_offer;
	if (peer->tls_version)
		smtp_set_tls(s, peer->tls_version, peer->tls_cipher, peer->tls_bits);
	s->state = S_CMD;
	/* AUTH lines pass through it: zeroed before its memory goes back. */
	buf_init_secret(&s->line, SMTP_CMD_MAX);
	if (peer->addr &&
	    policy_client_denied(cfg, (const struct sockaddr *)&s->addr)) {
		log_info("s=%lx reject: CONNECT from [%s]: %s", s->sid,
		    s->addr_text, R_ACCESS_DENIED);
		smtp_refuse(s, MR_OTHER, "%s", R_ACCESS_DENIED);
		s->state = S_CLOSED;
		return s;
	}
	s->dnsbl_wait = peer->dnsbl_pending;
	if (peer->dnsbl_reply != NULL && (s->dnsbl_reply =
	    strdup(peer->dnsbl_reply)) == NULL) {
		free(s);
		return NULL;
	}
	smtp_reply(s, "220 %s ESMTP sallyport", cfg->hostname);
	return s;
}

void
smtp_dnsbl_done(struct smtp_session *s, const char *reply)
{
	if (!s->dnsbl_wait)
		return;
	s->dnsbl_wait = s->dnsbl_held = false;
	if (reply != NULL && (s->dnsbl_reply = strdup(reply)) == NULL)
		smtp_close_with(s, R_LOCAL_ERROR);
}

void
smtp_free(struct smtp_session *s)
{
	if (s == NULL)
		return;
	smtp_tx_free(s);
	buf_free(&s->line);
	free(s->dnsbl_reply);
	free(s);
}

bool
smtp_closing(const struct smtp_session *s)
{
	return s->state == S_CLOSED;
}

bool
smtp_in_data(const struct smtp_session *s)
{
	return s->state == S_DATA;
}

bool
smtp_waiting(const struct smtp_session *s)
{
	return s->dnsbl_held ||
	    s->state == S_COMMIT || s->state == S_LOOKUP ||
	    s->state == S_SPF || s->state == S_CHECK ||
	    s->state == S_FILTER ||
	    s->state == S_TLS || s->state == S_AUTH_WAIT;
}

bool
smtp_line_pending(const struct smtp_session *s)
{
	return (s->state == S_CMD || s->state == S_AUTH_LINE) &&
	    s->line.len > 0;
}

unsigned
smtp_errors(const struct smtp_session *s)
{
	return s->errors;
}

void
smtp_timeout(struct smtp_session *s)
{
	if (s->state == S_CLOSED)
		return;
	log_info("s=%lx timeout after %s from [%s]", s->sid,
	    s->state == S_DATA ? "DATA" : "command", s->addr_text);
	smtp_tx_free(s);
	smtp_close_with(s, R_TIMEOUT);
}

void
smtp_shutdown(struct smtp_session *s)
{
	if (s->state == S_AUTH_LINE)
		s->io->auth_reset(s->ctx);
	if (s->state == S_CMD || s->state == S_AUTH_LINE) {
		smtp_tx_free(s);
		smtp_close_with(s, R_SHUTDOWN);
	} else if (s->state != S_CLOSED) {
		s->shutdown_pending = true;
	}
}

/* after_tx - a transaction ended; honour a shutdown that waited for it */
static void
after_tx(struct smtp_session *s)
{
	smtp_tx_free(s);
	s->state = S_CMD;
	if (s->shutdown_pending)
		smtp_close_with(s, R_SHUTDOWN);
}

/* error_limit - after a command's reply: too many errors end the
 * session (the host's tarpit slows the ones before) */
static void
error_limit(struct smtp_session *s)
{
	if ((s->state != S_CMD && s->state != S_AUTH_LINE) ||
	    s->errors < s->cfg->max_errors)
		return;
	if (s->state == S_AUTH_LINE)
		s->io->auth_reset(s->ctx);
	log_info("s=%lx too many errors from [%s]", s->sid, s->addr_text);
	smtp_tx_free(s);
	smtp_refuse(s, MR_LIMIT, "%s", R_TOO_MANY_ERRORS);
	s->state = S_CLOSED;
}

/* dnsbl_refuse - the connection's refusal (a DNSBL's, or a milter's at
 * connect, which may be many lines), as a whole reply like the filters'
 * later ones (smtp_filter_reply: never cut short), one log line */
static void
dnsbl_refuse(struct smtp_session *s, const char *cmd)
{
	char out[SMTP_FILTER_REPLY_MAX], esc[1024];
	int n;

	log_escape(esc, sizeof(esc), s->dnsbl_reply, strlen(s->dnsbl_reply));
	log_info("s=%lx reject: %s from [%s]: %s", s->sid,
	    cmd ? cmd : "command", s->addr_text, esc);
	if ((n = smtp_filter_reply(s->dnsbl_reply, out, sizeof(out))) < 0) {
		smtp_reply(s, "%s", R_LOCAL_ERROR);
		return;
	}
	s->errors++;		/* one reply, one error, as smtp_reply counts */
	s->io->send(s->ctx, out, (size_t)n);
	/* A 421 (a milter's) closes the session, as at the later stages. */
	if (memcmp(out, "421", 3) == 0)
		s->state = S_CLOSED;
}

/* --- input -------------------------------------------------------------- */

/* dispatch - one complete command line, CRLF already removed */
static void
dispatch(struct smtp_session *s, const char *line, size_t len)
{
	const struct smtp_cmd *c;
	size_t vlen = 0, i;

	if (memchr(line, '\0', len)) {
		smtp_reply(s, "%s", R_NUL_IN_COMMAND);
		return;
	}
	if (memchr(line, '\r', len)) {
		smtp_reply(s, "%s", R_UNKNOWN);
		return;
	}
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	for (c = smtp_cmds; c->name; c++)
		if (strlen(c->name) == vlen &&
		    strncasecmp(c->name, line, vlen) == 0)
			break;
	i = vlen;
	while (i < len && line[i] == ' ')
		i++;
	/* Listed: every command but QUIT is refused, as postscreen does
	 * (at the first command, so that the client learns why). */
	if (s->dnsbl_reply != NULL && c->fn != smtp_cmd_quit) {
		dnsbl_refuse(s, c->name);
		return;
	}
	if (c->name && (c->flags & CMD_NO_ARGS) && i < len) {
		smtp_reply(s, "%s", R_NO_ARGS);
		return;
	}
	if (c->name && (c->flags & CMD_NEEDS_HELO) && !s->greeted) {
		smtp_reply(s, "%s", R_NEED_HELO);
		return;
	}
	/* Trailing blanks are not part of the argument. */
	while (len > i && line[len - 1] == ' ')
		len--;
	c->fn(s, line + i, len - i);
}

/* auth_line_ok - a line past SMTP_CMD_MAX may be an AUTH command or
 * response (RFC 4954 4): raise the limit for it, once */
static bool
auth_line_ok(struct smtp_session *s, const char *in, size_t len)
{
	char start[5];
	size_t have = s->line.len < 5 ? s->line.len : 5;
	bool is_auth;

	/* The first five octets of the line, buffered or just arrived. */
	memcpy(start, s->line.data ? s->line.data : "", have);
	if (have < 5 && len >= 5 - have)
		memcpy(start + have, in, 5 - have);
	is_auth = s->state == S_AUTH_LINE || (have + len >= 5 &&
	    strncasecmp(start, "AUTH ", 5) == 0);

	if (!is_auth || s->line.max >= SMTP_AUTH_MAX)
		return false;
	s->line.max = SMTP_AUTH_MAX;
	return true;
}

/* cmd_input - collect one command line; returns bytes used */
static size_t
cmd_input(struct smtp_session *s, const char *in, size_t len)
{
	const char *nl = memchr(in, '\n', len);
	size_t take = nl ? (size_t)(nl - in) + 1 : len;
	size_t n;

	if (buf_append(&s->line, in, take) == -1 && (!auth_line_ok(s, in, take) ||
	    buf_append(&s->line, in, take) == -1)) {
		bool in_auth = s->line.max == SMTP_AUTH_MAX;

		log_info("s=%lx reject: line too long from [%s]", s->sid,
		    s->addr_text);
		if (s->state == S_AUTH_LINE)
			s->io->auth_reset(s->ctx);
		smtp_tx_free(s);
		smtp_close_with(s, in_auth ? R_AUTH_LINE_TOO_LONG : R_LINE_TOO_LONG);
		return len;
	}
	if (!nl)
		return take;
	n = s->line.len - 1;			/* drop LF */
	s->line_crlf = n > 0 && s->line.data[n - 1] == '\r';
	if (s->line_crlf)
		n--;				/* and CR */
	if (s->state == S_AUTH_LINE)
		smtp_auth_line(s, s->line.data, n);
	else
		dispatch(s, s->line.data, n);
	buf_reset(&s->line);
	s->line.max = SMTP_CMD_MAX;
	if (s->errors >= s->cfg->max_errors)
		error_limit(s);
	return take;
}

/* data_end - the final dot: refuse, or hand the message to the queue */
/* sign - the DKIM signatures of our own mail, in front of it in the
 * queue entry. A message that cannot be signed still goes, unsigned:
 * the log says why. */
static void
sign(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	struct buf fields;
	char what[256];
	int n;

	buf_init(&fields, QUEUE_PREPEND_MAX);
	n = smtp_sign_finish(tx->sign, s->cfg, (uint64_t)time(NULL), &fields,
	    what, sizeof(what));
	if (n > 0 && s->io->spool_prepend(s->ctx, fields.data, fields.len) ==
	    -1) {
		n = -1;
		snprintf(what, sizeof(what), "no room in the queue entry");
	}
	if (n > 0)
		log_info("s=%lx id=%s dkim: signed %s", s->sid, tx->env.id,
		    what);
	else if (n < 0)
		log_warn("s=%lx id=%s dkim: not signed: %s", s->sid,
		    tx->env.id, what);
	buf_free(&fields);
}

/* message_done - the message is good and complete in the spool, with
 * its fields: the filters' last word, then the commit */
static void
message_done(struct smtp_session *s)
{
	if (smtp_filter_ask(s, SMTP_FILTER_END, s->tx->env.id, NULL))
		return;		/* smtp_filter_done goes on */
	s->state = S_COMMIT;
	s->io->spool_commit(s->ctx);
}

static void
data_end(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	enum metrics_refusal reason = MR_OTHER;
	bool verdict = true;	/* on the message; false: a failure of ours */
	const char *why = NULL;

	if (tx->data.flags & DATA_F_BARE_EOL)
		why = R_BARE_LF;
	else if (tx->data.flags & DATA_F_NUL)
		why = R_NUL_IN_DATA;
	else if (tx->data.flags & DATA_F_LONG_LINE)
		why = R_DATA_LINE_TOO_LONG;
	else if (tx->data.flags & DATA_F_TOO_BIG) {
		why = R_SIZE_EXCEEDED;
		reason = MR_LIMIT;
	} else if (tx->hops.count > s->cfg->max_hops)
		why = R_TOO_MANY_HOPS;	/* a mail loop (RFC 5321 6.3) */
	else if (tx->spool_failed) {
		why = R_QUEUE_FAILED;
		verdict = false;
	}
	if (why) {
		log_info("s=%lx reject: DATA from [%s]: %s; from=<%s> "
		    "nrcpt=%zu helo=<%s>", s->sid, s->addr_text, why,
		    tx->sender, tx->nrcpts, s->helo);
		if (verdict)
			smtp_refuse(s, reason, "%s", why);
		else
			smtp_reply(s, "%s", why);
		after_tx(s);
		return;
	}
	if (smtp_check_end(s))
		return;		/* smtp_check_done goes on */
	if (smtp_owner_end(s)) {
		after_tx(s);	/* the spool dropped */
		return;
	}
	if (tx->spool_failed) {
		smtp_reply(s, "%s", R_QUEUE_FAILED);
		after_tx(s);
		return;
	}
	if (tx->sign != NULL && tx->env.prepend_room != 0)
		sign(s);
	message_done(s);
}

/* data_input - stream message bytes to the spool; returns bytes used */
static size_t
data_input(struct smtp_session *s, const char *in, size_t len)
{
	struct smtp_tx *tx = s->tx;
	char out[SMTP_DATA_ROOM(8192)];
	size_t used = 0, n, outlen;

	while (used < len && !tx->data.done) {
		n = len - used < 8192 ? len - used : 8192;
		n = smtp_data_feed(&tx->data, in + used, n, out, &outlen);
		used += n;
		hops_feed(&tx->hops, out, outlen);
		if (tx->sign != NULL && !(tx->data.flags & DATA_F_REFUSE))
			smtp_sign_feed(tx->sign, out, outlen);
		smtp_check_write(s, out, outlen);
	}
	if (tx->data.done)
		data_end(s);
	return used;
}

size_t
smtp_input(struct smtp_session *s, const char *in, size_t len)
{
	size_t used = 0;

	while (used < len) {
		if (s->dnsbl_wait && s->state == S_CMD) {
			s->dnsbl_held = true;	/* until the verdict */
			break;
		}
		if (s->state == S_CMD || s->state == S_AUTH_LINE)
			used += cmd_input(s, in + used, len - used);
		else if (s->state == S_DATA)
			used += data_input(s, in + used, len - used);
		else if (s->state == S_CLOSED)
			return len;		/* nothing more is read */
		else
			break;			/* the host's turn: wait */
	}
	return used;
}

void
smtp_check_done(struct smtp_session *s, const struct smtp_check_result *r)
{
	struct smtp_tx *tx = s->tx;

	if (s->state != S_CHECK || tx == NULL)
		return;
	smtp_check_log(s, r, "DATA");
	if (r->verdict == SMTP_CHECK_REFUSE) {
		/* SPF or DMARC: the sender's domain disowns it */
		smtp_refuse(s, MR_SENDER, "%s", r->reply);
		after_tx(s);
		return;
	}
	/* Without the fields the message would go on unmarked: a
	 * quarantine header lost, a forged result now unanswered. */
	if (smtp_check_prepend(s, r) == -1) {
		log_warn("s=%lx id=%s could not add the checks' fields; "
		    "client [%s] told 451", s->sid, tx->env.id, s->addr_text);
		smtp_reply(s, "%s", R_QUEUE_FAILED);
		after_tx(s);
		return;
	}
	message_done(s);
}

void
smtp_filter_done(struct smtp_session *s, const struct smtp_filter_verdict *v)
{
	enum smtp_filter_stage st = s->filter_stage;
	enum smtp_filter_action act = v->action;
	bool hangup = false;

	/* Stale: the wait ended with its transaction or the session. */
	if (s->state != S_FILTER || (st != SMTP_FILTER_HELO && s->tx == NULL))
		return;
	s->state = S_CMD;
	/* A discard before END: the host drops the message at END. */
	if (act == SMTP_FILTER_DISCARD && st != SMTP_FILTER_END)
		act = SMTP_FILTER_CONTINUE;
	if (act != SMTP_FILTER_CONTINUE && act != SMTP_FILTER_DISCARD)
		hangup = smtp_filter_refuse(s, st, v);	/* or 451, never raw */
	if (st != SMTP_FILTER_END) {
		smtp_cmd_filtered(s, st, act == SMTP_FILTER_CONTINUE);
	} else {
		s->tx->filtered = false;	/* answered: nothing to abort */
		if (act == SMTP_FILTER_CONTINUE) {
			s->state = S_COMMIT;
			s->io->spool_commit(s->ctx);
			return;
		}
		if (act == SMTP_FILTER_DISCARD)
			smtp_filter_discard(s, v);
		after_tx(s);		/* the spool dropped */
	}
	/* A filter's 421 closes the session, as its text says and as
	 * Postfix does with a milter's. */
	if (hangup && s->state != S_CLOSED) {
		smtp_tx_free(s);
		s->state = S_CLOSED;
		return;
	}
	if (s->state == S_CMD && s->shutdown_pending) {
		smtp_tx_free(s);
		smtp_close_with(s, R_SHUTDOWN);
	}
	if (s->errors >= s->cfg->max_errors)
		error_limit(s);
}

void
smtp_commit_done(struct smtp_session *s, int status)
{
	struct smtp_tx *tx = s->tx;

	if (s->state != S_COMMIT || tx == NULL)
		return;
	tx->spooling = false;		/* the host is done with the spool */
	if (status == 0) {
		log_info("s=%lx id=%s accepted: from=<%s> size=%" PRIu64
		    " nrcpt=%zu client=[%s] helo=<%s> proto=%s%s", s->sid,
		    tx->env.id, tx->sender, tx->data.size, tx->nrcpts,
		    s->addr_text, s->helo, tx->env.proto,
		    tx->requiretls ? " requiretls=yes" : "");
		METRICS_INC(messages[s->listener]);
		METRICS_ADD(message_bytes[s->listener], tx->data.size);
		smtp_reply(s, "%s%s", R_QUEUED, tx->env.id);
		smtp_login_limited(s, SMTP_LIMIT_SENT, NULL);
	} else {
		log_warn("s=%lx id=%s queue commit failed; client [%s] told "
		    "451", s->sid, tx->env.id, s->addr_text);
		smtp_reply(s, "%s", R_QUEUE_FAILED);
	}
	after_tx(s);
}
