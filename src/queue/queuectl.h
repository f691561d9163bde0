/*
 * queuectl - `sallyport --queue`: look at and act on the queue of a
 * configuration, beside a running daemon (list, show, flush, delete,
 * hold, release, requeue, bounce, tlsrpt).
 */
#ifndef SALLYPORT_QUEUECTL_H
#define SALLYPORT_QUEUECTL_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct qentry;

/* How `bounce` queues its DSN (deliver/dsn_return.c, handed over by
 * main.c: the queue layer cannot call the delivery layer): entry e
 * returned to its sender, recipients rcpts[0..n) failed with `text`;
 * id_out the DSN's id ("" for a null sender). 0, or -1 with err. */
typedef int	(*queuectl_dsn_fn)(const struct config *,
		    const struct qentry *e, const size_t *rcpts, size_t n,
		    const char *text, char *id_out, char *err, size_t errlen);

/* args: the words after --queue (a command, its ids or `all`,
 * filters, --wait, -c FILE, --json); config and json as given before
 * --queue. Returns the exit status: 0 done, 1 failed (an unknown id, a
 * busy or unreadable entry), 2 a usage or configuration error. */
int	queuectl_command(const char *config, bool json, queuectl_dsn_fn dsn,
	    int argc, char **argv);

/* Seconds a change waits for an entry being delivered (--wait). */
#define QUEUECTL_WAIT	10

/* The usage lines main prints for --queue. */
#define QUEUECTL_USAGE \
	"       sallyport --queue [list [FILTER...] [--json] | show ID " \
	"[--json] |\n" \
	"                         flush | tlsrpt | delete ID... |\n" \
	"                         hold ID...|all [FILTER...] | " \
	"release ID...|all [FILTER...] |\n" \
	"                         requeue ID...|all [FILTER...] | " \
	"bounce ID...]\n" \
	"                         [--wait SECONDS] [-c file]\n" \
	"         FILTER: --sender PATTERN, --recipient PATTERN, " \
	"--older-than AGE,\n" \
	"                 --newer-than AGE, --state active|deferred|held\n"

/* The runner's markers in queue_dir: `flush`, and `tlsrpt` (the
 * TLS-RPT reports of what is recorded so far, today's too). */
#define QUEUECTL_TLSRPT_MARKER	"tlsrpt-now"
/* `release`, `requeue`, `bounce`: entries released into incoming/,
 * made due now, or a DSN queued; the runner rescans the queue and
 * schedules each as its state says (nothing else made due, unlike
 * flush). `hold` and `delete` leave it too: the rescan takes the
 * entries out of the schedule and the metrics' count at once. */
#define QUEUECTL_RESCAN_MARKER	"rescan-now"

#endif
