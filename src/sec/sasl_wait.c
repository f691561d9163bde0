/*
 * sasl_wait - the list of owed answers and its timer, for both SASL
 * backends (sasl_cyrus_jobs.c, sasl_dovecot.c).
 */
#include "sec/sasl_wait.h"

void
sasl_waits_init(struct sasl_waits *l, struct ev_loop *loop, ev_tstamp timeout,
    void (*cb)(struct ev_loop *, ev_timer *, int), void *data)
{
	l->loop = loop;
	l->timeout = timeout;
	l->head = l->tail = NULL;
	ev_init(&l->timer, cb);
	l->timer.data = data;
}

void
sasl_waits_arm(struct sasl_waits *l)
{
	ev_tstamp after;

	ev_timer_stop(l->loop, &l->timer);
	if (l->head == NULL)
		return;
	after = l->head->deadline - ev_now(l->loop);
	ev_timer_set(&l->timer, after > 0 ? after : 0, 0);
	ev_timer_start(l->loop, &l->timer);
}

void
sasl_waits_stop(struct sasl_waits *l)
{
	ev_timer_stop(l->loop, &l->timer);
}

void
sasl_wait_append(struct sasl_waits *l, struct sasl_wait *e)
{
	e->deadline = ev_now(l->loop) + l->timeout;
	e->prev = l->tail;
	e->next = NULL;
	if (l->tail != NULL)
		l->tail->next = e;
	else
		l->head = e;
	l->tail = e;
	e->on = true;
	if (!ev_is_active(&l->timer))
		sasl_waits_arm(l);
}

void
sasl_wait_remove(struct sasl_waits *l, struct sasl_wait *e)
{
	if (!e->on)
		return;
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->on = false;
}

void
sasl_wait_due_now(struct sasl_waits *l, struct sasl_wait *e)
{
	sasl_wait_remove(l, e);
	e->deadline = 0;
	e->prev = NULL;
	e->next = l->head;
	if (l->head != NULL)
		l->head->prev = e;
	else
		l->tail = e;
	l->head = e;
	e->on = true;
	sasl_waits_arm(l);
}

struct sasl_wait *
sasl_waits_due(struct sasl_waits *l)
{
	if (l->head == NULL || l->head->deadline > ev_now(l->loop))
		return NULL;
	return l->head;
}
