/*
 * smtp_client_data - the message's part of an outbound session: what
 * the server's extensions mean for it (SMTPUTF8, 8BITMIME: RFC 6531,
 * RFC 6152), MAIL and RCPT, then DATA and the body.
 *
 * The body is sent as SMTP wants it whatever the spool holds: every
 * line ends in CRLF (a bare CR or LF becomes one), a line starting with
 * "." gets another, and the last line gets its CRLF if it has none. For
 * a server without 8BITMIME, 8-bit content goes through mime8 first.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/mime8.h"
#include "deliver/smtp_client.h"
#include "deliver/smtp_client_int.h"

/* client_refuse - a verdict of our own on this server: *r, code 5xx */
static int
client_refuse(struct client *c, struct smtp_client_reply *r, int code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
client_refuse(struct client *c, struct smtp_client_reply *r, int code,
    const char *fmt, ...)
{
	va_list	 ap;

	(void)c;
	va_start(ap, fmt);
	r->code = code;
	r->ours = true;
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	return 0;
}

/* client_read - the next piece of the message, at most len bytes of
 * it; -1 when the file is unreadable or shorter than the queue entry
 * says: the session ends there (never a final dot after a short
 * message: the server would deliver what it has) */
static ssize_t
client_read(struct client *c, int fd, char *buf, size_t size, off_t len)
{
	ssize_t	 got;

	do
		got = read(fd, buf, len < (off_t)size ? (size_t)len : size);
	while (got == -1 && errno == EINTR);
	if (got == -1)
		return client_lost(c, "reading the message: %s",
		    strerror(errno));
	if (got == 0)
		return client_lost(c, "reading the message: %lld bytes "
		    "missing", (long long)len);
	return got;
}

/* client_scan - read the message once through the 7-bit scan and put
 * the file back where it was */
static int
client_scan(struct client *c, struct mime8 *m, int fd, off_t len)
{
	off_t	 start = lseek(fd, 0, SEEK_CUR);
	char	 chunk[CLIENT_CHUNK];
	ssize_t	 got;

	if (start == -1)
		return client_fail(c, "reading the message: %s",
		    strerror(errno));
	mime8_init(m);
	while (len > 0) {
		if ((got = client_read(c, fd, chunk, sizeof(chunk), len)) == -1)
			return -1;
		(void)mime8_feed(m, chunk, (size_t)got);
		len -= got;
	}
	(void)mime8_end(m);
	if (lseek(fd, start, SEEK_SET) == -1)
		return client_fail(c, "reading the message: %s",
		    strerror(errno));
	return 0;
}

static bool
client_utf8(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/*
 * client_content - what the server's extensions mean for this message:
 * SMTPUTF8 and BODY=8BITMIME on MAIL where offered and wanted, a 7-bit
 * conversion, or our own refusal in *r (550 5.6.7, 554 5.6.3). The
 * message is read beforehand only when the server lacks one of them.
 * Returns -1 for our failure; 0 with r->code 0 to go on.
 */
int
client_content(struct client *c, const char *sender, char *const *rcpts,
    size_t nrcpts, int fd, off_t len, struct smtp_client_reply *r)
{
	const struct smtp_client_opts *o = c->o;
	bool utf8_env = client_utf8(sender);
	struct mime8 *m;

	for (size_t i = 0; i < nrcpts && !utf8_env; i++)
		utf8_env = client_utf8(rcpts[i]);
	r->code = 0;
	/* RFC 8689 4.2.1: only inside TLS with a peer authenticated as
	 * asked (DANE, or a verified certificate for the name), and only
	 * to a server that offered REQUIRETLS there; never sent without. */
	if (o->requiretls && (c->tls == NULL || (o->tls != CLIENT_TLS_DANE &&
	    o->tls != CLIENT_TLS_REQUIRED)))
		return client_refuse(c, r, 550, "550 %s REQUIRETLS support "
		    "required, but host %s was not authenticated over TLS",
		    CLIENT_REQUIRETLS_STATUS, c->peer);
	if (o->requiretls && !c->caps.requiretls)
		return client_refuse(c, r, 550, "550 %s REQUIRETLS support "
		    "required, but was not offered by host %s",
		    CLIENT_REQUIRETLS_STATUS, c->peer);
	/* An entry queued before SMTPUTF8 was kept may still have UTF-8
	 * addresses: they need SMTPUTF8 all the same. */
	c->utf8 = c->caps.smtputf8 && (o->smtputf8 || utf8_env);
	c->body8 = c->caps.eightbitmime && o->body_8bitmime;
	if (utf8_env && !c->caps.smtputf8)
		return client_refuse(c, r, 550, "550 5.6.7 SMTPUTF8 is "
		    "required, but was not offered by host %s", c->peer);
	if (c->caps.eightbitmime && (c->caps.smtputf8 || !o->smtputf8))
		return 0;
	if ((m = malloc(sizeof(*m))) == NULL)
		return client_fail(c, "out of memory");
	if (client_scan(c, m, fd, len) == -1) {
		free(m);
		return -1;
	}
	if (o->smtputf8 && !c->caps.smtputf8 && m->head8) {
		free(m);
		return client_refuse(c, r, 550, "550 5.6.7 SMTPUTF8 is "
		    "required (UTF-8 header), but was not offered by host %s",
		    c->peer);
	}
	if (c->caps.eightbitmime || !(m->head8 || m->body8)) {
		free(m);
		return 0;
	}
	if (o->no_downgrade || m->error) {
		client_refuse(c, r, 554, "554 5.6.3 8-bit content, but host %s "
		    "does not offer 8BITMIME%s%s", c->peer, o->no_downgrade ?
		    " (mime_8bit_downgrade = bounce)" : "; cannot convert to "
		    "7-bit: ", o->no_downgrade ? "" : m->error);
		free(m);
		return 0;
	}
	c->mime8 = m;
	return 0;
}

/* client_empty_data - a 354 with nobody to send to (MAIL or every RCPT
 * refused, DATA pipelined after them): the message ends at once, empty,
 * and whatever the server says to it is nobody's verdict */
static void
client_empty_data(struct client *c)
{
	struct smtp_client_reply r;

	if (client_cmd(c, ".") == -1 ||
	    client_exchange(c, "end of data", &r, NULL) == -1)
		c->lost = true;
}

/* client_envelope - MAIL and the RCPTs, and DATA after them when
 * pipelining (RFC 2920 3.1: the last command of a group; its reply
 * goes to *data, code 0 when DATA was not sent or the reply means
 * nothing). Returns how many recipients were accepted (0: refused,
 * *session says why), or -1 for our failure. */
long
client_envelope(struct client *c, const char *sender, off_t body_len,
    char *const *rcpts, size_t nrcpts, struct smtp_client_reply *session,
    struct smtp_client_reply *rr, struct smtp_client_reply *data)
{
	bool	 pipe = c->caps.pipelining, all_read = true;
	long	 ok = 0;
	int	 rc;
	char	 size[32] = "";

	memset(data, 0, sizeof(*data));
	if (c->caps.size)
		snprintf(size, sizeof(size), " SIZE=%lld", (long long)body_len);
	rc = client_cmd(c, "MAIL FROM:<%s>%s%s%s%s", sender, size,
	    c->body8 ? " BODY=8BITMIME" : "", c->utf8 ? " SMTPUTF8" : "",
	    c->o->requiretls ? " REQUIRETLS" : "");
	if (rc == -1)
		goto fail;
	c->step = "MAIL";
	if (!pipe) {
		if (client_exchange(c, "MAIL", session, NULL) == -1)
			goto fail;
		if (session->code / 100 != 2)
			return 0;
	} else {
		for (size_t i = 0; i < nrcpts; i++)
			if (client_cmd(c, "RCPT TO:<%s>", rcpts[i]) == -1)
				goto fail;
		if (client_cmd(c, "DATA") == -1 ||
		    client_exchange(c, "MAIL", session, NULL) == -1)
			goto fail;
	}
	for (size_t i = 0; i < nrcpts; i++) {
		if (!pipe && client_cmd(c, "RCPT TO:<%s>", rcpts[i]) == -1)
			goto fail;
		if (client_exchange(c, "RCPT", &rr[i], NULL) == -1) {
			/* Pipelined after a refused MAIL (a 421 closes the
			 * connection): that refusal is the verdict, not the
			 * RCPT replies that never came. */
			if (session->code / 100 != 2) {
				all_read = false;
				c->lost = true;
				break;
			}
			goto fail;
		}
		if (rr[i].code / 100 == 2)
			ok++;
	}
	if (pipe && all_read) {
		c->step = "DATA";
		if (client_exchange(c, "DATA", data, NULL) == -1) {
			data->code = 0;
			if (session->code / 100 == 2 && ok > 0)
				goto fail;
			c->lost = true;	/* the refusals stand */
		} else if (data->code == 354 &&
		    (session->code / 100 != 2 || ok == 0)) {
			client_empty_data(c);
			data->code = 0;
		}
	}
	if (session->code / 100 != 2) {
		/* Pipelined after a refused MAIL: the RCPT replies say
		 * nothing about the recipients. */
		for (size_t i = 0; i < nrcpts; i++)
			rr[i].code = 0;
		return 0;
	}
	if (ok == 0)
		/* Nobody to send to: the first refusal stands for all. */
		*session = rr[0];
	return ok;
fail:
	*session = c->fail;
	return -1;
}

/* Where the body's bytes are: at the start of a line, after a CR. */
struct client_body {
	bool	 bol;
	bool	 cr;
};

/* client_put - one byte of output, flushing as the buffer fills */
static int
client_put(struct client *c, char ch)
{
	if (c->outlen == sizeof(c->out) && client_flush(c) == -1)
		return -1;
	c->out[c->outlen++] = ch;
	return 0;
}

static int
client_crlf(struct client *c, struct client_body *b)
{
	b->bol = true;
	b->cr = false;
	if (client_put(c, '\r') == -1 || client_put(c, '\n') == -1)
		return -1;
	return 0;
}

/* client_body_bytes - the state machine of the body: CRLF, bare CR and
 * bare LF all end a line with CRLF; a "." opening a line is doubled */
static int
client_body_bytes(struct client *c, struct client_body *b, const char *p,
    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (b->cr) {
			/* CR LF, or a bare CR: one line end either way. */
			if (client_crlf(c, b) == -1)
				return -1;
			if (p[i] == '\n')
				continue;
		}
		if (p[i] == '\r') {
			b->cr = true;
			continue;
		}
		if (p[i] == '\n') {
			if (client_crlf(c, b) == -1)
				return -1;
			continue;
		}
		if (b->bol && p[i] == '.' && client_put(c, '.') == -1)
			return -1;
		if (client_put(c, p[i]) == -1)
			return -1;
		b->bol = false;
	}
	return 0;
}

/* client_body_failed - the output failed (already said), or the
 * conversion did: never the final dot after part of a message */
static int
client_body_failed(struct client *c)
{
	if (c->mime8 == NULL || c->mime8->emit_failed)
		return -1;
	return client_lost(c, "converting the message to 7-bit: %s",
	    c->mime8->error ? c->mime8->error : "failed");
}

/* What the 7-bit conversion writes to: the body's state machine. */
struct client_body_out {
	struct client		*c;
	struct client_body	*b;
};

static int
client_body_emit(void *ctx, const char *p, size_t n)
{
	struct client_body_out *o = ctx;

	return client_body_bytes(o->c, o->b, p, n);
}

/* client_body - body_len bytes of body_fd (converted to 7-bit when
 * c->mime8 says so), then the final dot */
static int
client_body(struct client *c, int fd, off_t len)
{
	struct client_body b = { true, false };
	struct client_body_out o = { c, &b };
	char		 chunk[CLIENT_CHUNK];
	ssize_t		 got;

	if (c->mime8)
		mime8_encode(c->mime8, client_body_emit, &o);
	c->step = "DATA";
	while (len > 0) {
		if ((got = client_read(c, fd, chunk, sizeof(chunk), len)) == -1)
			return -1;
		if (c->mime8 ? mime8_feed(c->mime8, chunk, (size_t)got) :
		    client_body_bytes(c, &b, chunk, (size_t)got))
			return client_body_failed(c);
		len -= got;
	}
	if (c->mime8 && mime8_end(c->mime8) == -1)
		return client_body_failed(c);
	if ((b.cr || !b.bol) && client_crlf(c, &b) == -1)
		return -1;
	if (client_put(c, '.') == -1 || client_put(c, '\r') == -1 ||
	    client_put(c, '\n') == -1)
		return -1;
	return 0;
}

/* client_data - DATA (unless its reply came with the envelope's: data
 * with a code), the body, and the verdict(s). LMTP gives one
 * reply per accepted recipient, in RCPT order; once the whole message
 * is sent the session counts as done (250) and a recipient without its
 * reply (even the first) has code 0, so that the caller can tell "no
 * reply after the data" from a session that never got that far. */
void
client_data(struct client *c, int fd, off_t len, size_t nrcpts,
    struct smtp_client_reply *session, struct smtp_client_reply *rr,
    const struct smtp_client_reply *data)
{
	struct smtp_client_reply r;

	if (data->code != 0)
		*session = *data;	/* pipelined with the envelope */
	else if (client_cmd(c, "DATA") == -1 ||
	    client_exchange(c, "DATA", session, NULL) == -1) {
		*session = c->fail;
		return;
	}
	if (session->code != 354)
		return;
	if (client_body(c, fd, len) == -1) {
		*session = c->fail;
		return;
	}
	if (client_exchange(c, "end of data", session, NULL) == -1) {
		*session = c->fail;
		if (!c->o->lmtp)
			return;
	}
	if (!c->o->lmtp) {
		if (session->code / 100 != 2)
			return;
		for (size_t i = 0; i < nrcpts; i++)
			if (rr[i].code / 100 == 2)
				rr[i] = *session;
		session->code = 250;
		return;
	}
	r = *session;
	session->code = 250;
	snprintf(session->text, sizeof(session->text), "250 LMTP replies "
	    "per recipient");
	for (size_t i = 0, got = 0; i < nrcpts; i++) {
		if (rr[i].code / 100 != 2)
			continue;
		if (got++ > 0 && (c->lost || client_reply(c, &r, NULL) == -1))
			r = c->fail;
		rr[i] = r;
	}
}

