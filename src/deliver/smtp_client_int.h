/*
 * smtp_client_int - shared by the outbound client's files, top down:
 * smtp_client.c (the dialogue: greeting, EHLO, STARTTLS, AUTH, QUIT),
 * smtp_client_data.c (the message: what the server's extensions mean
 * for it, MAIL and RCPT, DATA and the body), smtp_client_reuse.c (the
 * sessions kept between messages) and smtp_client_io.c (the connection,
 * TLS, commands, replies, deadlines, closing), which the others call and
 * which calls none of them.
 */
#ifndef SALLYPORT_SMTP_CLIENT_INT_H
#define SALLYPORT_SMTP_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "deliver/smtp_client.h"

struct mime8;
struct tls_conn;

#define CLIENT_LINE_MAX		4096	/* one reply line, CRLF included */
#define CLIENT_REPLY_LINES	512	/* lines of one reply */
#define CLIENT_CMD_MAX		2048	/* one command line we send */
#define CLIENT_OUT_SIZE		16384	/* commands or body, per write */
#define CLIENT_CHUNK		8192	/* body bytes read at a time */
#define CLIENT_CRED_MAX		512	/* user name, password */
#define CLIENT_QUIT_TIMEOUT	5	/* seconds, at most, for QUIT */

/* What the EHLO reply offers. */
struct client_caps {
	bool	 starttls;
	bool	 pipelining;
	bool	 size;
	bool	 auth_plain;
	bool	 auth_login;
	bool	 smtputf8;
	bool	 eightbitmime;
	bool	 requiretls;	/* RFC 8689 */
};

struct client {
	const struct smtp_client_opts *o;
	int		 fd;
	struct tls_conn	*tls;
	unsigned	 timeout;	/* seconds per step */
	struct timespec	 deadline;	/* of the current step */
	const char	*step;		/* "MAIL", for messages */
	char		 peer[300];	/* "host:port" or the socket path */
	struct client_caps caps;
	struct smtp_client_reply fail;	/* our own failure, code 0 */
	bool		 utf8;		/* MAIL gets SMTPUTF8 */
	bool		 body8;		/* MAIL gets BODY=8BITMIME */
	struct mime8	*mime8;		/* the body is converted to 7-bit */
	bool		 lost;		/* out of step with the server: no QUIT */
	unsigned	 uses;		/* messages this session has carried */
	bool		 quit_sent;	/* client_bye said QUIT */
	unsigned	 replies;	/* whole replies read (since reuse) */
	int		 first_code;	/* the first one's code */
	struct smtp_client_tls tls_info; /* what tls_out said of the session,
					 * for a message that reuses it */
	char		 report_err[128]; /* verify_report: why the check
					 * could not be set up */
	char		 in[CLIENT_LINE_MAX];
	size_t		 inpos, inlen;	/* unread: in[inpos..inlen) */
	char		 out[CLIENT_OUT_SIZE];
	size_t		 outlen;
};

/* smtp_client_io.c */
/* QUIT sent, its reply not awaited (client_close reads it). */
void	client_bye(struct client *);
/* QUIT and its reply (a second at most) unless lost or !quit, and
 * everything freed; NULL is fine. */
void	client_close(struct client *, bool quit);
/* Our own failure (code 0, temporary) in c->fail; returns -1. */
int	client_fail(struct client *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* The same, and the connection is out of step: no QUIT. */
int	client_lost(struct client *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Write what is queued in c->out. */
int	client_flush(struct client *);
/* One command line queued, CRLF added. */
int	client_cmd(struct client *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* The next bytes as they come (no lines, no replies: the policy
 * fetch's HTTP): the count, 0 when the peer closed, -1 with c->fail. */
ssize_t	client_recv(struct client *, char *, size_t);
/* One whole reply; EHLO's keywords into caps when not NULL. */
int	client_reply(struct client *, struct smtp_client_reply *,
	    struct client_caps *caps);
/* Flush, then read the reply of `step`. */
int	client_exchange(struct client *, const char *step,
	    struct smtp_client_reply *, struct client_caps *caps);
/* Connect to opts' unix socket or host (each of its addresses in turn):
 * 0, or -1 with c->fail. */
int	client_connect(struct client *);
/* TLS on the connection after the server's 220 to STARTTLS, the
 * certificate checked as opts->tls says (CA and name, TLSA records, or
 * nothing); what became of it in opts->tls_out. */
int	client_handshake(struct client *);
/* Why TLS did not happen, into opts->tls_out (when set): an RFC 8460
 * result and the words. */
void	client_tls_failed(struct client *, enum tlsrpt_result,
	    const char *, ...) __attribute__((format(printf, 3, 4)));

/* smtp_client_reuse.c */
/* The terms a session is kept for, opts as a byte string (NULL: this
 * one is never kept, LMTP or a unix socket); free with the next. */
char	*client_reuse_key(const struct smtp_client_opts *, size_t *len);
void	 client_reuse_key_free(char *, size_t len);
/* An idle session of these terms, taken out of the list, or NULL. */
struct client *client_reuse_take(const char *key, size_t len);
/* c into the list for the next message of its terms: true; false when
 * the limits leave no room (c is still the caller's). */
bool	 client_reuse_park(struct client *, const char *key, size_t len);

/* smtp_client_data.c */
/* What the server's extensions mean for this message: MAIL's
 * parameters, a 7-bit conversion, or our own refusal in *r (code 5xx).
 * -1 for our failure; 0 with r->code 0 to go on. */
int	client_content(struct client *, const char *sender,
	    char *const *rcpts, size_t nrcpts, int fd, off_t len,
	    struct smtp_client_reply *r);
/* MAIL and the RCPTs (and DATA when pipelining: its reply in *data,
 * code 0 if none); how many recipients were accepted, -1 for ours. */
long	client_envelope(struct client *, const char *sender, off_t body_len,
	    char *const *rcpts, size_t nrcpts, struct smtp_client_reply *,
	    struct smtp_client_reply *rr, struct smtp_client_reply *data);
/* DATA unless data has its reply, the body, the verdict(s). */
void	client_data(struct client *, int fd, off_t len, size_t nrcpts,
	    struct smtp_client_reply *, struct smtp_client_reply *rr,
	    const struct smtp_client_reply *data);

#endif
