/*
 * sasl_dovecot - SMTP AUTH through Dovecot's auth-client socket, on the
 * event loop.
 *
 * One connection per process to sasl_dovecot_path carries every
 * session's exchange, each under its own request id, as Dovecot's own
 * login processes do. The socket is non-blocking and only ever read or
 * written from its ev_io watcher: starting or stepping an exchange
 * appends a line to the output buffer, so no call from a session does
 * I/O, and no Dovecot, slow or hung, can stall the loop.
 *
 * Connection. Opened at start-up when the socket is there, else at the
 * next AUTH; the handshake (VERSION/CPID; the server's VERSION, MECH
 * lines and DONE) is sent at once and AUTH lines wait in their session
 * until DONE. When Dovecot closes the connection (a restart, a crash)
 * or breaks the protocol, every exchange in flight gets TEMP (454
 * 4.7.0) and the next AUTH connects again. An outage is logged once,
 * and its end once.
 *
 * Deadline (auth_timeout). The sessions owed an answer are on a list,
 * oldest first, under one timer. One past its deadline gets TEMP, and
 * Dovecot a CANCEL for it. When not one line came from Dovecot while
 * that exchange waited, Dovecot is taken for hung: the connection is
 * dropped (the others in flight get TEMP now rather than at their own
 * deadlines) and the next AUTH connects afresh.
 *
 * Failures. FAIL is 535 (the caller adds the usual growing delay, on
 * top of Dovecot's auth_failure_delay); FAIL with "temp" is 454.
 * Mechanisms: PLAIN and LOGIN, those of them sasl_mechanisms names
 * (all when it is empty), only inside TLS; one Dovecot did not list
 * in its handshake is refused with 504.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "sec/dovecot_proto.h"
#include "sec/sasl_dovecot.h"
#include "sec/sasl_wait.h"

#define DOVECOT_MECHS	"PLAIN LOGIN"	/* what we relay */
#define OUT_MAX		(1024 * 1024)	/* lines not yet written */
#define READ_CHUNK	4096

struct dovecot_server {
	struct ev_loop	*loop;
	char		*path;
	char		 mechs[32];	/* offered inside TLS */
	int		 fd;		/* -1: not connected */
	bool		 connecting;	/* connect() still in progress */
	bool		 ready;		/* Dovecot's DONE came */
	bool		 down;		/* logged an outage, not its end */
	unsigned	 gen;		/* bumped when a connection ends */
	ev_io		 io;
	struct buf	 in, out;
	size_t		 out_used;	/* most of out ever filled: wiped */
	char		 have[128];	/* " PLAIN LOGIN ": Dovecot's MECHs */
	unsigned	 next_id;
	unsigned long	 lines;		/* lines read on this connection */
	struct sasl_waits waits;	/* sessions owed an answer */
};

struct dovecot_session {
	struct dovecot_server *srv;
	char		*lip, *rip;
	unsigned	 lport, rport;
	bool		 secured;
	unsigned	 id;		/* the exchange at Dovecot; 0: none */
	struct buf	 held;		/* AUTH waiting for the handshake */
	sasl_cb		*cb;		/* owed an answer when set */
	void		*arg;
	unsigned	 gen;		/* the connection it waits on */
	unsigned long	 lines;		/* srv->lines when it was sent */
	struct sasl_wait w;		/* owed an answer */
};

static void conn_close(struct dovecot_server *, const char *why);

/* --- the sessions owed an answer -------------------------------------- */

#define SESSION(e)	SASL_WAIT_OF((e), struct dovecot_session, w)

/* wait_append - s is owed an answer by cb, within the timeout */
static void
wait_append(struct dovecot_session *s, sasl_cb *cb, void *arg)
{
	struct dovecot_server *srv = s->srv;

	s->cb = cb;
	s->arg = arg;
	s->gen = srv->gen;
	s->lines = srv->lines;
	sasl_wait_append(&srv->waits, &s->w);
}

/* answer - give s's owed answer; s may be freed or start again inside */
static void
answer(struct dovecot_session *s, enum sasl_status st, const char *data,
    size_t len, const char *user)
{
	sasl_cb *cb = s->cb;

	sasl_wait_remove(&s->srv->waits, &s->w);
	s->cb = NULL;
	if (st != SASL_STATUS_CONTINUE)
		s->id = 0;
	if (cb != NULL)
		cb(s->arg, st, data, len, user);
}

/* --- the connection ------------------------------------------------------ */

/* out_wipe - the output buffer held passwords: zero what it ever used */
static void
out_wipe(struct dovecot_server *srv)
{
	if (srv->out.data != NULL && srv->out_used > 0)
		explicit_bzero(srv->out.data, srv->out_used);
	srv->out_used = 0;
	buf_reset(&srv->out);
}

static void
io_update(struct dovecot_server *srv)
{
	int want = EV_READ;

	if (srv->fd == -1)
		return;
	if (srv->connecting || srv->out.len > 0)
		want |= EV_WRITE;
	if (ev_is_active(&srv->io) && (srv->io.events & (EV_READ | EV_WRITE)) ==
	    want)
		return;
	ev_io_stop(srv->loop, &srv->io);
	ev_io_set(&srv->io, srv->fd, want);
	ev_io_start(srv->loop, &srv->io);
}

/* queue_line - queue bytes for Dovecot; -1 when the buffer is full */
static int
queue_line(struct dovecot_server *srv, const struct buf *line)
{
	if (buf_append(&srv->out, line->data, line->len) == -1)
		return -1;
	if (srv->out.len > srv->out_used)
		srv->out_used = srv->out.len;
	io_update(srv);
	return 0;
}

static void
send_cancel(struct dovecot_session *s)
{
	struct dovecot_server *srv = s->srv;

	/* Only for an AUTH Dovecot has seen, on the connection alive now. */
	if (s->id != 0 && s->held.len == 0 && srv->fd != -1 && srv->ready &&
	    s->gen == srv->gen && dovecot_cancel(&srv->out, s->id) == 0)
		io_update(srv);
}

static void
held_drop(struct dovecot_session *s)
{
	if (s->held.data != NULL)
		explicit_bzero(s->held.data, s->held.len);
	buf_free(&s->held);
	buf_init_secret(&s->held, DOVECOT_LINE_MAX);
}

/* conn_close - the connection ends; every exchange on it gets TEMP */
static void
conn_close(struct dovecot_server *srv, const char *why)
{
	struct dovecot_session *s;
	struct sasl_wait *e;
	unsigned gen = srv->gen, n = 0;

	if (srv->fd != -1) {
		ev_io_stop(srv->loop, &srv->io);
		close(srv->fd);
	}
	srv->fd = -1;
	srv->connecting = srv->ready = false;
	srv->gen++;
	srv->have[0] = '\0';
	srv->lines = 0;
	buf_reset(&srv->in);
	out_wipe(srv);
	for (e = srv->waits.head; e != NULL; e = e->next)
		if (SESSION(e)->gen == gen)
			n++;
	if (why != NULL) {
		log_warn("sasl dovecot: %s: %s; %u exchange(s) in progress get "
		    "454", srv->path, why, n);
		srv->down = true;
	}
	/* Oldest first; those started from a callback here wait on the
	 * next connection (a later gen) and are left alone. */
	while ((e = srv->waits.head) != NULL && (s = SESSION(e))->gen == gen) {
		held_drop(s);
		answer(s, SASL_STATUS_TEMP, NULL, 0, NULL);
	}
	sasl_waits_arm(&srv->waits);
}

/* conn_open - connect without waiting; -1 (logged once) on failure */
static int
conn_open(struct dovecot_server *srv)
{
	struct sockaddr_un sun;
	int fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(srv->path) >= sizeof(sun.sun_path)) {
		e = ENAMETOOLONG;
		goto fail;
	}
	memcpy(sun.sun_path, srv->path, strlen(srv->path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		e = errno;
		goto fail;
	}
	srv->connecting = false;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno != EINPROGRESS) {
			/* EAGAIN too: Dovecot's backlog is full; a unix
			 * socket's connect does not go on in the background */
			e = errno;
			close(fd);
			goto fail;
		}
		srv->connecting = true;
	}
	srv->fd = fd;
	srv->ready = false;
	srv->have[0] = '\0';
	if (dovecot_handshake(&srv->out, getpid()) == -1) {
		conn_close(srv, NULL);
		return -1;
	}
	srv->out_used = srv->out.len;
	io_update(srv);
	return 0;
fail:
	if (!srv->down)
		log_warn("sasl dovecot: cannot connect to %s: %s; AUTH gets 454 "
		    "until it can", srv->path, strerror(e));
	srv->down = true;
	return -1;
}

/* mech_in - is mech in the space separated list (any case)? */
static bool
mech_in(const char *list, const char *mech)
{
	size_t n = strlen(mech);
	const char *p = list;

	while (n > 0 && (p = strcasestr(p, mech)) != NULL) {
		if ((p == list || p[-1] == ' ') &&
		    (p[n] == '\0' || p[n] == ' '))
			return true;
		p += n;
	}
	return false;
}

/* on_done - Dovecot's handshake is over: send the AUTH lines held */
static void
on_done(struct dovecot_server *srv)
{
	struct dovecot_session *s;
	struct sasl_wait *e, *next;
	const char *m;

	srv->ready = true;
	if (srv->down)
		log_info("sasl dovecot: connected to %s again", srv->path);
	srv->down = false;
	for (m = srv->mechs; *m != '\0'; m += strcspn(m, " "), m += *m == ' ') {
		char one[16];
		size_t n = strcspn(m, " ");

		/* Copied by hand: GCC at -O1 takes m for NULL in "%.*s". */
		if (n >= sizeof(one))
			n = sizeof(one) - 1;
		memcpy(one, m, n);
		one[n] = '\0';
		if (!mech_in(srv->have, one))
			log_warn("sasl dovecot: %s does not offer %s; clients "
			    "asking for it get 504", srv->path, one);
	}
	for (e = srv->waits.head; e != NULL; e = next) {
		next = e->next;
		s = SESSION(e);
		if (s->gen != srv->gen || s->held.len == 0)
			continue;
		if (queue_line(srv, &s->held) == -1) {
			/* TEMP from the timer, now */
			sasl_wait_due_now(&srv->waits, e);
			continue;
		}
		held_drop(s);
		s->lines = srv->lines;	/* sent now: the handshake is no answer */
	}
}

/* find - the session waiting on exchange id of this connection */
static struct dovecot_session *
find(struct dovecot_server *srv, unsigned id)
{
	struct sasl_wait *e;

	for (e = srv->waits.head; e != NULL; e = e->next)
		if (SESSION(e)->id == id && SESSION(e)->gen == srv->gen)
			return SESSION(e);
	return NULL;
}

/* on_line - one line from Dovecot; -1 when the connection was closed */
static int
on_line(struct dovecot_server *srv, char *line, size_t len)
{
	struct dovecot_reply r;
	struct dovecot_session *s;
	char err[128];
	size_t hl;

	srv->lines++;
	if (dovecot_reply_parse(line, len, &r, err, sizeof(err)) == -1) {
		conn_close(srv, err);
		return -1;
	}
	switch (r.kind) {
	case DOVECOT_VERSION:
		if (r.major != DOVECOT_MAJOR) {
			snprintf(err, sizeof(err), "speaks protocol version %u, "
			    "not %d", r.major, DOVECOT_MAJOR);
			conn_close(srv, err);
			return -1;
		}
		break;
	case DOVECOT_MECH:
		hl = strlen(srv->have);
		if (hl + strlen(r.mech) + 3 < sizeof(srv->have))
			snprintf(srv->have + hl, sizeof(srv->have) - hl,
			    "%s%s ", hl == 0 ? " " : "", r.mech);
		break;
	case DOVECOT_DONE:
		if (!srv->ready)
			on_done(srv);
		break;
	case DOVECOT_CONT:
	case DOVECOT_OK:
	case DOVECOT_FAIL:
		if ((s = find(srv, r.id)) == NULL || s->cb == NULL)
			break;		/* cancelled, expired or reset */
		if (r.kind == DOVECOT_CONT)
			answer(s, SASL_STATUS_CONTINUE, r.data, r.datalen, NULL);
		else if (r.kind == DOVECOT_FAIL)
			answer(s, r.temp ? SASL_STATUS_TEMP :
			    SASL_STATUS_BADAUTH, NULL, 0, NULL);
		else if (r.user == NULL) {
			log_warn("sasl dovecot: OK %u without a usable user "
			    "name; 454 to the client", r.id);
			answer(s, SASL_STATUS_TEMP, NULL, 0, NULL);
		} else
			answer(s, SASL_STATUS_OK, NULL, 0, r.user);
		break;
	case DOVECOT_OTHER:
		break;
	}
	return srv->fd == -1 ? -1 : 0;
}

/* do_read - read what is there and act on each whole line */
static void
do_read(struct dovecot_server *srv)
{
	char chunk[READ_CHUNK], *nl;
	size_t off, len;
	ssize_t n;
	unsigned gen = srv->gen;

	n = read(srv->fd, chunk, sizeof(chunk));
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		conn_close(srv, n == 0 ? "Dovecot closed the connection" :
		    strerror(errno));
		return;
	}
	if (n < 0)
		return;
	if (buf_append(&srv->in, chunk, (size_t)n) == -1) {
		conn_close(srv, "a line longer than the protocol allows");
		return;
	}
	/* Every callback may reenter; a closed connection ends the loop. */
	for (off = 0; srv->gen == gen &&
	    (nl = memchr(srv->in.data + off, '\n', srv->in.len - off)) != NULL;
	    off += len + 1) {
		len = (size_t)(nl - (srv->in.data + off));
		if (on_line(srv, srv->in.data + off, len) == -1)
			return;
	}
	if (srv->gen == gen)
		buf_consume(&srv->in, off);
}

static void
do_write(struct dovecot_server *srv)
{
	ssize_t n;
	int e = 0;
	socklen_t elen = sizeof(e);

	if (srv->connecting) {
		if (getsockopt(srv->fd, SOL_SOCKET, SO_ERROR, &e, &elen) == -1)
			e = errno;
		if (e != 0) {
			conn_close(srv, strerror(e));
			return;
		}
		srv->connecting = false;
	}
	if (srv->out.len > 0) {
		n = send(srv->fd, srv->out.data, srv->out.len, MSG_NOSIGNAL);
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			conn_close(srv, strerror(errno));
			return;
		}
		if (n > 0)
			buf_consume(&srv->out, (size_t)n);
		if (srv->out.len == 0)
			out_wipe(srv);
	}
	io_update(srv);
}

static void
on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dovecot_server *srv = w->data;
	unsigned gen = srv->gen;

	(void)loop;
	if (revents & EV_WRITE)
		do_write(srv);
	if ((revents & EV_READ) && srv->gen == gen && !srv->connecting)
		do_read(srv);
}

static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dovecot_server *srv = w->data;
	struct dovecot_session *s;
	struct sasl_wait *due;
	bool hung;

	(void)loop;
	(void)revents;
	while ((due = sasl_waits_due(&srv->waits)) != NULL) {
		s = SESSION(due);
		/* Nothing heard since it was sent, or still in handshake. */
		hung = s->gen == srv->gen && srv->fd != -1 &&
		    (srv->lines == s->lines || !srv->ready);
		if (due->deadline > 0)
			log_warn("sasl dovecot: no answer from %s in %.0fs; 454 "
			    "to the client", srv->path, srv->waits.timeout);
		if (!hung)
			send_cancel(s);
		held_drop(s);
		answer(s, SASL_STATUS_TEMP, NULL, 0, NULL);
		if (hung)
			conn_close(srv, "Dovecot does not answer");
	}
	sasl_waits_arm(&srv->waits);
}

/* --- the server ---------------------------------------------------------- */

/* offered - PLAIN and LOGIN, those of them sasl_mechanisms names */
static void
offered(const struct config *cfg, char *out, size_t outlen)
{
	static const char *const ours[] = { "PLAIN", "LOGIN" };
	size_t i, j, o = 0;
	bool want;

	out[0] = '\0';
	for (i = 0; i < 2; i++) {
		want = cfg->sasl_mechanisms.n == 0;
		for (j = 0; j < cfg->sasl_mechanisms.n; j++)
			if (strcasecmp(cfg->sasl_mechanisms.v[j], ours[i]) == 0)
				want = true;
		if (want)
			o += (size_t)snprintf(out + o, outlen - o, "%s%s",
			    o > 0 ? " " : "", ours[i]);
	}
}

struct dovecot_server *
dovecot_server_create(struct ev_loop *loop, const struct config *cfg,
    char *err, size_t errlen)
{
	struct dovecot_server *srv;

	if ((srv = calloc(1, sizeof(*srv))) == NULL ||
	    (srv->path = strdup(cfg->sasl_dovecot_path)) == NULL) {
		free(srv);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	offered(cfg, srv->mechs, sizeof(srv->mechs));
	if (srv->mechs[0] == '\0') {
		snprintf(err, errlen, "sasl_mechanisms names neither PLAIN nor "
		    "LOGIN, all that Dovecot is asked for");
		free(srv->path);
		free(srv);
		return NULL;
	}
	srv->loop = loop;
	srv->fd = -1;
	srv->next_id = 1;
	buf_init(&srv->in, DOVECOT_LINE_MAX + READ_CHUNK);
	buf_init_secret(&srv->out, OUT_MAX);
	ev_init(&srv->io, on_io);
	srv->io.data = srv;
	sasl_waits_init(&srv->waits, loop, cfg->auth_timeout, on_timer, srv);
	/* Early, so that the first AUTH finds the handshake done; a
	 * Dovecot not there yet is found at the first AUTH. */
	(void)conn_open(srv);
	return srv;
}

int
dovecot_config_check(const struct config *cfg, char *err, size_t errlen)
{
	struct stat st;

	if (stat(cfg->sasl_dovecot_path, &st) == -1) {
		snprintf(err, errlen, "sasl_dovecot_path %s: %s (is Dovecot "
		    "running, with a unix_listener there in its service "
		    "auth?); AUTH is answered 454 until it is there",
		    cfg->sasl_dovecot_path, strerror(errno));
		return 1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "sasl_dovecot_path %s is not a socket; "
		    "AUTH is answered 454", cfg->sasl_dovecot_path);
		return 1;
	}
	return 0;
}

void
dovecot_server_free(struct dovecot_server *srv)
{
	if (srv == NULL)
		return;
	conn_close(srv, NULL);
	sasl_waits_stop(&srv->waits);
	buf_free(&srv->in);
	buf_free(&srv->out);
	free(srv->path);
	free(srv);
}

/* --- sessions ------------------------------------------------------------ */

/* endpoint - "IP;port" into its IP (malloc'd) and port */
static int
endpoint(const char *in, char **ip, unsigned *port)
{
	const char *semi;

	*ip = NULL;
	*port = 0;
	if (in == NULL)
		return 0;
	if ((semi = strrchr(in, ';')) == NULL)
		semi = in + strlen(in);
	else
		*port = (unsigned)strtoul(semi + 1, NULL, 10);
	return (*ip = strndup(in, (size_t)(semi - in))) == NULL ? -1 : 0;
}

struct dovecot_session *
dovecot_session_new(struct dovecot_server *srv, const char *local,
    const char *remote, unsigned ssf)
{
	struct dovecot_session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if (endpoint(local, &s->lip, &s->lport) == -1 ||
	    endpoint(remote, &s->rip, &s->rport) == -1) {
		free(s->lip);
		free(s);
		return NULL;
	}
	s->srv = srv;
	s->secured = ssf > 0;
	buf_init_secret(&s->held, DOVECOT_LINE_MAX);
	return s;
}

void
dovecot_session_reset(struct dovecot_session *s)
{
	sasl_wait_remove(&s->srv->waits, &s->w);
	s->cb = NULL;
	send_cancel(s);
	held_drop(s);
	s->id = 0;
}

void
dovecot_session_free(struct dovecot_session *s)
{
	if (s == NULL)
		return;
	dovecot_session_reset(s);
	buf_free(&s->held);
	free(s->lip);
	free(s->rip);
	free(s);
}

const char *
dovecot_session_mechanisms(struct dovecot_session *s)
{
	/* PLAIN and LOGIN show the password: never outside TLS. */
	return s->secured ? s->srv->mechs : "";
}

/* next_id - a request id, never 0, never one in use */
static unsigned
next_id(struct dovecot_server *srv)
{
	unsigned id;

	do {
		id = srv->next_id++;
	} while (id == 0 || find(srv, id) != NULL);
	return id;
}

void
dovecot_session_start(struct dovecot_session *s, const char *mech,
    const char *initial, size_t len, bool has_initial, sasl_cb *cb, void *arg)
{
	struct dovecot_server *srv = s->srv;
	struct dovecot_client c = { s->lip, s->rip, s->lport, s->rport,
	    s->secured };
	char name[DOVECOT_MECH_MAX + 1];
	size_t i;

	dovecot_session_reset(s);	/* a new AUTH ends any other */
	for (i = 0; mech[i] != '\0' && i < DOVECOT_MECH_MAX; i++)
		name[i] = mech[i] >= 'a' && mech[i] <= 'z' ?
		    (char)(mech[i] - 'a' + 'A') : mech[i];
	name[i] = '\0';
	mech = name;			/* as Dovecot listed it */
	if (!s->secured || !mech_in(srv->mechs, mech) ||
	    (srv->ready && !mech_in(srv->have, mech))) {
		cb(arg, SASL_STATUS_BADMECH, NULL, 0, NULL);
		return;
	}
	if (srv->fd == -1 && conn_open(srv) == -1) {
		cb(arg, SASL_STATUS_TEMP, NULL, 0, NULL);
		return;
	}
	s->id = next_id(srv);
	if (dovecot_auth(&s->held, s->id, mech, &c, initial, len,
	    has_initial) == -1) {
		s->id = 0;
		cb(arg, SASL_STATUS_BADPROT, NULL, 0, NULL);	/* too long */
		return;
	}
	if (srv->ready) {
		if (queue_line(srv, &s->held) == -1) {
			s->id = 0;
			held_drop(s);
			cb(arg, SASL_STATUS_TEMP, NULL, 0, NULL);
			return;
		}
		held_drop(s);
	}
	wait_append(s, cb, arg);
}

void
dovecot_session_step(struct dovecot_session *s, const char *resp,
    size_t len, sasl_cb *cb, void *arg)
{
	struct dovecot_server *srv = s->srv;
	struct buf line;
	int rc;

	if (s->id == 0) {		/* no exchange to go on with */
		cb(arg, SASL_STATUS_BADPROT, NULL, 0, NULL);
		return;
	}
	if (s->gen != srv->gen || !srv->ready) {	/* Dovecot went away */
		s->id = 0;
		cb(arg, SASL_STATUS_TEMP, NULL, 0, NULL);
		return;
	}
	buf_init_secret(&line, DOVECOT_LINE_MAX);
	rc = dovecot_cont(&line, s->id, resp, len);
	if (rc == 0)
		rc = queue_line(srv, &line);
	if (line.data != NULL)
		explicit_bzero(line.data, line.len);
	buf_free(&line);
	if (rc == -1) {
		send_cancel(s);
		s->id = 0;
		cb(arg, SASL_STATUS_TEMP, NULL, 0, NULL);
		return;
	}
	wait_append(s, cb, arg);
}
