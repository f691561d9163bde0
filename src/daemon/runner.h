/*
 * runner - the queue runner as a child process of the daemon: its
 * new-entry pipe, its start (a fresh image of this program, which runs
 * deliver_main), its restart after it died, and its stop.
 */
#ifndef SALLYPORT_RUNNER_H
#define SALLYPORT_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct server;

/* The new-entry pipe: [0] for the runner (kept by the daemon across
 * runner restarts), [1] for the daemon, non-blocking ("ID\n" lines, each
 * written whole). 0, or -1 with err. */
int	runner_notify_pipe(int fds[2], char *err, size_t errlen);
/* Fork the runner with the config file at `path`, reading the pipe's
 * `notify_rd` end and, unless -1, answering reload requests on the
 * control socket ctl_fd (generation.h; without one it reloads on
 * SIGHUP); it counts into the metrics mapping's runner slot, when there
 * is a mapping (lib/metrics.h). It finishes its deliveries in flight on SIGTERM, and stops
 * when every writer of the pipe is gone. Returns the pid, or -1 with
 * err. */
pid_t	runner_fork(const char *config_path, bool foreground, int notify_rd,
	    int ctl_fd, char *err, size_t errlen);

/* Start the queue runner with its control socket (srv->runner, and
 * the runner's entry in srv->gens); its pid, or -1 with err. */
pid_t	server_runner_spawn(struct server *, char *err, size_t errlen);
/* SIGTERM to the queue runner; SIGKILL after shutdown_timeout. */
void	server_runner_stop(struct server *);

/* The only process (no master): the watchers on srv->loop that restart
 * the runner when it dies and read its control socket; then its start,
 * retried every 5 seconds while it fails. */
void	server_runner_init(struct server *);
void	server_runner_start(struct server *);

#endif
