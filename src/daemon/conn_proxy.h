/*
 * conn_proxy - the PROXY header taken off a connection's socket
 * (conn_proxy.c): peeked at, parsed by lib/proxy.c, and read to its
 * last octet and not one past it.
 */
#ifndef SALLYPORT_CONN_PROXY_H
#define SALLYPORT_CONN_PROXY_H

#include <stddef.h>

#include "lib/buf.h"
#include "lib/proxy.h"

enum conn_proxy_step {
	CONN_PROXY_FAIL = -1,	/* no valid header: close (why says so) */
	CONN_PROXY_WAIT = 0,	/* a valid beginning: wait for the rest */
	CONN_PROXY_DONE = 1,	/* *hdr is filled in, the header taken */
};

/* What there is to read on fd (non-blocking) of the header, whose
 * first octets are already in `in` (a buffer of max PROXY_V2_MAX, owned
 * by the caller, empty at first). */
enum conn_proxy_step conn_proxy_read(int fd, struct buf *in,
		    struct proxy_hdr *hdr, char *why, size_t whylen);

#endif
