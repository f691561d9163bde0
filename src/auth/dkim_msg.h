/*
 * dkim_msg - a message's header, collected while the message streams
 * in, for DKIM signing and verification.
 *
 * The message is fed in chunks of any size (dot-unstuffed, CRLF line
 * ends). The header is kept, up to max_header bytes and max_fields
 * fields, and split into fields when the empty line that ends it arrives;
 * from there on dkim_msg_feed says where the body starts in the chunk,
 * and the caller hashes the body itself (it is never kept here).
 */
#ifndef SALLYPORT_DKIM_MSG_H
#define SALLYPORT_DKIM_MSG_H

#include <stddef.h>

#include "lib/buf.h"

#define DKIM_MAX_HEADER	(256 * 1024)	/* default bound on the header's bytes */
#define DKIM_MAX_FIELDS	1000		/* and on its fields */

struct dkim_field {
	size_t	 off;		/* into hdr.data */
	size_t	 len;		/* the whole field, folding included, no final CRLF */
	size_t	 name_len;	/* its name, without blanks before the colon;
				 * 0 for a line that is not a field */
};

struct dkim_msg {
	struct buf	 hdr;		/* the header as received */
	struct dkim_field *fields;
	size_t		 nfields;
	size_t		 max_fields;
	int		 in_body;	/* the empty line was seen */
	int		 cr, bol, blank_cr;	/* the end-of-header scanner */
};

void	dkim_msg_init(struct dkim_msg *, size_t max_header, size_t max_fields);
/* Feed len bytes. Returns 0 when they were all header, 1 when the header
 * is complete and the body begins at data + *body_off (which may equal
 * len), 2 when all of them are body (*body_off = 0), and -1 when the
 * header is past its bounds (or memory ran out): the message cannot be
 * handled, and further calls fail too. */
int	dkim_msg_feed(struct dkim_msg *, const void *data, size_t len,
	    size_t *body_off);
/* End of message. A message without an empty line is all header. 0 or -1. */
int	dkim_msg_end(struct dkim_msg *);
/* Does field f have the name (case-insensitive)? */
int	dkim_msg_field_is(const struct dkim_msg *, const struct dkim_field *f,
	    const char *name, size_t len);
const char *dkim_msg_field_text(const struct dkim_msg *, const struct dkim_field *);
void	dkim_msg_free(struct dkim_msg *);

#endif
