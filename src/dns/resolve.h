/*
 * resolve - blocking DNS lookups for the delivery threads: MX records
 * in preference order and the addresses of a host, through c-ares and
 * the configured dns_servers (never the system's getaddrinfo, which
 * could read other sources). Each call uses its own c-ares channel, so
 * threads share nothing.
 */
#ifndef SALLYPORT_RESOLVE_H
#define SALLYPORT_RESOLVE_H

#include <stddef.h>
#include <sys/socket.h>

#include "conf/config.h"

#define RESOLVE_OK		0
#define RESOLVE_TEMP		(-1)	/* timeout, SERVFAIL: try later */
#define RESOLVE_NONE		(-2)	/* NXDOMAIN, or a null MX (RFC 7505) */
#define RESOLVE_BADNAME		(-3)	/* a UTF-8 domain that is not IDNA2008 */

struct mx_host {
	unsigned	pref;
	char		name[256];
};

/* The MX hosts of `domain`, lowest preference first (ties in random
 * order). A domain with no MX but an address gives one entry: the
 * domain itself (RFC 5321 5.1 implicit MX). A UTF-8 domain is looked up
 * by its IDNA2008 A-labels (and so named in the entries). */
int	resolve_mx(const struct config *, const char *domain,
	    struct mx_host *out, size_t max, size_t *n);
/* A and AAAA of `host` (port 0), IPv4 first; a literal is returned
 * as is. */
int	resolve_addrs(const struct config *, const char *host,
	    struct sockaddr_storage *out, size_t max, size_t *n);

#endif
