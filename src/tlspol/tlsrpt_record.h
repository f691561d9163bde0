/*
 * tlsrpt_record - the TLS-RPT policy record a domain publishes at
 * _smtp._tls.DOMAIN (RFC 8460 3): where its reports go.
 *
 *	v=TLSRPTv1; rua=mailto:tlsrpt@example.net,https://r.example.net/v1
 *
 * Parsed strictly by the RFC's grammar (a record that does not follow
 * it is no record: the domain gets no report), unknown fields ignored
 * as the RFC asks. No I/O: the TXT strings come from the caller.
 */
#ifndef SALLYPORT_TLSRPT_RECORD_H
#define SALLYPORT_TLSRPT_RECORD_H

#include <stddef.h>

#define TLSRPT_RECORD_MAX	2048	/* a longer record is refused */
#define TLSRPT_RUA_MAX		16	/* report URIs kept; more are counted */
#define TLSRPT_ADDR_MAX		254	/* a mailto: address, decoded */

struct tlsrpt_record {
	char		 text[TLSRPT_RECORD_MAX + 1];	/* the URIs point here */
	const char	*rua[TLSRPT_RUA_MAX];		/* as written, in order */
	size_t		 nrua;
	size_t		 nrua_dropped;			/* past TLSRPT_RUA_MAX */
};

/* Parse one record of len octets (the TXT record's strings joined).
 * 0, or -1 with *why a static text. */
int	tlsrpt_record_parse(const char *txt, size_t len,
	    struct tlsrpt_record *, const char **why);

/* The TLS-RPT record among the n TXT records of _smtp._tls.DOMAIN:
 * those that do not start with "v=TLSRPTv1" and a ';' are discarded,
 * and unless exactly one is left the domain has none (RFC 8460 3).
 * 0, or -1 with *why. */
int	tlsrpt_record_select(const char *const *txts, const size_t *lens,
	    size_t n, struct tlsrpt_record *, const char **why);

/* The address of a "mailto:" report URI, its %-escapes decoded and any
 * "?" header fields left out (RFC 6068); one plain local@domain of at
 * most TLSRPT_ADDR_MAX octets, printable ASCII without blanks, quotes,
 * brackets or commas. 0, or -1 (not mailto:, or not such an address). */
int	tlsrpt_mailto(const char *uri, char *addr, size_t addrlen);

#endif
