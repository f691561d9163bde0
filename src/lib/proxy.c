/*
 * proxy - the PROXY protocol header, versions 1 and 2 (HAProxy's
 * proxy-protocol.txt), parsed from whatever has arrived so far.
 *
 * Stateless: every call reads buf from its start, so the caller simply
 * parses again when more octets arrive. A prefix that can still become
 * a valid header is PROXY_MORE; anything that no longer can is
 * PROXY_BAD at the octet that rules it out, so that a client speaking
 * SMTP straight at a proxy listener is refused as soon as it writes.
 *
 * Version 1 (one text line, at most 107 octets with its CRLF):
 *	"PROXY TCP4 a.b.c.d a.b.c.d sport dport\r\n"
 *	"PROXY TCP6 x:x::x x:x::x sport dport\r\n"
 *	"PROXY UNKNOWN" and anything but a lone CR or LF, then "\r\n"
 * Fields are separated by exactly one space. Addresses are what
 * inet_pton takes for the named family (so TCP4's are dotted quads
 * without leading zeros, and TCP6's may end in a dotted quad). Ports
 * are decimal 0..65535 with no sign and no leading zero ("0" itself is
 * the only number starting with 0), as the spec asks.
 *
 * Version 2 (binary): the 12-octet signature, version 2 and a command
 * (LOCAL or PROXY), family and protocol, a 16-bit length, then the
 * address block of the family and TLVs up to that length.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/crc32c.h"
#include "lib/netaddr.h"
#include "lib/proxy.h"

static const char proxy_v2_sig[12] = "\r\n\r\n\0\r\nQUIT\n";

#define PROXY_V2_CMD_LOCAL	0x0
#define PROXY_V2_CMD_PROXY	0x1
#define PROXY_V2_AF_UNSPEC	0x0
#define PROXY_V2_AF_INET	0x1
#define PROXY_V2_AF_INET6	0x2
#define PROXY_V2_AF_UNIX	0x3
#define PROXY_V2_PROTO_UNSPEC	0x0
#define PROXY_V2_PROTO_STREAM	0x1
#define PROXY_V2_PROTO_DGRAM	0x2
#define PROXY_V2_TLV_CRC32C	0x03	/* checked */
#define PROXY_V2_TLV_NOOP	0x04	/* padding: skipped like the rest */

/* Longest token of a v1 line worth reading: an IPv6 address ending in
 * a dotted quad (0000:0000:0000:0000:0000:ffff:255.255.255.255). */
#define PROXY_V1_TOKEN_MAX	45

/* proxy_bad - a reason into the caller's buffer; PROXY_BAD */
static enum proxy_result
proxy_bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return PROXY_BAD;
}

/* --- version 1 ---------------------------------------------------------- */

/* ipv4_prefix - could s[0..n) still become a dotted quad (four numbers
 * 0..255, no leading zeros)? */
static bool
ipv4_prefix(const char *s, size_t n)
{
	unsigned dots = 0, digits = 0, val = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (digits == 0 || ++dots > 3)
				return false;
			digits = val = 0;
		} else if (s[i] >= '0' && s[i] <= '9') {
			if (digits == 1 && val == 0)
				return false;	/* a leading zero */
			val = val * 10 + (unsigned)(s[i] - '0');
			if (++digits > 3 || val > 255)
				return false;
		} else
			return false;
	}
	return true;
}

static bool
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/*
 * ipv6_prefix - could s[0..n) still become an IPv6 address as inet_pton
 * reads it: groups of 1-4 hex digits between single colons, at most
 * one "::" standing for one or more zero groups, eight groups in all
 * (at most seven written with "::"), the last two of which may be a
 * dotted quad.
 */
static bool
ipv6_prefix(const char *s, size_t n)
{
	unsigned groups = 0;	/* groups closed by a colon */
	unsigned digits = 0;	/* hex digits of the open group */
	unsigned colons = 0;	/* colons just read: 0, 1 or 2 */
	bool	 dbl = false;	/* "::" seen */
	size_t	 start = 0;	/* where the open group began */

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (is_hex(c)) {
			if (digits == 0) {
				if (i == 1)	/* ":x": one leading colon */
					return false;
				if (groups + 1 > (dbl ? 7u : 8u))
					return false;
				start = i;
			}
			if (++digits > 4)
				return false;
			colons = 0;
		} else if (c == ':') {
			if (colons == 2 || (colons == 1 && dbl))
				return false;
			if (colons == 1) {
				dbl = true;
				colons = 2;
			} else if (digits == 0) {
				colons = 1;	/* the first of a leading "::" */
			} else {
				groups++;
				digits = 0;
				colons = 1;
				if (groups > (dbl ? 6u : 7u))
					return false;
			}
		} else if (c == '.') {
			/* the open group is the dotted quad's first number,
			 * which takes the place of two groups */
			if (digits == 0 || (dbl ? groups > 5 : groups != 6))
				return false;
			return ipv4_prefix(s + start, n - start);
		} else
			return false;
	}
	return true;
}

/* port_prefix - could s[0..n) still become a port: 0..65535, decimal,
 * no sign, no leading zero? */
static bool
port_prefix(const char *s, size_t n, unsigned *port)
{
	unsigned val = 0;

	if (n > 5 || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		val = val * 10 + (unsigned)(s[i] - '0');
	}
	*port = val;
	return val <= 65535;
}

/* sa_init - sa as an address of family af: where its address and
 * (through *port) its port go */
static void *
sa_init(struct sockaddr_storage *sa, int af, in_port_t **port)
{
	if (af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)sa;

		sin->sin_family = AF_INET;
		*port = &sin->sin_port;
		return &sin->sin_addr;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;

		sin6->sin6_family = AF_INET6;
		*port = &sin6->sin6_port;
		return &sin6->sin6_addr;
	}
}

/* v1_addr - the complete address token s[0..n) of family af into sa */
static bool
v1_addr(int af, const char *s, size_t n, struct sockaddr_storage *sa)
{
	char	 text[PROXY_V1_TOKEN_MAX + 1];
	in_port_t *port;

	if (n == 0 || n > PROXY_V1_TOKEN_MAX)
		return false;
	memcpy(text, s, n);
	text[n] = '\0';
	return inet_pton(af, text, sa_init(sa, af, &port)) == 1;
}

/* v1_literal - buf[off..len) against lit: -1 differs, 0 a prefix of it
 * so far, 1 all of it there */
static int
v1_literal(const char *buf, size_t off, size_t len, const char *lit)
{
	size_t	 n = strlen(lit);

	for (size_t i = 0; i < n; i++) {
		if (off + i >= len)
			return 0;
		if (buf[off + i] != lit[i])
			return -1;
	}
	return 1;
}

/* v1_more - a valid prefix of len octets that still lacks at least
 * `missing`: MORE, or BAD if the line can no longer end in 107 octets */
static enum proxy_result
v1_more(size_t len, size_t missing, size_t *need, char *err,
    size_t errlen)
{
	if (len + missing > PROXY_V1_MAX)
		return proxy_bad(err, errlen, "PROXY v1 line without CRLF "
		    "in %d octets", PROXY_V1_MAX);
	*need = len + 1;
	return PROXY_MORE;
}

/* v1_unknown - "PROXY UNKNOWN" at buf[0..off): the rest up to CRLF is
 * ignored, as the spec says */
static enum proxy_result
v1_unknown(const char *buf, size_t off, size_t len, struct proxy_hdr *hdr,
    size_t *need, char *err, size_t errlen)
{
	if (off < len && buf[off] != ' ' && buf[off] != '\r')
		return proxy_bad(err, errlen, "PROXY v1: unknown protocol");
	for (; off < len; off++) {
		if (off + 2 > PROXY_V1_MAX)	/* no room left for CRLF */
			return v1_more(len, 2, need, err, errlen);
		if (buf[off] == '\n')
			return proxy_bad(err, errlen, "PROXY v1: LF without CR");
		if (buf[off] != '\r')
			continue;
		if (off + 1 == len)
			return v1_more(len, 1, need, err, errlen);
		if (buf[off + 1] != '\n')
			return proxy_bad(err, errlen, "PROXY v1: CR without LF");
		hdr->version = 1;
		hdr->local = true;
		hdr->len = off + 2;
		return PROXY_DONE;
	}
	return v1_more(len, 2, need, err, errlen);
}

static const char *const v1_field[4] = {
	"source address", "destination address", "source port",
	"destination port"
};

/*
 * v1_tcp - "PROXY TCP4 " or "PROXY TCP6 " at buf[0..off): four fields,
 * a space after each of the first three and CRLF after the last. Each
 * field is read up to its separator (or the end of what has arrived),
 * checked as a prefix, and once its separator is there as a whole.
 */
static enum proxy_result
v1_tcp(int af, const char *buf, size_t off, size_t len,
    struct proxy_hdr *hdr, size_t *need, char *err, size_t errlen)
{
	unsigned port = 0;

	for (int k = 0; k < 4; k++) {
		char	 sep = k < 3 ? ' ' : '\r';
		size_t	 start = off, n;
		bool	 ok;

		while (off < len && buf[off] != sep &&
		    off - start <= PROXY_V1_TOKEN_MAX)
			off++;
		n = off - start;
		if (k < 2)
			ok = af == AF_INET ? ipv4_prefix(buf + start, n) :
			    ipv6_prefix(buf + start, n);
		else
			ok = port_prefix(buf + start, n, &port);
		if (!ok)
			return proxy_bad(err, errlen, "PROXY v1: bad %s",
			    v1_field[k]);
		if (off == len)	/* this field, the others, CRLF */
			return v1_more(len, (n == 0) + 2u * (3u - (unsigned)k)
			    + 2, need, err, errlen);
		if (n == 0 || (k < 2 && !v1_addr(af, buf + start, n,
		    k == 0 ? &hdr->src : &hdr->dst)))
			return proxy_bad(err, errlen, "PROXY v1: bad %s",
			    v1_field[k]);
		if (k >= 2) {
			in_port_t *pp;

			sa_init(k == 2 ? &hdr->src : &hdr->dst, af, &pp);
			*pp = htons((uint16_t)port);
		}
		off++;
	}
	if (off == len)
		return v1_more(len, 1, need, err, errlen);
	if (buf[off] != '\n')
		return proxy_bad(err, errlen, "PROXY v1: CR without LF");
	off++;
	if (off > PROXY_V1_MAX)
		return proxy_bad(err, errlen, "PROXY v1 line without CRLF "
		    "in %d octets", PROXY_V1_MAX);
	hdr->version = 1;
	hdr->len = off;
	return PROXY_DONE;
}

static enum proxy_result
proxy_v1(const char *buf, size_t len, struct proxy_hdr *hdr, size_t *need,
    char *err, size_t errlen)
{
	static const char *const protos[] = { "TCP4 ", "TCP6 ", "UNKNOWN" };
	bool	 partial = false;
	int	 r;

	r = v1_literal(buf, 0, len, "PROXY ");
	if (r < 0)
		return proxy_bad(err, errlen, "not a PROXY header");
	if (r == 0)
		return v1_more(len, 1, need, err, errlen);
	for (int i = 0; i < 3; i++) {
		r = v1_literal(buf, 6, len, protos[i]);
		if (r == 0)
			partial = true;
		if (r <= 0)
			continue;
		if (i == 2)
			return v1_unknown(buf, 6 + strlen(protos[i]), len, hdr,
			    need, err, errlen);
		return v1_tcp(i == 0 ? AF_INET : AF_INET6, buf, 11, len, hdr,
		    need, err, errlen);
	}
	if (!partial)
		return proxy_bad(err, errlen, "PROXY v1: unknown protocol");
	return v1_more(len, 1, need, err, errlen);
}

/* --- version 2 ---------------------------------------------------------- */

static unsigned
be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* v2_crc_ok - the CRC32c of the header p[0..total) with the 4-octet
 * checksum at p[at] taken as zeros equals that checksum */
static bool
v2_crc_ok(const uint8_t *p, size_t total, size_t at)
{
	static const uint8_t zeros[4];
	uint32_t crc, want;

	want = (uint32_t)p[at] << 24 | (uint32_t)p[at + 1] << 16 |
	    (uint32_t)p[at + 2] << 8 | p[at + 3];
	crc = crc32c(p, at);
	crc = crc32c_add(crc, zeros, sizeof(zeros));
	crc = crc32c_add(crc, p + at + 4, total - at - 4);
	return crc == want;
}

/* v2_tlvs - the TLVs at p[off..total): each within the header, a CRC32C
 * one of 4 octets that matches; the others skipped */
static enum proxy_result
v2_tlvs(const uint8_t *p, size_t off, size_t total, char *err,
    size_t errlen)
{
	while (off < total) {
		unsigned type, vlen;

		if (total - off < 3)
			return proxy_bad(err, errlen, "PROXY v2: TLV runs "
			    "past the header");
		type = p[off];
		vlen = be16(p + off + 1);
		if (vlen > total - off - 3)
			return proxy_bad(err, errlen, "PROXY v2: TLV runs "
			    "past the header");
		if (type == PROXY_V2_TLV_CRC32C) {
			if (vlen != 4)
				return proxy_bad(err, errlen, "PROXY v2: CRC32C "
				    "TLV of %u octets", vlen);
			if (!v2_crc_ok(p, total, off + 3))
				return proxy_bad(err, errlen, "PROXY v2: CRC32C "
				    "mismatch");
		}
		off += 3 + vlen;
	}
	return PROXY_DONE;
}

/* v2_inet - the address block at p (12 or 36 octets: two addresses,
 * then two ports) into hdr */
static void
v2_inet(const uint8_t *p, unsigned family, struct proxy_hdr *hdr)
{
	struct sockaddr_storage *sa[2] = { &hdr->src, &hdr->dst };
	int	 af = family == PROXY_V2_AF_INET ? AF_INET : AF_INET6;
	size_t	 alen = af == AF_INET ? 4 : 16;
	in_port_t *port;

	for (size_t i = 0; i < 2; i++) {
		memcpy(sa_init(sa[i], af, &port), p + i * alen, alen);
		memcpy(port, p + 2 * alen + 2 * i, 2);
	}
}

/*
 * proxy_v2 - the binary header. A LOCAL command (a health check) has
 * the proxy speak for itself: its family and block are ignored, as the
 * spec says. For PROXY, UNSPEC (family or protocol) and AF_UNIX carry
 * no client address we can use, so they are `local` too (the spec lets
 * a receiver fall back to the connection's own addresses); DGRAM is
 * refused, as a listener here only ever relays TCP.
 */
static enum proxy_result
proxy_v2(const uint8_t *p, size_t len, struct proxy_hdr *hdr, size_t *need,
    char *err, size_t errlen)
{
	static const size_t block[4] = { 0, 12, 36, 216 };
	unsigned cmd, family, proto;
	size_t	 total, n = len < sizeof(proxy_v2_sig) ? len :
		    sizeof(proxy_v2_sig);

	if (memcmp(p, proxy_v2_sig, n) != 0)
		return proxy_bad(err, errlen, "not a PROXY header");
	if (len > 12 && (p[12] >> 4) != 2)
		return proxy_bad(err, errlen, "PROXY v2: version %u",
		    p[12] >> 4);
	cmd = len > 12 ? p[12] & 0xf : 0;
	if (cmd != PROXY_V2_CMD_LOCAL && cmd != PROXY_V2_CMD_PROXY)
		return proxy_bad(err, errlen, "PROXY v2: command %u", cmd);
	family = len > 13 ? p[13] >> 4 : 0;
	proto = len > 13 ? p[13] & 0xf : 0;
	if (cmd == PROXY_V2_CMD_PROXY) {
		if (family > PROXY_V2_AF_UNIX || proto > PROXY_V2_PROTO_DGRAM)
			return proxy_bad(err, errlen, "PROXY v2: family and "
			    "protocol 0x%02x", p[13]);
		if (proto == PROXY_V2_PROTO_DGRAM)
			return proxy_bad(err, errlen, "PROXY v2: a datagram "
			    "connection");
	}
	if (len < PROXY_V2_MIN) {
		*need = PROXY_V2_MIN;
		return PROXY_MORE;
	}
	total = PROXY_V2_MIN + be16(p + 14);
	if (cmd == PROXY_V2_CMD_PROXY && proto == PROXY_V2_PROTO_STREAM &&
	    total - PROXY_V2_MIN < block[family])
		return proxy_bad(err, errlen, "PROXY v2: %zu octets for an "
		    "address block of %zu", total - PROXY_V2_MIN,
		    block[family]);
	if (len < total) {
		*need = total;
		return PROXY_MORE;
	}
	hdr->version = 2;
	hdr->len = total;
	if (cmd == PROXY_V2_CMD_LOCAL || family == PROXY_V2_AF_UNSPEC ||
	    proto == PROXY_V2_PROTO_UNSPEC) {
		hdr->local = true;
		return PROXY_DONE;
	}
	if (family == PROXY_V2_AF_UNIX)
		hdr->local = true;
	else
		v2_inet(p + PROXY_V2_MIN, family, hdr);
	return v2_tlvs(p, PROXY_V2_MIN + block[family], total, err, errlen);
}

enum proxy_result
proxy_parse(const void *buf, size_t len, struct proxy_hdr *hdr,
    size_t *need, char *err, size_t errlen)
{
	const uint8_t *p = buf;
	enum proxy_result r;

	memset(hdr, 0, sizeof(*hdr));
	*need = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (len == 0) {
		*need = 1;
		return PROXY_MORE;
	}
	if (p[0] == 'P')
		r = proxy_v1(buf, len, hdr, need, err, errlen);
	else if (p[0] == '\r')
		r = proxy_v2(p, len, hdr, need, err, errlen);
	else
		r = proxy_bad(err, errlen, "not a PROXY header");
	if (r != PROXY_DONE)
		memset(hdr, 0, sizeof(*hdr));
	return r;
}

/* endpoint_port - the port of an IPv4 or IPv6 socket address */
static in_port_t
endpoint_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_port;
	return ((const struct sockaddr_in6 *)ss)->sin6_port;
}

/* same_endpoint - one address (an IPv4-mapped one as IPv4) and port */
static bool
same_endpoint(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
	struct netaddr_key ka, kb;

	if (netaddr_client_key((const struct sockaddr *)a, 128, &ka) == -1 ||
	    netaddr_client_key((const struct sockaddr *)b, 128, &kb) == -1)
		return false;
	return ka.family == kb.family && memcmp(ka.addr, kb.addr,
	    sizeof(ka.addr)) == 0 && endpoint_port(a) == endpoint_port(b);
}

enum proxy_trust
proxy_decide(const struct cidr *trusted, size_t ntrusted,
    const struct sockaddr_storage *proxy, const struct sockaddr_storage *local,
    const struct proxy_hdr *hdr)
{
	/* Asked again when the header is in: a reload since the accept
	 * may have taken the proxy out of proxy_trusted. */
	if (!cidr_match_any(trusted, ntrusted, (const struct sockaddr *)proxy))
		return PROXY_T_REFUSE;
	if (hdr == NULL)
		return PROXY_T_WAIT;
	/* The proxy's own connection: said so (LOCAL, UNKNOWN), or a
	 * header that names this very connection, which is how HAProxy's
	 * version 1 health checks introduce themselves. */
	if (hdr->local || (same_endpoint(&hdr->src, proxy) &&
	    same_endpoint(&hdr->dst, local)))
		return PROXY_T_SELF;
	return PROXY_T_CLIENT;
}
