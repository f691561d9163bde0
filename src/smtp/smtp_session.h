/*
 * smtp_session - the engine's private state, shared by its files, top
 * first: smtp.c (the session, its input and the command table),
 * smtp_cmd.c (the mail dialogue's commands), smtp_auth.c (STARTTLS and
 * AUTH), smtp_filter.c (asking the host's filters, their refusals),
 * smtp_session.c (reply, close, end of transaction; used by all).
 * Nothing outside the engine includes this.
 */
#ifndef SALLYPORT_SMTP_SESSION_H
#define SALLYPORT_SMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "smtp/address.h"
#include "lib/buf.h"
#include "lib/hops.h"
#include "lib/metrics.h"
#include "smtp/policy.h"
#include "queue/queue.h"
#include "smtp/smtp.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_filter.h"
#include "smtp/smtp_hdrs.h"
#include "smtp/smtp_sign.h"

#define HELO_MAX	255

enum smtp_state {
	S_CMD,		/* reading commands */
	S_DATA,		/* reading the message */
	S_LOOKUP,	/* MAIL waits for DNS to vouch for the sender */
	S_SPF,		/* MAIL waits for SPF (spf_policy enforce) */
	S_TLS,		/* STARTTLS accepted, handshake in the host's hands */
	S_AUTH_WAIT,	/* SASL is working on a response */
	S_AUTH_LINE,	/* waiting for the client's next SASL response */
	S_CHECK,	/* message complete, waiting for its checks */
	S_FILTER,	/* a filter stage waits for smtp_filter_done */
	S_COMMIT,	/* message complete, waiting for the queue */
	S_CLOSED,	/* last reply sent; the host closes */
};

/* One mail transaction: from MAIL to the end of DATA or RSET. */
struct smtp_tx {
	char		 sender[ADDR_PATH_MAX + 1];
	char		**rcpts;
	size_t		 nrcpts;
	bool		 smtputf8;	/* MAIL had SMTPUTF8 */
	bool		 requiretls;	/* MAIL had REQUIRETLS (RFC 8689) */
	enum mail_body	 body;		/* MAIL's BODY= */
	uint64_t	 size_declared;	/* MAIL SIZE=, 0: none */
	bool		 spooling;	/* spool_open succeeded */
	bool		 spool_failed;	/* a spool_write failed */
	struct smtp_data data;
	struct hops	 hops;		/* Received: fields the client sent */
	bool		 checking;	/* the host checks this mail */
	bool		 hdrs_on;	/* hdrs is in use (DATA began) */
	struct smtp_hdrs hdrs;		/* the header (from DATA on) */
	struct envelope	 env;
	struct smtp_sign *sign;		/* DKIM signing; NULL: not ours */
	/* Filters (only with io->filter): they saw MAIL, and are told
	 * (filter_abort) if the transaction ends before END's answer */
	bool		 filtered;
	char		*mail_params;	/* MAIL's parameters, for the filters */
	bool		 rcpt_held;	/* rcpts[nrcpts] awaits the filters */
};

struct smtp_session {
	const struct config	*cfg;
	const struct smtp_io	*io;
	void			*ctx;
	struct sockaddr_storage	 addr;
	char			 addr_text[64];
	char			 local_user[64];	/* ROLE_LOCAL: "UID (name)" */
	unsigned long		 sid;
	struct policy_client	 client;
	unsigned		 listener;	/* its `listen` line, as the
						 * metrics count it */
	enum smtp_state		 state;
	bool			 greeted;	/* HELO or EHLO seen */
	bool			 esmtp;		/* it was EHLO */
	bool			 shutdown_pending;
	bool			 tls_offer;	/* STARTTLS possible */
	unsigned		 errors;
	unsigned		 auth_failures;
	bool			 tls;		/* inside TLS */
	bool			 authenticated;
	char			 tls_version[16];
	char			 tls_cipher[64];
	int			 tls_bits;
	char			 user[256];	/* SASL user name */
	char			 mech[24];	/* SASL mechanism in use */
	char			 helo[HELO_MAX + 1];
	struct buf		 line;
	bool			 line_crlf;	/* the last line ended in CRLF */
	struct smtp_tx		*tx;
	/* DNS blocklists: the verdict is awaited (input waits once a
	 * command came: dnsbl_held), or refuses with dnsbl_reply. */
	bool			 dnsbl_wait;
	bool			 dnsbl_held;
	char			*dnsbl_reply;
	enum smtp_filter_stage	 filter_stage;	/* awaited in S_FILTER */
};

/* smtp_session.c */
/* One reply line; a 4xx or 5xx counts as the client's error. */
void	smtp_reply(struct smtp_session *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* The same for a refusal: a verdict on the client or its mail (not a
 * syntax error, not a failure of ours), counted under its reason. */
void	smtp_refuse(struct smtp_session *, enum metrics_refusal,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The last reply of the session: the host closes after it. */
void	smtp_close_with(struct smtp_session *, const char *reply);
/* End the mail transaction, if any: drop its spool file and recipients,
 * tell the checks and the filters that saw it. */
void	smtp_tx_free(struct smtp_session *);

/* smtp_owner.c */
/* Refuse `addr` as not the logged-in user's (553, one log line);
 * `where` names the command for the log. */
void	smtp_sender_not_owned(struct smtp_session *, const char *where,
	    const char *addr);
/* At the end of DATA, with sender_login_map: true when the From: field
 * names an address the user may not use, refused and answered (the
 * caller ends the transaction, nothing queued). */
bool	smtp_owner_end(struct smtp_session *);
/* The logged-in user's daily limits (smtp_io.login_limit): true when
 * reached, the client told 450 (but for SMTP_LIMIT_SENT, which only
 * counts). */
bool	smtp_login_limited(struct smtp_session *, enum smtp_limit_ask,
	    const char *rcpt);

/* smtp_cmd.c: the handlers of smtp.c's command table */
void	smtp_cmd_ehlo(struct smtp_session *, const char *, size_t);
void	smtp_cmd_helo(struct smtp_session *, const char *, size_t);
void	smtp_cmd_mail(struct smtp_session *, const char *, size_t);
void	smtp_cmd_rcpt(struct smtp_session *, const char *, size_t);
void	smtp_cmd_data(struct smtp_session *, const char *, size_t);
void	smtp_cmd_rset(struct smtp_session *, const char *, size_t);
void	smtp_cmd_noop(struct smtp_session *, const char *, size_t);
void	smtp_cmd_quit(struct smtp_session *, const char *, size_t);
void	smtp_cmd_vrfy(struct smtp_session *, const char *, size_t);
void	smtp_cmd_help(struct smtp_session *, const char *, size_t);
void	smtp_cmd_http(struct smtp_session *, const char *, size_t);
void	smtp_cmd_unknown(struct smtp_session *, const char *, size_t);
/* The filters' verdict on HELO/EHLO, MAIL, RCPT or DATA (smtp.c's
 * smtp_filter_done, the refusal already sent): go on as without
 * filters, or undo what the command began. */
void	smtp_cmd_filtered(struct smtp_session *, enum smtp_filter_stage,
	    bool go);

/* smtp_check.c: the checks of mail from others, the engine's side */
/* MAIL is accepted: start the checks; true when its reply waits for
 * smtp_spf_done (the state is then S_SPF). */
bool	smtp_check_mail(struct smtp_session *);
/* DATA begins: the header filter (forged results of ours dropped but
 * from trusted clients, TLS-Required noted). */
void	smtp_check_data(struct smtp_session *);
/* Message octets (as smtp_data writes them) to the checks and, through
 * the header filter, to the spool. */
void	smtp_check_write(struct smtp_session *, const char *, size_t);
/* The message is complete and good: true when its checks are asked
 * (the state is then S_CHECK, until smtp_check_done). */
bool	smtp_check_end(struct smtp_session *);
/* The check's one log line, and its fields put on the message. */
void	smtp_check_log(struct smtp_session *, const struct smtp_check_result *,
	    const char *when);
int	smtp_check_prepend(struct smtp_session *,
	    const struct smtp_check_result *);

/* smtp_filter.c: the filters, the engine's side */
/* Ask the host's filters at a stage: true when the session now waits
 * for smtp_filter_done (S_FILTER; the verdict may already be in), false
 * when the host has no filters and the caller goes on. */
bool	smtp_filter_ask(struct smtp_session *, enum smtp_filter_stage,
	    const char *arg, const char *params);
/* Send a refusal of the filters as a proper reply (one error for the
 * tarpit), with its log line; a malformed reply becomes 451. True when
 * the reply sent is a 421: the session is to be closed after it. */
bool	smtp_filter_refuse(struct smtp_session *, enum smtp_filter_stage,
	    const struct smtp_filter_verdict *);
/* The message discarded at END: its log line, and the client told it
 * was queued. */
void	smtp_filter_discard(struct smtp_session *,
	    const struct smtp_filter_verdict *);

/* smtp_received.c */
const char *smtp_proto_name(const struct smtp_session *);
/* The Received: header for the transaction; its length, or -1. */
int	smtp_received(struct smtp_session *, char *out, size_t outlen);

/* smtp_auth.c */
void	smtp_set_tls(struct smtp_session *, const char *version,
	    const char *cipher, int bits);
const char *smtp_auth_mechs(struct smtp_session *);
void	smtp_cmd_starttls(struct smtp_session *, const char *, size_t);
void	smtp_cmd_auth(struct smtp_session *, const char *, size_t);
void	smtp_auth_line(struct smtp_session *, const char *, size_t);

#endif
