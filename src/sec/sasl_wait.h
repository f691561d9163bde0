/*
 * sasl_wait - the answers a SASL backend owes, oldest first, under one
 * timer at the oldest one's deadline (auth_timeout).
 *
 * Every entry gets the same timeout, so the list in order of asking is
 * also the list in order of deadlines: adding and removing are O(1) and
 * the timer only ever looks at the head. The entry lives inside what
 * waits (a Cyrus job, a Dovecot session); the loop thread alone uses
 * the list.
 */
#ifndef SALLYPORT_SASL_WAIT_H
#define SALLYPORT_SASL_WAIT_H

#include <stdbool.h>
#include <stddef.h>

#include <ev.h>

/* What contains entry e, of type T, as member m. */
#define SASL_WAIT_OF(e, T, m)	((T *)(void *)((char *)(e) - offsetof(T, m)))

struct sasl_wait {
	struct sasl_wait *prev, *next;
	ev_tstamp	 deadline;
	bool		 on;		/* on the list */
};

struct sasl_waits {
	struct ev_loop	*loop;
	ev_tstamp	 timeout;
	ev_timer	 timer;		/* calls cb with timer.data = data */
	struct sasl_wait *head, *tail;
};

void	sasl_waits_init(struct sasl_waits *, struct ev_loop *, ev_tstamp timeout,
	    void (*cb)(struct ev_loop *, ev_timer *, int), void *data);
/* e is owed an answer from now, within the timeout. */
void	sasl_wait_append(struct sasl_waits *, struct sasl_wait *e);
/* e is due now: first on the list (the timer's next run takes it). */
void	sasl_wait_due_now(struct sasl_waits *, struct sasl_wait *e);
/* e is answered (or given up); nothing when it is not on the list. */
void	sasl_wait_remove(struct sasl_waits *, struct sasl_wait *e);
/* The head when it is past its deadline, else NULL. */
struct sasl_wait *sasl_waits_due(struct sasl_waits *);
/* The timer set again for the head (stopped when the list is empty):
 * after the due entries have been taken. */
void	sasl_waits_arm(struct sasl_waits *);
void	sasl_waits_stop(struct sasl_waits *);

#endif
