/*
 * metrics_http - the metrics listener (`listen = ADDR:PORT metrics`):
 * `GET /metrics` over HTTP/1.x, answered from the counters every
 * process keeps in the shared mapping (lib/metrics.h), then closed.
 *
 * One process serves it: the master when there are worker processes
 * (in its poll loop: metrics_http_pollfds, metrics_http_polled), else
 * the only process (on its libev loop: metrics_http_start). A scrape
 * only reads the slots and writes text: no file, no DNS, no waiting on
 * another process, so it never holds up the SMTP clients. Each exchange
 * is bounded: metrics_connections at once (more are closed at once),
 * HTTPREQ_HEAD_MAX bytes of request and metrics_timeout for the whole
 * of it, so that a slow client holds nothing but its own slot.
 */
#ifndef SALLYPORT_METRICS_HTTP_H
#define SALLYPORT_METRICS_HTTP_H

#include <poll.h>
#include <stddef.h>
#include <time.h>
#include <ev.h>

#include "conf/config.h"

#define METRICS_HTTP_CONNS	64	/* metrics_connections' maximum */
/* What metrics_http_pollfds may fill: the listener and each scrape. */
#define METRICS_HTTP_POLLFDS	(1 + METRICS_HTTP_CONNS)

struct metrics_http;

/* Serve the listening socket fd (not taken: the caller closes it; name
 * for the logs), with the listeners' labels of cfg (the configuration
 * the sockets were bound by), its limits, and the daemon's start time.
 * NULL: out of memory. */
struct metrics_http *metrics_http_new(int fd, const char *name,
		    const struct config *cfg, time_t started);
/* A reload: the limits of cfg from now on (the labels stay: the
 * listeners change only at a restart). */
void		 metrics_http_config(struct metrics_http *,
		    const struct config *);
/* Close every scrape and free (in a child just forked too: a copy of a
 * scrape's socket would keep it open). */
void		 metrics_http_free(struct metrics_http *);
/* sallyport_workers: processes serving clients now. */
void		 metrics_http_workers(struct metrics_http *, unsigned);

/* On a libev loop (the only process). */
void		 metrics_http_start(struct metrics_http *, struct ev_loop *);

/* In a poll() loop (the master): the descriptors to wait on (at most
 * METRICS_HTTP_POLLFDS), then, after every poll() and with what it
 * said of them, the work; a poll() that waits at most a second keeps
 * the deadlines. */
size_t		 metrics_http_pollfds(struct metrics_http *, struct pollfd *);
void		 metrics_http_polled(struct metrics_http *,
		    const struct pollfd *, size_t n);

#endif
