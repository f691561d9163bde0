/*
 * test_address - RFC 5321 path parser: every form, the relay probes,
 * the limits, and the formatting round trip.
 *
 * Probe values: SERVER_HOST mail.example.test, SERVER_IP 192.0.2.1,
 * OTHER_IP 192.0.2.14, TESTER_DOMAIN tester.example, TESTER_IP
 * 198.51.100.11, EXTERNAL_RCPT ksch90@external.example, BAD_DOMAIN
 * spam.mail.tester.example.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "smtp/address.h"

#define B	ADDR_F_BRACKETS

static const char e_syntax[] = "Syntax error in mailbox address";
static const char e_local[] = "Local part too long";
static const char e_domain[] = "Domain name too long";
static const char e_path[] = "Path too long";
static const char e_literal[] = "Bad address literal";
static const char e_control[] = "Control character in address";
static const char e_utf8[] = "Malformed UTF-8 in address";

/* ok_n - parse len bytes, expect success and every field */
static void
ok_n(const char *in, size_t len, int used, const char *local,
    const char *domain, const char *routed, unsigned flags)
{
	struct address	a;
	const char	*err = NULL;
	int		r;

	r = address_parse(in, len, &a, &err);
	cr_assert_eq(r, used, "%s: returned %d (%s), want %d", in, r,
	    err ? err : "no error", used);
	cr_assert_str_eq(a.local, local, "%s: local", in);
	cr_assert_str_eq(a.domain, domain, "%s: domain", in);
	cr_assert_str_eq(a.routed_domain, routed, "%s: routed_domain", in);
	cr_assert_eq(a.flags, flags, "%s: flags %#x, want %#x", in, a.flags,
	    flags);
}

/* ok - the whole string is the path */
static void
ok(const char *in, const char *local, const char *domain,
    const char *routed, unsigned flags)
{
	ok_n(in, strlen(in), (int)strlen(in), local, domain, routed, flags);
}

/* bad_n - parse len bytes, expect failure with this text */
static void
bad_n(const char *in, size_t len, const char *want)
{
	struct address	a;
	const char	*err = NULL;
	int		r;

	r = address_parse(in, len, &a, &err);
	cr_assert_eq(r, -1, "%s: accepted, returned %d", in, r);
	cr_assert_not_null(err, "%s: no error text", in);
	cr_assert_str_eq(err, want, "%s", in);
}

static void
bad(const char *in, const char *want)
{
	bad_n(in, strlen(in), want);
}

/* labels - join labels of 'a' of the given lengths with dots */
static void
labels(char *out, size_t cap, const size_t *lens, size_t n)
{
	size_t	pos = 0, i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			out[pos++] = '.';
		cr_assert_lt(pos + lens[i], cap);
		memset(out + pos, 'a', lens[i]);
		pos += lens[i];
	}
	out[pos] = '\0';
}

/* build - snprintf that fails the test instead of truncating */
__attribute__((format(printf, 3, 4)))
static void
build(char *out, size_t cap, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < cap, "test buffer too small");
}

/* repeat - n copies of c */
static void
repeat(char *out, size_t cap, char c, size_t n)
{
	cr_assert_lt(n, cap);
	memset(out, c, n);
	out[n] = '\0';
}

/* ---- forms ---- */

Test(forms, bracketed)
{
	ok("<user@example.org>", "user", "example.org", "", B);
}

Test(forms, bare)
{
	ok("user@example.org", "user", "example.org", "", 0);
}

Test(forms, null_path)
{
	ok("<>", "", "", "", ADDR_F_NULL | B);
	ok_n("<> SIZE=100", 11, 2, "", "", "", ADDR_F_NULL | B);
}

Test(forms, parameters_after_brackets)
{
	ok_n("<a@b> SIZE=10", 13, 5, "a", "b", "", B);
	ok_n("<a@b>\tBODY=8BITMIME", 19, 5, "a", "b", "", B);
	ok_n("<a@b>   ", 8, 5, "a", "b", "", B);
}

Test(forms, bare_stops_at_blank)
{
	ok_n("user@example.org SIZE=10", 24, 16, "user", "example.org", "",
	    0);
	ok_n("a@b\tSIZE=10", 11, 3, "a", "b", "", 0);
	ok_n("postmaster BODY=7BIT", 20, 10, "postmaster", "", "",
	    ADDR_F_NODOMAIN);
	/* a blank inside quotes does not end the path */
	ok_n("\"a b\"@c SIZE=1", 14, 7, "a b", "c", "", ADDR_F_QUOTED);
}

Test(forms, len_is_honoured)
{
	/* not NUL-terminated where len ends: "<a@b.c>" out of a longer buffer */
	ok_n("<a@b.c>xyz", 7, 7, "a", "b.c", "", B);
	ok_n("a@b.cxyz", 5, 5, "a", "b.c", "", 0);
}

Test(forms, source_route)
{
	ok("<@a.example,@b.example:user@c.example>", "user", "c.example", "",
	    B | ADDR_F_ROUTE);
	ok("<@[192.0.2.9]:u@x.example>", "u", "x.example", "",
	    B | ADDR_F_ROUTE);
	ok("@a.example:u@x.example", "u", "x.example", "", ADDR_F_ROUTE);
	ok("<@A.Example.:Postmaster>", "Postmaster", "", "",
	    B | ADDR_F_ROUTE | ADDR_F_NODOMAIN);
}

Test(forms, source_route_errors)
{
	bad("<@a.example>", e_syntax);
	bad("<@a.example:>", e_syntax);
	bad("<@a.example,b.example:u@c>", e_syntax);
	bad("<@:u@c>", e_syntax);
	bad("<@a..b:u@c>", e_syntax);
	bad("<@a.example;u@c>", e_syntax);
	bad("<@[300.1.1.1]:u@c>", e_literal);
	bad("@a.example", e_syntax);
}

Test(forms, quoted)
{
	ok("\"a b\"@example.org", "a b", "example.org", "", ADDR_F_QUOTED);
	ok("<\"a b\"@example.org>", "a b", "example.org", "",
	    B | ADDR_F_QUOTED);
	ok("\"a\\\"b\\\\c\"@x", "a\"b\\c", "x", "", ADDR_F_QUOTED);
	ok("\"\\a\"@x", "a", "x", "", ADDR_F_QUOTED);
	ok("\"\"@x", "", "x", "", ADDR_F_QUOTED);
	ok("\"Joe.Q.Public\"@x", "Joe.Q.Public", "x", "", ADDR_F_QUOTED);
	ok("\"<>\"@x", "<>", "x", "", ADDR_F_QUOTED);
	ok("<\"a>b\"@x>", "a>b", "x", "", B | ADDR_F_QUOTED);
}

Test(forms, dot_string)
{
	ok("a.b.c@x", "a.b.c", "x", "", 0);
	ok("!#$&'*+-/=?^_`{|}~@x", "!#$&'*+-/=?^_`{|}~", "x", "",
	    ADDR_F_ROUTING);	/* '!' */
	ok("#$&'*+-/=?^_`{|}~@x", "#$&'*+-/=?^_`{|}~", "x", "", 0);
	ok("Mixed.Case@x", "Mixed.Case", "x", "", 0);
}

Test(forms, literal_ipv4)
{
	ok("user@[192.0.2.1]", "user", "[192.0.2.1]", "", ADDR_F_LITERAL);
	ok("<user@[192.0.2.1]>", "user", "[192.0.2.1]", "",
	    B | ADDR_F_LITERAL);
}

Test(forms, literal_ipv6)
{
	ok("user@[IPv6:2001:db8::1]", "user", "[IPv6:2001:db8::1]", "",
	    ADDR_F_LITERAL);
	ok("user@[ipv6:2001:DB8::A]", "user", "[IPv6:2001:db8::a]", "",
	    ADDR_F_LITERAL);
	ok("<u@[IPV6:::FFFF:192.0.2.1]>", "u", "[IPv6:::ffff:192.0.2.1]", "",
	    B | ADDR_F_LITERAL);
}

Test(forms, literal_errors)
{
	bad("u@[300.1.1.1]", e_literal);
	bad("u@[1.2.3]", e_literal);
	bad("u@[192.0.2.01]", e_literal);
	bad("u@[]", e_literal);
	bad("u@[IPv6:]", e_literal);
	bad("u@[IPv6:zz::1]", e_literal);
	bad("u@[IPv6:192.0.2.1]", e_literal);
	bad("u@[2001:db8::1]", e_literal);	/* no tag */
	bad("u@[x-tag:foo]", e_literal);	/* general literal */
	bad("u@[192.0.2.1", e_literal);
	bad("<u@[192.0.2.1>", e_literal);
	bad("u@[192.0.2.1 ]", e_literal);
	bad("u@[IPv6:1:2:3:4:5:6:7:8:9:10:11:12:13:14:15:16:17]", e_literal);
	bad("u@[192.0.2.1]x", e_syntax);
	bad("u@[192.0.2.1].example", e_syntax);
}

Test(forms, no_domain)
{
	ok("postmaster", "postmaster", "", "", ADDR_F_NODOMAIN);
	ok("<postmaster>", "postmaster", "", "", B | ADDR_F_NODOMAIN);
	ok("<Postmaster>", "Postmaster", "", "", B | ADDR_F_NODOMAIN);
	ok("\"a b\"", "a b", "", "", ADDR_F_QUOTED | ADDR_F_NODOMAIN);
}

Test(forms, domain_case_and_trailing_dot)
{
	ok("a@Example.COM.", "a", "example.com", "", 0);
	ok("<A@EXAMPLE.com.>", "A", "example.com", "", B);
	ok("a@x-y.example", "a", "x-y.example", "", 0);
	ok("a@123.example", "a", "123.example", "", 0);
}

Test(forms, domain_errors)
{
	bad("a@b..c", e_syntax);
	bad("a@.b", e_syntax);
	bad("a@b..", e_syntax);
	bad("a@.", e_syntax);
	bad("a@", e_syntax);
	bad("<a@>", e_syntax);
	bad("a@ b", e_syntax);
	bad("a@-b.c", e_syntax);
	bad("a@b-.c", e_syntax);
	bad("a@b.-c", e_syntax);
	bad("a@b-", e_syntax);
	bad("a@b_c.d", e_syntax);
	bad("<a@b,c>", e_syntax);
}

Test(forms, domain_label_limit)
{
	char		d[128], in[160];
	size_t		l63[] = { 63, 3 }, l64[] = { 64, 3 };

	labels(d, sizeof d, l63, 2);
	build(in, sizeof in, "a@%s", d);
	ok(in, "a", d, "", 0);

	labels(d, sizeof d, l64, 2);
	build(in, sizeof in, "a@%s", d);
	bad(in, e_syntax);
}

Test(forms, local_errors)
{
	bad(".a@b", e_syntax);
	bad("a.@b", e_syntax);
	bad("a..b@c", e_syntax);
	bad("<a b@c>", e_syntax);
	bad("<a(b)@c>", e_syntax);
	bad("a,b@c", e_syntax);
	bad("<a,b@c>", e_syntax);
	bad("a\"b\"@c", e_syntax);
	bad("\"a\"x@b", e_syntax);
	bad("\"a\".b@c", e_syntax);
	bad("<@b>", e_syntax);
	bad("@b", e_syntax);
}

Test(forms, utf8)
{
	/* "J\xc3\xb6" = Jö, "ex\xc3\xa4mple" = exämple */
	ok("<J\xc3\xb6@Ex\xc3\xa4mple.ORG>", "J\xc3\xb6", "ex\xc3\xa4mple.org",
	    "", B | ADDR_F_UTF8);
	ok("\"\xc3\xbc x\"@y", "\xc3\xbc x", "y", "",
	    ADDR_F_QUOTED | ADDR_F_UTF8);
	ok("a@\xc3\xa4.example", "a", "\xc3\xa4.example", "", ADDR_F_UTF8);
	ok("a@b", "a", "b", "", 0);
	bad("a@[192.0.2.\xc3\xa4]", e_literal);
	/* 4 octets (U+1F600) and the last code point, U+10FFFF */
	ok("\xf0\x9f\x98\x80@x", "\xf0\x9f\x98\x80", "x", "", ADDR_F_UTF8);
	ok("a@\xf4\x8f\xbf\xbf", "a", "\xf4\x8f\xbf\xbf", "", ADDR_F_UTF8);
	/* RFC 6531 wants UTF-8: no Latin-1, stray continuation, cut-off
	 * sequence, overlong form, surrogate, or code point past U+10FFFF */
	bad("j\xf6rg@x", e_utf8);
	bad("<a@\x80x>", e_utf8);
	bad("\"a\xc3\"@x", e_utf8);
	bad("a@x\xc3", e_utf8);
	bad("\xc0\xafx@x", e_utf8);
	bad("\xe0\x80\xaf@x", e_utf8);
	bad("\xed\xa0\x80@x", e_utf8);
	bad("\xf4\x90\x80\x80@x", e_utf8);
	bad("\xf5\x80\x80\x80@x", e_utf8);
}

/* ---- the open-relay probes (relay-probes.md) ---- */

Test(probes, baseline)
{
	ok("<ksch@mail.example.test>", "ksch", "mail.example.test", "", B);
	ok("<ksch90@external.example>", "ksch90", "external.example", "", B);
}

Test(probes, p01_external_sender_and_rcpt)
{
	ok("ksch@tester.example", "ksch", "tester.example", "", 0);
}

Test(probes, p02_bad_domain)
{
	ok("spamtest@spam.mail.tester.example", "spamtest",
	    "spam.mail.tester.example", "", 0);
}

Test(probes, p03_localhost)
{
	ok("relaytest@localhost", "relaytest", "localhost", "", 0);
}

Test(probes, p04_unqualified)
{
	ok("<relaytest>", "relaytest", "", "", B | ADDR_F_NODOMAIN);
}

Test(probes, p05_null_sender)
{
	ok("<>", "", "", "", B | ADDR_F_NULL);
	ok("ksch90@external.example", "ksch90", "external.example", "", 0);
}

Test(probes, p06_own_fqdn_sender)
{
	ok("root@mail.example.test", "root", "mail.example.test", "", 0);
}

Test(probes, p07_own_literal_sender)
{
	ok("spamtest@[192.0.2.1]", "spamtest", "[192.0.2.1]", "",
	    ADDR_F_LITERAL);
}

Test(probes, p08_percent_via_name)
{
	ok("ksch90%external.example@mail.example.test",
	    "ksch90%external.example", "mail.example.test", "external.example",
	    ADDR_F_ROUTING);
}

Test(probes, p09_percent_via_literal)
{
	ok("ksch%tester.example@[192.0.2.1]", "ksch%tester.example",
	    "[192.0.2.1]", "tester.example", ADDR_F_ROUTING | ADDR_F_LITERAL);
}

Test(probes, p10_quoted_whole_address)
{
	unsigned f = ADDR_F_QUOTED | ADDR_F_NODOMAIN | ADDR_F_ROUTING;

	ok("\"ksch90@external.example\"", "ksch90@external.example", "",
	    "external.example", f);
	ok("\"ksch@tester.example\"", "ksch@tester.example", "",
	    "tester.example", f);
}

Test(probes, p11_quoted_percent)
{
	unsigned f = ADDR_F_QUOTED | ADDR_F_NODOMAIN | ADDR_F_ROUTING;

	ok("\"ksch90%external.example\"", "ksch90%external.example", "",
	    "external.example", f);
	ok("\"ksch%tester.example\"", "ksch%tester.example", "",
	    "tester.example", f);
}

Test(probes, p12_quoted_double_at)
{
	unsigned f = ADDR_F_QUOTED | ADDR_F_NODOMAIN | ADDR_F_ROUTING;

	ok("ksch@[192.0.2.1]", "ksch", "[192.0.2.1]", "", ADDR_F_LITERAL);
	ok("\"ksch90@external.example@mail.example.test\"",
	    "ksch90@external.example@mail.example.test", "",
	    "mail.example.test", f);
	/* the original's upper case server name, lower-cased */
	ok("\"ksch90@korea.com@SERVER\"", "ksch90@korea.com@SERVER", "",
	    "server", f);
}

Test(probes, p13_quoted_address_at_literal)
{
	ok("\"ksch90@external.example\"@[192.0.2.1]",
	    "ksch90@external.example", "[192.0.2.1]", "external.example",
	    ADDR_F_QUOTED | ADDR_F_ROUTING | ADDR_F_LITERAL);
}

Test(probes, p14_unquoted_double_at)
{
	bad("ksch90@external.example@[192.0.2.1]", e_syntax);
	bad("<ksch90@external.example@[192.0.2.1]>", e_syntax);
	bad("ksch90@korea.com@[172.16.4.140]", e_syntax);
}

Test(probes, p15_route_via_name)
{
	ok("ksch@[192.0.2.1]", "ksch", "[192.0.2.1]", "", ADDR_F_LITERAL);
	ok("@mail.example.test:root@tester.example", "root", "tester.example",
	    "", ADDR_F_ROUTE);
	ok("<@mail.example.test:root@tester.example>", "root",
	    "tester.example", "", B | ADDR_F_ROUTE);
}

Test(probes, p16_route_via_tester_literal)
{
	ok("@[198.51.100.11]:root@tester.example", "root", "tester.example",
	    "", ADDR_F_ROUTE);
	ok("<@[198.51.100.11]:root@tester.example>", "root", "tester.example",
	    "", B | ADDR_F_ROUTE);
}

Test(probes, p17_bang_path)
{
	ok("ksch@[192.0.2.14]", "ksch", "[192.0.2.14]", "", ADDR_F_LITERAL);
	ok("<tester.example!root>", "tester.example!root", "", "tester.example",
	    B | ADDR_F_NODOMAIN | ADDR_F_ROUTING);
	ok("tester.example!nobody", "tester.example!nobody", "",
	    "tester.example", ADDR_F_NODOMAIN | ADDR_F_ROUTING);
	ok("tester.example!root", "tester.example!root", "", "tester.example",
	    ADDR_F_NODOMAIN | ADDR_F_ROUTING);
}

Test(probes, p18_bang_path_at_literal)
{
	ok("tester.example!nobody@[192.0.2.14]", "tester.example!nobody",
	    "[192.0.2.14]", "tester.example", ADDR_F_ROUTING | ADDR_F_LITERAL);
}

Test(probes, p19_postmaster_sender)
{
	ok("postmaster@mail.example.test", "postmaster", "mail.example.test",
	    "", 0);
	ok("root@tester.example", "root", "tester.example", "", 0);
}

/* ---- routing tricks ---- */

Test(routing, percent_last_wins)
{
	ok("a%b%c@d", "a%b%c", "d", "c", ADDR_F_ROUTING);
	ok("\"a%B.Example.\"@d", "a%B.Example.", "d", "b.example",
	    ADDR_F_QUOTED | ADDR_F_ROUTING);
	bad("a%B.Example.@d", e_syntax);	/* trailing dot unquoted */
}

Test(routing, bang_first_wins)
{
	ok("b!a", "b!a", "", "b", ADDR_F_NODOMAIN | ADDR_F_ROUTING);
	ok("host!user@x", "host!user", "x", "host", ADDR_F_ROUTING);
	ok("Host.!a!b@x", "Host.!a!b", "x", "host", ADDR_F_ROUTING);
}

Test(routing, inner_at_last_wins)
{
	ok("\"a@b\"@c", "a@b", "c", "b", ADDR_F_QUOTED | ADDR_F_ROUTING);
	ok("\"a@b\"", "a@b", "", "b",
	    ADDR_F_QUOTED | ADDR_F_NODOMAIN | ADDR_F_ROUTING);
	ok("\"a@b@C\"@d", "a@b@C", "d", "c", ADDR_F_QUOTED | ADDR_F_ROUTING);
}

Test(routing, precedence)
{
	/* inner @ before %, % before ! */
	ok("\"x!y%z@w\"@d", "x!y%z@w", "d", "w",
	    ADDR_F_QUOTED | ADDR_F_ROUTING);
	ok("\"x@y%z\"@d", "x@y%z", "d", "y%z", ADDR_F_QUOTED | ADDR_F_ROUTING);
	ok("a!b%c@d", "a!b%c", "d", "c", ADDR_F_ROUTING);
	ok("a%b!c@d", "a%b!c", "d", "b!c", ADDR_F_ROUTING);
}

Test(routing, empty_hop_still_flagged)
{
	ok("a%@d", "a%", "d", "", ADDR_F_ROUTING);
	ok("!a@d", "!a", "d", "", ADDR_F_ROUTING);
	ok("\"a@\"@d", "a@", "d", "", ADDR_F_QUOTED | ADDR_F_ROUTING);
}

Test(routing, none)
{
	ok("a.b-c+tag@d", "a.b-c+tag", "d", "", 0);
	ok("\"a b\"@d", "a b", "d", "", ADDR_F_QUOTED);
}

/* ---- control characters ---- */

Test(control, inside_the_path)
{
	bad("<a\rb@c>", e_control);
	bad("<a@b\nc>", e_control);
	bad("<a@b\r\n>", e_control);
	bad("\"a\tb\"@c", e_control);
	bad("\"a\\\x01\"@c", e_control);
	bad("\"a\x7f\"@c", e_control);
	bad("a\x7f@c", e_control);
	bad("<a@b\t>", e_control);
	bad("<\t>", e_control);
	bad("a@[192.0.2.1\r]", e_control);
	bad("a@b\r\n", e_control);	/* the caller strips CRLF */
	bad("a\x1b@b", e_control);
}

Test(control, nul_in_the_middle)
{
	bad_n("<a\0b@c>", 7, e_control);
	bad_n("a@b\0c", 5, e_control);
	bad_n("\"a\0\"@c", 6, e_control);
	bad_n("<a@b>\0", 6, e_control);
	bad_n("<\0>", 3, e_control);
	bad_n("\0", 1, e_control);
}

/* ---- unbalanced, nested, trailing garbage ---- */

Test(structure, unbalanced)
{
	bad("<a@b", e_syntax);
	bad("a@b>", e_syntax);
	bad("\"abc@d", e_syntax);
	bad("<\"a@b>", e_syntax);
	bad("\"a\\\"", e_syntax);
	bad("\"a\\", e_syntax);
	bad("<", e_syntax);
	bad("\"", e_syntax);
	bad(">", e_syntax);
	bad("<<a@b>>", e_syntax);
	bad("<<>>", e_syntax);
	bad("<a@b>>", e_syntax);
}

Test(structure, empty)
{
	bad_n("", 0, e_syntax);
	bad(" ", e_syntax);
	bad("< >", e_syntax);
	bad("<@>", e_syntax);
}

Test(structure, trailing_garbage)
{
	bad("<a@b>x", e_syntax);
	bad("<a@b>,", e_syntax);
	bad("<>x", e_syntax);
	bad("a@b@c", e_syntax);
	bad("a@b<c>", e_syntax);
	bad("a@b\"c\"", e_syntax);
}

/* ---- limits ---- */

Test(limits, local_part_64)
{
	char	local[80], in[128];

	repeat(local, sizeof local, 'x', 64);
	build(in, sizeof in, "<%s@example.org>", local);
	ok(in, local, "example.org", "", B);

	repeat(local, sizeof local, 'x', 65);
	build(in, sizeof in, "<%s@example.org>", local);
	bad(in, e_local);
	build(in, sizeof in, "%s", local);
	bad(in, e_local);
}

Test(limits, quoted_local_part_counts_unquoted)
{
	char	in[256], want[80];
	size_t	i, n = 0;

	/* 64 escaped quotes: 130 octets written, 64 unquoted */
	in[n++] = '"';
	for (i = 0; i < 64; i++) {
		in[n++] = '\\';
		in[n++] = '"';
	}
	memcpy(in + n, "\"@x", 4);
	repeat(want, sizeof want, '"', 64);
	ok(in, want, "x", "", ADDR_F_QUOTED);

	n = 0;
	in[n++] = '"';
	for (i = 0; i < 65; i++)
		in[n++] = 'q';
	memcpy(in + n, "\"@x", 4);
	bad(in, e_local);
}

Test(limits, domain_255)
{
	char	d[300], in[320];
	size_t	l255[] = { 63, 63, 63, 63 };	/* 4 * 63 + 3 = 255 */
	size_t	l256[] = { 63, 63, 63, 62, 1 };	/* 251 + 1 + 4 = 256 */

	labels(d, sizeof d, l255, 4);
	cr_assert_eq(strlen(d), 255);
	/* the domain check passes; "a@" + 255 cannot fit a 256 path */
	build(in, sizeof in, "a@%s", d);
	bad(in, e_path);
	build(in, sizeof in, "a@%s.", d);	/* trailing dot dropped */
	bad(in, e_path);

	labels(d, sizeof d, l256, 5);
	cr_assert_eq(strlen(d), 256);
	build(in, sizeof in, "a@%s", d);
	bad(in, e_domain);
	build(in, sizeof in, "<a@%s>", d);
	bad(in, e_domain);
}

Test(limits, path_256)
{
	char	local[80], d[300], in[320];
	size_t	l189[] = { 63, 63, 61 };	/* 189 */
	size_t	l190[] = { 63, 63, 62 };	/* 190 */

	repeat(local, sizeof local, 'x', 64);

	/* "<" + 64 + "@" + 189 + ">" = 256 */
	labels(d, sizeof d, l189, 3);
	build(in, sizeof in, "<%s@%s>", local, d);
	cr_assert_eq(strlen(in), 256);
	ok(in, local, d, "", B);
	ok_n(in, 256, 256, local, d, "", B);

	labels(d, sizeof d, l190, 3);
	build(in, sizeof in, "<%s@%s>", local, d);
	cr_assert_eq(strlen(in), 257);
	bad(in, e_path);

	/* bare: the bytes used count the same way */
	build(in, sizeof in, "%s@%s", local, d);
	cr_assert_eq(strlen(in), 255);
	ok(in, local, d, "", 0);
	build(in, sizeof in, "%s@%s.x", local, d);
	cr_assert_eq(strlen(in), 257);
	bad(in, e_path);
}

Test(limits, long_route_is_path_too_long)
{
	char	in[600];
	size_t	n = 0;

	in[n++] = '<';
	while (n < 500) {
		memcpy(in + n, "@r.example,", 11);
		n += 11;
	}
	memcpy(in + n, "@r.example:a@b>", 16);
	bad(in, e_path);
}

/* ---- formatting ---- */

static void
fmt(const char *in, const char *want)
{
	struct address	a;
	const char	*err = NULL;
	char		out[512];
	int		r;

	cr_assert_neq(address_parse(in, strlen(in), &a, &err), -1, "%s: %s",
	    in, err);
	r = address_format(&a, out, sizeof out);
	cr_assert_eq(r, (int)strlen(want), "%s: returned %d", in, r);
	cr_assert_str_eq(out, want, "%s", in);
}

Test(format, forms)
{
	fmt("<user@example.org>", "user@example.org");
	fmt("<>", "");
	fmt("postmaster", "postmaster");
	fmt("<Postmaster>", "Postmaster");
	fmt("\"a b\"@x", "\"a b\"@x");
	fmt("\"a\\\"b\\\\c\"@x", "\"a\\\"b\\\\c\"@x");
	fmt("\"abc\"@x", "abc@x");		/* quotes not needed */
	fmt("\"\\a\"@x", "a@x");
	fmt("\".a\"@x", "\".a\"@x");
	fmt("\"a..b\"@x", "\"a..b\"@x");
	fmt("\"a.\"@x", "\"a.\"@x");
	fmt("\"\"@x", "\"\"@x");
	fmt("\"a@b\"@c", "\"a@b\"@c");
	fmt("\"a@b\"", "\"a@b\"");
	fmt("a%b@c", "a%b@c");
	fmt("<@r.example:u@[IPv6:2001:DB8::1]>", "u@[IPv6:2001:db8::1]");
	fmt("A@Example.COM.", "A@example.com");
	fmt("\"J\xc3\xb6\"@x", "J\xc3\xb6@x");
}

Test(format, buffer_size)
{
	struct address	a;
	const char	*err;
	char		out[16];

	cr_assert_eq(address_parse("<abc@d.e>", 9, &a, &err), 9);
	cr_assert_eq(address_format(&a, out, 8), 7);	/* exact fit */
	cr_assert_str_eq(out, "abc@d.e");
	cr_assert_eq(address_format(&a, out, 7), -1);
	cr_assert_str_eq(out, "");
	cr_assert_eq(address_format(&a, out, 0), -1);

	cr_assert_eq(address_parse("\"a b\"@c", 7, &a, &err), 7);
	cr_assert_eq(address_format(&a, out, 8), 7);
	cr_assert_str_eq(out, "\"a b\"@c");
	cr_assert_eq(address_format(&a, out, 6), -1);

	cr_assert_eq(address_parse("<>", 2, &a, &err), 2);
	cr_assert_eq(address_format(&a, out, 1), 0);
	cr_assert_str_eq(out, "");
}

Test(format, refuses_control_characters)
{
	struct address	a;
	char		out[64];

	memset(&a, 0, sizeof a);
	strcpy(a.local, "a\r\nRCPT");
	strcpy(a.domain, "x");
	cr_assert_eq(address_format(&a, out, sizeof out), -1);

	strcpy(a.local, "a");
	strcpy(a.domain, "x\ny");
	cr_assert_eq(address_format(&a, out, sizeof out), -1);

	memset(a.local, 'a', sizeof a.local);	/* not terminated */
	strcpy(a.domain, "x");
	cr_assert_eq(address_format(&a, out, sizeof out), -1);
}

Test(format, round_trip)
{
	static const char *const in[] = {
		"<user@example.org>", "\"a b\"@x", "\"a\\\"b\\\\c\"@x",
		"\"ksch90@external.example\"@[192.0.2.1]",
		"\"ksch90@external.example@mail.example.test\"",
		"tester.example!root", "ksch90%external.example@mail.example.test",
		"<@a.example,@b.example:user@c.example>",
		"user@[IPv6:2001:DB8::1]", "\"\"@x", "\".\"@x", "postmaster",
		"\"\\\\\"", "J\xc3\xb6@ex\xc3\xa4mple.org",
	};
	unsigned	keep = ~(unsigned)(ADDR_F_BRACKETS | ADDR_F_ROUTE |
	    ADDR_F_QUOTED);
	struct address	a, b;
	const char	*err = NULL;
	char		out[512];
	size_t		i;
	int		r;

	for (i = 0; i < sizeof in / sizeof in[0]; i++) {
		cr_assert_neq(address_parse(in[i], strlen(in[i]), &a, &err), -1,
		    "%s: %s", in[i], err);
		r = address_format(&a, out, sizeof out);
		cr_assert_gt(r, 0, "%s", in[i]);
		cr_assert_eq(address_parse(out, (size_t)r, &b, &err), r,
		    "%s -> %s: %s", in[i], out, err);
		cr_assert_str_eq(b.local, a.local, "%s -> %s", in[i], out);
		cr_assert_str_eq(b.domain, a.domain, "%s -> %s", in[i], out);
		cr_assert_str_eq(b.routed_domain, a.routed_domain, "%s", in[i]);
		cr_assert_eq(b.flags & keep, a.flags & keep, "%s -> %s",
		    in[i], out);
	}
}

/* ---- domain_equal ---- */

Test(domain_equal, cases)
{
	cr_assert_eq(domain_equal("Example.COM", "example.com."), 1);
	cr_assert_eq(domain_equal("example.com.", "EXAMPLE.COM."), 1);
	cr_assert_eq(domain_equal("example.com", "example.com"), 1);
	cr_assert_eq(domain_equal("", ""), 1);
	cr_assert_eq(domain_equal("a.b", "a.c"), 0);
	cr_assert_eq(domain_equal("a.b..", "a.b"), 0);
	cr_assert_eq(domain_equal("a", "ab"), 0);
	cr_assert_eq(domain_equal("ab", "a"), 0);
	cr_assert_eq(domain_equal("[192.0.2.1]", "[192.0.2.1]"), 1);
	cr_assert_eq(domain_equal("ex\xc3\xa4mple", "EX\xc3\xa4MPLE"), 1);
	cr_assert_eq(domain_equal("\xc3\xa4", "\xc3\x84"), 0); /* ASCII only */
	cr_assert_eq(domain_equal(NULL, "a"), 0);
}
