/*
 * server - listeners, accept, signals and configuration reload on the
 * libev loop (epoll on Linux: no FD_SETSIZE ceiling).
 */
#include <errno.h>
#include <signal.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/orgdomain.h"
#include "queue/committer.h"
#include "daemon/conn.h"
#include "daemon/generation.h"
#include "daemon/local.h"
#include "dns/dns.h"
#include "daemon/metrics_http.h"
#include "lib/iptable.h"
#include "lib/log.h"
#include "lib/proxy.h"
#include "lib/metrics.h"
#include "smtp/policy.h"
#include "queue/queue.h"
#include "sec/sasl.h"
#include "daemon/server.h"
#include "sec/tls.h"
#include "daemon/workers.h"
#include "smtp/smtp_reply.h"
#include "lib/netaddr.h"
#include "lib/proc.h"
#include "daemon/runner.h"

#define ACCEPT_BATCH	64	/* accepts per wake-up, to stay fair */
#define LISTEN_BACKLOG	4096

/* --- listeners ---------------------------------------------------------- */

/* unspecified - whether sa is the any-address (0.0.0.0 or ::), on which
 * each client's local address is its own */
static bool
unspecified(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)sa)->
		    sin_addr.s_addr == htonl(INADDR_ANY);
	return sa->sa_family != AF_INET6 || IN6_IS_ADDR_UNSPECIFIED(
	    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
}

/* listen_one - bind one `listen` line; "*" is dual-stack [::] if we can;
 * reuseport: one of several sockets on it, one per worker */
static int
listen_one(const struct listen_spec *ls, struct listener *l, bool reuseport,
    char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	const char *host = ls->host ? ls->host : "::";
	int fd = -1, one = 1, zero = 0, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	config_listen_name(ls, ls->proxy, l->name, sizeof(l->name));
	for (;;) {
		if ((rc = getaddrinfo(host, ls->port, &hints, &res)) != 0) {
			snprintf(err, errlen, "listen %s: %s", l->name,
			    gai_strerror(rc));
			return -1;
		}
		fd = socket(res->ai_family,
		    res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1 && ls->host == NULL && strcmp(host, "::") == 0 &&
		    errno == EAFNOSUPPORT) {
			freeaddrinfo(res);	/* no IPv6 here: plain IPv4 */
			host = "0.0.0.0";
			continue;
		}
		break;
	}
	if (fd == -1)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		goto fail;
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
		    ls->host ? &one : &zero, sizeof(int));
	/* Accepted sockets inherit TCP_NODELAY from the listener: one
	 * call here instead of one per client. Replies are written whole,
	 * so Nagle would only hold back the next one for an ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1)
		goto fail;
	memcpy(&l->addr, res->ai_addr, res->ai_addrlen);
	l->wildcard = unspecified(res->ai_addr);
	freeaddrinfo(res);
	l->fd = fd;
	l->role = ls->role;
	l->proxy = ls->proxy;
	return 0;
fail:
	snprintf(err, errlen, "listen %s: %s", l->name, strerror(errno));
	if (fd != -1)
		close(fd);
	freeaddrinfo(res);
	return -1;
}

static void on_accept(struct ev_loop *, ev_io *, int);

/* local_start - the local submission socket, when local_socket names
 * one. A failure is said and the daemon serves on without it (the
 * injector then says the daemon cannot be reached): a busy or
 * unwritable path must not keep mail from the network out. */
static void
local_start(struct server *srv, const struct config *cfg)
{
	struct listener *l = &srv->local;
	char err[512];

	l->fd = -1;
	if (cfg->local_socket == NULL)
		return;
	snprintf(l->name, sizeof(l->name), "%s local", cfg->local_socket);
	if ((l->fd = local_listen(cfg->local_socket, err, sizeof(err))) == -1) {
		log_warn("%s; no local submission (sallyport-sendmail)", err);
		return;
	}
	snprintf(srv->local_path, sizeof(srv->local_path), "%s",
	    cfg->local_socket);
	srv->local_owner = local_stat(srv->local_path, &srv->local_dev,
	    &srv->local_ino) == 0;
	l->role = ROLE_LOCAL;
	l->line = METRICS_LISTENERS - 1;
	l->srv = srv;
	ev_io_init(&l->io, on_accept, l->fd, EV_READ);
	l->io.data = l;
}

void
server_local_close(struct server *srv)
{
	if (srv->local.fd == -1)
		return;
	close(srv->local.fd);
	srv->local.fd = -1;
	if (srv->local_owner)
		local_unlink(srv->local_path, srv->local_dev, srv->local_ino);
	srv->local_owner = false;
}

static void
listeners_start(struct server *srv)
{
	size_t i;

	for (i = 0; i < srv->nlisteners; i++)
		if (srv->listeners[i].fd != -1)
			ev_io_start(srv->loop, &srv->listeners[i].io);
	if (srv->local.fd != -1)
		ev_io_start(srv->loop, &srv->local.io);
}

static void
listeners_stop(struct server *srv)
{
	size_t i;

	for (i = 0; i < srv->nlisteners; i++)
		ev_io_stop(srv->loop, &srv->listeners[i].io);
	if (srv->local.fd != -1)
		ev_io_stop(srv->loop, &srv->local.io);
}

/* proxy_untrusted - a proxy listener believes the header of a load
 * balancer in proxy_trusted only: anyone else is closed at once, before
 * a byte is read or sent; true when refused, and the caller closes */
static bool
proxy_untrusted(struct server *srv, const struct sockaddr *sa,
    const struct listener *l)
{
	const struct config *cfg = srv->cfg->cfg;
	struct sockaddr_storage peer;
	char ip[NETADDR_STRLEN];

	if (!l->proxy)
		return false;
	memset(&peer, 0, sizeof(peer));
	memcpy(&peer, sa, sa->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	if (proxy_decide(cfg->proxy_trusted, cfg->nproxy_trusted, &peer, NULL,
	    NULL) != PROXY_T_REFUSE)
		return false;
	netaddr_format(sa, ip, sizeof(ip));
	log_warn("refused connection from [%s] on %s: not in proxy_trusted",
	    ip, l->name);
	METRICS_INC(conn_total[l->line][MCO_PROXY_BAD]);
	return true;
}

/* accepted - a new client: refused when over a limit, else served */
static void
accepted(struct server *srv, const struct listener *l, int fd,
    const struct sockaddr *sa)
{
	static const char full[] = R_TOO_MANY_FROM_IP "\r\n";

	if (proxy_untrusted(srv, sa, l)) {
		close(fd);
		return;
	}
	if (srv->nconns >= srv->cfg->cfg->max_connections) {
		static const char busy[] = R_TOO_BUSY "\r\n";

		log_warn("refused connection on %s: max_connections (%u) "
		    "reached", l->name, srv->cfg->cfg->max_connections);
		METRICS_INC(conn_total[l->line][MCO_BUSY]);
		METRICS_INC(refusals[MR_LIMIT]);
		/* Best effort: the socket is closed either way. */
		(void)!write(fd, busy, sizeof(busy) - 1);
		close(fd);
		return;
	}
	/* Behind a proxy, the client is known after its header (conn.c). */
	if (!l->proxy && server_per_ip_full(srv, sa, true, l->name)) {
		METRICS_INC(conn_total[l->line][MCO_PER_IP]);
		METRICS_INC(refusals[MR_LIMIT]);
		/* Best effort: the socket is closed either way. */
		(void)!write(fd, full, sizeof(full) - 1);
		close(fd);
		return;
	}
	conn_new(srv, fd, sa, l);
}

static void
on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	struct server *srv = l->srv;
	struct sockaddr_storage ss;
	socklen_t sslen;
	int i, fd;

	(void)revents;
	for (i = 0; i < ACCEPT_BATCH; i++) {
		sslen = sizeof(ss);
		fd = accept4(l->fd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: pause rather than spin. */
				log_warn("accept on %s: %s; pausing 1s",
				    l->name, strerror(errno));
				listeners_stop(srv);
				ev_timer_set(&srv->pause_timer, 1.0, 0.0);
				ev_timer_start(loop, &srv->pause_timer);
			}
			return;
		}
		accepted(srv, l, fd, (struct sockaddr *)&ss);
	}
}

/* adopt_early - the clients the master accepted for this worker */
static void
adopt_early(struct server *srv)
{
	size_t i;

	for (i = 0; i < srv->nearly; i++)
		accepted(srv, &srv->listeners[(size_t)srv->worker * srv->nlisten +
		    srv->early[i].role_index], srv->early[i].fd,
		    (struct sockaddr *)&srv->early[i].peer);
	free(srv->early);
	srv->early = NULL;
	srv->nearly = 0;
}

static void
on_pause_end(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *srv = w->data;

	(void)loop;
	(void)revents;
	if (!srv->stopping)
		listeners_start(srv);
}

/* --- signals -------------------------------------------------------------- */

static void
on_stop_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *srv = w->data;
	struct conn *c, *next;

	(void)loop;
	(void)revents;
	log_info("shutdown_timeout reached: closing %u connection(s)",
	    srv->nconns);
	for (c = srv->conns; c; c = next) {
		next = conn_next(c);
		conn_abort(c);
	}
}

static void
server_stop(struct server *srv)
{
	struct conn *c, *next;
	size_t i;

	if (srv->stopping) {
		on_stop_timer(srv->loop, &srv->stop_timer, 0);
		return;
	}
	srv->stopping = true;
	if (srv->worker < 0)
		gen_stopping();
	log_info("stopping: %u connection(s) open", srv->nconns);
	listeners_stop(srv);
	ev_timer_stop(srv->loop, &srv->pause_timer);
	for (i = 0; i < srv->nlisteners; i++) {
		if (srv->listeners[i].fd != -1)
			close(srv->listeners[i].fd);
		srv->listeners[i].fd = -1;
	}
	server_local_close(srv);
	for (c = srv->conns; c; c = next) {
		next = conn_next(c);
		conn_shutdown(c);
	}
	if (srv->nconns == 0) {
		ev_break(srv->loop, EVBREAK_ALL);
		return;
	}
	ev_timer_set(&srv->stop_timer, srv->cfg->cfg->shutdown_timeout, 0.0);
	ev_timer_start(srv->loop, &srv->stop_timer);
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct server *srv = w->data;

	(void)loop;
	(void)revents;
	if (w->signum == SIGHUP)
		server_hup(srv);
	else
		server_stop(srv);
}

/* --- life cycle ------------------------------------------------------------ */

struct server *
server_new(struct config *cfg, char *err, size_t errlen)
{
	struct server *srv;
	unsigned nworkers = workers_count(cfg);
	size_t i, w;

	if ((srv = calloc(1, sizeof(*srv))) == NULL ||
	    (srv->cfg = cfg_ref_new(cfg)) == NULL ||
	    (srv->listeners = calloc(cfg->nlisten * nworkers,
	    sizeof(*srv->listeners))) == NULL) {
		snprintf(err, errlen, "out of memory");
		if (srv)
			free(srv->cfg);
		free(srv);
		return NULL;
	}
	/* Every descriptor -1 before the first server_free can see it. */
	srv->metrics_fd = -1;
	srv->notify_rd = srv->notify_wr = -1;
	srv->ctl_fd = -1;
	srv->local.fd = -1;
	srv->nlisteners = cfg->nlisten * nworkers;
	for (i = 0; i < srv->nlisteners; i++)
		srv->listeners[i].fd = -1;
	gen_init(&srv->gens, workers_master(cfg, nworkers) ? nworkers : 0,
	    cfg->delivery, cfg->digest);
	if ((srv->per_ip = iptable_new()) == NULL ||
	    (srv->auth_fails = iptable_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		server_free(srv);
		return NULL;
	}
	srv->nworkers = nworkers;
	srv->worker = -1;
	srv->nlisten = cfg->nlisten;
	srv->generation = 1;
	srv->started = time(NULL);
	/* Before the privilege drop: the key may be readable by root only. */
	if (cfg->tls_cert &&
	    (srv->tls = tls_ctx_new(cfg, err, errlen)) == NULL) {
		server_free(srv);
		return NULL;
	}
	/* Worker w's socket is the w-th of its reuseport group: the order
	 * in which they listen, which workers_steer() relies on. */
	for (i = 0; i < cfg->nlisten; i++) {
		/* HTTP, not SMTP: one socket, served by the master or the
		 * only process; no worker's (fd -1), so that the indexes
		 * stay those of the listen lines. */
		if (cfg->listen[i].role == ROLE_METRICS) {
			struct listener ml;

			if (listen_one(&cfg->listen[i], &ml, false, err,
			    errlen) == -1) {
				server_free(srv);
				return NULL;
			}
			srv->metrics_fd = ml.fd;
			memcpy(srv->metrics_name, ml.name, sizeof(ml.name));
			for (w = 0; w < nworkers; w++)
				srv->listeners[w * cfg->nlisten + i].role =
				    ROLE_METRICS;
			continue;
		}
		for (w = 0; w < nworkers; w++) {
			struct listener *l = &srv->listeners[w * cfg->nlisten + i];

			if (listen_one(&cfg->listen[i], l, nworkers > 1, err,
			    errlen) == -1) {
				server_free(srv);
				return NULL;
			}
			l->srv = srv;
			l->line = i < METRICS_LISTENERS ? (unsigned)i :
			    METRICS_LISTENERS - 1;
			ev_io_init(&l->io, on_accept, l->fd, EV_READ);
			/* A new client is greeted before the busy ones are
			 * served further: greeting latency under load. */
			ev_set_priority(&l->io, EV_MAXPRI);
			l->io.data = l;
		}
	}
	local_start(srv, cfg);
	if (nworkers > 1)
		srv->steered = workers_steer_all(srv, false);
	return srv;
}

/* on_published - an entry now in incoming/: the runner is told */
static void
on_published(void *arg, const char *id)
{
	server_queued(arg, id);
}

/* server_committer_start - the commit method the configuration names
 * (read once: a reload's change reaches new workers only). A worker's
 * journal is named by its slot, which a restarted worker takes over
 * with its predecessor's journal; a single process's is w0. */
static int
server_committer_start(struct server *srv)
{
	const struct config *cfg = srv->cfg->cfg;
	struct commit_opts o = {
		.method = strcmp(cfg->queue_commit, "files") == 0 ?
		    COMMIT_FILES : COMMIT_JOURNAL,
		/* The disk's parallelism is shared: 16 fsync threads in
		 * all. */
		.nthreads = srv->nworkers >= 8 ? 2 : 16 / srv->nworkers,
		.journal_size = cfg->queue_journal_size,
		.published = on_published,
		.published_arg = srv,
	};
	char name[16];

	snprintf(name, sizeof(name), "w%d", srv->worker >= 0 ? srv->worker :
	    0);
	o.journal_name = name;
	if ((srv->committer = committer_new(srv->loop, srv->queue, &o)) ==
	    NULL) {
		log_err("cannot start the commit threads");
		return -1;
	}
	return 0;
}

int
server_serve(struct server *srv)
{
	const struct config *cfg = srv->cfg->cfg;
	char err[512];
	size_t i;

	srv->loop = ev_default_loop(EVFLAG_AUTO);
	if (server_committer_start(srv) == -1)
		return 1;
	/* Without TLS AUTH is never offered: no SASL, and no word of it. */
	if (policy_auth_possible(cfg) && (srv->sasl = sasl_server_create(
	    srv->loop, cfg, err, sizeof(err))) == NULL)
		log_warn("sasl: %s; AUTH is not offered", err);
	if ((srv->dns = dns_new(srv->loop, cfg->dns_servers.v,
	    cfg->dns_servers.n, cfg->dns_timeout, err, sizeof(err))) == NULL) {
		log_err("dns: %s", err);
		return 1;
	}
	/* Read once; a reload that turns DMARC on finds it there. */
	if ((srv->psl = orgdomain_load(NULL, err, sizeof(err))) == NULL)
		log_warn("public suffix list: %s; DMARC is not checked", err);
	ev_signal_init(&srv->sig_term, on_signal, SIGTERM);
	ev_signal_init(&srv->sig_int, on_signal, SIGINT);
	ev_signal_init(&srv->sig_hup, on_signal, SIGHUP);
	srv->sig_term.data = srv->sig_int.data = srv->sig_hup.data = srv;
	ev_signal_start(srv->loop, &srv->sig_term);
	ev_signal_start(srv->loop, &srv->sig_int);
	ev_signal_start(srv->loop, &srv->sig_hup);
	/* A worker starts with them blocked (workers.c): a SIGHUP passed
	 * on while it was setting up waited, rather than killing it. */
	proc_signals(SIG_UNBLOCK);
	ev_init(&srv->stop_timer, on_stop_timer);
	ev_init(&srv->pause_timer, on_pause_end);
	srv->stop_timer.data = srv->pause_timer.data = srv;
	signal(SIGPIPE, SIG_IGN);

	server_clients_start(srv);
	server_runner_init(srv);
	if (srv->worker >= 0) {
		/* The master has said the rest, and minds the runner. */
		log_info("worker %d ready", srv->worker);
		server_control_start(srv);
	} else {
		for (i = 0; i < srv->nlisteners; i++)
			if (srv->listeners[i].fd != -1)
				log_info("listening on %s",
				    srv->listeners[i].name);
		if (srv->local.fd != -1)
			log_info("listening on %s", srv->local.name);
		if (srv->metrics_fd != -1 && (srv->metrics = metrics_http_new(
		    srv->metrics_fd, srv->metrics_name, cfg, srv->started)) ==
		    NULL)
			log_warn("metrics: out of memory; %s not served",
			    srv->metrics_name);
		if (srv->metrics != NULL)
			metrics_http_start(srv->metrics, srv->loop);
		if (srv->tls)
			log_info("TLS certificate %s",
			    tls_ctx_describe(srv->tls));
		if (cfg->delivery)
			server_runner_start(srv);
		else
			log_info("delivery = no: mail stays in the queue");
		log_info("sallyport %s ready as %s", PACKAGE_VERSION,
		    cfg->hostname);
		/* Without a runner, live now; with one, once it says so. */
		gen_check(&srv->gens);
	}
	adopt_early(srv);
	listeners_start(srv);
	ev_run(srv->loop, 0);

	/* Commits still in flight finish, and their sessions are freed. */
	committer_free(srv->committer);
	srv->committer = NULL;
	ev_timer_stop(srv->loop, &srv->runner_restart);
	ev_timer_stop(srv->loop, &srv->auth_sweep);
	ev_io_stop(srv->loop, &srv->runner_ctl);
	server_runner_stop(srv);
	dns_free(srv->dns);
	srv->dns = NULL;
	orgdomain_free(srv->psl);
	srv->psl = NULL;
	sasl_server_free(srv->sasl);
	srv->sasl = NULL;
	log_info(srv->worker >= 0 ? "worker stopped" : "stopped");
	return 0;
}

void
server_free(struct server *srv)
{
	size_t i;

	if (srv == NULL)
		return;
	committer_free(srv->committer);
	dns_free(srv->dns);
	sasl_server_free(srv->sasl);
	metrics_http_free(srv->metrics);
	if (srv->metrics_fd != -1)
		close(srv->metrics_fd);
	if (srv->tls)
		tls_ctx_unref(srv->tls);
	for (i = 0; i < srv->nlisteners; i++)
		if (srv->listeners[i].fd != -1)
			close(srv->listeners[i].fd);
	server_local_close(srv);
	free(srv->listeners);
	for (i = 0; i < srv->nearly; i++)
		close(srv->early[i].fd);
	free(srv->early);
	if (srv->notify_rd != -1)
		close(srv->notify_rd);
	if (srv->notify_wr != -1)
		close(srv->notify_wr);
	if (srv->ctl_fd != -1)
		close(srv->ctl_fd);
	gen_close_all(&srv->gens);
	queue_close(srv->queue);
	iptable_free(srv->per_ip);
	iptable_free(srv->auth_fails);
	cfg_ref_put(srv->cfg);
	if (srv->loop)
		ev_loop_destroy(srv->loop);
	free(srv);
}
