/*
 * dns_answer - read the answer and authority sections of a DNS message.
 *
 * The message comes from the network: every count, name and length in
 * it is checked against the bytes we really have before it is used.
 * Names are skipped with ares_expand_name, which follows compression
 * pointers within the message and refuses loops. Records are not
 * matched to the question's name: an answer to a name with a CNAME
 * holds the chain, and the records at its end count for the name.
 */
#include <stdbool.h>
#include <string.h>

#include <ares.h>

#include "dns/dns_answer.h"

#define DNS_HEADER_LEN	12
#define DNS_RR_FIXED	10	/* type, class, TTL, rdlength */
#define DNS_MSG_MAX	65535	/* the largest message, over TCP */
#define DNS_SOA_FIXED	20	/* serial, refresh, retry, expire, minimum */

/* Where we are in one message. */
struct dns_cursor {
	const unsigned char	*msg;
	size_t			 len;
	size_t			 pos;
};

/* One resource record, its data left in the message. */
struct dns_rr {
	unsigned	 type;
	unsigned	 class;
	uint32_t	 ttl;
	size_t		 rdata;		/* offset in the message */
	size_t		 rdlen;
};

static unsigned
dns_u16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t
dns_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* dns_name_at - expand the name at `pos`; its length in the message
 * goes to *enclen, and *root says whether it is the root ("."). */
static int
dns_name_at(const struct dns_cursor *c, size_t pos, size_t *enclen,
    bool *root)
{
	char	*name;
	long	 n;

	if (pos >= c->len)
		return -1;
	if (ares_expand_name(c->msg + pos, c->msg, (int)c->len, &name,
	    &n) != ARES_SUCCESS)
		return -1;
	if (root != NULL)
		*root = name[0] == '\0';
	ares_free_string(name);
	if (n <= 0 || (size_t)n > c->len - pos)
		return -1;
	*enclen = (size_t)n;
	return 0;
}

/* dns_skip_question - a name, a type and a class */
static int
dns_skip_question(struct dns_cursor *c)
{
	size_t	 n;

	if (dns_name_at(c, c->pos, &n, NULL) == -1 || c->len - c->pos - n < 4)
		return -1;
	c->pos += n + 4;
	return 0;
}

/* dns_next_rr - the record at the cursor, which moves past it */
static int
dns_next_rr(struct dns_cursor *c, struct dns_rr *rr)
{
	const unsigned char	*h;
	size_t			 n;

	if (dns_name_at(c, c->pos, &n, NULL) == -1 ||
	    c->len - c->pos - n < DNS_RR_FIXED)
		return -1;
	h = c->msg + c->pos + n;
	rr->type = dns_u16(h);
	rr->class = dns_u16(h + 2);
	/* RFC 2181 8: a TTL with the top bit set is taken as zero. */
	rr->ttl = dns_u32(h + 4) > INT32_MAX ? 0 : dns_u32(h + 4);
	rr->rdlen = dns_u16(h + 8);
	rr->rdata = c->pos + n + DNS_RR_FIXED;
	if (rr->rdlen > c->len - rr->rdata)
		return -1;
	c->pos = rr->rdata + rr->rdlen;
	return 0;
}

/* dns_mx_is_null - RFC 7505: preference 0 and the root as exchange */
static int
dns_mx_is_null(const struct dns_cursor *c, const struct dns_rr *rr,
    bool *null)
{
	size_t	 n;
	bool	 root;

	if (rr->rdlen < 3 ||
	    dns_name_at(c, rr->rdata + 2, &n, &root) == -1 ||
	    n > rr->rdlen - 2)
		return -1;
	*null = root && dns_u16(c->msg + rr->rdata) == 0;
	return 0;
}

/* dns_soa_neg_ttl - RFC 2308 5: the smaller of the SOA's own TTL and
 * its MINIMUM field, the last four bytes of its data */
static uint32_t
dns_soa_neg_ttl(const struct dns_cursor *c, const struct dns_rr *rr)
{
	uint32_t min = dns_u32(c->msg + rr->rdata + rr->rdlen - 4);

	return min < rr->ttl ? min : rr->ttl;
}

/* dns_start - check the header, skip the question section; the counts
 * of the answer and authority sections in *an and *ns */
static int
dns_start(struct dns_cursor *c, unsigned *an, unsigned *ns)
{
	unsigned qd;

	if (c->len < DNS_HEADER_LEN || c->len > DNS_MSG_MAX)
		return -1;
	qd = dns_u16(c->msg + 4);
	*an = dns_u16(c->msg + 6);
	*ns = dns_u16(c->msg + 8);
	for (unsigned i = 0; i < qd; i++)
		if (dns_skip_question(c) == -1)
			return -1;
	return 0;
}

int
dns_answer_parse(const unsigned char *msg, size_t len, unsigned type,
    struct dns_answer *out)
{
	struct dns_cursor c = { msg, len, DNS_HEADER_LEN };
	struct dns_answer a = { 0, 0, 0, DNS_ANSWER_NEG_TTL };
	struct dns_rr	 rr;
	unsigned	 an, ns, i;
	bool		 null, soa = false;

	if (dns_start(&c, &an, &ns) == -1)
		return -1;
	for (i = 0; i < an; i++) {
		if (dns_next_rr(&c, &rr) == -1)
			return -1;
		if (i == 0 || rr.ttl < a.ttl)
			a.ttl = rr.ttl;
		if (rr.type != type || rr.class != DNS_CLASS_IN)
			continue;
		if (type == DNS_TYPE_MX) {
			if (dns_mx_is_null(&c, &rr, &null) == -1)
				return -1;
			if (null) {
				a.null_mx++;
				continue;
			}
		}
		a.found++;
	}
	for (i = 0; i < ns; i++) {
		if (dns_next_rr(&c, &rr) == -1)
			return -1;
		if (rr.type != DNS_TYPE_SOA || rr.class != DNS_CLASS_IN || soa)
			continue;
		/* Two names of at least one byte, then the fixed part. */
		if (rr.rdlen < 2 + DNS_SOA_FIXED)
			return -1;
		a.neg_ttl = dns_soa_neg_ttl(&c, &rr);
		soa = true;
	}
	/* The additional section is of no use here and is not read. */
	*out = a;
	return 0;
}

/* dns_rr_name - the name in a record's data at `pos` (MX: after the
 * preference), as text */
static int
dns_rr_name(const struct dns_cursor *c, const struct dns_rr *rr, size_t skip,
    dns_rr_fn *fn, void *arg)
{
	char	*name;
	long	 n;

	if (rr->rdlen <= skip || ares_expand_name(c->msg + rr->rdata + skip,
	    c->msg, (int)c->len, &name, &n) != ARES_SUCCESS)
		return -1;
	if (n <= 0 || (size_t)n > rr->rdlen - skip) {
		ares_free_string(name);
		return -1;
	}
	fn(arg, rr->type, name, strlen(name));
	ares_free_string(name);
	return 0;
}

int
dns_answer_each(const unsigned char *msg, size_t len, unsigned type,
    dns_rr_fn *fn, void *arg)
{
	struct dns_cursor c = { msg, len, DNS_HEADER_LEN };
	struct dns_rr	 rr;
	unsigned	 an, ns, i;

	if (dns_start(&c, &an, &ns) == -1)
		return -1;
	for (i = 0; i < an; i++) {
		if (dns_next_rr(&c, &rr) == -1)
			return -1;
		if (rr.type != type || rr.class != DNS_CLASS_IN)
			continue;
		if (type == DNS_TYPE_MX || type == DNS_TYPE_PTR ||
		    type == DNS_TYPE_CNAME) {
			if (dns_rr_name(&c, &rr, type == DNS_TYPE_MX ? 2 : 0,
			    fn, arg) == -1)
				return -1;
		} else {
			fn(arg, rr.type, msg + rr.rdata, rr.rdlen);
		}
	}
	return 0;
}
