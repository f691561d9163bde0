/*
 * netaddr - IP addresses and CIDR networks (IPv4 and IPv6).
 *
 * Used by the configuration (mynetworks, listen, dns_servers), by dns
 * (its servers) and by policy, which asks whether a peer is trusted.
 * Text goes through inet_pton/inet_ntop only: no resolver is ever
 * involved.
 *
 * An IPv4 peer may reach us as an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) on a dual-stack socket. It is still an IPv4 client,
 * so matching and formatting first reduce it to its IPv4 form; a
 * network written in mapped form (::ffff:10.0.0.0/104) is reduced the
 * same way, so both spellings agree.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/netaddr.h"

/* Longest text cidr_parse looks at: an IPv6 address with an embedded
 * IPv4 part, "/128" and some slack. Longer input is refused, not cut. */
#define NETADDR_TEXT_MAX	(INET6_ADDRSTRLEN + 8)

/* How much of a bad input an error message quotes. */
#define NETADDR_QUOTE_MAX	48

static const unsigned char netaddr_mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* netaddr_quote - quote input for an error message, marking a cut */
static void
netaddr_quote(const char *in, char *out, size_t outlen)
{
	size_t	 len = strlen(in);

	if (len > NETADDR_QUOTE_MAX)
		snprintf(out, outlen, "\"%.*s...\"", NETADDR_QUOTE_MAX, in);
	else
		snprintf(out, outlen, "\"%s\"", in);
}

/* netaddr_err - "<quoted input> <what>" into the caller's buffer */
static int
netaddr_err(char *err, size_t errlen, const char *in, const char *what)
{
	char	 q[NETADDR_QUOTE_MAX + 8];

	if (err == NULL || errlen == 0)
		return -1;
	netaddr_quote(in, q, sizeof(q));
	snprintf(err, errlen, "%s %s", q, what);
	return -1;
}

/* netaddr_bits_clear - are all bits from `prefix` on zero? */
static bool
netaddr_bits_clear(const unsigned char *addr, unsigned nbytes, unsigned prefix)
{
	unsigned	 i = prefix / 8;

	if (prefix % 8 != 0) {
		unsigned char mask = (unsigned char)(0xff >> (prefix % 8));

		if (addr[i] & mask)
			return false;
		i++;
	}
	for (; i < nbytes; i++)
		if (addr[i] != 0)
			return false;
	return true;
}

/* netaddr_prefix_equal - do a and b agree on their first `prefix` bits? */
static bool
netaddr_prefix_equal(const unsigned char *a, const unsigned char *b,
    unsigned prefix)
{
	unsigned	 whole = prefix / 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (prefix % 8 != 0) {
		unsigned char mask = (unsigned char)(0xff << (8 - prefix % 8));

		if ((a[whole] ^ b[whole]) & mask)
			return false;
	}
	return true;
}

int
cidr_parse(const char *text, struct cidr *out, char *err, size_t errlen)
{
	char		 addr[NETADDR_TEXT_MAX + 1];
	const char	*slash;
	size_t		 alen;
	unsigned	 maxbits, prefix;
	struct cidr	 c;

	if (strlen(text) > NETADDR_TEXT_MAX)
		return netaddr_err(err, errlen, text,
		    "is too long for an address");
	memset(&c, 0, sizeof(c));

	slash = strchr(text, '/');
	alen = slash != NULL ? (size_t)(slash - text) : strlen(text);
	memcpy(addr, text, alen);
	addr[alen] = '\0';

	/* A colon can only mean IPv6; checking it first gives the right
	 * message ("not an IPv6 address") for a mistyped one. */
	if (strchr(addr, ':') != NULL) {
		c.family = AF_INET6;
		maxbits = 128;
	} else {
		c.family = AF_INET;
		maxbits = 32;
	}
	if (inet_pton(c.family, addr, c.addr) != 1)
		return netaddr_err(err, errlen, text, c.family == AF_INET6 ?
		    "is not an IPv6 address" : "is not an IPv4 address");

	if (slash == NULL) {
		prefix = maxbits;
	} else {
		const char *p = slash + 1;

		if (*p == '\0')
			return netaddr_err(err, errlen, text,
			    "has no prefix length after '/'");
		prefix = 0;
		for (; *p != '\0'; p++) {
			if (*p < '0' || *p > '9')
				return netaddr_err(err, errlen, text,
				    "has a prefix length that is not a number");
			prefix = prefix * 10 + (unsigned)(*p - '0');
			/* Stop early so that a long run of digits cannot
			 * wrap around into a valid-looking value. */
			if (prefix > maxbits)
				break;
		}
		if (prefix > maxbits) {
			char what[64];

			snprintf(what, sizeof(what),
			    "has a prefix length above %u", maxbits);
			return netaddr_err(err, errlen, text, what);
		}
	}
	c.prefix = prefix;

	if (!netaddr_bits_clear(c.addr, maxbits / 8, prefix))
		return netaddr_err(err, errlen, text,
		    "has host bits set beyond the prefix");
	*out = c;
	return 0;
}

void
cidr_format(const struct cidr *c, char *out, size_t outlen)
{
	char	 addr[NETADDR_STRLEN];
	int	 n;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (inet_ntop(c->family, c->addr, addr, sizeof(addr)) == NULL)
		return;
	n = snprintf(out, outlen, "%s/%u", addr, c->prefix);
	/* A cut network would name a different network: give nothing. */
	if (n < 0 || (size_t)n >= outlen)
		out[0] = '\0';
}

/* netaddr_port_num - "1".."65535" as a number; 0 if it is not one. A
 * long run of digits stops counting before it could wrap. */
static unsigned
netaddr_port_num(const char *p)
{
	unsigned long	 n = 0;
	size_t		 i;

	for (i = 0; p[i] >= '0' && p[i] <= '9' && n <= 65535; i++)
		n = n * 10 + (unsigned long)(p[i] - '0');
	if (i == 0 || p[i] != '\0' || n > 65535)
		return 0;
	return (unsigned)n;
}

int
netaddr_port_parse(const char *text, unsigned flags, struct netaddr_port *out,
    char *err, size_t errlen)
{
	struct netaddr_port np;
	char		 host[NETADDR_TEXT_MAX + 1], q[NETADDR_QUOTE_MAX + 8];
	const char	*h = text, *hend, *port = NULL;
	bool		 needed = (flags & NETADDR_PORT_NEEDED) != 0;

	memset(&np, 0, sizeof(np));
	if (text[0] == '[') {
		h++;
		np.family = AF_INET6;
		if ((hend = strchr(h, ']')) == NULL ||
		    (hend[1] != ':' && (hend[1] != '\0' || needed)))
			return netaddr_err(err, errlen, text, needed ?
			    "is not [IPv6]:PORT" :
			    "is not [IPv6] or [IPv6]:PORT");
		if (hend[1] == ':')
			port = hend + 2;
	} else {
		np.family = AF_INET;
		if ((hend = strrchr(text, ':')) != NULL) {
			port = hend + 1;
			if (memchr(text, ':', (size_t)(hend - text)) != NULL) {
				snprintf(err, errlen, "an IPv6 address needs "
				    "brackets, as [::1]:25");
				return -1;
			}
		} else if (needed) {
			return netaddr_err(err, errlen, text,
			    "has no port (expected ADDRESS:PORT)");
		} else {
			hend = text + strlen(text);
		}
	}

	if ((size_t)(hend - h) >= sizeof(host)) {
		netaddr_quote(text, q, sizeof(q));
		snprintf(err, errlen, "numeric address required, not %s", q);
		return -1;
	}
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	if (np.family == AF_INET && (flags & NETADDR_PORT_STAR) &&
	    strcmp(host, "*") == 0) {
		np.family = AF_UNSPEC;
	} else if (inet_pton(np.family, host, np.addr) != 1) {
		netaddr_quote(host, q, sizeof(q));
		snprintf(err, errlen, "numeric address required, not %s", q);
		return -1;
	}
	if (port != NULL && (np.port = netaddr_port_num(port)) == 0) {
		netaddr_quote(port, q, sizeof(q));
		snprintf(err, errlen, "port %s is not a number in 1..65535", q);
		return -1;
	}
	*out = np;
	return 0;
}

void
netaddr_port_format(const struct netaddr_port *np, char *out, size_t outlen)
{
	char	 addr[NETADDR_STRLEN] = "*", port[16] = "";
	bool	 v6 = np->family == AF_INET6;
	int	 n;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (np->family != AF_UNSPEC &&
	    inet_ntop(np->family, np->addr, addr, sizeof(addr)) == NULL)
		return;
	if (np->port != 0)
		snprintf(port, sizeof(port), ":%u", np->port);
	n = snprintf(out, outlen, "%s%s%s%s", v6 ? "[" : "", addr,
	    v6 ? "]" : "", port);
	/* A cut address would name another server: give nothing. */
	if (n < 0 || (size_t)n >= outlen)
		out[0] = '\0';
}

/* netaddr_key_of - the reduced address of a socket address; -1 if not
 * an IP address */
static int
netaddr_key_of(const struct sockaddr *sa, struct netaddr_key *k)
{
	if (sa == NULL)
		return -1;
	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in sin;

		/* Copy rather than cast: the caller's storage may be a
		 * plain struct sockaddr. */
		memcpy(&sin, sa, sizeof(sin));
		k->family = AF_INET;
		memcpy(k->addr, &sin.sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, sa, sizeof(sin6));
		if (memcmp(sin6.sin6_addr.s6_addr, netaddr_mapped_prefix,
		    sizeof(netaddr_mapped_prefix)) == 0) {
			k->family = AF_INET;
			memcpy(k->addr, sin6.sin6_addr.s6_addr + 12, 4);
		} else {
			k->family = AF_INET6;
			memcpy(k->addr, sin6.sin6_addr.s6_addr, 16);
		}
		return 0;
	}
	return -1;
}

int
netaddr_client_key(const struct sockaddr *sa, unsigned v6_prefix,
    struct netaddr_key *k)
{
	unsigned	 i;

	if (netaddr_key_of(sa, k) == -1)
		return -1;
	if (k->family == AF_INET6)
		for (i = 0; i < 4; i++) {
			uint32_t w = netaddr_mask_word(v6_prefix, i);

			k->addr[4 * i] &= (unsigned char)(w >> 24);
			k->addr[4 * i + 1] &= (unsigned char)(w >> 16);
			k->addr[4 * i + 2] &= (unsigned char)(w >> 8);
			k->addr[4 * i + 3] &= (unsigned char)w;
		}
	return 0;
}

uint32_t
netaddr_mask_word(unsigned prefix, unsigned k)
{
	unsigned bits = prefix > 32 * k ? prefix - 32 * k : 0;

	if (bits >= 32)
		return 0xffffffffu;
	return bits == 0 ? 0 : ~(0xffffffffu >> bits);
}

bool
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	struct netaddr_key peer;
	int		 family = c->family;
	const unsigned char *net = c->addr;
	unsigned	 prefix = c->prefix;

	if (netaddr_key_of(sa, &peer) == -1)
		return false;
	if (family == AF_INET6 && prefix >= 96 &&
	    memcmp(net, netaddr_mapped_prefix,
	    sizeof(netaddr_mapped_prefix)) == 0) {
		family = AF_INET;
		net += 12;
		prefix -= 96;
	}
	if (family != peer.family)
		return false;
	return netaddr_prefix_equal(net, peer.addr, prefix);
}

bool
cidr_match_any(const struct cidr *v, size_t n, const struct sockaddr *sa)
{
	for (size_t i = 0; i < n; i++)
		if (cidr_match(&v[i], sa))
			return true;
	return false;
}

int
netaddr_from_text(const char *text, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return 0;
	}
	memset(ss, 0, sizeof(*ss));
	return -1;
}

void
netaddr_format(const struct sockaddr *sa, char *out, size_t outlen)
{
	struct netaddr_key k;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (netaddr_key_of(sa, &k) == -1) {
		/* Not an IP peer (say AF_UNIX): say so rather than
		 * printing nothing at all. */
		if (outlen > strlen("unknown"))
			strcpy(out, "unknown");
		return;
	}
	/* inet_ntop fails rather than truncates when out is too small;
	 * out stays empty then. */
	if (inet_ntop(k.family, k.addr, out, (socklen_t)outlen) == NULL)
		out[0] = '\0';
}

int
netaddr_literal(int family, const void *bin, char *out, size_t outlen)
{
	char text[NETADDR_STRLEN];
	int n;

	if (inet_ntop(family, bin, text, sizeof(text)) == NULL)
		return -1;
	n = snprintf(out, outlen, "[%s%s]", family == AF_INET6 ? "IPv6:" : "",
	    text);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
netaddr_reverse(const struct sockaddr *sa, const char *zone, char *out,
    size_t outlen)
{
	const uint8_t *a;
	size_t o = 0;
	int w;

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		a = s6->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			a += 12;
			goto v4;
		}
		for (int i = 15; i >= 0; i--) {
			w = snprintf(out + o, outlen - o, "%x.%x.", a[i] & 15,
			    a[i] >> 4);
			if (w < 0 || (size_t)w >= outlen - o)
				return -1;
			o += (size_t)w;
		}
		w = snprintf(out + o, outlen - o, "%s", zone ? zone :
		    "ip6.arpa");
		return w < 0 || (size_t)w >= outlen - o ? -1 : 0;
	}
	if (sa->sa_family != AF_INET)
		return -1;
	a = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->
	    sin_addr;
v4:
	w = snprintf(out, outlen, "%u.%u.%u.%u.%s", a[3], a[2], a[1], a[0],
	    zone ? zone : "in-addr.arpa");
	return w < 0 || (size_t)w >= outlen ? -1 : 0;
}
