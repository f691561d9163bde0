/*
 * test_spf - check_host() (auth/spf.h) driven through its whole DNS
 * dialogue by a zone held in memory: results of the mechanisms and
 * qualifiers, include and redirect, the explanation, the HELO identity,
 * and the limits of RFC 7208 4.6.4 (10 lookups, 2 void lookups, 10 MX
 * names, 10 PTR names) with loops of include and redirect, DNS errors,
 * and hostile answers (huge TXT records, thousands of records) whose
 * memory is not kept.
 */
#include <criterion/criterion.h>

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "auth/spf.h"

/* One record of the test zone: TXT as text, A and AAAA as addresses,
 * MX and PTR as names. Type 0 with "TEMPFAIL" makes every question for
 * the name fail. */
struct rr {
	const char	*name;
	unsigned	 type;
	const char	*data;
};

#define END	{ NULL, 0, NULL }

struct run {
	struct spf	*spf;
	unsigned	 questions;
	char		 asked[64][256];	/* the first questions' names */
};

/* feed_txt - text as TXT RDATA, in strings of at most 255 bytes */
static void
feed_txt(struct spf *s, const char *text)
{
	size_t		 len = strlen(text), n = 0;
	unsigned char	*rd = malloc(len + len / 255 + 2);

	cr_assert_not_null(rd);
	do {
		size_t chunk = len > 255 ? 255 : len;

		rd[n++] = (unsigned char)chunk;
		memcpy(rd + n, text, chunk);
		n += chunk;
		text += chunk;
		len -= chunk;
	} while (len > 0);
	spf_answer_rr(s, SPF_TYPE_TXT, rd, n);
	free(rd);
}

/* answer - what the zone says to one question */
static void
answer(const struct rr *zone, struct spf *s, const struct spf_query *q)
{
	bool	 exists = false;

	for (const struct rr *r = zone; r->name != NULL; r++) {
		if (strcasecmp(r->name, q->name) != 0)
			continue;
		exists = true;
		if (r->type == 0) {
			spf_answer_end(s, SPF_DNS_TEMPFAIL);
			return;
		}
		if (r->type != q->type)
			continue;
		if (r->type == SPF_TYPE_TXT) {
			feed_txt(s, r->data);
		} else if (r->type == SPF_TYPE_A || r->type == SPF_TYPE_AAAA) {
			unsigned char a[16];
			int fam = r->type == SPF_TYPE_A ? AF_INET : AF_INET6;

			cr_assert_eq(inet_pton(fam, r->data, a), 1);
			spf_answer_rr(s, r->type, a, fam == AF_INET ? 4 : 16);
		} else {
			spf_answer_rr(s, r->type, r->data, strlen(r->data));
		}
	}
	spf_answer_end(s, exists ? SPF_DNS_OK : SPF_DNS_NXDOMAIN);
}

/* check - a whole check of ip and mail_from against zone */
static struct run
check(const struct rr *zone, const char *ip, const char *from,
    const char *helo, const struct spf_limits *lim)
{
	struct spf_params	p = { 0 };
	struct spf_query	q;
	struct run		r = { 0 };
	unsigned char		addr[16];

	p.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	cr_assert_eq(inet_pton(p.family, ip, addr), 1);
	p.ip = addr;
	p.mail_from = from;
	p.helo = helo;
	p.receiver = "mx.example.test";
	p.now = 1000;
	p.limits = lim;
	cr_assert_not_null(r.spf = spf_new(&p));
	while (spf_step(r.spf, &q)) {
		cr_assert_lt(r.questions, 1000, "the check does not end");
		if (r.questions < 64)
			snprintf(r.asked[r.questions], 256, "%s", q.name);
		r.questions++;
		answer(zone, r.spf, &q);
	}
	return r;
}

static enum spf_result
result(const struct rr *zone, const char *ip, const char *from)
{
	struct run	r = check(zone, ip, from, "helo.example.org", NULL);
	enum spf_result	res = spf_result(r.spf);

	spf_free(r.spf);
	return res;
}

#define expect_result(zone, ip, from, want) \
	cr_expect_eq(result(zone, ip, from), want, "%s from %s: %s, not %s", \
	    from, ip, spf_result_name(result(zone, ip, from)), \
	    spf_result_name(want))

Test(spf, mechanisms_and_qualifiers)
{
	static const struct rr zone[] = {
		{ "example.com", SPF_TYPE_TXT, "v=spf1 ip4:192.0.2.0/24 "
		    "a:mail.example.com mx ?ip4:198.51.100.1 "
		    "~ip6:2001:db8::/32 -all" },
		{ "example.com", SPF_TYPE_TXT, "some other text" },
		{ "example.com", SPF_TYPE_MX, "mx.example.com" },
		{ "mail.example.com", SPF_TYPE_A, "203.0.113.5" },
		{ "mx.example.com", SPF_TYPE_A, "203.0.113.9" },
		END
	};

	expect_result(zone, "192.0.2.77", "a@example.com", SPF_PASS);
	expect_result(zone, "203.0.113.5", "a@example.com", SPF_PASS);
	expect_result(zone, "203.0.113.9", "a@example.com", SPF_PASS);
	expect_result(zone, "198.51.100.1", "a@example.com", SPF_NEUTRAL);
	expect_result(zone, "2001:db8::1", "a@example.com", SPF_SOFTFAIL);
	expect_result(zone, "198.51.100.2", "a@example.com", SPF_FAIL);
	/* IPv4-mapped IPv6 is IPv4. */
	expect_result(zone, "::ffff:192.0.2.1", "a@example.com", SPF_PASS);
	/* No record, no domain. */
	expect_result(zone, "192.0.2.1", "a@nothing.example.com", SPF_NONE);
	expect_result(zone, "192.0.2.1", "a@localhost", SPF_NONE);
}

Test(spf, include_and_redirect)
{
	static const struct rr zone[] = {
		{ "example.com", SPF_TYPE_TXT, "v=spf1 include:a.example.net "
		    "-include:b.example.net redirect=c.example.net" },
		{ "a.example.net", SPF_TYPE_TXT, "v=spf1 ip4:192.0.2.1 -all" },
		{ "b.example.net", SPF_TYPE_TXT, "v=spf1 ip4:192.0.2.2 ~all" },
		{ "c.example.net", SPF_TYPE_TXT, "v=spf1 ip4:192.0.2.3 ~all" },
		{ "none.example.com", SPF_TYPE_TXT, "v=spf1 "
		    "include:nothing.example.net" },
		{ "rnone.example.com", SPF_TYPE_TXT, "v=spf1 "
		    "redirect=nothing.example.net" },
		END
	};

	expect_result(zone, "192.0.2.1", "x@example.com", SPF_PASS);
	/* The include's pass takes its term's qualifier. */
	expect_result(zone, "192.0.2.2", "x@example.com", SPF_FAIL);
	/* Neither matches: redirect= decides. */
	expect_result(zone, "192.0.2.3", "x@example.com", SPF_PASS);
	expect_result(zone, "192.0.2.9", "x@example.com", SPF_SOFTFAIL);
	/* A target without a record is a permerror (RFC 7208 5.2, 6.1). */
	expect_result(zone, "192.0.2.9", "x@none.example.com", SPF_PERMERROR);
	expect_result(zone, "192.0.2.9", "x@rnone.example.com",
	    SPF_PERMERROR);
}

Test(spf, explanation_and_domain)
{
	static const struct rr zone[] = {
		{ "example.com", SPF_TYPE_TXT, "v=spf1 -all exp=why.%{d}" },
		{ "why.example.com", SPF_TYPE_TXT, "%{i} may not send for "
		    "%{o} (%{l})" },
		{ "two.example.com", SPF_TYPE_TXT, "v=spf1 -all "
		    "exp=two.why.example.com" },
		{ "long.example.com", SPF_TYPE_TXT, "v=spf1 -all "
		    "exp=%{l}" },
		{ "two.why.example.com", SPF_TYPE_TXT, "one" },
		{ "two.why.example.com", SPF_TYPE_TXT, "two" },
		END
	};
	struct run r;

	r = check(zone, "192.0.2.1", "joe@example.com", "h.example.org",
	    NULL);
	cr_assert_eq(spf_result(r.spf), SPF_FAIL);
	cr_assert_eq(spf_identity(r.spf), SPF_ID_MAILFROM);
	cr_assert_str_eq(spf_domain(r.spf), "example.com");
	cr_assert_str_eq(spf_explanation(r.spf),
	    "192.0.2.1 may not send for example.com (joe)");
	spf_free(r.spf);

	/* Two TXT records: as if there were no exp= (RFC 7208 6.2). */
	r = check(zone, "192.0.2.1", "joe@two.example.com", "", NULL);
	cr_assert_eq(spf_result(r.spf), SPF_FAIL);
	cr_assert_null(spf_explanation(r.spf));
	spf_free(r.spf);

	/* An exp= that does not expand to a name (one label of 300
	 * bytes): a fail without explanation, and no problem. */
	{
		char from[400];

		memset(from, 'a', 300);
		snprintf(from + 300, sizeof(from) - 300, "@long.example.com");
		r = check(zone, "192.0.2.1", from, "", NULL);
		cr_assert_eq(spf_result(r.spf), SPF_FAIL);
		cr_assert_null(spf_explanation(r.spf));
		cr_assert_str_eq(spf_problem(r.spf), "");
		spf_free(r.spf);
	}

	/* Null sender: postmaster@HELO. */
	r = check(zone, "192.0.2.1", "", "example.com", NULL);
	cr_assert_eq(spf_result(r.spf), SPF_FAIL);
	cr_assert_eq(spf_identity(r.spf), SPF_ID_HELO);
	cr_assert_str_eq(spf_domain(r.spf), "example.com");
	cr_assert_str_eq(spf_explanation(r.spf),
	    "192.0.2.1 may not send for example.com (postmaster)");
	spf_free(r.spf);
}

/* Found by fuzz_spf: names and macro values with control bytes never
 * reach the explanation, which goes into an SMTP reply. */
Test(spf, explanation_stays_printable)
{
	static const struct rr zone[] = {
		{ "example.com", SPF_TYPE_TXT, "v=spf1 -all exp=why.example.com" },
		{ "why.example.com", SPF_TYPE_TXT, "%{p} said %{h}" },
		{ "1.2.0.192.in-addr.arpa", SPF_TYPE_PTR, "bad\r\nname.example" },
		{ "1.2.0.192.in-addr.arpa", SPF_TYPE_PTR, "good.example" },
		{ "good.example", SPF_TYPE_A, "192.0.2.1" },
		{ "bad\r\nname.example", SPF_TYPE_A, "192.0.2.1" },
		END
	};
	struct run r;

	r = check(zone, "192.0.2.1", "x@example.com", "evil\r\n250 ok",
	    NULL);
	cr_assert_eq(spf_result(r.spf), SPF_FAIL);
	cr_assert_str_eq(spf_explanation(r.spf), "good.example said "
	    "evil??250 ok");
	spf_free(r.spf);
}

Test(spf, dns_errors_are_temperror)
{
	static const struct rr zone[] = {
		{ "example.com", SPF_TYPE_TXT, "v=spf1 a:broken.example.com "
		    "-all" },
		{ "broken.example.com", 0, "TEMPFAIL" },
		{ "ptr.example.com", SPF_TYPE_TXT, "v=spf1 ptr -all" },
		{ "1.2.0.192.in-addr.arpa", 0, "TEMPFAIL" },
		END
	};

	expect_result(zone, "192.0.2.1", "x@example.com", SPF_TEMPERROR);
	expect_result(zone, "192.0.2.1", "x@broken.example.com",
	    SPF_TEMPERROR);
	/* RFC 7208 5.5: a failed PTR lookup is no match, not an error. */
	expect_result(zone, "192.0.2.1", "x@ptr.example.com", SPF_FAIL);
}

Test(spf, ten_lookups_at_most)
{
	static const struct rr zone[] = {
		{ "ten.example.com", SPF_TYPE_TXT, "v=spf1 a a a a a a a a a "
		    "ip4:192.0.2.1 a -all" },
		{ "eleven.example.com", SPF_TYPE_TXT, "v=spf1 a a a a a a a a "
		    "a a ip4:192.0.2.1 a -all" },
		{ "ten.example.com", SPF_TYPE_A, "198.51.100.1" },
		{ "eleven.example.com", SPF_TYPE_A, "198.51.100.1" },
		END
	};
	struct spf_limits lim = SPF_LIMITS_DEFAULT;
	struct run r;

	expect_result(zone, "192.0.2.1", "x@ten.example.com", SPF_PASS);
	expect_result(zone, "192.0.2.2", "x@ten.example.com", SPF_FAIL);
	/* The 11th term that asks DNS is a permerror, matched or not. */
	expect_result(zone, "192.0.2.1", "x@eleven.example.com", SPF_PASS);
	expect_result(zone, "192.0.2.2", "x@eleven.example.com",
	    SPF_PERMERROR);
	/* The limit is a setting. */
	lim.dns_terms = 11;
	r = check(zone, "192.0.2.2", "x@eleven.example.com", "", &lim);
	cr_assert_eq(spf_result(r.spf), SPF_FAIL);
	spf_free(r.spf);
}

Test(spf, include_and_redirect_loops_end)
{
	static const struct rr zone[] = {
		{ "loop.example.com", SPF_TYPE_TXT, "v=spf1 "
		    "include:loop.example.com -all" },
		{ "r1.example.com", SPF_TYPE_TXT, "v=spf1 "
		    "redirect=r2.example.com" },
		{ "r2.example.com", SPF_TYPE_TXT, "v=spf1 "
		    "redirect=r1.example.com" },
		END
	};
	struct run r;

	r = check(zone, "192.0.2.1", "x@loop.example.com", "", NULL);
	cr_assert_eq(spf_result(r.spf), SPF_PERMERROR);
	cr_assert_leq(r.questions, 11);
	spf_free(r.spf);
	r = check(zone, "192.0.2.1", "x@r1.example.com", "", NULL);
	cr_assert_eq(spf_result(r.spf), SPF_PERMERROR);
	cr_assert_leq(r.questions, 11);
	spf_free(r.spf);
}

Test(spf, two_void_lookups_at_most)
{
	static const struct rr zone[] = {
		{ "two.example.com", SPF_TYPE_TXT, "v=spf1 a:n1.example.com "
		    "mx:n2.example.com ?all" },
		{ "three.example.com", SPF_TYPE_TXT, "v=spf1 a:n1.example.com "
		    "mx:n2.example.com exists:n3.example.com ?all" },
		{ "n2.example.com", SPF_TYPE_A, "192.0.2.9" },	/* no MX */
		END
	};

	expect_result(zone, "192.0.2.1", "x@two.example.com", SPF_NEUTRAL);
	expect_result(zone, "192.0.2.1", "x@three.example.com",
	    SPF_PERMERROR);
}

Test(spf, mx_names_limit)
{
	struct rr	zone[32] = {
		{ "ten.example.com", SPF_TYPE_TXT, "v=spf1 mx -all" },
		{ "eleven.example.com", SPF_TYPE_TXT, "v=spf1 mx -all" },
	};
	static char	names[11][32];
	size_t		n = 2;

	for (int i = 0; i < 11; i++) {
		snprintf(names[i], sizeof(names[i]), "mx%d.example.com", i);
		if (i < 10)
			zone[n++] = (struct rr){ "ten.example.com",
			    SPF_TYPE_MX, names[i] };
		zone[n++] = (struct rr){ "eleven.example.com", SPF_TYPE_MX,
		    names[i] };
	}
	zone[n++] = (struct rr){ "mx9.example.com", SPF_TYPE_A, "192.0.2.9" };
	zone[n] = (struct rr)END;
	expect_result(zone, "192.0.2.9", "x@ten.example.com", SPF_PASS);
	/* More than 10 MX records: permerror (RFC 7208 4.6.4). */
	expect_result(zone, "192.0.2.9", "x@eleven.example.com",
	    SPF_PERMERROR);
}

Test(spf, ptr_names_limit_and_p_macro)
{
	struct rr	zone[32] = {
		{ "example.com", SPF_TYPE_TXT, "v=spf1 ptr -all "
		    "exp=why.example.com" },
		{ "why.example.com", SPF_TYPE_TXT, "you are %{p}" },
		{ "h10.example.com", SPF_TYPE_A, "192.0.2.1" },
		{ "h3.other.example", SPF_TYPE_A, "192.0.2.1" },
	};
	static char	names[12][32];
	size_t		n = 4;
	struct run	r;

	/* Eleven names; only the 11th is under example.com and holds the
	 * address: beyond the first ten, it is never looked at. */
	for (int i = 0; i < 11; i++) {
		snprintf(names[i], sizeof(names[i]), i == 10 ?
		    "h10.example.com" : "h%d.other.example", i);
		zone[n++] = (struct rr){ "1.2.0.192.in-addr.arpa",
		    SPF_TYPE_PTR, names[i] };
	}
	zone[n] = (struct rr)END;
	r = check(zone, "192.0.2.1", "x@example.com", "", NULL);
	cr_assert_eq(spf_result(r.spf), SPF_FAIL);
	for (unsigned i = 0; i < r.questions && i < 64; i++)
		cr_assert(strcmp(r.asked[i], "h10.example.com") != 0);
	/* %{p}: a validated name (h3.other.example), none being under
	 * the domain. */
	cr_assert_str_eq(spf_explanation(r.spf), "you are h3.other.example");
	spf_free(r.spf);
}

/* A hostile answer: the check keeps nothing of what it does not need. */
Test(spf, huge_answers_use_no_memory)
{
	struct spf_params	 p = { 0 };
	struct spf_query	 q;
	struct spf		*s;
	unsigned char		 ip[4] = { 192, 0, 2, 1 }, rd[256 * 4];
	static char		 big[60 * 1024 + 2];
	struct mallinfo2	 before, after;

	p.family = AF_INET;
	p.ip = ip;
	p.mail_from = "x@example.com";
	cr_assert_not_null(s = spf_new(&p));
	cr_assert(spf_step(s, &q));
	cr_assert_eq(q.type, SPF_TYPE_TXT);
	/* 100000 TXT records of 1 KB that are not SPF: 100 MB fed. */
	for (size_t i = 0; i < sizeof(rd); i += 256) {
		rd[i] = 255;
		memset(rd + i + 1, 'x', 255);
	}
	before = mallinfo2();
	for (int i = 0; i < 100000; i++)
		spf_answer_rr(s, SPF_TYPE_TXT, rd, sizeof(rd));
	/* And one valid SPF record of 60 KB: over the 4 KB limit. */
	for (size_t i = 0; i < sizeof(big) - 1; i++)
		big[i] = " ?all"[(i + 4) % 5];	/* ends with a whole term */
	memcpy(big, "v=spf1", 6);
	feed_txt(s, big);
	after = mallinfo2();
	cr_assert_lt(after.uordblks, before.uordblks + 64 * 1024,
	    "%zu bytes kept", after.uordblks - before.uordblks);
	spf_answer_end(s, SPF_DNS_OK);
	cr_assert_not(spf_step(s, &q));
	cr_assert_eq(spf_result(s), SPF_PERMERROR);
	spf_free(s);
}

Test(spf, two_records_is_permerror)
{
	static const struct rr zone[] = {
		{ "example.com", SPF_TYPE_TXT, "v=spf1 +all" },
		{ "example.com", SPF_TYPE_TXT, "V=SPF1 -all" },
		{ "split.example.com", SPF_TYPE_TXT, "v=spf1 ip4:192.0.2.1 "
		    "ip4:192.0.2.2 ip4:192.0.2.3 ip4:192.0.2.4 ip4:192.0.2.5 "
		    "ip4:192.0.2.6 ip4:192.0.2.7 ip4:192.0.2.8 ip4:192.0.2.9 "
		    "ip4:192.0.2.10 ip4:192.0.2.11 ip4:192.0.2.12 "
		    "ip4:192.0.2.13 ip4:192.0.2.14 ip4:192.0.2.15 "
		    "ip4:192.0.2.16 ip4:192.0.2.17 ip4:192.0.2.18 "
		    "ip4:192.0.2.19 ip4:192.0.2.20 -all" },
		END
	};

	expect_result(zone, "192.0.2.1", "x@example.com", SPF_PERMERROR);
	/* A record over 255 bytes comes in several strings, joined. */
	expect_result(zone, "192.0.2.20", "x@split.example.com", SPF_PASS);
	expect_result(zone, "192.0.2.21", "x@split.example.com", SPF_FAIL);
}
