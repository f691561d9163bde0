/*
 * log - one line per event, to stderr in the foreground, syslog otherwise.
 *
 * A line is written by the thread that logs it, unless the process has
 * started a writer of its own (log_async_start): then the line is put
 * in a ring of bounded size and that thread writes it. A worker's event
 * loop serves every session of the worker, and a write(2) to a log file
 * on a journalled file system, or to a syslog daemon that is behind,
 * can wait for many milliseconds; with the writer, the loop waits only
 * when the writer is a whole ring behind. Nothing is dropped: a logger
 * that finds the ring full waits for room, and the writer empties the
 * ring before the process exits (exit(3); not _exit(2) or a crash).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

#define LOG_LINE_MAX	2048
#define LOG_RING_MIN	(64 * 1024)
/* The writer's one write(2) at most: whole lines, and no more than a
 * pipe takes in one piece, so that the lines of the other processes on
 * the same pipe never land inside one of ours. */
#define LOG_CHUNK	PIPE_BUF
#define LOG_OUT_MAX	(LOG_LINE_MAX + 128)	/* with its stamp and tag */
#define LOG_LINGER_MS	1	/* a line waits for the next at most this */
_Static_assert(LOG_OUT_MAX <= LOG_CHUNK, "a line fits one write");

static int log_stderr = 1;
static int log_quiet;
static const char *log_ident = "sallyport";

static const int log_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
static const char *const log_tag[] = { "error: ", "warning: ", "", "debug: " };

/*
 * The ring: records of a 2-octet length, a level octet and the text
 * (the whole line with its newline for stderr, the message for syslog).
 */
static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 more;		/* loggers -> writer */
	pthread_cond_t	 room;		/* writer -> loggers */
	char		*buf;
	size_t		 size, head, len;
	bool		 on, stopping, atexit_set;
	bool		 idle;		/* the writer waits for a signal */
	bool		 done;		/* the writer has left: ring empty */
	pthread_t	 writer;
} ring = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.more = PTHREAD_COND_INITIALIZER,
	.room = PTHREAD_COND_INITIALIZER,
};

void
log_open(const char *ident, int to_stderr)
{
	log_ident = ident;
	log_stderr = to_stderr;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_quiet(int quiet)
{
	log_quiet = quiet;
}

/* put_stderr - one write(2) of text if it can (lines are not mixed with
 * another thread's), the rest after; a stderr made non-blocking by
 * someone else is waited for, not dropped; cut short by an error, a
 * newline so that the next line starts on its own */
static void
put_stderr(const char *text, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t w = write(STDERR_FILENO, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { STDERR_FILENO, POLLOUT, 0 };

			if (poll(&pfd, 1, -1) >= 0 || errno == EINTR)
				continue;
		}
		if (w <= 0) {
			if (off > 0 && text[len - 1] == '\n')
				(void)!write(STDERR_FILENO, "\n", 1);
			return;
		}
		off += (size_t)w;
	}
}

/* ring_copy - n octets between the ring at offset at and flat memory;
 * in: into the ring */
static void
ring_copy(size_t at, char *flat, size_t n, bool in)
{
	size_t first;

	at %= ring.size;
	first = ring.size - at < n ? ring.size - at : n;
	if (in) {
		memcpy(ring.buf + at, flat, first);
		memcpy(ring.buf, flat + first, n - first);
	} else {
		memcpy(flat, ring.buf + at, first);
		memcpy(flat + first, ring.buf, n - first);
	}
}

/* ring_put - a record in the ring, once there is room: true; false when
 * no writer runs (any more), for the caller to write it itself (after
 * everything in the ring, which is empty once the writer has left) */
static bool
ring_put(enum log_level level, const char *text, size_t len)
{
	unsigned char hdr[3] = { (unsigned char)(len >> 8),
	    (unsigned char)len, (unsigned char)level };

	pthread_mutex_lock(&ring.lock);
	while (ring.on && !ring.done &&
	    ring.size - ring.len < sizeof(hdr) + len)
		pthread_cond_wait(&ring.room, &ring.lock);
	if (!ring.on || ring.done) {
		pthread_mutex_unlock(&ring.lock);
		return false;
	}
	ring_copy(ring.head + ring.len, (char *)hdr, sizeof(hdr), true);
	ring_copy(ring.head + ring.len + sizeof(hdr), (char *)text, len, true);
	if (ring.idle) {
		ring.idle = false;
		pthread_cond_signal(&ring.more);
	}
	ring.len += sizeof(hdr) + len;
	pthread_mutex_unlock(&ring.lock);
	return true;
}

/* put - a formatted record where it goes */
static void
put(enum log_level level, const char *text, size_t len)
{
	if (log_stderr)
		put_stderr(text, len);
	else
		syslog(log_prio[level], "%.*s", (int)len, text);
}

/* writer - the records written, as many at once as LOG_CHUNK holds when
 * to stderr, until log_async_stop and an empty ring */
static void *
writer(void *arg)
{
	static char chunk[LOG_CHUNK];
	const struct timespec linger = { 0, LOG_LINGER_MS * 1000000L };

	/* prctl itself: proc_thread_name would be a call back into proc.c,
	 * which logs */
	(void)prctl(PR_SET_NAME, "sp-log", 0, 0, 0);
	(void)arg;
	pthread_mutex_lock(&ring.lock);
	for (;;) {
		size_t n = 0, rec;
		unsigned char hdr[3];
		enum log_level level = LOG_LVL_INFO;
		bool woken = false;

		while (ring.len == 0 && !ring.stopping) {
			ring.idle = true;
			pthread_cond_wait(&ring.more, &ring.lock);
			woken = true;
		}
		ring.idle = false;
		if (ring.len == 0) {
			ring.done = true;	/* loggers write their own */
			pthread_cond_broadcast(&ring.room);
			break;
		}
		/* Woken for less than a write's worth: a moment for more
		 * lines, so that a busy process's lines share their write(2)
		 * and its loggers wake this thread once a moment, not once a
		 * line. */
		if (woken && ring.len < LOG_CHUNK && !ring.stopping) {
			pthread_mutex_unlock(&ring.lock);
			nanosleep(&linger, NULL);
			pthread_mutex_lock(&ring.lock);
		}
		/* Whole records: to stderr as many as fit, to syslog one. */
		do {
			ring_copy(ring.head, (char *)hdr, sizeof(hdr), false);
			rec = (size_t)hdr[0] << 8 | hdr[1];
			if (rec > LOG_OUT_MAX || sizeof(hdr) + rec > ring.len) {
				ring.head = ring.len = 0;	/* cannot be */
				break;
			}
			if (n > 0 && (!log_stderr || n + rec > sizeof(chunk)))
				break;
			ring_copy(ring.head + sizeof(hdr), chunk + n, rec,
			    false);
			level = (enum log_level)hdr[2];
			n += rec;
			ring.head = (ring.head + sizeof(hdr) + rec) % ring.size;
			ring.len -= sizeof(hdr) + rec;
		} while (ring.len > 0);
		pthread_cond_broadcast(&ring.room);
		pthread_mutex_unlock(&ring.lock);
		put(level, chunk, n);
		pthread_mutex_lock(&ring.lock);
	}
	pthread_mutex_unlock(&ring.lock);
	return NULL;
}

/* after_fork - the child has no writer: what the ring holds is the
 * parent's to write, and the child writes its own lines itself. Not
 * freed: a child of a threaded process may call only what is safe in a
 * signal handler until it execs (or _exits). */
static void
after_fork(void)
{
	/* before_fork's lock, held by this thread's copy: given back, not
	 * initialised again while locked (which POSIX leaves undefined) */
	pthread_mutex_unlock(&ring.lock);
	pthread_cond_init(&ring.more, NULL);
	pthread_cond_init(&ring.room, NULL);
	ring.buf = NULL;
	ring.size = ring.head = ring.len = 0;
	ring.on = ring.stopping = ring.done = ring.idle = false;
}

static void
before_fork(void)
{
	pthread_mutex_lock(&ring.lock);
}

static void
parent_fork(void)
{
	pthread_mutex_unlock(&ring.lock);
}

int
log_async_start(size_t size)
{
	sigset_t all, old;
	int rc;

	if (ring.on || size == 0)
		return 0;
	if (size < LOG_RING_MIN)
		size = LOG_RING_MIN;
	if ((ring.buf = malloc(size)) == NULL)
		return -1;
	if (!ring.atexit_set) {
		if (pthread_atfork(before_fork, parent_fork, after_fork) != 0 ||
		    atexit(log_async_stop) != 0) {
			free(ring.buf);
			ring.buf = NULL;
			errno = ENOMEM;
			return -1;
		}
		ring.atexit_set = true;
	}
	ring.size = size;
	ring.head = ring.len = 0;
	ring.stopping = ring.done = ring.idle = false;
	/* No signal for the writer: they are the event loop's. */
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_mutex_lock(&ring.lock);
	rc = pthread_create(&ring.writer, NULL, writer, NULL);
	ring.on = rc == 0;
	pthread_mutex_unlock(&ring.lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		free(ring.buf);
		ring.buf = NULL;
		errno = rc;
		return -1;
	}
	return 0;
}

void
log_async_stop(void)
{
	char *buf;

	pthread_mutex_lock(&ring.lock);
	if (ring.stopping) {		/* another caller joins: wait for it */
		while (ring.on)
			pthread_cond_wait(&ring.room, &ring.lock);
	}
	if (!ring.on) {
		pthread_mutex_unlock(&ring.lock);
		return;
	}
	ring.stopping = true;
	pthread_cond_signal(&ring.more);
	pthread_mutex_unlock(&ring.lock);
	pthread_join(ring.writer, NULL);
	pthread_mutex_lock(&ring.lock);
	buf = ring.buf;
	ring.buf = NULL;
	ring.on = false;		/* from now on each thread writes */
	pthread_cond_broadcast(&ring.room);
	pthread_mutex_unlock(&ring.lock);
	free(buf);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX], out[LOG_OUT_MAX];
	va_list ap;
	size_t len;
	int n;

	if (log_quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_stderr) {
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;

		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S",
		    localtime_r(&now, &tm));
		n = snprintf(out, sizeof(out) - 1, "%s %s: %s%s", stamp,
		    log_ident, log_tag[level], line);
		if (n < 0)
			return;
		len = (size_t)n < sizeof(out) - 1 ? (size_t)n :
		    sizeof(out) - 2;
		out[len++] = '\n';
	} else {
		n = snprintf(out, sizeof(out), "%s%s", log_tag[level], line);
		if (n < 0)
			return;
		len = (size_t)n < sizeof(out) ? (size_t)n : sizeof(out) - 1;
	}
	/* Without stdio's lock: threads that log at once (the runner's
	 * deliveries) do not queue behind each other's system call. */
	if (!ring_put(level, out, len))
		put(level, out, len);
}

/* log_escape - client bytes made safe for one log line */
const char *
log_escape(char *out, size_t outlen, const char *in, size_t inlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (outlen == 0)
		return out;
	for (i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];
		char tmp[4];
		size_t n = 0;

		if (c == '\r') {
			tmp[n++] = '\\'; tmp[n++] = 'r';
		} else if (c == '\n') {
			tmp[n++] = '\\'; tmp[n++] = 'n';
		} else if (c == '\\') {
			tmp[n++] = '\\'; tmp[n++] = '\\';
		} else if (c < 0x20 || c == 0x7f) {
			tmp[n++] = '\\'; tmp[n++] = 'x';
			tmp[n++] = hex[c >> 4]; tmp[n++] = hex[c & 15];
		} else {
			tmp[n++] = (char)c;
		}
		if (o + n + 4 > outlen) {	/* keep room for "..." */
			if (outlen >= 4) {
				memcpy(out + (o < outlen - 4 ? o : outlen - 4),
				    "...", 3);
				o = (o < outlen - 4 ? o : outlen - 4) + 3;
			}
			break;
		}
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o < outlen ? o : outlen - 1] = '\0';
	return out;
}
