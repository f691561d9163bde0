/*
 * smtp_client - the outbound side: one message to one SMTP or LMTP
 * server, with STARTTLS, AUTH PLAIN/LOGIN and PIPELINING when offered.
 *
 * What the message needs of the server (RFC 6531, RFC 6152): SMTPUTF8
 * and BODY=8BITMIME are sent where the server offers them. A message
 * with UTF-8 addresses (or headers, when it came with SMTPUTF8) is
 * refused with 550 5.6.7 by a server that does not offer SMTPUTF8; 8-bit
 * content for a server without 8BITMIME is converted to 7-bit (mime8.h)
 * or, if it cannot be or must not be (no_downgrade), refused with
 * 554 5.6.3. A REQUIRETLS message (RFC 8689) goes only inside TLS to a
 * server authenticated as opts->tls asks (DANE, or a verified
 * certificate) that offered REQUIRETLS there, and MAIL carries it;
 * otherwise 550 5.7.30. Those refusals are ours, given before MAIL.
 *
 * Blocking I/O with a deadline per step: it runs on the queue runner's
 * delivery threads, never on the reception loop. The message is sent
 * dot-stuffed, with every line ending in CRLF and no bare CR or LF,
 * whatever the stored bytes hold (no outbound smuggling).
 */
#ifndef SALLYPORT_SMTP_CLIENT_H
#define SALLYPORT_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "tlspol/tlsrpt.h"

enum client_tls {
	CLIENT_TLS_NONE,
	CLIENT_TLS_OPPORTUNISTIC,	/* STARTTLS when offered, no verification */
	CLIENT_TLS_REQUIRED,		/* STARTTLS, certificate verified against
					 * ca_file (or the system store) and
					 * verify_name: the smarthost, MTA-STS */
	CLIENT_TLS_ENCRYPT,		/* STARTTLS mandatory, any certificate:
					 * TLSA records exist, none usable
					 * (RFC 7672 2.2) */
	CLIENT_TLS_DANE,		/* STARTTLS mandatory, the certificate
					 * matches one of tlsa[] (RFC 7672) */
};

/* One TLSA record (RFC 6698 2.1) for CLIENT_TLS_DANE. */
struct client_tlsa {
	unsigned char		 usage;		/* 2 DANE-TA, 3 DANE-EE */
	unsigned char		 selector;	/* 0 certificate, 1 SPKI */
	unsigned char		 mtype;		/* 0 full, 1 SHA-256, 2 SHA-512 */
	const unsigned char	*data;
	size_t			 len;
};

/* How the server was authenticated, for the delivery log line. */
enum client_peer_auth {
	CLIENT_AUTH_NONE,		/* plain text, or TLS without verification */
	CLIENT_AUTH_CA,			/* WebPKI: a chain to a trusted CA, the name */
	CLIENT_AUTH_DANE,		/* a TLSA record matched */
};

/* What became of TLS in one session (filled when opts->tls_out is set):
 * for the log line, TLS-RPT and REQUIRETLS. */
struct smtp_client_tls {
	bool			 offered;	/* STARTTLS in the EHLO reply */
	bool			 used;		/* the transaction ran inside TLS */
	char			 version[16];	/* "TLSv1.3" */
	char			 cipher[64];
	enum client_peer_auth	 auth;
	enum tlsrpt_result	 result;	/* SUCCESS, or why TLS failed */
	char			 detail[160];	/* the failure, for a report */
	char			 peer_ip[64];	/* the address connected to */
	char			 local_ip[64];	/* ... and ours, from which */
	bool			 requiretls;	/* REQUIRETLS in the EHLO reply
						 * inside TLS (RFC 8689) */
	unsigned		 conn_use;	/* the message was the session's
						 * first, second, ... (0: none) */
};

struct smtp_client_opts {
	const char	*host;		/* IP or name to connect to */
	const char	*port;		/* "25" */
	const char	*unix_path;	/* LMTP over a unix socket instead */
	bool		 lmtp;		/* LHLO, one reply per recipient after DATA */
	const char	*helo;		/* our hostname */
	enum client_tls	 tls;
	const char	*ca_file;	/* NULL: the system store */
	const char	*verify_name;	/* name the certificate must carry */
	bool		 verify_report;	/* CLIENT_TLS_OPPORTUNISTIC: check the
					 * certificate as REQUIRED would
					 * (ca_file, verify_name) without
					 * acting on it: the session goes on,
					 * auth stays NONE, and tls_out's
					 * result and detail say what the
					 * check found (an MTA-STS policy in
					 * testing mode, RFC 8461 5) */
	const char	*auth_user;	/* NULL: no AUTH */
	const char	*auth_pass;
	unsigned	 timeout;	/* seconds per step */
	bool		 smtputf8;	/* the message came with SMTPUTF8 */
	bool		 body_8bitmime;	/* ... with BODY=8BITMIME */
	bool		 no_downgrade;	/* 8-bit content to a next hop without
					 * 8BITMIME: refuse, not convert */
	const struct client_tlsa *tlsa;	/* CLIENT_TLS_DANE: the records */
	size_t		 ntlsa;
	const char	*dane_mx_name;	/* CLIENT_TLS_DANE: the MX host name,
					 * accepted for DANE-TA beside
					 * verify_name (the TLSA base domain)
					 * when a CNAME made them differ */
	bool		 requiretls;	/* MAIL gets REQUIRETLS; a server that
					 * does not offer it inside TLS, or
					 * one not authenticated (tls neither
					 * DANE nor REQUIRED), is refused by
					 * us with CLIENT_REQUIRETLS_STATUS */
	struct smtp_client_tls *tls_out; /* NULL, or where to say what
					 * became of TLS */
	const char	*reuse_tag;	/* more of the terms of a kept session
					 * (the recipient domain: TLS-RPT
					 * counts sessions per domain) */
	bool		 reuse;		/* the session may carry more messages
					 * of the same terms (SMTP over TCP
					 * only; see smtp_client_reuse_limits) */
};

#define CLIENT_TEXT_MAX	512
/* Our refusal of a next hop for a REQUIRETLS message: RFC 8689's own
 * enhanced status code, "REQUIRETLS support required" (its section 6). */
#define CLIENT_REQUIRETLS_STATUS	"5.7.30"

/* What happened: code 250 for delivered; 4xx/5xx the server's verdict;
 * 0 when we never got a verdict (connection or TLS failure), which
 * counts as temporary. Per recipient for RCPT (and LMTP's DATA). */
struct smtp_client_reply {
	int	code;
	char	text[CLIENT_TEXT_MAX];	/* "550 5.1.1 no such user", for logs and DSNs */
	bool	ours;			/* a verdict of ours before MAIL (550
					 * 5.6.7, 554 5.6.3), not the server's */
};

/* Send the message in body_fd (body_len bytes from its position) from
 * sender to rcpts. rcpt_replies has nrcpts slots. Returns the overall
 * outcome in *session (the first failure that stopped the transaction,
 * or 250); a recipient is delivered when its own reply is 2xx and the
 * session's is 250. */
void	smtp_client_send(const struct smtp_client_opts *, const char *sender,
	    char *const *rcpts, size_t nrcpts, int body_fd, off_t body_len,
	    struct smtp_client_reply *session,
	    struct smtp_client_reply *rcpt_replies);

/*
 * Sessions kept open between messages (smtp_client_reuse.c): after a
 * message went through, a session opened with opts.reuse waits up to
 * idle_secs for the next message with the same terms (address, port,
 * our name, TLS mode and what the certificate is checked against,
 * AUTH), which then needs no connection, greeting, EHLO, STARTTLS or
 * AUTH. At most max_idle wait in the process, per_key of the same
 * terms, and a session carries at most max_uses messages. A session the
 * server closed while it waited is noticed before a word of the message
 * is answered, and the message goes over a new one. Thread-safe; the
 * limits start at 0 (nothing kept).
 */
void	smtp_client_reuse_limits(unsigned max_idle, unsigned per_key,
	    unsigned idle_secs, unsigned max_uses);
/* The sessions that waited idle_secs (with 0: all) closed with QUIT, on
 * a thread of their own; close_all closes every one before it returns. */
void	smtp_client_reuse_sweep(time_t now);
void	smtp_client_reuse_close_all(void);

#endif
