/*
 * server_reload - SIGHUP: the configuration read again, numbered, passed
 * to the children over their control sockets (generation.h), and said
 * to be live once every process serves it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/config_gen.h"
#include "daemon/metrics_http.h"
#include "daemon/generation.h"
#include "lib/log.h"
#include "daemon/server.h"
#include "sec/tls.h"
#include "daemon/workers.h"

static bool
strlist_equal(const struct strlist *a, const struct strlist *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

static bool
str_equal(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* sasl_changed - the first SASL key a reload changes, or NULL: the
 * backend is set up once, at start-up (server_serve) */
static const char *
sasl_changed(const struct config *cfg, const struct config *old)
{
	if (!str_equal(cfg->sasl_backend, old->sasl_backend))
		return "sasl_backend";
	if (!strlist_equal(&cfg->sasl_mechanisms, &old->sasl_mechanisms))
		return "sasl_mechanisms";
	if (!str_equal(cfg->sasl_pwcheck_method, old->sasl_pwcheck_method))
		return "sasl_pwcheck_method";
	if (!str_equal(cfg->sasl_sasldb_path, old->sasl_sasldb_path))
		return "sasl_sasldb_path";
	if (!str_equal(cfg->sasl_saslauthd_path, old->sasl_saslauthd_path))
		return "sasl_saslauthd_path";
	if (!str_equal(cfg->sasl_dovecot_path, old->sasl_dovecot_path))
		return "sasl_dovecot_path";
	return NULL;
}

/* reload_tls - a renewed certificate for new sessions; a bad one is
 * refused and the running one kept (running sessions keep theirs) */
static void
reload_tls(struct server *srv, const struct config *cfg)
{
	struct tls_ctx *t;
	char err[512];

	if (cfg->tls_cert == NULL) {
		if (srv->tls)
			log_warn("reload: tls_cert removed; keeping the loaded "
			    "certificate until the next restart");
		return;
	}
	if ((t = tls_ctx_new(cfg, err, sizeof(err))) == NULL) {
		log_err("reload: TLS certificate refused: %s; keeping the "
		    "running one", err);
		return;
	}
	if (srv->tls)
		tls_ctx_unref(srv->tls);
	srv->tls = t;
	log_info("reload: TLS certificate %s", tls_ctx_describe(t));
}

/* who - "worker N: " in a worker's lines, nothing in the master's */
/*
 * reload_proxy - the proxy option of each bound listener as the new file
 * has it for the same address, port and role. It changes no socket, so
 * it is taken at once: a listener left plain until a restart after
 * `proxy` was added would take the header for a command and the proxy
 * for the client (every client of the balancer in mynetworks, when the
 * proxy is), and one left a proxy listener would close every client.
 * The steering of clients to workers follows at the next restart.
 */
static void
reload_proxy(struct server *srv, const struct config *cfg)
{
	char	 plain[sizeof(srv->listeners[0].name)];

	for (size_t i = 0; i < srv->nlisteners; i++) {
		struct listener *l = &srv->listeners[i];

		for (size_t j = 0; j < cfg->nlisten; j++) {
			const struct listen_spec *ls = &cfg->listen[j];

			config_listen_name(ls, l->proxy, plain, sizeof(plain));
			if (strcmp(plain, l->name) != 0)
				continue;
			if (ls->proxy != l->proxy) {
				l->proxy = ls->proxy;
				config_listen_name(ls, l->proxy, l->name,
				    sizeof(l->name));
				if (srv->worker < 0 && i < srv->nlisten)
					log_info("reload: listen %s: the proxy "
					    "option is %s", l->name, l->proxy ?
					    "on" : "off");
			}
			break;
		}
	}
}

static const char *
who(const struct server *srv, char *buf, size_t len)
{
	if (srv->worker < 0)
		return "";
	snprintf(buf, len, "worker %d: ", srv->worker);
	return buf;
}

bool
server_reload(struct server *srv, unsigned long gen, const char *digest,
    char *why, size_t whylen)
{
	const struct config *old = srv->cfg->cfg;
	struct config *cfg;
	struct cfg_ref *r;
	char *errors = NULL, *line, *save, w[32];
	const char *key;
	size_t i;
	bool same_listen;

	snprintf(why, whylen, "%s", "cannot read the configuration");
	if ((cfg = config_load(old->path, &errors)) == NULL) {
		for (line = errors ? strtok_r(errors, "\n", &save) : NULL; line;
		    line = strtok_r(NULL, "\n", &save)) {
			if (line == errors)
				snprintf(why, whylen, "%s", line);
			log_err("%sreload failed: %s", who(srv, w, sizeof(w)),
			    line);
		}
		if (errors == NULL)
			log_err("%sreload failed: %s", who(srv, w, sizeof(w)),
			    old->path);
		log_err("%sreload failed: keeping the running configuration "
		    "(generation %lu)", who(srv, w, sizeof(w)), srv->generation);
		free(errors);
		return false;
	}
	for (line = errors ? strtok_r(errors, "\n", &save) : NULL; line;
	    line = strtok_r(NULL, "\n", &save))
		log_warn("reload: %s", line);
	free(errors);
	if (digest && !gen_same_file(digest, cfg, why, whylen)) {
		log_err("%sreload refused: %s; keeping the running "
		    "configuration (generation %lu)", who(srv, w, sizeof(w)),
		    why, srv->generation);
		config_free(cfg);
		return false;
	}
	if ((r = cfg_ref_new(cfg)) == NULL) {
		snprintf(why, whylen, "out of memory");
		log_err("%sreload failed: out of memory", who(srv, w, sizeof(w)));
		config_free(cfg);
		return false;
	}
	/* What only a restart changes is said once, by the master. */
	if (srv->worker < 0) {
		same_listen = cfg->nlisten == old->nlisten;
		for (i = 0; same_listen && i < cfg->nlisten; i++)
			same_listen = cfg->listen[i].role == old->listen[i].role &&
			    strcmp(cfg->listen[i].port, old->listen[i].port) == 0 &&
			    (cfg->listen[i].host && old->listen[i].host ?
			    strcmp(cfg->listen[i].host, old->listen[i].host) == 0 :
			    cfg->listen[i].host == old->listen[i].host);
		if (!same_listen)
			log_warn("reload: listen addresses changed; they take "
			    "effect at the next restart");
		if ((cfg->local_socket == NULL) != (old->local_socket == NULL) ||
		    (cfg->local_socket != NULL &&
		    strcmp(cfg->local_socket, old->local_socket) != 0))
			log_warn("reload: local_socket changed; it takes effect "
			    "at the next restart");
		if (strcmp(cfg->queue_dir, old->queue_dir) != 0)
			log_warn("reload: queue_dir changed; it takes effect at "
			    "the next restart");
		if (workers_count(cfg) != srv->nworkers)
			log_warn("reload: workers changed; it takes effect at the "
			    "next restart");
		/* The same count, but a master or none (workers = 0 and
		 * workers = 1 on two CPUs, or the qmail-queue hand-off). */
		else if (workers_master(cfg, srv->nworkers) !=
		    (srv->gens.nworkers > 0))
			log_warn("reload: workers or local_delivery changed "
			    "whether a master process runs over the worker; it "
			    "takes effect at the next restart");
		if (cfg->log_buffer_size != old->log_buffer_size)
			log_warn("reload: log_buffer_size changed; it takes "
			    "effect at the next restart");
		if (!strlist_equal(&cfg->dns_servers, &old->dns_servers) ||
		    cfg->dns_timeout != old->dns_timeout)
			log_warn("reload: dns_servers or dns_timeout changed; they "
			    "take effect at the next restart");
		if (strcmp(cfg->queue_commit, old->queue_commit) != 0 ||
		    cfg->queue_journal_size != old->queue_journal_size)
			log_warn("reload: queue_commit or queue_journal_size "
			    "changed; they take effect for workers started from "
			    "now on and at the next restart");
		if ((key = sasl_changed(cfg, old)) != NULL)
			log_warn("reload: %s changed; the SASL keys take effect "
			    "at the next restart", key);
	}
	reload_tls(srv, cfg);
	reload_proxy(srv, cfg);
	metrics_http_config(srv->metrics, cfg);
	cfg_ref_put(srv->cfg);
	srv->cfg = r;
	srv->generation = gen;
	log_info("%sreloaded configuration from %s (generation %lu)",
	    who(srv, w, sizeof(w)), cfg->path, gen);
	return true;
}

/* --- the master's side (or the only process's) ------------------------------ */

void
server_hup(struct server *srv)
{
	char why[256];

	if (srv->worker >= 0) {
		/* The master reads the file first, then asks every worker:
		 * a bad file reaches none, and the generations stay one. */
		log_warn("worker %d: SIGHUP ignored: send it to the master "
		    "(pid %ld), which reloads every process", srv->worker,
		    (long)getppid());
		return;
	}
	gen_reload_begin(&srv->gens);
	if (server_reload(srv, srv->gens.gen + 1, NULL, why, sizeof(why)))
		gen_reload(&srv->gens, srv->cfg->cfg->digest);
	else
		gen_reload_refused(&srv->gens);
}

/* --- a worker's side ---------------------------------------------------------- */

static void
on_control(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *srv = w->data;
	unsigned long n;
	char why[256], digest[CONFIG_DIGEST_HEX];
	bool eof;

	(void)revents;
	n = gen_requested(srv->ctl_fd, &eof, digest);
	if (n > srv->generation)
		gen_answer(srv->ctl_fd, n, server_reload(srv, n, digest, why,
		    sizeof(why)) ? NULL : why);
	if (eof)	/* the master gone: PR_SET_PDEATHSIG stops us */
		ev_io_stop(loop, w);
}

void
server_control_start(struct server *srv)
{
	if (srv->ctl_fd == -1)
		return;
	ev_io_init(&srv->ctl_io, on_control, srv->ctl_fd, EV_READ);
	srv->ctl_io.data = srv;
	ev_io_start(srv->loop, &srv->ctl_io);
	/* What it was forked with; a reload passed on meanwhile waits in
	 * the socket and is answered next. */
	gen_answer(srv->ctl_fd, srv->generation, NULL);
}
