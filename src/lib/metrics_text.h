/*
 * metrics_text - the counters of every slot (lib/metrics.h) summed and
 * written as an exposition for Prometheus: OpenMetrics 1.0 text, or the
 * Prometheus text format 0.0.4 for a client that does not ask for
 * OpenMetrics (promtool check metrics reads only that one). Pure: the
 * caller passes the slots, the listeners' labels and the clock.
 *
 * Every family has every one of its label combinations, zeros included,
 * so that a dashboard has its series from the first scrape. Counters
 * are summed over the slots; connections_open is the sum of the
 * processes' gauges; the queue's gauges are the runner's.
 */
#ifndef SALLYPORT_METRICS_TEXT_H
#define SALLYPORT_METRICS_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/metrics.h"

#define METRICS_TEXT_OPENMETRICS \
	"application/openmetrics-text; version=1.0.0; charset=utf-8"
#define METRICS_TEXT_PROMETHEUS	"text/plain; version=0.0.4; charset=utf-8"

/* The labels of one listener index: listener="ADDRESS:PORT", role. */
struct metrics_text_listener {
	const char	*listener;	/* NULL: no listener counts here */
	const char	*role;
};

struct metrics_text_info {
	/* METRICS_LISTENERS of them, by the index the slots count by. */
	const struct metrics_text_listener *listeners;
	const char	*version;	/* sallyport_build_info's */
	int64_t		 start_time;	/* Unix seconds: the daemon's start */
	unsigned	 workers;	/* processes serving clients */
	int64_t		 now;		/* Unix seconds: for the queue's age */
	bool		 openmetrics;	/* else the 0.0.4 text format */
};

/* Sum the slots into *out (a gauge of the queue from the runner's slot
 * only). */
void	metrics_text_sum(const struct metrics_slot *slots, size_t nslots,
	    struct metrics_slot *out);
/* Append the exposition of the slots to out: 0, or -1 when out is full
 * (past its maximum). */
int	metrics_text_render(struct buf *out, const struct metrics_slot *slots,
	    size_t nslots, const struct metrics_text_info *);

#endif
