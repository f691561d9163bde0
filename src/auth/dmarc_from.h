/*
 * dmarc_from - the author domain of a message (RFC 7489 3.1, 6.6.1):
 * the domain of the address in its From: field, read from the field's
 * value by RFC 5322's mailbox-list (display names, quoted strings,
 * comments, folding, obsolete routes), without I/O and in one pass.
 *
 * Feed every From: field of the header to one struct dmarc_from. The
 * normal case is one field with one address. What RFC 7489 6.6.1 leaves
 * to the receiver, we settle so: several addresses in one domain are
 * that domain; anything else (no From:, several From: fields, addresses
 * in several domains, a value we cannot read, an address without a
 * domain name) has no author domain, and DMARC's result is permerror
 * (see dmarc.h for the policy that follows).
 */
#ifndef SALLYPORT_DMARC_FROM_H
#define SALLYPORT_DMARC_FROM_H

#include <stddef.h>

#include "auth/orgdomain.h"

#define DMARC_FROM_MAX_FIELD	16384	/* bytes of a From: value read */
#define DMARC_FROM_MAX_DEPTH	16	/* nested comments */
#define DMARC_FROM_ADDRS_MAX	2048	/* bytes of addresses kept */

enum dmarc_from_status {
	DMARC_FROM_OK,		/* one author domain */
	DMARC_FROM_MISSING,	/* no From: field fed */
	DMARC_FROM_FIELDS,	/* several From: fields */
	DMARC_FROM_EMPTY,	/* a From: without an address */
	DMARC_FROM_DOMAINS,	/* addresses in several domains */
	DMARC_FROM_SYNTAX,	/* unreadable, too long, or a domain that is
				 * no DNS name (an address literal) */
};

struct dmarc_from {
	enum dmarc_from_status status;
	unsigned	 fields;	/* From: fields fed */
	unsigned	 addresses;	/* in the last one */
	char		 domain[ORGDOMAIN_MAX];	/* OK: normalized */
	/* The first field's addresses as read, each "local@domain\0"
	 * (the local part as written, the domain normalized as above),
	 * for the sender map; addrs_cut when more came than fit. */
	char		 addrs[DMARC_FROM_ADDRS_MAX];
	size_t		 addrs_len;
	int		 addrs_cut;
};

void	dmarc_from_init(struct dmarc_from *);
/* dmarc_from_field - one From: field's value (after the colon, folded
 * or not); returns the status so far. */
enum dmarc_from_status dmarc_from_field(struct dmarc_from *,
	    const char *value, size_t len);
/* RFC 5322's atext (RFC 6532: octets >= 0x80 too), for the builders
 * of other header fields */
int	dmarc_from_atext(unsigned char);
/* a sentence for a reason or a log, "" for OK */
const char *dmarc_from_problem(const struct dmarc_from *);

#endif
