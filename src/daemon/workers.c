/*
 * workers - the daemon's processes: the only one, or the master process
 * and its worker processes.
 *
 * The master has no event loop: it polls a signalfd, its children's
 * control sockets (generation.h) and the metrics listener's scrapes
 * (metrics_http.h: memory read, text written, nothing that blocks), and
 * reaps children, which keeps it small enough to trust. A worker is forked with every listening socket
 * but its own closed.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/runner.h"
#include "lib/proc.h"
#include "daemon/generation.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "daemon/metrics_http.h"
#include "queue/queue.h"
#include "daemon/server.h"
#include "sec/tls.h"
#include "daemon/workers.h"

#define WORKER_RESTART	1.0	/* seconds before a dead worker is replaced, */
#define WORKER_BACKOFF	30.0	/* ... doubling up to this while each new
				 * one dies young (WORKER_YOUNG) */
#define WORKER_YOUNG	10.0
/* Session ids of a replaced worker's successor start a new range, at a
 * multiple of n so that every id of worker w is still w mod n (the log
 * says which worker served a session). */
#define SID_GENERATION	(1UL << (sizeof(unsigned long) * 4))
#define RUNNER_RESTART	5.0	/* ... and a dead queue runner */
#define KILL_GRACE	5.0	/* past shutdown_timeout before SIGKILL */
#define MASTER_TICK_MS	200
#define EARLY_MAX	4097	/* per socket: its whole accept queue */

_Static_assert(WORKERS_MAX <= METRICS_WORKERS,
    "a slot of the metrics for every worker");

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct master {
	struct server	*srv;
	sigset_t	 child_mask;	/* what a child starts with */
	pid_t		 pid[WORKERS_MAX];	/* 0: not running */
	double		 restart_at[WORKERS_MAX];	/* 0: not due */
	double		 started[WORKERS_MAX];
	double		 delay[WORKERS_MAX];	/* before the next restart */
	unsigned long	 starts;		/* worker starts so far */
	int		 sigfd;			/* TERM, INT, HUP, CHLD */
	double		 runner_at;
	bool		 stopping;
	double		 kill_at;
	struct early_conn *early;	/* until the first workers start */
	size_t		 nearly;
};

/*
 * early_take - accept what waits on the sockets before the first workers
 * start, so that each goes to the worker its address is steered to.
 *
 * A socket joins its reuseport group at listen(), and the program is
 * attached once every socket listens: a client that connected in
 * between (a client retrying while the daemon starts) was queued on a
 * socket the kernel chose by the group it found, most often the first.
 * Left there, that worker would serve it while the same address's later
 * connections go to another (per-address limits would count it twice).
 * The accept queue is in arrival order, so taking a whole queue's worth
 * now takes every such client; a later one was steered by the program.
 * Only a handshake begun before the program and completed after this
 * (a SYN in that instant, its ACK late) can still go round it.
 */
static void
early_take(struct master *m)
{
	struct server *srv = m->srv;
	struct early_conn *e;
	size_t i, n;
	socklen_t len;
	int fd;

	for (i = 0; i < srv->nlisteners; i++)
		for (n = 0; srv->listeners[i].fd != -1 && n < EARLY_MAX; n++) {
			if ((e = reallocarray(m->early, m->nearly + 1,
			    sizeof(*e))) == NULL)
				return;	/* its own worker serves the rest */
			m->early = e;
			e += m->nearly;
			len = sizeof(e->peer);
			if ((fd = accept4(srv->listeners[i].fd,
			    (struct sockaddr *)&e->peer, &len,
			    SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1)
				break;
			e->fd = fd;
			e->role_index = i % srv->nlisten;
			e->worker = srv->listeners[i].proxy ? -1 :
			    workers_steer_pick(srv->cfg->cfg,
			    (struct sockaddr *)&e->peer, srv->nworkers);
			if (e->worker < 0)	/* spread: where it came */
				e->worker = (int)(i / srv->nlisten);
			m->nearly++;
		}
}

/* early_mine - worker w keeps its early connections, closes the rest */
static void
early_mine(struct master *m, unsigned w)
{
	struct server *srv = m->srv;
	size_t i, kept = 0;

	for (i = 0; i < m->nearly; i++)
		if (m->early[i].worker == (int)w)
			m->early[kept++] = m->early[i];
		else
			close(m->early[i].fd);
	srv->early = m->early;
	srv->nearly = kept;
	m->early = NULL;
	m->nearly = 0;
}

/* early_drop - the master's copies, once every first worker has its own */
static void
early_drop(struct master *m)
{
	size_t i;

	for (i = 0; i < m->nearly; i++)
		close(m->early[i].fd);
	free(m->early);
	m->early = NULL;
	m->nearly = 0;
}

/* worker_log_thread - a process serving clients: its loop serves every
 * session it has, so its log lines are written by a thread of their own
 * (a write to a log file or syslog can wait for the disk) */
static void
worker_log_thread(const struct config *cfg, unsigned w)
{
	if (log_async_start(cfg->log_buffer_size) == -1)
		log_warn("worker %u: no log thread (%s): its event loop "
		    "writes its log lines itself", w, strerror(errno));
}

/* worker_main - the child: its own sockets only, then the server loop */
static void
worker_main(struct master *m, unsigned w, pid_t master, unsigned long gen,
    int ctl)
{
	struct server *srv = m->srv;
	size_t i;
	int status;

	/* The master gone (even by SIGKILL) stops us the clean way. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != master)
		_exit(0);
	/* A worker faces the network and runs no program: no set-user-ID
	 * gain for it. Not in the master, whose runner may need one. */
	if (proc_no_new_privs("worker") == -1)
		_exit(1);
	sigprocmask(SIG_SETMASK, &m->child_mask, NULL);
	proc_signals(SIG_BLOCK);	/* until server_serve() watches them */
	srv->worker = (int)w;
	srv->next_sid = gen * (SID_GENERATION - SID_GENERATION % srv->nworkers) +
	    w;
	srv->runner = 0;		/* the master's, not ours to stop */
	close(m->sigfd);
	gen_close_all(&srv->gens);	/* the master's ends */
	srv->ctl_fd = ctl;		/* ours: answers to the master */
	srv->generation = srv->gens.gen;	/* what it forked us with */
	for (i = 0; i < srv->nlisteners; i++)
		if (i / srv->nlisten != w && srv->listeners[i].fd != -1) {
			close(srv->listeners[i].fd);
			srv->listeners[i].fd = -1;
		}
	if (srv->notify_rd != -1) {
		close(srv->notify_rd);
		srv->notify_rd = -1;
	}
	/* The master serves the metrics: not even a copy of a scrape's
	 * socket here, or it would stay open after the master's close. */
	metrics_http_free(srv->metrics);
	srv->metrics = NULL;
	if (srv->metrics_fd != -1) {
		close(srv->metrics_fd);
		srv->metrics_fd = -1;
	}
	/* Every worker serves the local socket; the master removes it. */
	srv->local_owner = false;
	/* Counted in its own slot, carrying on from its predecessor's. */
	metrics_attach(METRICS_SLOT_WORKER(w));
	worker_log_thread(srv->cfg->cfg, w);
	early_mine(m, w);
	status = server_serve(srv);
	server_free(srv);
	exit(status);
}

static void
worker_start(struct master *m, unsigned w)
{
	pid_t master = getpid(), pid = -1;
	char err[256];
	int ctl;

	m->restart_at[w] = 0;
	/* A replacement starts with the configuration of now, and says so
	 * on its own control socket. */
	if ((ctl = gen_child_socket(&m->srv->gens, w, err, sizeof(err))) == -1 ||
	    (pid = fork()) == -1) {
		log_err("worker %u: %s; trying again in %.0fs", w,
		    ctl == -1 ? err : strerror(errno), WORKER_RESTART);
		if (ctl != -1)
			close(ctl);
		gen_child_started(&m->srv->gens, w, 0);
		m->restart_at[w] = now_mono() + WORKER_RESTART;
		return;
	}
	if (pid == 0)
		worker_main(m, w, master, m->starts / m->srv->nworkers, ctl);
	close(ctl);
	gen_child_started(&m->srv->gens, w, pid);
	m->starts++;
	m->pid[w] = pid;
	m->started[w] = now_mono();
}

static void
runner_start(struct master *m)
{
	char err[512];

	m->runner_at = 0;
	if (server_runner_spawn(m->srv, err, sizeof(err)) == -1) {
		log_err("%s; trying again in %.0fs", err, RUNNER_RESTART);
		m->runner_at = now_mono() + RUNNER_RESTART;
	}
}

static void
signal_workers(struct master *m, int sig)
{
	unsigned w;

	for (w = 0; w < m->srv->nworkers; w++)
		if (m->pid[w] > 0)
			kill(m->pid[w], sig);
}

static unsigned
workers_alive(const struct master *m)
{
	unsigned w, n = 0;

	for (w = 0; w < m->srv->nworkers; w++)
		n += m->pid[w] > 0;
	return n;
}

static void
describe_exit(int status, char *out, size_t outlen)
{
	if (WIFSIGNALED(status))
		snprintf(out, outlen, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(out, outlen, "exited with status %d",
		    WEXITSTATUS(status));
}

/* reap - note which children have gone, and plan their replacements */
static void
reap(struct master *m)
{
	struct server *srv = m->srv;
	char how[64];
	pid_t pid;
	unsigned w;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		describe_exit(status, how, sizeof(how));
		if (pid == srv->runner) {
			srv->runner = 0;
			gen_child_gone(&srv->gens, gen_runner(&srv->gens));
			if (m->stopping)
				continue;
			/* Nothing is lost: the queue is on disk. */
			log_err("queue runner %s; restarting it in %.0fs", how,
			    RUNNER_RESTART);
			m->runner_at = now_mono() + RUNNER_RESTART;
			continue;
		}
		for (w = 0; w < srv->nworkers; w++)
			if (m->pid[w] == pid)
				break;
		if (w == srv->nworkers)
			continue;
		m->pid[w] = 0;
		gen_child_gone(&srv->gens, w);
		/* Its connections are closed: open no more in the gauge. */
		metrics_gauges_reset(METRICS_SLOT_WORKER(w));
		if (m->stopping)
			continue;
		/* Its clients lost their sessions, never a 250'd message. */
		if (now_mono() - m->started[w] >= WORKER_YOUNG ||
		    m->delay[w] == 0)
			m->delay[w] = WORKER_RESTART;
		else if ((m->delay[w] *= 2) > WORKER_BACKOFF)
			m->delay[w] = WORKER_BACKOFF;
		log_err("worker %u (pid %ld) %s; restarting it in %.0fs", w,
		    (long)pid, how, m->delay[w]);
		m->restart_at[w] = now_mono() + m->delay[w];
	}
}

static void
master_stop(struct master *m)
{
	size_t i;

	if (!m->stopping) {
		m->stopping = true;
		gen_stopping();
		m->kill_at = now_mono() +
		    m->srv->cfg->cfg->shutdown_timeout + KILL_GRACE;
		log_info("stopping: %u worker(s)", workers_alive(m));
		/* Our copies of the workers' sockets: closed, so that a
		 * new client is refused rather than left waiting. */
		for (i = 0; i < m->srv->nlisteners; i++)
			if (m->srv->listeners[i].fd != -1) {
				close(m->srv->listeners[i].fd);
				m->srv->listeners[i].fd = -1;
			}
		server_local_close(m->srv);
	}
	/* A second signal: the workers close what is left at once. */
	signal_workers(m, SIGTERM);
}

/* master_tick - what is due: restarts, or the end of a shutdown */
static bool
master_tick(struct master *m)
{
	struct server *srv = m->srv;
	double now = now_mono();
	unsigned w;

	if (m->stopping) {
		if (workers_alive(m) == 0)
			return false;
		if (now >= m->kill_at) {
			log_err("workers still running after shutdown_timeout: "
			    "killing them");
			signal_workers(m, SIGKILL);
			m->kill_at = now + KILL_GRACE;
		}
		return true;
	}
	for (w = 0; w < srv->nworkers; w++)
		if (m->pid[w] == 0 && m->restart_at[w] != 0 &&
		    now >= m->restart_at[w])
			worker_start(m, w);
	metrics_http_workers(srv->metrics, workers_alive(m));
	if (srv->runner == 0 && m->runner_at != 0 && now >= m->runner_at)
		runner_start(m);
	return true;
}

/* master_reload - SIGHUP: the file read here first, so that a bad one
 * reaches no child; then each child is asked for it, and a worker
 * started later is forked with it */
static void
master_reload(struct master *m)
{
	struct server *srv = m->srv;
	char why[256];

	gen_reload_begin(&srv->gens);
	if (!server_reload(srv, srv->gens.gen + 1, NULL, why, sizeof(why))) {
		gen_reload_refused(&srv->gens);
		return;
	}
	workers_steer_all(srv, true);
	gen_reload(&srv->gens, srv->cfg->cfg->digest);
}

/* master_signals - every signal the signalfd holds */
static void
master_signals(struct master *m)
{
	struct signalfd_siginfo si;

	while (read(m->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			master_stop(m);
		else if (si.ssi_signo == SIGHUP && !m->stopping)
			master_reload(m);
		/* SIGCHLD: reap() follows every wake-up */
	}
}

/* master_wait - until a signal, a child's answer or the next tick */
static void
master_wait(struct master *m)
{
	struct gens *g = &m->srv->gens;
	struct metrics_http *mh = m->srv->metrics;
	struct pollfd pfd[WORKERS_MAX + 2 + METRICS_HTTP_POLLFDS];
	unsigned who[WORKERS_MAX + 2], n = 1, i, nm = 0;
	int ready;

	pfd[0].fd = m->sigfd;
	pfd[0].events = POLLIN;
	for (i = 0; i <= WORKERS_MAX; i++)
		if (g->child[i].fd != -1) {
			pfd[n].fd = g->child[i].fd;
			pfd[n].events = POLLIN;
			who[n++] = i;
		}
	/* The scrapes last: served after the signals and children. */
	if (mh != NULL)
		nm = (unsigned)metrics_http_pollfds(mh, pfd + n);
	ready = poll(pfd, n + nm, MASTER_TICK_MS);
	if (ready > 0 && pfd[0].revents)
		master_signals(m);
	for (i = 1; ready > 0 && i < n; i++)
		if (pfd[i].revents)
			gen_read(g, who[i]);
	/* Its deadlines are kept on every tick, whatever poll() said. */
	if (mh != NULL) {
		if (ready <= 0)
			for (i = 0; i < nm; i++)
				pfd[n + i].revents = 0;
		metrics_http_polled(mh, pfd + n, nm);
	}
}

/* master_run - the master: until SIGTERM/SIGINT; the exit status */
static int
master_run(struct server *srv)
{
	const struct config *cfg = srv->cfg->cfg;
	static struct master m;		/* one per process */
	sigset_t set;
	unsigned w;
	size_t i;

	memset(&m, 0, sizeof(m));
	m.srv = srv;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &m.child_mask);
	signal(SIGPIPE, SIG_IGN);
	if ((m.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1) {
		log_err("signalfd: %s", strerror(errno));
		return 1;
	}

	for (i = 0; i < srv->nlisten; i++)
		if (srv->listeners[i].fd != -1)
			log_info("listening on %s (%u worker%s)",
			    srv->listeners[i].name, srv->nworkers,
			    srv->nworkers == 1 ? "" : "s");
	if (srv->local.fd != -1)
		log_info("listening on %s (%u worker%s)", srv->local.name,
		    srv->nworkers, srv->nworkers == 1 ? "" : "s");
	if (srv->metrics_fd != -1 && (srv->metrics = metrics_http_new(
	    srv->metrics_fd, srv->metrics_name, cfg, srv->started)) == NULL)
		log_warn("metrics: out of memory; %s not served",
		    srv->metrics_name);
	if (srv->tls)
		log_info("TLS certificate %s", tls_ctx_describe(srv->tls));
	if (cfg->delivery)
		runner_start(&m);
	else
		log_info("delivery = no: mail stays in the queue");
	if (srv->steered)
		early_take(&m);
	for (w = 0; w < srv->nworkers; w++)
		worker_start(&m, w);
	early_drop(&m);
	log_info("sallyport %s ready as %s with %u worker%s", PACKAGE_VERSION,
	    cfg->hostname, srv->nworkers, srv->nworkers == 1 ? "" : "s");

	for (;;) {
		master_wait(&m);
		reap(&m);
		if (!master_tick(&m))
			break;
	}
	server_runner_stop(srv);
	close(m.sigfd);
	sigprocmask(SIG_SETMASK, &m.child_mask, NULL);
	log_info("stopped");
	return 0;
}

int
workers_run(struct server *srv)
{
	const struct config *cfg = srv->cfg->cfg;
	char err[512];

	/* The counters, shared by every process started from here on (the
	 * workers by fork, the runner by its descriptor) and kept across
	 * their restarts and reloads. Without them, each counts privately
	 * and nobody sees it. */
	if (metrics_create() == -1)
		log_warn("metrics: %s; nothing is counted", strerror(errno));
	metrics_attach(METRICS_SLOT_MASTER);

	/* Once, here: a worker restarted later must not take another's
	 * spool files in tmp/ for the leftovers of a crash. */
	if ((srv->queue = queue_open(cfg->queue_dir, err, sizeof(err))) == NULL) {
		log_err("queue: %s", err);
		return 1;
	}
	log_info("queue %s: %u entries, %u stale spool files removed, "
	    "%u recovered from the journal",
	    queue_dir(srv->queue), queue_entries_at_open(srv->queue),
	    queue_removed_at_open(srv->queue),
	    queue_recovered_at_open(srv->queue));
	if (cfg->delivery) {
		int p[2];

		if (runner_notify_pipe(p, err, sizeof(err)) == -1) {
			log_err("%s", err);
			return 1;
		}
		srv->notify_rd = p[0];
		srv->notify_wr = p[1];
	}
	if (workers_master(cfg, srv->nworkers))
		return master_run(srv);
	/* One process serves the clients and starts the runner, which hands
	 * off to no qmail-queue: nothing here needs to gain privileges. A
	 * reload that turns the hand-off on is refused by the runner. */
	if (proc_no_new_privs("sallyport") == -1)
		return 1;
	worker_log_thread(cfg, 0);
	return server_serve(srv);
}
