/*
 * netaddr - IP addresses and CIDR networks (IPv4 and IPv6).
 *
 * An IPv4-mapped IPv6 peer (::ffff:a.b.c.d) matches IPv4 networks.
 */
#ifndef SALLYPORT_NETADDR_H
#define SALLYPORT_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

/* Buffer sizes, NUL included: an address as netaddr_format writes it,
 * and a network as cidr_format does ("/128" is four bytes more). */
#define NETADDR_STRLEN	INET6_ADDRSTRLEN
#define CIDR_STRLEN	(INET6_ADDRSTRLEN + 4)

struct cidr {
	int		family;		/* AF_INET or AF_INET6 */
	unsigned char	addr[16];	/* network bytes, host bits cleared */
	unsigned	prefix;		/* 0..32 or 0..128 */
};

/* "10.0.0.0/8", "192.168.1.7" (= /32), "::1", "2001:db8::/32".
 * Returns 0, or -1 with a message in err. Host bits set beyond the
 * prefix are an error ("10.0.0.1/8"), as they usually mean a typo. */
int	cidr_parse(const char *, struct cidr *, char *err, size_t errlen);
/* Format back to text, "10.0.0.0/8"; CIDR_STRLEN bytes always do. */
void	cidr_format(const struct cidr *, char *out, size_t outlen);
bool	cidr_match(const struct cidr *, const struct sockaddr *);
bool	cidr_match_any(const struct cidr *, size_t n, const struct sockaddr *);

/* An address with a port, numeric only: "192.0.2.1:25",
 * "[2001:db8::1]:25", and where the port may be left out "192.0.2.1" or
 * "[2001:db8::1]". An IPv6 address always takes brackets, as its own
 * colons would otherwise hide the port. */
enum {
	NETADDR_PORT_NEEDED	= 1 << 0,	/* the port may not be left out */
	NETADDR_PORT_STAR	= 1 << 1,	/* "*:PORT" means any address */
};

struct netaddr_port {
	int		family;		/* AF_INET, AF_INET6; AF_UNSPEC: "*" */
	unsigned char	addr[16];	/* network bytes */
	unsigned	port;		/* 1..65535; 0 when left out */
};

/* Text form of a netaddr_port, "[::1]:53", "*:25", "192.0.2.1". */
#define NETADDR_PORT_STRLEN	(INET6_ADDRSTRLEN + 8)

/* Returns 0, or -1 with a message in err. */
int	netaddr_port_parse(const char *, unsigned flags, struct netaddr_port *,
	    char *err, size_t errlen);
/* Canonical text; NETADDR_PORT_STRLEN bytes always do. */
void	netaddr_port_format(const struct netaddr_port *, char *out,
	    size_t outlen);

/* Reduced form of an address: IPv4-mapped IPv6 becomes IPv4. */
struct netaddr_key {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 addr[16];	/* IPv4 in the first 4 bytes */
};

/* The key by which per-address limits (max_connections_per_ip, AUTH
 * failures per address) and the steering of clients to workers count a
 * client: an IPv4 address whole, an IPv6 address cut to its first
 * `v6_prefix` bits (ipv6_client_prefix), since one site or one customer
 * of a provider gets a whole /64 (RFC 6177) and could otherwise walk
 * around every limit by rotating addresses in it. -1 if not IP. */
int	netaddr_client_key(const struct sockaddr *, unsigned v6_prefix,
	    struct netaddr_key *);
/* Word `k` (0..3, network order, as a host integer) of the mask of a
 * `prefix`-bit network: what netaddr_client_key keeps of each word. */
uint32_t netaddr_mask_word(unsigned prefix, unsigned k);

/* Text form of an address without port: "127.0.0.1", "::1"; an
 * IPv4-mapped IPv6 address is shown as IPv4. NETADDR_STRLEN bytes
 * always do. */
void	netaddr_format(const struct sockaddr *, char *out, size_t outlen);

/* A numeric address, "192.0.2.1" or "2001:db8::1", as a socket address
 * with port 0. Returns 0, or -1 when the text is not one. */
int	netaddr_from_text(const char *, struct sockaddr_storage *);

/* The canonical SMTP address literal (RFC 5321 4.1.3) of a binary
 * address: "[192.0.2.1]" or "[IPv6:2001:db8::1]" (inet_ntop's form), so
 * that two spellings of one address compare equal. -1 if out is too
 * small. */
#define NETADDR_LITERAL_LEN	(NETADDR_STRLEN + 8)
int	netaddr_literal(int family, const void *bin, char *out, size_t outlen);

/* The name an address is looked up by in a reverse zone: its octets
 * (IPv4, IPv4-mapped IPv6 included) or nibbles (IPv6) in reverse, then
 * `zone` ("in-addr.arpa", "ip6.arpa" when zone is NULL; a DNSBL's zone
 * otherwise): "7.2.0.192.in-addr.arpa". -1 when it does not fit. */
int	netaddr_reverse(const struct sockaddr *, const char *zone, char *out,
	    size_t outlen);

#endif
