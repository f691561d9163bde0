/*
 * test_spf_record - SPF record syntax (RFC 7208 sections 4.5, 4.6, 12):
 * the version, each mechanism with its qualifier, argument and prefix
 * lengths, modifiers, and the errors that make a record a permerror.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "auth/spf_record.h"

static int
check(const char *rec)
{
	struct spf_term	 r, e;
	const char	*err;

	return spf_record_check(rec, strlen(rec), &r, &e, &err);
}

/* first - the first term after the version */
static struct spf_term
first(const char *rec)
{
	struct spf_term	 t;
	const char	*err = NULL;
	size_t		 pos = spf_record_version(rec, strlen(rec));

	cr_assert_neq(pos, 0, "%s: no version", rec);
	cr_assert_eq(spf_term_next(rec, strlen(rec), &pos, &t, &err), 1,
	    "%s: %s", rec, err ? err : "no term");
	return t;
}

Test(spf_record, version)
{
	cr_assert_eq(spf_record_version("v=spf1", 6), 6);
	cr_assert_eq(spf_record_version("V=SpF1 -all", 11), 6);
	cr_assert_eq(spf_record_version("v=spf10", 7), 0);
	cr_assert_eq(spf_record_version("v=spf1-all", 10), 0);
	cr_assert_eq(spf_record_version("spf2.0/pra", 10), 0);
	cr_assert_eq(spf_record_version("v=spf", 5), 0);
}

Test(spf_record, valid_records)
{
	static const char *const ok[] = {
		"v=spf1",
		"v=spf1 ",
		"v=spf1  -all  ",
		"v=spf1 +a -mx ~ptr ?exists:%{ir}.bl.example.com",
		"v=spf1 a:example.com/24//64 mx//96 a/0",
		"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ip4:192.0.2.1",
		"v=spf1 include:_spf.example.com redirect=example.net",
		"v=spf1 exp=explain.%{d} -all",
		"v=spf1 foo=%{l}bar moo.cow-far_out=man:dog/cat",
		"v=spf1 a:foo:bar/baz.example.com",
		"v=spf1 exists:%{l}",
		"v=spf1 A:EXAMPLE.COM -ALL",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cr_expect_eq(check(ok[i]), 0, "%s refused", ok[i]);
}

Test(spf_record, syntax_errors)
{
	static const char *const bad[] = {
		"v=spf1 -foo",			/* unknown mechanism */
		"v=spf1 all:x",
		"v=spf1 include",		/* needs a domain */
		"v=spf1 include:",
		"v=spf1 exists",
		"v=spf1 a:",
		"v=spf1 a/33",			/* prefix out of range */
		"v=spf1 a//129",
		"v=spf1 a/024",			/* leading zero */
		"v=spf1 ip4:192.0.2.0/33",
		"v=spf1 ip4:192.0.2",
		"v=spf1 ip4:2001:db8::1",
		"v=spf1 ip6:192.0.2.1",
		"v=spf1 ip6:::1/129",
		"v=spf1 a:abc.123",		/* top label all digits */
		"v=spf1 a:museum",		/* no top label after a dot */
		"v=spf1 a:museum.",
		"v=spf1 a:foo-.example.com-",
		"v=spf1 exists:%{x}.example.com",	/* bad macro letter */
		"v=spf1 exists:%{d0}.example.com",	/* zero parts */
		"v=spf1 exists:foo%.example.com",
		"v=spf1 exists:%{c}.example.com",	/* c: explanations only */
		"v=spf1 redirect=a.example.com redirect=b.example.com",
		"v=spf1 exp=a.example.com exp=b.example.com",
		"v=spf1 -redirect=a.example.com",	/* qualified modifier */
		"v=spf1 exp=",
		"v=spf1 foo=%{",			/* bad macro, unknown modifier */
		"v=spf1 a:example.com\r-all",		/* only spaces part terms */
		"v=spf1 \x80" "a -all",			/* not ASCII */
		"v=spf1 1a",
		"v=spf1 =foo",
		"v=spf10",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(check(bad[i]), -1, "%s accepted", bad[i]);
}

Test(spf_record, mechanisms)
{
	struct spf_term t;

	t = first("v=spf1 -a:example.com/24//64");
	cr_assert_eq(t.kind, SPF_TERM_MECH);
	cr_assert_eq(t.mech, SPF_MECH_A);
	cr_assert_eq(t.qual, '-');
	cr_assert_eq(t.speclen, strlen("example.com"));
	cr_assert(strncmp(t.spec, "example.com", t.speclen) == 0);
	cr_assert_eq(t.cidr4, 24);
	cr_assert_eq(t.cidr6, 64);

	t = first("v=spf1 mx//96");
	cr_assert_eq(t.mech, SPF_MECH_MX);
	cr_assert_eq(t.qual, '+');
	cr_assert_null(t.spec);
	cr_assert_eq(t.cidr4, 32);
	cr_assert_eq(t.cidr6, 96);

	t = first("v=spf1 ~ip4:192.0.2.128/25");
	cr_assert_eq(t.mech, SPF_MECH_IP4);
	cr_assert_eq(t.qual, '~');
	cr_assert_eq(t.cidr4, 25);
	cr_assert_eq(t.addr[3], 128);

	t = first("v=spf1 ?ptr");
	cr_assert_eq(t.mech, SPF_MECH_PTR);
	cr_assert_null(t.spec);

	t = first("v=spf1 a:foo:bar/baz.example.com");
	cr_assert_eq(t.speclen, strlen("foo:bar/baz.example.com"));
	cr_assert_eq(t.cidr4, 32);
}

Test(spf_record, modifiers_found)
{
	const char	*rec = "v=spf1 a exp=why.%{d} -all redirect=_spf.example.com";
	struct spf_term	 r, e;
	const char	*err;

	cr_assert_eq(spf_record_check(rec, strlen(rec), &r, &e, &err), 0);
	cr_assert_eq(r.kind, SPF_TERM_REDIRECT);
	cr_assert(strncmp(r.spec, "_spf.example.com", r.speclen) == 0);
	cr_assert_eq(e.kind, SPF_TERM_EXP);
	cr_assert(strncmp(e.spec, "why.%{d}", e.speclen) == 0);

	rec = "v=spf1 -all";
	cr_assert_eq(spf_record_check(rec, strlen(rec), &r, &e, &err), 0);
	cr_assert_eq(r.kind, SPF_TERM_UNKNOWN);
	cr_assert_eq(e.kind, SPF_TERM_UNKNOWN);
}
