/*
 * deliver_int - shared by the queue runner's files: deliver.c (the
 * schedule and threads), deliver_route.c (one entry's delivery) and
 * deliver_local.c (its recipients in our own domains).
 */
#ifndef SALLYPORT_DELIVER_INT_H
#define SALLYPORT_DELIVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"
#include "smtp_client.h"

struct runner;
struct queue;
struct qentry;

/* What happened to one recipient in this attempt. */
struct outcome {
	bool	 tried;
	bool	 recorded;		/* written to the state file */
	bool	 noted;			/* ... or left to the entry's removal */
	bool	 remote;		/* text is the reply of the server at relay */
	bool	 expired;		/* a failure made final by queue_lifetime;
					 * text is the last attempt's */
	int	 code;			/* 2xx, 4xx, 5xx; 0: no verdict */
	char	 text[CLIENT_TEXT_MAX];
	char	 relay[300];
};

/* A verdict made here (remote false): tried, code, relay and text. */
void		 set_outcome(struct outcome *, int code, const char *relay,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A verdict that is a server's own reply (remote true). */
void		 set_reply(struct outcome *, const struct smtp_client_reply *,
		    const char *relay);
/* "local@domain" into its parts (the last @ splits). */
void		 split(const char *addr, char *local, size_t llen, char *domain,
		    size_t dlen);
/* The body file back at the message's first byte: 0, or -1. */
int		 rewind_body(int fd, const struct qentry *);

/* deliver_local.c: every pending recipient in one of our domains gets
 * its outcome in outs[] (indexed like e->rcpts); the caller records. */
void		 deliver_local(struct runner *, const struct config *,
		    const struct qentry *, int fd, struct outcome *outs);

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
