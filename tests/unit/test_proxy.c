/*
 * test_proxy - the PROXY protocol header as a load balancer sends it:
 * v1 lines and v2 headers built byte by byte here, every prefix of a
 * valid header waiting for more, and anything else refused at the
 * octet that rules it out.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crc32c.h"
#include "lib/netaddr.h"
#include "lib/proxy.h"

static char errbuf[128];

static enum proxy_result
parse(const void *buf, size_t len, struct proxy_hdr *hdr, size_t *need)
{
	return proxy_parse(buf, len, hdr, need, errbuf, sizeof(errbuf));
}

/* more_prefixes - every prefix of buf shorter than hlen is PROXY_MORE
 * with a need past it and no greater than max_need */
static void
more_prefixes(const void *buf, size_t hlen, size_t max_need)
{
	struct proxy_hdr hdr;
	size_t	 need;

	for (size_t n = 0; n < hlen; n++) {
		cr_assert_eq(parse(buf, n, &hdr, &need), PROXY_MORE,
		    "prefix of %zu octets: %s", n, errbuf);
		cr_assert_gt(need, n, "prefix of %zu octets", n);
		cr_assert_leq(need, max_need, "prefix of %zu octets", n);
	}
}

/* done - buf[0..len) parses to DONE taking hlen octets, and so does the
 * header alone; every prefix of the header is MORE */
static struct proxy_hdr
done(const void *buf, size_t len, size_t hlen)
{
	struct proxy_hdr hdr, alone;
	size_t	 need;

	cr_assert_eq(parse(buf, len, &hdr, &need), PROXY_DONE, "%s", errbuf);
	cr_assert_eq(hdr.len, hlen);
	cr_assert_eq(parse(buf, hlen, &alone, &need), PROXY_DONE, "%s",
	    errbuf);
	cr_assert_eq(alone.len, hlen);
	more_prefixes(buf, hlen, hlen);
	return hdr;
}

static struct proxy_hdr
done_line(const char *line, const char *after)
{
	char	 buf[512];

	snprintf(buf, sizeof(buf), "%s%s", line, after);
	return done(buf, strlen(buf), strlen(line));
}

/* bad_at - buf[0..n-1) is a valid prefix, buf[0..n) and anything
 * longer is refused */
static void
bad_at(const void *buf, size_t n, size_t len)
{
	struct proxy_hdr hdr;
	size_t	 need;

	cr_assert_geq(len, n);
	more_prefixes(buf, n - 1, PROXY_V2_MAX);
	for (size_t m = n; m <= len; m++) {
		errbuf[0] = '\0';
		cr_assert_eq(parse(buf, m, &hdr, &need), PROXY_BAD,
		    "%zu octets of %zu", m, len);
		cr_assert_neq(errbuf[0], '\0');
	}
}

/* bad_line - refused once the octet at `at` in s is seen */
static void
bad_line(const char *s, size_t at)
{
	bad_at(s, at + 1, strlen(s));
}

/* bad_from - refused at the first octet where s and good part ways */
static void
bad_from(const char *s, const char *good)
{
	size_t	 i = 0;

	while (s[i] == good[i])
		i++;
	bad_line(s, i);
}

/* assert_addr - ss is addr:port of family af */
static void
assert_addr(const struct sockaddr_storage *ss, int af, const char *addr,
    unsigned port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	struct in6_addr want;

	cr_assert_eq(ss->ss_family, af);
	cr_assert_eq(inet_pton(af, addr, &want), 1);
	if (af == AF_INET) {
		cr_assert_eq(memcmp(&sin->sin_addr, &want, 4), 0, "%s", addr);
		cr_assert_eq(ntohs(sin->sin_port), port);
	} else {
		cr_assert_eq(memcmp(&sin6->sin6_addr, &want, 16), 0, "%s",
		    addr);
		cr_assert_eq(ntohs(sin6->sin6_port), port);
	}
}

#define assert_in4(ss, addr, port)	assert_addr(ss, AF_INET, addr, port)
#define assert_in6(ss, addr, port)	assert_addr(ss, AF_INET6, addr, port)

/* --- version 1 ---------------------------------------------------------- */

/* v1_client - line, then SMTP, gives the client src:sport that
 * connected to dst:dport, and the SMTP is left alone */
static void
v1_client(const char *line, int af, const char *src, unsigned sport,
    const char *dst, unsigned dport)
{
	struct proxy_hdr h = done_line(line, "EHLO x\r\n");

	cr_assert_eq(h.version, 1);
	cr_assert(!h.local);
	assert_addr(&h.src, af, src, sport);
	assert_addr(&h.dst, af, dst, dport);
}

Test(proxy_v1, tcp4_then_smtp_left_alone)
{
	v1_client("PROXY TCP4 192.0.2.1 198.51.100.25 56324 25\r\n", AF_INET,
	    "192.0.2.1", 56324, "198.51.100.25", 25);
}

Test(proxy_v1, tcp6)
{
	v1_client("PROXY TCP6 2001:db8::1 2001:DB8::25 1 587\r\n", AF_INET6,
	    "2001:db8::1", 1, "2001:db8::25", 587);
}

Test(proxy_v1, tcp6_forms_inet_pton_takes)
{
	static const char *const addrs[] = {
		"::", "::1", "1::", "::ffff:192.0.2.1", "1:2:3:4:5:6:7:8",
		"1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4",
		"1:2:3:4:5::1.2.3.4", "::0.0.0.0", "abcd:EF01::0000",
		"0000:0000:0000:0000:0000:ffff:255.255.255.255",
	};
	char	 line[200];

	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		struct proxy_hdr h;

		snprintf(line, sizeof(line), "PROXY TCP6 ::1 %s 1 2\r\n",
		    addrs[i]);
		h = done_line(line, "");
		assert_in6(&h.dst, addrs[i], 2);
	}
}

Test(proxy_v1, ports_0_and_65535)
{
	v1_client("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", AF_INET,
	    "0.0.0.0", 0, "255.255.255.255", 65535);
	v1_client("PROXY TCP6 ::1 ::2 65535 0\r\n", AF_INET6, "::1", 65535,
	    "::2", 0);
}

Test(proxy_v1, unknown_is_local)
{
	struct proxy_hdr h = done_line("PROXY UNKNOWN\r\n", "EHLO x\r\n");

	cr_assert_eq(h.version, 1);
	cr_assert(h.local);
	cr_assert_eq(h.len, 15);
	cr_assert_eq(h.src.ss_family, 0);
	h = done_line("PROXY UNKNOWN whatever \x01\xff is here\r\n", "\r\n");
	cr_assert(h.local);
}

Test(proxy_v1, longest_lines)
{
	const char *tcp6 = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:"
	    "ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	const char *unk = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:"
	    "ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	const char *over = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:"
	    "ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655355\r\n";

	cr_assert_eq(strlen(tcp6), 104);
	cr_assert_eq(done_line(tcp6, "").len, 104);
	cr_assert_eq(strlen(unk), PROXY_V1_MAX);
	cr_assert_eq(done_line(unk, "DATA").len, PROXY_V1_MAX);
	/* one octet more: no CR can come within 107 octets */
	cr_assert_eq(strlen(over), PROXY_V1_MAX + 1);
	bad_line(over, PROXY_V1_MAX - 2);
}

Test(proxy_v1, tcp6_that_cannot_end_in_107_octets)
{
	/* valid addresses, but with the ports and CRLF still to come the
	 * line can only end past 107 octets */
	const char *s = "PROXY TCP6 0000:0000:0000:0000:0000:ffff:255.255."
	    "255.255 0000:0000:0000:0000:0000:ffff:255.255.255.255 1 2\r\n";
	struct proxy_hdr hdr;
	size_t	 need;

	cr_assert_eq(parse(s, strlen(s), &hdr, &need), PROXY_BAD);
	cr_assert_eq(parse(s, 60, &hdr, &need), PROXY_MORE);
}

Test(proxy_v1, smtp_and_tls_refused_at_first_octet)
{
	bad_line("EHLO mail.example.org\r\n", 0);
	bad_line("HELO x\r\n", 0);
	bad_line("\x16\x03\x01\x02\x00", 0);
	bad_line("proxy TCP4", 0);
}

Test(proxy_v1, bad_keyword_and_spacing)
{
	const char *good = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";

	bad_from("PROXX TCP4", good);
	bad_from("PROXYTCP4", good);
	bad_from("PROXY  TCP4 1.2.3.4", good);
	bad_from("PROXY tcp4 1.2.3.4", good);
	bad_from("PROXY TCP5 1.2.3.4", good);
	bad_from("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", good);
	bad_from("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", good);
	bad_from("PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n", good);
	bad_from("PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", good);
	bad_from("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", good);
	bad_from("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", good);
	bad_from("PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n", good);
	bad_from("PROXY UNKNOWNX\r\n", "PROXY UNKNOWN\r\n");
	bad_from("PROXY UNKNOWN\n", "PROXY UNKNOWN\r\n");
	bad_from("PROXY UNKNOWN\rx\r\n", "PROXY UNKNOWN\r\n");
}

Test(proxy_v1, bad_line_end)
{
	const char *good = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";

	bad_from("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", good);
	bad_from("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", good);
	bad_from("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rEHLO", good);
	bad_from("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", good);
	bad_from("PROXY TCP4 1.2.3.4 5.6.7.8\r\n", good);
	bad_from("PROXY TCP4\r\n", good);
	bad_from("PROXY\r\n", good);
}

Test(proxy_v1, control_byte_refused_at_once)
{
	bad_from("PROXY TCP4 1.2.3\x01", "PROXY TCP4 1.2.3.4");
	bad_from("PROXY TCP6 ::\x7f", "PROXY TCP6 ::1");
	bad_from("PROXY TCP4 1.2.3.4 5.6.7.8 1\x1f 2\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
}

Test(proxy_v1, addresses_of_the_other_family)
{
	bad_from("PROXY TCP4 ::1 ::1 1 2\r\n", "PROXY TCP4 1");
	bad_from("PROXY TCP4 1.2.3.4 2001:db8::1 1 2\r\n",
	    "PROXY TCP4 1.2.3.4 200");
	/* "1" could start an IPv6 group; the dot rules it out */
	bad_from("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "PROXY TCP6 1:");
	bad_from("PROXY TCP6 ::1 5.6.7.8 1 2\r\n", "PROXY TCP6 ::1 5:");
}

Test(proxy_v1, bad_ipv4)
{
	const char *good = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";

	bad_from("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "PROXY TCP4 0.");
	bad_from("PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n",
	    "PROXY TCP4 1.2.3.0 ");
	bad_line("PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n", 13);
	bad_from("PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", good);
	bad_from("PROXY TCP4 .1.2.3 5.6.7.8 1 2\r\n", good);
	bad_from("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", good);
	bad_from("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", good);
	bad_from("PROXY TCP4 1.2.3. 5.6.7.8 1 2\r\n", good);
}

Test(proxy_v1, bad_ipv6)
{
	const char *good = "PROXY TCP6 1:2:3:4:5:6:7:8 ::1 1 2\r\n";

	bad_from("PROXY TCP6 1:::2 ::1 1 2\r\n", "PROXY TCP6 1::2");
	bad_from("PROXY TCP6 :1:2:3:4:5:6:7 ::1 1 2\r\n", "PROXY TCP6 ::");
	bad_from("PROXY TCP6 1::2::3 ::1 1 2\r\n",
	    "PROXY TCP6 1::2:3 ::1 1 2\r\n");
	bad_from("PROXY TCP6 12345:: ::1 1 2\r\n", "PROXY TCP6 1234:");
	bad_from("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", good);
	bad_from("PROXY TCP6 1:2:3:4:5:6:7:8:: ::1 1 2\r\n", good);
	bad_from("PROXY TCP6 1::2:3:4:5:6:7:8 ::1 1 2\r\n",
	    "PROXY TCP6 1::2:3:4:5:6:7 ");
	bad_from("PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n", good);
	bad_from("PROXY TCP6 1: ::1 1 2\r\n", good);
	bad_from("PROXY TCP6 g::1 ::1 1 2\r\n", good);
	bad_from("PROXY TCP6 ::ffff:1.2.3 ::1 1 2\r\n",
	    "PROXY TCP6 ::ffff:1.2.3.");
	bad_from("PROXY TCP6 ::ab.1.2.3 ::1 1 2\r\n", "PROXY TCP6 ::ab:");
	bad_from("PROXY TCP6 1:2:3:4:5:6::1.2.3.4 ::1 1 2\r\n",
	    "PROXY TCP6 1:2:3:4:5:6::1:");
	bad_from("PROXY TCP6 1:2:3:4:5:1.2.3.4 ::1 1 2\r\n",
	    "PROXY TCP6 1:2:3:4:5:1:");
}

Test(proxy_v1, bad_ports)
{
	const char *good = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";

	bad_line("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", 31);
	bad_line("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", 33);
	bad_line("PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n", 32);
	bad_line("PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n", 28);
	bad_line("PROXY TCP4 1.2.3.4 5.6.7.8 1 025\r\n", 30);
	bad_from("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", good);
	bad_from("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", good);
	bad_from("PROXY TCP4 1.2.3.4 5.6.7.8 x 2\r\n", good);
}

Test(proxy_v1, no_crlf_within_107_octets)
{
	char	 s[300];

	memset(s, 'x', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	memcpy(s, "PROXY UNKNOWN ", 14);
	/* past octet 106 no CRLF can end the line within 107 */
	bad_line(s, PROXY_V1_MAX - 2);
	memcpy(s + 105, "\r\n", 2);
	cr_assert_eq(done(s, sizeof(s) - 1, PROXY_V1_MAX).len, PROXY_V1_MAX);
}

/* --- version 2 ---------------------------------------------------------- */

static const uint8_t sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};

/* v2 - the header: signature, ver_cmd, fam, length, body; its size */
static size_t
v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *body,
    size_t blen)
{
	memcpy(out, sig, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(blen >> 8);
	out[15] = (uint8_t)blen;
	if (blen > 0)
		memcpy(out + 16, body, blen);
	return 16 + blen;
}

/* 192.0.2.1:56324 -> 198.51.100.25:25 */
static const uint8_t inet_block[12] = {
	192, 0, 2, 1, 198, 51, 100, 25, 0xDC, 0x04, 0x00, 0x19
};

/* v2_done - the header then "EHLO x\r\n": done() on both */
static struct proxy_hdr
v2_done(const uint8_t *hdr, size_t hlen)
{
	uint8_t	*buf = malloc(hlen + 8);
	struct proxy_hdr h;

	cr_assert_not_null(buf);
	memcpy(buf, hdr, hlen);
	memcpy(buf + hlen, "EHLO x\r\n", 8);
	h = done(buf, hlen + 8, hlen);
	free(buf);
	return h;
}

Test(proxy_v2, tcp4)
{
	uint8_t	 b[64];
	size_t	 n = v2(b, 0x21, 0x11, inet_block, sizeof(inet_block));
	struct proxy_hdr h = v2_done(b, n);

	cr_assert_eq(n, 28);
	cr_assert_eq(h.version, 2);
	cr_assert(!h.local);
	assert_in4(&h.src, "192.0.2.1", 56324);
	assert_in4(&h.dst, "198.51.100.25", 25);
}

Test(proxy_v2, tcp6)
{
	uint8_t	 body[36] = {
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x25,
		0x00, 0x00, 0xff, 0xff
	};
	uint8_t	 b[64];
	size_t	 n = v2(b, 0x21, 0x21, body, sizeof(body));
	struct proxy_hdr h = v2_done(b, n);

	cr_assert_eq(n, 52);
	cr_assert(!h.local);
	assert_in6(&h.src, "2001:db8::1", 0);
	assert_in6(&h.dst, "2001:db8::25", 65535);
}

/* v2_local - the header is taken, whole, as the proxy's own
 * connection: no client address */
static void
v2_local(uint8_t ver_cmd, uint8_t fam, const uint8_t *body, size_t blen)
{
	uint8_t	 b[512];
	struct proxy_hdr h;

	cr_assert_leq(blen, sizeof(b) - 16);
	h = v2_done(b, v2(b, ver_cmd, fam, body, blen));
	cr_assert_eq(h.version, 2);
	cr_assert(h.local);
	cr_assert_eq(h.len, 16 + blen);
	cr_assert_eq(h.src.ss_family, 0);
	cr_assert_eq(h.dst.ss_family, 0);
}

Test(proxy_v2, local_ignores_family_and_block)
{
	uint8_t	 junk[5] = { 1, 2, 3, 4, 5 };

	v2_local(0x20, 0x00, NULL, 0);
	/* a family that PROXY would refuse, a block too short for it */
	v2_local(0x20, 0xFF, junk, sizeof(junk));
	v2_local(0x20, 0x12, junk, sizeof(junk));
	v2_local(0x20, 0x11, inet_block, sizeof(inet_block));
}

Test(proxy_v2, unspec_is_local)
{
	v2_local(0x21, 0x00, NULL, 0);
	v2_local(0x21, 0x00, inet_block, sizeof(inet_block));
	/* AF_INET with an unspecified protocol: addresses ignored */
	v2_local(0x21, 0x10, inet_block, sizeof(inet_block));
	v2_local(0x21, 0x01, NULL, 0);
}

Test(proxy_v2, unix_is_local)
{
	uint8_t	 body[216 + 7] = { 0 };
	uint8_t	 b[300];

	memcpy(body, "/run/haproxy/smtp.sock", 22);
	memcpy(body + 108, "/run/sallyport.sock", 19);
	v2_local(0x21, 0x31, body, 216);
	v2_local(0x21, 0x30, body, 216);
	/* with an ALPN TLV after the addresses */
	memcpy(body + 216, "\x01\x00\x04smtp", 7);
	v2_local(0x21, 0x31, body, sizeof(body));
	/* too short for two socket paths */
	bad_at(b, 16, v2(b, 0x21, 0x31, body, 215));
}

Test(proxy_v2, tlvs_skipped)
{
	uint8_t	 body[64];
	uint8_t	 b[128];
	size_t	 n = 0;
	struct proxy_hdr h;

	memcpy(body, inet_block, 12);
	n = 12;
	memcpy(body + n, "\x01\x00\x04smtp", 7);	/* ALPN */
	n += 7;
	memcpy(body + n, "\x04\x00\x03\x00\x00\x00", 6);	/* NOOP */
	n += 6;
	memcpy(body + n, "\x04\x00\x00", 3);	/* empty NOOP */
	n += 3;
	memcpy(body + n, "\xE0\x00\x02zz", 5);	/* custom */
	n += 5;
	memcpy(body + n, "\x20\x00\x05\x01\x00\x00\x00\x00", 8);	/* SSL */
	n += 8;
	h = v2_done(b, v2(b, 0x21, 0x11, body, n));
	cr_assert_eq(h.len, 16 + n);
	assert_in4(&h.src, "192.0.2.1", 56324);
}

Test(proxy_v2, tlv_past_the_end)
{
	uint8_t	 body[32];
	uint8_t	 b[64];
	size_t	 n;

	memcpy(body, inet_block, 12);
	/* announces 10 octets of value, 5 follow */
	memcpy(body + 12, "\x01\x00\x0a" "abcde", 8);
	n = v2(b, 0x21, 0x11, body, 20);
	bad_at(b, n, n);
	/* two octets: not even a TLV's type and length */
	memcpy(body + 12, "\x04\x00", 2);
	n = v2(b, 0x21, 0x11, body, 14);
	bad_at(b, n, n);
}

/* with_crc - the TCP4 header with a NOOP and a CRC32C TLV, its sum
 * computed over the header with the field zeroed; its size */
static size_t
with_crc(uint8_t *b)
{
	uint8_t	 body[32];
	size_t	 n;
	uint32_t crc;

	memcpy(body, inet_block, 12);
	memcpy(body + 12, "\x04\x00\x01\x00", 4);
	memcpy(body + 16, "\x03\x00\x04\x00\x00\x00\x00", 7);
	memcpy(body + 23, "\x01\x00\x04smtp", 7);
	n = v2(b, 0x21, 0x11, body, 30);
	crc = crc32c(b, n);
	b[16 + 19] = (uint8_t)(crc >> 24);
	b[16 + 20] = (uint8_t)(crc >> 16);
	b[16 + 21] = (uint8_t)(crc >> 8);
	b[16 + 22] = (uint8_t)crc;
	return n;
}

Test(proxy_v2, crc32c_checked)
{
	uint8_t	 b[64];
	size_t	 n = with_crc(b);
	struct proxy_hdr h = v2_done(b, n);

	cr_assert(!h.local);
	assert_in4(&h.dst, "198.51.100.25", 25);
	/* a wrong sum */
	b[16 + 22] ^= 1;
	bad_at(b, n, n);
	/* the right sum, but the header changed under it */
	n = with_crc(b);
	b[16 + 11] = 26;
	bad_at(b, n, n);
}

Test(proxy_v2, crc32c_of_wrong_size)
{
	uint8_t	 body[32];
	uint8_t	 b[64];
	size_t	 n;

	memcpy(body, inet_block, 12);
	memcpy(body + 12, "\x03\x00\x03\x00\x00\x00", 6);
	n = v2(b, 0x21, 0x11, body, 18);
	bad_at(b, n, n);
}

Test(proxy_v2, version_command_family)
{
	uint8_t	 b[64];
	size_t	 n;

	n = v2(b, 0x11, 0x11, inet_block, 12);	/* version 1 */
	bad_at(b, 13, n);
	n = v2(b, 0x31, 0x11, inet_block, 12);	/* version 3 */
	bad_at(b, 13, n);
	n = v2(b, 0x22, 0x11, inet_block, 12);	/* command 2 */
	bad_at(b, 13, n);
	n = v2(b, 0x2F, 0x11, inet_block, 12);
	bad_at(b, 13, n);
	n = v2(b, 0x21, 0x12, inet_block, 12);	/* UDP over IPv4 */
	bad_at(b, 14, n);
	n = v2(b, 0x21, 0x22, inet_block, 12);	/* UDP over IPv6 */
	bad_at(b, 14, n);
	n = v2(b, 0x21, 0x32, inet_block, 12);	/* UNIX datagram */
	bad_at(b, 14, n);
	n = v2(b, 0x21, 0x41, inet_block, 12);	/* family 4 */
	bad_at(b, 14, n);
	n = v2(b, 0x21, 0x13, inet_block, 12);	/* protocol 3 */
	bad_at(b, 14, n);
}

Test(proxy_v2, block_shorter_than_family)
{
	uint8_t	 b[64];
	size_t	 n;

	n = v2(b, 0x21, 0x11, inet_block, 11);
	bad_at(b, 16, n);
	n = v2(b, 0x21, 0x21, inet_block, 12);
	bad_at(b, 16, n);
}

Test(proxy_v2, need_from_the_preamble)
{
	uint8_t	 b[64];
	size_t	 n = v2(b, 0x21, 0x11, inet_block, 12), need;
	struct proxy_hdr h;

	cr_assert_eq(parse(b, 5, &h, &need), PROXY_MORE);
	cr_assert_eq(need, 16);
	cr_assert_eq(parse(b, 16, &h, &need), PROXY_MORE);
	cr_assert_eq(need, n);
	cr_assert_eq(parse(b, n - 1, &h, &need), PROXY_MORE);
	cr_assert_eq(need, n);
}

Test(proxy_v2, bad_signature)
{
	uint8_t	 b[64];
	size_t	 n;

	for (size_t i = 0; i < 12; i++) {
		n = v2(b, 0x21, 0x11, inet_block, 12);
		b[i] ^= 0x20;
		bad_at(b, i + 1, n);
	}
	/* HTTP and SMTP on a v2 listener */
	bad_line("\r\nEHLO", 2);
}

Test(proxy_v2, longest_header)
{
	size_t	 blen = PROXY_V2_MAX - 16;
	uint8_t	*b = calloc(1, PROXY_V2_MAX + 4);
	uint8_t	*body = calloc(1, blen);
	size_t	 n, pad = blen - 12 - 3;
	struct proxy_hdr h;

	cr_assert(b != NULL && body != NULL);
	memcpy(body, inet_block, 12);
	body[12] = 0x04;
	body[13] = (uint8_t)(pad >> 8);
	body[14] = (uint8_t)pad;
	n = v2(b, 0x21, 0x11, body, blen);
	cr_assert_eq(n, PROXY_V2_MAX);
	memcpy(b + n, "QUIT", 4);
	h = done(b, n + 4, n);
	cr_assert_eq(h.len, PROXY_V2_MAX);
	free(body);
	free(b);
}

/* --- whom a proxy listener believes (proxy_decide) ---------------------- */

/* ss_of - "ADDR" with port as a socket address */
static struct sockaddr_storage
ss_of(const char *addr, unsigned port)
{
	struct sockaddr_storage ss;

	cr_assert_eq(netaddr_from_text(addr, &ss), 0, "%s", addr);
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
	return ss;
}

Test(proxy_decide, trusted_proxy_names_the_client)
{
	struct cidr t[2];
	struct sockaddr_storage lb = ss_of("10.0.0.5", 40001);
	struct sockaddr_storage here = ss_of("10.0.0.25", 25);
	struct proxy_hdr h = done_line("PROXY TCP4 203.0.113.7 192.0.2.25 "
	    "40000 25\r\n", "");

	cr_assert_eq(cidr_parse("10.0.0.0/24", &t[0], NULL, 0), 0);
	cr_assert_eq(cidr_parse("::1/128", &t[1], NULL, 0), 0);
	cr_expect_eq(proxy_decide(t, 2, &lb, &here, NULL), PROXY_T_WAIT);
	cr_expect_eq(proxy_decide(t, 2, &lb, &here, &h), PROXY_T_CLIENT);
}

Test(proxy_decide, anyone_else_is_closed_whatever_it_claims)
{
	struct cidr t;
	struct sockaddr_storage out = ss_of("203.0.113.9", 40001);
	struct sockaddr_storage out6 = ss_of("2001:db8::9", 40001);
	struct sockaddr_storage here = ss_of("10.0.0.25", 25);
	struct proxy_hdr h = done_line("PROXY TCP4 127.0.0.1 10.0.0.25 40000 "
	    "25\r\n", "");

	cr_assert_eq(cidr_parse("10.0.0.0/24", &t, NULL, 0), 0);
	cr_expect_eq(proxy_decide(&t, 1, &out, &here, NULL), PROXY_T_REFUSE);
	cr_expect_eq(proxy_decide(&t, 1, &out, &here, &h), PROXY_T_REFUSE);
	cr_expect_eq(proxy_decide(&t, 1, &out6, &here, &h), PROXY_T_REFUSE);
	cr_expect_eq(proxy_decide(NULL, 0, &out, &here, &h), PROXY_T_REFUSE);
}

Test(proxy_decide, health_check_and_local_are_the_proxys_own)
{
	struct cidr t;
	struct sockaddr_storage lb = ss_of("10.0.0.5", 40001);
	struct sockaddr_storage here = ss_of("10.0.0.25", 25);
	struct proxy_hdr self = done_line("PROXY TCP4 10.0.0.5 10.0.0.25 40001 "
	    "25\r\n", "");
	struct proxy_hdr other_port = done_line("PROXY TCP4 10.0.0.5 "
	    "10.0.0.25 40002 25\r\n", "");
	struct proxy_hdr unknown = done_line("PROXY UNKNOWN\r\n", "");

	cr_assert_eq(cidr_parse("10.0.0.0/24", &t, NULL, 0), 0);
	cr_expect_eq(proxy_decide(&t, 1, &lb, &here, &self), PROXY_T_SELF);
	cr_expect_eq(proxy_decide(&t, 1, &lb, &here, &unknown), PROXY_T_SELF);
	cr_expect_eq(proxy_decide(&t, 1, &lb, &here, &other_port),
	    PROXY_T_CLIENT);
}
