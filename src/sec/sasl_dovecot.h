/*
 * sasl_dovecot - SMTP AUTH checked by Dovecot's auth service
 * (sasl_backend = dovecot), for sasl.c only.
 *
 * The same contract as sasl.h's functions, of which these are the
 * Dovecot half: answers come through the callback, on the loop, TEMP
 * when Dovecot is down or has not answered within auth_timeout.
 */
#ifndef SALLYPORT_SASL_DOVECOT_H
#define SALLYPORT_SASL_DOVECOT_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"
#include "sec/sasl.h"

struct dovecot_server;
struct dovecot_session;

struct dovecot_server *dovecot_server_create(struct ev_loop *,
		    const struct config *, char *err, size_t errlen);
/* 1 with a warning in err when sasl_dovecot_path is no socket we can
 * reach now (AUTH is still offered and answered 454 until it is). */
int		 dovecot_config_check(const struct config *, char *err,
		    size_t errlen);
void		 dovecot_server_free(struct dovecot_server *);

struct dovecot_session *dovecot_session_new(struct dovecot_server *,
		    const char *local, const char *remote, unsigned ssf);
void		 dovecot_session_free(struct dovecot_session *);
const char	*dovecot_session_mechanisms(struct dovecot_session *);
void		 dovecot_session_start(struct dovecot_session *,
		    const char *mech, const char *initial, size_t len,
		    bool has_initial, sasl_cb *, void *arg);
void		 dovecot_session_step(struct dovecot_session *,
		    const char *resp, size_t len, sasl_cb *, void *arg);
void		 dovecot_session_reset(struct dovecot_session *);

#endif
