/*
 * conn - one client connection: socket buffers and timers around an
 * SMTP engine session, and the glue from the engine to the queue.
 */
#ifndef SALLYPORT_CONN_H
#define SALLYPORT_CONN_H

#include <sys/socket.h>

#include "conf/config.h"
#include "lib/netaddr.h"

struct server;

struct conn	*conn_new(struct server *, int fd, const struct sockaddr *,
		    enum listen_role);
/* The server is stopping: 421 now, or after the transaction. */
void		 conn_shutdown(struct conn *);
/* Close at once (shutdown_timeout has passed). */
void		 conn_abort(struct conn *);
struct conn	*conn_next(const struct conn *);
const struct sockaddr *conn_peer(const struct conn *);
/* Where the server keeps the key the connection was counted under
 * (netaddr_client_key at accept; family 0: not counted), so that it is
 * uncounted under the same key after a reload changes the prefix. */
struct netaddr_key *conn_limit_key(struct conn *);

#endif
