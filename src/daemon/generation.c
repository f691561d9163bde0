/*
 * generation - which configuration every process serves, and telling
 * the log and the service manager when a new one is live everywhere;
 * the references that keep a configuration while sessions use it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf/config_gen.h"
#include "daemon/generation.h"
#include "lib/log.h"
#include "lib/notify.h"

struct cfg_ref *
cfg_ref_get(struct cfg_ref *r)
{
	r->refs++;
	return r;
}

void
cfg_ref_put(struct cfg_ref *r)
{
	if (r && --r->refs == 0) {
		config_free(r->cfg);
		free(r);
	}
}

struct cfg_ref *
cfg_ref_new(struct config *cfg)
{
	struct cfg_ref *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->cfg = cfg;
	r->refs = 1;
	return r;
}

void
gen_init(struct gens *g, unsigned nworkers, bool runner, const char *digest)
{
	unsigned i;

	memset(g, 0, sizeof(*g));
	g->gen = 1;
	g->nworkers = nworkers;
	g->runner = runner;
	snprintf(g->digest, sizeof(g->digest), "%s", digest);
	for (i = 0; i <= WORKERS_MAX; i++)
		g->child[i].fd = -1;
}

unsigned
gen_runner(const struct gens *g)
{
	return g->nworkers;
}

static void
child_name(const struct gens *g, unsigned i, char *out, size_t outlen)
{
	if (i == gen_runner(g))
		snprintf(out, outlen, "the queue runner");
	else
		snprintf(out, outlen, "worker %u", i);
}

static void
send_reload(struct gen_child *c, unsigned long gen, const char *digest)
{
	char msg[128];
	int n = snprintf(msg, sizeof(msg), "reload %lu%s%s", gen,
	    digest[0] ? " " : "", digest);

	/* Never blocks the master: a child that has not read thousands of
	 * requests is stuck, and the newest it reads is all it needs. */
	if (c->fd != -1 && send(c->fd, msg, (size_t)n,
	    MSG_DONTWAIT | MSG_NOSIGNAL) == -1 && errno != EPIPE)
		log_warn("control socket: %s", strerror(errno));
}

int
gen_child_socket(struct gens *g, unsigned i, char *err, size_t errlen)
{
	struct gen_child *c = &g->child[i];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		return -1;
	}
	if (c->fd != -1)
		close(c->fd);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	c->fd = sv[0];
	c->pid = 0;
	c->serves = c->refused = 0;
	if (i == gen_runner(g))
		send_reload(c, g->gen, g->digest);
	return sv[1];
}

void
gen_child_started(struct gens *g, unsigned i, pid_t pid)
{
	struct gen_child *c = &g->child[i];

	c->pid = pid;
	if (pid <= 0 && c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
}

void
gen_child_gone(struct gens *g, unsigned i)
{
	struct gen_child *c = &g->child[i];

	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->pid = 0;
	c->serves = 0;		/* its successor says what it serves */
}

void
gen_close_all(struct gens *g)
{
	unsigned i;

	for (i = 0; i <= WORKERS_MAX; i++)
		if (g->child[i].fd != -1) {
			close(g->child[i].fd);
			g->child[i].fd = -1;
		}
}

void
gen_reload_begin(struct gens *g)
{
	char status[80];

	/* Before READY=1 the manager is still waiting for the start. */
	if (!g->ready_sent)
		return;
	snprintf(status, sizeof(status), "loading configuration generation "
	    "%lu", g->gen + 1);
	notify_reloading(status);
}

void
gen_reload(struct gens *g, const char *digest)
{
	unsigned i;

	g->gen++;
	snprintf(g->digest, sizeof(g->digest), "%s", digest);
	for (i = 0; i <= WORKERS_MAX; i++)
		send_reload(&g->child[i], g->gen, g->digest);
	gen_check(g);
}

void
gen_reload_refused(struct gens *g)
{
	/* A reload still under way answers when it is over. */
	if (g->ready_sent && g->settled == g->gen)
		notify_send("READY=1\nSTATUS=configuration file refused; "
		    "generation %lu still live (see the log)", g->gen);
}

/* take - one answer from child i: "N ok" or "N refused: why" */
static void
take(struct gens *g, unsigned i, const char *msg)
{
	struct gen_child *c = &g->child[i];
	char name[32], *end;
	unsigned long n;

	errno = 0;
	n = strtoul(msg, &end, 10);
	if (errno != 0 || n == 0 || n > g->gen)
		return;
	child_name(g, i, name, sizeof(name));
	if (strcmp(end, " ok") == 0) {
		if (n > c->serves)
			c->serves = n;
	} else if (strncmp(end, " refused: ", 10) == 0) {
		if (n > c->refused)
			c->refused = n;
		if (c->serves > 0)
			log_err("%s (pid %ld) refused configuration generation "
			    "%lu: %s; it keeps serving generation %lu", name,
			    (long)c->pid, n, end + 10, c->serves);
		else	/* just started: it had nothing to keep */
			log_err("%s (pid %ld) refused configuration generation "
			    "%lu: %s; it runs the file as it read it", name,
			    (long)c->pid, n, end + 10);
	}
}

void
gen_read(struct gens *g, unsigned i)
{
	struct gen_child *c = &g->child[i];
	char msg[GEN_MSG];
	ssize_t n;

	while (c->fd != -1) {
		n = recv(c->fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		if (n == 0) {
			/* It has gone; reaping it tells the rest. */
			close(c->fd);
			c->fd = -1;
			break;
		}
		msg[n] = '\0';
		take(g, i, msg);
	}
	gen_check(g);
}

void
gen_check(struct gens *g)
{
	char where[96], refused[256], name[32];
	unsigned i, nrefused = 0;
	size_t len = 0;

	if (g->settled == g->gen && !g->settled_refused)
		return;
	refused[0] = '\0';
	for (i = 0; i < g->nworkers + g->runner; i++) {
		const struct gen_child *c = &g->child[i];

		if (c->serves == g->gen)
			continue;
		if (c->refused != g->gen)
			return;		/* still to answer */
		child_name(g, i, name, sizeof(name));
		if (len < sizeof(refused))
			len += (size_t)snprintf(refused + len,
			    sizeof(refused) - len, "%s%s",
			    nrefused ? ", " : "", name);
		nrefused++;
	}
	if (g->settled == g->gen && nrefused > 0)
		return;		/* said already; still not live everywhere */
	g->settled = g->gen;
	g->settled_refused = nrefused > 0;
	if (g->nworkers == 1)
		snprintf(where, sizeof(where), "in the worker%s",
		    g->runner ? " and the runner" : "");
	else if (g->nworkers > 0)
		snprintf(where, sizeof(where), "in all %u workers%s",
		    g->nworkers, g->runner ? " and the runner" : "");
	else
		snprintf(where, sizeof(where), "in the server%s",
		    g->runner ? " and the runner" : "");
	if (nrefused == 0) {
		log_info("configuration generation %lu live %s", g->gen, where);
		notify_send("READY=1\nSTATUS=configuration generation %lu live "
		    "%s", g->gen, where);
	} else {
		log_err("configuration generation %lu NOT live everywhere: "
		    "refused by %s, which keep%s the one %s had; correct the "
		    "file and send SIGHUP again", g->gen, refused,
		    nrefused == 1 ? "s" : "", nrefused == 1 ? "it" : "they");
		notify_send("READY=1\nSTATUS=configuration generation %lu "
		    "refused by %s (see the log)", g->gen, refused);
	}
	g->ready_sent = true;
}

void
gen_stopping(void)
{
	notify_send("STOPPING=1\nSTATUS=stopping");
}
