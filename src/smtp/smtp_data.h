/*
 * smtp_data - the DATA phase as a pure byte-level state machine.
 *
 * Input is the raw stream after the 354; output is the message as it
 * should be stored: dot-stuffing removed, CRLF line ends kept. Only
 * <CRLF>.<CRLF> ends the message (the CRLF before the dot may be the
 * one that ended the DATA command). A bare CR or bare LF is never a
 * line end: it is flagged, so the message can be refused (SMTP
 * smuggling), and the machine goes on looking for the real end. A NUL
 * is flagged too (a server downstream that drops NULs would see
 * "<CRLF>NUL.<CRLF>" as an end of data).
 *
 * Where bare LF is allowed (bare_newline = normalize, Postfix's
 * smtpd_forbid_bare_newline = normalize), a bare LF ends a line as if it
 * were CRLF and is stored as CRLF; the message still ends only at
 * <CRLF>.<CRLF>: a dot line right after a bare LF does not end it.
 */
#ifndef SALLYPORT_SMTP_DATA_H
#define SALLYPORT_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMTP_DATA_LINE_MAX	1000	/* octets, CRLF included (RFC 5321 4.5.3.1.6) */

enum {
	DATA_F_BARE_EOL		= 1 << 0,	/* bare CR or LF seen */
	DATA_F_LONG_LINE	= 1 << 1,	/* a line past SMTP_DATA_LINE_MAX */
	DATA_F_TOO_BIG		= 1 << 2,	/* output past max_size */
	DATA_F_NUL		= 1 << 3,	/* a NUL octet seen */
};

/* Any of these: the message is refused at its end. */
#define DATA_F_REFUSE	(DATA_F_BARE_EOL | DATA_F_LONG_LINE | \
			 DATA_F_TOO_BIG | DATA_F_NUL)

/* Output room smtp_data_feed needs for `len` input octets: a bare LF
 * taken as a line end becomes two. */
#define SMTP_DATA_ROOM(len)	(2 * (size_t)(len) + 1)

struct smtp_data {
	int		state;		/* where in a line we are; see smtp_data.c */
	size_t		linelen;	/* octets of the current wire line */
	uint64_t	size;		/* message octets produced so far */
	uint64_t	max_size;	/* 0: no limit */
	unsigned	flags;		/* DATA_F_* */
	bool		done;		/* final dot seen */
	bool		lf_eol;		/* bare LF ends a line (normalize) */
	bool		soft;		/* this line began after a bare LF */
};

void	smtp_data_init(struct smtp_data *, uint64_t max_size);
/* Take a bare LF as a line end (stored as CRLF) instead of flagging it.
 * Call right after smtp_data_init. */
void	smtp_data_normalize_lf(struct smtp_data *);
/* The DATA command itself ended with a bare LF, not CRLF: no CRLF has
 * been seen yet, so a dot at the very start does not end the message. */
void	smtp_data_after_bare_lf(struct smtp_data *);

/* Consume up to `len` bytes of `in`, writing message octets to `out`
 * (SMTP_DATA_ROOM(len) bytes are always enough) and their count to
 * *outlen. Stops right after the terminating dot line; returns the
 * number of input bytes consumed. Once DATA_F_TOO_BIG is set, no more
 * output is produced, but the input is still consumed. */
size_t	smtp_data_feed(struct smtp_data *, const char *in, size_t len,
	    char *out, size_t *outlen);

#endif
