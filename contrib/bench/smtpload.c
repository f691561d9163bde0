/*
 * smtpload - an SMTP load client for the benchmark.
 *
 * Speaks like smtp-source(1) (one command per round trip, no PIPELINING)
 * and adds what it lacks: STARTTLS, an idle mode that holds thousands of
 * sessions open for memory measurements, and a probe mode that times the
 * greeting while the server is under load. Not installed.
 *
 * Send mode: -s sessions, each a thread with a blocking socket, share -m
 * messages through one atomic counter, so exactly -m are sent. The final
 * line on stdout is "msgs=N secs=S rate=R failed=F"; the exit status is
 * 0 only when every message got its 250 after the final dot.
 */
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define NAME_MAX_LEN	255	/* longest -f, -t or -H */
#define CMD_MAX		(NAME_MAX_LEN + 32)
#define REPLY_MAX	512	/* reply text kept for error messages */
#define REPLY_LINE_MAX	65536	/* a longer reply line is an error */
#define REPLY_LINES_MAX	1000	/* and so is a longer multi-line reply */
#define RBUF_SIZE	4096
#define IO_TIMEOUT	60	/* seconds one read or write may block */
#define QUIT_WAIT	10	/* seconds idle mode waits for 221s in all */
#define PROBE_TIMEOUT	10	/* seconds a probe waits for its greeting */
#define IDLE_THREADS	8	/* connecting threads in idle mode */
#define ERRORS_SHOWN	10	/* error lines printed without -q */
#define STACK_SIZE	(256 * 1024)
#define LINE_BODY	70	/* filler characters per body line */

struct opts {
	unsigned long	 sessions;	/* -s */
	unsigned long	 msgs;		/* -m */
	unsigned long	 per_conn;	/* -n, 0 for no limit */
	unsigned long	 size;		/* -l */
	const char	*from;		/* -f */
	const char	*to;		/* -t */
	const char	*helo;		/* -H */
	int		 tls;		/* -T */
	unsigned long	 idle;		/* -I, 0 when not idle mode */
	unsigned long	 probe_rate;	/* -P, 0 when not probe mode */
	unsigned long	 duration;	/* -d */
	int		 quiet;		/* -q */
	const char	*target;	/* HOST:PORT as given */
	struct sockaddr_storage addr;
	socklen_t	 addrlen;
};

/* Commands that never change, formatted once. */
struct cmds {
	char	 ehlo[CMD_MAX];
	char	 mail[CMD_MAX];
	char	 rcpt[CMD_MAX];
};

struct conn {
	int	 fd;
	SSL	*ssl;
	int	 broken;		/* I/O failed: no QUIT, just close */
	size_t	 rpos, rlen;		/* unread input in rbuf */
	char	 rbuf[RBUF_SIZE];
	char	 err[REPLY_MAX + 64];	/* why the last call failed */
};

struct reply {
	int	 code;
	char	 text[REPLY_MAX];	/* first line, without CRLF */
};

/* One message, built once per thread; only the Message-ID changes. */
struct message {
	char	*data;			/* ends with ".\r\n" */
	size_t	 len;
	size_t	 id_off;		/* the counter in the Message-ID */
};
#define MSGID_DIGITS	20

struct session {
	pthread_t	 thread;
	unsigned	 id;		/* from 1, for error messages */
	unsigned long	 ok, failed;
};

/* What idle mode keeps per connection, once it is set up. */
struct idle_conn {
	int	 fd;
	int	 broken;		/* QUIT could not be sent */
	SSL	*ssl;
};

struct idle_slice {
	pthread_t	 thread;
	struct idle_conn *conns;
	unsigned long	 first, count;	/* the part of conns this thread opens */
	unsigned long	 opened;	/* conns[first .. first + opened - 1] */
};

enum probe_state {
	PROBE_GREETING,			/* waiting for the final 220 line */
	PROBE_QUIT,			/* QUIT sent, waiting for 221 or EOF */
	PROBE_DONE
};

struct probe {
	int		 fd;
	enum probe_state state;
	double		 start;		/* when connect() was called */
	size_t		 col;		/* position in the current line */
	char		 head[4];	/* the current line's first bytes */
};

static struct opts opt;
static struct cmds cmd;
static SSL_CTX *tls_ctx;
static atomic_ulong next_msg;		/* messages claimed by all sessions */
static atomic_uint errors_seen;
static atomic_ulong idle_opened;	/* idle connections set up so far */
static atomic_int idle_stop;		/* one failed: the others stop */
static unsigned long idle_fail_index;	/* which, from 1, with its reason */
static char idle_fail_err[REPLY_MAX + 64];

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: smtpload [-Tq] [-s sessions] [-m msgs] [-n msgs_per_conn]"
	    " [-l size]\n"
	    "\t[-f from] [-t to] [-H ehlo_name] [-I idle_conns]"
	    " [-P rate [-d secs]]\n"
	    "\thost:port\n");
	exit(1);
}

/* number - the value of option -flag, within [min, max], or exit */
static unsigned long
number(const char *s, int flag, unsigned long min, unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno == ERANGE ||
	    v < min || v > max) {
		fprintf(stderr, "smtpload: -%c %s: not a number from %lu to %lu\n",
		    flag, s, min, max);
		exit(1);
	}
	return v;
}

static const char *
name(const char *s, int flag)
{
	if (*s == '\0' || strlen(s) > NAME_MAX_LEN ||
	    strpbrk(s, "\r\n<> ") != NULL) {
		fprintf(stderr, "smtpload: -%c %s: empty, too long or has"
		    " spaces, brackets or line breaks\n", flag, s);
		exit(1);
	}
	return s;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* resolve - HOST:PORT or [HOST]:PORT into opt.addr */
static void
resolve(const char *target)
{
	struct addrinfo hints, *res;
	char host[256];
	const char *colon, *h = target;
	size_t hlen;
	int e;

	if ((colon = strrchr(target, ':')) == NULL || colon[1] == '\0')
		goto bad;
	hlen = (size_t)(colon - target);
	if (*h == '[' && hlen >= 2 && target[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((e = getaddrinfo(host, colon + 1, &hints, &res)) != 0) {
		fprintf(stderr, "smtpload: %s: %s\n", target, gai_strerror(e));
		exit(1);
	}
	memcpy(&opt.addr, res->ai_addr, res->ai_addrlen);
	opt.addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return;
bad:
	fprintf(stderr, "smtpload: %s: expected HOST:PORT\n", target);
	exit(1);
}

/* raise_nofile - soft descriptor limit up to the hard one; returns it */
static rlim_t
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur;
}

static void
tls_init(void)
{
	if ((tls_ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION)) {
		fprintf(stderr, "smtpload: cannot make a TLS context\n");
		exit(1);
	}
	/* A benchmark against a self-signed test certificate. */
	SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
	/* Idle sessions would otherwise hold ~34 KB of TLS buffers each. */
	if (opt.idle)
		SSL_CTX_set_mode(tls_ctx, SSL_MODE_RELEASE_BUFFERS);
}

/* report - the first error always, a few more unless -q */
static void
report(const char *who, unsigned long id, const char *err)
{
	unsigned n = atomic_fetch_add(&errors_seen, 1);

	if (n == 0 || (!opt.quiet && n < ERRORS_SHOWN))
		fprintf(stderr, "smtpload: %s %lu: %s\n", who, id, err);
	else if (!opt.quiet && n == ERRORS_SHOWN)
		fprintf(stderr, "smtpload: further errors not shown\n");
}

/* --- one blocking connection ------------------------------------------- */

static void __attribute__((format(printf, 2, 3)))
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

static void
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

static int
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

static int
reply_code(const char *s, size_t len)
{
	if (len < 3 || s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9' || (len > 3 && s[3] != ' ' && s[3] != '-'))
		return -1;
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* conn_reply - read a whole reply, "250-..." lines and the final one */
static int
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
static int
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

/* session_open - connected, greeted and EHLO answered, with TLS if -T */
static int
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
	return 0;
}

/* session_quit - QUIT and close; after an I/O error only close */
static void
session_quit(struct conn *c)
{
	struct reply r;

	if (!c->broken && conn_write(c, "QUIT\r\n", 6) == 0)
		conn_reply(c, &r);
	conn_close(c);
}

/* --- send mode ----------------------------------------------------------- */

/*
 * message_build - From, To, Subject, Date and Message-ID, then lines of
 * filler to make opt.size bytes in all, then the final dot. No line
 * starts with '.', so nothing needs dot-stuffing.
 */
static int
message_build(struct message *m)
{
	static const char fill[] = "0123456789abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	char head[4 * NAME_MAX_LEN + 256], date[64], *p;
	size_t hlen, left, line, i, k;
	struct tm tm;
	time_t t;
	int n, pad;

	t = time(NULL);
	localtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	/* A body of one byte cannot end in CRLF: move it to the Subject. */
	for (pad = 0; pad < 2; pad++) {
		n = snprintf(head, sizeof(head), "From: <%s>\r\nTo: <%s>\r\n"
		    "Subject: smtpload test%s\r\nDate: %s\r\n"
		    "Message-ID: <%0*d.%ld.%lld@%s>\r\n\r\n",
		    opt.from, opt.to, pad ? "." : "", date, MSGID_DIGITS, 0,
		    (long)getpid(), (long long)t, opt.helo);
		if (n < 0 || (size_t)n >= sizeof(head))
			return -1;
		hlen = (size_t)n;
		if (opt.size != hlen + 1)
			break;
	}
	left = opt.size > hlen ? opt.size - hlen : 0;
	if ((m->data = malloc(hlen + left + 3)) == NULL)
		return -1;
	memcpy(m->data, head, hlen);
	m->id_off = (size_t)(strstr(head, "Message-ID: <") - head) + 13;
	p = m->data + hlen;
	for (i = 0; left >= 2; i++) {
		/* Full lines, and a last one of 0 to 71 characters. */
		line = left >= LINE_BODY + 2 + 2 ? LINE_BODY : left - 2;
		for (k = 0; k < line; k++)
			*p++ = fill[(i + k) % (sizeof(fill) - 1)];
		*p++ = '\r';
		*p++ = '\n';
		left -= line + 2;
	}
	memcpy(p, ".\r\n", 3);
	m->len = (size_t)(p + 3 - m->data);
	return 0;
}

/* message_number - put the run-wide message number in the Message-ID */
static void
message_number(struct message *m, unsigned long idx)
{
	char digits[MSGID_DIGITS + 1];

	snprintf(digits, sizeof(digits), "%0*lu", MSGID_DIGITS, idx);
	memcpy(m->data + m->id_off, digits, MSGID_DIGITS);
}

static int
message_send(struct conn *c, const struct message *m)
{
	if (step(c, "MAIL", cmd.mail, strlen(cmd.mail), 250) == -1 ||
	    step(c, "RCPT", cmd.rcpt, strlen(cmd.rcpt), 250) == -1 ||
	    step(c, "DATA", "DATA\r\n", 6, 354) == -1 ||
	    step(c, "end of data", m->data, m->len, 250) == -1)
		return -1;
	return 0;
}

/*
 * send_session - one session's thread: claim a message, send it over
 * the open connection (or a new one), QUIT after -n messages. After a
 * failure the connection is given up and the next message opens another.
 */
static void *
send_session(void *arg)
{
	struct session *s = arg;
	struct message m;
	struct conn c;
	unsigned long idx, on_conn = 0;
	int open = 0;

	if (message_build(&m) == -1) {
		fprintf(stderr, "smtpload: session %u: out of memory\n", s->id);
		exit(1);
	}
	c.fd = -1;
	c.ssl = NULL;
	while ((idx = atomic_fetch_add(&next_msg, 1)) < opt.msgs) {
		if (!open) {
			if (session_open(&c) == -1) {
				report("session", s->id, c.err);
				session_quit(&c);
				s->failed++;
				continue;
			}
			open = 1;
			on_conn = 0;
		}
		message_number(&m, idx);
		if (message_send(&c, &m) == -1) {
			report("session", s->id, c.err);
			session_quit(&c);
			open = 0;
			s->failed++;
			continue;
		}
		s->ok++;
		if (opt.per_conn != 0 && ++on_conn == opt.per_conn) {
			session_quit(&c);
			open = 0;
		}
	}
	if (open)
		session_quit(&c);
	free(m.data);
	return NULL;
}

static int
run_send(void)
{
	struct session *ss;
	pthread_attr_t attr;
	unsigned long i, nthreads, ok = 0, failed = 0;
	double t0, secs;
	int e;

	nthreads = opt.sessions < opt.msgs ? opt.sessions : opt.msgs;
	if ((ss = calloc(nthreads ? nthreads : 1, sizeof(*ss))) == NULL) {
		fprintf(stderr, "smtpload: out of memory\n");
		return 1;
	}
	if (!opt.quiet)
		fprintf(stderr, "smtpload: %lu messages of %lu bytes over %lu"
		    " sessions to %s%s\n", opt.msgs, opt.size, nthreads,
		    opt.target, opt.tls ? " with STARTTLS" : "");
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_SIZE);
	t0 = now();
	for (i = 0; i < nthreads; i++) {
		ss[i].id = (unsigned)i + 1;
		if ((e = pthread_create(&ss[i].thread, &attr, send_session,
		    &ss[i])) != 0) {
			fprintf(stderr, "smtpload: session %lu: cannot start a"
			    " thread: %s\n", i + 1, strerror(e));
			exit(1);
		}
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(ss[i].thread, NULL);
		ok += ss[i].ok;
		failed += ss[i].failed;
	}
	secs = now() - t0;
	pthread_attr_destroy(&attr);
	free(ss);
	printf("msgs=%lu secs=%.3f rate=%.1f failed=%lu\n", ok, secs,
	    secs > 0 ? (double)ok / secs : 0.0, failed);
	return ok == opt.msgs && failed == 0 ? 0 : 1;
}

/* --- idle mode ----------------------------------------------------------- */

/* idle_open - one thread's slice of the connections, until one fails */
static void *
idle_open(void *arg)
{
	struct idle_slice *sl = arg;
	struct conn c;
	unsigned long i;
	int expect = 0;

	for (i = sl->first; i < sl->first + sl->count; i++) {
		if (atomic_load(&idle_stop))
			break;
		if (session_open(&c) == -1 || c.rpos != c.rlen) {
			if (c.rpos != c.rlen)
				conn_fail(&c, "EHLO: data after the reply");
			if (atomic_compare_exchange_strong(&idle_stop, &expect,
			    1)) {
				idle_fail_index = i + 1;
				memcpy(idle_fail_err, c.err,
				    sizeof(idle_fail_err));
			}
			session_quit(&c);
			break;
		}
		sl->conns[i].fd = c.fd;
		sl->conns[i].ssl = c.ssl;
		sl->opened++;
		atomic_fetch_add(&idle_opened, 1);
	}
	return NULL;
}

/* idle_wait - until stdin ends or SIGTERM or SIGINT comes */
static void
idle_wait(int sigfd)
{
	struct pollfd pfd[2];
	char junk[512];
	ssize_t n;

	pfd[0].fd = STDIN_FILENO;
	pfd[0].events = POLLIN;
	pfd[1].fd = sigfd;
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (pfd[1].revents)
			return;
		if (pfd[0].revents) {
			n = read(STDIN_FILENO, junk, sizeof(junk));
			if (n == 0 || (n == -1 && errno != EINTR &&
			    errno != EAGAIN))
				return;
		}
	}
}

/*
 * idle_quit - QUIT on every connection first, then collect the 221s, so
 * that closing does not reset a connection with its reply unread.
 */
static void
idle_quit(struct idle_conn *conns, struct idle_slice *sl,
    unsigned long nslices)
{
	struct timeval tv = { 1, 0 };
	struct conn c;
	struct reply r;
	unsigned long i, j;
	double deadline;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		deadline = now() + QUIT_WAIT;
		for (j = 0; j < nslices; j++) {
			for (i = sl[j].first; i < sl[j].first + sl[j].opened;
			    i++) {
				c.fd = conns[i].fd;
				c.ssl = conns[i].ssl;
				c.broken = conns[i].broken;
				c.rpos = c.rlen = 0;
				if (pass == 0) {
					conn_write(&c, "QUIT\r\n", 6);
					conns[i].broken = c.broken;
					continue;
				}
				/* A hung server costs QUIT_WAIT, not 1s each. */
				if (!c.broken && now() < deadline) {
					setsockopt(c.fd, SOL_SOCKET,
					    SO_RCVTIMEO, &tv, sizeof(tv));
					conn_reply(&c, &r);
				} else
					c.broken = 1;
				conn_close(&c);
			}
		}
	}
}

static int
run_idle(void)
{
	struct idle_slice sl[IDLE_THREADS];
	struct idle_conn *conns;
	pthread_attr_t attr;
	sigset_t sigs;
	unsigned long i, n, per, nslices;
	rlim_t limit;
	int sigfd, e, status = 0;

	limit = raise_nofile();
	if (limit != RLIM_INFINITY && opt.idle + 16 > limit) {
		fprintf(stderr, "smtpload: -I %lu needs more descriptors than"
		    " the limit of %llu (raise ulimit -n)\n", opt.idle,
		    (unsigned long long)limit);
		return 1;
	}
	/* Signals wait for idle_wait(): no thread is interrupted by them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if ((sigfd = signalfd(-1, &sigs, SFD_CLOEXEC)) == -1 ||
	    (conns = calloc(opt.idle, sizeof(*conns))) == NULL) {
		fprintf(stderr, "smtpload: %s\n", strerror(errno));
		return 1;
	}
	n = opt.idle;
	nslices = n < IDLE_THREADS ? n : IDLE_THREADS;
	per = n / nslices;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_SIZE);
	for (i = 0; i < nslices; i++) {
		sl[i].conns = conns;
		sl[i].first = i * per;
		sl[i].count = i == nslices - 1 ? n - i * per : per;
		sl[i].opened = 0;
		if ((e = pthread_create(&sl[i].thread, &attr, idle_open,
		    &sl[i])) != 0) {
			fprintf(stderr, "smtpload: cannot start a thread: %s\n",
			    strerror(e));
			exit(1);
		}
	}
	for (i = 0; i < nslices; i++)
		pthread_join(sl[i].thread, NULL);
	pthread_attr_destroy(&attr);
	if (atomic_load(&idle_stop)) {
		fprintf(stderr, "smtpload: connection %lu: %s (%lu of %lu"
		    " established)\n", idle_fail_index, idle_fail_err,
		    atomic_load(&idle_opened), n);
		status = 1;
	} else {
		printf("ready %lu\n", n);
		fflush(stdout);
		idle_wait(sigfd);
	}
	idle_quit(conns, sl, nslices);
	if (!opt.quiet && status == 0)
		fprintf(stderr, "smtpload: closed %lu connections\n", n);
	close(sigfd);
	free(conns);
	return status;
}

/* --- probe mode ---------------------------------------------------------- */

/*
 * probe_input - feed greeting bytes to the line parser; 1 once the
 * final line is a 220, -1 for any other final line, 0 for more.
 */
static int
probe_input(struct probe *p, const char *buf, size_t len)
{
	size_t i;
	int code, sep;

	for (i = 0; i < len; i++) {
		if (p->col < sizeof(p->head))
			p->head[p->col] = buf[i];
		p->col++;
		if (buf[i] != '\n')
			continue;
		/* p->col - 1 bytes before the LF: "220-" goes on, "220 " ends. */
		if (p->col - 1 < 3 || (code = reply_code(p->head, 3)) == -1)
			return -1;
		sep = p->col - 1 > 3 ? p->head[3] : ' ';
		p->col = 0;
		if (sep == '-')
			continue;
		if (sep != ' ' && sep != '\r')
			return -1;
		return code == 220 ? 1 : -1;
	}
	return 0;
}

static int
probe_start(struct probe *p, int ep, uint32_t idx)
{
	struct epoll_event ev;

	p->col = 0;
	p->state = PROBE_GREETING;
	p->start = now();
	if ((p->fd = socket(opt.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(p->fd, (struct sockaddr *)&opt.addr, opt.addrlen) == -1 &&
	    errno != EINPROGRESS)
		return -1;
	/* A failed connect reports EPOLLERR, the greeting EPOLLIN. */
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u32 = idx;
	return epoll_ctl(ep, EPOLL_CTL_ADD, p->fd, &ev);
}

static void
probe_end(struct probe *p)
{
	if (p->fd != -1)
		close(p->fd);
	p->fd = -1;
	p->state = PROBE_DONE;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* percentile - nearest rank of the sorted v[0 .. n - 1] */
static double
percentile(const double *v, size_t n, unsigned pct)
{
	size_t rank;

	if (n == 0)
		return 0;
	rank = (n * pct + 99) / 100;
	return v[rank ? rank - 1 : 0];
}

/*
 * run_probe - a connection every 1/rate seconds whatever the earlier
 * ones are doing, so a slow server cannot slow the probing down.
 */
static int
run_probe(void)
{
	struct epoll_event evs[64];
	struct probe *pr;
	double *lat, t0, t, next;
	size_t total, started = 0, oldest = 0, active = 0, done = 0;
	unsigned long failed = 0;
	char buf[1024];
	ssize_t len;
	int ep, i, n, wait, r;
	struct probe *p;

	raise_nofile();
	total = opt.probe_rate * opt.duration;
	if ((pr = calloc(total, sizeof(*pr))) == NULL ||
	    (lat = calloc(total, sizeof(*lat))) == NULL ||
	    (ep = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		fprintf(stderr, "smtpload: %s\n", strerror(errno));
		return 1;
	}
	t0 = now();
	while (started < total || active > 0) {
		t = now();
		while (started < total &&
		    t0 + (double)started / (double)opt.probe_rate <= t) {
			p = &pr[started];
			if (probe_start(p, ep, (uint32_t)started) == -1) {
				report("probe", started + 1, strerror(errno));
				probe_end(p);
				failed++;
			} else
				active++;
			started++;
		}
		/* Probes time out in the order they started. */
		for (; oldest < started; oldest++) {
			p = &pr[oldest];
			if (p->state != PROBE_DONE) {
				if (t - p->start < PROBE_TIMEOUT)
					break;
				if (p->state == PROBE_GREETING) {
					report("probe", oldest + 1,
					    "no greeting in time");
					failed++;
				}
				probe_end(p);
				active--;
			}
		}
		wait = 100;
		if (started < total) {
			next = t0 + (double)started / (double)opt.probe_rate;
			wait = next > t ? (int)((next - t) * 1000) + 1 : 0;
			if (wait > 100)
				wait = 100;
		}
		if ((n = epoll_wait(ep, evs, 64, wait)) == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "smtpload: epoll_wait: %s\n",
			    strerror(errno));
			return 1;
		}
		for (i = 0; i < n; i++) {
			p = &pr[evs[i].data.u32];
			if (p->state == PROBE_DONE)
				continue;
			len = read(p->fd, buf, sizeof(buf));
			if (len == -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (p->state == PROBE_QUIT) {
				/* The 221, or the server closing first. */
				if (len <= 0 || memchr(buf, '\n', (size_t)len)) {
					probe_end(p);
					active--;
				}
				continue;
			}
			if (len <= 0) {
				report("probe", evs[i].data.u32 + 1, len == 0 ?
				    "connection closed before the greeting" :
				    strerror(errno));
				r = -1;
			} else if ((r = probe_input(p, buf, (size_t)len)) == 0)
				continue;
			else if (r == -1)
				report("probe", evs[i].data.u32 + 1,
				    "greeting is not a 220 reply");
			if (r == 1) {
				lat[done++] = (now() - p->start) * 1000;
				/* QUIT; closing at once could reset the 221. */
				if (send(p->fd, "QUIT\r\n", 6,
				    MSG_NOSIGNAL) == 6) {
					p->state = PROBE_QUIT;
					continue;
				}
			} else
				failed++;
			probe_end(p);
			active--;
		}
	}
	close(ep);
	qsort(lat, done, sizeof(*lat), cmp_double);
	printf("probes=%zu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f failed=%lu\n",
	    done, percentile(lat, done, 50), percentile(lat, done, 99),
	    done ? lat[done - 1] : 0.0, failed);
	free(lat);
	free(pr);
	return failed == 0 ? 0 : 1;
}

int
main(int argc, char *argv[])
{
	int ch;

	opt.sessions = 1;
	opt.msgs = 100;
	opt.per_conn = 1;
	opt.size = 1024;
	opt.from = "bench@example.test";
	opt.to = "bench@example.test";
	opt.helo = "smtpload.example.test";
	opt.duration = 10;
	while ((ch = getopt(argc, argv, "s:m:n:l:f:t:H:TI:P:d:q")) != -1) {
		switch (ch) {
		case 's':
			opt.sessions = number(optarg, ch, 1, 100000);
			break;
		case 'm':
			opt.msgs = number(optarg, ch, 0, ULONG_MAX / 2);
			break;
		case 'n':
			opt.per_conn = number(optarg, ch, 0, ULONG_MAX);
			break;
		case 'l':
			opt.size = number(optarg, ch, 0, 1024UL * 1024 * 1024);
			break;
		case 'f':
			opt.from = name(optarg, ch);
			break;
		case 't':
			opt.to = name(optarg, ch);
			break;
		case 'H':
			opt.helo = name(optarg, ch);
			break;
		case 'T':
			opt.tls = 1;
			break;
		case 'I':
			opt.idle = number(optarg, ch, 1, 10000000);
			break;
		case 'P':
			opt.probe_rate = number(optarg, ch, 1, 100000);
			break;
		case 'd':
			opt.duration = number(optarg, ch, 1, 86400);
			break;
		case 'q':
			opt.quiet = 1;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1 || (opt.idle && opt.probe_rate))
		usage();
	if (opt.probe_rate * opt.duration > 100000000UL) {
		fprintf(stderr, "smtpload: -P times -d is over 100000000"
		    " probes\n");
		return 1;
	}
	opt.target = argv[optind];
	resolve(opt.target);
	signal(SIGPIPE, SIG_IGN);
	snprintf(cmd.ehlo, sizeof(cmd.ehlo), "EHLO %s\r\n", opt.helo);
	snprintf(cmd.mail, sizeof(cmd.mail), "MAIL FROM:<%s>\r\n", opt.from);
	snprintf(cmd.rcpt, sizeof(cmd.rcpt), "RCPT TO:<%s>\r\n", opt.to);
	/* The greeting comes before STARTTLS: probes never need TLS. */
	if (opt.tls && !opt.probe_rate)
		tls_init();
	if (opt.idle)
		return run_idle();
	if (opt.probe_rate)
		return run_probe();
	raise_nofile();
	return run_send();
}
