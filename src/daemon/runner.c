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
		/* The pipe on 3, the control socket on 4. */
		if (ctl_fd == 3 && (ctl_fd = fcntl(3, F_DUPFD_CLOEXEC, 5)) == -1)
			_exit(1);
		if (notify_rd == 3 ? fcntl(3, F_SETFD, 0) == -1 :
		    dup2(notify_rd, 3) == -1)
			_exit(1);
		if (ctl_fd != -1 && (ctl_fd == 4 ? fcntl(4, F_SETFD, 0) == -1 :
		    dup2(ctl_fd, 4) == -1))
			_exit(1);
		snprintf(fdarg, sizeof(fdarg), ctl_fd != -1 ? "3,4" : "3");
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

