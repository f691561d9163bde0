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
 * 554 5.6.3. Those refusals are ours, given before MAIL.
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

enum client_tls {
	CLIENT_TLS_NONE,
	CLIENT_TLS_OPPORTUNISTIC,	/* STARTTLS when offered, no verification */
	CLIENT_TLS_REQUIRED,		/* STARTTLS, certificate verified */
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
	const char	*auth_user;	/* NULL: no AUTH */
	const char	*auth_pass;
	unsigned	 timeout;	/* seconds per step */
	bool		 smtputf8;	/* the message came with SMTPUTF8 */
	bool		 body_8bitmime;	/* ... with BODY=8BITMIME */
	bool		 no_downgrade;	/* 8-bit content to a next hop without
					 * 8BITMIME: refuse, not convert */
};

#define CLIENT_TEXT_MAX	512

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

#endif
