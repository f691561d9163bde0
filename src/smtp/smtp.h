/*
 * smtp - the SMTP server engine (RFC 5321), with no I/O of its own.
 *
 * Bytes from the client go in with smtp_input(); replies come out
 * through the host's send() callback. Where the engine needs the
 * outside world (a spool file, a durable commit, a DNS lookup) it asks
 * the host through struct smtp_io and, for the commit and the lookup,
 * waits to be told the outcome (smtp_commit_done, smtp_lookup_done).
 * Unit tests drive it with byte strings; the daemon drives it from the
 * libev loop (conn.c).
 */
#ifndef SALLYPORT_SMTP_H
#define SALLYPORT_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/config.h"
#include "dns/dns.h"
#include "queue/queue.h"
#include "sec/sasl.h"

#define SMTP_CMD_MAX	512	/* command line, CRLF included (RFC 5321 4.5.3.1.4) */
#define SMTP_AUTH_MAX	12288	/* AUTH line or response (RFC 4954 4) */
#define SMTP_SPOOL_NO_SPACE	(-2)	/* spool_open: the queue's disk is full */

struct smtp_session;
struct dmarc_from;

/* Checks of a transaction's mail (SPF, DKIM, DMARC: daemon/mxcheck.c). */
enum smtp_check_start {
	SMTP_CHECK_NONE,	/* nothing to check */
	SMTP_CHECK_RUNNING,	/* results at the end of DATA */
	SMTP_CHECK_WAIT,	/* and MAIL's reply waits for smtp_spf_done */
};

/* What the checks say: go on, or refuse with `reply`. */
enum smtp_check_verdict {
	SMTP_CHECK_ACCEPT,
	SMTP_CHECK_REFUSE,	/* reply: a whole 4xx or 5xx line */
};

/* Its strings are the host's: valid during the call that hands it over,
 * and gone with the transaction (check_cancel). */
struct smtp_check_result {
	enum smtp_check_verdict verdict;
	const char	*reply;		/* REFUSE: "550 5.7.1 ..." */
	/* ACCEPT at the end of DATA: header fields to put on top of the
	 * message (Authentication-Results ...), whole CRLF-ended lines */
	const char	*fields;
	size_t		 fields_len;
	const char	*summary;	/* the results, for the log line */
};

/* Filters the host runs on a session (milters: daemon/milter.c), and
 * the stages of the dialogue they see. The connection itself is judged
 * before the first command, with the DNS blocklists (smtp_peer's
 * dnsbl_pending, smtp_dnsbl_done). */
enum smtp_filter_stage {
	SMTP_FILTER_HELO,	/* HELO or EHLO, before its 250: arg the name */
	SMTP_FILTER_MAIL,	/* MAIL, once the engine and the checks took it:
				 * arg the sender ("" for <>), params
				 * MAIL's parameters as sent ("" for none) */
	SMTP_FILTER_RCPT,	/* RCPT, once the engine took it: arg the
				 * recipient as it will be queued, params
				 * RCPT's parameters */
	SMTP_FILTER_DATA,	/* DATA, before the spool opens and the 354:
				 * arg "" */
	SMTP_FILTER_END,	/* the message is complete in the spool (the
				 * checks' fields and the signature in place),
				 * not yet committed: the host may read it back
				 * (spool_pread) and replace it under the same
				 * id (spool_rewrite) before it answers; arg
				 * the queue id */
};

enum smtp_filter_action {
	SMTP_FILTER_CONTINUE,	/* go on as the engine would */
	SMTP_FILTER_REFUSE,	/* the command (the recipient; at END the
				 * message) refused with `reply` */
	SMTP_FILTER_DISCARD,	/* END: the message is dropped, the client
				 * told it was queued (as Postfix does);
				 * before END the engine goes on as for
				 * CONTINUE: the host remembers and says
				 * DISCARD at END */
};

/* Its strings are the host's, valid during smtp_filter_done. */
struct smtp_filter_verdict {
	enum smtp_filter_action action;
	/* REFUSE: one or more whole reply lines, 4xx or 5xx, separated by
	 * CRLF, without the last CRLF ("550-5.7.1 a\r\n550 5.7.1 b"). The
	 * engine sends it as a proper multi-line reply (smtp_filter.h);
	 * a malformed one never reaches the client: 451 4.3.0 and a log
	 * line instead. */
	const char	*reply;
	const char	*summary;	/* who decided, for the log line */
};

/* Octets of prepend room a checked message reserves (the fields of
 * smtp_check_result, with room for a long A-R). */
#define SMTP_CHECK_ROOM	16384

enum smtp_limit_ask { SMTP_LIMIT_MAIL, SMTP_LIMIT_RCPT, SMTP_LIMIT_SENT };

/* How the engine reaches the outside world. `ctx` is passed back. */
struct smtp_io {
	/* Queue reply bytes for the client. */
	void	(*send)(void *ctx, const char *data, size_t len);
	/* Is there room in the queue for a message of `size` octets (0:
	 * not declared), with the configured reserve left free? false:
	 * the engine refuses with 452 4.3.1. */
	bool	(*space_ok)(void *ctx, uint64_t size);
	/* Open a spool file for env and fill env->id; 0, -1 (451), or
	 * SMTP_SPOOL_NO_SPACE: the disk is full (452 4.3.1). */
	int	(*spool_open)(void *ctx, struct envelope *env);
	/* Append message octets; 0, or -1 (the message gets 451). */
	int	(*spool_write)(void *ctx, const char *data, size_t len);
	/* Put header fields known only at the end of the message (whole
	 * "Name: value\r\n" lines, say DKIM-Signature or
	 * Authentication-Results) in front of it, above the Received field
	 * and above what an earlier call put there. Called after the last
	 * spool_write, before spool_commit, whose fsync covers them; only
	 * when env->prepend_room (the most octets all calls may put, up to
	 * QUEUE_PREPEND_MAX) was set before spool_open. 0, or -1: the
	 * fields are not added, the message is still good. */
	int	(*spool_prepend)(void *ctx, const char *fields, size_t len);
	/* The message's header said "TLS-Required: No" (RFC 8689 5): mark
	 * the entry so that delivery ignores DANE and MTA-STS failures for
	 * it. After the last spool_write, before spool_commit; never for a
	 * REQUIRETLS transaction. 0, or -1: the message gets 451. NULL:
	 * not kept (unit tests). */
	int	(*spool_tls_optional)(void *ctx);
	/* Make the spool durable; answer later with smtp_commit_done(). */
	void	(*spool_commit)(void *ctx);
	/* Drop the spool (message refused). */
	void	(*spool_abort)(void *ctx);
	/* Does this sender domain have an MX, A or AAAA record? Answer
	 * with smtp_lookup_done(), later or before returning. */
	void	(*domain_lookup)(void *ctx, const char *domain);
	/* Checks of mail from others (NULL: none). MAIL was accepted from
	 * a client the engine checks (mx listener, neither authenticated
	 * nor trusted): start them; WAIT asks MAIL's reply to wait for
	 * smtp_spf_done(), later or before returning. */
	enum smtp_check_start (*check_mail)(void *ctx, const char *sender,
		    const char *helo);
	/* The message as received (before fields are dropped), in order. */
	void	(*check_data)(void *ctx, const char *data, size_t len);
	/* End of DATA, the message complete: answer with smtp_check_done(),
	 * later or before returning. */
	void	(*check_end)(void *ctx, const struct dmarc_from *from);
	/* The transaction ended early: no answer is wanted any more. */
	void	(*check_cancel)(void *ctx);
	/* STARTTLS was accepted: once the 220 is sent, throw away any input
	 * already received (never execute it), run the handshake, then
	 * call smtp_tls_done(). */
	void	(*starttls)(void *ctx);
	/* SASL mechanisms on offer now, space separated; "" or NULL: none. */
	const char *(*auth_mechanisms)(void *ctx);
	/* A SASL exchange: start it (with the decoded initial response when
	 * has_initial), or give it the client's next decoded response.
	 * Answer with smtp_auth_done(). */
	void	(*auth_start)(void *ctx, const char *mech, const char *initial,
		    size_t len, bool has_initial);
	void	(*auth_step)(void *ctx, const char *resp, size_t len);
	/* Forget a failed or cancelled exchange. */
	void	(*auth_reset)(void *ctx);
	/* May this client try AUTH now (failures from its address across
	 * connections)? NULL: always. */
	bool	(*auth_allowed)(void *ctx);
	/* The logged-in user's daily limits (login_max_*_per_day): may
	 * `user` start a message (SMTP_LIMIT_MAIL) or add `rcpt`
	 * (SMTP_LIMIT_RCPT, counted when new today), or count a message
	 * queued (SMTP_LIMIT_SENT)? true: the limit is reached (the host
	 * has logged it). NULL: no limits. */
	bool	(*login_limit)(void *ctx, enum smtp_limit_ask, const char *user,
		    const char *rcpt);
	/* The session reached a filter stage (NULL: no filters). Answer
	 * with smtp_filter_done(), later or before returning; a host with
	 * nothing to ask for this session answers CONTINUE at once. The
	 * strings are valid during the call. Until the answer the engine
	 * waits (smtp_waiting): offer the kept input again after it. */
	void	(*filter)(void *ctx, enum smtp_filter_stage, const char *arg,
		    const char *params);
	/* A transaction the filters saw since MAIL (answered, or still
	 * waited for) ended before END was answered: RSET, a new HELO or
	 * EHLO, STARTTLS, QUIT, a refusal (the filters' own at MAIL, the
	 * engine's of the message), a timeout, the session closed or
	 * freed. The filters forget it; a verdict still due is ignored.
	 * Never after END's answer. NULL: not told. */
	void	(*filter_abort)(void *ctx);
};

/* What the host knows about the client. */
struct smtp_peer {
	const struct sockaddr	*addr;
	const char		*addr_text;	/* "192.0.2.1" */
	/* Never trusted by mynetworks, whatever addr: a load balancer's
	 * own connection (PROXY LOCAL), at the balancer's address. */
	bool			 untrusted;
	enum listen_role	 role;
	/* Which `listen` line (0, 1, ... in the file's order), for the
	 * metrics; past METRICS_LISTENERS - 1 (lib/metrics.h) the last. */
	unsigned		 listener;
	/* ROLE_LOCAL: who is on the other end of the socket, by its
	 * peer credentials, "UID (name)" (addr NULL then) */
	const char		*local_user;
	unsigned long		 session_id;	/* for log lines */
	bool			 tls_offer;	/* a certificate is loaded */
	/* Set when the session starts inside TLS (implicit TLS, port 465). */
	const char		*tls_version;	/* "TLSv1.3" */
	const char		*tls_cipher;
	int			 tls_bits;
	/* DNS blocklists (daemon/dnsbl.c): the verdict is not in yet and
	 * commands wait for smtp_dnsbl_done; or it is, and refuses the
	 * client with this whole reply line (NULL: not listed). */
	bool			 dnsbl_pending;
	const char		*dnsbl_reply;
};

/* The config must outlive the session (a reload makes a new one and
 * leaves running sessions on the old). Sends the 220 greeting. */
struct smtp_session *smtp_new(const struct config *, const struct smtp_peer *,
		    const struct smtp_io *, void *ctx);
void		 smtp_free(struct smtp_session *);

/* Consume client bytes; returns how many were used. Fewer than len
 * means the engine is waiting (for a commit, a lookup, the checks, the
 * filters...) or closing: keep the rest and offer it again after the
 * answer (smtp_commit_done(), smtp_filter_done()...). */
size_t		 smtp_input(struct smtp_session *, const char *, size_t);

/* Outcome of spool_commit: 0 for a durable entry, -1 for a failure. */
void		 smtp_commit_done(struct smtp_session *, int status);
/* The DNS blocklists' verdict, when smtp_peer's dnsbl_pending: NULL,
 * or the reply every command but QUIT gets from now on. */
void		 smtp_dnsbl_done(struct smtp_session *, const char *reply);
/* Outcome of domain_lookup. */
void		 smtp_lookup_done(struct smtp_session *, enum dns_result);
/* Outcome of check_mail's WAIT (the SPF check), and of check_end. */
void		 smtp_spf_done(struct smtp_session *,
		    const struct smtp_check_result *);
void		 smtp_check_done(struct smtp_session *,
		    const struct smtp_check_result *);
/* The filters' verdict on the stage the engine waits for; ignored when
 * it waits for none (stale: the transaction or the session ended). */
void		 smtp_filter_done(struct smtp_session *,
		    const struct smtp_filter_verdict *);
/* The authenticated user and the SASL mechanism (milter macros
 * {auth_authen}, {auth_type}); NULL when the session is not. */
const char	*smtp_auth_user(const struct smtp_session *);
const char	*smtp_auth_mech(const struct smtp_session *);
/* Outcome of starttls: the session starts over inside TLS, or ends. */
void		 smtp_tls_done(struct smtp_session *, bool ok, const char *version,
		    const char *cipher, int bits);
/* Outcome of auth_start/auth_step; challenge is raw, user set on OK. */
void		 smtp_auth_done(struct smtp_session *, enum sasl_status,
		    const char *challenge, size_t len, const char *user);

/* The client said nothing for too long. */
void		 smtp_timeout(struct smtp_session *);
/* The server is stopping: say 421 now if idle, else after the
 * transaction in progress. */
void		 smtp_shutdown(struct smtp_session *);

bool		 smtp_closing(const struct smtp_session *);	/* flush, then close */
bool		 smtp_in_data(const struct smtp_session *);	/* for the data timeout */
bool		 smtp_waiting(const struct smtp_session *);	/* our turn, not the client's */
/* Part of a command line (or AUTH response) is buffered: the client
 * is in the middle of one (for the host's command deadline). */
bool		 smtp_line_pending(const struct smtp_session *);
/* Error replies (4xx, 5xx) sent so far (for the host's tarpit). */
unsigned	 smtp_errors(const struct smtp_session *);

#endif
