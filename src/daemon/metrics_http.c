/*
 * metrics_http - the metrics listener's HTTP exchanges (metrics_http.h).
 *
 * A scrape is a slot: its socket, its request parser (lib/httpreq.c),
 * its response and its deadline. It reads until the request head is
 * whole, answers with one response built at once (the counters rendered
 * by lib/metrics_text.c), writes it as the client takes it and closes:
 * Connection: close, so no keep-alive state. The same slots are driven
 * by libev watchers or by the master's poll(): only the waiting differs.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/metrics_http.h"
#include "lib/buf.h"
#include "lib/httpreq.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/metrics_text.h"
#include "lib/netaddr.h"

#define RESPONSE_MAX	(1024 * 1024)	/* the exposition is ~20 KiB */
#define ACCEPT_BATCH	METRICS_HTTP_CONNS
#define FULL_LOG_EVERY	60.0	/* seconds between "closed: too many" lines */
#define PAUSE		1.0	/* accept paused after EMFILE */

struct scrape {
	int		 fd;		/* -1: a free slot */
	bool		 writing;	/* the response is going out */
	double		 deadline;	/* monotonic seconds */
	struct httpreq	 req;
	struct buf	 out;
	size_t		 off;		/* of out, written */
	char		 peer[NETADDR_STRLEN];
	ev_io		 io;
	struct metrics_http *mh;
};

struct metrics_http {
	int		 fd;		/* the listening socket */
	char		 name[80];
	struct scrape	 s[METRICS_HTTP_CONNS];
	unsigned	 n;		/* slots in use */
	unsigned	 max;		/* metrics_connections */
	unsigned	 timeout;	/* metrics_timeout, seconds */
	unsigned long	 refused;	/* closed as too many, since logged */
	double		 refused_logged;
	double		 paused_until;	/* accept, after EMFILE */
	struct metrics_text_listener labels[METRICS_LISTENERS];
	char		 label_text[METRICS_LISTENERS][NETADDR_STRLEN + 16];
	time_t		 started;
	unsigned	 workers;
	struct ev_loop	*loop;		/* NULL: the master's poll() */
	ev_io		 accept_io;
	ev_timer	 tick;		/* deadlines, the end of a pause */
};

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- waiting: libev or poll ------------------------------------------------ */

/* watch - a scrape's watcher as its state wants it (libev only; poll()
 * asks metrics_http_pollfds every time) */
static void
watch(struct scrape *sc)
{
	struct metrics_http *mh = sc->mh;

	if (mh->loop == NULL)
		return;
	ev_io_stop(mh->loop, &sc->io);
	if (sc->fd == -1)
		return;
	ev_io_set(&sc->io, sc->fd, sc->writing ? EV_WRITE : EV_READ);
	ev_io_start(mh->loop, &sc->io);
}

/* tick_update - the second's timer runs while there is a deadline to
 * keep or a pause to end (libev only) */
static void
tick_update(struct metrics_http *mh)
{
	if (mh->loop == NULL)
		return;
	if (mh->n > 0 || mh->paused_until > 0) {
		if (!ev_is_active(&mh->tick))
			ev_timer_again(mh->loop, &mh->tick);
	} else
		ev_timer_stop(mh->loop, &mh->tick);
	if (mh->paused_until > 0)
		ev_io_stop(mh->loop, &mh->accept_io);
	else
		ev_io_start(mh->loop, &mh->accept_io);
}

/* --- one scrape -------------------------------------------------------------- */

/* scrape_close - the end of an exchange; graceful: the response is
 * out, else the scrape is dropped (a deadline, a child's copy) */
static void
scrape_close(struct scrape *sc, bool graceful)
{
	char drain[512];
	int i;

	if (sc->fd == -1)
		return;
	/* What the client sent past its head (it should have sent none)
	 * is read first: closing over unread bytes resets the connection,
	 * which can lose the response on its way. Never in a child: its
	 * shutdown would end the parent's exchange. */
	if (graceful) {
		shutdown(sc->fd, SHUT_WR);
		for (i = 0; i < 16 && read(sc->fd, drain, sizeof(drain)) > 0;
		    i++)
			continue;
	}
	close(sc->fd);
	sc->fd = -1;
	buf_free(&sc->out);
	watch(sc);
	sc->mh->n--;
}

/* render - the body of GET /metrics into body; the Content-Type */
static const char *
render(struct metrics_http *mh, bool openmetrics, struct buf *body)
{
	struct metrics_text_info info = {
		.listeners = mh->labels,
		.version = PACKAGE_VERSION,
		.start_time = mh->started,
		.workers = mh->workers,
		.now = time(NULL),
		.openmetrics = openmetrics,
	};
	const struct metrics_slot *slots = metrics_slots();
	static struct metrics_slot none;	/* no mapping: all zero */

	if (metrics_text_render(body, slots != NULL ? slots : &none,
	    slots != NULL ? METRICS_SLOTS : 1, &info) == -1)
		return NULL;
	return openmetrics ? METRICS_TEXT_OPENMETRICS :
	    METRICS_TEXT_PROMETHEUS;
}

/* respond - the response to the request as parsed (st), in sc->out */
static void
respond(struct scrape *sc, enum httpreq_status st)
{
	const struct httpreq *r = &sc->req;
	const char *status, *type = "text/plain; charset=utf-8", *extra = "";
	struct buf body;
	bool head = false;

	buf_init(&body, RESPONSE_MAX);
	if (st == HTTPREQ_BAD) {
		log_info("metrics: bad request from [%s]: %s", sc->peer,
		    r->error);
		status = "400 Bad Request";
	} else if (r->method == HTTPREQ_OTHER) {
		status = "405 Method Not Allowed";
		extra = "Allow: GET, HEAD\r\n";
	} else if (!httpreq_path_is(r, "/metrics")) {
		status = "404 Not Found";
		head = r->method == HTTPREQ_HEAD;
	} else if ((type = render(sc->mh, r->openmetrics, &body)) == NULL) {
		log_warn("metrics: the exposition is past %d bytes",
		    RESPONSE_MAX);
		buf_reset(&body);
		type = "text/plain; charset=utf-8";
		status = "500 Internal Server Error";
	} else {
		status = "200 OK";
		head = r->method == HTTPREQ_HEAD;
	}
	if (body.len == 0)
		buf_printf(&body, "%s\n", status);
	/* A HEAD's length is the GET's; its body is not sent. */
	if (buf_printf(&sc->out, "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\n%sConnection: close\r\n\r\n", status, type,
	    body.len, extra) == -1 || (!head &&
	    buf_append(&sc->out, body.data, body.len) == -1))
		buf_reset(&sc->out);	/* nothing sane to send: close */
	buf_free(&body);
	sc->writing = true;
	sc->off = 0;
}

/* scrape_write - as much of the response as the socket takes; closed
 * once it is all out */
static void
scrape_write(struct scrape *sc)
{
	ssize_t n;

	while (sc->off < sc->out.len) {
		n = send(sc->fd, sc->out.data + sc->off, sc->out.len - sc->off,
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			watch(sc);
			return;
		}
		if (n <= 0) {
			scrape_close(sc, false);
			return;
		}
		sc->off += (size_t)n;
	}
	scrape_close(sc, true);
}

/* scrape_read - the request head as it comes; answered once whole */
static void
scrape_read(struct scrape *sc)
{
	enum httpreq_status st = HTTPREQ_MORE;
	char in[1024];
	size_t used;
	ssize_t n;

	while (st == HTTPREQ_MORE) {
		n = read(sc->fd, in, sizeof(in));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {		/* gone before its request ended */
			scrape_close(sc, false);
			return;
		}
		st = httpreq_feed(&sc->req, in, (size_t)n, &used);
	}
	respond(sc, st);
	scrape_write(sc);
}

static void
scrape_ready(struct scrape *sc)
{
	if (sc->writing)
		scrape_write(sc);
	else
		scrape_read(sc);
}

/* --- the listener -------------------------------------------------------------- */

/* refused - a client past metrics_connections: closed, and said now and
 * then (a flood must not flood the log) */
static void
refused(struct metrics_http *mh, int fd, double now)
{
	close(fd);
	mh->refused++;
	if (now - mh->refused_logged < FULL_LOG_EVERY &&
	    mh->refused_logged > 0)
		return;
	log_warn("metrics: %lu connection(s) closed: %u scrapes open "
	    "already (metrics_connections)", mh->refused, mh->n);
	mh->refused = 0;
	mh->refused_logged = now;
}

static void
take(struct metrics_http *mh)
{
	struct sockaddr_storage ss;
	struct scrape *sc;
	socklen_t len;
	double now = now_mono();
	int i, fd;
	size_t k;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		len = sizeof(ss);
		fd = accept4(mh->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warn("metrics: accept on %s: %s; pausing "
				    "1s", mh->name, strerror(errno));
				mh->paused_until = now + PAUSE;
			}
			break;
		}
		for (k = 0; k < METRICS_HTTP_CONNS && mh->s[k].fd != -1; k++)
			continue;
		if (mh->n >= mh->max || k == METRICS_HTTP_CONNS) {
			refused(mh, fd, now);
			continue;
		}
		sc = &mh->s[k];
		sc->fd = fd;
		sc->writing = false;
		sc->deadline = now + mh->timeout;
		httpreq_init(&sc->req);
		buf_init(&sc->out, RESPONSE_MAX + 1024);
		netaddr_format((struct sockaddr *)&ss, sc->peer,
		    sizeof(sc->peer));
		mh->n++;
		watch(sc);
	}
	tick_update(mh);
}

/* expire - scrapes past their deadline closed; the end of a pause */
static void
expire(struct metrics_http *mh)
{
	double now = now_mono();
	size_t k;

	for (k = 0; k < METRICS_HTTP_CONNS; k++)
		if (mh->s[k].fd != -1 && now >= mh->s[k].deadline)
			scrape_close(&mh->s[k], false);
	if (mh->paused_until > 0 && now >= mh->paused_until)
		mh->paused_until = 0;
	tick_update(mh);
}

/* --- life ------------------------------------------------------------------------ */

/* labels - listener and role per index, as the slots count them: a
 * listen line by its place, the last index for the local socket and the
 * lines past it; the metrics line counts nothing */
static void
labels(struct metrics_http *mh, const struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nlisten && i < METRICS_LISTENERS - 1; i++) {
		const struct listen_spec *l = &cfg->listen[i];
		bool v6 = l->host != NULL && strchr(l->host, ':') != NULL;

		if (l->role == ROLE_METRICS)
			continue;
		snprintf(mh->label_text[i], sizeof(mh->label_text[i]),
		    "%s%s%s:%s", v6 ? "[" : "", l->host ? l->host : "*",
		    v6 ? "]" : "", l->port);
		mh->labels[i].listener = mh->label_text[i];
		mh->labels[i].role = config_role_name(l->role);
	}
	mh->labels[METRICS_LISTENERS - 1].listener = "other";
	mh->labels[METRICS_LISTENERS - 1].role = "other";
}

struct metrics_http *
metrics_http_new(int fd, const char *name, const struct config *cfg,
    time_t started)
{
	struct metrics_http *mh;
	size_t k;

	if ((mh = calloc(1, sizeof(*mh))) == NULL)
		return NULL;
	mh->fd = fd;
	snprintf(mh->name, sizeof(mh->name), "%s", name);
	mh->started = started;
	mh->workers = 1;
	for (k = 0; k < METRICS_HTTP_CONNS; k++) {
		mh->s[k].fd = -1;
		mh->s[k].mh = mh;
	}
	labels(mh, cfg);
	metrics_http_config(mh, cfg);
	log_info("listening on %s", mh->name);
	return mh;
}

void
metrics_http_config(struct metrics_http *mh, const struct config *cfg)
{
	if (mh == NULL)
		return;
	mh->max = cfg->metrics_connections < METRICS_HTTP_CONNS ?
	    cfg->metrics_connections : METRICS_HTTP_CONNS;
	mh->timeout = cfg->metrics_timeout;
}

void
metrics_http_free(struct metrics_http *mh)
{
	size_t k;

	if (mh == NULL)
		return;
	for (k = 0; k < METRICS_HTTP_CONNS; k++)
		scrape_close(&mh->s[k], false);
	if (mh->loop != NULL) {
		ev_io_stop(mh->loop, &mh->accept_io);
		ev_timer_stop(mh->loop, &mh->tick);
	}
	free(mh);
}

void
metrics_http_workers(struct metrics_http *mh, unsigned n)
{
	if (mh != NULL)
		mh->workers = n;
}

/* --- libev ------------------------------------------------------------------------ */

static void
on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	take(w->data);
}

static void
on_scrape(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	scrape_ready(w->data);
	tick_update(((struct scrape *)w->data)->mh);
}

static void
on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	expire(w->data);
}

void
metrics_http_start(struct metrics_http *mh, struct ev_loop *loop)
{
	size_t k;

	mh->loop = loop;
	ev_io_init(&mh->accept_io, on_accept, mh->fd, EV_READ);
	mh->accept_io.data = mh;
	ev_init(&mh->tick, on_tick);
	mh->tick.repeat = 1.0;
	mh->tick.data = mh;
	for (k = 0; k < METRICS_HTTP_CONNS; k++) {
		ev_init(&mh->s[k].io, on_scrape);
		mh->s[k].io.data = &mh->s[k];
	}
	tick_update(mh);
}

/* --- poll ------------------------------------------------------------------------- */

size_t
metrics_http_pollfds(struct metrics_http *mh, struct pollfd *pfd)
{
	size_t n = 0, k;

	for (k = 0; k < METRICS_HTTP_CONNS; k++)
		if (mh->s[k].fd != -1) {
			pfd[n].fd = mh->s[k].fd;
			pfd[n++].events = mh->s[k].writing ? POLLOUT : POLLIN;
		}
	/* Last: metrics_http_polled takes the new clients after the
	 * scrapes, so that no slot freed and taken again in between is
	 * given another's events. */
	if (mh->paused_until == 0) {
		pfd[n].fd = mh->fd;
		pfd[n++].events = POLLIN;
	}
	return n;
}

void
metrics_http_polled(struct metrics_http *mh, const struct pollfd *pfd,
    size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		if (pfd[i].revents == 0)
			continue;
		if (pfd[i].fd == mh->fd) {
			take(mh);
			continue;
		}
		for (k = 0; k < METRICS_HTTP_CONNS; k++)
			if (mh->s[k].fd == pfd[i].fd) {
				scrape_ready(&mh->s[k]);
				break;
			}
	}
	expire(mh);
}
