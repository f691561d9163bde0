/*
 * test_dns_answer - reading raw DNS answers: records counted by type,
 * null MX, TTLs (answer and RFC 2308 negative), and messages cut short
 * or damaged anywhere, which must be refused without reading past
 * their end (run under AddressSanitizer to see that).
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "dns/dns_answer.h"
#include "dns_msg.h"

/* parse - dns_answer_parse on an exact-size copy, so that a read past
 * the end is a heap overflow the sanitizer sees */
static int
parse(const struct dns_msg *m, size_t len, unsigned type,
    struct dns_answer *a)
{
	unsigned char	*copy = malloc(len ? len : 1);
	int		 rc;

	cr_assert_not_null(copy);
	memcpy(copy, m->b, len);
	rc = dns_answer_parse(copy, len, type, a);
	free(copy);
	return rc;
}

static struct dns_answer
ok(const struct dns_msg *m, unsigned type)
{
	struct dns_answer a;

	cr_assert_eq(parse(m, m->len, type, &a), 0, "message refused");
	return a;
}

Test(dns_answer, mx)
{
	struct dns_msg		 m;
	struct dns_answer	 a;

	msg_header(&m, 1, 0, 1, 2, 0);
	msg_question(&m, "example.test", DNS_TYPE_MX);
	msg_mx(&m, NULL, 600, 10, "mx1.example.test");
	msg_mx(&m, "example.test", 300, 20, "mx2.example.test");
	a = ok(&m, DNS_TYPE_MX);
	cr_assert_eq(a.found, 2);
	cr_assert_eq(a.null_mx, 0);
	cr_assert_eq(a.ttl, 300, "the smallest TTL");
	cr_assert_eq(a.neg_ttl, DNS_ANSWER_NEG_TTL);
}

Test(dns_answer, null_mx)
{
	struct dns_msg		 m;
	struct dns_answer	 a;

	msg_header(&m, 1, 0, 1, 1, 0);
	msg_question(&m, "nomail.test", DNS_TYPE_MX);
	msg_mx(&m, NULL, 3600, 0, "");
	a = ok(&m, DNS_TYPE_MX);
	cr_assert_eq(a.found, 0);
	cr_assert_eq(a.null_mx, 1);
	cr_assert_eq(a.ttl, 3600);

	/* "." with another preference is no null MX (RFC 7505 3). */
	msg_header(&m, 1, 0, 1, 1, 0);
	msg_question(&m, "odd.test", DNS_TYPE_MX);
	msg_mx(&m, NULL, 3600, 10, "");
	a = ok(&m, DNS_TYPE_MX);
	cr_assert_eq(a.found, 1);
	cr_assert_eq(a.null_mx, 0);
}

Test(dns_answer, cname_chain)
{
	struct dns_msg		 m;
	struct dns_answer	 a;

	msg_header(&m, 1, 0, 1, 2, 0);
	msg_question(&m, "alias.test", DNS_TYPE_A);
	msg_cname(&m, NULL, 60, "target.test");
	msg_a(&m, "target.test", 600);
	a = ok(&m, DNS_TYPE_A);
	cr_assert_eq(a.found, 1);
	cr_assert_eq(a.ttl, 60, "the CNAME's TTL counts");

	/* A chain that ends without the type is no answer. */
	msg_header(&m, 1, 0, 1, 1, 0);
	msg_question(&m, "alias.test", DNS_TYPE_MX);
	msg_cname(&m, NULL, 60, "target.test");
	a = ok(&m, DNS_TYPE_MX);
	cr_assert_eq(a.found, 0);
	cr_assert_eq(a.null_mx, 0);
}

Test(dns_answer, other_types_do_not_count)
{
	struct dns_msg		 m;
	struct dns_answer	 a;

	msg_header(&m, 1, 0, 1, 1, 0);
	msg_question(&m, "x.test", DNS_TYPE_AAAA);
	msg_a(&m, NULL, 60);
	a = ok(&m, DNS_TYPE_AAAA);
	cr_assert_eq(a.found, 0);
}

Test(dns_answer, negative_ttl_from_soa)
{
	struct dns_msg		 m;
	struct dns_answer	 a;

	/* RFC 2308 5: the smaller of the SOA's TTL and its minimum. */
	msg_header(&m, 1, 3, 1, 0, 1);
	msg_question(&m, "nope.test", DNS_TYPE_MX);
	msg_soa(&m, "test", 3600, 900);
	a = ok(&m, DNS_TYPE_MX);
	cr_assert_eq(a.found, 0);
	cr_assert_eq(a.neg_ttl, 900);
	cr_assert_eq(a.ttl, 0);

	msg_header(&m, 1, 0, 1, 0, 1);
	msg_question(&m, "nodata.test", DNS_TYPE_MX);
	msg_soa(&m, "test", 120, 900);
	cr_assert_eq(ok(&m, DNS_TYPE_MX).neg_ttl, 120);

	msg_header(&m, 1, 3, 1, 0, 0);
	msg_question(&m, "nope.test", DNS_TYPE_MX);
	cr_assert_eq(ok(&m, DNS_TYPE_MX).neg_ttl, DNS_ANSWER_NEG_TTL,
	    "no SOA: the default");
}

Test(dns_answer, ttl_with_top_bit_is_zero)
{
	struct dns_msg	 m;

	/* RFC 2181 8. */
	msg_header(&m, 1, 0, 1, 1, 0);
	msg_question(&m, "x.test", DNS_TYPE_A);
	msg_a(&m, NULL, 0x80000000u);
	cr_assert_eq(ok(&m, DNS_TYPE_A).ttl, 0);
}

/* full_message - every section used, compression included */
static void
full_message(struct dns_msg *m)
{
	msg_header(m, 7, 0, 1, 3, 1);
	msg_question(m, "example.test", DNS_TYPE_MX);
	msg_cname(m, NULL, 100, "real.example.test");
	msg_mx(m, "real.example.test", 200, 0, "");
	msg_mx(m, "real.example.test", 300, 10, "mx.example.test");
	msg_soa(m, "example.test", 400, 50);
}

Test(dns_answer, every_cut_is_refused)
{
	struct dns_msg		 m;
	struct dns_answer	 a;

	full_message(&m);
	a = ok(&m, DNS_TYPE_MX);
	cr_assert_eq(a.found, 1);
	cr_assert_eq(a.null_mx, 1);
	cr_assert_eq(a.ttl, 100);
	cr_assert_eq(a.neg_ttl, 50);
	for (size_t len = 0; len < m.len; len++)
		cr_assert_eq(parse(&m, len, DNS_TYPE_MX, &a), -1,
		    "cut at %zu of %zu accepted", len, m.len);
}

Test(dns_answer, damaged_bytes_never_read_outside)
{
	struct dns_msg		 m, bad;
	struct dns_answer	 a;

	/* Each byte past the header set to values that turn lengths
	 * into long ones and labels into pointers: the result may be
	 * anything, but no read may leave the message. */
	full_message(&m);
	for (size_t i = 12; i < m.len; i++) {
		static const unsigned char v[] = { 0x00, 0x3f, 0xc0, 0xff };

		for (size_t j = 0; j < sizeof(v); j++) {
			bad = m;
			bad.b[i] = v[j];
			(void)parse(&bad, bad.len, DNS_TYPE_MX, &a);
		}
	}
}

Test(dns_answer, counts_beyond_the_message)
{
	struct dns_msg		 m;
	struct dns_answer	 a;

	msg_header(&m, 1, 0, 1, 5, 0);	/* five answers announced, one sent */
	msg_question(&m, "x.test", DNS_TYPE_A);
	msg_a(&m, NULL, 60);
	cr_assert_eq(parse(&m, m.len, DNS_TYPE_A, &a), -1);

	msg_header(&m, 1, 0, 1, 1, 0);	/* rdlength past the end */
	msg_question(&m, "x.test", DNS_TYPE_A);
	msg_a(&m, NULL, 60);
	m.b[m.len - 5] = 0x10;
	cr_assert_eq(parse(&m, m.len, DNS_TYPE_A, &a), -1);

	msg_header(&m, 1, 0, 1, 0, 1);	/* an SOA too short for its fields */
	msg_question(&m, "x.test", DNS_TYPE_A);
	msg_rr_end(&m, msg_rr(&m, "test", DNS_TYPE_SOA, 60));
	cr_assert_eq(parse(&m, m.len, DNS_TYPE_A, &a), -1);

	msg_header(&m, 1, 0, 1, 1, 0);	/* a name pointing at itself */
	msg_question(&m, "x.test", DNS_TYPE_A);
	msg_u16(&m, 0xc000 | (unsigned)m.len);
	cr_assert_eq(parse(&m, m.len, DNS_TYPE_A, &a), -1);
}

/* --- dns_answer_each: the records themselves, for SPF -------------------- */

struct seen {
	unsigned	n;
	char		data[8][64];
	size_t		len[8];
};

static void
collect(void *arg, unsigned type, const void *data, size_t len)
{
	struct seen *s = arg;

	(void)type;
	if (s->n < 8) {
		memcpy(s->data[s->n], data, len < 64 ? len : 64);
		s->len[s->n] = len;
	}
	s->n++;
}

static int
each(const struct dns_msg *m, size_t len, unsigned type, struct seen *s)
{
	unsigned char	*copy = malloc(len ? len : 1);
	int		 rc;

	cr_assert_not_null(copy);
	memcpy(copy, m->b, len);
	memset(s, 0, sizeof(*s));
	rc = dns_answer_each(copy, len, type, collect, s);
	free(copy);
	return rc;
}

Test(dns_answer, each_gives_names_and_data)
{
	struct dns_msg	m;
	struct seen	s;
	size_t		mark;

	/* MX: the exchanges' names, a null MX as "", the CNAME on the
	 * way passed over. */
	full_message(&m);
	cr_assert_eq(each(&m, m.len, DNS_TYPE_MX, &s), 0);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.len[0], 0);
	cr_assert_eq(s.len[1], strlen("mx.example.test"));
	cr_assert(memcmp(s.data[1], "mx.example.test", s.len[1]) == 0);

	/* PTR behind a CNAME; TXT and A as their data. */
	msg_header(&m, 1, 0, 1, 4, 0);
	msg_question(&m, "4.3.2.1.in-addr.arpa", DNS_TYPE_PTR);
	msg_cname(&m, NULL, 60, "4.0-24.3.2.1.in-addr.arpa");
	mark = msg_rr(&m, "4.0-24.3.2.1.in-addr.arpa", DNS_TYPE_PTR, 60);
	msg_name(&m, "host.example.test");
	msg_rr_end(&m, mark);
	mark = msg_rr(&m, NULL, DNS_TYPE_TXT, 60);
	msg_bytes(&m, "\6v=spf1\4 -al\1l", 15);
	msg_rr_end(&m, mark);
	msg_a(&m, NULL, 60);
	cr_assert_eq(each(&m, m.len, DNS_TYPE_PTR, &s), 0);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.len[0], strlen("host.example.test"));
	cr_assert(memcmp(s.data[0], "host.example.test", s.len[0]) == 0);
	cr_assert_eq(each(&m, m.len, DNS_TYPE_TXT, &s), 0);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.len[0], 15);
	cr_assert(memcmp(s.data[0], "\6v=spf1\4 -al\1l", 15) == 0);
	cr_assert_eq(each(&m, m.len, DNS_TYPE_A, &s), 0);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.len[0], 4);
}

Test(dns_answer, each_refuses_cuts_and_stays_inside)
{
	struct dns_msg	m, bad;
	struct seen	s;

	/* The authority section is not read: a message without one. */
	msg_header(&m, 7, 0, 1, 3, 0);
	msg_question(&m, "example.test", DNS_TYPE_MX);
	msg_cname(&m, NULL, 100, "real.example.test");
	msg_mx(&m, "real.example.test", 200, 0, "");
	msg_mx(&m, "real.example.test", 300, 10, "mx.example.test");
	cr_assert_eq(each(&m, m.len, DNS_TYPE_MX, &s), 0);
	for (size_t len = 0; len < m.len; len++)
		cr_assert_eq(each(&m, len, DNS_TYPE_MX, &s), -1,
		    "cut at %zu of %zu accepted", len, m.len);
	for (size_t i = 12; i < m.len; i++) {
		static const unsigned char v[] = { 0x00, 0x3f, 0xc0, 0xff };

		for (size_t j = 0; j < sizeof(v); j++) {
			bad = m;
			bad.b[i] = v[j];
			(void)each(&bad, bad.len, DNS_TYPE_MX, &s);
		}
	}
}
