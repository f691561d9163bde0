/*
 * smtp_client_io - the outbound client's connection: connect, TLS,
 * commands out, replies in, and our own failures, with a deadline for
 * every step. The dialogue (smtp_client.c, smtp_client_data.c) is
 * built on it and it knows nothing of the dialogue.
 *
 * The socket is non-blocking and every wait is a poll() bounded by the
 * step's deadline, so a server that stops answering costs at most
 * opts->timeout per step. Replies are read into one fixed buffer: a
 * line longer than it, or a reply of too many lines, ends the session.
 * Our own failures (no connection, a timeout, TLS) have code 0:
 * temporary.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "lib/deadline.h"
#include "deliver/smtp_client.h"
#include "deliver/smtp_client_int.h"
#include "sec/tls.h"


/* client_vfail - "why (peer, step)" as our failure */
static void
client_vfail(struct client *c, const char *fmt, va_list ap)
{
	char	 why[CLIENT_TEXT_MAX - 160];	/* room for the rest */

	vsnprintf(why, sizeof(why), fmt, ap);
	c->fail.code = 0;
	snprintf(c->fail.text, sizeof(c->fail.text), "%s (%.100s, %.32s)",
	    why, c->peer, c->step);
}

/* client_fail - our own failure at this step; returns -1 */
int
client_fail(struct client *c, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	client_vfail(c, fmt, ap);
	va_end(ap);
	return -1;
}

/* client_lost - a failure of the connection itself; returns -1 */
int
client_lost(struct client *c, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	client_vfail(c, fmt, ap);
	va_end(ap);
	c->lost = true;
	return -1;
}

/* --- waiting ------------------------------------------------------------ */

static void
client_step(struct client *c, const char *step)
{
	c->step = step;
	deadline_in(&c->deadline, (unsigned long)c->timeout * 1000);
}

/* client_wait - poll for events until the step's deadline */
static int
client_wait(struct client *c, short events)
{
	struct pollfd	 pfd = { .fd = c->fd, .events = events };
	int		 ms, n;

	for (;;) {
		if ((ms = deadline_left(&c->deadline)) == 0)
			return client_lost(c, "timed out after %us",
			    c->timeout);
		n = poll(&pfd, 1, ms);
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR)
			return client_lost(c, "poll: %s", strerror(errno));
	}
}

/* --- bytes ---------------------------------------------------------------- */

/* client_io - one read into in, or one write of out (the other NULL),
 * waiting for the socket as TLS or the kernel asks: the byte count (0:
 * the server closed), or -1 */
static ssize_t
client_io(struct client *c, const char *out, char *in, size_t len)
{
	enum tls_status	 st;
	ssize_t		 got;
	size_t		 n;
	short		 ev;

	for (;;) {
		if (c->tls != NULL) {
			st = out != NULL ? tls_write(c->tls, out, len, &n) :
			    tls_read(c->tls, in, len, &n);
			if (st == TLS_DONE)
				return (ssize_t)n;
			if (st == TLS_EOF)
				return 0;
			if (st == TLS_FAIL)
				return client_lost(c, "TLS %s",
				    tls_conn_error(c->tls));
			ev = st == TLS_WANT_READ ? POLLIN : POLLOUT;
		} else {
			got = out != NULL ? send(c->fd, out, len, MSG_NOSIGNAL) :
			    recv(c->fd, in, len, 0);
			if (got >= 0)
				return got;
			if (errno != EINTR && errno != EAGAIN &&
			    errno != EWOULDBLOCK)
				return client_lost(c, "%s: %s", out != NULL ?
				    "write" : "read", strerror(errno));
			ev = out != NULL ? POLLOUT : POLLIN;
			if (errno == EINTR)
				continue;
		}
		if (client_wait(c, ev) == -1)
			return -1;
	}
}

/* client_recv - the next bytes the server sends, up to len, on a
 * deadline of its own: the count, 0 when it closed, or -1 */
ssize_t
client_recv(struct client *c, char *buf, size_t len)
{
	client_step(c, c->step);
	return client_io(c, NULL, buf, len);
}

/* client_send - all of buf, within the step's deadline */
static int
client_send(struct client *c, const char *buf, size_t len)
{
	ssize_t	 put;

	while (len > 0) {
		if ((put = client_io(c, buf, NULL, len)) == -1)
			return -1;
		if (put == 0)
			return client_lost(c, "connection closed by the "
			    "server");
		buf += put;
		len -= (size_t)put;
	}
	return 0;
}

/* client_flush - what is waiting in the output buffer, on a deadline of
 * its own */
int
client_flush(struct client *c)
{
	int	 rc;

	client_step(c, c->step);
	rc = client_send(c, c->out, c->outlen);
	c->outlen = 0;
	return rc;
}


/* client_cmd - one command line, queued; CRLF is added */
int
client_cmd(struct client *c, const char *fmt, ...)
{
	char	 line[CLIENT_CMD_MAX];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return client_fail(c, "command too long");
	if (memchr(line, '\r', (size_t)n) != NULL ||
	    memchr(line, '\n', (size_t)n) != NULL)
		return client_fail(c, "line break in a command");
	memcpy(line + n, "\r\n", 2);
	n += 2;
	if (c->outlen + (size_t)n > sizeof(c->out) && client_flush(c) == -1)
		return -1;
	memcpy(c->out + c->outlen, line, (size_t)n);
	c->outlen += (size_t)n;
	explicit_bzero(line, sizeof(line));	/* it may be AUTH */
	return 0;
}

/* --- replies --------------------------------------------------------- */

/* client_line - the next line of the server's, CR LF cut off */
static int
client_line(struct client *c, const char **line, size_t *len)
{
	const char	*nl;
	ssize_t		 got;

	for (;;) {
		nl = memchr(c->in + c->inpos, '\n', c->inlen - c->inpos);
		if (nl != NULL) {
			*line = c->in + c->inpos;
			*len = (size_t)(nl - *line);
			if (*len > 0 && (*line)[*len - 1] == '\r')
				(*len)--;
			c->inpos = (size_t)(nl - c->in) + 1;
			return 0;
		}
		if (c->inpos > 0) {
			memmove(c->in, c->in + c->inpos, c->inlen - c->inpos);
			c->inlen -= c->inpos;
			c->inpos = 0;
		}
		if (c->inlen == sizeof(c->in))
			return client_lost(c, "reply line longer than %zu "
			    "octets", sizeof(c->in));
		got = client_io(c, NULL, c->in + c->inlen,
		    sizeof(c->in) - c->inlen);
		if (got == 0)
			return client_lost(c, "connection closed by the "
			    "server");
		if (got < 0)
			return -1;
		c->inlen += (size_t)got;
	}
}

/* client_text_add - a reply line onto the text, printable ASCII only */
static void
client_text_add(struct smtp_client_reply *r, const char *l, size_t n)
{
	size_t	 at = strlen(r->text);

	if (at > 0 && n > 4) {
		l += 4;		/* the next lines without their code */
		n -= 4;
		if (at + 1 < sizeof(r->text))
			r->text[at++] = ' ';
	}
	for (size_t i = 0; i < n && at + 1 < sizeof(r->text); i++)
		r->text[at++] = l[i] >= 0x20 && l[i] < 0x7f ? l[i] : '?';
	r->text[at] = '\0';
}

/* One word of an EHLO line. */
struct client_word {
	const char	*p;
	size_t		 n;
};

/* client_word - the next word from *p, blanks and "=" separating
 * (the old "AUTH=LOGIN" form); false at the end */
static bool
client_word(const char **p, const char *end, struct client_word *w)
{
	while (*p < end && (**p == ' ' || **p == '='))
		(*p)++;
	w->p = *p;
	while (*p < end && **p != ' ' && **p != '=')
		(*p)++;
	w->n = (size_t)(*p - w->p);
	return w->n > 0;
}

static bool
client_word_is(const struct client_word *w, const char *word)
{
	return w->n == strlen(word) && strncasecmp(w->p, word, w->n) == 0;
}

/* client_cap - one EHLO keyword line, its code and separator cut off */
static void
client_cap(struct client_caps *caps, const char *l, size_t n)
{
	const char		*p = l, *end = l + n;
	struct client_word	 kw, mech;

	if (!client_word(&p, end, &kw))
		return;
	if (client_word_is(&kw, "STARTTLS"))
		caps->starttls = true;
	else if (client_word_is(&kw, "PIPELINING"))
		caps->pipelining = true;
	else if (client_word_is(&kw, "SIZE"))
		caps->size = true;
	else if (client_word_is(&kw, "SMTPUTF8"))
		caps->smtputf8 = true;
	else if (client_word_is(&kw, "8BITMIME"))
		caps->eightbitmime = true;
	else if (client_word_is(&kw, "REQUIRETLS"))
		caps->requiretls = true;
	else if (client_word_is(&kw, "AUTH"))
		while (client_word(&p, end, &mech)) {
			if (client_word_is(&mech, "PLAIN"))
				caps->auth_plain = true;
			else if (client_word_is(&mech, "LOGIN"))
				caps->auth_login = true;
		}
}

/* client_reply - one whole reply, on a deadline of its own; EHLO's
 * keywords go into caps when caps is not NULL */
int
client_reply(struct client *c, struct smtp_client_reply *r,
    struct client_caps *caps)
{
	const char	*l = NULL;
	size_t		 n = 0, lines = 0;
	int		 code = -1, lc;

	client_step(c, c->step);
	r->code = 0;
	r->text[0] = '\0';
	if (caps != NULL)
		memset(caps, 0, sizeof(*caps));
	for (;;) {
		if (client_line(c, &l, &n) == -1)
			return -1;
		if (++lines > CLIENT_REPLY_LINES)
			return client_lost(c, "reply of more than %d lines",
			    CLIENT_REPLY_LINES);
		if (n < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' ||
		    l[1] > '9' || l[2] < '0' || l[2] > '9' ||
		    (n > 3 && l[3] != ' ' && l[3] != '-'))
			return client_lost(c, "malformed reply");
		lc = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
		if (code != -1 && lc != code)
			return client_lost(c, "malformed reply (%d after %d)",
			    lc, code);
		code = lc;
		client_text_add(r, l, n);
		if (caps != NULL && lines > 1 && n > 4)
			client_cap(caps, l + 4, n - 4);
		if (n == 3 || l[3] == ' ')
			break;
	}
	r->code = code;
	if (c->replies++ == 0)
		c->first_code = code;
	return 0;
}

/* client_exchange - send one command (queued ones with it) and read
 * its reply */
int
client_exchange(struct client *c, const char *step,
    struct smtp_client_reply *r, struct client_caps *caps)
{
	c->step = step;
	if (client_flush(c) == -1)
		return -1;
	return client_reply(c, r, caps);
}

/* --- connecting ------------------------------------------------------- */

/* client_connected - the addresses connected to and from, for TLS-RPT
 * (receiving-ip, sending-mta-ip); 0 */
static int
client_connected(struct client *c, const struct sockaddr *sa,
    socklen_t salen)
{
	struct smtp_client_tls *t = c->o->tls_out;
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);

	if (t == NULL || sa->sa_family == AF_UNIX)
		return 0;
	if (getnameinfo(sa, salen, t->peer_ip, sizeof(t->peer_ip), NULL, 0,
	    NI_NUMERICHOST) != 0)
		t->peer_ip[0] = '\0';
	if (getsockname(c->fd, (struct sockaddr *)&local, &llen) == -1 ||
	    getnameinfo((struct sockaddr *)&local, llen, t->local_ip,
	    sizeof(t->local_ip), NULL, 0, NI_NUMERICHOST) != 0)
		t->local_ip[0] = '\0';
	return 0;
}

/* client_connect_to - a non-blocking connect bounded by the timeout */
static int
client_connect_to(struct client *c, const struct sockaddr *sa,
    socklen_t salen)
{
	int		 soerr = 0;
	socklen_t	 sl = sizeof(soerr);

	if ((c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		return client_fail(c, "socket: %s", strerror(errno));
	client_step(c, "connect");
	if (connect(c->fd, sa, salen) == 0)
		return client_connected(c, sa, salen);
	if (errno != EINPROGRESS && errno != EINTR) {
		client_fail(c, "%s", strerror(errno));
		goto fail;
	}
	if (client_wait(c, POLLOUT) == -1)
		goto fail;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1)
		soerr = errno;
	if (soerr == 0)
		return client_connected(c, sa, salen);
	client_fail(c, "%s", strerror(soerr));
fail:
	close(c->fd);
	c->fd = -1;
	return -1;
}

/* client_connect - to the unix socket, or to each address of host in
 * turn until one answers */
int
client_connect(struct client *c)
{
	const struct smtp_client_opts *o = c->o;
	const char	*port = o->port != NULL ? o->port : o->lmtp ? "24" : "25";
	struct addrinfo	 hints, *res, *ai;
	struct sockaddr_un sun;
	int		 rc;

	c->step = "connect";
	if (o->unix_path != NULL) {
		snprintf(c->peer, sizeof(c->peer), "%s", o->unix_path);
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(o->unix_path) >= sizeof(sun.sun_path))
			return client_fail(c, "socket path too long");
		memcpy(sun.sun_path, o->unix_path, strlen(o->unix_path));
		return client_connect_to(c, (struct sockaddr *)&sun,
		    sizeof(sun));
	}
	snprintf(c->peer, sizeof(c->peer), "%s:%s",
	    o->host != NULL ? o->host : "", port);
	if (o->host == NULL)
		return client_fail(c, "no host to connect to");
	/* An address is taken as is; a name (the runner normally gives
	 * addresses it resolved itself) goes to the system's resolver. */
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if ((rc = getaddrinfo(o->host, port, &hints, &res)) == EAI_NONAME) {
		hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
		rc = getaddrinfo(o->host, port, &hints, &res);
	}
	if (rc != 0)
		return client_fail(c, "%s", gai_strerror(rc));
	rc = -1;
	for (ai = res; ai != NULL && rc == -1; ai = ai->ai_next)
		rc = client_connect_to(c, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(res);
	return rc;
}

/* --- TLS ---------------------------------------------------------------- */

/* client_tls_failed - why TLS did not happen, for the log and TLS-RPT */
void
client_tls_failed(struct client *c, enum tlsrpt_result result,
    const char *fmt, ...)
{
	struct smtp_client_tls *t = c->o->tls_out;
	va_list	 ap;

	if (t == NULL)
		return;
	t->used = false;
	t->result = result;
	va_start(ap, fmt);
	vsnprintf(t->detail, sizeof(t->detail), fmt, ap);
	va_end(ap);
}

/* client_tls_result - RFC 8460's name for a refused certificate */
static enum tlsrpt_result
client_tls_result(enum tls_verify_failure f)
{
	switch (f) {
	case TLS_VERIFY_EXPIRED:
		return TLSRPT_CERT_EXPIRED;
	case TLS_VERIFY_NAME:
		return TLSRPT_CERT_HOST_MISMATCH;
	case TLS_VERIFY_UNTRUSTED:
		return TLSRPT_CERT_NOT_TRUSTED;
	case TLS_VERIFY_NO_TLSA:	/* RFC 8460 4.3.1: a DANE mismatch */
	default:
		return TLSRPT_VALIDATION_FAILURE;
	}
}

/* client_tls_report - for verify_report: what the certificate check
 * found, which the session did not act on (auth stays none) */
static void
client_tls_report(struct client *c, struct smtp_client_tls *t)
{
	const char	*why;

	if (c->report_err[0] != '\0') {
		/* no check could be made (the CA file): not a success */
		t->result = TLSRPT_VALIDATION_FAILURE;
		snprintf(t->detail, sizeof(t->detail), "certificate not "
		    "checked: %s", c->report_err);
	} else if ((why = tls_conn_verify_report(c->tls)) != NULL) {
		t->result = client_tls_result(tls_conn_verify_failure(c->tls));
		snprintf(t->detail, sizeof(t->detail), "certificate not "
		    "trusted: %s", why);
	}
}

/* client_tls_done - what the handshake gave, for the log and TLS-RPT */
static void
client_tls_done(struct client *c)
{
	struct smtp_client_tls *t = c->o->tls_out;

	if (t == NULL)
		return;
	t->used = true;
	t->result = TLSRPT_SUCCESS;
	t->detail[0] = '\0';
	snprintf(t->version, sizeof(t->version), "%s",
	    tls_conn_version(c->tls));
	snprintf(t->cipher, sizeof(t->cipher), "%s", tls_conn_cipher(c->tls));
	switch (tls_conn_peer_auth(c->tls)) {
	case TLS_PEER_DANE:
		t->auth = CLIENT_AUTH_DANE;
		break;
	case TLS_PEER_CA:
		t->auth = CLIENT_AUTH_CA;
		break;
	default:
		t->auth = CLIENT_AUTH_NONE;
		break;
	}
	if (c->o->tls == CLIENT_TLS_OPPORTUNISTIC && c->o->verify_report)
		client_tls_report(c, t);
}

/* client_tls_new - the TLS connection as opts->tls says */
static struct tls_conn *
client_tls_new(struct client *c, char *err, size_t errlen)
{
	const struct smtp_client_opts *o = c->o;
	const char	*name = o->verify_name != NULL ? o->verify_name : o->host;
	struct tls_tlsa	*rr;
	struct tls_conn	*t;

	if (o->tls == CLIENT_TLS_OPPORTUNISTIC && o->verify_report) {
		if ((t = tls_client_report_new(c->fd, name, o->ca_file,
		    c->report_err, sizeof(c->report_err))) != NULL)
			return t;
		/* TLS all the same, unchecked: client_tls_report says so */
	}
	if (o->tls != CLIENT_TLS_DANE)
		return tls_client_new(c->fd, name, o->tls ==
		    CLIENT_TLS_REQUIRED, o->ca_file, err, errlen);
	if ((rr = calloc(o->ntlsa > 0 ? o->ntlsa : 1, sizeof(*rr))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < o->ntlsa; i++) {
		rr[i].usage = o->tlsa[i].usage;
		rr[i].selector = o->tlsa[i].selector;
		rr[i].mtype = o->tlsa[i].mtype;
		rr[i].data = o->tlsa[i].data;
		rr[i].len = o->tlsa[i].len;
	}
	t = tls_client_dane_new(c->fd, name, o->dane_mx_name, rr, o->ntlsa,
	    err, errlen);
	free(rr);
	return t;
}

/* client_handshake - TLS on the connection, after the server's 220;
 * the certificate checked as opts->tls says */
int
client_handshake(struct client *c)
{
	const char	*req = c->o->tls == CLIENT_TLS_OPPORTUNISTIC ? "" :
			    c->o->tls == CLIENT_TLS_DANE ? "DANE: " :
			    "TLS required but ";
	char		 err[256];
	short		 ev;

	c->step = "STARTTLS";
	/* Anything after the 220 was sent before TLS and would be read as
	 * if it came inside it (the STARTTLS injection attack). */
	if (c->inpos != c->inlen) {
		client_tls_failed(c, TLSRPT_VALIDATION_FAILURE, "data after "
		    "the STARTTLS reply");
		return client_lost(c, "%sdata after the STARTTLS reply", req);
	}
	if ((c->tls = client_tls_new(c, err, sizeof(err))) == NULL) {
		client_tls_failed(c, c->o->tls == CLIENT_TLS_DANE ?
		    TLSRPT_TLSA_INVALID : TLSRPT_VALIDATION_FAILURE, "%s",
		    err);
		return client_lost(c, "%sno TLS: %s", req, err);
	}
	client_step(c, "STARTTLS");
	for (;;) {
		switch (tls_handshake(c->tls)) {
		case TLS_DONE:
			client_tls_done(c);
			return 0;
		case TLS_WANT_READ:
			ev = POLLIN;
			break;
		case TLS_WANT_WRITE:
			ev = POLLOUT;
			break;
		case TLS_EOF:
			client_tls_failed(c, TLSRPT_VALIDATION_FAILURE,
			    "handshake: connection closed by the server");
			return client_lost(c, "%sTLS handshake: connection "
			    "closed by the server", req);
		default:
			client_tls_failed(c, client_tls_result(
			    tls_conn_verify_failure(c->tls)), "%s",
			    tls_conn_error(c->tls));
			return client_lost(c, "%sTLS %s", req,
			    tls_conn_error(c->tls));
		}
		if (client_wait(c, ev) == -1) {
			client_tls_failed(c, TLSRPT_VALIDATION_FAILURE,
			    "handshake: %s", c->fail.text);
			return -1;
		}
	}
}

void
client_bye(struct client *c)
{
	if (c == NULL || c->lost || c->quit_sent)
		return;
	c->timeout = 1;
	c->step = "QUIT";
	if (client_cmd(c, "QUIT") == 0 && client_flush(c) == 0)
		c->quit_sent = true;
}

void
client_close(struct client *c, bool quit)
{
	struct smtp_client_reply r;

	if (c == NULL)
		return;
	/* An idle session's last words: its reply awaited a second at
	 * most (a close right after QUIT may cost the server the QUIT). */
	if (quit && !c->lost) {
		c->timeout = 1;
		c->step = "QUIT";
		if (c->quit_sent || client_cmd(c, "QUIT") == 0)
			(void)client_exchange(c, "QUIT", &r, NULL);
	}
	free(c->mime8);
	tls_conn_free(c->tls);
	if (c->fd != -1)
		close(c->fd);
	free(c);
}
