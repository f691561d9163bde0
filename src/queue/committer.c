/*
 * committer - group commit of spool files on a pool of worker threads.
 *
 * Each worker takes one job at a time from the todo FIFO, fsyncs its
 * file and renames it into incoming/ (hold/ for a held entry); the job
 * then waits on the published list. Whichever worker finds that list
 * non-empty while no directory fsync is running takes the whole list
 * and fsyncs incoming/ (and hold/, if a job of it went there) once for
 * all of it, so a job's rename always completed before the
 * directory fsync that covers it began. Concurrent file fsyncs share
 * the file system's journal commits, which one thread cannot do. The
 * time from a job's hand-off until it is durable goes to the metrics'
 * commit latency histogram.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "queue/committer.h"
#include "lib/log.h"
#include "lib/metrics.h"

/* Worker threads at most: enough for the disk to serve many fsyncs at
 * once (on ext4 over virtio 16 reach about three times the commits of
 * one); the caller shares them among its workers. */
#define COMMIT_THREADS	16
#define COMMIT_STACK	(512 * 1024)	/* fsync, rename, a log line */

struct job {
	struct spool	*spool;
	commit_cb	*cb;
	void		*arg;
	int		 status;
	struct timespec	 submitted;	/* for the commit latency */
	struct job	*next;
};

/* A singly linked FIFO with O(1) append. */
struct joblist {
	struct job	*head;
	struct job	**tail;
};

struct committer {
	struct ev_loop	*loop;
	struct queue	*queue;
	ev_async	 wake;		/* worker -> loop: jobs are done */
	pthread_t	 threads[COMMIT_THREADS];
	size_t		 nthreads;	/* started */
	pthread_mutex_t	 lock;		/* guards everything below */
	pthread_cond_t	 cond;		/* todo grew, or stopping */
	struct joblist	 todo;		/* submitted, not yet taken */
	struct joblist	 published;	/* synced and renamed; dir not synced */
	struct joblist	 done;		/* for the loop's callbacks */
	bool		 dir_syncing;	/* a worker is fsyncing incoming/ */
	bool		 stopping;
};

static void
list_init(struct joblist *l)
{
	l->head = NULL;
	l->tail = &l->head;
}

static void
list_push(struct joblist *l, struct job *j)
{
	j->next = NULL;
	*l->tail = j;
	l->tail = &j->next;
}

/* list_append - move all of `from` to the end of `to` */
static void
list_append(struct joblist *to, struct joblist *from)
{
	if (from->head == NULL)
		return;
	*to->tail = from->head;
	to->tail = from->tail;
	list_init(from);
}

/* commit_one - fsync one job's file and rename it into incoming/ */
static void
commit_one(struct job *j)
{
	char err[512];

	j->status = spool_sync(j->spool, err, sizeof(err));
	if (j->status == 0)
		j->status = spool_publish(j->spool, err, sizeof(err));
	if (j->status == -1)
		log_err("id=%s commit: %s", spool_id(j->spool), err);
}

/* sync_dir - one fsync of incoming/ for every job in the list, and one
 * of hold/ when a job of the list was published there; on failure the
 * entries are taken back out and the jobs fail */
static void
sync_dir(struct committer *c, struct joblist *l)
{
	char err[512];
	struct job *j;
	bool held = false;

	for (j = l->head; j; j = j->next)
		held |= spool_held(j->spool);
	if (queue_sync_incoming(c->queue, err, sizeof(err)) == 0 &&
	    (!held || queue_sync_hold(c->queue, err, sizeof(err)) == 0))
		return;
	log_err("commit: %s", err);
	for (j = l->head; j; j = j->next) {
		spool_unpublish(j->spool);
		j->status = -1;
	}
}

/* observe - durable now: the time since the hand-off, for the metrics */
static void
observe(const struct joblist *l)
{
	struct timespec now;
	const struct job *j;
	int64_t us;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (j = l->head; j; j = j->next) {
		if (j->status != 0)
			continue;
		us = (int64_t)(now.tv_sec - j->submitted.tv_sec) * 1000000 +
		    (now.tv_nsec - j->submitted.tv_nsec) / 1000;
		metrics_commit_latency(us > 0 ? (uint64_t)us : 0);
	}
}

/* finish - hand jobs to the loop; called with the lock held */
static void
finish(struct committer *c, struct joblist *l)
{
	list_append(&c->done, l);
	ev_async_send(c->loop, &c->wake);
}

static void *
worker(void *arg)
{
	struct committer *c = arg;
	struct joblist batch;
	struct job *j;
	sigset_t all;

	/* Signals are the loop's business (ev_signal), not this thread's. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);

	pthread_mutex_lock(&c->lock);
	for (;;) {
		/*
		 * Published jobs first: they only wait for a directory
		 * fsync. The worker that publishes a job either finds no
		 * fsync running and starts one itself, or finds one
		 * running, whose worker looks here again when it ends;
		 * so no published job is ever left without a worker.
		 */
		if (c->published.head != NULL && !c->dir_syncing) {
			batch = c->published;	/* non-empty: tail is a job's */
			list_init(&c->published);
			c->dir_syncing = true;
			pthread_mutex_unlock(&c->lock);

			sync_dir(c, &batch);
			observe(&batch);

			pthread_mutex_lock(&c->lock);
			c->dir_syncing = false;
			finish(c, &batch);
			continue;
		}
		if ((j = c->todo.head) != NULL) {
			if ((c->todo.head = j->next) == NULL)
				c->todo.tail = &c->todo.head;
			pthread_mutex_unlock(&c->lock);

			commit_one(j);

			pthread_mutex_lock(&c->lock);
			if (j->status == 0)
				list_push(&c->published, j);
			else {
				list_init(&batch);
				list_push(&batch, j);
				finish(c, &batch);
			}
			continue;
		}
		/* Nothing to take. Any job still in another worker's
		 * hands is finished by that worker. */
		if (c->stopping)
			break;
		pthread_cond_wait(&c->cond, &c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* run_done - the loop's half: answer the sessions */
static void
run_done(struct committer *c)
{
	struct job *j, *next;

	pthread_mutex_lock(&c->lock);
	j = c->done.head;
	list_init(&c->done);
	pthread_mutex_unlock(&c->lock);
	for (; j; j = next) {
		next = j->next;
		j->cb(j->arg, j->status);
		free(j);
	}
}

static void
on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop;
	(void)revents;
	run_done(w->data);
}

/* stop - let the workers drain the queue and exit, and join them */
static void
stop(struct committer *c)
{
	size_t i;

	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	for (i = 0; i < c->nthreads; i++)
		pthread_join(c->threads[i], NULL);
	c->nthreads = 0;
}

struct committer *
committer_new(struct ev_loop *loop, struct queue *q, unsigned nthreads)
{
	struct committer *c;
	pthread_attr_t attr;
	int rc = 0;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->loop = loop;
	c->queue = q;
	list_init(&c->todo);
	list_init(&c->published);
	list_init(&c->done);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	ev_async_init(&c->wake, on_wake);
	c->wake.data = c;
	ev_async_start(loop, &c->wake);
	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > COMMIT_THREADS)
		nthreads = COMMIT_THREADS;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, COMMIT_STACK);
	for (; rc == 0 && c->nthreads < nthreads; c->nthreads++)
		rc = pthread_create(&c->threads[c->nthreads], &attr, worker, c);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		c->nthreads--;		/* the one that failed */
		stop(c);
		ev_async_stop(loop, &c->wake);
		pthread_mutex_destroy(&c->lock);
		pthread_cond_destroy(&c->cond);
		free(c);
		return NULL;
	}
	return c;
}

void
committer_submit(struct committer *c, struct spool *sp, commit_cb *cb,
    void *arg)
{
	struct job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		cb(arg, -1);
		return;
	}
	j->spool = sp;
	j->cb = cb;
	j->arg = arg;
	clock_gettime(CLOCK_MONOTONIC, &j->submitted);
	pthread_mutex_lock(&c->lock);
	list_push(&c->todo, j);
	pthread_mutex_unlock(&c->lock);
	/* After the unlock, so that the woken worker does not block at
	 * once on the lock we hold (a futex wait and wake more). Nothing is
	 * missed: a worker looks at todo under the lock before it waits. */
	pthread_cond_signal(&c->cond);
}

void
committer_free(struct committer *c)
{
	if (c == NULL)
		return;
	stop(c);
	ev_async_stop(c->loop, &c->wake);
	run_done(c);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}
