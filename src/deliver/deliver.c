/*
 * deliver - the queue runner process: schedule, threads, outcomes.
 *
 * The main thread keeps the schedule (entry id -> when it is due) and
 * hands each entry due to a thread of a pool (lib/workpool.c: threads
 * that stay between deliveries), never more than delivery_concurrency
 * at once. A thread delivers what is pending in
 * its entry (deliver_route.c decides where each recipient goes), writes
 * each outcome to the entry's state file before the next step, queues
 * one DSN for the permanent failures, and then either removes the entry
 * or sets its next attempt. The schedule learns of new entries from the
 * daemon's pipe, of a `flush` and of entries released, requeued or
 * bounced by `sallyport --queue` from marker files, and rescans the
 * queue every minute so that nothing is ever forgotten; hold/ it never
 * reads but to count it for the metrics, with the size of the queue and
 * its oldest arrival as the schedule knows them. Each delivery holds
 * the entry's lock (qentry_lock), which `sallyport --queue` takes to
 * change it. The configuration the threads run under, and its reload,
 * are deliver_conf.c's. With tls_reporting,
 * a thread of its own sends the TLS-RPT reports once a day (a random
 * delay into the UTC day, RFC 8460 5.1's spread), or at once when
 * `sallyport --queue tlsrpt` leaves its marker (tlsrpt_run.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/config.h"
#include "deliver/deliver.h"
#include "deliver/deliver_int.h"
#include "deliver/deliver_runner.h"
#include "deliver/tlsrpt_out.h"
#include "conf/config_gen.h"
#include "lib/deadline.h"
#include "lib/dirsync.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/proc.h"
#include "lib/workpool.h"
#include "queue/qentry.h"
#include "queue/queue.h"
#include "queue/queuectl.h"

#define RESCAN_SECS	60
#define MARKER_MS	200		/* how often `--queue`'s markers are
					 * looked for */
#define REPORT_SPREAD	3600		/* TLS-RPT: the delay's range */
#define POOL_IDLE_SECS	60		/* a delivery thread idle this long ends */

struct slot {
	char		 id[QUEUE_ID_LEN + 1];
	time_t		 due;
	time_t		 arrival;	/* as its envelope says, once read;
					 * new entries: when we heard of them */
	bool		 busy;		/* a thread has it */
	bool		 seen;		/* found by the rescan in progress */
};

static volatile sig_atomic_t got_term, got_hup;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = 1;
}

/* --- schedule ---------------------------------------------------------------- */

/* gauges - the queue as the schedule knows it, for the metrics: its
 * entries (incoming/) and the oldest one's arrival; lock held */
static void
gauges(const struct runner *r)
{
	time_t oldest = 0;
	size_t i;

	for (i = 0; i < r->nslots; i++)
		if (oldest == 0 || r->slots[i].arrival < oldest)
			oldest = r->slots[i].arrival;
	METRICS_SET(queue_entries, (int64_t)r->nslots);
	METRICS_SET(queue_oldest, (int64_t)oldest);
}

/* schedule - make id due at `due` (earlier wins), which arrived at
 * `arrival` (0: not known, now); lock held */
static void
schedule(struct runner *r, const char *id, time_t due, time_t arrival)
{
	struct slot *s;
	size_t i;

	if (strlen(id) != QUEUE_ID_LEN)
		return;
	for (i = 0; i < r->nslots; i++)
		if (strcmp(r->slots[i].id, id) == 0) {
			if (due < r->slots[i].due)
				r->slots[i].due = due;
			if (arrival != 0)
				r->slots[i].arrival = arrival;
			r->slots[i].seen = true;
			return;
		}
	if (r->nslots == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 64;

		if ((s = realloc(r->slots, ncap * sizeof(*s))) == NULL)
			return;		/* the next rescan tries again */
		r->slots = s;
		r->cap = ncap;
	}
	s = &r->slots[r->nslots++];
	memcpy(s->id, id, sizeof(s->id));
	s->due = due;
	s->arrival = arrival != 0 ? arrival : time(NULL);
	s->busy = false;
	s->seen = true;
	gauges(r);
}

/* runner_queued - a delivery queued an entry itself (a DSN, a forward):
 * due now */
static void
runner_queued(void *owner, const char *id)
{
	struct runner *r = owner;

	pthread_mutex_lock(&r->lock);
	schedule(r, id, time(NULL), 0);
	pthread_mutex_unlock(&r->lock);
	(void)!write(r->done_pipe[1], "x", 1);	/* wake the main thread */
}

/* unschedule - after a delivery: drop the entry or set its next time */
static void
unschedule(struct runner *r, const char *id, time_t next)
{
	size_t i;
	bool wake;

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < r->nslots; i++) {
		if (strcmp(r->slots[i].id, id) != 0)
			continue;
		if (next == 0) {
			r->slots[i] = r->slots[--r->nslots];
			gauges(r);
		} else {
			r->slots[i].busy = false;
			r->slots[i].due = next;
		}
		break;
	}
	r->active--;
	/* Only a dispatch that found no free thread waits for this one;
	 * otherwise the main thread's own wait (a second at most) sees a
	 * new due time soon enough, and a wake-up per delivery would cost
	 * two context switches and a turn of its loop. */
	wake = r->starved;
	r->starved = false;
	pthread_cond_broadcast(&r->idle);
	pthread_mutex_unlock(&r->lock);
	if (wake)
		(void)!write(r->done_pipe[1], "x", 1);
}

/* forget_gone - entries the rescan did not find, and that are no
 * longer in incoming/ (deleted, or put on hold, by `sallyport --queue`):
 * out of the schedule, so that the metrics' count is the queue's. One
 * listed while the scan went on was seen by its stat. Lock held. */
static void
forget_gone(struct runner *r)
{
	char path[4096];
	size_t i = 0;

	while (i < r->nslots) {
		struct slot *s = &r->slots[i];
		bool gone = false;

		if (!s->seen && !s->busy && (size_t)snprintf(path, sizeof(path),
		    "%s/incoming/%s", queue_dir(r->queue), s->id) < sizeof(path))
			gone = access(path, F_OK) == -1 && errno == ENOENT;
		if (gone)
			*s = r->slots[--r->nslots];
		else
			i++;
	}
}

/* rescan - every entry on disk is in the schedule, and no other; the
 * entries on hold counted (for the metrics: the runner never reads
 * them otherwise) */
static void
rescan(struct runner *r, time_t now)
{
	char err[256];
	size_t n, i, nheld;
	char **ids = qentry_list(queue_dir(r->queue), &n);
	char **held = qentry_list_held(queue_dir(r->queue), &nheld);

	if (held != NULL)	/* else the last count stands */
		METRICS_SET(queue_held, (int64_t)nheld);
	qentry_list_free(held, nheld);
	pthread_mutex_lock(&r->lock);
	for (i = 0; i < r->nslots; i++)
		r->slots[i].seen = false;
	pthread_mutex_unlock(&r->lock);
	for (i = 0; i < n; i++) {
		struct qentry *e = qentry_load(queue_dir(r->queue), ids[i],
		    err, sizeof(err));
		time_t due = e && e->next_attempt > now ? e->next_attempt : now;
		time_t arrival = e ? e->arrival : 0;

		if (e == NULL)
			log_err("queue runner: %s", err);
		qentry_free(e);
		pthread_mutex_lock(&r->lock);
		if (e != NULL)
			schedule(r, ids[i], due, arrival);
		pthread_mutex_unlock(&r->lock);
	}
	qentry_list_free(ids, n);
	pthread_mutex_lock(&r->lock);
	forget_gone(r);
	gauges(r);
	pthread_mutex_unlock(&r->lock);
}

/* sweep_state - state files whose entry is gone (a crash inside
 * qentry_remove, which removes the entry first): qentry_lock removes
 * such a file under the entry's lock (the same byte whatever the
 * entry's place), so that an entry being moved
 * between incoming/ and hold/ by `sallyport --queue` is never taken for
 * one that is gone */
static void
sweep_state(const char *dir)
{
	char path[4096], err[512];
	struct dirent *de;
	int lock;
	DIR *d;

	snprintf(path, sizeof(path), "%s/state", dir);
	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (!qentry_id_valid(de->d_name))
			continue;
		if ((lock = qentry_lock(dir, de->d_name, 0, err,
		    sizeof(err))) != -1)
			qentry_unlock(lock);
		else if (errno == ENOENT)
			log_info("queue runner: removed stale %s/%s", path,
			    de->d_name);
	}
	closedir(d);
}

/* --- one delivery ---------------------------------------------------------------- */

struct job {
	struct runner	*r;
	struct job	*next;		/* dispatch's list */
	char		 id[QUEUE_ID_LEN + 1];
};

/*
 * job_main - one delivery, under the entry's lock (qentry_lock): taken
 * before the entry is read, given back after the schedule has its next
 * time, so that a requeue that waited for it is seen by the rescan its
 * marker asks for. Busy (`sallyport --queue` changing it): tried again
 * in a second. Gone (held, bounced, deleted): dropped.
 */
static void
job_main(void *arg)
{
	struct job *j = arg;
	struct deliver_ctx dc = { j->r->queue, runner_queued, j->r };
	struct rcfg *c = rcfg_get(j->r);
	char err[512];
	time_t next;
	int lock;

	if ((lock = qentry_lock(c->cfg->queue_dir, j->id, 0, err,
	    sizeof(err))) != -1)
		next = deliver_entry(&dc, c->cfg, j->id);
	else if (errno == ENOENT)
		next = 0;
	else if (errno == EWOULDBLOCK)
		next = time(NULL) + 1;
	else {
		log_err("id=%s %s", j->id, err);
		next = time(NULL) + (time_t)c->cfg->retry_min;
	}
	rcfg_put(j->r, c);
	unschedule(j->r, j->id, next);
	qentry_unlock(lock);
	free(j);
}

/* --- TLS-RPT ----------------------------------------------------------------- */

static void *
report_main(void *arg)
{
	struct runner *r = arg;
	struct deliver_ctx dc = { r->queue, runner_queued, r };
	struct rcfg *c = rcfg_get(r);

	proc_thread_name("sp-tlsrpt");
	tlsrpt_run(&dc, c->cfg, time(NULL), r->report_all);
	rcfg_put(r, c);
	pthread_mutex_lock(&r->lock);
	r->reporting = false;
	r->active--;
	pthread_cond_broadcast(&r->idle);
	pthread_mutex_unlock(&r->lock);
	(void)!write(r->done_pipe[1], "x", 1);
	return NULL;
}

/* report_start - the reports on a thread of their own (DNS lookups,
 * disk); false when one runs already or none can start */
static bool
report_start(struct runner *r, bool all)
{
	pthread_attr_t attr;
	pthread_t t;
	bool started = false;

	pthread_mutex_lock(&r->lock);
	if (!r->reporting) {
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		r->report_all = all;
		r->reporting = started = pthread_create(&t, &attr,
		    report_main, r) == 0;
		if (started)
			r->active++;	/* waited for at the end like a delivery */
		pthread_attr_destroy(&attr);
	}
	pthread_mutex_unlock(&r->lock);
	return started;
}

/* reports - the trigger's marker (looked for when `markers`), or a due
 * day (looked for once a minute) */
static void
reports(struct runner *r, time_t now, bool markers)
{
	const char *dir = queue_dir(r->queue);
	char path[4096];
	bool busy;

	pthread_mutex_lock(&r->lock);
	busy = r->reporting;
	pthread_mutex_unlock(&r->lock);
	if (busy)
		return;		/* a marker waits for the run in progress */
	snprintf(path, sizeof(path), "%s/%s", dir, QUEUECTL_TLSRPT_MARKER);
	if (markers && unlink(path) == 0) {
		if (!r->cfg->cfg->tls_reporting)
			log_warn("queue runner: TLS-RPT reports requested, but "
			    "tls_reporting = no: nothing is recorded or sent");
		else {
			log_info("queue runner: TLS-RPT reports requested");
			(void)report_start(r, true);
		}
		return;
	}
	if (!r->cfg->cfg->tls_reporting || now < r->report_check)
		return;
	r->report_check = now + RESCAN_SECS;
	if (tlsrpt_due(dir, now, r->report_delay) && report_start(r, false))
		r->report_check = now + REPORT_SPREAD;	/* what is left:
							 * an hour later */
}

/* dispatch - due entries to the pool's threads, within the limits */
static void
dispatch(struct runner *r, time_t now)
{
	const struct config *cfg = r->cfg->cfg;
	struct job *jobs = NULL, *j;
	size_t i;

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < r->nslots && r->active < cfg->delivery_concurrency;
	    i++) {
		struct slot *s = &r->slots[i];

		if (s->busy || s->due > now)
			continue;
		if ((j = malloc(sizeof(*j))) == NULL)
			break;
		j->r = r;
		memcpy(j->id, s->id, sizeof(j->id));
		j->next = jobs;
		jobs = j;
		s->busy = true;
		r->active++;
	}
	r->starved = i < r->nslots;	/* stopped at the limit */
	pthread_mutex_unlock(&r->lock);
	/* Handed over with the lock released: a thread that takes one at
	 * once does not wait for it. */
	while ((j = jobs) != NULL) {
		jobs = j->next;
		if (workpool_submit(&r->pool, job_main, j) == 0)
			continue;
		pthread_mutex_lock(&r->lock);
		for (i = 0; i < r->nslots; i++)
			if (strcmp(r->slots[i].id, j->id) == 0)
				r->slots[i].busy = false;
		r->active--;
		pthread_mutex_unlock(&r->lock);
		free(j);
	}
}

/* next_wait - milliseconds until something is due, at most a second */
static int
next_wait(struct runner *r, time_t now)
{
	time_t soonest = now + 1;
	size_t i;

	pthread_mutex_lock(&r->lock);
	/* At the limit, only a finished thread (done_pipe) can help. */
	if (r->active < r->cfg->cfg->delivery_concurrency)
		for (i = 0; i < r->nslots; i++)
			if (!r->slots[i].busy && r->slots[i].due < soonest)
				soonest = r->slots[i].due;
	pthread_mutex_unlock(&r->lock);
	return soonest <= now ? 0 : 1000;
}

/* read_notes - "ID\n" lines from the daemon: new entries, due now */
static bool
read_notes(struct runner *r, int fd, char *pending, size_t *plen, time_t now)
{
	char buf[4096];
	ssize_t n;
	size_t i;

	n = read(fd, buf, sizeof(buf));
	if (n == 0)
		return false;		/* the daemon is gone */
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	pthread_mutex_lock(&r->lock);
	for (i = 0; i < (size_t)n; i++) {
		if (buf[i] != '\n') {
			if (*plen < QUEUE_ID_LEN)
				pending[(*plen)++] = buf[i];
			continue;
		}
		pending[*plen] = '\0';
		/* A line cut by a runner that died mid-read: not an id. */
		if (qentry_id_valid(pending))
			schedule(r, pending, now, 0);
		*plen = 0;
	}
	pthread_mutex_unlock(&r->lock);
	return true;
}

/* marker_taken - `sallyport --queue` left the marker `name` (flush,
 * release): taken away, true */
static bool
marker_taken(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return unlink(path) == 0;
}

void
deliver_main(const char *path, int notify_fd, int ctl_fd)
{
	struct runner r;
	struct sigaction sa;
	char err[512], why[256], pending[QUEUE_ID_LEN + 1];
	char digest[CONFIG_DIGEST_HEX];
	size_t plen = 0, i;
	time_t now, last_scan = 0;
	struct timespec marker_check = { 0, 0 };
	bool daemon_alive = true, eof, refused, markers;
	int wait;
	unsigned long gen = 0, asked;

	/* runner_fork (daemon/runner.c) left them open across our exec;
	 * no program we run (qmail-queue, as another user) may inherit the
	 * master's control socket or the daemon's pipe. */
	fcntl(notify_fd, F_SETFD, FD_CLOEXEC);
	if (ctl_fd != -1)
		fcntl(ctl_fd, F_SETFD, FD_CLOEXEC);
	/* Started as /proc/self/exe, it would be "exe" in ps and top */
	proc_thread_name("sallyport");
	memset(&r, 0, sizeof(r));
	r.path = path;
	pthread_mutex_init(&r.lock, NULL);
	pthread_cond_init(&r.idle, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	proc_signals(SIG_UNBLOCK);	/* see runner_fork */
	signal(SIGPIPE, SIG_IGN);
	/* The daemon put the generation we start as in the socket before
	 * it forked us. */
	digest[0] = '\0';
	if (ctl_fd != -1)
		gen = gen_requested(ctl_fd, &eof, digest);
	if ((r.cfg = rcfg_load(path, err, sizeof(err))) == NULL) {
		gen_answer(ctl_fd, gen, err);
		_exit(1);
	}
	/* Not the generation the master asked for, but we run, and say so:
	 * the file changed since the master read it (we run what we read; a
	 * SIGHUP numbers it), or we were started under the flag with the
	 * hand-off on (the one serving process restarting us after a reload
	 * turned it on: each hand-off defers, nothing is lost). Nothing to
	 * run at all would be worse. */
	refused = !runner_privs(r.cfg->cfg, why, sizeof(why));
	/* The deliveries' lines, written by a thread of their own: none
	 * waits for the log, and many lines go in one write. Started after
	 * runner_privs: no_new_privs is a thread's, and goes to the threads
	 * it starts from then on. */
	if (log_async_start(r.cfg->cfg->log_buffer_size) == -1)
		log_warn("queue runner: no log thread (%s)", strerror(errno));
	if (!gen_same_file(digest, r.cfg->cfg, why, sizeof(why)))
		refused = true;
	if (refused)
		log_err("queue runner: %s: generation %lu is not live here",
		    why, gen);
	if ((r.queue = queue_attach(r.cfg->cfg->queue_dir, err,
	    sizeof(err))) == NULL || pipe2(r.done_pipe, O_CLOEXEC |
	    O_NONBLOCK) == -1 || workpool_init(&r.pool,
	    r.cfg->cfg->delivery_concurrency, POOL_IDLE_SECS) == -1) {
		log_err("queue runner: %s", r.queue ? strerror(errno) : err);
		log_async_stop();
		_exit(1);
	}
	r.pool.name = "sp-deliver";
	fcntl(notify_fd, F_SETFL, O_NONBLOCK);
	runner_reuse_limits(r.cfg->cfg);
	if (qentry_lock_setup(queue_dir(r.queue), err, sizeof(err)) == -1)
		log_err("queue runner: %s; no entry can be delivered", err);
	sweep_state(queue_dir(r.queue));
	/* Every delivery looks in these directories, and no thread runs
	 * yet: held open from here on, not looked up again per entry. */
	if (qentry_pin(queue_dir(r.queue), err, sizeof(err)) == -1)
		log_warn("queue runner: %s; looked up by path for each "
		    "entry instead", err);
	r.report_delay = (unsigned)(((unsigned long)getpid() * 2654435761u ^
	    (unsigned long)time(NULL)) % REPORT_SPREAD);
	log_info("queue runner started");
	gen_answer(ctl_fd, gen, refused ? why : NULL);

	while (!got_term) {
		struct pollfd pfd[3] = {
			{ .fd = daemon_alive ? notify_fd : -1, .events = POLLIN },
			{ .fd = r.done_pipe[0], .events = POLLIN },
			{ .fd = ctl_fd, .events = POLLIN },
		};
		char drain[64];

		now = time(NULL);
		if (got_hup) {
			got_hup = 0;	/* before loading: a new HUP loads again */
			if (ctl_fd == -1)
				runner_reload(&r, -1, 0, "");
			else
				log_warn("queue runner: SIGHUP ignored: send it "
				    "to the daemon (pid %ld), which reloads "
				    "every process", (long)getppid());
		}
		if (now - last_scan >= RESCAN_SECS) {
			rescan(&r, now);
			last_scan = now;
		}
		/* Entries released from hold/ (new in incoming/), requeued
		 * ones and bounces queued by `sallyport --queue`: due now as
		 * their state says; the others keep their time. Looked for
		 * every MARKER_MS (the wait below ends then), not at every
		 * turn: new mail turns the loop many times a second, and each
		 * look is an unlink(2) by path per marker. */
		if (deadline_left(&marker_check) == 0) {
			deadline_in(&marker_check, MARKER_MS);
			markers = true;
		} else
			markers = false;
		if (markers &&
		    marker_taken(queue_dir(r.queue), QUEUECTL_RESCAN_MARKER))
			rescan(&r, now);
		if (markers && marker_taken(queue_dir(r.queue), "flush")) {
			log_info("queue runner: flush requested");
			rescan(&r, now);
			pthread_mutex_lock(&r.lock);
			for (i = 0; i < r.nslots; i++)
				r.slots[i].due = now;
			pthread_mutex_unlock(&r.lock);
		}
		reports(&r, now, markers);
		smtp_client_reuse_sweep(now);
		dispatch(&r, now);
		wait = next_wait(&r, now);
		/* A turn that did not look for the markers wakes up for
		 * them: taken within MARKER_MS, busy or not. */
		if (!markers && deadline_left(&marker_check) < wait)
			wait = deadline_left(&marker_check);
		if (poll(pfd, 3, wait) > 0) {
			if (pfd[2].revents) {
				if ((asked = gen_requested(ctl_fd, &eof,
				    digest)) > gen) {
					gen = asked;
					runner_reload(&r, ctl_fd, gen, digest);
				}
				if (eof)	/* the daemon gone: see read_notes */
					ctl_fd = -1;
			}
			if (pfd[0].revents && !read_notes(&r, notify_fd,
			    pending, &plen, time(NULL))) {
				/* The daemon has stopped: finish and go too. */
				daemon_alive = false;
				got_term = 1;
			}
			while (read(r.done_pipe[0], drain, sizeof(drain)) > 0)
				continue;
		}
	}

	/* Deliveries in flight finish: their outcomes are on disk. */
	pthread_mutex_lock(&r.lock);
	while (r.active > 0)
		pthread_cond_wait(&r.idle, &r.lock);
	pthread_mutex_unlock(&r.lock);
	smtp_client_reuse_close_all();
	/* The removals' fsyncs, asked for and not waited for: ended. */
	if (dir_fsync_drain() == -1)
		log_warn("queue runner: an fsync of incoming/ after removals "
		    "failed (logged above)");
	log_info("queue runner stopped");
	log_async_stop();	/* _exit(2) would not */
	_exit(0);
}
