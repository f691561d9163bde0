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

#include "iptable.h"

#define IPTABLE_BUCKETS	1024

struct node {
	struct iptable_entry e;
	unsigned char	 key[16];
	size_t		 keylen;	/* 4 or 16 */
	struct node	*next;
};

struct iptable {
	struct node	*bucket[IPTABLE_BUCKETS];
	unsigned	 n;
	uint32_t	 seed;		/* so clients cannot aim at one bucket */
};

/* key_of - the address bytes; IPv4-mapped IPv6 as IPv4. 0 if unknown */
static size_t
key_of(const struct sockaddr *sa, unsigned char key[16])
{
	const struct sockaddr_in6 *s6;

	if (sa->sa_family == AF_INET) {
		memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 4;
	}
	if (sa->sa_family != AF_INET6)
		return 0;
	s6 = (const struct sockaddr_in6 *)sa;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memcpy(key, s6->sin6_addr.s6_addr + 12, 4);
		return 4;
	}
	memcpy(key, s6->sin6_addr.s6_addr, 16);
	return 16;
}

/* hash - FNV-1a over the seed and the key */
static size_t
hash(const struct iptable *t, const unsigned char *key, size_t len)
{
	uint32_t h = 2166136261u ^ t->seed;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ key[i]) * 16777619u;
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
iptable_get(struct iptable *t, const struct sockaddr *sa, bool create)
{
	unsigned char key[16];
	size_t len = key_of(sa, key), b;
	struct node *n;

	if (len == 0)
		return NULL;
	b = hash(t, key, len);
	for (n = t->bucket[b]; n; n = n->next)
		if (n->keylen == len && memcmp(n->key, key, len) == 0)
			return &n->e;
	if (!create || (n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	memcpy(n->key, key, len);
	n->keylen = len;
	n->next = t->bucket[b];
	t->bucket[b] = n;
	t->n++;
	return &n->e;
}

void
iptable_remove(struct iptable *t, const struct sockaddr *sa)
{
	unsigned char key[16];
	size_t len = key_of(sa, key);
	struct node **p, *n;

	if (len == 0)
		return;
	for (p = &t->bucket[hash(t, key, len)]; (n = *p); p = &n->next)
		if (n->keylen == len && memcmp(n->key, key, len) == 0) {
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
