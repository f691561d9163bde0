/*
 * selftest_engine - the in-process transport of the self-test: the real
 * engine (smtp.c) under the real configuration, driven as a client
 * would, through a struct smtp_io that captures replies and has no
 * spool. Private to selftest_local.c, which runs the checks over it.
 *
 * No port is bound and nothing is queued: the spool keeps no byte and
 * every commit fails. Sender domains the engine looks up go to the
 * caller's resolver (the real DNS in the daemon), except the prober's
 * own, which exist by definition as they did in the reference (else
 * MAIL would fail and the relay never be tested).
 *
 * TLS is not started either: a session "inside TLS" is one the engine
 * is told began in TLS (on an implicit TLS listener), or whose STARTTLS
 * is answered with smtp_tls_done as if a handshake had been made. SASL
 * offers the configured mechanisms and logs nobody in, except in the
 * authenticated user's sessions (real_sasl), whose AUTH goes to the
 * configured backend (sasl.h) as the daemon's does.
 */
#ifndef SALLYPORT_SELFTEST_ENGINE_H
#define SALLYPORT_SELFTEST_ENGINE_H

#include "lib/buf.h"
#include "selftest/selftest.h"
#include "smtp/address.h"

struct smtp_session;
struct sasl_session;

struct st_local {
	const struct config	*cfg;
	const struct st_places	*p;
	const struct st_local_opts *o;
	struct sockaddr_storage	 addr;
	char			 addr_text[NETADDR_STRLEN];
	enum listen_role	 role;
	struct smtp_session	*s;
	struct buf		 out;		/* replies not yet read */
	struct st_exchange	*x;		/* command in progress */
	char			 lookup[ADDR_DOMAIN_MAX + 1];
	bool			 lookup_wanted;
	unsigned long		 sid;
	bool			 tls;		/* sessions start inside TLS */
	bool			 in_tls;	/* this session is, now */
	bool			 tls_wanted;	/* STARTTLS taken: "handshake" */
	bool			 sasl_asked;	/* SASL was asked to work */
	char			 mechs[256];	/* what "SASL" offers */
	bool			 real_sasl;	/* sessions use o->sasl */
	struct sasl_session	*sasl;		/* this session's, then */
	bool			 sasl_pending;	/* its answer is owed */
	bool			 commit_wanted;	/* a message would be queued */
	char			 local_end[NETADDR_STRLEN + 8];	/* "IP;port" */
	char			 remote_end[NETADDR_STRLEN + 8];
};

/* Ready l for sessions against cfg: from no client yet, on a listener
 * of `role` (inside TLS from the first byte for submissions); *tr then
 * drives it. st_engine_free gives back what it holds. */
void	st_engine_init(struct st_local *, const struct config *,
	    const struct st_places *, const struct st_local_opts *,
	    enum listen_role role, struct st_transport *tr);
void	st_engine_free(struct st_local *);
/* The client the next sessions come from. */
void	st_engine_from(struct st_local *, const struct sockaddr_storage *,
	    const char *text);

#endif
