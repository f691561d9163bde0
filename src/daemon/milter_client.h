/*
 * milter_client - the milters of one SMTP session (milter_session.c,
 * milter_conn.c, milter_eom.c, milter_apply.c): one connection to each
 * configured milter, opened when the session starts, asked at connect,
 * HELO, MAIL, RCPT, DATA and the end of the message, in configured
 * order, on the event loop with a deadline per step. conn_hooks.c is
 * the only user: it hands the stages over and takes the verdicts back.
 */
#ifndef SALLYPORT_MILTER_CLIENT_H
#define SALLYPORT_MILTER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "conf/config.h"
#include "queue/queue.h"
#include "smtp/smtp.h"

struct ev_loop;
struct milters;

/* What the session gives the milters, and how their answers come back:
 * always from the loop, never inside the call that asked. */
struct milters_host {
	/* The verdict on the connection: NULL, or the reply every command
	 * but QUIT gets ("550 5.7.1 ..."), valid during the call. */
	void	(*connect_done)(void *ctx, const char *reply);
	/* The verdict on the stage milters_filter was given. */
	void	(*filter_done)(void *ctx, const struct smtp_filter_verdict *);
	/* A macro's value now, for the ones the session knows
	 * ({auth_authen}, {auth_type}, {tls_version}, {cipher},
	 * {cipher_bits}): NULL when it has none. buf may hold it. */
	const char *(*macro)(void *ctx, const char *name, char *buf,
		    size_t len);
};

struct milters_params {
	struct ev_loop	*loop;
	const struct config *cfg;	/* outlives the milters */
	const char	*queue_dir;	/* tmp/ takes a replaced body */
	unsigned long	 sid;
	enum listen_role role;
	const struct sockaddr *client;
	const char	*client_addr;	/* text */
	const struct sockaddr *local;
};

/* Do milters run on a session of this role under cfg? */
bool		 milters_apply(const struct config *, enum listen_role);
/* Connect to every milter and ask them about the connection; the
 * verdict comes through host->connect_done. NULL: out of memory. */
struct milters	*milters_new(const struct milters_params *,
		    const struct milters_host *, void *ctx);
/* The session ends: QUIT to each milter, everything freed, no more
 * callbacks. NULL does nothing. */
void		 milters_free(struct milters *);
/* The envelope of the message being received (a copy is kept: milters
 * may change its sender and recipients), at the spool's creation. */
int		 milters_envelope(struct milters *, const struct envelope *);
/* The spool said TLS-Required: No (kept when the spool is rewritten). */
void		 milters_tls_optional(struct milters *);
/* A stage of the dialogue (smtp_io.filter); at END, spool is the
 * message, which may be rewritten under its id before the verdict. */
void		 milters_filter(struct milters *, enum smtp_filter_stage,
		    const char *arg, const char *params, struct spool *);
/* The transaction ended before its END was answered. */
void		 milters_abort(struct milters *);

#endif
