/*
 * test_mtasts - what MTA-STS reads before any policy applies: the
 * _mta-sts TXT record (RFC 8461 3.1), the policy body (3.2), MX name
 * patterns (3.4), and the HTTP response the policy comes in (read in
 * pieces, as a socket gives it).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "tlspol/httpresp.h"
#include "tlspol/mtasts.h"

static int
rec(const char *txt, char *id)
{
	char why[MTASTS_WHY_MAX];

	return mtasts_record_parse(txt, strlen(txt), id, why, sizeof(why));
}

Test(mtasts_record, the_rfc_example)
{
	char id[MTASTS_ID_MAX + 1];

	cr_assert_eq(rec("v=STSv1; id=20160831085700Z;", id), 0);
	cr_assert_str_eq(id, "20160831085700Z");
	cr_assert_eq(rec("v=STSv1;id=abc", id), 0);
	cr_assert_str_eq(id, "abc");
	cr_assert_eq(rec("v=STSv1 ; id=abc ; x-ext=v_1.2 ;", id), 0);
	cr_assert_str_eq(id, "abc");
}

Test(mtasts_record, strict_syntax)
{
	char id[MTASTS_ID_MAX + 1];

	cr_assert_eq(rec("v=STSv1;", id), -1, "no id");
	cr_assert_eq(rec("v=STSv1", id), -1);
	cr_assert_eq(rec("v=stsv1; id=abc", id), -1, "case-sensitive");
	cr_assert_eq(rec(" v=STSv1; id=abc", id), -1);
	cr_assert_eq(rec("v=STSv10; id=abc", id), -1);
	cr_assert_eq(rec("v=STSv1; id=", id), -1);
	cr_assert_eq(rec("v=STSv1; id=a-b", id), -1, "id: letters, digits");
	cr_assert_eq(rec("v=STSv1; id=abc; id=def", id), -1, "two ids");
	cr_assert_eq(rec("v=STSv1; ID=abc", id), -1);
	cr_assert_eq(rec("v=STSv1; id=123456789012345678901234567890123",
	    id), -1, "33 characters");
	cr_assert_eq(rec("v=STSv1; id=12345678901234567890123456789012",
	    id), 0, "32 characters");
	cr_assert_eq(rec("v=STSv1; id=abc; ext=", id), -1);
	cr_assert_eq(rec("v=STSv1; id=abc; ext=a=b", id), -1);
	cr_assert_eq(rec("v=STSv1; id=abc;; ", id), -1);
	cr_assert_eq(rec("v=STSv1; id=abc x", id), -1);
}

Test(mtasts_record, one_sts_record_among_others)
{
	const char *txts[] = { "v=spf1 -all", "v=STSv1; id=one",
	    "v=STSv1; id=two" };
	size_t lens[3] = { strlen(txts[0]), strlen(txts[1]), strlen(txts[2]) };
	char id[MTASTS_ID_MAX + 1], why[MTASTS_WHY_MAX];

	cr_assert_eq(mtasts_record_pick(txts, lens, 2, id, why,
	    sizeof(why)), 0);
	cr_assert_str_eq(id, "one");
	cr_assert_eq(mtasts_record_pick(txts, lens, 3, id, why,
	    sizeof(why)), -1, "two STS records: none");
	cr_assert_eq(mtasts_record_pick(txts, lens, 1, id, why,
	    sizeof(why)), -1);
	cr_assert_str_eq(why, "no v=STSv1 record");
}

static int
pol(const char *text, struct mtasts_policy *p, char *why)
{
	return mtasts_policy_parse(text, strlen(text), p, why, MTASTS_WHY_MAX);
}

Test(mtasts_policy, the_rfc_example_crlf_and_lf)
{
	struct mtasts_policy p;
	char why[MTASTS_WHY_MAX];

	cr_assert_eq(pol("version: STSv1\r\nmode: enforce\r\nmx: mail.example"
	    ".com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\n"
	    "max_age: 604800\r\n", &p, why), 0, "%s", why);
	cr_assert_eq(p.mode, MTASTS_ENFORCE);
	cr_assert_eq(p.max_age, 604800);
	cr_assert_eq(p.nmx, 3);
	cr_assert_str_eq(p.mx[1], "*.example.net");
	cr_assert_eq(pol("version: STSv1\nmode: testing\nmx: MX.Example.COM\n"
	    "max_age: 86400", &p, why), 0, "%s", why);
	cr_assert_eq(p.mode, MTASTS_TESTING);
	cr_assert_str_eq(p.mx[0], "mx.example.com", "kept in lower case");
}

Test(mtasts_policy, unknown_keys_ignored_none_needs_no_mx)
{
	struct mtasts_policy p;
	char why[MTASTS_WHY_MAX];

	cr_assert_eq(pol("version: STSv1\nx-note: anything at all \nmode: "
	    "none\nmax_age:\t0\n\n", &p, why), 0, "%s", why);
	cr_assert_eq(p.mode, MTASTS_NONE);
	cr_assert_eq(p.nmx, 0);
	cr_assert_eq(p.max_age, 0);
}

Test(mtasts_policy, invalid_policies)
{
	struct mtasts_policy p;
	char why[MTASTS_WHY_MAX];

	cr_assert_eq(pol("mode: enforce\nmx: a.example\nmax_age: 1\n", &p,
	    why), -1);
	cr_assert_str_eq(why, "no version");
	cr_assert_eq(pol("version: STSv2\nmode: enforce\nmx: a.example\n"
	    "max_age: 1\n", &p, why), -1);
	cr_assert_eq(pol("version: STSv1\nmode: enforce\nmax_age: 1\n", &p,
	    why), -1);
	cr_assert_str_eq(why, "no mx");
	cr_assert_eq(pol("version: STSv1\nmode: Enforce\nmx: a.example\n"
	    "max_age: 1\n", &p, why), -1, "values are case-sensitive");
	cr_assert_eq(pol("version: STSv1\nmode: enforce\nmode: testing\n"
	    "mx: a.example\nmax_age: 1\n", &p, why), -1, "mode twice");
	cr_assert_eq(pol("version: STSv1\nmode: enforce\nmx: a.example\n"
	    "max_age: 12345678901\n", &p, why), -1, "11 digits");
	cr_assert_eq(pol("version: STSv1\nmode: enforce\nmx: a.example\n"
	    "max_age: -1\n", &p, why), -1);
	cr_assert_eq(pol("version: STSv1\nmode: enforce\nmx: a..example\n"
	    "max_age: 1\n", &p, why), -1);
	cr_assert_eq(pol("version: STSv1\nmode: enforce\nmx: *.*.example\n"
	    "max_age: 1\n", &p, why), -1);
	cr_assert_eq(pol("version: STSv1\nmode: enforce\nmx: a*.example\n"
	    "max_age: 1\n", &p, why), -1);
	cr_assert_eq(pol("version: STSv1\nmode: enforce\nmx: -a.example\n"
	    "max_age: 1\n", &p, why), -1);
	cr_assert_eq(pol("version: STSv1\nmode: enforce\nmx: a.example.\n"
	    "max_age: 1\n", &p, why), -1);
	cr_assert_eq(pol("version: STSv1\nmode: enforce\nmx: a.example\n"
	    "max_age: 1\nno colon here\n", &p, why), -1);
	cr_assert_eq(pol("version: STSv1\nmode: enforce\rmx: a.example\n"
	    "max_age: 1\n", &p, why), -1, "a bare CR is no line end");
	cr_assert_eq(pol("version : STSv1\nmode: enforce\nmx: a.example\n"
	    "max_age: 1\n", &p, why), -1);
	cr_assert_eq(pol("<html><body>404</body></html>", &p, why), -1);
}

Test(mtasts_policy, max_age_past_a_year_is_a_year)
{
	struct mtasts_policy p;
	char why[MTASTS_WHY_MAX];

	cr_assert_eq(pol("version: STSv1\nmode: enforce\nmx: a.example\n"
	    "max_age: 9999999999\n", &p, why), 0, "%s", why);
	cr_assert_eq(p.max_age, 31557600);
}

Test(mtasts_policy, bounded_mx_lines_and_line_length)
{
	struct mtasts_policy p;
	char why[MTASTS_WHY_MAX], text[8192], *at = text;
	int i;

	at += sprintf(at, "version: STSv1\nmode: enforce\nmax_age: 1\n");
	for (i = 0; i < MTASTS_MX_MAX + 1; i++)
		at += sprintf(at, "mx: m%d.example\n", i);
	cr_assert_eq(pol(text, &p, why), -1);
	cr_assert_str_eq(why, "too many mx lines");
	memset(text, 'x', sizeof(text));
	memcpy(text, "version: STSv1\nmode: none\nmax_age: 1\nx-long: ", 45);
	text[sizeof(text) - 1] = '\0';
	cr_assert_eq(pol(text, &p, why), -1);
	cr_assert_str_eq(why, "line too long");
}

Test(mtasts_policy, format_reads_back_the_same)
{
	struct mtasts_policy p, q;
	char why[MTASTS_WHY_MAX], out[2048];
	int n;

	cr_assert_eq(pol("version: STSv1\r\nmode: testing\r\nx: y\r\n"
	    "mx: *.Example.net\r\nmx: mail.example.com\r\nmax_age: 604800\r\n",
	    &p, why), 0);
	n = mtasts_policy_format(&p, out, sizeof(out));
	cr_assert_str_eq(out, "version: STSv1\nmode: testing\nmx: "
	    "*.example.net\nmx: mail.example.com\nmax_age: 604800\n");
	cr_assert_eq(mtasts_policy_parse(out, (size_t)n, &q, why,
	    sizeof(why)), 0);
	cr_assert_eq(memcmp(&p, &q, sizeof(p)), 0);
	cr_assert_eq(mtasts_policy_format(&p, out, 20), -1);
}

Test(mtasts_mx, patterns)
{
	cr_assert(mtasts_pattern_match("mail.example.com", "MAIL.example.COM"));
	cr_assert(mtasts_pattern_match("mail.example.com",
	    "mail.example.com."));
	cr_assert(!mtasts_pattern_match("mail.example.com",
	    "xmail.example.com"));
	cr_assert(mtasts_pattern_match("*.example.com", "mx1.example.com"));
	cr_assert(mtasts_pattern_match("*.example.com", "MX1.EXAMPLE.COM."));
	cr_assert(!mtasts_pattern_match("*.example.com", "example.com"),
	    "the wildcard is one label, not none");
	cr_assert(!mtasts_pattern_match("*.example.com",
	    "foo.bar.example.com"), "... nor two");
	cr_assert(!mtasts_pattern_match("*.example.com", ".example.com"));
	cr_assert(!mtasts_pattern_match("*.example.com", "mx1.example.co"));
	cr_assert(!mtasts_pattern_match("*.example.com",
	    "mx1.notexample.com"));
}

Test(mtasts_mx, policy_list)
{
	struct mtasts_policy p;
	char why[MTASTS_WHY_MAX];

	cr_assert_eq(pol("version: STSv1\nmode: enforce\nmx: mail.example."
	    "com\nmx: *.example.net\nmax_age: 1\n", &p, why), 0);
	cr_assert(mtasts_mx_match(&p, "mail.example.com"));
	cr_assert(mtasts_mx_match(&p, "a.example.net"));
	cr_assert(!mtasts_mx_match(&p, "evil.example.org"));
}

/* --- the HTTP response --------------------------------------------------- */

struct got {
	enum httpresp_status st;
	struct httpresp r;
	char body[256];
};

/* feed - the response in pieces of `step` bytes, then the end */
static void
feed(struct got *g, const char *resp, size_t max, size_t step, bool eof)
{
	size_t len = strlen(resp), at = 0, n, used;

	httpresp_init(&g->r, g->body, max);
	g->st = HTTPRESP_MORE;
	while (g->st == HTTPRESP_MORE && at < len) {
		n = len - at < step ? len - at : step;
		g->st = httpresp_feed(&g->r, resp + at, n, &used);
		at += used;
	}
	if (g->st == HTTPRESP_MORE && eof)
		g->st = httpresp_eof(&g->r);
}

static void
each_split(const char *resp, size_t max, bool eof, enum httpresp_status st,
    const char *body)
{
	struct got g;
	size_t step;

	for (step = 1; step <= strlen(resp); step++) {
		feed(&g, resp, max, step, eof);
		cr_assert_eq(g.st, st, "pieces of %zu: %s", step, g.r.why);
		if (body != NULL) {
			cr_assert_eq(g.r.body_len, strlen(body));
			cr_assert_eq(memcmp(g.r.body, body, g.r.body_len), 0);
		}
	}
}

Test(httpresp, content_length)
{
	struct got g;
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; "
	    "charset=utf-8\r\nContent-Length: 5\r\n\r\nhello";

	each_split(resp, 64, false, HTTPRESP_DONE, "hello");
	feed(&g, resp, 64, 1000, false);
	cr_assert_eq(g.r.status, 200);
	cr_assert_str_eq(g.r.content_type, "text/plain");
}

Test(httpresp, chunked_and_close_delimited)
{
	each_split("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: 1\r\n\r\n", 64, false,
	    HTTPRESP_DONE, "hello");
	each_split("HTTP/1.0 200 OK\nContent-Type: TEXT/PLAIN\n\nhello", 64,
	    true, HTTPRESP_DONE, "hello");
	each_split("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
	    "Content-Length: 2\r\n\r\nok", 64, false, HTTPRESP_DONE, "ok");
}

Test(httpresp, status_and_redirects_are_read_not_followed)
{
	struct got g;

	feed(&g, "HTTP/1.1 301 Moved\r\nLocation: https://evil.example/\r\n"
	    "Content-Length: 0\r\n\r\n", 64, 1000, false);
	cr_assert_eq(g.st, HTTPRESP_DONE);
	cr_assert_eq(g.r.status, 301);
}

Test(httpresp, limits_and_malformed)
{
	struct got g;

	feed(&g, "HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n", 64, 1000,
	    false);
	cr_assert_eq(g.st, HTTPRESP_ERROR);
	cr_assert(g.r.too_large, "refused before reading the body");
	each_split("HTTP/1.1 200 OK\r\n\r\n0123456789", 8, true,
	    HTTPRESP_ERROR, NULL);
	each_split("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n", 8, false, HTTPRESP_ERROR,
	    NULL);
	each_split("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", 64,
	    true, HTTPRESP_ERROR, NULL);
	each_split("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length:"
	    " 6\r\n\r\nhello", 64, false, HTTPRESP_ERROR, NULL);
	each_split("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 64,
	    false, HTTPRESP_ERROR, NULL);
	each_split("HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n", 64, false,
	    HTTPRESP_ERROR, NULL);
	each_split("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "fffffffffffffffff\r\n", 64, false, HTTPRESP_ERROR, NULL);
	each_split("SMTP/1.1 200 OK\r\n\r\n", 64, true, HTTPRESP_ERROR, NULL);
	each_split("HTTP/1.1 2000 OK\r\n\r\n", 64, true, HTTPRESP_ERROR, NULL);
}

Test(httpresp, control_characters_in_a_field_are_refused)
{
	struct got g;

	/* RFC 9110 5.5: no CR, NUL or other control character in a field
	 * value; what the server sends in one (its Content-Type) ends up
	 * in our log line when the fetch fails, where a CR or an escape
	 * sequence would forge or hide what the admin reads. */
	each_split("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\x1b[1A"
	    "\x1b[2Ksts: ok\r\nContent-Length: 0\r\n\r\n", 64, false,
	    HTTPRESP_ERROR, NULL);
	each_split("HTTP/1.1 200 OK\r\nX-Other: a\x7f\r\nContent-Length: 0"
	    "\r\n\r\n", 64, false, HTTPRESP_ERROR, NULL);
	feed(&g, "HTTP/1.1 200 OK\r\nX-Tab: a\tb\r\nContent-Length: 0\r\n"
	    "\r\n", 64, 1000, false);
	cr_assert_eq(g.st, HTTPRESP_DONE, "a tab is a blank: %s", g.r.why);
}

Test(httpresp, line_too_long)
{
	static char resp[HTTPRESP_LINE_MAX + 64];
	struct got g;

	memset(resp, 'a', sizeof(resp) - 1);
	memcpy(resp, "HTTP/1.1 200 OK\r\nX: ", 20);
	feed(&g, resp, 64, 100, false);
	cr_assert_eq(g.st, HTTPRESP_ERROR);
	cr_assert_str_eq(g.r.why, "line too long");
}
