/*
 * selftest_remote - the probes over TCP against a running server, as
 * the reference's telnet session did: `sallyport --selftest HOST[:PORT]`.
 *
 * A first session only reads the greeting and the EHLO reply: the
 * greeting names SERVER_HOST, the connection gives SERVER_IP and our
 * own address (TESTER_IP). Then each probe gets its own connection to
 * the same address. This is a command-line tool, not the daemon: it
 * blocks, with poll() bounding every wait. Everything the server sends
 * is bounded here and escaped by the report.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/deadline.h"
#include "lib/netaddr.h"
#include "lib/proxy.h"
#include "sec/tls.h"
#include "selftest/selftest.h"

#define REMOTE_IN_MAX		(64 * 1024)	/* one reply, all its lines */
#define REMOTE_TIMEOUT		10		/* seconds per reply */
#define REPLY_LINES_MAX		100
/* The client a --proxy header names (RFC 5737). */
#define PROXY_CLAIM		"203.0.113.7"

struct st_remote {
	struct sockaddr_storage	 addr;		/* the server */
	socklen_t		 addrlen;
	struct sockaddr_storage	 local;		/* our end, last connection */
	int			 fd;
	int			 timeout_ms;
	char			 in[REMOTE_IN_MAX];
	size_t			 inlen;
	int			 last_errno;
	bool			 proxy;		/* send a PROXY v1 header */
	char			 claim[NETADDR_STRLEN];	/* the client it names */
	char			 host[ST_NAME_MAX + 1];	/* as given: TLS name */
	bool			 implicit;	/* TLS from the first byte */
	struct tls_conn		*tls;		/* this session's, once on */
	bool			 verified;	/* its certificate passed */
	char			 tls_err[ST_NOTE_MAX];
};

/* --- replies ----------------------------------------------------------- */

long
st_parse_reply(const char *in, size_t len, int *code, char **text)
{
	size_t pos = 0, lines = 0;
	const char *nl, *l;
	int first = -1, c;

	for (;;) {
		size_t n;

		if ((nl = memchr(in + pos, '\n', len - pos)) == NULL)
			return 0;		/* the rest has not come yet */
		l = in + pos;
		n = (size_t)(nl - l);
		if (n > 0 && l[n - 1] == '\r')
			n--;
		if (n < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' ||
		    l[1] > '9' || l[2] < '0' || l[2] > '9' ||
		    (n > 3 && l[3] != ' ' && l[3] != '-'))
			return -1;
		c = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
		if (first != -1 && c != first)
			return -1;
		first = c;
		pos = (size_t)(nl - in) + 1;
		if (++lines > REPLY_LINES_MAX)
			return -1;
		if (n == 3 || l[3] == ' ')
			break;			/* the last line */
	}
	if (text) {
		/* The lines again, CRLF turned into "\n", the last dropped. */
		char *t = malloc(pos + 1), *o = t;

		if (t == NULL)
			return -1;
		for (size_t i = 0; i < pos; i++)
			if (in[i] != '\r' || i + 1 >= pos || in[i + 1] != '\n')
				*o++ = in[i];
		while (o > t && o[-1] == '\n')
			o--;
		*o = '\0';
		*text = t;
	}
	*code = first;
	return (long)pos;
}

/* --- transport --------------------------------------------------------- */

/* wait_fd - poll for events until the deadline; false on timeout */
static bool
wait_fd(int fd, short events, const struct timespec *deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&pfd, 1, deadline_left(deadline));
	while (n == -1 && errno == EINTR);
	return n > 0;
}

/* connect_to - a connected non-blocking socket, or -1 (errno set) */
static int
connect_to(const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	struct timespec deadline;
	int fd, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		return -1;
	if (connect(fd, sa, len) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	deadline_in(&deadline, (unsigned long)timeout_ms);
	if (!wait_fd(fd, POLLOUT, &deadline)) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1)
		goto fail;
	if (soerr == 0)
		return fd;
	errno = soerr;
fail:
	soerr = errno;
	close(fd);
	errno = soerr;
	return -1;
}

/* tls_wait - wait as TLS asks; false on timeout or failure */
static bool
tls_wait(struct st_remote *r, enum tls_status ts,
    const struct timespec *deadline)
{
	if (ts != TLS_WANT_READ && ts != TLS_WANT_WRITE)
		return false;
	if (!wait_fd(r->fd, ts == TLS_WANT_READ ? POLLIN : POLLOUT,
	    deadline)) {
		r->last_errno = ETIMEDOUT;
		return false;
	}
	return true;
}

/* r_recv - some bytes, plain or through TLS: their count, 0 at the end
 * of the connection, -1 on failure or timeout (last_errno ETIMEDOUT) */
static ssize_t
r_recv(struct st_remote *r, char *p, size_t len,
    const struct timespec *deadline)
{
	enum tls_status ts;
	ssize_t got;
	size_t n;

	for (;;) {
		if (r->tls) {
			ts = tls_read(r->tls, p, len, &n);
			if (ts == TLS_DONE)
				return (ssize_t)n;
			if (ts == TLS_EOF)
				return 0;
			if (!tls_wait(r, ts, deadline))
				return -1;
			continue;
		}
		if (!wait_fd(r->fd, POLLIN, deadline)) {
			r->last_errno = ETIMEDOUT;
			return -1;
		}
		got = recv(r->fd, p, len, 0);
		if (got >= 0)
			return got;
		if (errno != EINTR && errno != EAGAIN) {
			r->last_errno = errno;
			return -1;
		}
	}
}

/* r_send - all of p, plain or through TLS; 0, or -1 */
static int
r_send(struct st_remote *r, const char *p, size_t len,
    const struct timespec *deadline)
{
	enum tls_status ts;
	size_t off = 0, n;
	ssize_t got;

	while (off < len) {
		if (r->tls) {
			ts = tls_write(r->tls, p + off, len - off, &n);
			if (ts == TLS_DONE)
				off += n;
			else if (!tls_wait(r, ts, deadline))
				return -1;
			continue;
		}
		if (!wait_fd(r->fd, POLLOUT, deadline)) {
			r->last_errno = ETIMEDOUT;
			return -1;
		}
		got = send(r->fd, p + off, len - off, MSG_NOSIGNAL);
		if (got == -1 && errno != EINTR && errno != EAGAIN) {
			r->last_errno = errno;
			return -1;
		}
		if (got > 0)
			off += (size_t)got;
	}
	return 0;
}

/* start_tls - the handshake on the connection; 0, or -1 with tls_err */
static int
start_tls(struct st_remote *r)
{
	struct timespec deadline;
	enum tls_status ts;
	const char *why;

	r->verified = false;
	if ((r->tls = tls_client_report_new(r->fd, r->host, NULL, r->tls_err,
	    sizeof(r->tls_err))) == NULL)
		return -1;
	deadline_in(&deadline, (unsigned long)r->timeout_ms);
	while ((ts = tls_handshake(r->tls)) != TLS_DONE)
		if (!tls_wait(r, ts, &deadline)) {
			snprintf(r->tls_err, sizeof(r->tls_err), "TLS "
			    "handshake failed: %s", ts == TLS_FAIL ?
			    tls_conn_error(r->tls) : ts == TLS_EOF ?
			    "connection closed" : "timeout");
			tls_conn_free(r->tls);
			r->tls = NULL;
			return -1;
		}
	why = tls_conn_verify_report(r->tls);
	r->verified = why == NULL;
	snprintf(r->tls_err, sizeof(r->tls_err), "%s%s", why ? "certificate "
	    "not verified for " : "", why ? r->host : "");
	if (why) {
		size_t n = strlen(r->tls_err);

		snprintf(r->tls_err + n, sizeof(r->tls_err) - n, ": %s", why);
	}
	return 0;
}

/* read_reply - one whole reply into x; -1 with x->error when none */
static int
read_reply(struct st_remote *r, struct st_exchange *x)
{
	struct timespec deadline;
	ssize_t got;
	long n;

	deadline_in(&deadline, (unsigned long)r->timeout_ms);
	for (;;) {
		n = st_parse_reply(r->in, r->inlen, &x->code, &x->reply);
		if (n > 0) {
			memmove(r->in, r->in + n, r->inlen - (size_t)n);
			r->inlen -= (size_t)n;
			return 0;
		}
		if (n == -1) {
			x->error = "malformed reply";
			return -1;
		}
		if (r->inlen == sizeof(r->in)) {
			x->error = "reply too long";
			return -1;
		}
		got = r_recv(r, r->in + r->inlen, sizeof(r->in) - r->inlen,
		    &deadline);
		if (got == 0) {
			x->error = "connection closed by the server";
			return -1;
		}
		if (got == -1) {
			x->error = r->last_errno == ETIMEDOUT ? "no reply within "
			    "the timeout" : "connection failed";
			return -1;
		}
		r->inlen += (size_t)got;
	}
}

/* send_all - data[0..len) within the timeout, plain or through TLS;
 * -1 with *why */
static int
send_all(struct st_remote *r, const char *data, size_t len, const char **why)
{
	struct timespec deadline;

	deadline_in(&deadline, (unsigned long)r->timeout_ms);
	if (r_send(r, data, len, &deadline) == 0)
		return 0;
	*why = r->last_errno == ETIMEDOUT ? "could not send within the "
	    "timeout" : "connection failed while sending";
	return -1;
}

/* send_proxy - the PROXY v1 header naming r->claim as the client
 * (our port as its port); -1 with *why */
static int
send_proxy(struct st_remote *r, const char **why)
{
	char line[PROXY_V1_MAX + 1], dst[NETADDR_STRLEN];
	const struct sockaddr *sa = (const struct sockaddr *)&r->addr;
	unsigned sport, dport;
	bool v6 = strchr(r->claim, ':') != NULL;
	int n;

	netaddr_format(sa, dst, sizeof(dst));
	if ((strchr(dst, ':') != NULL) != v6)
		snprintf(dst, sizeof(dst), "%s", v6 ? "2001:db8::1" :
		    "192.0.2.1");
	sport = ntohs(r->local.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&r->local)->sin6_port :
	    ((struct sockaddr_in *)&r->local)->sin_port);
	dport = ntohs(sa->sa_family == AF_INET6 ?
	    ((const struct sockaddr_in6 *)sa)->sin6_port :
	    ((const struct sockaddr_in *)sa)->sin_port);
	n = snprintf(line, sizeof(line), "PROXY %s %s %s %u %u\r\n",
	    v6 ? "TCP6" : "TCP4", r->claim, dst, sport, dport);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		*why = "PROXY header too long";
		return -1;
	}
	return send_all(r, line, (size_t)n, why);
}

static int
r_open(void *ctx, struct st_exchange *greeting)
{
	struct st_remote *r = ctx;
	socklen_t sl = sizeof(r->local);

	r->inlen = 0;
	/* The first session uses the connection connect_first made. */
	if (r->fd == -1 && (r->fd = connect_to((struct sockaddr *)&r->addr,
	    r->addrlen, r->timeout_ms)) == -1) {
		r->last_errno = errno;
		greeting->error = "cannot connect";
		return -1;
	}
	if (getsockname(r->fd, (struct sockaddr *)&r->local, &sl) == -1)
		memset(&r->local, 0, sizeof(r->local));
	if (r->proxy && send_proxy(r, &greeting->error) == -1)
		return -1;
	if (r->implicit) {
		if (start_tls(r) == -1) {
			greeting->error = "TLS handshake failed";
			r->last_errno = EPROTO;
			return -1;
		}
		greeting->tls = true;
	}
	read_reply(r, greeting);
	return 0;
}

static int
r_command(void *ctx, struct st_exchange *x)
{
	struct st_remote *r = ctx;
	char line[ST_LINE_MAX + 2];
	int len, rc;

	x->tls = r->tls != NULL;
	if (x->secret && !(r->tls && r->verified)) {
		/* A password goes only to the server the name says. */
		x->error = r->tls ? "not sent: the server's certificate was "
		    "not verified" : "not sent: not inside TLS";
		return -1;
	}
	len = snprintf(line, sizeof(line), "%s\r\n", x->secret ? x->secret :
	    x->sent);
	if (len < 0 || (size_t)len >= sizeof(line)) {
		explicit_bzero(line, sizeof(line));
		x->error = "not sent: command too long";
		return -1;
	}
	rc = send_all(r, line, (size_t)len, &x->error);
	explicit_bzero(line, sizeof(line));
	if (rc == -1)
		return -1;
	if (read_reply(r, x) == -1)
		return -1;
	if (x->kind == ST_STARTTLS && x->code == 220 && r->tls == NULL) {
		/* What came with the 220 was sent in clear: never used. */
		r->inlen = 0;
		if (start_tls(r) == -1) {
			x->error = "TLS handshake failed";
			return -1;
		}
	}
	/* 421: the server is closing the session (RFC 5321 3.8). */
	return x->code == 421 ? -1 : 0;
}

static void
r_close(void *ctx)
{
	struct st_remote *r = ctx;

	tls_conn_free(r->tls);
	r->tls = NULL;
	if (r->fd != -1)
		close(r->fd);
	r->fd = -1;
}

/* --- target ------------------------------------------------------------ */

int
st_split_target(const char *target, char *host, size_t hostlen, char *port,
    size_t portlen)
{
	const char *h = target, *p = NULL, *end;
	size_t hl;

	if (target[0] == '[') {
		if ((end = strchr(target, ']')) == NULL)
			return -1;
		h = target + 1;
		hl = (size_t)(end - h);
		if (end[1] == ':')
			p = end + 2;
		else if (end[1] != '\0')
			return -1;
	} else if ((end = strchr(target, ':')) != NULL &&
	    strchr(end + 1, ':') == NULL) {
		hl = (size_t)(end - target);
		p = end + 1;
	} else {
		hl = strlen(target);	/* a name, IPv4, or bare IPv6 */
	}
	if (hl == 0 || hl >= hostlen || memchr(h, '\0', hl))
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (p == NULL)
		p = "25";
	if (*p == '\0' || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p)
	    || atoi(p) < 1 || atoi(p) > 65535 || strlen(p) >= portlen)
		return -1;
	snprintf(port, portlen, "%s", p);
	return 0;
}

/* greeting_host - SERVER_HOST from "220 name ...", if it is a name */
static bool
greeting_host(const char *reply, char *out, size_t outlen)
{
	size_t n;

	if (reply == NULL || strlen(reply) < 5)
		return false;
	reply += 4;
	n = strcspn(reply, " \n");
	if (n >= outlen || !st_domain_name(reply, n))
		return false;
	memcpy(out, reply, n);
	out[n] = '\0';
	return true;
}

/* learn - the first session: who the server is, who we are */
static int
learn(struct selftest *st, struct st_remote *r, const struct st_transport *tr,
    const struct st_remote_opts *o)
{
	char ip[NETADDR_STRLEN];
	struct st_exchange *g;

	if (st_session(tr, st->p.ehlo, NULL, NULL, 0, &st->intro) == -1)
		return -1;
	g = &st->intro.v[0];
	netaddr_format((struct sockaddr *)&r->addr, st->p.server_ip,
	    sizeof(st->p.server_ip));
	snprintf(st->p.server_ip_note, sizeof(st->p.server_ip_note),
	    "the address connected to");
	netaddr_format((struct sockaddr *)&r->local, st->client,
	    sizeof(st->client));
	if (r->proxy) {
		snprintf(st->client_note, sizeof(st->client_note), "RFC 5737 "
		    "documentation address, named by the PROXY v1 header "
		    "this test sends first on each connection, from %s (in "
		    "the server's proxy_trusted, or the server closes)",
		    st->client);
		snprintf(st->client, sizeof(st->client), "%s", r->claim);
	} else
		snprintf(st->client_note, sizeof(st->client_note), "this "
		    "machine's address on the connection");
	snprintf(st->p.tester_ip, sizeof(st->p.tester_ip), "%s", st->client);
	st_other_ip(st->p.server_ip, st->p.other_ip, sizeof(st->p.other_ip));
	if (o->server_name) {
		snprintf(st->p.server_host, sizeof(st->p.server_host), "%s",
		    o->server_name);
		snprintf(st->p.server_host_note, sizeof(st->p.server_host_note),
		    "given with --server-name");
	} else if (g->code == 220 && greeting_host(g->reply,
	    st->p.server_host, sizeof(st->p.server_host))) {
		snprintf(st->p.server_host_note, sizeof(st->p.server_host_note),
		    "from the greeting");
	} else {
		/* No usable name: the address literal stands for it. */
		st_literal(st->p.server_ip, ip, sizeof(ip));
		snprintf(st->p.server_host, sizeof(st->p.server_host), "[%s]",
		    ip);
		snprintf(st->p.server_host_note, sizeof(st->p.server_host_note),
		    "the greeting names no host; the address literal instead "
		    "(name it with --server-name)");
	}
	return 0;
}

/* submission_port - the target is a submission port: TLS from the
 * first byte, or MAIL without AUTH refused with 530 (probe 5's) */
static bool
submission_port(const struct selftest *st, const struct st_remote *r)
{
	if (r->implicit)
		return true;
	for (size_t i = 0; i < ST_NPROBES; i++) {
		const struct st_row *row = &st->rows[i];

		if (row->probe && (row->probe->flags & ST_P_NULL_SENDER))
			for (size_t k = 0; k < row->t.n; k++)
				if (row->t.v[k].kind == ST_MAIL)
					return row->t.v[k].code == 530;
	}
	return false;
}

/* remote_submission - the checks of selftest_auth.c on the target when
 * it is a submission port; the login's own sender is the login when it
 * is an address, else the null sender */
static void
remote_submission(struct selftest *st, struct st_remote *r,
    const struct st_transport *tr, const struct st_creds *creds)
{
	const char *user = creds ? creds->user : "", *at = strchr(user, '@');
	size_t first = st->nchecks;
	struct st_view v;
	struct st_check *c;

	if (!submission_port(st, r)) {
		if ((c = st_add_check(st, "submission: AUTH only after TLS, "
		    "MAIL without AUTH refused")) != NULL)
			snprintf(c->note, sizeof(c->note), "not applicable: "
			    "the target takes MAIL without AUTH (an MX); name "
			    "a submission port (587, or 465 with TLS) to test "
			    "it%s", creds ? " and --auth-user" : "");
		return;
	}
	memset(&v, 0, sizeof(v));
	v.where = v.listener = st->target;
	v.role = r->implicit ? ROLE_SUBMISSIONS : ROLE_SUBMISSION;
	v.login_check = -1;
	if (at != NULL)
		snprintf(v.own, sizeof(v.own), "%s", user);
	snprintf(v.foreign, sizeof(v.foreign), "%s@%s", at && at - user == 4
	    && strncasecmp(user, "ksch", 4) == 0 ? "ksch-other" : "ksch",
	    at ? at + 1 : st->p.server_host);
	st_check_submission(st, tr, &v);
	st_check_auth(st, tr, creds, &v);
	/* Why a password was not sent, or STARTTLS failed. */
	for (size_t i = first; i < st->nchecks && r->tls_err[0]; i++) {
		c = &st->checks[i];
		if (c->verdict == ST_ERROR || c->verdict == ST_FAIL) {
			size_t n = strlen(c->note);

			snprintf(c->note + n, sizeof(c->note) - n, "%s%s",
			    n ? "; " : "", r->tls_err);
		}
	}
}

/* connect_first - connect to the first address of host that accepts
 * us; later sessions go to the same address */
static int
connect_first(struct st_remote *r, const char *host, const char *port,
    char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	int rc, fd, e = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(r->addr))
			continue;
		if ((fd = connect_to(ai->ai_addr, ai->ai_addrlen,
		    r->timeout_ms)) == -1) {
			e = errno;
			continue;
		}
		r->fd = fd;
		memcpy(&r->addr, ai->ai_addr, ai->ai_addrlen);
		r->addrlen = ai->ai_addrlen;
		freeaddrinfo(res);
		return 0;
	}
	freeaddrinfo(res);
	snprintf(err, errlen, "cannot connect to %s port %s: %s", host, port,
	    strerror(e ? e : ECONNREFUSED));
	return -1;
}

/* second_target - the probes against o->second (the same server by its
 * other family, say), as a run compared with the first target's */
static int
second_target(struct selftest *st, const struct st_remote_opts *o,
    char *err, size_t errlen)
{
	struct st_remote_opts o2 = *o;
	struct selftest *sub;
	char title[ST_NOTE_MAX * 3];
	struct st_check *c;
	struct st_run *run;
	int rc = -1;

	if ((sub = calloc(1, sizeof(*sub))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	o2.second = NULL;
	o2.creds = NULL;	/* its checks are not kept: no login there */
	if (selftest_remote(o->second, &o2, sub, err, errlen) == -1)
		goto out;
	snprintf(title, sizeof(title), "Probes to the second target %s from "
	    "%s (%s)", sub->target, sub->client, sub->client_note);
	if ((run = st_add_run(st, title, sub->target, sub->client)) == NULL)
		goto oom;
	/* The rows move over, transcripts and all. */
	memcpy(run->rows, sub->rows, sizeof(run->rows));
	memset(sub->rows, 0, sizeof(sub->rows));
	snprintf(title, sizeof(title), "second target %s: the probes get the "
	    "answers of %s, and none relays", sub->target, st->target);
	if ((c = st_add_check(st, title)) == NULL)
		goto oom;
	st_compare_runs(c, "first target", st->rows, "second target",
	    run->rows);
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	selftest_free(sub);
	free(sub);
	return rc;
}

int
selftest_remote(const char *target, const struct st_remote_opts *o,
    struct selftest *st, char *err, size_t errlen)
{
	static const struct st_remote_opts none;
	struct st_remote *r;
	struct st_transport tr;
	struct timespec t0, t1;
	char host[ST_NAME_MAX + 1], port[8], me[NETADDR_STRLEN];
	struct st_check *c;
	int rc = -1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(st, 0, sizeof(*st));
	st->remote = true;
	if (o == NULL)
		o = &none;
	snprintf(st->target, sizeof(st->target), "%s", target);
	snprintf(st->where, sizeof(st->where), "%s", target);
	if (st_split_target(target, host, sizeof(host), port, sizeof(port))
	    == -1) {
		snprintf(err, errlen, "\"%.100s\": expected HOST[:PORT] or "
		    "[IPv6]:PORT", target);
		return -1;
	}
	if (st_pick_domains(NULL, o->tester_domain, &st->p, err, errlen) == -1)
		return -1;
	if (o->server_name && !st_domain_name(o->server_name,
	    strlen(o->server_name))) {
		snprintf(err, errlen, "server name \"%.64s\" is not a domain "
		    "name", o->server_name);
		return -1;
	}
	if (o->tester_domain == NULL)
		snprintf(st->p.tester_domain_note,
		    sizeof(st->p.tester_domain_note), "RFC 2606 name, absent "
		    "from public DNS: a server that checks sender domains "
		    "refuses it at MAIL; --tester-domain names one that exists");
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->fd = -1;
	r->timeout_ms = (int)(o->timeout ? o->timeout : REMOTE_TIMEOUT) * 1000;
	r->proxy = o->proxy;
	snprintf(r->claim, sizeof(r->claim), "%s", PROXY_CLAIM);
	snprintf(r->host, sizeof(r->host), "%s", host);
	/* 465 is submissions (RFC 8314): TLS from the first byte. */
	r->implicit = o->implicit_tls || strcmp(port, "465") == 0;
	tr = (struct st_transport){ r_open, r_command, r_close, r };
	if (connect_first(r, host, port, err, errlen) == -1)
		goto out;
	if (learn(st, r, &tr, o) == -1) {
		snprintf(err, errlen, "%s port %s: %s", host, port,
		    strerror(r->last_errno));
		goto out;
	}
	if (r->proxy && st->intro.v[0].code == 0) {
		netaddr_format((struct sockaddr *)&r->local, me, sizeof(me));
		snprintf(err, errlen, "%s: no greeting after the PROXY header "
		    "(%s): is this machine, %s, in the server's proxy_trusted, "
		    "and is the port a proxy listener?", target,
		    st->intro.v[0].error ? st->intro.v[0].error : "no reply",
		    me);
		goto out;
	}
	if ((st->policy = st_policy_text(st)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (st_run_probes(st, &tr) == -1) {
		snprintf(err, errlen, "%s port %s: connection failed during "
		    "the probes: %s", host, port, strerror(r->last_errno));
		goto out;
	}
	st_check_null_sender(st);
	if ((c = st_add_check(st, "mail for the server's own domains is "
	    "accepted")) != NULL)
		snprintf(c->note, sizeof(c->note), "not known to a remote "
		    "audit: run --selftest on the server");
	if ((c = st_add_check(st, "a client in mynetworks can relay")) != NULL)
		snprintf(c->note, sizeof(c->note), "not known to a remote "
		    "audit");
	remote_submission(st, r, &tr, o->creds);
	if (o->second && second_target(st, o, err, errlen) == -1)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	st->elapsed = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	rc = 0;
out:
	r_close(r);
	free(r);
	return rc;
}
