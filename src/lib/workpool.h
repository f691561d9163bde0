/*
 * workpool - threads that stay between tasks: the queue runner's
 * deliveries run on them, so that a message costs no thread created
 * and torn down (its stack mapped, faulted in and given back).
 *
 * A task goes to an idle thread, or to a new one while fewer than `max`
 * exist; else it waits for the first thread to finish its task. A
 * thread idle for `idle_secs` ends. The caller keeps the number of
 * tasks in flight within max (the runner's delivery_concurrency), so
 * that none waits in practice. Threads are detached: a process that
 * ends with _exit after its tasks are done needs no shutdown.
 */
#ifndef SALLYPORT_WORKPOOL_H
#define SALLYPORT_WORKPOOL_H

#include <pthread.h>

struct workpool_task;

struct workpool {
	pthread_mutex_t		 lock;
	pthread_cond_t		 work;
	struct workpool_task	*head, *tail;
	unsigned		 queued;	/* tasks not yet taken */
	unsigned		 nthreads;	/* alive, or being started */
	unsigned		 nidle;		/* waiting for a task */
	unsigned		 max;
	unsigned		 idle_secs;
	const char		*name;		/* its threads' (proc_thread_name):
						 * "sp-pool" unless set after init */
};

/* 0, or -1 (errno set) */
int	workpool_init(struct workpool *, unsigned max, unsigned idle_secs);
/* A new limit (a reload); threads above it end once idle. */
void	workpool_set_max(struct workpool *, unsigned max);
/* Run fn(arg) on a thread of the pool: 0; -1 when it will not run (out
 * of memory, or no thread exists and none could be started). */
int	workpool_submit(struct workpool *, void (*fn)(void *), void *arg);

#endif
