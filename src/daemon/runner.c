/*
 * runner - the queue runner's process, seen from the daemon: started
 * as a fresh image of this program (deliver_main runs it), watched,
 * restarted when it dies, stopped with the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/generation.h"
#include "daemon/runner.h"
#include "daemon/server.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/proc.h"

int
runner_notify_pipe(int fds[2], char *err, size_t errlen)
{
	if (pipe2(fds, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "queue runner: pipe: %s", strerror(errno));
		return -1;
	}
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	return 0;
}

/* runner_place_fds - fds[i] (-1: none) onto descriptor 3 + i, open
 * across exec; fds[i] becomes where it is (or -1). Each one already in
 * 3 .. 3 + n - 1 but not at its place is moved out of the way first, so
 * that no dup2 closes one still to be placed. In the child only. */
static int
runner_place_fds(int *fds, int n)
{
	int i, to;

	for (i = 0; i < n; i++)
		if (fds[i] >= 3 && fds[i] < 3 + n && fds[i] != 3 + i &&
		    (fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3 + n)) == -1)
			return -1;
	for (i = 0; i < n; i++) {
		if (fds[i] == -1)
			continue;
		to = 3 + i;
		if (fds[i] == to ? fcntl(to, F_SETFD, 0) == -1 :
		    dup2(fds[i], to) == -1)
			return -1;
		fds[i] = to;
	}
	return 0;
}

pid_t
runner_fork(const char *path, bool foreground, int notify_rd, int ctl_fd,
    char *err, size_t errlen)
{
	char fdarg[32];
	pid_t pid;

	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "queue runner: fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* A fresh image: no loop, no listeners (all close-on-exec).
		 * TERM, INT and HUP stay blocked across exec until
		 * deliver_main() has its handlers: a SIGHUP passed on by
		 * the daemon meanwhile waits instead of killing us. One
		 * sigprocmask: a mask emptied first and blocked again after
		 * let a SIGHUP sent right after the fork kill us. */
		sigset_t set;

		proc_signal_set(&set);
		sigprocmask(SIG_SETMASK, &set, NULL);
		/* The pipe on 3, the control socket on 4, the metrics
		 * mapping on 5: only these outlive the exec. */
		int fds[3] = { notify_rd, ctl_fd, metrics_fd() };

		if (runner_place_fds(fds, 3) == -1)
			_exit(1);
		snprintf(fdarg, sizeof(fdarg), "3,%d,%d", fds[1], fds[2]);
		/* This very program through /proc/self/exe, not the path it
		 * was started by: the service user may not be able to
		 * search that path (a build under /root), and a package
		 * upgrade may have put a newer binary there since. */
		execl("/proc/self/exe", "sallyport", "--queue-runner", fdarg,
		    "-c", path, foreground ? "-f" : (char *)NULL, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void
on_runner_restart(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	server_runner_start(w->data);
}

static void
on_runner_exit(struct ev_loop *loop, ev_child *w, int revents)
{
	struct server *srv = w->data;

	(void)revents;
	ev_child_stop(loop, w);
	ev_io_stop(loop, &srv->runner_ctl);
	gen_child_gone(&srv->gens, gen_runner(&srv->gens));
	srv->runner = 0;
	if (srv->stopping)
		return;
	/* Nothing is lost: the queue is on disk. Start it again soon. */
	log_err("queue runner exited (status %d); restarting it in 5s",
	    w->rstatus);
	ev_timer_set(&srv->runner_restart, 5.0, 0.0);
	ev_timer_start(loop, &srv->runner_restart);
}

static void
on_runner_control(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *srv = w->data;
	unsigned r = gen_runner(&srv->gens);

	(void)revents;
	gen_read(&srv->gens, r);
	if (srv->gens.child[r].fd == -1)
		ev_io_stop(loop, w);
}

void
server_runner_init(struct server *srv)
{
	ev_init(&srv->runner_restart, on_runner_restart);
	srv->runner_restart.data = srv;
	ev_init(&srv->runner_watch, on_runner_exit);
	srv->runner_watch.data = srv;
	ev_init(&srv->runner_ctl, on_runner_control);
	srv->runner_ctl.data = srv;
}

pid_t
server_runner_spawn(struct server *srv, char *err, size_t errlen)
{
	unsigned r = gen_runner(&srv->gens);
	int ctl;
	pid_t pid = -1;

	if ((ctl = gen_child_socket(&srv->gens, r, err, errlen)) != -1) {
		pid = runner_fork(srv->cfg->cfg->path, srv->foreground,
		    srv->notify_rd, ctl, err, errlen);
		close(ctl);
	}
	gen_child_started(&srv->gens, r, pid > 0 ? pid : 0);
	srv->runner = pid > 0 ? pid : 0;
	return pid;
}

void
server_runner_start(struct server *srv)
{
	unsigned r = gen_runner(&srv->gens);
	char err[512];

	if (server_runner_spawn(srv, err, sizeof(err)) == -1) {
		log_err("%s; trying again in 5s", err);
		ev_timer_set(&srv->runner_restart, 5.0, 0.0);
		ev_timer_start(srv->loop, &srv->runner_restart);
		return;
	}
	ev_child_set(&srv->runner_watch, srv->runner, 0);
	ev_child_start(srv->loop, &srv->runner_watch);
	ev_io_set(&srv->runner_ctl, srv->gens.child[r].fd, EV_READ);
	ev_io_start(srv->loop, &srv->runner_ctl);
}

/* server_runner_stop - SIGTERM, then wait up to shutdown_timeout, then KILL:
 * deliveries in flight have their outcomes on disk either way */
void
server_runner_stop(struct server *srv)
{
	int status, i;

	if (srv->runner <= 0)
		return;
	if (srv->loop)
		ev_child_stop(srv->loop, &srv->runner_watch);
	kill(srv->runner, SIGTERM);
	for (i = 0; i < (int)srv->cfg->cfg->shutdown_timeout * 10; i++) {
		if (waitpid(srv->runner, &status, WNOHANG) == srv->runner)
			break;
		usleep(100000);
	}
	if (i == (int)srv->cfg->cfg->shutdown_timeout * 10) {
		kill(srv->runner, SIGKILL);
		waitpid(srv->runner, &status, 0);
	}
	srv->runner = 0;
}

