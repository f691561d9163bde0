/*
 * sasl_cyrus_jobs - SMTP AUTH through Cyrus SASL on worker threads,
 * with a deadline (sasl_backend = cyrus).
 *
 * Every sasl_server_new, start, step and dispose of a session runs on
 * a worker thread, and the answer comes back to the loop through an
 * ev_async, as in committer.c. The only Cyrus calls made elsewhere are
 * the set-up in sasl_cyrus.c, before the first worker starts. A
 * session's conn is made on its first job and disposed of when an
 * exchange ends; the client's bytes are wiped from memory once Cyrus
 * has seen them. A session's jobs run one at a time and in order, so
 * its conn is only ever in one thread's hands.
 *
 * Deadline (auth_timeout). A Cyrus call cannot be interrupted: a
 * saslauthd that accepts and never answers holds the thread in read()
 * for ever. So the loop keeps the jobs owed an answer in a list, oldest
 * first, and when one passes its deadline it answers it itself (TEMP:
 * 454 4.7.0) and marks it expired. A job still queued is dropped. A job
 * running is left to its thread, now "stuck": its session stays busy
 * (an AUTH on it gets TEMP at once, no job is queued behind it), and,
 * when no other thread is left to serve, a new one is started, up to
 * auth_threads threads in all, stuck ones counted. Past that bound new
 * jobs wait and expire in turn: 454 for everyone, nothing grows. A
 * stuck thread that comes back files its job as done (the loop drops
 * the answer: the client has had its 454), frees the session's conn as
 * usual and serves again, or leaves if another thread already serves.
 * Sessions, jobs and the server outlive every thread that holds them:
 * a session is freed by its last job (JOB_FREE runs after all others),
 * the server by its last thread when cyrus_server_free gave up waiting.
 * Normally one thread serves, so Cyrus calls run one at a time, as
 * before; they overlap only with a thread stuck in the backend, which
 * Cyrus allows once it has real mutexes (sasl_cyrus.c).
 *
 * User names: Cyrus splits "user@realm" at the last "@"; a name without
 * one is looked up in the realm named by the session's hostname. With
 * sasldb, "saslpasswd2 -c -u example.org alice" makes an account that
 * logs in as "alice@example.org" only; "-u <hostname> bob" makes one
 * that logs in as "bob" or "bob@<hostname>" (and reports the name as
 * typed). Names and realms are case-sensitive.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>
#include <openssl/crypto.h>

#include "lib/log.h"
#include "sec/sasl_cyrus.h"
#include "sec/sasl_cyrus_jobs.h"
#include "sec/sasl_wait.h"
#include "lib/proc.h"

#define STOP_WAIT	5		/* seconds cyrus_server_free waits */
#define SASL_CB_TEMP(cb, arg)	(cb)((arg), SASL_STATUS_TEMP, NULL, 0, NULL)

enum job_kind {
	JOB_START,		/* a fresh conn, then sasl_server_start */
	JOB_STEP,		/* sasl_server_step */
	JOB_DISPOSE,		/* cyrus_session_reset */
	JOB_FREE,		/* cyrus_session_free: dispose, then free it */
};

struct job {
	enum job_kind	 kind;
	struct cyrus_session *sess;
	unsigned	 gen;		/* the session's generation when asked */
	sasl_cb		*cb;
	void		*arg;
	char		*in;		/* client bytes, after the struct; wiped */
	size_t		 inlen;
	bool		 has_in;
	char		*mech;		/* after in */
	bool		 queued;	/* on the todo list (lock) */
	bool		 running;	/* a worker has it (lock) */
	bool		 expired;	/* answered TEMP at its deadline (lock) */
	struct sasl_wait w;		/* owed an answer (loop only) */
	enum sasl_status status;	/* the answer, set by the worker */
	char		*out;		/* challenge */
	size_t		 outlen;
	char		*user;
	struct job	*next;		/* todo or done (lock) */
};

struct cyrus_server {
	struct ev_loop	*loop;
	char		*mechs[2];	/* offered without TLS, with TLS */
	ev_async	 wake;		/* worker -> loop: answers are ready */
	struct sasl_waits waits;	/* jobs owed an answer, auth_timeout */
	unsigned	 max_threads;	/* auth_threads */
	pthread_mutex_t	 lock;
	pthread_cond_t	 work;		/* loop -> workers: a job, or stop */
	pthread_cond_t	 stopped;	/* workers -> loop: one has left */
	struct job	*todo, **todo_tail;	/* FIFO, guarded by lock */
	struct job	*done, **done_tail;
	unsigned	 nthreads;	/* alive, stuck ones too (lock) */
	unsigned	 nstuck;	/* running an expired job (lock) */
	bool		 stopping;
	bool		 abandoned;	/* free gave up waiting: the last
					   thread out frees it */
	bool		 said_full;	/* logged: every thread is stuck */
};

struct cyrus_session {
	struct cyrus_server *srv;
	char		*hostname;	/* serverFQDN: the default realm */
	char		*local, *remote;	/* "IP;port" */
	unsigned	 ssf;
	sasl_callback_t	 cbs[2];	/* Cyrus's log, with our remote */
	sasl_conn_t	*conn;		/* worker thread only */
	unsigned	 gen;		/* bumped by reset: older answers dropped */
	bool		 busy;		/* a job of it runs (lock) */
	bool		 stuck;		/* and is past its deadline (lock) */
	bool		 used;		/* a START went out: jobs may hold it */
	bool		 freed;		/* the owner is gone; `bye` frees it */
	struct job	 bye;		/* JOB_FREE, never fails to allocate */
};

/* --- jobs ---------------------------------------------------------------- */

/* job_new - a job carrying copies of the client's bytes and the mechanism */
static struct job *
job_new(struct cyrus_session *s, enum job_kind kind, const char *mech,
    const char *in, size_t len, sasl_cb *cb, void *arg)
{
	size_t mlen = mech != NULL ? strlen(mech) : 0;
	struct job *j;

	if (len > SIZE_MAX - sizeof(*j) - mlen - 2 ||
	    (j = calloc(1, sizeof(*j) + len + 1 + mlen + 1)) == NULL)
		return NULL;
	j->kind = kind;
	j->sess = s;
	j->gen = s->gen;
	j->cb = cb;
	j->arg = arg;
	j->in = (char *)(j + 1);
	if (len > 0)
		memcpy(j->in, in, len);
	j->inlen = len;
	j->has_in = true;
	j->mech = j->in + len + 1;
	if (mlen > 0)
		memcpy(j->mech, mech, mlen);
	return j;
}

/* job_wipe - forget the client's bytes: they may hold a password */
static void
job_wipe(struct job *j)
{
	if (j->inlen > 0)
		explicit_bzero(j->in, j->inlen);
}

static void
job_free(struct job *j)
{
	job_wipe(j);
	free(j->out);
	free(j->user);
	free(j);
}

static void
session_destroy(struct cyrus_session *s)
{
	free(s->hostname);
	free(s->local);
	free(s->remote);
	free(s);
}

/* jobs_finish - answer (when run) and free a list of finished jobs; the
 * answer of a session freed or reset since it asked, or already given
 * at the deadline, is dropped. srv: NULL once the loop is gone. */
static void
jobs_finish(struct cyrus_server *srv, struct job *j, bool run)
{
	struct cyrus_session *s;
	struct job *next;

	for (; j != NULL; j = next) {
		next = j->next;
		s = j->sess;
		if (j->kind == JOB_FREE) {
			session_destroy(s);	/* j is s->bye */
			continue;
		}
		if (srv != NULL)
			sasl_wait_remove(&srv->waits, &j->w);
		if (run && j->cb != NULL && !j->expired && !s->freed &&
		    j->gen == s->gen)
			j->cb(j->arg, j->status, j->out, j->outlen, j->user);
		job_free(j);
	}
}

static void
server_destroy(struct cyrus_server *srv)
{
	jobs_finish(NULL, srv->done, false);
	jobs_finish(NULL, srv->todo, false);
	pthread_mutex_destroy(&srv->lock);
	pthread_cond_destroy(&srv->work);
	pthread_cond_destroy(&srv->stopped);
	free(srv->mechs[0]);
	free(srv->mechs[1]);
	free(srv);
}

/* --- the worker's half ------------------------------------------------- */

static enum sasl_status
status_of(int rc)
{
	switch (rc) {
	case SASL_OK:
		return SASL_STATUS_OK;
	case SASL_CONTINUE:
		return SASL_STATUS_CONTINUE;
	case SASL_BADAUTH:		/* all alike: never say which */
	case SASL_NOUSER:
	case SASL_NOAUTHZ:
	case SASL_EXPIRED:
	case SASL_DISABLED:
	case SASL_BADVERS:
	case SASL_NOVERIFY:
	case SASL_PWLOCK:
	case SASL_NOUSERPASS:
	case SASL_BADSERV:
		return SASL_STATUS_BADAUTH;
	case SASL_NOMECH:
	case SASL_TOOWEAK:
	case SASL_ENCRYPT:
	case SASL_WRONGMECH:
		return SASL_STATUS_BADMECH;
	case SASL_BADPROT:
	case SASL_BADPARAM:
		return SASL_STATUS_BADPROT;
	default:			/* FAIL, TRYAGAIN, NOMEM, UNAVAIL, ... */
		return SASL_STATUS_TEMP;
	}
}

static void
conn_dispose(struct cyrus_session *s)
{
	if (s->conn != NULL)
		sasl_dispose(&s->conn);
	s->conn = NULL;
}

/* conn_open - a fresh Cyrus conn for the session */
static int
conn_open(struct cyrus_session *s)
{
	int rc;

	conn_dispose(s);
	rc = sasl_server_new(SASL_CYRUS_SERVICE, s->hostname, NULL, s->local,
	    s->remote, s->cbs, 0, &s->conn);
	if (rc == SASL_OK)
		rc = sasl_cyrus_secure(s->conn, s->ssf);
	if (rc != SASL_OK) {
		log_err("sasl remote=%s: new connection: %s",
		    s->remote ? s->remote : "-", sasl_errstring(rc, NULL, NULL));
		conn_dispose(s);
	}
	return rc;
}

/* job_answer - copy what Cyrus said for rc into the job */
static void
job_answer(struct job *j, int rc, const char *out, unsigned outlen)
{
	struct cyrus_session *s = j->sess;
	const void *user = NULL;

	j->status = status_of(rc);
	if (rc == SASL_CONTINUE && outlen > 0) {
		if ((j->out = malloc(outlen)) == NULL)
			j->status = SASL_STATUS_TEMP;
		else {
			memcpy(j->out, out, outlen);
			j->outlen = outlen;
		}
	}
	if (rc == SASL_OK) {
		if (sasl_getprop(s->conn, SASL_USERNAME, &user) != SASL_OK ||
		    user == NULL || (j->user = strdup(user)) == NULL)
			j->status = SASL_STATUS_TEMP;
	}
	if (rc != SASL_CONTINUE)	/* done with it: SMTP has no layer */
		conn_dispose(s);
}

/* job_run - one job, on the worker, with the Cyrus lock held */
static void
job_run(struct cyrus_server *srv, struct job *j)
{
	struct cyrus_session *s = j->sess;
	const char *out = NULL;
	unsigned outlen = 0;
	int rc;

	switch (j->kind) {
	case JOB_START:
		if (!sasl_cyrus_listed(srv->mechs[s->ssf > 0], j->mech)) {
			conn_dispose(s);
			j->status = SASL_STATUS_BADMECH;
		} else if (j->inlen > UINT_MAX) {
			j->status = SASL_STATUS_BADPROT;
		} else if ((rc = conn_open(s)) != SASL_OK) {
			j->status = SASL_STATUS_TEMP;
		} else {
			rc = sasl_server_start(s->conn, j->mech,
			    j->has_in ? j->in : NULL, (unsigned)j->inlen,
			    &out, &outlen);
			job_answer(j, rc, out, outlen);
		}
		break;
	case JOB_STEP:
		if (s->conn == NULL || j->inlen > UINT_MAX) {
			j->status = SASL_STATUS_BADPROT;	/* no exchange */
		} else {
			rc = sasl_server_step(s->conn, j->in,
			    (unsigned)j->inlen, &out, &outlen);
			job_answer(j, rc, out, outlen);
		}
		break;
	case JOB_DISPOSE:
	case JOB_FREE:
		conn_dispose(s);
		break;
	}
	job_wipe(j);
}

/* job_take - the oldest queued job of a session with none running, so
 * that a session's jobs run one at a time and in order; NULL if none.
 * With the lock held. */
static struct job *
job_take(struct cyrus_server *srv)
{
	struct job **pp, *j;

	for (pp = &srv->todo; (j = *pp) != NULL; pp = &j->next) {
		if (j->sess->busy)
			continue;
		if ((*pp = j->next) == NULL)
			srv->todo_tail = pp;
		j->next = NULL;
		j->queued = false;
		j->running = true;
		j->sess->busy = true;
		return j;
	}
	return NULL;
}

static void *
worker(void *arg)
{
	struct cyrus_server *srv = arg;
	struct job *j;
	bool drop, last;

	proc_thread_name("sp-sasl");
	pthread_mutex_lock(&srv->lock);
	for (;;) {
		while ((j = job_take(srv)) == NULL && !srv->stopping)
			pthread_cond_wait(&srv->work, &srv->lock);
		if (j == NULL)
			break;
		/* Stopping: no new exchange, but every conn is disposed of. */
		drop = srv->stopping && (j->kind == JOB_START ||
		    j->kind == JOB_STEP);
		pthread_mutex_unlock(&srv->lock);

		if (drop)
			j->status = SASL_STATUS_TEMP;	/* never told */
		else
			job_run(srv, j);

		pthread_mutex_lock(&srv->lock);
		j->running = false;
		j->sess->busy = false;
		if (j->expired) {		/* back from being stuck */
			j->sess->stuck = false;
			srv->nstuck--;
		}
		*srv->done_tail = j;		/* j and its session: the loop's */
		srv->done_tail = &j->next;
		if (!srv->stopping)
			ev_async_send(srv->loop, &srv->wake);
		if (srv->nthreads - srv->nstuck > 1)
			break;			/* another serves already */
	}
	/*
	 * The plugins ran OpenSSL on this thread: its per-thread state
	 * (the error queue) goes now, while cyrus_server_free still waits
	 * for us. Left to the thread's own end it could outlive a process
	 * that exits as soon as we are counted out, and be reported lost.
	 * (Under the lock: the count and the choice to leave stay one
	 * step; OpenSSL calls nothing of ours.)
	 */
	OPENSSL_thread_stop();
	srv->nthreads--;
	last = srv->nthreads == 0;
	pthread_cond_signal(&srv->work);	/* what this one leaves */
	pthread_cond_broadcast(&srv->stopped);
	if (last && srv->abandoned) {
		pthread_mutex_unlock(&srv->lock);
		server_destroy(srv);
		return NULL;
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* --- the loop's half --------------------------------------------------- */

static void
on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	struct cyrus_server *srv = w->data;
	struct job *j;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&srv->lock);
	j = srv->done;
	srv->done = NULL;
	srv->done_tail = &srv->done;
	pthread_mutex_unlock(&srv->lock);
	jobs_finish(srv, j, true);
}

static void
job_submit(struct cyrus_server *srv, struct job *j)
{
	pthread_mutex_lock(&srv->lock);
	*srv->todo_tail = j;
	srv->todo_tail = &j->next;
	j->queued = true;
	pthread_cond_signal(&srv->work);
	pthread_mutex_unlock(&srv->lock);
}

/* worker_start - one more thread, with the signals meant for the loop
 * blocked, detached: it leaves on its own. With the lock held. */
static int
worker_start(struct cyrus_server *srv)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	int rc;

	sigfillset(&all);
	sigdelset(&all, SIGSEGV);	/* faults stay faults */
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	if ((rc = pthread_attr_init(&attr)) != 0)
		return rc;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&t, &attr, worker, srv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc == 0)
		srv->nthreads++;
	return rc;
}

/* todo_remove - take j, still queued, out of the todo list */
static void
todo_remove(struct cyrus_server *srv, struct job *j)
{
	struct job **pp;

	for (pp = &srv->todo; *pp != NULL; pp = &(*pp)->next) {
		if (*pp != j)
			continue;
		if ((*pp = j->next) == NULL)
			srv->todo_tail = pp;
		j->next = NULL;
		j->queued = false;
		return;
	}
}

/* job_expire - j is owed an answer past its deadline: TEMP now. A
 * queued job is dropped; a running one is left to its stuck thread, and
 * another thread serves when none is left (up to auth_threads). */
static void
job_expire(struct cyrus_server *srv, struct job *j)
{
	struct cyrus_session *s = j->sess;
	bool queued, tell;
	int rc = 0;

	sasl_wait_remove(&srv->waits, &j->w);
	pthread_mutex_lock(&srv->lock);
	if (j->running) {
		queued = false;
		j->expired = true;
		s->stuck = true;
		srv->nstuck++;
	} else if (j->queued) {
		queued = true;
		todo_remove(srv, j);
	} else {
		/* Done, its answer on the way to on_wake: let it come. */
		pthread_mutex_unlock(&srv->lock);
		return;
	}
	if (srv->nthreads == srv->nstuck) {
		if (srv->nthreads < srv->max_threads)
			rc = worker_start(srv);
		else
			rc = -1;
	}
	tell = srv->nthreads == srv->nstuck && !srv->said_full;
	if (tell)
		srv->said_full = true;
	else if (srv->nthreads > srv->nstuck)
		srv->said_full = false;
	pthread_mutex_unlock(&srv->lock);

	log_warn("sasl remote=%s: no answer from the authentication backend "
	    "in %.0fs; 454 to the client", s->remote ? s->remote : "-",
	    srv->waits.timeout);
	if (rc > 0)
		log_err("sasl: cannot start a SASL thread: %s", strerror(rc));
	if (tell)
		log_err("sasl: all %u SASL threads (auth_threads) are stuck in "
		    "the authentication backend; AUTH fails until it answers",
		    srv->max_threads);
	if (j->cb != NULL && !s->freed && j->gen == s->gen)
		SASL_CB_TEMP(j->cb, j->arg);	/* may free s, not j */
	if (queued)
		job_free(j);
}

static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cyrus_server *srv = w->data;
	struct sasl_wait *due;

	(void)loop;
	(void)revents;
	while ((due = sasl_waits_due(&srv->waits)) != NULL)
		job_expire(srv, SASL_WAIT_OF(due, struct job, w));
	sasl_waits_arm(&srv->waits);
}

struct cyrus_server *
cyrus_server_create(struct ev_loop *loop, const struct config *cfg, char *err,
    size_t errlen)
{
	struct cyrus_server *srv;
	int rc;

	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (sasl_cyrus_start(cfg, srv->mechs, err, errlen) == -1) {
		free(srv);
		return NULL;
	}
	srv->loop = loop;
	srv->max_threads = cfg->auth_threads > 0 ? cfg->auth_threads : 1;
	srv->todo_tail = &srv->todo;
	srv->done_tail = &srv->done;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->work, NULL);
	pthread_cond_init(&srv->stopped, NULL);
	ev_async_init(&srv->wake, on_wake);
	srv->wake.data = srv;
	ev_async_start(loop, &srv->wake);
	sasl_waits_init(&srv->waits, loop, cfg->auth_timeout, on_timer, srv);
	pthread_mutex_lock(&srv->lock);
	rc = worker_start(srv);
	pthread_mutex_unlock(&srv->lock);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the SASL thread: %s",
		    strerror(rc));
		ev_async_stop(loop, &srv->wake);
		server_destroy(srv);
		return NULL;
	}
	return srv;
}

int
cyrus_config_check(const struct config *cfg, char *err, size_t errlen)
{
	return sasl_cyrus_check(cfg, err, errlen);
}

void
cyrus_server_free(struct cyrus_server *srv)
{
	struct timespec until;
	unsigned left;

	if (srv == NULL)
		return;
	sasl_waits_stop(&srv->waits);
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;		/* from now on no thread sends */
	pthread_cond_broadcast(&srv->work);
	ev_async_stop(srv->loop, &srv->wake);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STOP_WAIT;
	while (srv->nthreads > 0 && pthread_cond_timedwait(&srv->stopped,
	    &srv->lock, &until) != ETIMEDOUT)
		continue;
	if ((left = srv->nthreads) > 0) {
		/* The last thread out frees srv: hands off from here. */
		srv->abandoned = true;
		pthread_mutex_unlock(&srv->lock);
		log_warn("sasl: %u SASL thread(s) still busy after %d "
		    "seconds; left to finish alone", left, STOP_WAIT);
		return;
	}
	pthread_mutex_unlock(&srv->lock);
	server_destroy(srv);		/* pending answers are dropped */
}

/* --- sessions ---------------------------------------------------------- */

struct cyrus_session *
cyrus_session_new(struct cyrus_server *srv, const char *hostname,
    const char *local, const char *remote, unsigned ssf)
{
	struct cyrus_session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((hostname != NULL && (s->hostname = strdup(hostname)) == NULL) ||
	    (local != NULL && (s->local = strdup(local)) == NULL) ||
	    (remote != NULL && (s->remote = strdup(remote)) == NULL)) {
		session_destroy(s);
		return NULL;
	}
	s->srv = srv;
	s->ssf = ssf;
	s->cbs[0].id = SASL_CB_LOG;
	s->cbs[0].proc = SASL_CYRUS_PROC(sasl_cyrus_log);
	s->cbs[0].context = s->remote;
	s->cbs[1].id = SASL_CB_LIST_END;
	s->bye.kind = JOB_FREE;
	s->bye.sess = s;
	return s;
}

void
cyrus_session_free(struct cyrus_session *s)
{
	if (s == NULL)
		return;
	if (!s->used) {			/* no job has ever seen it */
		session_destroy(s);
		return;
	}
	s->freed = true;		/* answers still on their way are dropped */
	job_submit(s->srv, &s->bye);
}

const char *
cyrus_session_mechanisms(struct cyrus_session *s)
{
	return s->srv->mechs[s->ssf > 0];
}

/* session_stuck - is a job of s still in a backend past its deadline? */
static bool
session_stuck(struct cyrus_session *s)
{
	bool stuck;

	pthread_mutex_lock(&s->srv->lock);
	stuck = s->stuck;
	pthread_mutex_unlock(&s->srv->lock);
	return stuck;
}

/* submit - a start or step; TEMP at once when memory is short or when
 * the session's last job is still stuck (queued behind it, this one
 * could only expire too) */
static void
submit(struct cyrus_session *s, enum job_kind kind, const char *mech,
    const char *in, size_t len, bool has_in, sasl_cb *cb, void *arg)
{
	struct cyrus_server *srv = s->srv;
	struct job *j;

	if (session_stuck(s) ||
	    (j = job_new(s, kind, mech, in, len, cb, arg)) == NULL) {
		SASL_CB_TEMP(cb, arg);
		return;
	}
	j->has_in = has_in;
	s->used = true;
	sasl_wait_append(&srv->waits, &j->w);
	job_submit(srv, j);
}

void
cyrus_session_start(struct cyrus_session *s, const char *mech,
    const char *initial, size_t len, bool has_initial, sasl_cb *cb, void *arg)
{
	submit(s, JOB_START, mech, initial, len, has_initial, cb, arg);
}

void
cyrus_session_step(struct cyrus_session *s, const char *resp, size_t len,
    sasl_cb *cb, void *arg)
{
	submit(s, JOB_STEP, NULL, resp, len, true, cb, arg);
}

void
cyrus_session_reset(struct cyrus_session *s)
{
	struct job *j;

	s->gen++;			/* an answer on its way is dropped */
	/* Without memory, or stuck, the conn waits for the next start or
	 * the free (a stuck job disposes of it itself unless it goes on). */
	if (!s->used || session_stuck(s))
		return;
	if ((j = job_new(s, JOB_DISPOSE, NULL, NULL, 0, NULL, NULL)) != NULL)
		job_submit(s->srv, j);
}
