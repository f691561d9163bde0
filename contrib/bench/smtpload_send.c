/*
 * smtpload_send.c - send mode of the load client: -s sessions, each a
 * thread with a blocking connection, share -m messages through one
 * atomic counter, so exactly -m are sent; the result is one line,
 * "msgs=N secs=S rate=R failed=F".
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtpload.h"

#define LINE_BODY	70	/* filler characters per body line */

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

static atomic_ulong next_msg;		/* messages claimed by all sessions */

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

int
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
