/*
 * conn - one client connection on the event loop.
 *
 * Reads go into a fixed input buffer and straight into the engine,
 * which takes everything except while it waits for us (a commit, a DNS
 * or SASL answer, a TLS handshake); then reading stops until the answer
 * comes (back-pressure instead of buffering). Replies collect in a
 * bounded output buffer and are written once per batch of input, which
 * is what makes pipelining cheap. The transport is the socket or, once
 * TLS is up, OpenSSL over it (tls.c). A connection whose commit is in
 * flight when it closes stays allocated until the commit callback,
 * which then frees it.
 */
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/conn.h"
#include "daemon/conn_int.h"
#include "daemon/conn_proxy.h"
#include "daemon/local.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/netaddr.h"
#include "queue/queue.h"
#include "daemon/server.h"
#include "smtp/smtp.h"
#include "smtp/smtp_reply.h"
#include "sec/tls.h"

/* conn_count_end - the connection's end in the metrics, once, before
 * the client can see it: a scrape after it has it, and no longer open */
static void
conn_count_end(struct conn *c)
{
	if (c->counted)
		return;
	c->counted = true;
	METRICS_INC(conn_total[c->line][c->refused_as != MCO_SERVED ?
	    c->refused_as : c->denied ? MCO_DENIED : MCO_SERVED]);
	METRICS_ADD(conn_open[c->line], -1);
}

/* conn_close - close the socket; free now, or when the commit returns */
void
conn_close(struct conn *c, const char *why)
{
	struct ev_loop *loop = c->srv->loop;

	log_msg(c->quiet ? LOG_LVL_DEBUG : LOG_LVL_INFO, "s=%lx disconnect "
	    "from [%s]%s%s%s", c->sid, c->addr_text, c->proxy_local ?
	    " (the proxy's own connection)" : "", why ? ": " : "",
	    why ? why : "");
	conn_count_end(c);
	ev_io_stop(loop, &c->rio);
	ev_io_stop(loop, &c->wio);
	ev_timer_stop(loop, &c->timer);
	ev_timer_stop(loop, &c->guard);
	ev_timer_stop(loop, &c->hold);
	conn_hooks_close(c);
	tls_conn_free(c->tls);
	c->tls = NULL;
	buf_free(&c->proxy_in);
	close(c->fd);
	c->fd = -1;
	c->closed = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		c->srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	server_conn_gone(c->srv, &c->limit_key);
	if (!c->committing)
		conn_destroy(c);
}

/* --- transport: the socket, or TLS over it ------------------------------- */

/* conn_flush - write what we can; -1 when the connection was closed */
static int
conn_flush(struct conn *c)
{
	enum tls_status st;
	ssize_t n;
	size_t done;

	if (c->out.max == 0) {
		conn_close(c, "client does not read its replies");
		return -1;
	}
	while (c->out.len > 0) {
		if (c->tls) {
			st = tls_write(c->tls, c->out.data, c->out.len, &done);
			if (st == TLS_DONE) {
				buf_consume(&c->out, done);
				continue;
			}
			if (st == TLS_WANT_WRITE || st == TLS_WANT_READ) {
				ev_io_start(c->srv->loop, &c->wio);
				return 0;
			}
			conn_close(c, st == TLS_EOF ? "connection closed" :
			    tls_conn_error(c->tls));
			return -1;
		}
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
	if (!c->read_wants_write)
		ev_io_stop(c->srv->loop, &c->wio);
	return 0;
}

/* conn_input_done - the engine took everything: give the buffer back */
static void
conn_input_done(struct conn *c)
{
	if (c->inlen == 0) {
		free(c->in);
		c->in = NULL;
	}
}

/* conn_fill - read what the transport has into c->in; -1 when closed */
static int
conn_fill(struct conn *c)
{
	enum tls_status st;
	ssize_t n;
	size_t got;

	if (c->in == NULL && (c->in = malloc(CONN_INBUF)) == NULL) {
		conn_close(c, "out of memory");
		return -1;
	}
	if (c->tls) {
		c->read_wants_write = false;
		/* OpenSSL may hold decrypted bytes the socket won't signal. */
		do {
			st = tls_read(c->tls, c->in + c->inlen,
			    CONN_INBUF - c->inlen, &got);
			if (st == TLS_DONE) {
				c->inlen += got;
				c->data_bytes += got;
			}
		} while (st == TLS_DONE && c->inlen < CONN_INBUF &&
		    tls_pending(c->tls));
		if (st == TLS_WANT_WRITE) {
			c->read_wants_write = true;
			ev_io_start(c->srv->loop, &c->wio);
		} else if (st == TLS_EOF || st == TLS_FAIL) {
			conn_close(c, st == TLS_EOF ? (c->smtp &&
			    smtp_in_data(c->smtp) ? "lost connection in DATA" :
			    NULL) : tls_conn_error(c->tls));
			return -1;
		}
		return 0;
	}
	n = read(c->fd, c->in + c->inlen, CONN_INBUF - c->inlen);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return 0;
	if (n <= 0) {
		conn_close(c, n == 0 ? (c->smtp && smtp_in_data(c->smtp) ?
		    "lost connection in DATA" : NULL) : strerror(errno));
		return -1;
	}
	c->inlen += (size_t)n;
	c->data_bytes += (size_t)n;	/* zeroed when DATA begins */
	return 0;
}

/* --- TLS handshake ------------------------------------------------------------ */

static int	conn_greet(struct conn *);
static int	conn_proxy_input(struct conn *);

/* tls_metric - a protocol version as the metrics count it */
static enum metrics_tls_version
tls_metric(const char *version)
{
	if (strcmp(version, "TLSv1.3") == 0)
		return MTV_TLS13;
	if (strcmp(version, "TLSv1.2") == 0)
		return MTV_TLS12;
	return MTV_OTHER;
}

/* conn_handshake - one step; -1 when the connection was closed */
static int
conn_handshake(struct conn *c)
{
	struct ev_loop *loop = c->srv->loop;
	enum tls_status st = tls_handshake(c->tls);

	switch (st) {
	case TLS_DONE:
		c->handshaking = false;
		ev_io_stop(loop, &c->wio);
		METRICS_INC(tls_sessions[tls_metric(tls_conn_version(c->tls))]);
		log_info("s=%lx TLS from [%s]: %s %s (%d bits)", c->sid,
		    c->addr_text, tls_conn_version(c->tls),
		    tls_conn_cipher(c->tls), tls_conn_bits(c->tls));
		if (c->smtp == NULL)
			return conn_greet(c);	/* implicit TLS: now the 220 */
		smtp_tls_done(c->smtp, true, tls_conn_version(c->tls),
		    tls_conn_cipher(c->tls), tls_conn_bits(c->tls));
		return conn_process(c);
	case TLS_WANT_READ:
		ev_io_stop(loop, &c->wio);
		ev_io_start(loop, &c->rio);
		return 0;
	case TLS_WANT_WRITE:
		ev_io_start(loop, &c->wio);
		return 0;
	case TLS_EOF:
	case TLS_FAIL:
		break;
	}
	log_info("s=%lx TLS handshake failed from [%s]: %s", c->sid,
	    c->addr_text, st == TLS_EOF ? "connection closed" :
	    tls_conn_error(c->tls));
	conn_close(c, "TLS handshake failed");
	return -1;
}

/* conn_start_tls - the handshake, with its own deadline; -1 when the
 * connection was closed */
int
conn_start_tls(struct conn *c)
{
	if ((c->tls = tls_conn_new(c->tlsctx, c->fd)) == NULL) {
		conn_close(c, "cannot start TLS");
		return -1;
	}
	c->handshaking = true;
	c->timer.repeat = server_timeout(c->srv,
	    c->cfg->cfg->tls_handshake_timeout);
	ev_timer_again(c->srv->loop, &c->timer);
	return conn_handshake(c);
}

/* --- the engine's side ---------------------------------------------------------- */

/* conn_track - note when the pending command line and DATA began */
static void
conn_track(struct conn *c, bool newline)
{
	ev_tstamp now = ev_now(c->srv->loop);

	if (newline || !smtp_line_pending(c->smtp))
		c->line_start = 0;	/* a pending line began in this batch */
	if (smtp_line_pending(c->smtp) && c->line_start == 0)
		c->line_start = now;
	if (!smtp_in_data(c->smtp))
		c->data_start = 0;
	else if (c->data_start == 0) {
		c->data_start = now;
		c->data_bytes = 0;
	}
}

/* conn_guard - the once-a-second check runs while it has work */
static void
conn_guard(struct conn *c)
{
	bool need = c->line_start != 0 ||
	    (c->data_start != 0 && c->cfg->cfg->min_data_rate > 0);

	if (need && !ev_is_active(&c->guard)) {
		ev_timer_set(&c->guard, 1.0, 1.0);
		ev_timer_start(c->srv->loop, &c->guard);
	} else if (!need) {
		ev_timer_stop(c->srv->loop, &c->guard);
	}
}

/* conn_tarpit - past soft_error_limit, hold the replies to a batch with
 * a new error for a second, reading nothing meanwhile; true if held */
static bool
conn_tarpit(struct conn *c)
{
	unsigned errors = smtp_errors(c->smtp);
	bool grew = errors > c->errors_seen;

	c->errors_seen = errors;
	if (!grew || errors <= c->cfg->cfg->soft_error_limit || c->out.len == 0)
		return false;
	c->holding = true;
	ev_io_stop(c->srv->loop, &c->rio);
	ev_io_stop(c->srv->loop, &c->wio);
	ev_timer_stop(c->srv->loop, &c->timer);
	ev_timer_set(&c->hold, TARPIT_DELAY, 0.0);
	ev_timer_start(c->srv->loop, &c->hold);
	return true;
}

/* conn_process - feed buffered input, flush, set watchers and timer;
 * -1 when the connection was closed (c may be freed: do not touch it) */
int
conn_process(struct conn *c)
{
	struct ev_loop *loop = c->srv->loop;
	const struct config *cfg = c->cfg->cfg;
	size_t used;
	bool room, newline = false;

	if (c->handshaking || c->holding)
		return 0;		/* the handshake or the tarpit drives */
	if (c->inlen > 0 && !c->starttls_pending) {
		used = smtp_input(c->smtp, c->in, c->inlen);
		newline = memchr(c->in, '\n', used) != NULL;
		memmove(c->in, c->in + used, c->inlen - used);
		c->inlen -= used;
	}
	conn_input_done(c);
	conn_track(c, newline);
	conn_guard(c);
	if (conn_tarpit(c))
		return 0;
	if (conn_flush(c) == -1)
		return -1;
	if (c->starttls_pending) {
		if (c->out.len > 0)
			return 0;		/* the 220 first */
		c->starttls_pending = false;
		if (c->inlen > 0)		/* CVE-2011-0411: never run */
			log_info("s=%lx discarded %zu bytes sent after STARTTLS "
			    "by [%s]", c->sid, c->inlen, c->addr_text);
		c->inlen = 0;
		conn_input_done(c);
		return conn_start_tls(c);
	}
	if (smtp_closing(c->smtp)) {
		if (c->out.len == 0) {
			conn_close(c, NULL);
			return -1;
		}
		ev_io_stop(loop, &c->rio);	/* close once flushed */
		return 0;
	}
	/* While the engine waits for us (a commit, a lookup) the read
	 * watcher stays as it is: stopping and starting it would cost an
	 * epoll_ctl per transaction. If the client sends meanwhile, on_read
	 * stops it then, and the input stays in the socket. */
	room = c->out.len < CONN_OUT_HIGH && c->inlen < CONN_INBUF;
	if (room && !smtp_waiting(c->smtp))
		ev_io_start(loop, &c->rio);
	else if (!room)
		ev_io_stop(loop, &c->rio);
	c->timer.repeat = server_timeout(c->srv, smtp_in_data(c->smtp) ?
	    cfg->data_timeout : cfg->command_timeout);
	if (smtp_waiting(c->smtp))
		ev_timer_stop(loop, &c->timer);	/* our turn, not theirs */
	else
		ev_timer_again(loop, &c->timer);
	return 0;
}

static void
on_hold(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	(void)revents;
	c->holding = false;
	conn_process(c);
}

/* on_guard - a command line or a DATA phase that crawls (slowloris):
 * each byte resets the read timeout, so time the whole */
static void
on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;
	const struct config *cfg = c->cfg->cfg;
	ev_tstamp now = ev_now(loop), took;
	const char *why = NULL;

	(void)revents;
	if (c->line_start != 0 && now - c->line_start >= cfg->command_deadline)
		why = "command_deadline exceeded";
	took = now - c->data_start;
	if (c->data_start != 0 && cfg->min_data_rate > 0 &&
	    took >= DATA_RATE_GRACE &&
	    (double)c->data_bytes < cfg->min_data_rate * took)
		why = "DATA slower than min_data_rate";
	if (why == NULL)
		return;
	log_info("s=%lx %s by [%s]", c->sid, why, c->addr_text);
	ev_timer_stop(loop, &c->guard);
	c->holding = false;
	ev_timer_stop(loop, &c->hold);
	smtp_timeout(c->smtp);
	if (conn_process(c) == 0 && c->out.len > 0)
		conn_close(c, why);
}

/* conn_pregreet - input during greet_pause: a client that does not wait
 * for the server is sending blind, as spamware does */
static void
conn_pregreet(struct conn *c)
{
	static const char reply[] = R_PREGREET "\r\n";
	char esc[64];

	if (conn_fill(c) == -1 || c->inlen == 0)
		return;
	log_escape(esc, sizeof(esc), c->in, c->inlen < 20 ? c->inlen : 20);
	log_info("s=%lx reject: CONNECT from [%s]: talked before the "
	    "greeting: <%s>", c->sid, c->addr_text, esc);
	c->denied = true;
	METRICS_INC(refusals[MR_OTHER]);
	if (buf_append(&c->out, reply, sizeof(reply) - 1) == -1)
		c->out.max = 0;
	if (conn_flush(c) == 0)
		conn_close(c, "talked before the greeting");
}

static void
on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	(void)revents;
	if (c->proxy_pending) {
		conn_proxy_input(c);
		return;
	}
	if (c->handshaking) {
		conn_handshake(c);
		return;
	}
	if (c->greet_pending) {
		conn_pregreet(c);
		return;
	}
	if (c->smtp && smtp_waiting(c->smtp)) {
		ev_io_stop(loop, &c->rio);	/* conn_process starts it */
		return;
	}
	if (conn_fill(c) == -1)
		return;
	conn_process(c);
}

static void
on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	(void)revents;
	if (c->handshaking) {
		conn_handshake(c);
		return;
	}
	if (c->holding) {
		ev_io_stop(loop, &c->wio);	/* on_hold flushes */
		return;
	}
	if (c->read_wants_write) {
		if (conn_fill(c) == -1)
			return;
		conn_process(c);
		return;
	}
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
	if (c->proxy_pending) {
		c->refused_as = MCO_PROXY_BAD;
		conn_close(c, "no PROXY header within proxy_timeout");
		return;
	}
	if (c->greet_pending) {
		c->greet_pending = false;	/* greet_pause is over */
		conn_greet(c);
		return;
	}
	if (c->handshaking || c->smtp == NULL) {
		log_info("s=%lx TLS handshake timeout from [%s]", c->sid,
		    c->addr_text);
		conn_close(c, "TLS handshake timeout");
		return;
	}
	smtp_timeout(c->smtp);
	/* If the 421 could not be written at once, do not wait for it. */
	if (conn_process(c) == 0 && c->out.len > 0)
		conn_close(c, "timeout");
}

/* conn_greet - the engine session, which says 220; -1 if closed */
static int
conn_greet(struct conn *c)
{
	struct smtp_peer peer;

	memset(&peer, 0, sizeof(peer));
	peer.addr = c->role == ROLE_LOCAL ? NULL : (struct sockaddr *)&c->peer;
	peer.addr_text = c->addr_text;
	peer.untrusted = c->proxy_local;
	peer.role = c->role;
	peer.listener = c->line;
	peer.local_user = c->local_user;
	peer.session_id = c->sid;
	peer.tls_offer = c->tlsctx != NULL;
	peer.dnsbl_pending = conn_first_pending(c);
	peer.dnsbl_reply = conn_first_reply(c);
	if (c->tls) {
		peer.tls_version = tls_conn_version(c->tls);
		peer.tls_cipher = tls_conn_cipher(c->tls);
		peer.tls_bits = tls_conn_bits(c->tls);
	}
	if ((c->smtp = smtp_new(c->cfg->cfg, &peer, &conn_smtp_io, c)) == NULL) {
		conn_close(c, "out of memory");
		return -1;
	}
	if (smtp_closing(c->smtp))
		c->denied = true;	/* its only reply a refusal: client_deny */
	return conn_process(c);
}

/* conn_begin - the session begins: the checks at connect, then TLS
 * or the greeting; -1 if closed */
static int
conn_begin(struct conn *c)
{
	conn_dnsbl_start(c);	/* the greeting does not wait for it */
	conn_milter_start(c);	/* nor for the milters */
	if (c->role == ROLE_SUBMISSIONS) {
		/* RFC 8314: TLS from the first byte, then the greeting. */
		if (c->tlsctx == NULL) {
			conn_close(c, "no TLS certificate for submissions");
			return -1;
		}
		return conn_start_tls(c);
	}
	if (c->cfg->cfg->greet_pause > 0 && c->role != ROLE_LOCAL) {
		/* The 220 when the timer fires; input before it is refused. */
		c->greet_pending = true;
		ev_timer_set(&c->timer, c->cfg->cfg->greet_pause, 0.0);
		ev_timer_start(c->srv->loop, &c->timer);
		ev_io_start(c->srv->loop, &c->rio);
		return 0;
	}
	return conn_greet(c);
}

/* conn_proxied - the PROXY header is in: its client is the client
 * (or, for the proxy's own connection, nobody trusted); then the
 * per-address limit by that client, and the session; -1 if closed */
static int
conn_proxied(struct conn *c, const struct proxy_hdr *hdr)
{
	static const char full[] = R_TOO_MANY_FROM_IP "\r\n";
	const struct sockaddr *sa = (const struct sockaddr *)&hdr->src;
	const struct config *now = c->srv->cfg->cfg;

	enum proxy_trust trust = proxy_decide(now->proxy_trusted,
	    now->nproxy_trusted, &c->peer, &c->local, hdr);

	/* Trusted at accept, but a reload since may have taken the proxy
	 * out of proxy_trusted: its header is believed only if it is
	 * still in there now. */
	if (trust == PROXY_T_REFUSE) {
		c->refused_as = MCO_PROXY_BAD;
		conn_close(c, "not in proxy_trusted since a reload");
		return -1;
	}
	METRICS_INC(proxy_headers);
	c->proxy_pending = false;
	ev_timer_stop(c->srv->loop, &c->timer);
	ev_io_stop(c->srv->loop, &c->rio);
	snprintf(c->proxy_text, sizeof(c->proxy_text), "%s", c->addr_text);
	/* The proxy's own connection (proxy_decide says when) is
	 * nobody's. */
	if (trust == PROXY_T_SELF) {
		c->proxy_local = c->quiet = true;
	} else {
		memset(&c->peer, 0, sizeof(c->peer));
		memcpy(&c->peer, sa, sa->sa_family == AF_INET6 ?
		    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
		memcpy(&c->local, &hdr->dst, sizeof(c->local));
		netaddr_format(sa, c->addr_text, sizeof(c->addr_text));
	}
	/* The proxy's own is never one of mynetworks, here too. */
	if (server_per_ip_full(c->srv, (struct sockaddr *)&c->peer,
	    !c->proxy_local, c->listener_name)) {
		c->quiet = true;
		c->refused_as = MCO_PER_IP;
		METRICS_INC(refusals[MR_LIMIT]);
		conn_count_end(c);
		(void)!write(c->fd, full, sizeof(full) - 1);
		conn_close(c, "max_connections_per_ip");
		return -1;
	}
	server_conn_client(c->srv, (struct sockaddr *)&c->peer, &c->limit_key);
	if (!c->proxy_local)
		log_info("s=%lx connect from [%s] via proxy [%s] to %s", c->sid,
		    c->addr_text, c->proxy_text, config_role_name(c->role));
	return conn_begin(c);
}

/* conn_proxy_input - more of the PROXY header; -1 if closed */
static int
conn_proxy_input(struct conn *c)
{
	struct proxy_hdr hdr;
	char why[256];

	switch (conn_proxy_read(c->fd, &c->proxy_in, &hdr, why, sizeof(why))) {
	case CONN_PROXY_WAIT:
		return 0;
	case CONN_PROXY_DONE:
		return conn_proxied(c, &hdr);
	case CONN_PROXY_FAIL:
		break;
	}
	c->refused_as = MCO_PROXY_BAD;
	conn_close(c, why);
	return -1;
}

struct conn *
conn_new(struct server *srv, int fd, const struct sockaddr *sa,
    const struct listener *l)
{
	struct conn *c;
	socklen_t len;
	char user[sizeof(c->local_user)] = "";
	enum listen_role role = l->role;

	/* A local client is trusted for who the kernel says it is: no
	 * word from the kernel, no session. */
	if ((role == ROLE_LOCAL && local_peer(fd, user, sizeof(user)) == -1) ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		if (role == ROLE_LOCAL && user[0] == '\0')
			log_warn("local connection refused: no peer "
			    "credentials");
		close(fd);
		return NULL;
	}
	memcpy(c->local_user, user, sizeof(user));
	c->srv = srv;
	c->process = conn_process;
	c->cfg = cfg_ref_get(srv->cfg);
	c->fd = fd;
	c->role = role;
	c->line = l->line;
	METRICS_INC(conn_open[c->line]);	/* down in conn_close */
	c->listener_name = l->name;
	c->sid = srv->next_sid += srv->nworkers;	/* unique across workers */
	c->tlsctx = srv->tls ? tls_ctx_ref(srv->tls) : NULL;
	buf_init(&c->out, CONN_OUT_MAX);
	buf_init(&c->proxy_in, PROXY_V2_MAX);
	memcpy(&c->peer, sa, sa->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	/* TCP_NODELAY came with the socket from its listener. */
	if (role != ROLE_LOCAL && !l->wildcard) {
		memcpy(&c->local, &l->addr, sizeof(c->local));
	} else {
		len = sizeof(c->local);
		getsockname(fd, (struct sockaddr *)&c->local, &len);
	}
	if (role != ROLE_LOCAL) {
		netaddr_format(sa, c->addr_text, sizeof(c->addr_text));
	} else {
		snprintf(c->addr_text, sizeof(c->addr_text), "local user %s",
		    c->local_user);
	}

	ev_io_init(&c->rio, on_read, fd, EV_READ);
	ev_io_init(&c->wio, on_write, fd, EV_WRITE);
	ev_init(&c->timer, on_timeout);
	ev_init(&c->guard, on_guard);
	ev_init(&c->hold, on_hold);
	c->rio.data = c->wio.data = c->timer.data = c;
	c->guard.data = c->hold.data = c;

	c->next = srv->conns;
	if (c->next)
		c->next->prev = c;
	srv->conns = c;
	if (l->proxy) {
		/* Counted by its client once the header names it; until
		 * then nothing is sent, and the header has a deadline of
		 * its own, for the whole of it. */
		server_conn_added(srv, NULL, &c->limit_key);
		c->proxy_pending = true;
		ev_timer_set(&c->timer, server_timeout(srv,
		    c->cfg->cfg->proxy_timeout), 0.0);
		ev_timer_start(srv->loop, &c->timer);
		ev_io_start(srv->loop, &c->rio);
		return c;
	}
	server_conn_added(srv, (struct sockaddr *)&c->peer, &c->limit_key);
	log_info("s=%lx connect from [%s] to %s", c->sid, c->addr_text,
	    config_role_name(role));
	return conn_begin(c) == 0 ? c : NULL;
}

void
conn_shutdown(struct conn *c)
{
	if (c->smtp == NULL) {
		conn_close(c, "server stopping");	/* still in TLS setup */
		return;
	}
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
