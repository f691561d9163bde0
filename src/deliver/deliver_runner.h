/*
 * deliver_runner - the queue runner's state, shared by deliver.c (the
 * schedule, its threads, the main loop) and deliver_conf.c (the
 * configuration they run under, and its reload). Nothing else sees it:
 * a delivery knows the runner only through struct deliver_ctx and
 * rcfg_get/rcfg_put (deliver_int.h).
 */
#ifndef SALLYPORT_DELIVER_RUNNER_H
#define SALLYPORT_DELIVER_RUNNER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "conf/config.h"
#include "lib/workpool.h"

struct slot;			/* deliver.c: one entry of the schedule */
struct queue;
struct rcfg;

struct runner {
	const char	*path;
	struct rcfg	*cfg;		/* current configuration */
	struct queue	*queue;
	pthread_mutex_t	 lock;
	pthread_cond_t	 idle;		/* a thread finished */
	struct workpool	 pool;		/* the deliveries' threads */
	struct slot	*slots;
	size_t		 nslots, cap;
	unsigned	 active;	/* deliveries handed to the pool,
					 * queued or running */
	int		 done_pipe[2];	/* threads -> main: wake up */
	bool		 starved;	/* dispatch stopped at the limit: the
					 * next delivery to end wakes the main
					 * thread (through done_pipe) */
	bool		 reporting;	/* the TLS-RPT thread runs */
	bool		 report_all;	/* ... for today's sessions too */
	time_t		 report_check;	/* when to look for a due day */
	unsigned	 report_delay;	/* seconds into the UTC day */
};

/* deliver_conf.c */
/* The configuration at path, with one reference; NULL with the first
 * reason in why (every line of the file's errors is logged). */
struct rcfg	*rcfg_load(const char *path, char *why, size_t whylen);
/* Whether cfg can run in this process (PR_SET_NO_NEW_PRIVS, taken here
 * unless cfg hands off to qmail-queue); false with why set. */
bool		 runner_privs(const struct config *cfg, char *why,
		    size_t whylen);
/* The limits of the SMTP sessions kept open between messages. */
void		 runner_reuse_limits(const struct config *cfg);
/* The daemon asks for generation gen, read from the file with digest
 * (0 and "": it did not ask, a SIGHUP sent to us alone); the answer
 * goes to ctl_fd. */
void		 runner_reload(struct runner *r, int ctl_fd, unsigned long gen,
		    const char *digest);

#endif
