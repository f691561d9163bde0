/*
 * milter_conn - one milter's connection for one session: a
 * non-blocking socket (unix or inet) on the event loop, the OPTNEG
 * negotiation, packets written as the socket takes them, the milter's
 * replies decoded as they come (milter_dec, bounded) and handed to the
 * session one by one, and a deadline on every step. Whatever goes
 * wrong (refused, reset, silent, nonsense) ends in mf_fail: one log
 * line and the milter's default action; the session never waits on a
 * milter longer than the step's timeout.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf/config_milter.h"
#include "daemon/milter_int.h"
#include "lib/log.h"

/* The replies that end an exchange; the others (changes, PROGRESS)
 * come before one. */
static bool
reply_final(char cmd)
{
	switch (cmd) {
	case MILTER_R_ACCEPT:
	case MILTER_R_CONTINUE:
	case MILTER_R_DISCARD:
	case MILTER_R_REJECT:
	case MILTER_R_TEMPFAIL:
	case MILTER_R_REPLYCODE:
	case MILTER_R_SKIP:
	case MILTER_R_CONN_FAIL:
	case MILTER_R_SHUTDOWN:
	case MILTER_R_OPTNEG:
		return true;
	default:
		return false;
	}
}

unsigned
mf_timeout(const struct mfilter *mf, enum milter_step_timeout t)
{
	return mf->spec->timeout[t];
}

bool
mf_drained(const struct mfilter *mf)
{
	return mf->out.len == 0;
}

static void
mf_deadline(struct mfilter *mf, unsigned timeout)
{
	ev_timer_stop(mf->set->p.loop, &mf->timer);
	ev_timer_set(&mf->timer, timeout, 0.0);
	ev_timer_start(mf->set->p.loop, &mf->timer);
}

void
mf_progress(struct mfilter *mf, unsigned timeout)
{
	mf_deadline(mf, timeout);
}

void
mf_close(struct mfilter *mf, bool quit)
{
	struct ev_loop *loop = mf->set->p.loop;

	ev_io_stop(loop, &mf->rio);
	ev_io_stop(loop, &mf->wio);
	ev_timer_stop(loop, &mf->timer);
	if (mf->fd != -1) {
		/* QUIT goes if the socket takes it now; nobody waits. */
		buf_reset(&mf->out);
		if (quit && mf->ready &&
		    milter_put_cmd(&mf->out, MILTER_C_QUIT) == 0)
			(void)send(mf->fd, mf->out.data, mf->out.len,
			    MSG_NOSIGNAL);
		close(mf->fd);
		mf->fd = -1;
	}
	if (!mf->freed) {
		buf_free(&mf->out);
		milter_dec_free(&mf->dec);
		mf->freed = true;
	}
	mf->ready = mf->waiting = false;
}

void
mf_fail(struct mfilter *mf, const char *fmt, ...)
{
	char	 why[256];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warn("s=%lx milter=%s: %s: default action %s", mf->set->p.sid,
	    mf->spec->name, why,
	    conf_milter_action_name(mf->spec->default_action));
	mf_close(mf, false);
	if (mf->spec->default_action == MILTER_ACTION_ACCEPT)
		mf->off = true;
	else
		mf->failed = (int)mf->spec->default_action;
	mf->set->ops->failed(mf, why);
}

/* mf_flush - write what the socket takes; -1 when mf failed */
static int
mf_flush(struct mfilter *mf)
{
	ssize_t	 n;

	while (mf->out.len > 0) {
		n = send(mf->fd, mf->out.data, mf->out.len, MSG_NOSIGNAL);
		if (n > 0) {
			buf_consume(&mf->out, (size_t)n);
		} else if (n == -1 && errno == EINTR) {
			continue;
		} else if (n == -1 && (errno == EAGAIN ||
		    errno == EWOULDBLOCK)) {
			ev_io_start(mf->set->p.loop, &mf->wio);
			return 0;
		} else {
			mf_fail(mf, "write: %s", strerror(errno));
			return -1;
		}
	}
	ev_io_stop(mf->set->p.loop, &mf->wio);
	return 0;
}

int
mf_write(struct mfilter *mf)
{
	return mf->fd == -1 ? -1 : mf_flush(mf);
}

void
mf_send(struct mfilter *mf, bool expect, unsigned timeout)
{
	if (mf->fd == -1)
		return;
	mf->waiting = expect;
	if (timeout > 0)
		mf_deadline(mf, timeout);
	if (mf_flush(mf) == -1)
		return;
	if (!expect && mf_drained(mf)) {
		ev_timer_stop(mf->set->p.loop, &mf->timer);
		mf->set->ops->idle(mf);
	}
}

/* mf_negotiated - the milter's OPTNEG: what it may do and which steps
 * it wants, within what we offered */
static void
mf_negotiated(struct mfilter *mf, const struct milter_reply *r)
{
	if (r->version < 2) {
		mf_fail(mf, "OPTNEG: protocol version %u", r->version);
		return;
	}
	mf->actions = r->actions & MILTER_F_ALL;
	mf->protocol = r->protocol & MILTER_P_MTA;
	for (int i = 0; i < MILTER_M_COUNT; i++)
		if (r->symlist[i] != NULL &&
		    (mf->macros[i] = strdup(r->symlist[i])) == NULL) {
			mf_fail(mf, "out of memory");
			return;
		}
	mf->ready = true;
	ev_timer_stop(mf->set->p.loop, &mf->timer);
	log_info("s=%lx milter=%s: connected to %s, actions 0x%x, protocol "
	    "0x%x", mf->set->p.sid, mf->spec->name, mf->spec->socket,
	    mf->actions, mf->protocol);
	mf->set->ops->idle(mf);
}

static void
on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct mfilter		*mf = w->data;
	struct milter_reply	 r;
	char			 in[MF_READ];
	const char		*err;
	size_t			 off = 0, used;
	ssize_t			 n;
	int			 st;

	(void)loop;
	(void)revents;
	n = recv(mf->fd, in, sizeof(in), 0);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {
		mf_fail(mf, "%s", n == 0 ? "connection closed by the milter" :
		    strerror(errno));
		return;
	}
	while (mf->fd != -1) {
		st = milter_dec_feed(&mf->dec, in + off, (size_t)n - off, &used,
		    &r, &err);
		off += used;
		if (st == -1) {
			mf_fail(mf, "protocol error: %s", err);
			return;
		}
		if (st == 0)
			return;
		if (!mf->waiting) {
			mf_fail(mf, "protocol error: reply '%c' to no command",
			    r.cmd);
			return;
		}
		if (reply_final(r.cmd)) {
			mf->waiting = false;
			ev_timer_stop(mf->set->p.loop, &mf->timer);
		}
		if (!mf->ready) {
			if (r.cmd != MILTER_R_OPTNEG) {
				mf_fail(mf, "protocol error: '%c' instead of "
				    "OPTNEG", r.cmd);
				return;
			}
			mf_negotiated(mf, &r);
			continue;
		}
		if (r.cmd == MILTER_R_OPTNEG) {
			mf_fail(mf, "protocol error: OPTNEG again");
			return;
		}
		mf->set->ops->reply(mf, &r);
	}
}

static void
on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct mfilter	*mf = w->data;
	int		 e = 0;
	socklen_t	 len = sizeof(e);

	(void)revents;
	if (!mf->ready && mf->out.len == 0) {
		/* The connect finished, or failed. */
		ev_io_stop(loop, &mf->wio);
		if (getsockopt(mf->fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
			e = errno;
		if (e != 0) {
			mf_fail(mf, "connect to %s: %s", mf->spec->socket,
			    strerror(e));
			return;
		}
		ev_io_start(loop, &mf->rio);
		if (milter_put_optneg(&mf->out, MILTER_F_ALL,
		    MILTER_P_MTA) == -1) {
			mf_fail(mf, "out of memory");
			return;
		}
		/* One deadline for the connect and the negotiation. */
		mf_send(mf, true, 0);
		return;
	}
	if (mf_flush(mf) == -1)
		return;
	if (mf_drained(mf) && !mf->waiting && mf->ready) {
		ev_timer_stop(loop, &mf->timer);
		mf->set->ops->idle(mf);
	}
}

static void
on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct mfilter *mf = w->data;

	(void)loop;
	(void)revents;
	if (mf->fd != -1 && !mf->ready)
		mf_fail(mf, "no answer from %s within %us (%s)",
		    mf->spec->socket, mf_timeout(mf, MILTER_TIMEOUT_CONNECT),
		    "timeout_connect");
	else
		mf_fail(mf, "no answer within the step's timeout");
}

int
mf_open(struct mfilter *mf)
{
	struct ev_loop	*loop = mf->set->p.loop;
	const struct milter_spec *s = mf->spec;

	ev_init(&mf->timer, on_timeout);
	mf->timer.data = mf;
	mf->fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (mf->fd == -1) {
		mf_fail(mf, "socket: %s", strerror(errno));
		return -1;
	}
	ev_io_init(&mf->rio, on_read, mf->fd, EV_READ);
	ev_io_init(&mf->wio, on_write, mf->fd, EV_WRITE);
	mf->rio.data = mf->wio.data = mf;
	if (connect(mf->fd, (const struct sockaddr *)&s->addr,
	    s->addrlen) == -1 && errno != EINPROGRESS) {
		mf_fail(mf, "connect to %s: %s", s->socket, strerror(errno));
		return -1;
	}
	/* Connected or not, the first writability says how it went. */
	mf_deadline(mf, mf_timeout(mf, MILTER_TIMEOUT_CONNECT));
	ev_io_start(loop, &mf->wio);
	return 0;
}
