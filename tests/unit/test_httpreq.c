/*
 * test_httpreq - HTTP/1.x request heads: what a scraper, curl and a
 * hostile client send, whole, a byte at a time and in every split.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "lib/httpreq.h"

/* feed - the whole text in pieces of `step` bytes; the status, and the
 * bytes taken in all */
static enum httpreq_status
feed(struct httpreq *r, const char *text, size_t step, size_t *taken)
{
	enum httpreq_status st = HTTPREQ_MORE;
	size_t len = strlen(text), off = 0, used;

	httpreq_init(r);
	while (off < len && st == HTTPREQ_MORE) {
		size_t n = len - off < step ? len - off : step;

		st = httpreq_feed(r, text + off, n, &used);
		cr_assert_leq(used, n);
		if (st == HTTPREQ_MORE)
			cr_assert_eq(used, n, "MORE takes every byte");
		off += used;
	}
	*taken = off;
	return st;
}

/* done - text parses to DONE in any split, taking `head` bytes */
static struct httpreq
done(const char *text, size_t head)
{
	struct httpreq r, first;
	size_t taken;

	for (size_t step = 1; step <= strlen(text); step++) {
		cr_assert_eq(feed(&r, text, step, &taken), HTTPREQ_DONE,
		    "step %zu: %s", step, r.error ? r.error : "more");
		cr_assert_eq(taken, head, "step %zu", step);
		if (step == 1)
			first = r;
		cr_assert_eq(r.method, first.method);
		cr_assert_str_eq(r.target, first.target);
		cr_assert_eq(r.openmetrics, first.openmetrics);
	}
	return first;
}

/* bad - text is refused (in any split) with `why` */
static void
bad(const char *text, const char *why)
{
	struct httpreq r;
	size_t taken;

	for (size_t step = 1; step <= strlen(text); step++) {
		cr_assert_eq(feed(&r, text, step, &taken), HTTPREQ_BAD,
		    "step %zu of \"%s\"", step, text);
		cr_assert_str_eq(r.error, why, "for \"%s\"", text);
	}
}

Test(httpreq, prometheus_scrape)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\n"
	    "Host: 127.0.0.1:9225\r\n"
	    "User-Agent: Prometheus/2.42.0\r\n"
	    "Accept: application/openmetrics-text;version=1.0.0,"
	    "application/openmetrics-text;version=0.0.1;q=0.75,"
	    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n"
	    "Accept-Encoding: gzip\r\n"
	    "X-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n";
	struct httpreq r = done(req, sizeof(req) - 1);

	cr_assert_eq(r.method, HTTPREQ_GET);
	cr_assert_str_eq(r.target, "/metrics");
	cr_assert_eq(r.minor, 1);
	cr_assert(r.openmetrics);
	cr_assert(httpreq_path_is(&r, "/metrics"));
}

Test(httpreq, curl_head_and_http10_with_lf)
{
	struct httpreq r;

	r = done("HEAD /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/7.88"
	    "\r\nAccept: */*\r\n\r\n", 71);
	cr_assert_eq(r.method, HTTPREQ_HEAD);
	cr_assert(!r.openmetrics, "*/* is not a request for OpenMetrics");
	/* HTTP/1.0 needs no Host; bare LF for CRLF; empty lines first. */
	r = done("\r\n\nGET /metrics?x=1 HTTP/1.0\n\n", 30);
	cr_assert_eq(r.minor, 0);
	cr_assert(httpreq_path_is(&r, "/metrics"));
}

Test(httpreq, the_rest_after_the_head_is_not_taken)
{
	struct httpreq r;
	size_t used;

	httpreq_init(&r);
	cr_assert_eq(httpreq_feed(&r, "GET / HTTP/1.0\r\n\r\nGARBAGE", 25,
	    &used), HTTPREQ_DONE);
	cr_assert_eq(used, 18);
	cr_assert_eq(httpreq_feed(&r, "more", 4, &used), HTTPREQ_DONE);
	cr_assert_eq(used, 0);
}

Test(httpreq, methods_and_paths)
{
	struct httpreq r;

	r = done("POST /metrics HTTP/1.0\r\n\r\n", 26);
	cr_assert_eq(r.method, HTTPREQ_OTHER);
	r = done("get /metrics HTTP/1.0\r\n\r\n", 25);
	cr_assert_eq(r.method, HTTPREQ_OTHER, "methods are case-sensitive");
	r = done("AVERYLONGMETHODNAMEINDEED / HTTP/1.0\r\n\r\n", 40);
	cr_assert_eq(r.method, HTTPREQ_OTHER);
	r = done("GET /metricsx HTTP/1.0\r\n\r\n", 26);
	cr_assert(!httpreq_path_is(&r, "/metrics"));
	r = done("GET /metrics/ HTTP/1.0\r\n\r\n", 26);
	cr_assert(!httpreq_path_is(&r, "/metrics"));
	r = done("GET http://127.0.0.1:9225/metrics?a HTTP/1.0\r\n\r\n", 48);
	cr_assert(httpreq_path_is(&r, "/metrics"));
	r = done("GET http://h HTTP/1.0\r\n\r\n", 25);
	cr_assert(!httpreq_path_is(&r, "/metrics"));
	r = done("GET * HTTP/1.0\r\n\r\n", 18);
	cr_assert(!httpreq_path_is(&r, "/metrics"));
}

Test(httpreq, accept_negotiation)
{
	struct httpreq r;

	r = done("GET / HTTP/1.0\r\nAccept: text/plain, Application/"
	    "OpenMetrics-Text ; version=1.0.0\r\n\r\n", 84);
	cr_assert(r.openmetrics);
	r = done("GET / HTTP/1.0\r\nAccept: application/openmetrics-text;"
	    "q=0\r\n\r\n", 60);
	cr_assert(!r.openmetrics, "q=0 refuses it");
	r = done("GET / HTTP/1.0\r\nAccept: application/openmetrics-text;"
	    "q=0.000, text/plain\r\n\r\n", 76);
	cr_assert(!r.openmetrics);
	r = done("GET / HTTP/1.0\r\nAccept: application/openmetrics-text;"
	    "q=0.01\r\n\r\n", 63);
	cr_assert(r.openmetrics);
	r = done("GET / HTTP/1.0\r\nAccept: application/openmetrics-textual"
	    "\r\n\r\n", 59);
	cr_assert(!r.openmetrics);
	/* Two Accept fields: either may ask. */
	r = done("GET / HTTP/1.0\r\nAccept: text/plain\r\nAccept: "
	    "application/openmetrics-text\r\n\r\n", 76);
	cr_assert(r.openmetrics);
}

Test(httpreq, garbage_is_refused)
{
	bad("\x16\x03\x01\x02\x00", "no request line");
	bad("GET /metrics\r\n\r\n", "no HTTP version (HTTP/0.9)");
	bad("GET  /metrics HTTP/1.1\r\n", "no request target");
	bad("GET /metrics HTTP/2.0\r\n\r\n", "not HTTP/1.x");
	bad("GET /metrics HTTP/1.10\r\n", "not HTTP/1.x");
	bad("GET /met rics HTTP/1.1\r\n", "not HTTP/1.x");
	bad("GET /m\x01 HTTP/1.1\r\n", "bad request target");
	bad("G(T / HTTP/1.1\r\n", "bad method");
	bad("GET / HTTP/1.1\rX", "CR without LF");
	bad("GET / HTTP/1.1\r\nHost: x\r\n\rX", "CR without LF");
	bad("GET / HTTP/1.1\r\nHost : x\r\n\r\n", "bad field name");
	bad("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
	    "obsolete line folding");
	bad("GET / HTTP/1.1\r\nHost: x\x7f\r\n\r\n", "bad field value");
	bad("GET / HTTP/1.1\r\n\r\n", "no Host");
	bad("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", "Host repeated");
	bad("GET / HTTP/1.0\r\nContent-Length: 5\r\n\r\n", "a request body");
	bad("GET / HTTP/1.0\r\nContent-Length: x\r\n\r\n",
	    "bad Content-Length");
	bad("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
	    "a request body");
}

Test(httpreq, empty_body_is_no_body)
{
	struct httpreq r = done("GET / HTTP/1.0\r\nContent-Length: 0 \r\n"
	    "\r\n", 38);

	cr_assert_eq(r.method, HTTPREQ_GET);
}

Test(httpreq, bounded)
{
	static char big[HTTPREQ_HEAD_MAX + 64];
	struct httpreq r;
	size_t taken, n;

	/* A head of exactly the maximum is taken ... */
	n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.0\r\nX: ");
	memset(big + n, 'a', HTTPREQ_HEAD_MAX - n - 4);
	memcpy(big + HTTPREQ_HEAD_MAX - 4, "\r\n\r\n", 5);
	cr_assert_eq(feed(&r, big, 4096, &taken), HTTPREQ_DONE, "%s",
	    r.error ? r.error : "");
	/* ... one byte more is not. */
	n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.0\r\nX: ");
	memset(big + n, 'a', HTTPREQ_HEAD_MAX - n - 3);
	memcpy(big + HTTPREQ_HEAD_MAX - 3, "\r\n\r\n", 5);
	cr_assert_eq(feed(&r, big, 4096, &taken), HTTPREQ_BAD);
	cr_assert_str_eq(r.error, "request head too large");
	/* A target past its maximum; too many fields; blank lines alone. */
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "GET /", 5);
	big[HTTPREQ_TARGET_MAX + 10] = '\0';
	cr_assert_eq(feed(&r, big, 100, &taken), HTTPREQ_BAD);
	cr_assert_str_eq(r.error, "request target too long");
	httpreq_init(&r);
	cr_assert_eq(httpreq_feed(&r, "GET / HTTP/1.0\r\n", 16, &taken),
	    HTTPREQ_MORE);
	for (n = 0; n < HTTPREQ_FIELDS_MAX; n++)
		cr_assert_eq(httpreq_feed(&r, "A: b\r\n", 6, &taken),
		    HTTPREQ_MORE);
	cr_assert_eq(httpreq_feed(&r, "A: b\r\n", 6, &taken), HTTPREQ_BAD);
	cr_assert_str_eq(r.error, "too many header fields");
	memset(big, '\n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(feed(&r, big, 1000, &taken), HTTPREQ_BAD);
	cr_assert_str_eq(r.error, "request head too large");
}
