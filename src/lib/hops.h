/*
 * hops - count the Received: header fields of a message as it streams
 * by (RFC 5321 6.3: the hop count is how mail loops are stopped).
 *
 * Only the header section counts: the lines before the first empty
 * line. A field name matches in any case, with blanks allowed before
 * its colon (RFC 5322 4.5, obsolete syntax). The counter is a byte-level
 * state machine, so a message split anywhere, even inside "Received:",
 * counts the same; it keeps no text and stops looking at the end of the
 * header section.
 */
#ifndef SALLYPORT_HOPS_H
#define SALLYPORT_HOPS_H

#include <stdbool.h>
#include <stddef.h>

struct hops {
	unsigned	count;		/* Received: fields so far */
	unsigned char	state;		/* see hops.c */
	unsigned char	matched;	/* octets of "received" matched */
	bool		done;		/* the header section has ended */
};

void	hops_init(struct hops *);
/* Look at the next `len` octets of the message (CRLF or LF line ends). */
void	hops_feed(struct hops *, const char *p, size_t len);

#endif
