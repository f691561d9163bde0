/*
 * sasl - SMTP AUTH, handed to the backend that sasl_backend names:
 * Cyrus SASL on worker threads (sasl_cyrus_jobs.c), or Dovecot's auth
 * service over its socket on the loop (sasl_dovecot.c). Both keep the
 * same contract (sasl.h), so the daemon does not know which one runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sec/sasl.h"
#include "sec/sasl_cyrus_jobs.h"
#include "sec/sasl_dovecot.h"

/* One of the two is set. */
struct sasl_server {
	struct cyrus_server	*cy;
	struct dovecot_server	*dc;
};

struct sasl_session {
	struct cyrus_session	*cy;
	struct dovecot_session	*dc;
};

static bool
use_dovecot(const struct config *cfg)
{
	return cfg->sasl_backend != NULL &&
	    strcmp(cfg->sasl_backend, "dovecot") == 0;
}

struct sasl_server *
sasl_server_create(struct ev_loop *loop, const struct config *cfg, char *err,
    size_t errlen)
{
	struct sasl_server *srv;

	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (use_dovecot(cfg))
		srv->dc = dovecot_server_create(loop, cfg, err, errlen);
	else
		srv->cy = cyrus_server_create(loop, cfg, err, errlen);
	if (srv->dc == NULL && srv->cy == NULL) {
		free(srv);
		return NULL;
	}
	return srv;
}

int
sasl_config_check(const struct config *cfg, char *err, size_t errlen)
{
	if (use_dovecot(cfg))
		return dovecot_config_check(cfg, err, errlen);
	return cyrus_config_check(cfg, err, errlen);
}

void
sasl_server_free(struct sasl_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->dc != NULL)
		dovecot_server_free(srv->dc);
	else
		cyrus_server_free(srv->cy);
	free(srv);
}

struct sasl_session *
sasl_session_new(struct sasl_server *srv, const char *hostname,
    const char *local, const char *remote, unsigned ssf)
{
	struct sasl_session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if (srv->dc != NULL)
		s->dc = dovecot_session_new(srv->dc, local, remote, ssf);
	else
		s->cy = cyrus_session_new(srv->cy, hostname, local, remote,
		    ssf);
	if (s->dc == NULL && s->cy == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

void
sasl_session_free(struct sasl_session *s)
{
	if (s == NULL)
		return;
	if (s->dc != NULL)
		dovecot_session_free(s->dc);
	else
		cyrus_session_free(s->cy);
	free(s);
}

const char *
sasl_session_mechanisms(struct sasl_session *s)
{
	if (s->dc != NULL)
		return dovecot_session_mechanisms(s->dc);
	return cyrus_session_mechanisms(s->cy);
}

void
sasl_session_start(struct sasl_session *s, const char *mech,
    const char *initial, size_t len, bool has_initial, sasl_cb *cb, void *arg)
{
	if (s->dc != NULL)
		dovecot_session_start(s->dc, mech, initial, len, has_initial,
		    cb, arg);
	else
		cyrus_session_start(s->cy, mech, initial, len, has_initial,
		    cb, arg);
}

void
sasl_session_step(struct sasl_session *s, const char *resp, size_t len,
    sasl_cb *cb, void *arg)
{
	if (s->dc != NULL)
		dovecot_session_step(s->dc, resp, len, cb, arg);
	else
		cyrus_session_step(s->cy, resp, len, cb, arg);
}

void
sasl_session_reset(struct sasl_session *s)
{
	if (s->dc != NULL)
		dovecot_session_reset(s->dc);
	else
		cyrus_session_reset(s->cy);
}
