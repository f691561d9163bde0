/*
 * mime8 - 8-bit MIME content made 7-bit for a next hop that does not
 * offer 8BITMIME (RFC 6152), the way Postfix's SMTP client converts
 * (its MIME output conversion): every leaf part that holds 8-bit text
 * is re-encoded as quoted-printable and its Content-Transfer-Encoding
 * rewritten; a multipart or message/rfc822 part labelled 8bit or binary
 * is relabelled 7bit and its parts converted in turn. What cannot be
 * converted without changing its meaning (8-bit octets in a header, in
 * a base64 or quoted-printable part, outside every part) is reported,
 * for the caller to bounce.
 *
 * Two passes over the same message, each one streaming and resumable
 * (any split of the input gives the same result) in a fixed-size
 * state, so memory is bounded whatever the message:
 *
 *	mime8_init(&m);  mime8_feed(&m, ...)...;  mime8_end(&m);
 *		the scan: is there 8-bit content (m.head8, m.body8), can
 *		it be converted (m.error), which parts need it
 *	mime8_encode(&m, emit, ctx);  mime8_feed(&m, ...)...;  mime8_end(&m);
 *		the same message again, converted, through emit()
 *
 * Output lines end in CRLF and are at most 76 octets where they were
 * encoded; the caller still dot-stuffs them for SMTP.
 */
#ifndef SALLYPORT_MIME8_H
#define SALLYPORT_MIME8_H

#include <stdbool.h>
#include <stddef.h>

#define MIME8_LINE_MAX		1024	/* input held per line (SMTP: 1000) */
#define MIME8_FIELD_MAX		4096	/* a Content-Type or -Transfer-Encoding field */
#define MIME8_DEPTH_MAX		32	/* nested multiparts */
#define MIME8_BOUNDARY_MAX	100	/* RFC 2046 says 70; a little slack */
#define MIME8_PARTS_MAX		4096	/* leaf parts the scan remembers */

/* Output sink: 0, or -1 to stop (mime8_feed then returns -1). */
typedef int	 mime8_emit_fn(void *ctx, const char *p, size_t n);

struct mime8_level {			/* one open multipart */
	char	 boundary[MIME8_BOUNDARY_MAX + 1];
	size_t	 blen;
	bool	 digest;		/* multipart/digest: parts default
					 * to message/rfc822 */
};

struct mime8 {
	mime8_emit_fn	*emit;		/* NULL while scanning */
	void		*ctx;
	const char	*error;		/* why it cannot be converted; NULL */
	bool		 head8;		/* 8-bit octets in the message header */
	bool		 body8;		/* ... anywhere after it */
	bool		 emit_failed;

	/* the line being assembled */
	char		 line[MIME8_LINE_MAX];
	size_t		 len;
	bool		 cont;		/* it continues a longer line */

	/* where the parse is */
	int		 state;		/* M8_* in mime8.c */
	bool		 top;		/* in the message's own header */
	bool		 mime_version;	/* it has a MIME-Version field */
	bool		 broken;	/* error seen: only count octets now */
	bool		 digest_child;	/* default type message/rfc822 */
	char		 field[MIME8_FIELD_MAX];	/* Content-Type */
	size_t		 flen;
	char		 cte[MIME8_FIELD_MAX];		/* -Transfer-Encoding */
	size_t		 clen;
	int		 buffering;	/* 0, 1: field, 2: cte */
	struct mime8_level stack[MIME8_DEPTH_MAX];
	size_t		 depth;
	unsigned	 part;		/* leaf parts so far */

	/* quoted-printable output */
	size_t		 col;
	char		 pending_ws;	/* a blank not yet known not to end a line */

	unsigned char	 has8[MIME8_PARTS_MAX / 8];	/* from the scan */
};

/* Start the scan. */
void	mime8_init(struct mime8 *);
/* Start the conversion, after a scan of the same message that left
 * m->error NULL. */
void	mime8_encode(struct mime8 *, mime8_emit_fn *, void *ctx);
/* Some more of the message. The scan never fails (it records m->error
 * and goes on counting); the conversion returns -1 when emit() did or
 * when the message turned out not to be convertible after all. */
int	mime8_feed(struct mime8 *, const char *, size_t);
/* The end of the message: a last line without its line end. */
int	mime8_end(struct mime8 *);

#endif
