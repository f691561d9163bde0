/*
 * deliver_int - shared by the queue runner's files: deliver.c (the
 * schedule and threads) and deliver_route.c (one entry's delivery).
 */
#ifndef SALLYPORT_DELIVER_INT_H
#define SALLYPORT_DELIVER_INT_H

#include <time.h>

#include "config.h"

struct runner;
struct queue;

/* A configuration shared by the threads that started under it. */
struct rcfg {
	struct config	*cfg;
	int		 refs;		/* guarded by the runner's lock */
};

struct rcfg	*rcfg_get(struct runner *);
void		 rcfg_put(struct runner *, struct rcfg *);
struct queue	*runner_queue(struct runner *);
/* The runner queued an entry itself (a DSN, a forward): due now. */
void		 runner_queued(struct runner *, const char *id);

/* Deliver what is pending in entry `id`; returns when to try again, or
 * 0 when the entry is finished (removed) or gone. */
time_t		 deliver_entry(struct runner *, const struct config *,
		    const char *id);

/* One slot per destination ("smarthost", a domain, "local"): wait
 * until fewer than delivery_per_destination deliveries use it. */
void		 dest_acquire(const char *key, unsigned limit);
void		 dest_release(const char *key);

#endif
