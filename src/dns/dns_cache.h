/*
 * dns_cache - answers kept for their TTL, bounded in count and bytes.
 *
 * An answer is a result, and for dns_query's questions the message
 * itself. Keyed by name as given (dns.c lower-cases first, and puts the
 * type before the name of a message's key). Time is passed in,
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
#define DNS_CACHE_MSG_MAX	16384	/* bytes: a longer message is not kept */
#define DNS_CACHE_BYTES		(4 * 1024 * 1024)	/* messages in all */

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
/* The same with the message (len bytes) the result came in; a message
 * over DNS_CACHE_MSG_MAX is not kept. The messages held take at most
 * DNS_CACHE_BYTES: the oldest entries go to make room. */
void	dns_cache_put_msg(struct dns_cache *, const char *name,
	    enum dns_result, const unsigned char *msg, size_t len,
	    uint32_t ttl, double now);
/* A live answer with its message (*msg NULL when it was kept without
 * one), valid until the next call on the cache. */
bool	dns_cache_get_msg(struct dns_cache *, const char *name, double now,
	    enum dns_result *, const unsigned char **msg, size_t *len);
/* Entries held, expired or not. */
size_t	dns_cache_count(const struct dns_cache *);

#endif
