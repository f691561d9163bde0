/*
 * committer - group commit of spool files on a worker thread.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>

#include "committer.h"
#include "log.h"

struct job {
	struct spool	*spool;
	commit_cb	*cb;
	void		*arg;
	int		 status;
	struct job	*next;
};

struct committer {
	struct ev_loop	*loop;
	struct queue	*queue;
	ev_async	 wake;		/* worker -> loop: jobs are done */
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	struct job	*todo, **todo_tail;	/* FIFO, guarded by lock */
	struct job	*done, **done_tail;
	bool		 stopping;
};

/* commit_batch - the worker's half: make every job in the list durable */
static void
commit_batch(struct committer *c, struct job *batch)
{
	char err[512];
	struct job *j;
	bool published = false;

	for (j = batch; j; j = j->next) {
		j->status = spool_sync(j->spool, err, sizeof(err));
		if (j->status == 0)
			j->status = spool_publish(j->spool, err, sizeof(err));
		if (j->status == 0)
			published = true;
		else
			log_err("id=%s commit: %s", spool_id(j->spool), err);
	}
	if (published && queue_sync_incoming(c->queue, err, sizeof(err)) == -1) {
		log_err("commit: %s", err);
		for (j = batch; j; j = j->next)
			if (j->status == 0) {
				spool_unpublish(j->spool);
				j->status = -1;
			}
	}
}

static void *
worker(void *arg)
{
	struct committer *c = arg;
	struct job *batch, *last;
	sigset_t all;

	/* Signals are the loop's business (ev_signal), not this thread's. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (c->todo == NULL && !c->stopping)
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->todo == NULL)
			break;
		batch = c->todo;
		c->todo = NULL;
		c->todo_tail = &c->todo;
		pthread_mutex_unlock(&c->lock);

		commit_batch(c, batch);
		for (last = batch; last->next; last = last->next)
			continue;

		pthread_mutex_lock(&c->lock);
		*c->done_tail = batch;
		c->done_tail = &last->next;
		ev_async_send(c->loop, &c->wake);
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
	j = c->done;
	c->done = NULL;
	c->done_tail = &c->done;
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

struct committer *
committer_new(struct ev_loop *loop, struct queue *q)
{
	struct committer *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->loop = loop;
	c->queue = q;
	c->todo_tail = &c->todo;
	c->done_tail = &c->done;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	ev_async_init(&c->wake, on_wake);
	c->wake.data = c;
	ev_async_start(loop, &c->wake);
	if (pthread_create(&c->thread, NULL, worker, c) != 0) {
		ev_async_stop(loop, &c->wake);
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
	pthread_mutex_lock(&c->lock);
	*c->todo_tail = j;
	c->todo_tail = &j->next;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void
committer_free(struct committer *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	ev_async_stop(c->loop, &c->wake);
	run_done(c);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}
