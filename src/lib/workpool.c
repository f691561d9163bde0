/*
 * workpool - threads that stay between tasks (see workpool.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "lib/workpool.h"
#include "lib/proc.h"

struct workpool_task {
	struct workpool_task	*next;
	void			(*fn)(void *);
	void			*arg;
};

int
workpool_init(struct workpool *p, unsigned max, unsigned idle_secs)
{
	int rc;

	p->head = p->tail = NULL;
	p->queued = p->nthreads = p->nidle = 0;
	p->max = max ? max : 1;
	p->idle_secs = idle_secs ? idle_secs : 1;
	p->name = "sp-pool";
	if ((rc = pthread_mutex_init(&p->lock, NULL)) != 0) {
		errno = rc;
		return -1;
	}
	if ((rc = pthread_cond_init(&p->work, NULL)) != 0) {
		pthread_mutex_destroy(&p->lock);
		errno = rc;
		return -1;
	}
	return 0;
}

void
workpool_set_max(struct workpool *p, unsigned max)
{
	pthread_mutex_lock(&p->lock);
	p->max = max ? max : 1;
	pthread_cond_broadcast(&p->work);	/* those above it may end */
	pthread_mutex_unlock(&p->lock);
}

/* worker - take tasks until idle for idle_secs, or above max */
static void *
worker(void *arg)
{
	struct workpool *p = arg;
	struct workpool_task *t;
	struct timespec until;

	proc_thread_name(p->name);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += p->idle_secs;
		while (p->head == NULL) {
			int rc;

			if (p->nthreads > p->max)
				goto end;
			p->nidle++;
			rc = pthread_cond_timedwait(&p->work, &p->lock, &until);
			p->nidle--;
			if (p->head == NULL && rc == ETIMEDOUT)
				goto end;
		}
		t = p->head;
		if ((p->head = t->next) == NULL)
			p->tail = NULL;
		p->queued--;
		pthread_mutex_unlock(&p->lock);
		t->fn(t->arg);
		free(t);
		pthread_mutex_lock(&p->lock);
	}
end:
	p->nthreads--;
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int
workpool_submit(struct workpool *p, void (*fn)(void *), void *arg)
{
	struct workpool_task *t, **pp;
	pthread_attr_t attr;
	pthread_t tid;
	bool start = false, wake = false;
	int rc;

	if ((t = malloc(sizeof(*t))) == NULL)
		return -1;
	t->next = NULL;
	t->fn = fn;
	t->arg = arg;
	pthread_mutex_lock(&p->lock);
	if (p->tail != NULL)
		p->tail->next = t;
	else
		p->head = t;
	p->tail = t;
	p->queued++;
	/* Every task not yet taken has a thread waiting for it, or gets a
	 * new one. */
	if (p->queued > p->nidle && p->nthreads < p->max) {
		p->nthreads++;
		start = true;
	} else if (p->nidle > 0)
		wake = true;
	pthread_mutex_unlock(&p->lock);
	if (wake)
		pthread_cond_signal(&p->work);
	if (!start)
		return 0;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&tid, &attr, worker, p);
	pthread_attr_destroy(&attr);
	if (rc == 0)
		return 0;
	pthread_mutex_lock(&p->lock);
	p->nthreads--;
	if (p->nthreads > 0) {
		/* A running thread takes it when it is done. */
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	/* Nobody would ever run it: take it back. (Another task still
	 * queued now is one whose thread failed to start too: its own
	 * submitter takes it back.) */
	for (pp = &p->head; *pp != NULL; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	p->tail = NULL;
	for (struct workpool_task *q = p->head; q != NULL; q = q->next)
		p->tail = q;
	p->queued--;
	pthread_mutex_unlock(&p->lock);
	free(t);
	errno = rc;
	return -1;
}
