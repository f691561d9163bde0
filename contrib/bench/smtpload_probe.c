/*
 * smtpload_probe.c - probe mode of the load client (-P rate -d secs): a
 * new connection every 1/rate seconds, timed from connect() to its 220
 * greeting, then QUIT; the result is one line with the 50th and 99th
 * percentile and the longest wait.
 */
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtpload.h"

#define PROBE_TIMEOUT	10	/* seconds a probe waits for its greeting */

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
int
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
