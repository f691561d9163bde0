/*
 * smtp - SMTP server engine: command table, session state, transaction.
 *
 * The session reads command lines into a bounded buffer and dispatches
 * them through one table; in DATA it hands bytes to the smtp_data state
 * machine and streams the result to the spool. Every reply goes out
 * through smtp_reply(), which also counts errors. Nothing here touches a
 * socket or a file: see struct smtp_io.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "smtp/address.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "smtp/policy.h"
#include "smtp/smtp.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_params.h"
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

static void	cmd_ehlo(struct smtp_session *, const char *, size_t);
static void	cmd_helo(struct smtp_session *, const char *, size_t);
static void	cmd_mail(struct smtp_session *, const char *, size_t);
static void	cmd_rcpt(struct smtp_session *, const char *, size_t);
static void	cmd_data(struct smtp_session *, const char *, size_t);
static void	cmd_rset(struct smtp_session *, const char *, size_t);
static void	cmd_noop(struct smtp_session *, const char *, size_t);
static void	cmd_quit(struct smtp_session *, const char *, size_t);
static void	cmd_vrfy(struct smtp_session *, const char *, size_t);
static void	cmd_help(struct smtp_session *, const char *, size_t);
static void	cmd_http(struct smtp_session *, const char *, size_t);
static void	cmd_unknown(struct smtp_session *, const char *, size_t);

/* The whole dispatch. The sentinel row handles unknown commands. */
static const struct smtp_cmd smtp_cmds[] = {
	{ "EHLO",	cmd_ehlo,	0 },
	{ "HELO",	cmd_helo,	0 },
	{ "MAIL",	cmd_mail,	CMD_NEEDS_HELO },
	{ "RCPT",	cmd_rcpt,	CMD_NEEDS_HELO },
	{ "DATA",	cmd_data,	CMD_NEEDS_HELO | CMD_NO_ARGS },
	{ "RSET",	cmd_rset,	CMD_NO_ARGS },
	{ "NOOP",	cmd_noop,	0 },
	{ "QUIT",	cmd_quit,	CMD_NO_ARGS },
	{ "VRFY",	cmd_vrfy,	0 },
	{ "HELP",	cmd_help,	0 },
	{ "STARTTLS",	smtp_cmd_starttls,	0 },
	{ "AUTH",	smtp_cmd_auth,	CMD_NEEDS_HELO },
	/* A web client or proxy talking to the wrong port: hang up. */
	{ "GET",	cmd_http,	0 },
	{ "POST",	cmd_http,	0 },
	{ "HEAD",	cmd_http,	0 },
	{ "PUT",	cmd_http,	0 },
	{ "CONNECT",	cmd_http,	0 },
	{ NULL,		cmd_unknown,	0 },
};

/* --- replies ------------------------------------------------------------ */

/* reply - send one reply line; 4xx and 5xx count as client errors */
void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	char line[SMTP_CMD_MAX + 64];
	const char *text;
	size_t len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	if (strcmp(fmt, "%s") == 0) {
		/* Most replies are one of the named constants: copy it
		 * rather than have printf parse it (the engine's hot path). */
		text = va_arg(ap, const char *);
		len = strlen(text);
		if (len > sizeof(line) - 3)
			len = sizeof(line) - 3;
		memcpy(line, text, len);
		n = (int)len;
	} else
		n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	if (line[0] == '4' || line[0] == '5')
		s->errors++;
	line[n++] = '\r';
	line[n++] = '\n';
	s->io->send(s->ctx, line, (size_t)n);
}

/* close_with - last reply of the session */
void
smtp_close_with(struct smtp_session *s, const char *text)
{
	smtp_reply(s, "%s", text);
	s->state = S_CLOSED;
}

/* reject - refuse a command, with one log line saying why */
static void
reject(struct smtp_session *s, const char *cmd, const char *text,
    const char *arg, size_t arglen)
{
	char esc[SMTP_CMD_MAX * 2];

	log_escape(esc, sizeof(esc), arg, arglen);
	log_info("s=%lx reject: %s from [%s]: %s; arg=<%s> helo=<%s>",
	    s->sid, cmd, s->addr_text, text, esc, s->helo);
	smtp_reply(s, "%s", text);
}

/* --- transactions ------------------------------------------------------- */

void
smtp_tx_free(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	size_t i;

	if (tx == NULL)
		return;
	if (tx->spooling)
		s->io->spool_abort(s->ctx);
	for (i = 0; i < tx->nrcpts; i++)
		free(tx->rcpts[i]);
	free(tx->rcpts);
	free(tx);
	s->tx = NULL;
}

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
	s->client.trusted = peer->addr &&
	    policy_trusted(cfg, (const struct sockaddr *)&s->addr);
	s->tls_offer = peer->tls_offer;
	if (peer->tls_version)
		smtp_set_tls(s, peer->tls_version, peer->tls_cipher, peer->tls_bits);
	s->state = S_CMD;
	buf_init(&s->line, SMTP_CMD_MAX);
	if (peer->addr &&
	    policy_client_denied(cfg, (const struct sockaddr *)&s->addr)) {
		log_info("s=%lx reject: CONNECT from [%s]: %s", s->sid,
		    s->addr_text, R_ACCESS_DENIED);
		smtp_close_with(s, R_ACCESS_DENIED);
		return s;
	}
	smtp_reply(s, "220 %s ESMTP sallyport", cfg->hostname);
	return s;
}

void
smtp_free(struct smtp_session *s)
{
	if (s == NULL)
		return;
	smtp_tx_free(s);
	buf_free(&s->line);
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
	return s->state == S_COMMIT || s->state == S_LOOKUP ||
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

/* --- command helpers ---------------------------------------------------- */

/* --- commands ----------------------------------------------------------- */

/* helo_common - shared by HELO and EHLO: check and remember the name */
static bool
helo_common(struct smtp_session *s, const char *arg, size_t len)
{
	size_t i, n = 0;

	while (n < len && arg[n] != ' ')
		n++;
	if (n == 0 || n > HELO_MAX) {
		smtp_reply(s, "%s", R_HELO_SYNTAX);
		return false;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)arg[i] < 0x21 || arg[i] == 0x7f) {
			smtp_reply(s, "%s", R_HELO_SYNTAX);
			return false;
		}
	smtp_tx_free(s);
	memcpy(s->helo, arg, n);
	s->helo[n] = '\0';
	s->greeted = true;
	return true;
}

static void
cmd_ehlo(struct smtp_session *s, const char *arg, size_t len)
{
	const char *mechs;
	char out[1024];
	int n;

	if (!helo_common(s, arg, len))
		return;
	s->esmtp = true;
	mechs = smtp_auth_mechs(s);
	n = snprintf(out, sizeof(out),
	    "250-%s\r\n"
	    "250-PIPELINING\r\n"
	    "250-SIZE %" PRIu64 "\r\n"
	    "250-8BITMIME\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "%s%s%s%s"
	    "250 SMTPUTF8\r\n",
	    s->cfg->hostname, s->cfg->max_message_size,
	    s->tls_offer && !s->tls ? "250-STARTTLS\r\n" : "",
	    mechs ? "250-AUTH " : "", mechs ? mechs : "", mechs ? "\r\n" : "");
	if (n > 0 && (size_t)n < sizeof(out))
		s->io->send(s->ctx, out, (size_t)n);
}

static void
cmd_helo(struct smtp_session *s, const char *arg, size_t len)
{
	if (!helo_common(s, arg, len))
		return;
	s->esmtp = false;
	smtp_reply(s, "250 %s", s->cfg->hostname);
}

static void
cmd_mail(struct smtp_session *s, const char *arg, size_t len)
{
	const char *full = arg, *err, *why;
	struct esmtp_mail_params mp;
	char lookup[ADDR_DOMAIN_MAX + 1];
	size_t fulllen = len;
	struct address a;
	struct smtp_tx *tx;
	int used;

	if (s->tx) {
		smtp_reply(s, "%s", R_NESTED_MAIL);
		return;
	}
	if ((why = policy_mail(&s->client)) != NULL) {
		reject(s, "MAIL", why, full, fulllen);
		return;
	}
	if (!esmtp_skip_prefix(&arg, &len, "FROM:")) {
		smtp_reply(s, "%s", R_MAIL_SYNTAX);
		return;
	}
	if ((used = address_parse(arg, len, &a, &err)) < 0 ||
	    ((size_t)used < len && arg[used] != ' ')) {
		reject(s, "MAIL", R_BAD_SENDER, full, fulllen);
		return;
	}
	if ((tx = calloc(1, sizeof(*tx))) == NULL) {
		smtp_reply(s, "%s", R_LOCAL_ERROR);
		return;
	}
	if ((why = esmtp_mail_params(arg + used, len - (size_t)used,
	    s->esmtp, s->cfg->max_message_size, &mp)) != NULL) {
		free(tx);
		smtp_reply(s, "%s", why);
		return;
	}
	/* RFC 6531 3.4: a UTF-8 address only in an SMTPUTF8 transaction,
	 * or a next hop that never offered SMTPUTF8 gets it from us. */
	if ((a.flags & ADDR_F_UTF8) && !mp.smtputf8) {
		free(tx);
		reject(s, "MAIL", R_UTF8_NEEDS_SMTPUTF8, full, fulllen);
		return;
	}
	tx->smtputf8 = mp.smtputf8;
	tx->body = mp.body;
	tx->size_declared = mp.size;
	if (address_format(&a, tx->sender, sizeof(tx->sender)) == -1) {
		free(tx);
		reject(s, "MAIL", R_BAD_SENDER, full, fulllen);
		return;
	}
	if (s->authenticated && s->cfg->sender_login_check &&
	    !policy_sender_login(s->cfg, s->user, &a)) {
		free(tx);
		reject(s, "MAIL", R_SENDER_NOT_OWNED, full, fulllen);
		return;
	}
	if (policy_sender(s->cfg, &s->client, &a, lookup, sizeof(lookup),
	    &why) == -1) {
		free(tx);
		reject(s, "MAIL", why, full, fulllen);
		return;
	}
	/* Refuse now rather than take a message the disk cannot hold. */
	if (!s->io->space_ok(s->ctx, mp.size)) {
		free(tx);
		reject(s, "MAIL", R_NO_SPACE, full, fulllen);
		return;
	}
	s->tx = tx;
	if (lookup[0] != '\0') {
		/* The answer may come before domain_lookup returns. */
		s->state = S_LOOKUP;
		s->io->domain_lookup(s->ctx, lookup);
		return;
	}
	smtp_reply(s, "%s", R_SENDER_OK);
}

void
smtp_lookup_done(struct smtp_session *s, enum dns_result r)
{
	const char *why;

	if (s->state != S_LOOKUP)
		return;
	s->state = S_CMD;
	if ((why = policy_sender_dns(r)) != NULL) {
		log_info("s=%lx reject: MAIL from [%s]: %s; from=<%s> dns=%s "
		    "helo=<%s>", s->sid, s->addr_text, why, s->tx->sender,
		    dns_result_name(r), s->helo);
		smtp_tx_free(s);
		smtp_reply(s, "%s", why);
	} else {
		smtp_reply(s, "%s", R_SENDER_OK);
	}
	if (s->shutdown_pending) {
		smtp_tx_free(s);
		smtp_close_with(s, R_SHUTDOWN);
	}
}

static void
cmd_rcpt(struct smtp_session *s, const char *arg, size_t len)
{
	const char *full = arg, *err, *why;
	size_t fulllen = len;
	struct smtp_tx *tx = s->tx;
	char rcpt[ADDR_PATH_MAX + 1], **v;
	struct address a;
	int used;

	if (tx == NULL) {
		smtp_reply(s, "%s", R_NEED_MAIL);
		return;
	}
	if (!esmtp_skip_prefix(&arg, &len, "TO:")) {
		smtp_reply(s, "%s", R_RCPT_SYNTAX);
		return;
	}
	if ((used = address_parse(arg, len, &a, &err)) < 0 ||
	    ((size_t)used < len && arg[used] != ' ') ||
	    (a.flags & ADDR_F_NULL) ||
	    address_format(&a, rcpt, sizeof(rcpt)) == -1) {
		reject(s, "RCPT", R_BAD_ADDRESS, full, fulllen);
		return;
	}
	if ((why = esmtp_rcpt_params(arg + used, len - (size_t)used,
	    s->esmtp)) != NULL) {
		smtp_reply(s, "%s", why);
		return;
	}
	if ((a.flags & ADDR_F_UTF8) && !tx->smtputf8) {
		reject(s, "RCPT", R_UTF8_NEEDS_SMTPUTF8, full, fulllen);
		return;
	}
	if (tx->nrcpts >= s->cfg->max_recipients) {
		smtp_reply(s, "%s", R_TOO_MANY_RCPTS);
		return;
	}
	if (policy_rcpt(s->cfg, &s->client, &a, &why) == -1) {
		log_info("s=%lx reject: RCPT from [%s]: %s; from=<%s> to=<%s> "
		    "helo=<%s>", s->sid, s->addr_text, why, tx->sender, rcpt,
		    s->helo);
		smtp_reply(s, "%s", why);
		return;
	}
	if (policy_rcpt_qualify(s->cfg, &a) == -1 ||
	    address_format(&a, rcpt, sizeof(rcpt)) == -1) {
		smtp_reply(s, "%s", R_LOCAL_ERROR);
		return;
	}
	if ((v = realloc(tx->rcpts, (tx->nrcpts + 1) * sizeof(*v))) == NULL) {
		smtp_reply(s, "%s", R_LOCAL_ERROR);
		return;
	}
	tx->rcpts = v;
	if ((v[tx->nrcpts] = strdup(rcpt)) == NULL) {
		smtp_reply(s, "%s", R_LOCAL_ERROR);
		return;
	}
	tx->nrcpts++;
	smtp_reply(s, "%s", R_RCPT_OK);
}

static void
cmd_data(struct smtp_session *s, const char *arg, size_t len)
{
	struct smtp_tx *tx = s->tx;
	char hdr[2048];
	int n, rc;

	(void)arg;
	(void)len;
	if (tx == NULL) {
		smtp_reply(s, "%s", R_NEED_MAIL);
		return;
	}
	if (tx->nrcpts == 0) {
		smtp_reply(s, "%s", R_NO_VALID_RCPTS);
		return;
	}
	tx->env.arrival = time(NULL);
	tx->env.client = s->addr_text;
	tx->env.helo = s->helo;
	tx->env.proto = smtp_proto_name(s);
	tx->env.auth_user = s->authenticated ? s->user : NULL;
	tx->env.sender = tx->sender;
	tx->env.rcpts = tx->rcpts;
	tx->env.nrcpts = tx->nrcpts;
	tx->env.smtputf8 = tx->smtputf8;
	tx->env.body = tx->body;
	if (!s->io->space_ok(s->ctx, tx->size_declared)) {
		reject(s, "DATA", R_NO_SPACE, "", 0);
		return;
	}
	if ((rc = s->io->spool_open(s->ctx, &tx->env)) != 0) {
		smtp_reply(s, "%s", rc == SMTP_SPOOL_NO_SPACE ? R_NO_SPACE :
		    R_QUEUE_FAILED);
		return;
	}
	tx->spooling = true;
	if ((n = smtp_received(s, hdr, sizeof(hdr))) < 0 ||
	    s->io->spool_write(s->ctx, hdr, (size_t)n) == -1)
		tx->spool_failed = true;
	smtp_data_init(&tx->data, s->cfg->max_message_size);
	if (policy_bare_newline(s->cfg, &s->client))
		smtp_data_normalize_lf(&tx->data);
	if (!s->line_crlf)
		smtp_data_after_bare_lf(&tx->data);
	hops_init(&tx->hops);
	s->state = S_DATA;
	smtp_reply(s, "%s", R_DATA_GO);
}

static void
cmd_rset(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_tx_free(s);
	smtp_reply(s, "%s", R_RESET_OK);
}

static void
cmd_noop(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_reply(s, "%s", R_NOOP);
}

static void
cmd_quit(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_tx_free(s);
	smtp_close_with(s, R_BYE);
}

static void
cmd_vrfy(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	smtp_reply(s, "%s", len ? R_VRFY : R_SYNTAX);
}

static void
cmd_help(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_reply(s, "%s", R_HELP);
}

static void
cmd_http(struct smtp_session *s, const char *arg, size_t len)
{
	reject(s, "HTTP", R_PROTOCOL, arg, len);
	smtp_tx_free(s);
	s->state = S_CLOSED;
}

static void
cmd_unknown(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_reply(s, "%s", R_UNKNOWN);
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
	if ((s->state == S_CMD || s->state == S_AUTH_LINE) &&
	    s->errors >= s->cfg->max_errors) {
		if (s->state == S_AUTH_LINE)
			s->io->auth_reset(s->ctx);
		log_info("s=%lx too many errors from [%s]", s->sid,
		    s->addr_text);
		smtp_tx_free(s);
		smtp_close_with(s, R_TOO_MANY_ERRORS);
	}
	return take;
}

/* data_end - the final dot: refuse, or hand the message to the queue */
static void
data_end(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	const char *why = NULL;

	if (tx->data.flags & DATA_F_BARE_EOL)
		why = R_BARE_LF;
	else if (tx->data.flags & DATA_F_NUL)
		why = R_NUL_IN_DATA;
	else if (tx->data.flags & DATA_F_LONG_LINE)
		why = R_DATA_LINE_TOO_LONG;
	else if (tx->data.flags & DATA_F_TOO_BIG)
		why = R_SIZE_EXCEEDED;
	else if (tx->hops.count > s->cfg->max_hops)
		why = R_TOO_MANY_HOPS;	/* a mail loop (RFC 5321 6.3) */
	else if (tx->spool_failed)
		why = R_QUEUE_FAILED;
	if (why) {
		log_info("s=%lx reject: DATA from [%s]: %s; from=<%s> "
		    "nrcpt=%zu helo=<%s>", s->sid, s->addr_text, why,
		    tx->sender, tx->nrcpts, s->helo);
		smtp_reply(s, "%s", why);
		after_tx(s);
		return;
	}
	s->state = S_COMMIT;
	s->io->spool_commit(s->ctx);
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
		if (outlen && !tx->spool_failed &&
		    !(tx->data.flags & DATA_F_REFUSE) &&
		    s->io->spool_write(s->ctx, out, outlen) == -1)
			tx->spool_failed = true;
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
smtp_commit_done(struct smtp_session *s, int status)
{
	struct smtp_tx *tx = s->tx;

	if (s->state != S_COMMIT || tx == NULL)
		return;
	tx->spooling = false;		/* the host is done with the spool */
	if (status == 0) {
		log_info("s=%lx id=%s accepted: from=<%s> size=%" PRIu64
		    " nrcpt=%zu client=[%s] helo=<%s> proto=%s", s->sid,
		    tx->env.id, tx->sender, tx->data.size, tx->nrcpts,
		    s->addr_text, s->helo, tx->env.proto);
		smtp_reply(s, "%s%s", R_QUEUED, tx->env.id);
	} else {
		log_warn("s=%lx id=%s queue commit failed; client [%s] told "
		    "451", s->sid, tx->env.id, s->addr_text);
		smtp_reply(s, "%s", R_QUEUE_FAILED);
	}
	after_tx(s);
}
