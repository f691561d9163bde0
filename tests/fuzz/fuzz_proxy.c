/*
 * fuzz_proxy - the PROXY header parser on any input, and on every
 * prefix of it: the answers over growing prefixes are MORE, then either
 * DONE (always the same header) or BAD for good; DONE takes no more
 * than was given and names version 1 or 2; MORE asks for more than was
 * given and never past the longest v2 header.
 *
 * A short input is also tried as a v1 address (TCP4 and TCP6) and as a
 * port: the line is DONE exactly when inet_pton takes the address, or
 * the port is 0..65535 written without leading zeros.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/proxy.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fail(const char *what, size_t m)
{
	fprintf(stderr, "fuzz_proxy: %s (prefix of %zu octets)\n", what, m);
	abort();
}

static bool
same_hdr(const struct proxy_hdr *a, const struct proxy_hdr *b)
{
	return a->version == b->version && a->local == b->local &&
	    a->len == b->len &&
	    memcmp(&a->src, &b->src, sizeof(a->src)) == 0 &&
	    memcmp(&a->dst, &b->dst, sizeof(a->dst)) == 0;
}

/* check_one - the invariants of one answer on buf[0..len) */
static enum proxy_result
check_one(const uint8_t *buf, size_t len, struct proxy_hdr *hdr)
{
	enum proxy_result r;
	size_t	 need = 0;
	char	 err[128];

	r = proxy_parse(buf, len, hdr, &need, err, sizeof(err));
	switch (r) {
	case PROXY_DONE:
		if (hdr->len == 0 || hdr->len > len)
			fail("DONE past the input", len);
		if (hdr->version == 1 && hdr->len > PROXY_V1_MAX)
			fail("v1 line past 107 octets", len);
		else if (hdr->version == 2 && (hdr->len < PROXY_V2_MIN ||
		    hdr->len > PROXY_V2_MAX))
			fail("v2 header of impossible length", len);
		else if (hdr->version != 1 && hdr->version != 2)
			fail("DONE with no version", len);
		if (!hdr->local && ((hdr->src.ss_family != AF_INET &&
		    hdr->src.ss_family != AF_INET6) ||
		    hdr->dst.ss_family != hdr->src.ss_family))
			fail("client address of no family", len);
		if (hdr->local && (hdr->src.ss_family != 0 ||
		    hdr->dst.ss_family != 0))
			fail("local with addresses", len);
		break;
	case PROXY_MORE:
		if (need <= len || need > PROXY_V2_MAX)
			fail("MORE with a need out of range", len);
		break;
	case PROXY_BAD:
		if (err[0] == '\0')
			fail("BAD without a reason", len);
		break;
	default:
		fail("no such answer", len);
	}
	return r;
}

/* check - every prefix of buf[0..len): MORE, then DONE with one header
 * or BAD, and never back; the answer on the whole. Past the first
 * answer that is not MORE, only the next prefix and the whole are
 * tried (a long v2 header with a CRC32C would make it quadratic). */
static enum proxy_result
check(const uint8_t *buf, size_t len, size_t *hlen)
{
	struct proxy_hdr first, hdr;
	enum proxy_result seen = PROXY_MORE, r;
	size_t	 settled = 0;

	memset(&first, 0, sizeof(first));
	for (size_t m = 0; m <= len; m++) {
		if (seen != PROXY_MORE && m > settled + 1 && m < len)
			m = len;
		r = check_one(buf, m, &hdr);
		if (seen == PROXY_MORE && r != PROXY_MORE)
			settled = m;
		if (seen == PROXY_MORE && r == PROXY_DONE)
			first = hdr;
		else if (seen != r && seen != PROXY_MORE)
			fail("answer changed with more input", m);
		else if (r == PROXY_DONE && !same_hdr(&first, &hdr))
			fail("a longer input gave another header", m);
		seen = r;
	}
	*hlen = first.len;
	return seen;
}

/* line - "pre tok post" as one v1 line: DONE on all of it exactly when
 * `want` (a CRLF in tok may end a shorter line) */
static void
line(const char *pre, const uint8_t *tok, size_t n, const char *post,
    bool want)
{
	uint8_t	 buf[256];
	size_t	 a = strlen(pre), b = strlen(post), hlen;
	bool	 whole;

	memcpy(buf, pre, a);
	memcpy(buf + a, tok, n);
	memcpy(buf + a + n, post, b);
	whole = check(buf, a + n + b, &hlen) == PROXY_DONE &&
	    hlen == a + n + b;
	if (whole != want)
		fail(want ? "a valid line refused" : "an invalid line taken",
		    a + n + b);
}

static bool
port_ok(const uint8_t *s, size_t n)
{
	unsigned long v = 0;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	return v <= 65535;
}

/* tokens - the input as an address and as a port on a v1 line */
static void
tokens(const uint8_t *data, size_t size)
{
	char	 text[64];
	uint8_t	 bin[16];

	if (size > 45 || memchr(data, '\0', size) != NULL)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	line("PROXY TCP4 ", data, size, " 192.0.2.1 1 2\r\n",
	    inet_pton(AF_INET, text, bin) == 1);
	line("PROXY TCP6 ", data, size, " ::1 1 2\r\n",
	    inet_pton(AF_INET6, text, bin) == 1);
	line("PROXY TCP6 ::1 ", data, size, " 1 2\r\n",
	    inet_pton(AF_INET6, text, bin) == 1);
	line("PROXY TCP4 192.0.2.1 192.0.2.2 1 ", data, size, "\r\n",
	    port_ok(data, size));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t	 hlen;

	check(data, size, &hlen);
	tokens(data, size);
	return 0;
}
