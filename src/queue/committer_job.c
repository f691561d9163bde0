/*
 * committer_job - what both commit methods do with jobs: the lists,
 * the hand-off to the loop, the commit latency, and the files method's
 * steps (committer_commit_one, committer_sync_dirs), which the journal also takes
 * for an entry it cannot hold.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "queue/committer_impl.h"
#include "lib/log.h"
#include "lib/metrics.h"

void
joblist_init(struct joblist *l)
{
	l->head = NULL;
	l->tail = &l->head;
}

void
joblist_push(struct joblist *l, struct job *j)
{
	j->next = NULL;
	*l->tail = j;
	l->tail = &j->next;
}

struct job *
joblist_pop(struct joblist *l)
{
	struct job *j = l->head;

	if (j != NULL && (l->head = j->next) == NULL)
		l->tail = &l->head;
	return j;
}

/* joblist_append - move all of `from` to the end of `to` */
void
joblist_append(struct joblist *to, struct joblist *from)
{
	if (from->head == NULL)
		return;
	*to->tail = from->head;
	to->tail = from->tail;
	joblist_init(from);
}

void
committer_thread_init(void)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
}

void
committer_commit_one(struct job *j)
{
	char err[512];

	j->status = spool_sync(j->spool, err, sizeof(err));
	if (j->status == 0)
		j->status = spool_publish(j->spool, err, sizeof(err));
	if (j->status == -1)
		log_err("id=%s commit: %s", spool_id(j->spool), err);
}

void
committer_sync_dirs(struct committer *c, struct job *first)
{
	char err[512];
	struct job *j;
	bool held = false;

	for (j = first; j; j = j->next)
		held |= spool_held(j->spool);
	if (queue_sync_incoming(c->queue, err, sizeof(err)) == 0 &&
	    (!held || queue_sync_hold(c->queue, err, sizeof(err)) == 0)) {
		for (j = first; j; j = j->next) {
			j->in_queue = true;
			committer_observe(j);
		}
		return;
	}
	log_err("commit: %s", err);
	for (j = first; j; j = j->next) {
		spool_unpublish(j->spool);
		j->status = -1;
	}
}

void
committer_observe(const struct job *j)
{
	struct timespec now;
	int64_t us;

	clock_gettime(CLOCK_MONOTONIC, &now);
	us = (int64_t)(now.tv_sec - j->submitted.tv_sec) * 1000000 +
	    (now.tv_nsec - j->submitted.tv_nsec) / 1000;
	metrics_commit_latency(us > 0 ? (uint64_t)us : 0);
}

void
committer_files_one(struct committer *c, struct job *j)
{
	char err[512];
	struct job *next = j->next;

	j->status = spool_materialize(j->spool, err, sizeof(err));
	if (j->status == -1)
		log_err("id=%s commit: %s", spool_id(j->spool), err);
	else
		committer_commit_one(j);
	if (j->status == 0) {
		j->next = NULL;		/* a list of one */
		committer_sync_dirs(c, j);
		j->next = next;
	}
}

void
committer_finish(struct committer *c, struct joblist *l)
{
	joblist_append(&c->done, l);
	ev_async_send(c->loop, &c->wake);
	pthread_cond_broadcast(&c->idle);
}

void
committer_finish_one(struct committer *c, struct job *j)
{
	struct joblist one;

	joblist_init(&one);
	joblist_push(&one, j);
	committer_finish(c, &one);
}

