/*
 * iptable - a small hash table of counters keyed by client address,
 * for limits that span connections (connections per address, AUTH
 * failures per address). The key is netaddr_client_key's: an IPv4
 * address (also IPv4-mapped), or an IPv6 one cut to its prefix.
 */
#ifndef SALLYPORT_IPTABLE_H
#define SALLYPORT_IPTABLE_H

#include <stdbool.h>
#include <time.h>

#include "lib/netaddr.h"

struct iptable;

struct iptable_entry {
	unsigned	 count;
	time_t		 since;		/* when count started (for windows) */
};

struct iptable	*iptable_new(void);
void		 iptable_free(struct iptable *);
/* The entry for a key, made at count 0 when create is set; NULL when
 * absent (or out of memory). */
struct iptable_entry *iptable_get(struct iptable *,
		    const struct netaddr_key *, bool create);
/* Drop the entry of a key (at count 0, say). */
void		 iptable_remove(struct iptable *, const struct netaddr_key *);
/* Drop every entry whose window started before `before`. */
void		 iptable_expire(struct iptable *, time_t before);
unsigned	 iptable_size(const struct iptable *);

#endif
