/*
 * sasl_cyrus - the process's one Cyrus SASL set-up, for sasl_cyrus_jobs.c.
 *
 * Cyrus keeps its settings and plug-ins in globals and cannot be set
 * up again with other settings: the first sasl_cyrus_start's config
 * holds for the life of the process (a restart applies new settings).
 */
#ifndef SALLYPORT_SASL_CYRUS_H
#define SALLYPORT_SASL_CYRUS_H

#include <stdbool.h>
#include <stddef.h>

#include <sasl/sasl.h>

#include "conf/config.h"

#define SASL_CYRUS_SERVICE	"smtp"

/* A callback as Cyrus stores it, through void (*)(void), which GCC lets
 * stand for any function type. */
#define SASL_CYRUS_PROC(f)	((int (*)(void))(void (*)(void))(f))

/* Set Cyrus up with cfg's settings, or check that it is; then the
 * mechanisms to offer, malloc'd: mechs[0] without TLS, mechs[1] with.
 * The only Cyrus calls off the workers: call it before starting one.
 * It gives Cyrus real mutexes, so that conns may be used on several
 * threads (each by one at a time). */
int	sasl_cyrus_start(const struct config *, char *mechs[2], char *err,
	    size_t errlen);
/* -1 with a message when cfg's password store cannot serve (a sasldb
 * we cannot read), as the user calling it. */
int	sasl_cyrus_check(const struct config *, char *err, size_t errlen);
/* Our policy on a new conn of TLS strength ssf. */
int	sasl_cyrus_secure(sasl_conn_t *, unsigned ssf);
/* A SASL_CB_LOG callback; ctx: the client's "IP;port", or NULL. */
int	sasl_cyrus_log(void *ctx, int level, const char *msg);
/* Is mech, in any case, a name of the space separated list? */
bool	sasl_cyrus_listed(const char *list, const char *mech);

#endif
