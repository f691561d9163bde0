/*
 * dkim_from - the domain of a message's From: field, found while the
 * message streams in (dkim_from.c): which of our keys sign it.
 *
 *	struct dkim_from f;
 *	dkim_from_init(&f);
 *	dkim_from_feed(&f, chunk, len)...;	(dot-unstuffed, CRLF)
 *	dkim_from_domain(&f, domain, sizeof(domain), &why);
 *
 * One From field whose addresses are all in one domain gives that
 * domain, as dmarc_from reads it (lower case, A-labels, no trailing
 * dot); none, several, addresses in several domains, an address literal
 * or a field past DKIM_FROM_MAX octets give -1 and why.
 */
#ifndef SALLYPORT_DKIM_FROM_H
#define SALLYPORT_DKIM_FROM_H

#include <stddef.h>

#include "auth/dmarc_from.h"

#define DKIM_FROM_MAX	DMARC_FROM_MAX_FIELD	/* octets of the From
						 * field's value kept */

struct dkim_from {
	int	 state;
	int	 done;		/* the header is over */
	int	 in_from;	/* the field being read is From */
	int	 overflow;	/* the From value was longer than kept */
	unsigned count;		/* From fields seen */
	char	 name[16];	/* the field name being read, lower case */
	size_t	 namelen;
	int	 name_blank;	/* a blank after the name */
	int	 name_bad;	/* more after that blank, or too long */
	int	 name_open;	/* the line ended inside a name: a fold
				 * may carry it on to its colon */
	char	 value[DKIM_FROM_MAX + 1];	/* the last From, unfolded */
	size_t	 len;
};

void	dkim_from_init(struct dkim_from *);
void	dkim_from_feed(struct dkim_from *, const void *data, size_t len);
/* After the message (or its header): 0 with the domain in out, or -1
 * with *why saying why there is none to sign for. */
int	dkim_from_domain(const struct dkim_from *, char *out, size_t outlen,
	    const char **why);

#endif
