/*
 * iptable - a small hash table of counters keyed by client address,
 * for limits that span connections (connections per address, AUTH
 * failures per address). An IPv4-mapped IPv6 address is its IPv4 one.
 */
#ifndef SALLYPORT_IPTABLE_H
#define SALLYPORT_IPTABLE_H

#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>

struct iptable;

struct iptable_entry {
	unsigned	 count;
	time_t		 since;		/* when count started (for windows) */
};

struct iptable	*iptable_new(void);
void		 iptable_free(struct iptable *);
/* The entry for an address, made at count 0 when create is set; NULL
 * when absent (or out of memory). */
struct iptable_entry *iptable_get(struct iptable *, const struct sockaddr *,
		    bool create);
/* Drop the entry of an address (at count 0, say). */
void		 iptable_remove(struct iptable *, const struct sockaddr *);
/* Drop every entry whose window started before `before`. */
void		 iptable_expire(struct iptable *, time_t before);
unsigned	 iptable_size(const struct iptable *);

#endif
