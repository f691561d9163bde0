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

/* The new-entry pipe: [0] for the runner (kept by the daemon across
 * runner restarts), [1] for the daemon, non-blocking ("ID\n" lines, each
 * written whole). 0, or -1 with err. */
int	deliver_notify_pipe(int fds[2], char *err, size_t errlen);
/* Fork the runner with the config file at `path`, reading the pipe's
 * `notify_rd` end and, unless -1, answering reload requests on the
 * control socket ctl_fd (generation.h; without one it reloads on
 * SIGHUP). It finishes its deliveries in flight on SIGTERM, and stops
 * when every writer of the pipe is gone. Returns the pid, or -1 with
 * err. */
pid_t	deliver_spawn(const char *config_path, bool foreground, int notify_rd,
	    int ctl_fd, char *err, size_t errlen);

/* The runner's main (ctl_fd: -1, or its control socket); exits the
 * process. */
void	deliver_main(const char *config_path, int notify_fd, int ctl_fd)
	    __attribute__((noreturn));

#endif
