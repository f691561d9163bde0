/*
 * conn - one client connection: socket buffers and timers around an
 * SMTP engine session, and the glue from the engine to the queue.
 */
#ifndef SALLYPORT_CONN_H
#define SALLYPORT_CONN_H

#include <sys/socket.h>

#include "conf/config.h"

struct listener;
struct server;

/* A client accepted on listener l: served, or on a proxy listener
 * first asked for its PROXY header. The metrics count it under l's
 * `listen` line. */
struct conn	*conn_new(struct server *, int fd, const struct sockaddr *,
		    const struct listener *l);
/* The server is stopping: 421 now, or after the transaction. */
void		 conn_shutdown(struct conn *);
/* Close at once (shutdown_timeout has passed). */
void		 conn_abort(struct conn *);
struct conn	*conn_next(const struct conn *);

#endif
