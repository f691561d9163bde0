/*
 * sasl - SMTP AUTH through Cyrus SASL or Dovecot (sasl_backend),
 * without blocking the loop.
 *
 * Cyrus SASL's server calls block (saslauthd is a socket round trip,
 * sasldb a file lookup), so every start and step runs on a worker
 * thread (sasl_cyrus_jobs.c); Dovecot's auth service is asked over a
 * non-blocking socket on the loop (sasl_dovecot.c). Either way the
 * result comes back to the loop through a callback, TEMP when none
 * came within cfg->auth_timeout. Nothing outside sasl_cyrus_jobs.c and
 * sasl_cyrus.c includes <sasl/sasl.h>.
 */
#ifndef SALLYPORT_SASL_H
#define SALLYPORT_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"

struct ev_loop;
struct sasl_server;
struct sasl_session;

enum sasl_status {
	SASL_STATUS_OK,		/* authenticated: user is set */
	SASL_STATUS_CONTINUE,	/* send the challenge, wait for more */
	SASL_STATUS_BADAUTH,	/* wrong credentials: 535 */
	SASL_STATUS_BADMECH,	/* unknown or disallowed mechanism: 504 */
	SASL_STATUS_BADPROT,	/* malformed client response: 501 */
	SASL_STATUS_TEMP,	/* backend unavailable: 454 */
};

/* Called on the loop thread. challenge/user are valid during the call
 * only; challenge is raw (not base64). */
typedef void sasl_cb(void *arg, enum sasl_status, const char *challenge,
		    size_t len, const char *user);

/* With sasl_backend = dovecot: the connection to Dovecot's socket,
 * opened now if it is there, else at the first AUTH; NULL only when no
 * mechanism is left to offer. Otherwise:
 * initialise Cyrus SASL for the process (service "smtp") with the
 * backend settings of cfg, and start the first worker thread; more
 * (up to cfg->auth_threads) only when every one is stuck past
 * cfg->auth_timeout. Cyrus keeps its
 * settings in globals: the first call's sasl_pwcheck_method, paths and
 * mechanisms stay for the life of the process (a restart applies new
 * ones); a later call only narrows the mechanisms it offers. Not named
 * sasl_server_new: Cyrus has that symbol. */
struct sasl_server *sasl_server_create(struct ev_loop *,
		    const struct config *, char *err, size_t errlen);
/* For --check-config: -1 with a message when cfg's password store
 * cannot serve (a sasldb this user cannot read): AUTH is not offered;
 * 1 with a message for a warning only (no Dovecot socket at
 * sasl_dovecot_path: AUTH is offered, and answered 454 until it is
 * there). No Cyrus set-up. */
int		 sasl_config_check(const struct config *, char *err,
		    size_t errlen);
/* Waits for the jobs in progress (5 seconds at most: threads stuck in
 * saslauthd are left to finish, and the last one out frees the rest);
 * pending callbacks are dropped. Free every session first. */
void		 sasl_server_free(struct sasl_server *);

/* One client's exchange. local/remote: "IP;port" as Cyrus wants them.
 * ssf: the TLS cipher strength in bits (0 without TLS). */
struct sasl_session *sasl_session_new(struct sasl_server *, const char *hostname,
		    const char *local, const char *remote, unsigned ssf);
/* The session is gone: a pending callback will not run. */
void		 sasl_session_free(struct sasl_session *);
/* Mechanisms offered now, space separated ("PLAIN LOGIN"), filtered by
 * cfg->sasl_mechanisms; "" when there are none. */
const char	*sasl_session_mechanisms(struct sasl_session *);

/* Start mechanism `mech`, with the client's initial response when
 * has_initial (it may be empty). One call at a time per session. The
 * answer comes from the loop, after the call has returned (TEMP at
 * once only when memory is short, or while the session's previous
 * exchange is still stuck in the backend past its deadline). */
void		 sasl_session_start(struct sasl_session *, const char *mech,
		    const char *initial, size_t len, bool has_initial,
		    sasl_cb *, void *arg);
/* The client's next response. */
void		 sasl_session_step(struct sasl_session *, const char *resp,
		    size_t len, sasl_cb *, void *arg);
/* Forget a failed or cancelled exchange, ready for another AUTH. */
void		 sasl_session_reset(struct sasl_session *);

#endif
