/*
 * iptable - counters per client address, in a chained hash table of
 * fixed width. Entries exist only while they count something, so the
 * table holds at most one entry per address with a connection open or
 * a recent AUTH failure.
 */
#include <netinet/in.h>
#include <sys/random.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/iptable.h"

#define IPTABLE_BUCKETS	1024

struct node {
	struct iptable_entry e;
	struct netaddr_key key;
	struct node	*next;
};

struct iptable {
	struct node	*bucket[IPTABLE_BUCKETS];
	unsigned	 n;
	uint32_t	 seed;		/* so clients cannot aim at one bucket */
};

/* key_len - how many bytes of the key count */
static size_t
key_len(const struct netaddr_key *k)
{
	return k->family == AF_INET ? 4 : 16;
}

static bool
key_equal(const struct netaddr_key *a, const struct netaddr_key *b)
{
	return a->family == b->family &&
	    memcmp(a->addr, b->addr, key_len(a)) == 0;
}

/* hash - FNV-1a over the seed and the key */
static size_t
hash(const struct iptable *t, const struct netaddr_key *k)
{
	uint32_t h = 2166136261u ^ t->seed;
	size_t i, len = key_len(k);

	for (i = 0; i < len; i++)
		h = (h ^ k->addr[i]) * 16777619u;
	return h % IPTABLE_BUCKETS;
}

struct iptable *
iptable_new(void)
{
	struct iptable *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) == -1)
		t->seed = (uint32_t)time(NULL);
	return t;
}

void
iptable_free(struct iptable *t)
{
	struct node *n, *next;
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < IPTABLE_BUCKETS; i++)
		for (n = t->bucket[i]; n; n = next) {
			next = n->next;
			free(n);
		}
	free(t);
}

struct iptable_entry *
iptable_get(struct iptable *t, const struct netaddr_key *key, bool create)
{
	size_t b = hash(t, key);
	struct node *n;

	for (n = t->bucket[b]; n; n = n->next)
		if (key_equal(&n->key, key))
			return &n->e;
	if (!create || (n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->key = *key;
	n->next = t->bucket[b];
	t->bucket[b] = n;
	t->n++;
	return &n->e;
}

void
iptable_remove(struct iptable *t, const struct netaddr_key *key)
{
	struct node **p, *n;

	for (p = &t->bucket[hash(t, key)]; (n = *p); p = &n->next)
		if (key_equal(&n->key, key)) {
			*p = n->next;
			free(n);
			t->n--;
			return;
		}
}

void
iptable_expire(struct iptable *t, time_t before)
{
	struct node **p, *n;
	size_t i;

	for (i = 0; i < IPTABLE_BUCKETS; i++)
		for (p = &t->bucket[i]; (n = *p);) {
			if (n->e.since < before) {
				*p = n->next;
				free(n);
				t->n--;
			} else {
				p = &n->next;
			}
		}
}

unsigned
iptable_size(const struct iptable *t)
{
	return t->n;
}
