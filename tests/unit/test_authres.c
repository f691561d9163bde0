/*
 * test_authres - the Authentication-Results field we add (RFC 8601):
 * its exact text for the usual results, that nothing a peer chose can
 * break out of it, and the reading of the authserv-id of fields already
 * in a message, forged or not.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "auth/authres.h"

/* value_of - the field's value: after "Authentication-Results:" */
static const char *
value_of(const struct authres *a)
{
	const char *colon = strchr(a->b.data, ':');

	cr_assert_not_null(colon);
	return colon + 1;
}

/* well_formed - CRLF line ends only, every line after the first begins
 * with white space (a continuation, never a new field), no line past
 * 998 octets (RFC 5322 2.1.1) */
static void
well_formed(const struct authres *a, size_t fold)
{
	const char *p = a->b.data, *end = p + a->b.len;
	int first = 1;

	cr_assert_gt(a->b.len, 2);
	cr_assert_eq(memcmp(end - 2, "\r\n", 2), 0, "ends in CRLF");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len;

		cr_assert_not_null(nl);
		cr_assert(nl > p && nl[-1] == '\r', "bare LF in %s",
		    a->b.data);
		len = (size_t)(nl - 1 - p);
		cr_assert_null(memchr(p, '\r', len), "bare CR in %s",
		    a->b.data);
		cr_assert_leq(len, 998);
		if (fold)
			cr_assert_leq(len, fold, "line past %zu: %.*s", fold,
			    (int)len, p);
		if (!first)
			cr_assert(*p == '\t' || *p == ' ',
			    "a line that starts a new field: %.*s", (int)len,
			    p);
		first = 0;
		p = nl + 1;
	}
	cr_assert_eq(memchr(a->b.data, '\0', a->b.len), NULL);
}

static struct dmarc_outcome
outcome(enum dmarc_result r, enum dmarc_policy applied)
{
	struct dmarc_outcome o;

	memset(&o, 0, sizeof(o));
	o.result = r;
	o.policy = applied;
	o.domain = "example.com";
	o.record_domain = "example.com";
	o.has_record = 1;
	o.record.p = DMARC_POLICY_REJECT;
	o.record.sp = DMARC_POLICY_QUARANTINE;
	return o;
}

Test(authres, the_usual_field)
{
	struct dmarc_outcome o = outcome(DMARC_RESULT_FAIL,
	    DMARC_POLICY_REJECT);
	struct authres a;

	cr_assert_eq(authres_begin(&a, "mx.example.org"), 0);
	cr_assert_eq(authres_spf(&a, "pass", "user@example.com", "helo.test",
	    NULL), 0);
	cr_assert_eq(authres_dkim(&a, "pass", "example.com", "sel1",
	    "AbCd+/9=", NULL), 0);
	cr_assert_eq(authres_dkim(&a, "fail", "example.net", "s", "xyz",
	    "signature did not verify"), 0);
	cr_assert_eq(authres_dmarc(&a, &o), 0);
	cr_assert_eq(authres_end(&a), 0);
	cr_assert_str_eq(a.b.data,
	    "Authentication-Results: mx.example.org;\r\n"
	    "\tspf=pass smtp.mailfrom=user@example.com;\r\n"
	    "\tdkim=pass header.d=example.com header.s=sel1 "
	    "header.b=\"AbCd+/9=\";\r\n"
	    "\tdkim=fail (signature did not verify) header.d=example.net "
	    "header.s=s\r\n\theader.b=xyz;\r\n"
	    "\tdmarc=fail (p=reject sp=quarantine dis=reject) "
	    "header.from=example.com\r\n");
	well_formed(&a, 78);
	cr_assert_eq(authres_claims(value_of(&a), strlen(value_of(&a)),
	    "mx.example.org"), AUTHRES_OURS, "we read back our own id");
	authres_free(&a);
}

Test(authres, helo_when_the_mail_from_is_null)
{
	struct authres a;

	authres_begin(&a, "mx.example.org");
	authres_spf(&a, "none", "", "client.example.net", "no SPF record");
	authres_end(&a);
	cr_assert_str_eq(a.b.data,
	    "Authentication-Results: mx.example.org;\r\n"
	    "\tspf=none (no SPF record) smtp.helo=client.example.net\r\n");
	authres_free(&a);
}

Test(authres, no_results_is_none)
{
	struct authres a;

	authres_begin(&a, "mx.example.org");
	authres_end(&a);
	cr_assert_str_eq(a.b.data,
	    "Authentication-Results: mx.example.org; none\r\n");
	authres_free(&a);
}

Test(authres, dmarc_without_a_record_says_why)
{
	struct dmarc_outcome o = outcome(DMARC_RESULT_NONE, DMARC_POLICY_NONE);
	struct authres a;

	o.has_record = 0;
	snprintf(o.reason, sizeof(o.reason), "no DMARC record for "
	    "example.com");
	authres_begin(&a, "mx.example.org");
	authres_dmarc(&a, &o);
	authres_end(&a);
	cr_assert_str_eq(a.b.data,
	    "Authentication-Results: mx.example.org;\r\n"
	    "\tdmarc=none (no DMARC record for example.com) "
	    "header.from=example.com\r\n");
	authres_free(&a);
}

Test(authres, hostile_values_stay_inside_the_field)
{
	struct dmarc_outcome o = outcome(DMARC_RESULT_PERMERROR,
	    DMARC_POLICY_REJECT);
	struct authres a;

	o.has_record = 0;
	snprintf(o.reason, sizeof(o.reason), "evil) x=y\r\nX-Forged: yes (");
	authres_begin(&a, "mx.example.org");
	authres_spf(&a, "pass", "\"a;b\\\"\r\nBcc: v@x\"@example.com",
	    NULL, "comment (with) \\ parens\r\n\tand CRLF");
	authres_dkim(&a, "fail", "example.com; dkim=pass", "a b", "\"",
	    NULL);
	authres_dmarc(&a, &o);
	authres_spf(&a, "pass\r\nX: y", "x@y", NULL, NULL);
	authres_end(&a);
	well_formed(&a, 0);
	cr_assert_str_eq(a.b.data,
	    "Authentication-Results: mx.example.org;\r\n"
	    "\tspf=pass (comment \\(with\\) \\\\ parens and CRLF) "
	    "smtp.mailfrom=example.com;\r\n"
	    "\tdkim=fail header.d=\"example.com; dkim=pass\" header.s=\"a b\" "
	    "header.b=\"\\\"\";\r\n"
	    "\tdmarc=permerror (evil\\) x=y X-Forged: yes \\() "
	    "header.from=example.com;\r\n"
	    "\tspf=permerror smtp.mailfrom=x@y\r\n");
	authres_free(&a);
}

Test(authres, a_quoted_local_part_is_left_out)
{
	struct authres a;

	/* Quoted, the value is one property to a strict reader; a reader
	 * that splits at ';' would find a dkim=pass in it: the domain
	 * alone goes in. A plain address stays whole. */
	authres_begin(&a, "mx.example.org");
	authres_spf(&a, "pass",
	    "\"x; dkim=pass header.d=bank.example\"@evil.example", NULL,
	    NULL);
	authres_spf(&a, "pass", "first.last+tag@example.com", NULL, NULL);
	authres_end(&a);
	well_formed(&a, 0);
	cr_assert_null(strstr(a.b.data, "bank.example"), "%s", a.b.data);
	cr_assert_not_null(strstr(a.b.data, "smtp.mailfrom=evil.example;"),
	    "%s", a.b.data);
	cr_assert_not_null(strstr(a.b.data,
	    "smtp.mailfrom=first.last+tag@example.com"), "%s", a.b.data);
	authres_free(&a);
}

Test(authres, long_values_fold_and_the_field_is_bounded)
{
	char comment[600], helo[300];
	struct authres a;
	int i, rc = 0;

	for (i = 0; i < 599; i++)
		comment[i] = i % 10 == 9 ? ' ' : 'c';
	comment[599] = '\0';
	memset(helo, 'h', 250);
	memcpy(helo + 250, ".example", 9);
	authres_begin(&a, "mx.example.org");
	cr_assert_eq(authres_spf(&a, "neutral", NULL, helo, comment), 0);
	cr_assert_eq(authres_end(&a), 0);
	well_formed(&a, 0);
	authres_free(&a);
	authres_begin(&a, "mx.example.org");
	for (i = 0; i < 100 && rc == 0; i++)
		rc = authres_spf(&a, "neutral", NULL, helo, comment);
	cr_assert_eq(rc, -1, "past AUTHRES_MAX the builder says so");
	cr_assert_leq(a.b.len, AUTHRES_MAX);
	authres_free(&a);
	authres_begin(&a, "mx.example.org");
	authres_spf(&a, "neutral", NULL, "h.example", comment);
	authres_end(&a);
	well_formed(&a, 78);
	authres_free(&a);
}

/* --- reading an existing field's authserv-id ------------------------- */

static enum authres_claim
claims(const char *value)
{
	return authres_claims(value, strlen(value), "mx.example.org");
}

Test(authres_parse, the_authserv_id_and_version)
{
	char id[256];
	unsigned v;
	const char *f = " (c (nested)) \"mx.ex\\ample.org\" (x) 1 (y);"
	    " spf=pass";

	cr_assert_eq(authres_parse_id(f, strlen(f), id, sizeof(id), &v), 0);
	cr_assert_str_eq(id, "mx.example.org");
	cr_assert_eq(v, 1);
	f = "other.example 2; none";
	cr_assert_eq(authres_parse_id(f, strlen(f), id, sizeof(id), &v), 0);
	cr_assert_str_eq(id, "other.example");
	cr_assert_eq(v, 2);
	f = "other.example;\r\n\tdkim=pass header.d=x 3";
	cr_assert_eq(authres_parse_id(f, strlen(f), id, sizeof(id), &v), 0);
	cr_assert_eq(v, 1, "no version: 1");
}

Test(authres_parse, forged_claims_of_our_id)
{
	cr_assert_eq(claims(" mx.example.org; spf=pass"), AUTHRES_OURS);
	cr_assert_eq(claims("MX.Example.ORG.; dkim=pass"), AUTHRES_OURS);
	cr_assert_eq(claims("\r\n\t(hello) \"mx.example.org\" 1; none"),
	    AUTHRES_OURS);
	cr_assert_eq(claims("mx.example.org"), AUTHRES_OURS);
	cr_assert_eq(claims("mx.example.org garbage after"), AUTHRES_OURS,
	    "a broken rest still names us to a lenient reader");
}

Test(authres_parse, forged_claims_read_past_any_comment)
{
	char deep[20000];
	size_t i, n = 5000;

	/* However deep the comments before it, our id is found: a field a
	 * lenient reader takes for ours is never kept as malformed. */
	for (i = 0; i < n; i++) {
		deep[i] = '(';
		deep[n + i] = ')';
	}
	snprintf(deep + 2 * n, sizeof(deep) - 2 * n, " mx.example.org; "
	    "dmarc=pass");
	cr_assert_eq(claims(deep), AUTHRES_OURS);
	/* A comment glued inside the id: a reader that drops comments
	 * first reads ours; a strict one finds the field broken. */
	cr_assert_eq(claims("mx.example(x).org; dmarc=pass"), AUTHRES_OURS);
	cr_assert_eq(claims("mx(a)(b (c)).example.org(d); dmarc=pass"),
	    AUTHRES_OURS);
	cr_assert_eq(claims("mx.example.org(x)1; dmarc=pass"), AUTHRES_OURS);
	cr_assert_eq(claims("mx.example (x) .org; dmarc=pass"), AUTHRES_OTHER,
	    "white space outside the comment parts the words");
	cr_assert_eq(claims("relay.test(x)mx.example.org; dmarc=pass"),
	    AUTHRES_OTHER);
}

Test(authres_parse, other_ids_are_kept)
{
	cr_assert_eq(claims(" mx.example.org.evil.test; spf=pass"),
	    AUTHRES_OTHER);
	cr_assert_eq(claims(" example.org; spf=pass"), AUTHRES_OTHER);
	cr_assert_eq(claims(" mx.example.or; spf=pass"), AUTHRES_OTHER);
	cr_assert_eq(claims(" (mx.example.org) relay.test; spf=pass"),
	    AUTHRES_OTHER, "our name in a comment is not a claim");
}

Test(authres_parse, hostile_or_empty_values)
{
	char deep[64], id[8];
	unsigned v;
	int i;

	cr_assert_eq(claims(""), AUTHRES_MALFORMED);
	cr_assert_eq(claims("   ; spf=pass"), AUTHRES_MALFORMED);
	cr_assert_eq(claims("(unclosed mx.example.org"), AUTHRES_MALFORMED);
	cr_assert_eq(claims("\"unclosed mx.example.org"), AUTHRES_MALFORMED);
	cr_assert_eq(claims("\"\"; none"), AUTHRES_MALFORMED);
	for (i = 0; i < 20; i++) {
		deep[i] = '(';
		deep[i + 20] = ')';
	}
	snprintf(deep + 40, sizeof(deep) - 40, " mx.example.org");
	cr_assert_eq(claims(deep), AUTHRES_OURS, "a reader without a bound "
	    "on nesting finds our id after the comments");
	cr_assert_eq(authres_claims("mx.example.org\0x", 16, "mx.example.org"),
	    AUTHRES_OURS, "a NUL ends the id");
	cr_assert_eq(authres_claims("\"mx\0.example.org\"", 17,
	    "mx.example.org"), AUTHRES_MALFORMED);
	cr_assert_eq(authres_parse_id("toolongid", 9, id, sizeof(id), &v), -1,
	    "an id that does not fit is refused, not cut");
}
