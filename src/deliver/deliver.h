/*
 * deliver - the queue runner: a child process of the daemon that
 * delivers committed entries, local recipients to mailboxes (Maildir
 * or LMTP), the others to the smarthost or straight to their MX, with
 * retries, expiry and bounces.
 *
 * Why a process: reception never shares a failure mode with delivery
 * (a stuck or crashing delivery cannot touch the sessions), and the
 * delivery code stays straight-line: a bounded pool of threads, each
 * doing one delivery with blocking I/O and deadlines. The pool size is
 * the overall limit on outbound connections; a per-destination count
 * caps each smarthost or domain.
 *
 * The daemon tells the runner about new entries by writing "ID\n" to a
 * pipe; the runner also rescans the queue at start-up and every minute
 * and takes a `flush` request (a file queue_dir/flush) within a second.
 */
#ifndef SALLYPORT_DELIVER_H
#define SALLYPORT_DELIVER_H

#include <stdbool.h>
#include <sys/types.h>

#include "conf/config.h"

/* The runner's main (ctl_fd: -1, or its control socket); exits the
 * process. */
void	deliver_main(const char *config_path, int notify_fd, int ctl_fd)
	    __attribute__((noreturn));

#endif
