/*
 * dns_msg - DNS messages built by hand, for tests.
 *
 * Written field by field from RFC 1035 4.1, so that the tests do not
 * trust the code they test to build what it is meant to read.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "dns_msg.h"

void
msg_bytes(struct dns_msg *m, const void *p, size_t n)
{
	cr_assert_leq(n, sizeof(m->b) - m->len, "test message too long");
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

void
msg_u16(struct dns_msg *m, unsigned v)
{
	unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	msg_bytes(m, b, sizeof(b));
}

void
msg_u32(struct dns_msg *m, uint32_t v)
{
	msg_u16(m, v >> 16);
	msg_u16(m, v & 0xffff);
}

void
msg_header(struct dns_msg *m, unsigned id, unsigned rcode, unsigned qd,
    unsigned an, unsigned ns)
{
	m->len = 0;
	msg_u16(m, id);
	msg_u16(m, 0x8180 | rcode);	/* QR, RD, RA */
	msg_u16(m, qd);
	msg_u16(m, an);
	msg_u16(m, ns);
	msg_u16(m, 0);
}

void
msg_name(struct dns_msg *m, const char *name)
{
	while (*name != '\0') {
		size_t		n = strcspn(name, ".");
		unsigned char	len = (unsigned char)n;

		msg_bytes(m, &len, 1);
		msg_bytes(m, name, n);
		name += n + (name[n] == '.');
	}
	msg_bytes(m, "", 1);
}

void
msg_question(struct dns_msg *m, const char *name, unsigned type)
{
	msg_name(m, name);
	msg_u16(m, type);
	msg_u16(m, 1);
}

size_t
msg_rr(struct dns_msg *m, const char *owner, unsigned type, uint32_t ttl)
{
	size_t	 mark;

	if (owner == NULL)
		msg_u16(m, 0xc000 | DNS_MSG_QNAME);
	else
		msg_name(m, owner);
	msg_u16(m, type);
	msg_u16(m, 1);
	msg_u32(m, ttl);
	mark = m->len;
	msg_u16(m, 0);
	return mark;
}

void
msg_rr_end(struct dns_msg *m, size_t mark)
{
	size_t	 n = m->len - mark - 2;

	m->b[mark] = (unsigned char)(n >> 8);
	m->b[mark + 1] = (unsigned char)n;
}

void
msg_mx(struct dns_msg *m, const char *owner, uint32_t ttl, unsigned pref,
    const char *exchange)
{
	size_t	 mark = msg_rr(m, owner, 15, ttl);

	msg_u16(m, pref);
	msg_name(m, exchange);
	msg_rr_end(m, mark);
}

void
msg_a(struct dns_msg *m, const char *owner, uint32_t ttl)
{
	size_t	 mark = msg_rr(m, owner, 1, ttl);

	msg_bytes(m, "\300\0\2\1", 4);		/* 192.0.2.1 */
	msg_rr_end(m, mark);
}

void
msg_cname(struct dns_msg *m, const char *owner, uint32_t ttl,
    const char *target)
{
	size_t	 mark = msg_rr(m, owner, 5, ttl);

	msg_name(m, target);
	msg_rr_end(m, mark);
}

void
msg_soa(struct dns_msg *m, const char *owner, uint32_t ttl, uint32_t minimum)
{
	size_t	 mark = msg_rr(m, owner, 6, ttl);

	msg_name(m, "ns.example.test");
	msg_name(m, "hostmaster.example.test");
	msg_u32(m, 2024010101);		/* serial */
	msg_u32(m, 3600);		/* refresh */
	msg_u32(m, 600);		/* retry */
	msg_u32(m, 86400);		/* expire */
	msg_u32(m, minimum);
	msg_rr_end(m, mark);
}
