/*
 * queuectl - `sallyport --queue`: look at and act on the queue of a
 * configuration, beside a running daemon (list, flush, delete,
 * release).
 */
#ifndef SALLYPORT_QUEUECTL_H
#define SALLYPORT_QUEUECTL_H

#include <stdbool.h>

/* args: the words after --queue ([list|flush|delete ID...|release
 * ID...|release all], -c FILE,
 * --json); config and json as given before --queue. Returns the exit
 * status: 0 done, 1 failed (an unknown id, an unreadable entry), 2 a
 * usage or configuration error. */
int	queuectl_command(const char *config, bool json, int argc, char **argv);

/* The usage lines main prints for --queue. */
#define QUEUECTL_USAGE \
	"       sallyport --queue [list [--json] | flush | tlsrpt | " \
	"delete ID... |\n" \
	"                         release ID... | release all] [-c file]\n"

/* The runner's markers in queue_dir: `flush`, and `tlsrpt` (the
 * TLS-RPT reports of what is recorded so far, today's too). */
#define QUEUECTL_TLSRPT_MARKER	"tlsrpt-now"
/* `release`: entries were moved from hold/ into incoming/; the runner
 * rescans the queue (nothing else made due, unlike flush). */
#define QUEUECTL_RELEASE_MARKER	"release-now"

#endif
