/*
 * workers - several event loops on one set of ports.
 *
 * With `workers = N` (N > 1) every `listen` line gets N sockets bound
 * with SO_REUSEPORT, one per worker process; the kernel hands each new
 * connection to one of them, steered by the client's address so that
 * one address outside mynetworks always meets the same worker (its
 * per-address limits and AUTH failure counts stay exact); connections
 * from mynetworks, exempt from max_connections_per_ip, are spread. The process that bound the ports
 * becomes the master: it opens the queue, forks the workers and the
 * queue runner, passes SIGHUP and SIGTERM on, and restarts a worker
 * that dies. Each worker is the single-process server (server_serve)
 * on its own sockets: its own loop, commit thread, DNS and SASL.
 */
#ifndef SALLYPORT_WORKERS_H
#define SALLYPORT_WORKERS_H

#include <stdbool.h>

#include <sys/socket.h>

#include "conf/config.h"

struct server;

#define WORKERS_MAX	64

/* cfg->workers, or half the CPUs the process may use (at least one)
 * when it is 0. */
unsigned	workers_count(const struct config *);
/* Whether a master process runs over n workers (see workers_steer.c). */
bool		workers_master(const struct config *, unsigned n);
/* Steer connections on fd's reuseport group of n sockets: a client
 * outside cfg's mynetworks always to the same socket (by address), one
 * inside by the kernel's hash. 0, or -1 with errno (the kernel then
 * spreads every client by its hash). */
int		workers_steer(int fd, unsigned n, const struct config *cfg);
/* workers_steer() for every listen line (at start or on reload),
 * logging a failure; true when every one is steered. */
bool		workers_steer_all(struct server *, bool reload);
/* The worker (0..n-1) that workers_steer()'s program picks for a client
 * at sa, or -1 when it leaves the choice to the kernel's hash. */
int		workers_steer_pick(const struct config *, const struct sockaddr *,
		    unsigned n);
/* The above are in workers_steer.c. */

/* Open the queue and the runner's pipe (after dropping privileges),
 * then run until SIGTERM/SIGINT: as the master of worker processes
 * (workers_master), or as the only process (server_serve). Returns
 * the exit status. */
int		workers_run(struct server *);

#endif
