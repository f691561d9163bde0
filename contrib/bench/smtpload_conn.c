/*
 * smtpload_conn.c - one blocking SMTP connection of the load client:
 * connect with I/O timeouts, read whole replies, STARTTLS, and a session
 * opened (greeting, EHLO, TLS with -T) and closed with QUIT. Send and
 * idle mode use it; a failed call leaves its reason in c->err.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "smtpload.h"

#define REPLY_LINE_MAX	65536	/* a longer reply line is an error */
#define REPLY_LINES_MAX	1000	/* and so is a longer multi-line reply */
#define IO_TIMEOUT	60	/* seconds one read or write may block */

void
conn_fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

static void
conn_sys_fail(struct conn *c, const char *what, int e)
{
	c->broken = 1;
	if (e == EAGAIN || e == EWOULDBLOCK)
		conn_fail(c, "%s: timed out after %ds", what, IO_TIMEOUT);
	else
		conn_fail(c, "%s: %s", what, strerror(e));
}

/* conn_tls_fail - why an SSL call returning r failed */
static void
conn_tls_fail(struct conn *c, const char *what, int r)
{
	unsigned long e;
	int saved = errno;
	char buf[256];

	c->broken = 1;
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_ZERO_RETURN:
		conn_fail(c, "%s: connection closed by server", what);
		break;
	case SSL_ERROR_SYSCALL:
		if ((e = ERR_peek_error()) == 0) {
			if (r == 0 || saved == 0)
				conn_fail(c, "%s: connection closed by server",
				    what);
			else
				conn_sys_fail(c, what, saved);
			break;
		}
		/* FALLTHROUGH */
	default:
		e = ERR_get_error();
		ERR_error_string_n(e, buf, sizeof(buf));
		conn_fail(c, "%s: %s", what, e ? buf : "TLS error");
		break;
	}
	ERR_clear_error();
}

/* conn_connect - a blocking TCP connection with I/O timeouts */
static int
conn_connect(struct conn *c)
{
	struct timeval tv = { IO_TIMEOUT, 0 };
	int one = 1;

	c->ssl = NULL;
	c->broken = 0;
	c->rpos = c->rlen = 0;
	c->err[0] = '\0';
	if ((c->fd = socket(opt.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC,
	    0)) == -1) {
		conn_sys_fail(c, "socket", errno);
		return -1;
	}
	if (connect(c->fd, (struct sockaddr *)&opt.addr, opt.addrlen) == -1) {
		conn_fail(c, "connect %s: %s", opt.target, strerror(errno));
		c->broken = 1;
		return -1;
	}
	/* Commands are single writes waiting for a reply: never delay. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return 0;
}

void
conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		if (!c->broken)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}

int
conn_write(struct conn *c, const char *p, size_t len)
{
	ssize_t n;
	int r;

	if (c->ssl != NULL) {
		/* Blocking, without partial writes: all or an error. */
		if (len > INT_MAX || (r = SSL_write(c->ssl, p, (int)len)) <= 0) {
			conn_tls_fail(c, "write", len > INT_MAX ? -1 : r);
			return -1;
		}
		return 0;
	}
	while (len > 0) {
		if ((n = send(c->fd, p, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			conn_sys_fail(c, "write", errno);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
conn_fill(struct conn *c)
{
	ssize_t n;
	int r;

	if (c->ssl != NULL) {
		if ((r = SSL_read(c->ssl, c->rbuf, sizeof(c->rbuf))) <= 0) {
			conn_tls_fail(c, "read", r);
			return -1;
		}
		n = r;
	} else {
		do
			n = read(c->fd, c->rbuf, sizeof(c->rbuf));
		while (n == -1 && errno == EINTR);
		if (n == -1) {
			conn_sys_fail(c, "read", errno);
			return -1;
		}
		if (n == 0) {
			c->broken = 1;
			conn_fail(c, "read: connection closed by server");
			return -1;
		}
	}
	c->rpos = 0;
	c->rlen = (size_t)n;
	return 0;
}

/*
 * conn_line - the next input line without its CRLF into line (cut to
 * cap - 1 bytes); its full length in *len.
 */
static int
conn_line(struct conn *c, char *line, size_t cap, size_t *len)
{
	size_t n = 0, keep;
	char *nl;

	for (;;) {
		if (c->rpos == c->rlen && conn_fill(c) == -1)
			return -1;
		nl = memchr(c->rbuf + c->rpos, '\n', c->rlen - c->rpos);
		keep = (nl ? (size_t)(nl - c->rbuf) : c->rlen) - c->rpos;
		if (n < cap - 1)
			memcpy(line + n, c->rbuf + c->rpos,
			    keep < cap - 1 - n ? keep : cap - 1 - n);
		n += keep;
		c->rpos += keep;
		if (nl != NULL) {
			c->rpos++;
			break;
		}
		if (n > REPLY_LINE_MAX) {
			c->broken = 1;
			conn_fail(c, "reply line longer than %d bytes",
			    REPLY_LINE_MAX);
			return -1;
		}
	}
	if (n > 0 && n <= cap - 1 && line[n - 1] == '\r')
		n--;
	line[n < cap - 1 ? n : cap - 1] = '\0';
	*len = n;
	return 0;
}

int
reply_code(const char *s, size_t len)
{
	if (len < 3 || s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9' || (len > 3 && s[3] != ' ' && s[3] != '-'))
		return -1;
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* conn_reply - read a whole reply, "250-..." lines and the final one */
int
conn_reply(struct conn *c, struct reply *r)
{
	char more[REPLY_MAX];
	size_t len;
	int i;

	for (i = 0; i < REPLY_LINES_MAX; i++) {
		if (conn_line(c, i == 0 ? r->text : more, REPLY_MAX, &len) == -1)
			return -1;
		if ((r->code = reply_code(i == 0 ? r->text : more, len)) == -1) {
			c->broken = 1;
			conn_fail(c, "malformed reply: %s",
			    i == 0 ? r->text : more);
			return -1;
		}
		if (len == 3 || (i == 0 ? r->text : more)[3] == ' ')
			return r->code;
	}
	c->broken = 1;
	conn_fail(c, "reply longer than %d lines", REPLY_LINES_MAX);
	return -1;
}

/*
 * step - send s (unless NULL) and expect a reply with code want; else
 * c->err says "WHAT: " and the reply or the I/O error.
 */
int
step(struct conn *c, const char *what, const char *s, size_t len, int want)
{
	struct reply r;
	char why[sizeof(c->err)];

	if ((s != NULL && conn_write(c, s, len) == -1) ||
	    conn_reply(c, &r) == -1) {
		memcpy(why, c->err, sizeof(why));
		conn_fail(c, "%s: %s", what, why);
		return -1;
	}
	if (r.code != want) {
		conn_fail(c, "%s: %s", what, r.text);
		return -1;
	}
	return 0;
}

static int
conn_starttls(struct conn *c)
{
	int r;

	if (step(c, "STARTTLS", "STARTTLS\r\n", 10, 220) == -1)
		return -1;
	if (c->rpos != c->rlen) {
		c->broken = 1;
		conn_fail(c, "STARTTLS: data after the 220 reply");
		return -1;
	}
	if ((c->ssl = SSL_new(tls_ctx)) == NULL ||
	    !SSL_set_fd(c->ssl, c->fd)) {
		c->broken = 1;
		conn_fail(c, "STARTTLS: cannot make a TLS session");
		return -1;
	}
	if ((r = SSL_connect(c->ssl)) != 1) {
		conn_tls_fail(c, "TLS handshake", r);
		return -1;
	}
	return 0;
}

/* session_open - connected, greeted and EHLO answered, with TLS if -T
 * and logged in with -A */
int
session_open(struct conn *c)
{
	size_t ehlo_len = strlen(cmd.ehlo);

	if (conn_connect(c) == -1 ||
	    step(c, "greeting", NULL, 0, 220) == -1 ||
	    step(c, "EHLO", cmd.ehlo, ehlo_len, 250) == -1)
		return -1;
	if (opt.tls && (conn_starttls(c) == -1 ||
	    step(c, "EHLO after STARTTLS", cmd.ehlo, ehlo_len, 250) == -1))
		return -1;
	if (cmd.auth[0] != '\0' &&
	    step(c, "AUTH", cmd.auth, strlen(cmd.auth), 235) == -1)
		return -1;
	return 0;
}

/* session_quit - QUIT and close; after an I/O error only close */
void
session_quit(struct conn *c)
{
	struct reply r;

	if (!c->broken && conn_write(c, "QUIT\r\n", 6) == 0)
		conn_reply(c, &r);
	conn_close(c);
}
