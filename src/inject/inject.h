/*
 * inject - sallyport-sendmail, the sendmail(1)-compatible injector:
 * the message from standard input to a temporary file (inject_msg.c),
 * the addresses of To:, Cc: and Bcc: (inject_addr.c), and the hand-off
 * to the daemon as SMTP over its local socket (inject_smtp.c). The
 * command line is sendmail.c's. Errors come back as sysexits.h codes
 * with a sentence for stderr; only sendmail.c prints.
 */
#ifndef SALLYPORT_INJECT_H
#define SALLYPORT_INJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define INJECT_ADDR_MAX		998	/* octets of one address (a line) */
#define INJECT_RCPTS_MAX	10000	/* recipients of one message */
#define INJECT_FIELD_MAX	(100 * 1024)	/* a header field, folded */
#define INJECT_LINE_MAX		998	/* longer lines are broken (RFC
					 * 5322 2.1.1), as Postfix's
					 * smtp_line_length_limit does */
#define INJECT_ERR		512
#define INJECT_REPLY_MAX	2048	/* octets of a daemon's reply kept */

/* --- inject_addr.c: RFC 5322 address lists ----------------------------- */

/* Called with each address of a list (addr-spec, NUL-ended, without
 * comments or folding white space); non-zero stops the walk. */
typedef int inject_addr_fn(void *arg, const char *addr);

/* inject_addr_list - the addresses of an address-list (RFC 5322 3.4:
 * display names, angle addresses, groups, comments, quoted strings,
 * obsolete routes); 0, or -1 with err when a member cannot be read (a
 * name without an address, an unclosed quote or comment, an address
 * too long), or the callback's non-zero value. */
int	inject_addr_list(const char *value, size_t len, inject_addr_fn *fn,
	    void *arg, char *err, size_t errlen);
/* inject_addr_has_domain - does addr end in @domain (an @ outside a
 * quoted local part)? */
bool	inject_addr_has_domain(const char *addr);

/* --- recipients --------------------------------------------------------- */

struct inject_rcpts {
	char	**v;
	size_t	  n, cap;
};

/* Add one address (copied); 0, or -1 past INJECT_RCPTS_MAX or out of
 * memory. */
int	inject_rcpts_add(struct inject_rcpts *, const char *addr);
void	inject_rcpts_free(struct inject_rcpts *);

/* --- inject_msg.c: the message ----------------------------------------- */

struct inject_opts {
	bool		 extract;	/* -t: recipients from the header */
	bool		 ignore_dots;	/* -i, -oi: a lone dot is a line */
	const char	*from;		/* From: to add when there is none */
	const char	*hostname;	/* for an added Message-ID */
	uint64_t	 max_size;	/* max_message_size */
};

struct inject_msg {
	FILE		*fp;		/* the message, CRLF, dot-stuffed */
	uint64_t	 size;		/* its octets before dot-stuffing */
	bool		 eightbit;	/* an octet >= 0x80: BODY=8BITMIME */
	struct inject_rcpts rcpts;	/* -t: To:, Cc:, Bcc: */
};

/* inject_msg_read - standard input to a temporary file: LF or CRLF
 * line ends made CRLF, lines past INJECT_LINE_MAX broken, Bcc: fields
 * removed (their addresses kept with -t), Date:, From: and Message-ID:
 * added when missing (a message without a header gets one), input
 * ended by EOF or, without ignore_dots, a lone dot. 0, or a sysexits.h
 * code with err. */
int	inject_msg_read(FILE *in, const struct inject_opts *,
	    struct inject_msg *, char *err, size_t errlen);
void	inject_msg_free(struct inject_msg *);

/* --- inject_smtp.c: the daemon's local socket --------------------------- */

struct inject_send {
	const char	*socket;	/* local_socket */
	const char	*sender;
	const struct inject_rcpts *rcpts;	/* qualified */
	struct inject_msg *msg;
	bool		 smtputf8;	/* an address is not ASCII */
	bool		 verbose;	/* -v: the dialogue on stderr */
};

/* inject_smtp_send - the message handed to the daemon, all or nothing:
 * every recipient accepted and the message committed (the daemon's 250
 * after its fsync), or nothing sent. 0, or a sysexits.h code with err
 * (the daemon's reply in it). */
int	inject_smtp_send(const struct inject_send *, char *err,
	    size_t errlen);
/* inject_smtp_relay - -bs: standard input and output joined to the
 * daemon's SMTP until either side ends. 0, or a sysexits.h code. */
int	inject_smtp_relay(const char *socket, char *err, size_t errlen);

#endif
