/*
 * dns_msg - DNS messages built by hand, for tests: a fake server's
 * answers, and damaged messages for the parser.
 */
#ifndef SALLYPORT_TEST_DNS_MSG_H
#define SALLYPORT_TEST_DNS_MSG_H

#include <stddef.h>
#include <stdint.h>

#define DNS_MSG_QNAME	12	/* where the question's name starts */

struct dns_msg {
	unsigned char	b[1024];
	size_t		len;
};

/* A response header: id, rcode and the section counts. */
void	msg_header(struct dns_msg *, unsigned id, unsigned rcode,
	    unsigned qd, unsigned an, unsigned ns);
void	msg_u16(struct dns_msg *, unsigned);
void	msg_u32(struct dns_msg *, uint32_t);
void	msg_bytes(struct dns_msg *, const void *, size_t);
/* "mx.example.test" as labels; "" is the root. */
void	msg_name(struct dns_msg *, const char *);
void	msg_question(struct dns_msg *, const char *name, unsigned type);
/* A record's owner, type, class IN and TTL; returns where its data
 * length goes, for msg_rr_end once the data is written. A NULL owner
 * points back at the question's name. */
size_t	msg_rr(struct dns_msg *, const char *owner, unsigned type,
	    uint32_t ttl);
void	msg_rr_end(struct dns_msg *, size_t mark);

/* Whole records. */
void	msg_mx(struct dns_msg *, const char *owner, uint32_t ttl,
	    unsigned pref, const char *exchange);
void	msg_a(struct dns_msg *, const char *owner, uint32_t ttl);
void	msg_cname(struct dns_msg *, const char *owner, uint32_t ttl,
	    const char *target);
void	msg_soa(struct dns_msg *, const char *owner, uint32_t ttl,
	    uint32_t minimum);

#endif
