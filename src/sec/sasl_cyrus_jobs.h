/*
 * sasl_cyrus_jobs - SMTP AUTH through Cyrus SASL on worker threads
 * (sasl_backend = cyrus), for sasl.c only.
 *
 * The same contract as sasl.h's functions, of which these are the
 * Cyrus half; sasl.h says what each does.
 */
#ifndef SALLYPORT_SASL_CYRUS_JOBS_H
#define SALLYPORT_SASL_CYRUS_JOBS_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"
#include "sec/sasl.h"

struct cyrus_server;
struct cyrus_session;

struct cyrus_server *cyrus_server_create(struct ev_loop *,
		    const struct config *, char *err, size_t errlen);
/* sasl_config_check's Cyrus half: -1 when the sasldb cannot serve. */
int		 cyrus_config_check(const struct config *, char *err,
		    size_t errlen);
void		 cyrus_server_free(struct cyrus_server *);

struct cyrus_session *cyrus_session_new(struct cyrus_server *,
		    const char *hostname, const char *local, const char *remote,
		    unsigned ssf);
void		 cyrus_session_free(struct cyrus_session *);
const char	*cyrus_session_mechanisms(struct cyrus_session *);
void		 cyrus_session_start(struct cyrus_session *, const char *mech,
		    const char *initial, size_t len, bool has_initial,
		    sasl_cb *, void *arg);
void		 cyrus_session_step(struct cyrus_session *, const char *resp,
		    size_t len, sasl_cb *, void *arg);
void		 cyrus_session_reset(struct cyrus_session *);

#endif
