/*
 * proxy - the PROXY protocol header (HAProxy's proxy-protocol.txt,
 * versions 1 and 2) that a load balancer sends on a connection before
 * the client's first byte, read without I/O.
 *
 * The caller peeks at what has arrived (recv with MSG_PEEK, so that
 * nothing past the header is taken from the socket: on an implicit-TLS
 * listener the ClientHello may follow at once), calls proxy_parse, and
 * once it says PROXY_DONE reads exactly hdr.len bytes off the socket.
 */
#ifndef SALLYPORT_PROXY_H
#define SALLYPORT_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A v1 line is at most 107 octets with its CRLF; a v2 header is the
 * 16-octet preamble and up to 65535 octets of addresses and TLVs. */
#define PROXY_V1_MAX	107
#define PROXY_V2_MIN	16
#define PROXY_V2_MAX	(16 + 65535)

enum proxy_result {
	PROXY_BAD = -1,		/* not a valid header: close (err says why) */
	PROXY_MORE = 0,		/* a valid prefix: wait for *need octets */
	PROXY_DONE = 1,		/* hdr is filled in */
};

struct proxy_hdr {
	int		 version;	/* 1 or 2 */
	/* The proxy speaks for itself (v2 LOCAL, a health check), or
	 * gives no usable client address (v1 UNKNOWN, v2 UNSPEC or
	 * AF_UNIX): src and dst are unset, and the connection is the
	 * proxy's own, never a client's. */
	bool		 local;
	struct sockaddr_storage src;	/* the client (AF_INET or AF_INET6) */
	struct sockaddr_storage dst;	/* the address it connected to */
	size_t		 len;		/* octets of the header, to consume */
};

/* Parse the header at the start of buf[0..len); nothing is kept
 * between calls, so parse again from the start as octets arrive.
 * PROXY_MORE: buf is a prefix of a valid header; *need is the fewest
 * octets (from the start) the header can have, as far as buf tells:
 * len + 1 for a v1 line, 16 and then 16 + the length field for v2.
 * The answer may turn PROXY_BAD before that many are there (a wrong
 * octet is refused as soon as it is seen), so a caller parses whatever
 * has arrived, and uses *need only to know it must wait for more.
 * PROXY_BAD writes a printable reason to err (hdr is left zeroed).
 * Unknown TLVs are skipped; a CRC32C TLV is checked. */
enum proxy_result proxy_parse(const void *buf, size_t len,
		    struct proxy_hdr *hdr, size_t *need, char *err,
		    size_t errlen);

/* What a proxy listener makes of a connection from `proxy` (the
 * socket's peer, which connected to `local`) and, once it is whole, the
 * header it sent (NULL before): the daemon decides with this at accept
 * and again when the header is in, and the self-test the same way. */
enum proxy_trust {
	PROXY_T_REFUSE,	/* the peer is not in proxy_trusted: close */
	PROXY_T_WAIT,	/* trusted: read its header (hdr was NULL) */
	PROXY_T_SELF,	/* the proxy's own connection: nobody's, untrusted */
	PROXY_T_CLIENT,	/* the client is hdr->src, connected to hdr->dst */
};
struct cidr;
enum proxy_trust proxy_decide(const struct cidr *trusted, size_t ntrusted,
		    const struct sockaddr_storage *proxy,
		    const struct sockaddr_storage *local,
		    const struct proxy_hdr *hdr);

#endif
