/*
 * deliver_conf - the configuration the queue runner and its threads run
 * under. Each delivery takes a reference to the one current when it
 * starts (rcfg_get) and keeps it to its end, so a reload (SIGHUP to the
 * daemon, which asks every process) changes what the next deliveries
 * see and never a delivery half done; the last reference frees it. A
 * reload that cannot be read, is not the file the daemon read, or needs
 * what this process can no longer do (running a set-user-ID
 * qmail-queue) keeps the running configuration and says why.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "conf/config.h"
#include "conf/config_gen.h"
#include "deliver/deliver_int.h"
#include "deliver/deliver_runner.h"
#include "deliver/smtp_client.h"
#include "lib/log.h"
#include "lib/proc.h"
#include "lib/workpool.h"

struct rcfg *
rcfg_get(struct runner *r)
{
	struct rcfg *c;

	pthread_mutex_lock(&r->lock);
	c = r->cfg;
	c->refs++;
	pthread_mutex_unlock(&r->lock);
	return c;
}

void
rcfg_put(struct runner *r, struct rcfg *c)
{
	bool last;

	pthread_mutex_lock(&r->lock);
	last = --c->refs == 0;
	pthread_mutex_unlock(&r->lock);
	if (last) {
		config_free(c->cfg);
		free(c);
	}
}

/* runner_privs - the runner talks to the network too, so it takes
 * PR_SET_NO_NEW_PRIVS, unless it hands off to qmail-queue: a real one is
 * set-user-ID qmailq and, run under the flag, would keep our uid and
 * fail to write its queue. The flag cannot be cleared: a configuration
 * that turns the hand-off on here is refused (false, why set), as it
 * would defer every message; a restart of sallyport takes it. */
bool
runner_privs(const struct config *cfg, char *why, size_t whylen)
{
	int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);

	if (config_qmail_queue(cfg) && nnp == 1) {
		snprintf(why, whylen, "local_delivery = qmail-queue needs a "
		    "restart (this process cannot run a set-user-ID program: "
		    "PR_SET_NO_NEW_PRIVS)");
		return false;
	}
	if (!config_qmail_queue(cfg) && nnp == 0)
		(void)proc_no_new_privs("queue runner");
	return true;
}

/* rcfg_load - the file at path, or NULL with the first reason in why */
struct rcfg *
rcfg_load(const char *path, char *why, size_t whylen)
{
	struct rcfg *c;
	struct config *cfg;
	char *errors = NULL, *line, *save;

	snprintf(why, whylen, "cannot read %s", path);
	cfg = config_load(path, &errors);
	for (line = errors ? strtok_r(errors, "\n", &save) : NULL; line;
	    line = strtok_r(NULL, "\n", &save)) {
		if (cfg == NULL && line == errors)
			snprintf(why, whylen, "%s", line);
		log_msg(cfg ? LOG_LVL_WARN : LOG_LVL_ERR, "queue runner: %s",
		    line);
	}
	free(errors);
	if (cfg == NULL)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(why, whylen, "out of memory");
		config_free(cfg);
		return NULL;
	}
	c->cfg = cfg;
	c->refs = 1;
	return c;
}

/* runner_reuse_limits - sessions kept open between messages, as cfg says;
 * those open already are closed, to start again on the new terms */
void
runner_reuse_limits(const struct config *cfg)
{
	smtp_client_reuse_sweep(0);
	smtp_client_reuse_limits(cfg->delivery_concurrency,
	    cfg->delivery_per_destination, cfg->delivery_reuse_time,
	    cfg->delivery_reuse_limit);
}

/* runner_reload - the daemon asks for generation gen, read from the
 * file with digest (0 and "": it did not ask, a SIGHUP sent to us
 * alone) */
void
runner_reload(struct runner *r, int ctl_fd, unsigned long gen,
    const char *digest)
{
	struct rcfg *c, *old;
	char why[256];

	if ((c = rcfg_load(r->path, why, sizeof(why))) == NULL ||
	    !gen_same_file(digest, c->cfg, why, sizeof(why)) ||
	    !runner_privs(c->cfg, why, sizeof(why))) {
		if (c)
			rcfg_put(r, c);
		log_err("queue runner: reload failed: %s; keeping the running "
		    "configuration", why);
		gen_answer(ctl_fd, gen, why);
		return;
	}
	pthread_mutex_lock(&r->lock);
	old = r->cfg;
	r->cfg = c;
	pthread_mutex_unlock(&r->lock);
	rcfg_put(r, old);
	runner_reuse_limits(c->cfg);
	workpool_set_max(&r->pool, c->cfg->delivery_concurrency);
	if (gen)
		log_info("queue runner: reloaded configuration (generation %lu)",
		    gen);
	else
		log_info("queue runner: reloaded configuration");
	gen_answer(ctl_fd, gen, NULL);
}
