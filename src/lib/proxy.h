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

/* Parse the header at the start of buf[0..len). PROXY_MORE sets *need
 * to the number of octets (from the start) that must be there before
 * the answer can change; PROXY_BAD writes a printable reason to err.
 * Unknown TLVs are skipped; a CRC32C TLV is checked. */
enum proxy_result proxy_parse(const void *buf, size_t len,
		    struct proxy_hdr *hdr, size_t *need, char *err,
		    size_t errlen);

#endif
