/*
 * test_netaddr - CIDR parsing, formatting and matching, IPv4 and IPv6,
 * with IPv4-mapped peers as a dual-stack socket reports them.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "lib/netaddr.h"

/* sa - a socket address from text, IPv4 or IPv6 by its look */
static struct sockaddr_storage
sa(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(25);
		cr_assert_eq(inet_pton(AF_INET6, text, &s6->sin6_addr), 1,
		    "bad test address %s", text);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(25);
		cr_assert_eq(inet_pton(AF_INET, text, &s4->sin_addr), 1,
		    "bad test address %s", text);
	}
	return ss;
}

static struct cidr
net(const char *text)
{
	struct cidr	 c;
	char		 err[128] = "";

	cr_assert_eq(cidr_parse(text, &c, err, sizeof(err)), 0,
	    "cidr_parse(%s): %s", text, err);
	return c;
}

static bool
match(const char *network, const char *peer)
{
	struct cidr		 c = net(network);
	struct sockaddr_storage	 ss = sa(peer);

	return cidr_match(&c, (struct sockaddr *)&ss);
}

/* Parsing then formatting gives the canonical text. */
static void
roundtrip(const char *in, const char *want)
{
	struct cidr	 c = net(in);
	char		 out[64];

	cidr_format(&c, out, sizeof(out));
	cr_assert_str_eq(out, want, "%s formats as %s, not %s", in, out, want);
}

/* The parse fails and the message contains `want`. */
static void
bad(const char *in, const char *want)
{
	struct cidr	 c;
	char		 err[128] = "";

	cr_assert_eq(cidr_parse(in, &c, err, sizeof(err)), -1,
	    "cidr_parse(%s) accepted it", in);
	cr_assert(strstr(err, want) != NULL, "cidr_parse(%s): \"%s\", "
	    "wanted \"%s\"", in, err, want);
}

Test(cidr_parse, ipv4)
{
	struct cidr c = net("10.0.0.0/8");

	cr_assert_eq(c.family, AF_INET);
	cr_assert_eq(c.prefix, 8);
	cr_assert_eq(c.addr[0], 10);
	cr_assert_eq(c.addr[1], 0);

	c = net("192.168.1.7");
	cr_assert_eq(c.family, AF_INET);
	cr_assert_eq(c.prefix, 32, "a bare address is a /32");
	cr_assert_eq(c.addr[3], 7);
}

Test(cidr_parse, ipv6)
{
	struct cidr c = net("2001:db8::/32");

	cr_assert_eq(c.family, AF_INET6);
	cr_assert_eq(c.prefix, 32);
	cr_assert_eq(c.addr[0], 0x20);
	cr_assert_eq(c.addr[1], 0x01);
	cr_assert_eq(c.addr[2], 0x0d);
	cr_assert_eq(c.addr[3], 0xb8);
	cr_assert_eq(c.addr[4], 0);

	c = net("::1");
	cr_assert_eq(c.family, AF_INET6);
	cr_assert_eq(c.prefix, 128, "a bare address is a /128");
	cr_assert_eq(c.addr[15], 1);
}

Test(cidr_parse, edges)
{
	cr_assert_eq(net("0.0.0.0/0").prefix, 0);
	cr_assert_eq(net("::/0").prefix, 0);
	cr_assert_eq(net("255.255.255.255/32").prefix, 32);
	cr_assert_eq(net("10.0.0.128/25").prefix, 25);
	cr_assert_eq(net("2001:db8::1/128").prefix, 128);
	cr_assert_eq(net("10.0.0.0/08").prefix, 8);
}

Test(cidr_parse, host_bits)
{
	bad("10.0.0.1/8", "\"10.0.0.1/8\" has host bits set beyond the prefix");
	bad("10.0.0.129/25", "host bits");
	bad("2001:db8::1/64", "host bits");
	bad("0.0.0.1/0", "host bits");
	bad("::1/127", "host bits");
}

Test(cidr_parse, bad_prefix)
{
	bad("10.0.0.0/33", "above 32");
	bad("::/129", "above 128");
	bad("10.0.0.0/99999999999999999999", "above 32");
	bad("10.0.0.0/", "no prefix length");
	bad("10.0.0.0/-1", "not a number");
	bad("10.0.0.0/8x", "not a number");
	bad("10.0.0.0/ 8", "not a number");
	bad("10.0.0.0/8/8", "not a number");
}

Test(cidr_parse, bad_address)
{
	bad("", "not an IPv4 address");
	bad("/8", "not an IPv4 address");
	bad("10.0.0", "not an IPv4 address");
	bad("256.0.0.0", "not an IPv4 address");
	bad("10.0.0.0.0", "not an IPv4 address");
	bad("localhost", "not an IPv4 address");
	bad(" 10.0.0.1", "not an IPv4 address");
	bad("2001:db8:::1", "not an IPv6 address");
	bad("[::1]", "not an IPv6 address");
	bad("fe80::1%eth0", "not an IPv6 address");
	bad("1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb/64",
	    "too long");
}

Test(cidr_parse, bad_input_leaves_output_alone)
{
	struct cidr	 c = net("192.0.2.0/24");
	char		 err[128];

	cr_assert_eq(cidr_parse("10.0.0.1/8", &c, err, sizeof(err)), -1);
	cr_assert_eq(c.family, AF_INET);
	cr_assert_eq(c.prefix, 24);
	cr_assert_eq(c.addr[0], 192);
}

Test(cidr_parse, small_error_buffer)
{
	struct cidr	 c;
	char		 err[8];

	cr_assert_eq(cidr_parse("nonsense", &c, err, sizeof(err)), -1);
	cr_assert_lt(strlen(err), sizeof(err));
	cr_assert_eq(cidr_parse("nonsense", &c, NULL, 0), -1);
}

Test(cidr_format, canonical)
{
	roundtrip("10.0.0.0/8", "10.0.0.0/8");
	roundtrip("192.168.1.7", "192.168.1.7/32");
	roundtrip("0.0.0.0/0", "0.0.0.0/0");
	roundtrip("::1", "::1/128");
	roundtrip("::/0", "::/0");
	roundtrip("2001:DB8:0:0::/48", "2001:db8::/48");
	roundtrip("::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104");
}

Test(cidr_format, too_small_gives_nothing)
{
	struct cidr	 c = net("10.0.0.0/24");
	char		 out[12];

	/* "10.0.0.0/24" needs 12 bytes; in 11 it would come out as
	 * "10.0.0.0/2", another network. */
	memset(out, 'x', sizeof(out));
	cidr_format(&c, out, 11);
	cr_assert_str_eq(out, "", "a cut network would name another one");
	cidr_format(&c, out, sizeof(out));
	cr_assert_str_eq(out, "10.0.0.0/24");
}

Test(cidr_match, ipv4)
{
	cr_assert(match("10.0.0.0/8", "10.1.2.3"));
	cr_assert(match("10.0.0.0/8", "10.255.255.255"));
	cr_assert_not(match("10.0.0.0/8", "11.0.0.0"));
	cr_assert_not(match("10.0.0.0/8", "9.255.255.255"));
	cr_assert(match("192.168.1.7", "192.168.1.7"));
	cr_assert_not(match("192.168.1.7", "192.168.1.6"));
	cr_assert(match("10.0.0.128/25", "10.0.0.200"));
	cr_assert_not(match("10.0.0.128/25", "10.0.0.127"));
	cr_assert(match("172.16.0.0/12", "172.31.255.1"));
	cr_assert_not(match("172.16.0.0/12", "172.32.0.1"));
	cr_assert(match("0.0.0.0/0", "203.0.113.9"));
}

Test(cidr_match, ipv6)
{
	cr_assert(match("::1", "::1"));
	cr_assert_not(match("::1", "::2"));
	cr_assert(match("2001:db8::/32", "2001:db8:ffff::1"));
	cr_assert_not(match("2001:db8::/32", "2001:db9::1"));
	cr_assert(match("2001:db8:0:80::/57", "2001:db8:0:ff::1"));
	cr_assert_not(match("2001:db8:0:80::/57", "2001:db8:0:7f::1"));
	cr_assert(match("::/0", "2001:db8::1"));
}

Test(cidr_match, families_do_not_mix)
{
	cr_assert_not(match("0.0.0.0/0", "::1"));
	cr_assert_not(match("::/0", "127.0.0.1"));
	cr_assert_not(match("::1", "0.0.0.1"));
	cr_assert_not(match("::/0", "::ffff:127.0.0.1"),
	    "a mapped peer is an IPv4 client");
}

Test(cidr_match, mapped_peer)
{
	cr_assert(match("127.0.0.0/8", "::ffff:127.0.0.1"));
	cr_assert(match("10.0.0.0/8", "::ffff:10.9.8.7"));
	cr_assert_not(match("10.0.0.0/8", "::ffff:11.9.8.7"));
	cr_assert(match("0.0.0.0/0", "::ffff:198.51.100.1"));
	/* Not mapped: the IPv4-compatible form and a near miss. */
	cr_assert_not(match("127.0.0.0/8", "::127.0.0.1"));
	cr_assert_not(match("127.0.0.0/8", "::fffe:127.0.0.1"));
}

Test(cidr_match, mapped_network)
{
	cr_assert(match("::ffff:10.0.0.0/104", "10.1.2.3"));
	cr_assert(match("::ffff:10.0.0.0/104", "::ffff:10.1.2.3"));
	cr_assert_not(match("::ffff:10.0.0.0/104", "11.1.2.3"));
	cr_assert(match("::ffff:0:0/96", "192.0.2.1"));
	cr_assert_not(match("::ffff:0:0/96", "2001:db8::1"));
}

Test(cidr_match, not_ip)
{
	struct cidr		 c = net("0.0.0.0/0");
	struct sockaddr_un	 un;

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	cr_assert_not(cidr_match(&c, (struct sockaddr *)&un));
	cr_assert_not(cidr_match(&c, NULL));
}

Test(cidr_match_any, list)
{
	struct cidr		 v[3];
	struct sockaddr_storage	 a = sa("192.168.0.5"), b = sa("::1"),
				 d = sa("8.8.8.8"), m = sa("::ffff:127.0.0.1");

	v[0] = net("127.0.0.0/8");
	v[1] = net("::1/128");
	v[2] = net("192.168.0.0/16");
	cr_assert(cidr_match_any(v, 3, (struct sockaddr *)&a));
	cr_assert(cidr_match_any(v, 3, (struct sockaddr *)&b));
	cr_assert(cidr_match_any(v, 3, (struct sockaddr *)&m));
	cr_assert_not(cidr_match_any(v, 3, (struct sockaddr *)&d));
	cr_assert_not(cidr_match_any(v, 2, (struct sockaddr *)&a),
	    "n limits the list");
	cr_assert_not(cidr_match_any(NULL, 0, (struct sockaddr *)&a),
	    "an empty list trusts nobody");
}

Test(netaddr_format, forms)
{
	struct sockaddr_storage	 a;
	struct sockaddr_un	 un;
	char			 out[INET6_ADDRSTRLEN];

	a = sa("192.0.2.1");
	netaddr_format((struct sockaddr *)&a, out, sizeof(out));
	cr_assert_str_eq(out, "192.0.2.1");
	a = sa("2001:DB8:0::1");
	netaddr_format((struct sockaddr *)&a, out, sizeof(out));
	cr_assert_str_eq(out, "2001:db8::1");
	a = sa("::ffff:192.0.2.1");
	netaddr_format((struct sockaddr *)&a, out, sizeof(out));
	cr_assert_str_eq(out, "192.0.2.1", "mapped shows as IPv4");
	a = sa("::1");
	netaddr_format((struct sockaddr *)&a, out, sizeof(out));
	cr_assert_str_eq(out, "::1");

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	netaddr_format((struct sockaddr *)&un, out, sizeof(out));
	cr_assert_str_eq(out, "unknown");
}

Test(netaddr_format, too_small_gives_nothing)
{
	struct sockaddr_storage	 a = sa("192.0.2.100");
	char			 out[8];

	memset(out, 'x', sizeof(out));
	netaddr_format((struct sockaddr *)&a, out, sizeof(out));
	cr_assert_str_eq(out, "");
}

/* port_text - parse then format an address with a port */
static const char *
port_text(const char *in, unsigned flags, char *out, size_t outlen)
{
	struct netaddr_port np;
	char		 err[128] = "";

	cr_assert_eq(netaddr_port_parse(in, flags, &np, err, sizeof(err)), 0,
	    "netaddr_port_parse(%s): %s", in, err);
	netaddr_port_format(&np, out, outlen);
	return out;
}

Test(netaddr_port, forms)
{
	char	 b[NETADDR_PORT_STRLEN];

	cr_assert_str_eq(port_text("192.0.2.1", 0, b, sizeof(b)), "192.0.2.1");
	cr_assert_str_eq(port_text("192.0.2.1:053", 0, b, sizeof(b)),
	    "192.0.2.1:53");
	cr_assert_str_eq(port_text("[2001:DB8:0::1]", 0, b, sizeof(b)),
	    "[2001:db8::1]");
	cr_assert_str_eq(port_text("[::1]:65535", NETADDR_PORT_NEEDED, b,
	    sizeof(b)), "[::1]:65535");
	cr_assert_str_eq(port_text("*:25", NETADDR_PORT_NEEDED |
	    NETADDR_PORT_STAR, b, sizeof(b)), "*:25");
	cr_assert_str_eq(port_text("[ffff:ffff:ffff:ffff:ffff:ffff:"
	    "255.255.255.255]:65535", 0, b, sizeof(b)),
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
	    "a long one fits NETADDR_PORT_STRLEN");
}

Test(netaddr_port, refused)
{
	static const struct {
		const char	*in;
		unsigned	 flags;
		const char	*want;
	} bad[] = {
		{ "192.0.2.1", NETADDR_PORT_NEEDED,
		    "\"192.0.2.1\" has no port (expected ADDRESS:PORT)" },
		{ "[::1]", NETADDR_PORT_NEEDED, "\"[::1]\" is not [IPv6]:PORT" },
		{ "[::1]x", 0, "\"[::1]x\" is not [IPv6] or [IPv6]:PORT" },
		{ "::1", 0, "an IPv6 address needs brackets, as [::1]:25" },
		{ "*:25", NETADDR_PORT_NEEDED,
		    "numeric address required, not \"*\"" },
		{ "[*]:25", NETADDR_PORT_STAR,
		    "numeric address required, not \"*\"" },
		{ "mx.example:25", 0,
		    "numeric address required, not \"mx.example\"" },
		{ "10.0.0.1:0", 0, "port \"0\" is not a number in 1..65535" },
		{ "10.0.0.1:99999999999999999999", 0, "port "
		    "\"99999999999999999999\" is not a number in 1..65535" },
		{ "10.0.0.1:", 0, "port \"\" is not a number in 1..65535" },
		{ "10.0.0.1:+53", 0, "port \"+53\" is not a number in 1..65535" },
	};
	struct netaddr_port np;
	char		 err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(netaddr_port_parse(bad[i].in, bad[i].flags, &np,
		    err, sizeof(err)), -1, "%s accepted", bad[i].in);
		cr_assert_str_eq(err, bad[i].want);
	}
}

Test(netaddr_port, too_small_gives_nothing)
{
	struct netaddr_port np;
	char		 err[64], out[8] = "x";

	cr_assert_eq(netaddr_port_parse("[::1]:53", 0, &np, err, sizeof(err)),
	    0);
	netaddr_port_format(&np, out, 8);
	cr_assert_str_eq(out, "", "[::1]:53 needs 9 bytes");
}

Test(netaddr, from_text)
{
	struct sockaddr_storage ss;
	char out[NETADDR_STRLEN];

	cr_assert_eq(netaddr_from_text("192.0.2.1", &ss), 0);
	cr_assert_eq(ss.ss_family, AF_INET);
	netaddr_format((struct sockaddr *)&ss, out, sizeof(out));
	cr_assert_str_eq(out, "192.0.2.1");
	cr_assert_eq(netaddr_from_text("2001:DB8::1", &ss), 0);
	cr_assert_eq(ss.ss_family, AF_INET6);
	netaddr_format((struct sockaddr *)&ss, out, sizeof(out));
	cr_assert_str_eq(out, "2001:db8::1");
	cr_assert_eq(netaddr_from_text("mx.example", &ss), -1);
	cr_assert_eq(netaddr_from_text("[192.0.2.1]", &ss), -1);
	cr_assert_eq(netaddr_from_text("", &ss), -1);
}

/* same_key - do a and b count as one client under an IPv6 prefix? */
static bool
same_key(const char *a, const char *b, unsigned v6_prefix)
{
	struct sockaddr_storage sa_a = sa(a), sa_b = sa(b);
	struct netaddr_key ka, kb;

	cr_assert_eq(netaddr_client_key((struct sockaddr *)&sa_a, v6_prefix,
	    &ka), 0);
	cr_assert_eq(netaddr_client_key((struct sockaddr *)&sa_b, v6_prefix,
	    &kb), 0);
	return ka.family == kb.family && memcmp(ka.addr, kb.addr, 16) == 0;
}

/* Per-address limits count an IPv6 client by its prefix (default /64):
 * rotating addresses inside a /64 is one client. */
Test(netaddr_client_key, ipv6_by_prefix)
{
	cr_assert(same_key("2001:db8:1:2::1", "2001:db8:1:2:ffff:1:2:3", 64));
	cr_assert_not(same_key("2001:db8:1:2::1", "2001:db8:1:3::1", 64));
	cr_assert(same_key("2001:db8:1:2::1", "2001:db8:1:3::1", 48));
	cr_assert(same_key("2001:db8:1:2::1", "2001:db8:1:3::1", 47));
	cr_assert_not(same_key("2001:db8:1:2::1", "2001:db8:1:2::2", 128));
	cr_assert(same_key("2001:db8:1:2::1", "2001:db8:1:2::1", 128));
	cr_assert(same_key("2001:db8:1:2::1", "2001:db8:1:2:7fff::", 65));
	cr_assert_not(same_key("2001:db8:1:2::1", "2001:db8:1:2:8000::", 65));
}

Test(netaddr_client_key, ipv4_whole_and_mapped)
{
	cr_assert_not(same_key("192.0.2.1", "192.0.2.2", 16));
	cr_assert(same_key("192.0.2.1", "::ffff:192.0.2.1", 64));
	cr_assert_not(same_key("192.0.2.1", "::ffff:192.0.2.2", 16));
	cr_assert_not(same_key("0.0.0.0", "::", 16), "families differ");
}

Test(netaddr_client_key, not_ip)
{
	struct sockaddr_un un;
	struct netaddr_key k;

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	cr_assert_eq(netaddr_client_key((struct sockaddr *)&un, 64, &k), -1);
	cr_assert_eq(netaddr_client_key(NULL, 64, &k), -1);
}

Test(netaddr_mask_word, words)
{
	cr_assert_eq(netaddr_mask_word(64, 0), 0xffffffffu);
	cr_assert_eq(netaddr_mask_word(64, 1), 0xffffffffu);
	cr_assert_eq(netaddr_mask_word(64, 2), 0);
	cr_assert_eq(netaddr_mask_word(56, 1), 0xffffff00u);
	cr_assert_eq(netaddr_mask_word(1, 0), 0x80000000u);
	cr_assert_eq(netaddr_mask_word(128, 3), 0xffffffffu);
	cr_assert_eq(netaddr_mask_word(0, 0), 0);
}

static void
reverse_of(const char *text, const char *zone, const char *want)
{
	struct sockaddr_storage ss;
	char out[128];

	cr_assert_eq(netaddr_from_text(text, &ss), 0);
	cr_assert_eq(netaddr_reverse((struct sockaddr *)&ss, zone, out,
	    sizeof(out)), 0);
	cr_assert_str_eq(out, want);
}

Test(netaddr_reverse, arpa_and_dnsbl_names)
{
	struct sockaddr_storage ss;
	char small[16];

	reverse_of("192.0.2.7", NULL, "7.2.0.192.in-addr.arpa");
	reverse_of("::ffff:192.0.2.7", NULL, "7.2.0.192.in-addr.arpa");
	reverse_of("192.0.2.7", "bl.example", "7.2.0.192.bl.example");
	reverse_of("2001:db8::1", NULL, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	cr_assert_eq(netaddr_from_text("2001:db8::1", &ss), 0);
	cr_assert_eq(netaddr_reverse((struct sockaddr *)&ss, NULL, small,
	    sizeof(small)), -1, "does not fit");
}
