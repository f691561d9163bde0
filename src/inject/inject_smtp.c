/*
 * inject_smtp - the hand-off to the daemon: SMTP over local_socket, as
 * any client would speak it on port 25, so that the daemon's engine
 * applies its own policy (the trusted local role, max_message_size,
 * max_recipients) and commits with the durability of every message
 * (its 250 after the fsync).
 *
 * Blocking I/O with a timeout on each step: the injector is one short
 * process. A reply is read whole (every line of a multi-line one) and
 * kept for the error message.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include "inject/inject.h"

#define STEP_TIMEOUT	300	/* seconds: RFC 5321 4.5.3.2's least */
#define END_TIMEOUT	600	/* the final reply: the commit's fsync */

struct peer {
	int	 fd;
	bool	 verbose;
	char	 in[4096];
	size_t	 inlen;
	char	 reply[INJECT_REPLY_MAX];	/* the last reply, lines joined */
	int	 code;			/* its code; -1: none (gone) */
};

/* peer_connect - the daemon's socket; EX_TEMPFAIL when it is not there */
static int
peer_connect(struct peer *p, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "local_socket %s: path too long", path);
		return EX_CONFIG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((p->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return EX_OSERR;
	}
	if (connect(p->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		snprintf(err, errlen, "cannot reach the sallyport daemon at "
		    "%s: %s (is it running?); the message was not sent", path,
		    strerror(errno));
		close(p->fd);
		p->fd = -1;
		return EX_TEMPFAIL;
	}
	return 0;
}

/* peer_wait - until fd is ready for events or the timeout */
static bool
peer_wait(int fd, short events, int seconds)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n;

	while ((n = poll(&pfd, 1, seconds * 1000)) == -1 && errno == EINTR)
		;
	return n == 1;
}

/* peer_write - all of data; -1 when the daemon is gone or stuck */
static int
peer_write(struct peer *p, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if (!peer_wait(p->fd, POLLOUT, STEP_TIMEOUT))
			return -1;
		if ((n = send(p->fd, data, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* peer_reply - one whole reply into p->reply and p->code; -1 gone */
static int
peer_reply(struct peer *p, int seconds)
{
	size_t rlen = 0;
	char *nl;
	ssize_t n;

	p->code = -1;
	p->reply[0] = '\0';
	for (;;) {
		while ((nl = memchr(p->in, '\n', p->inlen)) == NULL) {
			if (p->inlen == sizeof(p->in) ||
			    !peer_wait(p->fd, POLLIN, seconds) ||
			    (n = read(p->fd, p->in + p->inlen,
			    sizeof(p->in) - p->inlen)) <= 0)
				return -1;
			p->inlen += (size_t)n;
		}
		size_t len = (size_t)(nl - p->in);
		bool last = len < 4 || p->in[3] != '-';

		if (len > 0 && p->in[len - 1] == '\r')
			len--;
		if (p->verbose)
			fprintf(stderr, "<<< %.*s\n", (int)len, p->in);
		if (rlen + len + 2 < sizeof(p->reply)) {
			if (rlen > 0)
				p->reply[rlen++] = ' ';
			memcpy(p->reply + rlen, p->in, len);
			rlen += len;
			p->reply[rlen] = '\0';
		}
		memmove(p->in, nl + 1, p->inlen - (size_t)(nl + 1 - p->in));
		p->inlen -= (size_t)(nl + 1 - p->in);
		if (last)
			break;
	}
	if (rlen < 3 || p->reply[0] < '1' || p->reply[0] > '5')
		return -1;
	p->code = atoi(p->reply);
	return 0;
}

/* peer_cmd - one command line and its reply; -1 when the daemon is gone */
static int
peer_cmd(struct peer *p, const char *fmt, ...)
{
	char line[INJECT_ADDR_MAX + 128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	/* A -f with a line break must not become a second command. */
	if (n < 0 || (size_t)n >= sizeof(line) - 2 ||
	    strpbrk(line, "\r\n") != NULL)
		return -1;
	if (p->verbose)
		fprintf(stderr, ">>> %s\n", line);
	memcpy(line + n, "\r\n", 3);
	if (peer_write(p, line, (size_t)n + 2) == -1)
		return -1;
	return peer_reply(p, STEP_TIMEOUT);
}

/* gone - the daemon closed or stopped answering mid-way */
static int
gone(char *err, size_t errlen, const char *when)
{
	snprintf(err, errlen, "the sallyport daemon went away %s; the "
	    "message was not sent", when);
	return EX_TEMPFAIL;
}

/* refused - a reply that ends the attempt: its sysexits code (4xx:
 * try again; 5xx: by the step), the reply in err */
static int
refused(const struct peer *p, int ex5, const char *what, char *err,
    size_t errlen)
{
	snprintf(err, errlen, "%s refused by the sallyport daemon: %s; the "
	    "message was not sent", what, p->reply);
	return p->code >= 400 && p->code < 500 ? EX_TEMPFAIL : ex5;
}

/* send_body - the spooled message, then the end of data */
static int
send_body(struct peer *p, FILE *fp)
{
	char buf[65536];
	size_t n;

	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		if (peer_write(p, buf, n) == -1)
			return -1;
	if (ferror(fp))
		return -2;
	return peer_write(p, ".\r\n", 3);
}

/* dialogue - greeting to the end of data; 0 or a sysexits code */
static int
dialogue(struct peer *p, const struct inject_send *s, char *err,
    size_t errlen)
{
	const struct inject_msg *m = s->msg;
	int rc;

	if (peer_reply(p, STEP_TIMEOUT) == -1)
		return gone(err, errlen, "before its greeting");
	if (p->code != 220)
		return refused(p, EX_UNAVAILABLE, "the connection", err,
		    errlen);
	if (peer_cmd(p, "EHLO localhost") == -1)
		return gone(err, errlen, "at EHLO");
	if (p->code != 250)
		return refused(p, EX_UNAVAILABLE, "EHLO", err, errlen);
	if (peer_cmd(p, "MAIL FROM:<%s> SIZE=%llu%s%s", s->sender,
	    (unsigned long long)m->size, m->eightbit ? " BODY=8BITMIME" : "",
	    s->smtputf8 ? " SMTPUTF8" : "") == -1)
		return gone(err, errlen, "at MAIL");
	if (p->code != 250)
		return refused(p, EX_DATAERR, "the sender", err, errlen);
	for (size_t i = 0; i < s->rcpts->n; i++) {
		char what[INJECT_ADDR_MAX + 32];

		if (peer_cmd(p, "RCPT TO:<%s>", s->rcpts->v[i]) == -1)
			return gone(err, errlen, "at RCPT");
		if (p->code != 250 && p->code != 251) {
			snprintf(what, sizeof(what), "recipient <%s>",
			    s->rcpts->v[i]);
			return refused(p, EX_NOUSER, what, err, errlen);
		}
	}
	if (peer_cmd(p, "DATA") == -1)
		return gone(err, errlen, "at DATA");
	if (p->code != 354)
		return refused(p, EX_UNAVAILABLE, "DATA", err, errlen);
	if ((rc = send_body(p, m->fp)) == -2) {
		snprintf(err, errlen, "temporary file: %s", strerror(errno));
		return EX_IOERR;
	}
	if (rc == -1 || peer_reply(p, END_TIMEOUT) == -1)
		return gone(err, errlen, "before its answer to the message");
	if (p->code != 250)
		return refused(p, EX_DATAERR, "the message", err, errlen);
	if (s->verbose)
		fprintf(stderr, "sallyport-sendmail: %s\n", p->reply);
	return 0;
}

int
inject_smtp_send(const struct inject_send *s, char *err, size_t errlen)
{
	struct peer *p;
	int rc;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return EX_OSERR;
	}
	p->verbose = s->verbose;
	if ((rc = peer_connect(p, s->socket, err, errlen)) == 0) {
		/* Refused half-way: nothing was queued, RSET is moot. */
		rc = dialogue(p, s, err, errlen);
		if (p->code > 0)
			(void)peer_cmd(p, "QUIT");
		close(p->fd);
	}
	free(p);
	return rc;
}

/* relay_copy - what one side has to the other; false when it ended */
static bool
relay_copy(int from, int to)
{
	char buf[16384];
	ssize_t n, w;

	if ((n = read(from, buf, sizeof(buf))) <= 0)
		return n == -1 && errno == EINTR;
	for (ssize_t off = 0; off < n; off += w)
		if ((w = write(to, buf + off, (size_t)(n - off))) == -1 &&
		    errno != EINTR)
			return false;
		else if (w == -1)
			w = 0;
	return true;
}

int
inject_smtp_relay(const char *socket, char *err, size_t errlen)
{
	static const char down[] = "421 4.3.2 The sallyport daemon cannot "
	    "be reached\r\n";
	struct peer p;
	struct pollfd pfd[2];
	bool in_open = true;
	int rc;

	memset(&p, 0, sizeof(p));
	if ((rc = peer_connect(&p, socket, err, errlen)) != 0) {
		(void)!write(STDOUT_FILENO, down, sizeof(down) - 1);
		return rc;
	}
	for (;;) {
		pfd[0].fd = p.fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = in_open ? STDIN_FILENO : -1;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents && !relay_copy(p.fd, STDOUT_FILENO))
			break;		/* the daemon closed: QUIT, or 421 */
		if (in_open && pfd[1].revents &&
		    !relay_copy(STDIN_FILENO, p.fd)) {
			in_open = false;
			shutdown(p.fd, SHUT_WR);
		}
	}
	close(p.fd);
	return 0;
}
