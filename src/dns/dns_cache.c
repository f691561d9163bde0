/*
 * dns_cache - answers kept for their TTL, bounded in count.
 *
 * A hash table for lookups and a list in insertion order for eviction.
 * When the cache is full, the expired entries go first: finding them
 * takes a walk of the whole list, so the cache remembers a time before
 * which nothing can have expired and walks only once that has passed.
 * Otherwise the oldest entry goes, which is also the one whose TTL has
 * run longest. Messages (dns_query's answers) count against a bound in
 * bytes too, and the oldest entries go until a new one fits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns_cache.h"

struct dns_entry {
	struct dns_entry *hnext;	/* same bucket */
	struct dns_entry *older, *newer;	/* insertion order */
	double		 expires;
	enum dns_result	 result;
	unsigned char	*msg;		/* after name, or NULL */
	size_t		 msglen;
	char		 name[];
};

struct dns_cache {
	struct dns_entry **bucket;
	size_t		 nbuckets;	/* a power of two */
	struct dns_entry *oldest, *newest;
	size_t		 n, max;
	size_t		 bytes;		/* of the messages held */
	double		 next_expiry;	/* no entry expires before this */
};

struct dns_cache *
dns_cache_new(size_t max)
{
	struct dns_cache *c;

	if (max == 0 || (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	/* About one entry per bucket when full. */
	for (c->nbuckets = 16; c->nbuckets < max; c->nbuckets *= 2)
		;
	if ((c->bucket = calloc(c->nbuckets, sizeof(*c->bucket))) == NULL) {
		free(c);
		return NULL;
	}
	c->max = max;
	c->next_expiry = INFINITY;
	return c;
}

void
dns_cache_free(struct dns_cache *c)
{
	struct dns_entry *e, *next;

	if (c == NULL)
		return;
	for (e = c->oldest; e != NULL; e = next) {
		next = e->newer;
		free(e);
	}
	free(c->bucket);
	free(c);
}

/* dns_cache_slot - the bucket of a name (FNV-1a) */
static struct dns_entry **
dns_cache_slot(const struct dns_cache *c, const char *name)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	return &c->bucket[h & (c->nbuckets - 1)];
}

static struct dns_entry *
dns_cache_find(const struct dns_cache *c, const char *name)
{
	struct dns_entry *e;

	for (e = *dns_cache_slot(c, name); e != NULL; e = e->hnext)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static void
dns_cache_remove(struct dns_cache *c, struct dns_entry *e)
{
	struct dns_entry **pp = dns_cache_slot(c, e->name);

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	c->n--;
	c->bytes -= e->msglen;
	free(e);
}

/* dns_cache_make_room - one entry fewer than max at least, and room for
 * len bytes of message */
static void
dns_cache_make_room(struct dns_cache *c, double now, size_t len)
{
	struct dns_entry *e, *next;

	if (now >= c->next_expiry) {
		c->next_expiry = INFINITY;
		for (e = c->oldest; e != NULL; e = next) {
			next = e->newer;
			if (e->expires <= now)
				dns_cache_remove(c, e);
			else if (e->expires < c->next_expiry)
				c->next_expiry = e->expires;
		}
	}
	while (c->oldest != NULL &&
	    (c->n >= c->max || c->bytes + len > DNS_CACHE_BYTES))
		dns_cache_remove(c, c->oldest);
}

bool
dns_cache_get_msg(struct dns_cache *c, const char *name, double now,
    enum dns_result *out, const unsigned char **msg, size_t *len)
{
	struct dns_entry *e = dns_cache_find(c, name);

	if (e == NULL)
		return false;
	if (e->expires <= now) {
		dns_cache_remove(c, e);
		return false;
	}
	*out = e->result;
	*msg = e->msg;
	*len = e->msglen;
	return true;
}

bool
dns_cache_get(struct dns_cache *c, const char *name, double now,
    enum dns_result *out)
{
	const unsigned char	*msg;
	size_t			 len;

	return dns_cache_get_msg(c, name, now, out, &msg, &len);
}

void
dns_cache_put_msg(struct dns_cache *c, const char *name,
    enum dns_result result, const unsigned char *msg, size_t msglen,
    uint32_t ttl, double now)
{
	struct dns_entry *e, **slot;
	size_t		 len = strlen(name);

	if ((e = dns_cache_find(c, name)) != NULL)
		dns_cache_remove(c, e);
	if (ttl == 0 || msglen > DNS_CACHE_MSG_MAX)
		return;
	if (ttl > DNS_CACHE_TTL_MAX)
		ttl = DNS_CACHE_TTL_MAX;
	dns_cache_make_room(c, now, msglen);
	if ((e = malloc(sizeof(*e) + len + 1 + msglen)) == NULL)
		return;
	memcpy(e->name, name, len + 1);
	e->msg = NULL;
	e->msglen = 0;
	if (msg != NULL) {
		e->msg = (unsigned char *)e->name + len + 1;
		memcpy(e->msg, msg, msglen);
		e->msglen = msglen;
	}
	e->result = result;
	e->expires = now + ttl;
	slot = dns_cache_slot(c, name);
	e->hnext = *slot;
	*slot = e;
	e->older = c->newest;
	e->newer = NULL;
	if (c->newest != NULL)
		c->newest->newer = e;
	else
		c->oldest = e;
	c->newest = e;
	c->n++;
	c->bytes += e->msglen;
	if (e->expires < c->next_expiry)
		c->next_expiry = e->expires;
}

void
dns_cache_put(struct dns_cache *c, const char *name, enum dns_result result,
    uint32_t ttl, double now)
{
	dns_cache_put_msg(c, name, result, NULL, 0, ttl, now);
}

size_t
dns_cache_count(const struct dns_cache *c)
{
	return c->n;
}
