/*
 * sasl - SMTP AUTH through Cyrus SASL on one worker thread.
 *
 * Every sasl_server_new, start, step and dispose of a session runs on
 * the worker, one job at a time (plug-ins are not all thread-safe; one
 * thread also serialises saslauthd calls), and the answer comes back
 * to the loop through an ev_async, as in committer.c. The only Cyrus
 * calls made elsewhere are the set-up in sasl_cyrus.c, before the
 * worker starts. A session's conn is made on its first job and
 * disposed of when an exchange ends; the client's bytes are wiped
 * from memory once Cyrus has seen them.
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

#include "log.h"
#include "sasl.h"
#include "sasl_cyrus.h"

#define STOP_WAIT	5		/* seconds sasl_server_free waits */

enum job_kind {
	JOB_START,		/* a fresh conn, then sasl_server_start */
	JOB_STEP,		/* sasl_server_step */
	JOB_DISPOSE,		/* sasl_session_reset */
	JOB_FREE,		/* sasl_session_free: dispose, then free it */
};

struct job {
	enum job_kind	 kind;
	struct sasl_session *sess;
	unsigned	 gen;		/* the session's generation when asked */
	sasl_cb		*cb;
	void		*arg;
	char		*in;		/* client bytes, after the struct; wiped */
	size_t		 inlen;
	bool		 has_in;
	char		*mech;		/* after in */
	enum sasl_status status;	/* the answer, set by the worker */
	char		*out;		/* challenge */
	size_t		 outlen;
	char		*user;
	struct job	*next;
};

struct sasl_server {
	struct ev_loop	*loop;
	char		*mechs[2];	/* offered without TLS, with TLS */
	ev_async	 wake;		/* worker -> loop: answers are ready */
	pthread_t	 thread;
	pthread_mutex_t	 lock;
	pthread_cond_t	 work;		/* loop -> worker: a job, or stop */
	pthread_cond_t	 stopped;	/* worker -> loop: it has left */
	struct job	*todo, **todo_tail;	/* FIFO, guarded by lock */
	struct job	*done, **done_tail;
	bool		 stopping;
	bool		 exited;
	bool		 abandoned;	/* free gave up waiting: worker cleans up */
};

struct sasl_session {
	struct sasl_server *srv;
	char		*hostname;	/* serverFQDN: the default realm */
	char		*local, *remote;	/* "IP;port" */
	unsigned	 ssf;
	sasl_callback_t	 cbs[2];	/* Cyrus's log, with our remote */
	sasl_conn_t	*conn;		/* worker thread only */
	unsigned	 gen;		/* bumped by reset: older answers dropped */
	bool		 used;		/* a START went out: jobs may hold it */
	bool		 freed;		/* the owner is gone; `bye` frees it */
	struct job	 bye;		/* JOB_FREE, never fails to allocate */
};

/* --- jobs ---------------------------------------------------------------- */

/* job_new - a job carrying copies of the client's bytes and the mechanism */
static struct job *
job_new(struct sasl_session *s, enum job_kind kind, const char *mech,
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
session_destroy(struct sasl_session *s)
{
	free(s->hostname);
	free(s->local);
	free(s->remote);
	free(s);
}

/* jobs_finish - answer (when run) and free a list of finished jobs; the
 * answer of a session freed or reset since it asked is dropped */
static void
jobs_finish(struct job *j, bool run)
{
	struct sasl_session *s;
	struct job *next;

	for (; j != NULL; j = next) {
		next = j->next;
		s = j->sess;
		if (j->kind == JOB_FREE) {
			session_destroy(s);	/* j is s->bye */
			continue;
		}
		if (run && j->cb != NULL && !s->freed && j->gen == s->gen)
			j->cb(j->arg, j->status, j->out, j->outlen, j->user);
		job_free(j);
	}
}

static void
server_destroy(struct sasl_server *srv)
{
	jobs_finish(srv->done, false);
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
conn_dispose(struct sasl_session *s)
{
	if (s->conn != NULL)
		sasl_dispose(&s->conn);
	s->conn = NULL;
}

/* conn_open - a fresh Cyrus conn for the session */
static int
conn_open(struct sasl_session *s)
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
	struct sasl_session *s = j->sess;
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
job_run(struct sasl_server *srv, struct job *j)
{
	struct sasl_session *s = j->sess;
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

static void *
worker(void *arg)
{
	struct sasl_server *srv = arg;
	struct job *j;
	bool drop;

	pthread_mutex_lock(&srv->lock);
	for (;;) {
		while (srv->todo == NULL && !srv->stopping)
			pthread_cond_wait(&srv->work, &srv->lock);
		if ((j = srv->todo) == NULL)
			break;
		if ((srv->todo = j->next) == NULL)
			srv->todo_tail = &srv->todo;
		j->next = NULL;
		/* Stopping: no new exchange, but every conn is disposed of. */
		drop = srv->stopping && (j->kind == JOB_START ||
		    j->kind == JOB_STEP);
		pthread_mutex_unlock(&srv->lock);

		if (drop) {
			j->status = SASL_STATUS_TEMP;	/* never told */
		} else {
			sasl_cyrus_lock();
			job_run(srv, j);
			sasl_cyrus_unlock();
		}

		pthread_mutex_lock(&srv->lock);
		*srv->done_tail = j;
		srv->done_tail = &j->next;
		if (!srv->stopping)
			ev_async_send(srv->loop, &srv->wake);
	}
	srv->exited = true;
	pthread_cond_signal(&srv->stopped);
	if (srv->abandoned) {
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
	struct sasl_server *srv = w->data;
	struct job *j;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&srv->lock);
	j = srv->done;
	srv->done = NULL;
	srv->done_tail = &srv->done;
	pthread_mutex_unlock(&srv->lock);
	jobs_finish(j, true);
}

static void
job_submit(struct sasl_server *srv, struct job *j)
{
	pthread_mutex_lock(&srv->lock);
	*srv->todo_tail = j;
	srv->todo_tail = &j->next;
	pthread_cond_signal(&srv->work);
	pthread_mutex_unlock(&srv->lock);
}

/* worker_start - the thread, with the signals meant for the loop blocked */
static int
worker_start(struct sasl_server *srv)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	sigdelset(&all, SIGSEGV);	/* faults stay faults */
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&srv->thread, NULL, worker, srv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

struct sasl_server *
sasl_server_create(struct ev_loop *loop, const struct config *cfg, char *err,
    size_t errlen)
{
	struct sasl_server *srv;
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
	srv->todo_tail = &srv->todo;
	srv->done_tail = &srv->done;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->work, NULL);
	pthread_cond_init(&srv->stopped, NULL);
	ev_async_init(&srv->wake, on_wake);
	srv->wake.data = srv;
	ev_async_start(loop, &srv->wake);
	if ((rc = worker_start(srv)) != 0) {
		snprintf(err, errlen, "cannot start the SASL thread: %s",
		    strerror(rc));
		ev_async_stop(loop, &srv->wake);
		server_destroy(srv);
		return NULL;
	}
	return srv;
}

int
sasl_config_check(const struct config *cfg, char *err, size_t errlen)
{
	return sasl_cyrus_check(cfg, err, errlen);
}

void
sasl_server_free(struct sasl_server *srv)
{
	struct timespec until;
	pthread_t thread;

	if (srv == NULL)
		return;
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;		/* from now on the worker sends nothing */
	pthread_cond_signal(&srv->work);
	ev_async_stop(srv->loop, &srv->wake);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STOP_WAIT;
	while (!srv->exited && pthread_cond_timedwait(&srv->stopped,
	    &srv->lock, &until) != ETIMEDOUT)
		continue;
	if (!srv->exited) {
		/* The worker frees srv as it leaves: hands off from here. */
		srv->abandoned = true;
		thread = srv->thread;
		pthread_mutex_unlock(&srv->lock);
		pthread_detach(thread);
		log_warn("sasl: the SASL thread is still busy after %d "
		    "seconds; left to finish alone", STOP_WAIT);
		return;
	}
	pthread_mutex_unlock(&srv->lock);
	pthread_join(srv->thread, NULL);
	server_destroy(srv);		/* pending answers are dropped */
}

/* --- sessions ---------------------------------------------------------- */

struct sasl_session *
sasl_session_new(struct sasl_server *srv, const char *hostname,
    const char *local, const char *remote, unsigned ssf)
{
	struct sasl_session *s;

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
sasl_session_free(struct sasl_session *s)
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
sasl_session_mechanisms(struct sasl_session *s)
{
	return s->srv->mechs[s->ssf > 0];
}

/* submit - a start or step, or TEMP at once when memory is short */
static void
submit(struct sasl_session *s, enum job_kind kind, const char *mech,
    const char *in, size_t len, bool has_in, sasl_cb *cb, void *arg)
{
	struct job *j;

	if ((j = job_new(s, kind, mech, in, len, cb, arg)) == NULL) {
		cb(arg, SASL_STATUS_TEMP, NULL, 0, NULL);
		return;
	}
	j->has_in = has_in;
	s->used = true;
	job_submit(s->srv, j);
}

void
sasl_session_start(struct sasl_session *s, const char *mech,
    const char *initial, size_t len, bool has_initial, sasl_cb *cb, void *arg)
{
	submit(s, JOB_START, mech, initial, len, has_initial, cb, arg);
}

void
sasl_session_step(struct sasl_session *s, const char *resp, size_t len,
    sasl_cb *cb, void *arg)
{
	submit(s, JOB_STEP, NULL, resp, len, true, cb, arg);
}

void
sasl_session_reset(struct sasl_session *s)
{
	struct job *j;

	s->gen++;			/* an answer on its way is dropped */
	if (!s->used)
		return;
	/* Without memory the conn waits for the next start or the free. */
	if ((j = job_new(s, JOB_DISPOSE, NULL, NULL, 0, NULL, NULL)) != NULL)
		job_submit(s->srv, j);
}
