/*
 * committer - the jobs, the loop's half and the files method.
 *
 * Files: each worker of the pool takes one job at a time from the todo
 * FIFO, fsyncs its file and renames it into incoming/ (hold/ for a held
 * entry); the job then waits on the published list. Whichever worker
 * finds that list non-empty while no directory fsync is running takes
 * the whole list and fsyncs incoming/ (and hold/, if a job of it went
 * there) once for all of it, so a job's rename always completed before
 * the directory fsync that covers it began. Concurrent file fsyncs
 * share the file system's journal commits, which one thread cannot do.
 * The journal method is committer_journal.c's. Either way the time
 * from a job's hand-off until it is durable goes to the metrics'
 * commit latency histogram, and the loop runs the callbacks and frees
 * the spools (run_done).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "queue/committer.h"
#include "queue/committer_impl.h"
#include "lib/proc.h"

/* worker - a thread of the files method's pool */
static void *
worker(void *arg)
{
	struct committer *c = arg;
	struct joblist batch;
	struct job *j;

	proc_thread_name("sp-commit");
	committer_thread_init();
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
			joblist_init(&c->published);
			c->dir_syncing = true;
			pthread_mutex_unlock(&c->lock);

			committer_sync_dirs(c, batch.head);

			pthread_mutex_lock(&c->lock);
			c->dir_syncing = false;
			committer_finish(c, &batch);
			continue;
		}
		if ((j = joblist_pop(&c->todo)) != NULL) {
			pthread_mutex_unlock(&c->lock);

			committer_commit_one(j);

			pthread_mutex_lock(&c->lock);
			if (j->status == 0)
				joblist_push(&c->published, j);
			else
				committer_finish_one(c, j);
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

/* run_done - the loop's half: answer the sessions, tell the runner of
 * entries now in incoming/, free what is finished, and pass the
 * journal's acknowledged jobs on to its materializer */
static void
run_done(struct committer *c)
{
	struct joblist ready;
	struct job *j, *next;
	unsigned long freed = 0;
	unsigned nready = 0;

	pthread_mutex_lock(&c->lock);
	j = c->done.head;
	joblist_init(&c->done);
	pthread_mutex_unlock(&c->lock);
	joblist_init(&ready);
	for (; j; j = next) {
		next = j->next;
		if (!j->answered) {
			j->answered = true;
			j->cb(j->arg, j->status);
		}
		if (j->materialize) {
			j->materialize = false;
			joblist_push(&ready, j);
			nready++;
			continue;
		}
		if (j->in_queue && c->publish != NULL &&
		    !spool_held(j->spool))
			c->publish(c->publish_arg, spool_id(j->spool));
		spool_free(j->spool);
		free(j);
		freed++;
	}
	pthread_mutex_lock(&c->lock);
	c->inflight -= freed;
	if (ready.head != NULL) {
		/* A materializer gathering a batch is woken only when it
		 * is full (committer_journal.c). */
		bool was_empty = c->ready.head == NULL;

		joblist_append(&c->ready, &ready);
		c->nready += nready;
		if (was_empty || c->nready >= COMMIT_BATCH_MAX)
			pthread_cond_signal(&c->mcond);
	}
	pthread_mutex_unlock(&c->lock);
}

static void
on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop;
	(void)revents;
	run_done(w->data);
}

/* stop - let the threads finish what they hold and exit, and join them */
static void
stop(struct committer *c)
{
	size_t i;

	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_cond_broadcast(&c->cond);
	pthread_cond_broadcast(&c->mcond);
	pthread_mutex_unlock(&c->lock);
	for (i = 0; i < c->nthreads; i++)
		pthread_join(c->threads[i], NULL);
	c->nthreads = 0;
}

static void
destroy(struct committer *c)
{
	ev_async_stop(c->loop, &c->wake);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	pthread_cond_destroy(&c->mcond);
	pthread_cond_destroy(&c->idle);
	free(c);
}

/* start_files - the files method's pool; 0 or -1 */
static int
start_files(struct committer *c, unsigned nthreads)
{
	pthread_attr_t attr;
	int rc = 0;

	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > COMMIT_THREADS)
		nthreads = COMMIT_THREADS;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, COMMIT_STACK);
	for (; rc == 0 && c->nthreads < nthreads; c->nthreads++)
		rc = pthread_create(&c->threads[c->nthreads], &attr, worker, c);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		c->nthreads--;		/* the one that failed */
	return rc == 0 ? 0 : -1;
}

struct committer *
committer_new(struct ev_loop *loop, struct queue *q,
    const struct commit_opts *o)
{
	struct committer *c;
	pthread_condattr_t ca;
	int rc;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	/* The materializer's deadlines are on the monotonic clock. */
	if (pthread_condattr_init(&ca) != 0) {
		free(c);
		return NULL;
	}
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&c->mcond, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		free(c);
		return NULL;
	}
	pthread_condattr_destroy(&ca);
	c->loop = loop;
	c->queue = q;
	c->linger_ms = o->linger_ms != 0 ? o->linger_ms : COMMIT_LINGER_MS;
	c->publish = o->published;
	c->publish_arg = o->published_arg;
	joblist_init(&c->todo);
	joblist_init(&c->published);
	joblist_init(&c->done);
	joblist_init(&c->ready);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	pthread_cond_init(&c->idle, NULL);
	ev_async_init(&c->wake, on_wake);
	c->wake.data = c;
	ev_async_start(loop, &c->wake);
	c->syncfd_commit = c->syncfd_write = -1;
	/* A journal of this slot's previous process, first: its entries
	 * were acknowledged, whatever the method now, and the slot's new
	 * ids must come after theirs (queue_ids_own). */
	if (o->journal_name != NULL &&
	    committer_journal_replay(c, o->journal_name) == -1)
		rc = -1;
	else
		rc = o->method == COMMIT_JOURNAL ?
		    committer_journal_start(c, o) : 1;
	if (rc == 1)
		rc = start_files(c, o->nthreads);
	if (rc == 0)
		return c;
	stop(c);
	if (c->journal != NULL)
		committer_journal_stop(c);
	destroy(c);
	return NULL;
}

void
committer_submit(struct committer *c, struct spool *sp, commit_cb *cb,
    void *arg)
{
	struct job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		spool_free(sp);
		cb(arg, -1);
		return;
	}
	j->spool = sp;
	j->cb = cb;
	j->arg = arg;
	clock_gettime(CLOCK_MONOTONIC, &j->submitted);
	pthread_mutex_lock(&c->lock);
	joblist_push(&c->todo, j);
	c->inflight++;
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
	/* Every job to its end: answered, and with the journal written
	 * out too, the loop's half run here. */
	pthread_mutex_lock(&c->lock);
	c->draining = true;
	pthread_cond_broadcast(&c->mcond);
	while (c->inflight > 0) {
		if (c->done.head == NULL) {
			pthread_cond_wait(&c->idle, &c->lock);
			continue;
		}
		pthread_mutex_unlock(&c->lock);
		run_done(c);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	stop(c);
	if (c->journal != NULL)
		committer_journal_stop(c);
	destroy(c);
}
