/*
 * test_tlsrpt - TLS-RPT without I/O: the _smtp._tls record (RFC 8460
 * 3) and its mailto: addresses, a session's line and back, the
 * aggregate of a day and its JSON report (RFC 8460 4.4), with hostile
 * strings from remote servers.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlspol/tlsrpt_record.h"
#include "tlspol/tlsrpt_report.h"

static int
parse(const char *txt, struct tlsrpt_record *r)
{
	const char *why = NULL;
	int rc = tlsrpt_record_parse(txt, strlen(txt), r, &why);

	if (rc == -1)
		cr_assert_not_null(why);
	return rc;
}

Test(record, one_rua)
{
	struct tlsrpt_record r;

	cr_assert_eq(parse("v=TLSRPTv1; rua=mailto:tlsrpt@example.net", &r), 0);
	cr_assert_eq(r.nrua, 1);
	cr_assert_str_eq(r.rua[0], "mailto:tlsrpt@example.net");
}

Test(record, several_uris_blanks_extensions)
{
	struct tlsrpt_record r;

	cr_assert_eq(parse("v=TLSRPTv1 ;rua=mailto:a@example.net , "
	    "https://r.example.net/v1,mailto:b%2Cc@example.net;ext.1=x:y;",
	    &r), 0);
	cr_assert_eq(r.nrua, 3);
	cr_assert_str_eq(r.rua[0], "mailto:a@example.net");
	cr_assert_str_eq(r.rua[1], "https://r.example.net/v1");
	cr_assert_str_eq(r.rua[2], "mailto:b%2Cc@example.net");
}

Test(record, refused)
{
	static const char *const bad[] = {
		"",
		"v=TLSRPTv1",				/* no rua */
		"v=TLSRPTv1;",
		"v=TLSRPTv2; rua=mailto:a@b.example",
		"V=TLSRPTv1; rua=mailto:a@b.example",	/* %s: case matters */
		"v=TLSRPTv1; RUA=mailto:a@b.example",	/* an extension, no rua */
		"v=TLSRPTv1; rua=mailto:a@b.example; rua=mailto:c@d.example",
		"v=TLSRPTv1; rua=",
		"v=TLSRPTv1; rua=mailto:a@b.example,",
		"v=TLSRPTv1; rua=mailto:a@b.example!10m",	/* ! unescaped */
		"v=TLSRPTv1; rua=nourischeme",
		"v=TLSRPTv1; rua=mailto:a b@c.example",
		"v=TLSRPTv1; rua=mailto:a@b.example; x=",
		"v=TLSRPTv1; rua=mailto:a@b.example;; x=1",
		"v=TLSRPTv1; rua=mailto:a@b.example ",	/* no ';' before blank */
		"v=TLSRPTv1; rua=mailto:a%zz@b.example",
		"v=TLSRPTv1; rua=mailto:a@b.example; x=a=b",
		"v=TLSRPTv1; rua=mailto:a@b.example; _x=1",
		"v=TLSRPTv1 rua=mailto:a@b.example",
	};
	struct tlsrpt_record r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(parse(bad[i], &r), -1, "accepted: %s", bad[i]);
}

Test(record, nul_and_size)
{
	struct tlsrpt_record r;
	const char *why;
	char big[TLSRPT_RECORD_MAX + 2];

	cr_assert_eq(tlsrpt_record_parse("v=TLSRPTv1; rua=mailto:a@b.c\0x",
	    30, &r, &why), -1);
	memset(big, 'a', sizeof(big));
	memcpy(big, "v=TLSRPTv1; rua=mailto:a@b.c; x=", 32);
	cr_assert_eq(tlsrpt_record_parse(big, TLSRPT_RECORD_MAX, &r, &why), 0);
	cr_assert_eq(tlsrpt_record_parse(big, TLSRPT_RECORD_MAX + 1, &r, &why),
	    -1);
}

Test(record, uris_past_the_limit_are_counted)
{
	struct tlsrpt_record r;
	char txt[2048];
	size_t i, n = 0;

	n += (size_t)snprintf(txt, sizeof(txt), "v=TLSRPTv1; rua=");
	for (i = 0; i < TLSRPT_RUA_MAX + 3; i++)
		n += (size_t)snprintf(txt + n, sizeof(txt) - n, "%smailto:r%zu@x.example",
		    i ? "," : "", i);
	cr_assert_eq(parse(txt, &r), 0);
	cr_assert_eq(r.nrua, TLSRPT_RUA_MAX);
	cr_assert_eq(r.nrua_dropped, 3);
	cr_assert_str_eq(r.rua[TLSRPT_RUA_MAX - 1], "mailto:r15@x.example");
}

Test(record, select_exactly_one)
{
	const char *two[] = { "v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@b.example" };
	const char *dup[] = { "v=TLSRPTv1; rua=mailto:a@b.example",
	    "v=TLSRPTv1;rua=mailto:c@d.example" };
	const char *none[] = { "v=TLSRPTv1", "v=TLSRPTv10; rua=mailto:a@b.c" };
	size_t l2[] = { strlen(two[0]), strlen(two[1]) };
	size_t ld[] = { strlen(dup[0]), strlen(dup[1]) };
	size_t ln[] = { strlen(none[0]), strlen(none[1]) };
	struct tlsrpt_record r;
	const char *why;

	cr_assert_eq(tlsrpt_record_select(two, l2, 2, &r, &why), 0);
	cr_assert_str_eq(r.rua[0], "mailto:a@b.example");
	cr_assert_eq(tlsrpt_record_select(dup, ld, 2, &r, &why), -1);
	cr_assert_eq(tlsrpt_record_select(none, ln, 2, &r, &why), -1);
}

Test(record, mailto)
{
	char addr[TLSRPT_ADDR_MAX + 1];

	cr_assert_eq(tlsrpt_mailto("mailto:tlsrpt@example.net", addr,
	    sizeof(addr)), 0);
	cr_assert_str_eq(addr, "tlsrpt@example.net");
	cr_assert_eq(tlsrpt_mailto("MAILTO:a%2Bb@example.net?subject=x", addr,
	    sizeof(addr)), 0);
	cr_assert_str_eq(addr, "a+b@example.net");
	cr_assert_eq(tlsrpt_mailto("https://example.net/", addr, sizeof(addr)),
	    -1);
	cr_assert_eq(tlsrpt_mailto("mailto:a%0d%0aRCPT@example.net", addr,
	    sizeof(addr)), -1);
	cr_assert_eq(tlsrpt_mailto("mailto:a%2Cb@example.net", addr,
	    sizeof(addr)), -1);
	cr_assert_eq(tlsrpt_mailto("mailto:a@b@example.net", addr,
	    sizeof(addr)), -1);
	cr_assert_eq(tlsrpt_mailto("mailto:a%3E@example.net", addr,
	    sizeof(addr)), -1);
	cr_assert_eq(tlsrpt_mailto("mailto:@example.net", addr, sizeof(addr)),
	    -1);
	cr_assert_eq(tlsrpt_mailto("mailto:a@", addr, sizeof(addr)), -1);
	cr_assert_eq(tlsrpt_mailto("mailto:a@x..y", addr, sizeof(addr)), -1);
	cr_assert_eq(tlsrpt_mailto("mailto:a@x_y.example", addr, sizeof(addr)),
	    -1);
}

/* --- lines ---------------------------------------------------------------- */

Test(line, round_trip_with_hostile_fields)
{
	struct tlsrpt_session s, t;
	char buf[TLSRPT_LINE_MAX];
	size_t n;

	memset(&s, 0, sizeof(s));
	s.when = 1764633600;
	s.domain = "Example.NET";
	s.policy = TLSRPT_TLSA;
	s.mx_host = "mx1.example.net";
	s.pstrings[0] = "3 1 1 0123abcd";
	s.pstrings[1] = "tab\there%25\r\nT1\tfake";
	s.npstrings = 2;
	s.result = TLSRPT_CERT_HOST_MISMATCH;
	s.receiving_mx = "mx1.example.net";
	s.receiving_ip = "192.0.2.25";
	s.reason = "peer said \"no\"\n\t%00";
	n = tlsrpt_line_format(&s, buf, sizeof(buf));
	cr_assert_gt(n, 0);
	cr_assert_eq(buf[n - 1], '\n');
	cr_assert_eq(memchr(buf, '\n', n - 1), NULL, "one line");
	buf[n - 1] = '\0';
	cr_assert_eq(tlsrpt_line_parse(buf, &t), 0);
	cr_assert_eq(t.when, s.when);
	cr_assert_str_eq(t.domain, "Example.NET");
	cr_assert_eq(t.policy, TLSRPT_TLSA);
	cr_assert_eq(t.result, TLSRPT_CERT_HOST_MISMATCH);
	cr_assert_str_eq(t.mx_host, "mx1.example.net");
	cr_assert_str_eq(t.sending_ip, "");
	cr_assert_str_eq(t.receiving_ip, "192.0.2.25");
	cr_assert_str_eq(t.reason, "peer said \"no\"\n\t%00");
	cr_assert_eq(t.npstrings, 2);
	cr_assert_str_eq(t.pstrings[1], "tab\there%25\r\nT1\tfake");
}

Test(line, bounded)
{
	struct tlsrpt_session s, t;
	char buf[TLSRPT_LINE_MAX], *big;
	size_t n, i;

	big = malloc(100000);
	memset(big, '\n', 99999);	/* every octet escapes to three */
	big[99999] = '\0';
	memset(&s, 0, sizeof(s));
	s.domain = big;
	s.mx_host = big;
	s.receiving_mx = big;
	s.receiving_ip = big;
	s.sending_ip = big;
	s.reason = big;
	for (i = 0; i < TLSRPT_PSTRINGS_MAX; i++)
		s.pstrings[i] = big;
	s.npstrings = TLSRPT_PSTRINGS_MAX;
	n = tlsrpt_line_format(&s, buf, sizeof(buf));
	cr_assert_gt(n, 0);
	cr_assert_leq(n, TLSRPT_LINE_MAX);
	buf[n - 1] = '\0';
	cr_assert_eq(tlsrpt_line_parse(buf, &t), 0);
	cr_assert_eq(t.npstrings, 0, "no policy string fits");
	free(big);
}

Test(line, refused)
{
	static const char *const bad[] = {
		"",
		"T1\t1\texample.net\ttlsa\tsuccess\t\t\t\t",	/* 9 fields */
		"T2\t1\texample.net\ttlsa\tsuccess\t\t\t\t\t",
		"T1\tx\texample.net\ttlsa\tsuccess\t\t\t\t\t",
		"T1\t1\t\ttlsa\tsuccess\t\t\t\t\t",
		"T1\t1\texample.net\tdane\tsuccess\t\t\t\t\t",
		"T1\t1\texample.net\ttlsa\tok\t\t\t\t\t",
		"T1\t1\texample.net\ttlsa\tsuccess\t\t\t\t\t%0",
		"T1\t1\texample.net\ttlsa\tsuccess\t\t\t\t\t%00",
		"T1\t1\texample.net\ttlsa\tsuccess\t\t\t\t\ta\rb",
	};
	struct tlsrpt_session s;
	char line[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "%s", bad[i]);
		cr_expect_eq(tlsrpt_line_parse(line, &s), -1, "accepted: %s",
		    bad[i]);
	}
	snprintf(line, sizeof(line), "T1\t1\texample.net\ttlsa\tsuccess\t\t\t"
	    "\t\t");
	cr_assert_eq(tlsrpt_line_parse(line, &s), 0);
}

/* --- the aggregate and its report ------------------------------------------- */

static void
session(struct tlsrpt_agg *a, const char *domain, enum tlsrpt_policy p,
    const char *mx, enum tlsrpt_result r, const char *reason)
{
	struct tlsrpt_session s;
	char buf[TLSRPT_LINE_MAX];
	size_t n;

	/* through the line, as the runner reads them */
	memset(&s, 0, sizeof(s));
	s.when = 1764633600 + 60;
	s.domain = domain;
	s.policy = p;
	s.mx_host = mx;
	if (p == TLSRPT_TLSA) {
		s.pstrings[0] = "3 1 1 AABBCC";
		s.npstrings = 1;
	}
	s.result = r;
	s.receiving_mx = mx;
	s.receiving_ip = "192.0.2.25";
	s.sending_ip = "192.0.2.1";
	s.reason = reason;
	n = tlsrpt_line_format(&s, buf, sizeof(buf));
	buf[n - 1] = '\0';
	cr_assert_eq(tlsrpt_line_parse(buf, &s), 0);
	cr_assert_eq(tlsrpt_agg_add(a, &s), 0);
}

static const struct tlsrpt_meta meta = {
	.org = "Org \"Q\"", .contact = "postmaster@mail.example.org",
	.report_id = "r1@mail.example.org", .start = 1764633600,
	.end = 1764633600 + 86399,
};

Test(agg, report_json)
{
	struct tlsrpt_agg *a = tlsrpt_agg_new(10, 10, 10);
	const char *expect =
	    "{\"organization-name\":\"Org \\\"Q\\\"\","
	    "\"date-range\":{\"start-datetime\":\"2025-12-02T00:00:00Z\","
	    "\"end-datetime\":\"2025-12-02T23:59:59Z\"},"
	    "\"contact-info\":\"postmaster@mail.example.org\","
	    "\"report-id\":\"r1@mail.example.org\",\"policies\":["
	    "{\"policy\":{\"policy-type\":\"tlsa\",\"policy-string\":"
	    "[\"3 1 1 AABBCC\"],\"policy-domain\":\"example.net\","
	    "\"mx-host\":\"mx1.example.net\"},\"summary\":"
	    "{\"total-successful-session-count\":2,"
	    "\"total-failure-session-count\":1},\"failure-details\":["
	    "{\"result-type\":\"validation-failure\","
	    "\"sending-mta-ip\":\"192.0.2.1\","
	    "\"receiving-mx-hostname\":\"mx1.example.net\","
	    "\"receiving-ip\":\"192.0.2.25\",\"failed-session-count\":1,"
	    "\"failure-reason-code\":\"no match\"}]},"
	    "{\"policy\":{\"policy-type\":\"no-policy-found\","
	    "\"policy-domain\":\"example.net\",\"mx-host\":\"mx2.example.net\"},"
	    "\"summary\":{\"total-successful-session-count\":0,"
	    "\"total-failure-session-count\":2},\"failure-details\":["
	    "{\"result-type\":\"starttls-not-supported\","
	    "\"sending-mta-ip\":\"192.0.2.1\","
	    "\"receiving-mx-hostname\":\"mx2.example.net\","
	    "\"receiving-ip\":\"192.0.2.25\",\"failed-session-count\":2}]}]}\n";
	char *json;
	size_t len;

	session(a, "example.net", TLSRPT_TLSA, "mx1.example.net",
	    TLSRPT_SUCCESS, NULL);
	session(a, "other.example", TLSRPT_NO_POLICY, "mx.other.example",
	    TLSRPT_SUCCESS, NULL);
	session(a, "EXAMPLE.net", TLSRPT_TLSA, "mx1.example.net",
	    TLSRPT_VALIDATION_FAILURE, "no match");
	session(a, "example.net", TLSRPT_NO_POLICY, "mx2.example.net",
	    TLSRPT_STARTTLS_NOT_SUPPORTED, "");
	session(a, "example.net", TLSRPT_NO_POLICY, "mx2.example.net",
	    TLSRPT_STARTTLS_NOT_SUPPORTED, "");
	session(a, "example.net", TLSRPT_TLSA, "mx1.example.net",
	    TLSRPT_SUCCESS, NULL);
	cr_assert_eq(tlsrpt_agg_ndomains(a), 2);
	cr_assert_str_eq(tlsrpt_agg_domain(a, 0), "example.net");
	cr_assert_str_eq(tlsrpt_agg_domain(a, 1), "other.example");
	json = tlsrpt_report_json(a, 0, &meta, &len);
	cr_assert_not_null(json);
	cr_assert_eq(strlen(json), len);
	cr_assert_str_eq(json, expect);
	free(json);
	tlsrpt_agg_free(a);
}

Test(agg, sts_mx_patterns_are_an_array)
{
	struct tlsrpt_agg *a = tlsrpt_agg_new(10, 10, 10);
	struct tlsrpt_session s;
	char *json;
	size_t len;

	memset(&s, 0, sizeof(s));
	s.domain = "example.net";
	s.policy = TLSRPT_STS;
	s.mx_host = "mx.example.net *.example.net";
	s.pstrings[0] = "version: STSv1";
	s.pstrings[1] = "mode: enforce";
	s.npstrings = 2;
	cr_assert_eq(tlsrpt_agg_add(a, &s), 0);
	json = tlsrpt_report_json(a, 0, &meta, &len);
	cr_assert_not_null(strstr(json, "\"policy-string\":[\"version: STSv1\","
	    "\"mode: enforce\"]"), "%s", json);
	cr_assert_not_null(strstr(json, "\"mx-host\":[\"mx.example.net\","
	    "\"*.example.net\"]"), "%s", json);
	free(json);
	tlsrpt_agg_free(a);
}

Test(agg, hostile_strings_escaped)
{
	struct tlsrpt_agg *a = tlsrpt_agg_new(10, 10, 10);
	struct tlsrpt_session s;
	char *json;
	size_t len;

	memset(&s, 0, sizeof(s));
	s.domain = "example.net";
	s.result = TLSRPT_CERT_NOT_TRUSTED;
	s.receiving_mx = "mx\"},{\"x\":\"y";
	s.reason = "a\\b\x01\x7f\xc3\xa9\xff\xc0\xaf\xed\xa0\x80z";
	cr_assert_eq(tlsrpt_agg_add(a, &s), 0);
	json = tlsrpt_report_json(a, 0, &meta, &len);
	cr_assert_not_null(strstr(json, "\"receiving-mx-hostname\":"
	    "\"mx\\\"},{\\\"x\\\":\\\"y\""), "%s", json);
	/* é kept; 0xff, an overlong '/', a surrogate: U+FFFD each octet */
	cr_assert_not_null(strstr(json, "\"failure-reason-code\":\"a\\\\b"
	    "\\u0001\\u007f\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz\""), "%s", json);
	free(json);
	tlsrpt_agg_free(a);
}

Test(agg, limits)
{
	struct tlsrpt_agg *a = tlsrpt_agg_new(2, 2, 1);
	char *json;
	size_t len;

	session(a, "a.example", TLSRPT_NO_POLICY, "mx1", TLSRPT_SUCCESS, NULL);
	session(a, "b.example", TLSRPT_NO_POLICY, "mx1", TLSRPT_SUCCESS, NULL);
	cr_assert_eq(tlsrpt_agg_dropped(a), 0);
	{
		struct tlsrpt_session s;

		memset(&s, 0, sizeof(s));
		s.domain = "c.example";
		cr_assert_eq(tlsrpt_agg_add(a, &s), 1, "a third domain");
		s.domain = "a.example";
		s.mx_host = "mx2";
		cr_assert_eq(tlsrpt_agg_add(a, &s), 0);
		s.mx_host = "mx3";
		cr_assert_eq(tlsrpt_agg_add(a, &s), 1, "a third policy");
	}
	cr_assert_eq(tlsrpt_agg_dropped(a), 2);
	session(a, "b.example", TLSRPT_NO_POLICY, "mx1",
	    TLSRPT_STARTTLS_NOT_SUPPORTED, "one");
	session(a, "b.example", TLSRPT_NO_POLICY, "mx1",
	    TLSRPT_STARTTLS_NOT_SUPPORTED, "two");
	json = tlsrpt_report_json(a, 1, &meta, &len);
	/* both failures counted, one detail kept */
	cr_assert_not_null(strstr(json, "\"total-failure-session-count\":2"));
	cr_assert_not_null(strstr(json, "\"failure-reason-code\":\"one\""));
	cr_assert_null(strstr(json, "\"two\""));
	free(json);
	tlsrpt_agg_free(a);
}

Test(agg, datetime)
{
	char out[21];

	tlsrpt_datetime(0, out);
	cr_assert_str_eq(out, "1970-01-01T00:00:00Z");
	tlsrpt_datetime(1764719999, out);
	cr_assert_str_eq(out, "2025-12-02T23:59:59Z");
}
