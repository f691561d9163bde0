/*
 * resolve - blocking DNS lookups for the delivery threads: MX records
 * in preference order and the addresses of a host, through c-ares and
 * the configured dns_servers (never the system's getaddrinfo, which
 * could read other sources). Each call uses its own c-ares channel, so
 * threads share nothing.
 *
 * DNSSEC (dnssec = yes): sallyport validates nothing itself. As Postfix
 * with smtp_dns_support_level = dnssec, it asks the configured
 * dns_servers, a validating resolver the administrator runs, to say
 * whether each answer was validated (the AD bit, RFC 4035 3.2.3, RFC
 * 6840 5.7), and trusts what it says. With dnssec = no no answer is
 * secure.
 */
#ifndef SALLYPORT_RESOLVE_H
#define SALLYPORT_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "conf/config.h"
#include "dns/dns_rdata.h"

#define RESOLVE_OK		0
#define RESOLVE_TEMP		(-1)	/* timeout, SERVFAIL: try later */
#define RESOLVE_NONE		(-2)	/* NXDOMAIN, or a null MX (RFC 7505) */
#define RESOLVE_BADNAME		(-3)	/* a UTF-8 domain that is not IDNA2008 */

struct mx_host {
	unsigned	pref;
	char		name[256];
};

/* What DNSSEC said of a lookup. */
struct resolve_sec {
	bool	 secure;	/* dnssec = yes, and every answer the lookup
				 * used was validated (AD), a denial
				 * (NXDOMAIN, no records) included; an
				 * answer that failed gave nothing and
				 * does not count */
	char	 cname[256];	/* resolve_addrs_sec: the name a CNAME chain
				 * of the host ended at, without the final
				 * dot; "" when the host is no alias */
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

/* The same, and in *sec (which may be NULL) whether they were secure:
 * for the MX lookup, the MX answer (and for an implicit MX the address
 * lookup of the domain too); for the addresses, both the A and the AAAA
 * answer (a literal is never secure: no DNS said it). */
int	resolve_mx_sec(const struct config *, const char *domain,
	    struct mx_host *out, size_t max, size_t *n, struct resolve_sec *);
int	resolve_addrs_sec(const struct config *, const char *host,
	    struct sockaddr_storage *out, size_t max, size_t *n,
	    struct resolve_sec *);

/* The TLSA records of _PORT._tcp.HOST (RFC 6698 3, RFC 7672 2.2.3) in
 * *out (free with dns_tlsa_set_free, whatever is returned), and whether
 * the answer was secure. RESOLVE_OK with at least one record (it may be
 * malformed: out->malformed); RESOLVE_NONE for NXDOMAIN or no TLSA
 * records; RESOLVE_TEMP for a failure (a timeout, SERVFAIL: what a
 * validating resolver answers for a bogus zone) or a name too long to
 * ask. */
int	resolve_tlsa(const struct config *, const char *host, unsigned port,
	    struct dns_tlsa_set *out, bool *secure);

/* The TXT records of `name`, each one's strings joined (RFC 1035
 * 3.3.14, as RFC 8461 3.1 and RFC 8460 3 read them), in *out (free with
 * dns_txt_set_free, whatever is returned), and whether the answer was
 * secure. RESOLVE_OK with at least one record; RESOLVE_NONE for
 * NXDOMAIN or no TXT records; RESOLVE_TEMP for a failure. */
int	resolve_txt(const struct config *, const char *name,
	    struct dns_txt_set *out, bool *secure);

#endif
