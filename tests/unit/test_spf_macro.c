/*
 * test_spf_macro - SPF macro expansion (RFC 7208 section 7): the
 * examples of RFC 7208 7.4, transformers and delimiters, URL escaping,
 * the letters only explanations have, the cut of over-long domains.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "auth/spf_macro.h"

static unsigned char ip4[4] = { 192, 0, 2, 3 };
static unsigned char ip6[16];

static struct spf_macro_ctx
ctx(void)
{
	struct spf_macro_ctx c = {
		.sender = "strong-bad@email.example.com",
		.local = "strong-bad",
		.sender_domain = "email.example.com",
		.domain = "email.example.com",
		.family = AF_INET,
		.ip = ip4,
		.helo = "mx.example.org",
		.ptr = NULL,
		.receiver = "mail.example.test",
		.now = 1234567890,
	};
	return c;
}

static const char *
expand(const struct spf_macro_ctx *c, enum spf_macro_kind kind,
    const char *s)
{
	static char out[SPF_EXPAND_MAX];

	cr_assert_eq(spf_macro_expand(s, strlen(s), kind, c, out,
	    sizeof(out)), 0, "%s did not expand", s);
	return out;
}

/* RFC 7208 7.4, for strong-bad@email.example.com from 192.0.2.3. */
Test(spf_macro, rfc7208_examples)
{
	static const char *const ex[][2] = {
		{ "%{s}", "strong-bad@email.example.com" },
		{ "%{o}", "email.example.com" },
		{ "%{d}", "email.example.com" },
		{ "%{d4}", "email.example.com" },
		{ "%{d3}", "email.example.com" },
		{ "%{d2}", "example.com" },
		{ "%{d1}", "com" },
		{ "%{dr}", "com.example.email" },
		{ "%{d2r}", "example.email" },
		{ "%{l}", "strong-bad" },
		{ "%{l-}", "strong.bad" },
		{ "%{lr}", "strong-bad" },
		{ "%{lr-}", "bad.strong" },
		{ "%{l1r-}", "strong" },
		{ "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com" },
		{ "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com" },
		{ "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
		    "bad.strong.lp.3.2.0.192.in-addr._spf.example.com" },
		{ "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
		    "3.2.0.192.in-addr.strong.lp._spf.example.com" },
		{ "%{d2}.trusted-domains.example.net",
		    "example.com.trusted-domains.example.net" },
	};
	struct spf_macro_ctx c = ctx();

	for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++)
		cr_expect_str_eq(expand(&c, SPF_MACRO_DOMAIN, ex[i][0]),
		    ex[i][1], "%s", ex[i][0]);
}

Test(spf_macro, ipv6_nibbles)
{
	struct spf_macro_ctx c = ctx();

	cr_assert_eq(inet_pton(AF_INET6, "2001:db8::cb01", ip6), 1);
	c.family = AF_INET6;
	c.ip = ip6;
	/* RFC 7208 7.4; DNS names are the same in either case. */
	cr_assert(strcasecmp(expand(&c, SPF_MACRO_DOMAIN,
	    "%{ir}.%{v}._spf.%{d2}"), "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com") == 0);
	cr_assert_str_eq(expand(&c, SPF_MACRO_EXPLAIN, "%{c}"),
	    "2001:db8::cb01");
}

Test(spf_macro, escapes_and_url_encoding)
{
	struct spf_macro_ctx c = ctx();

	cr_assert_str_eq(expand(&c, SPF_MACRO_EXPLAIN, "100%% sure%_%-x"),
	    "100% sure %20x");
	c.local = "~jack&jill=up-a_b3.c";
	cr_assert_str_eq(expand(&c, SPF_MACRO_EXPLAIN, "l=%{L}"),
	    "l=~jack%26jill%3Dup-a_b3.c");
	c.local = "foo-bar+zip+quux";
	/* Several delimiters; parts joined with dots. */
	cr_assert_str_eq(expand(&c, SPF_MACRO_DOMAIN,
	    "%{l2r+-}.user.%{d2}"), "bar.foo.user.example.com");
}

Test(spf_macro, explanation_letters)
{
	struct spf_macro_ctx c = ctx();

	cr_assert_str_eq(expand(&c, SPF_MACRO_EXPLAIN,
	    "%{c} to %{r} at %{t} (%{p})"),
	    "192.0.2.3 to mail.example.test at 1234567890 (unknown)");
	c.ptr = "mx.example.com";
	c.receiver = NULL;
	cr_assert_str_eq(expand(&c, SPF_MACRO_EXPLAIN, "%{p} %{r}"),
	    "mx.example.com unknown");
	/* Only explanations have c, r and t, and spaces. */
	cr_assert_not(spf_macro_valid("%{c}.example.com", 16,
	    SPF_MACRO_DOMAIN));
	cr_assert_not(spf_macro_valid("a b.example.com", 15,
	    SPF_MACRO_DOMAIN));
	cr_assert(spf_macro_valid("a b %{t}", 8, SPF_MACRO_EXPLAIN));
}

Test(spf_macro, invalid)
{
	static const char *const bad[] = { "%", "%a", "%{", "%{d", "%{d0}",
	    "%{q}", "%{d2x}", "%{dr2}", "x%{d}y%" };
	struct spf_macro_ctx c = ctx();
	char out[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(spf_macro_expand(bad[i], strlen(bad[i]),
		    SPF_MACRO_EXPLAIN, &c, out, sizeof(out)), -1, "%s",
		    bad[i]);
}

Test(spf_macro, uses_p)
{
	cr_assert(spf_macro_uses_p("%{p}.x", 6));
	cr_assert(spf_macro_uses_p("a%{P2}", 6));
	cr_assert_not(spf_macro_uses_p("%%{p}", 5));
	cr_assert_not(spf_macro_uses_p("%{d}", 4));
}

/* RFC 7208 7.3: too long for a query, labels go from the left. */
Test(spf_macro, long_domain_cut_from_the_left)
{
	struct spf_macro_ctx	c = ctx();
	char			dom[200], out[SPF_EXPAND_MAX];
	const char		*spec = "%{d}.%{d}.example.com";

	memset(dom, 'a', sizeof(dom));
	for (size_t i = 9; i < sizeof(dom) - 1; i += 10)
		dom[i] = '.';
	dom[sizeof(dom) - 1] = '\0';
	c.domain = dom;
	cr_assert_eq(spf_macro_expand(spec, strlen(spec), SPF_MACRO_DOMAIN,
	    &c, out, sizeof(out)), 0);
	cr_assert_leq(strlen(out), SPF_DOMAIN_MAX);
	cr_assert_gt(strlen(out), SPF_DOMAIN_MAX - 12);
	cr_assert_neq(out[0], '.');
	cr_assert(strstr(out, ".example.com") != NULL);
	/* A domain that cannot fit the output is an error, never cut. */
	cr_assert_eq(spf_macro_expand(spec, strlen(spec), SPF_MACRO_DOMAIN,
	    &c, out, 64), -1);
}
