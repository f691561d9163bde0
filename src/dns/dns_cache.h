/*
 * dns_cache - answers kept for their TTL, bounded in count.
 *
 * Keyed by name as given (dns.c lower-cases first). Time is passed in,
 * in seconds on any steady clock, so that the cache does no I/O and
 * tests can move the clock.
 */
#ifndef SALLYPORT_DNS_CACHE_H
#define SALLYPORT_DNS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dns.h"

#define DNS_CACHE_TTL_MAX	86400	/* seconds: no answer is kept longer */

struct dns_cache;

/* A cache of at most `max` entries (at least 1); NULL without memory. */
struct dns_cache	*dns_cache_new(size_t max);
void			 dns_cache_free(struct dns_cache *);

/* Is there a live answer for name at time now? */
bool	dns_cache_get(struct dns_cache *, const char *name, double now,
	    enum dns_result *);
/* Keep an answer for ttl seconds (capped at DNS_CACHE_TTL_MAX; 0 keeps
 * nothing), replacing any other for the name. When the cache is full,
 * expired entries go first, then the oldest one. Without memory, the
 * answer is simply not kept. */
void	dns_cache_put(struct dns_cache *, const char *name,
	    enum dns_result, uint32_t ttl, double now);
/* Entries held, expired or not. */
size_t	dns_cache_count(const struct dns_cache *);

#endif
