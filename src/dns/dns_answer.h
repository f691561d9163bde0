/*
 * dns_answer - what a raw DNS answer says about one name and type.
 *
 * c-ares gives the counts and the rcode; we also need the TTLs, for
 * the cache, and whether an MX is the null MX of RFC 7505. This reads
 * the answer and authority sections of a message as received, checking
 * every length against the message's own.
 */
#ifndef SALLYPORT_DNS_ANSWER_H
#define SALLYPORT_DNS_ANSWER_H

#include <stddef.h>
#include <stdint.h>

/* Record types and class, as on the wire (RFC 1035 3.2.2, RFC 3596). */
#define DNS_TYPE_A	1
#define DNS_TYPE_CNAME	5
#define DNS_TYPE_SOA	6
#define DNS_TYPE_PTR	12
#define DNS_TYPE_MX	15
#define DNS_TYPE_TXT	16
#define DNS_TYPE_AAAA	28
#define DNS_TYPE_TLSA	52	/* RFC 6698 */
#define DNS_CLASS_IN	1

/* Negative TTL when the authority section has no SOA (RFC 2308 5
 * leaves it to us). */
#define DNS_ANSWER_NEG_TTL	300

struct dns_answer {
	unsigned	 found;		/* records of the type asked for; for MX,
					 * not counting null MXs */
	unsigned	 null_mx;	/* MX "0 ." records (RFC 7505) */
	uint32_t	 ttl;		/* smallest TTL in the answer section
					 * (CNAMEs included); 0 when empty */
	uint32_t	 neg_ttl;	/* RFC 2308 5: min(SOA TTL, SOA minimum)
					 * from the authority section */
};

/* Read msg (len bytes, header included) for records of `type`.
 * Returns 0, or -1 for a message that is cut short or malformed. */
int	dns_answer_parse(const unsigned char *msg, size_t len, unsigned type,
	    struct dns_answer *);

/* Called for each record of the type asked for in the answer section:
 * for MX, PTR and CNAME, the name it holds, as text without the final dot
 * ("" for the root: a null MX); for other types, the record's data as
 * on the wire. */
typedef void dns_rr_fn(void *arg, unsigned type, const void *data,
    size_t len);

/* Call fn for each record of `type` (class IN) in msg's answer section,
 * CNAME chains included as dns_answer_parse reads them. Returns 0, or
 * -1 for a malformed message (fn may have been called for records
 * before the fault). */
int	dns_answer_each(const unsigned char *msg, size_t len, unsigned type,
	    dns_rr_fn *fn, void *arg);

#endif
