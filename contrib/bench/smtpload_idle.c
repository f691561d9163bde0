/*
 * smtpload_idle.c - idle mode of the load client (-I): open that many
 * sessions from a few threads, say "ready N" on stdout, hold them until
 * stdin ends or SIGTERM or SIGINT comes, then QUIT them all.
 */
#include <sys/types.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtpload.h"

#define QUIT_WAIT	10	/* seconds idle mode waits for 221s in all */
#define IDLE_THREADS	8	/* connecting threads in idle mode */

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

static atomic_ulong idle_opened;	/* idle connections set up so far */
static atomic_int idle_stop;		/* one failed: the others stop */
static unsigned long idle_fail_index;	/* which, from 1, with its reason */
static char idle_fail_err[REPLY_MAX + 64];

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

int
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
