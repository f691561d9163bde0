/*
 * conn - one client connection on the event loop.
 *
 * Reads go into a fixed input buffer and straight into the engine,
 * which takes everything except while a commit is in progress; then
 * reading stops until the queue answers (back-pressure instead of
 * buffering). Replies collect in a bounded output buffer and are
 * written once per batch of input, which is what makes pipelining
 * cheap. A connection whose commit is in flight when it closes stays
 * allocated until the commit callback, which then frees it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "committer.h"
#include "conn.h"
#include "dns.h"
#include "log.h"
#include "netaddr.h"
#include "queue.h"
#include "server.h"
#include "smtp.h"

#define CONN_INBUF	16384
#define CONN_OUT_HIGH	65536		/* stop reading above this */
#define CONN_OUT_MAX	(1024 * 1024)	/* a client that never reads */

struct conn {
	struct server	*srv;
	struct cfg_ref	*cfg;		/* the config this session started with */
	int		 fd;
	ev_io		 rio, wio;
	ev_timer	 timer;
	struct smtp_session *smtp;
	struct spool	*spool;
	struct dns_req	*lookup;	/* sender domain lookup in flight */
	bool		 looking_up;	/* inside dns_domain_exists() */
	struct buf	 out;
	bool		 committing;	/* spool is with the committer */
	bool		 closed;	/* socket gone; freed after the commit */
	unsigned long	 sid;
	char		 addr_text[64];
	struct conn	*prev, *next;
	size_t		 inlen;
	char		 in[CONN_INBUF];
};

static void	conn_process(struct conn *);

static void
conn_destroy(struct conn *c)
{
	smtp_free(c->smtp);
	spool_free(c->spool);
	buf_free(&c->out);
	cfg_ref_put(c->cfg);
	free(c);
}

/* conn_close - close the socket; free now, or when the commit returns */
static void
conn_close(struct conn *c, const char *why)
{
	struct ev_loop *loop = c->srv->loop;

	log_info("s=%lx disconnect from [%s]%s%s", c->sid, c->addr_text,
	    why ? ": " : "", why ? why : "");
	ev_io_stop(loop, &c->rio);
	ev_io_stop(loop, &c->wio);
	ev_timer_stop(loop, &c->timer);
	if (c->lookup) {
		dns_cancel(c->lookup);
		c->lookup = NULL;
	}
	close(c->fd);
	c->fd = -1;
	c->closed = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		c->srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	server_conn_gone(c->srv, c);
	if (!c->committing)
		conn_destroy(c);
}

/* --- engine callbacks ---------------------------------------------------- */

static void
io_send(void *ctx, const char *data, size_t len)
{
	struct conn *c = ctx;

	/* Past the maximum the client is not reading its replies: the
	 * write error is noticed in conn_process. */
	if (buf_append(&c->out, data, len) == -1)
		c->out.max = 0;
}

static int
io_spool_open(void *ctx, struct envelope *env)
{
	struct conn *c = ctx;
	char err[512];

	if ((c->spool = queue_spool_create(c->srv->queue, env, err,
	    sizeof(err))) == NULL) {
		log_err("s=%lx %s", c->sid, err);
		return -1;
	}
	return 0;
}

static int
io_spool_write(void *ctx, const char *data, size_t len)
{
	struct conn *c = ctx;

	if (spool_write(c->spool, data, len) == -1) {
		log_err("s=%lx id=%s spool write: %s", c->sid,
		    spool_id(c->spool), strerror(errno));
		return -1;
	}
	return 0;
}

static void
on_committed(void *arg, int status)
{
	struct conn *c = arg;

	c->committing = false;
	spool_free(c->spool);
	c->spool = NULL;
	if (c->closed) {
		conn_destroy(c);
		return;
	}
	smtp_commit_done(c->smtp, status);
	conn_process(c);
}

static void
io_spool_commit(void *ctx)
{
	struct conn *c = ctx;

	c->committing = true;
	committer_submit(c->srv->committer, c->spool, on_committed, c);
}

static void
io_spool_abort(void *ctx)
{
	struct conn *c = ctx;

	spool_free(c->spool);
	c->spool = NULL;
}

static void
on_lookup(void *arg, enum dns_result r)
{
	struct conn *c = arg;

	c->lookup = NULL;
	smtp_lookup_done(c->smtp, r);
	/* A cached answer arrives inside smtp_input(): it goes on by itself. */
	if (!c->looking_up)
		conn_process(c);
}

static void
io_domain_lookup(void *ctx, const char *domain)
{
	struct conn *c = ctx;

	c->looking_up = true;
	c->lookup = dns_domain_exists(c->srv->dns, domain, on_lookup, c);
	c->looking_up = false;
}

static const struct smtp_io conn_smtp_io = {
	.send = io_send,
	.spool_open = io_spool_open,
	.spool_write = io_spool_write,
	.spool_commit = io_spool_commit,
	.spool_abort = io_spool_abort,
	.domain_lookup = io_domain_lookup,
};

/* --- socket side ---------------------------------------------------------- */

/* conn_flush - write what we can; -1 when the connection was closed */
static int
conn_flush(struct conn *c)
{
	ssize_t n;

	if (c->out.max == 0) {
		conn_close(c, "client does not read its replies");
		return -1;
	}
	while (c->out.len > 0) {
		n = write(c->fd, c->out.data, c->out.len);
		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
		} else if (n == -1 && errno == EINTR) {
			continue;
		} else if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_start(c->srv->loop, &c->wio);
			return 0;
		} else {
			conn_close(c, "write error");
			return -1;
		}
	}
	ev_io_stop(c->srv->loop, &c->wio);
	return 0;
}

/* conn_process - feed buffered input, flush, set watchers and timer */
static void
conn_process(struct conn *c)
{
	struct ev_loop *loop = c->srv->loop;
	const struct config *cfg = c->cfg->cfg;
	size_t used;
	bool reading;

	if (c->inlen > 0) {
		used = smtp_input(c->smtp, c->in, c->inlen);
		memmove(c->in, c->in + used, c->inlen - used);
		c->inlen -= used;
	}
	if (conn_flush(c) == -1)
		return;
	if (smtp_closing(c->smtp)) {
		if (c->out.len == 0)
			conn_close(c, NULL);
		else
			ev_io_stop(loop, &c->rio);	/* close once flushed */
		return;
	}
	reading = !smtp_waiting(c->smtp) && c->out.len < CONN_OUT_HIGH &&
	    c->inlen < sizeof(c->in);
	if (reading)
		ev_io_start(loop, &c->rio);
	else
		ev_io_stop(loop, &c->rio);
	c->timer.repeat = smtp_in_data(c->smtp) ? cfg->data_timeout :
	    cfg->command_timeout;
	if (smtp_waiting(c->smtp))
		ev_timer_stop(loop, &c->timer);	/* our turn, not theirs */
	else
		ev_timer_again(loop, &c->timer);
}

static void
on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	ssize_t n;

	(void)loop;
	(void)revents;
	n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c, n == 0 ? (smtp_in_data(c->smtp) ?
		    "lost connection in DATA" : NULL) : strerror(errno));
		return;
	}
	c->inlen += (size_t)n;
	conn_process(c);
}

static void
on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	(void)revents;
	if (conn_flush(c) == -1)
		return;
	if (c->out.len == 0)
		conn_process(c);
}

static void
on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	(void)revents;
	smtp_timeout(c->smtp);
	conn_process(c);
	/* If the 421 could not be written at once, do not wait for it. */
	if (!c->closed && c->out.len > 0)
		conn_close(c, "timeout");
}

struct conn *
conn_new(struct server *srv, int fd, const struct sockaddr *sa,
    enum listen_role role)
{
	struct conn *c;
	struct smtp_peer peer;
	int one = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return NULL;
	}
	c->srv = srv;
	c->cfg = cfg_ref_get(srv->cfg);
	c->fd = fd;
	c->sid = ++srv->next_sid;
	buf_init(&c->out, CONN_OUT_MAX);
	netaddr_format(sa, c->addr_text, sizeof(c->addr_text));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	ev_io_init(&c->rio, on_read, fd, EV_READ);
	ev_io_init(&c->wio, on_write, fd, EV_WRITE);
	ev_init(&c->timer, on_timeout);
	c->rio.data = c->wio.data = c->timer.data = c;

	c->next = srv->conns;
	if (c->next)
		c->next->prev = c;
	srv->conns = c;
	srv->nconns++;

	log_info("s=%lx connect from [%s] to %s", c->sid, c->addr_text,
	    config_role_name(role));
	peer.addr = sa;
	peer.addr_text = c->addr_text;
	peer.role = role;
	peer.session_id = c->sid;
	if ((c->smtp = smtp_new(c->cfg->cfg, &peer, &conn_smtp_io, c)) == NULL) {
		conn_close(c, "out of memory");
		return NULL;
	}
	conn_process(c);
	return c;
}

void
conn_shutdown(struct conn *c)
{
	smtp_shutdown(c->smtp);
	conn_process(c);
}

void
conn_abort(struct conn *c)
{
	conn_close(c, "server stopping");
}

struct conn *
conn_next(const struct conn *c)
{
	return c->next;
}
