/*
 * rcpt_index - the recipient table's keys by hash: an open-addressing
 * table (FNV-1a with a final mix, linear probing, at most half full)
 * over the entry array, so that a lookup is one hash and a short probe
 * whatever the size. The keys come from the admin's file, not from
 * clients, so there is no seed against chosen collisions.
 */
#include <stdlib.h>
#include <string.h>

#include "conf/rcpt_table_int.h"

static uint64_t
rcpt_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	/* FNV's low bits, the ones a mask keeps, mix badly when keys end
	 * alike (every "@domain"); a final avalanche spreads them. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/* rcpt_slot - the slot of key, or of the free one where it would go;
 * *hi is the high half of its hash */
static size_t
rcpt_slot(const struct rcpt_table *t, const char *key, uint32_t *hi)
{
	uint64_t h = rcpt_hash(key);
	size_t	 mask = t->nslots - 1, i = (size_t)h & mask;

	*hi = (uint32_t)(h >> 32);
	while (t->slots[i].idx != 0 && (t->slots[i].hash != *hi ||
	    strcmp(t->v[t->slots[i].idx - 1].key, key) != 0))
		i = (i + 1) & mask;
	return i;
}

void
rcpt_index_put(struct rcpt_table *t, size_t k)
{
	uint32_t hi;
	size_t	 i = rcpt_slot(t, t->v[k].key, &hi);

	t->slots[i].idx = (uint32_t)k + 1;
	t->slots[i].hash = hi;
}

const struct rcpt_entry *
rcpt_table_find(const struct rcpt_table *t, const char *key)
{
	uint32_t hi;
	size_t	 i;

	if (t == NULL || t->nslots == 0)
		return NULL;
	i = rcpt_slot(t, key, &hi);
	return t->slots[i].idx != 0 ? &t->v[t->slots[i].idx - 1] : NULL;
}

int
rcpt_index_grow(struct rcpt_table *t)
{
	struct rcpt_entry *v;
	struct rcpt_slot *slots;
	size_t		 n;

	if (t->n == t->cap) {
		n = t->cap ? t->cap * 2 : 64;
		if ((v = reallocarray(t->v, n, sizeof(*v))) == NULL)
			return -1;
		t->v = v;
		t->cap = n;
	}
	if (2 * (t->n + 1) <= t->nslots)
		return 0;
	n = t->nslots ? t->nslots * 2 : 128;
	if ((slots = calloc(n, sizeof(*slots))) == NULL)
		return -1;
	free(t->slots);
	t->slots = slots;
	t->nslots = n;
	for (size_t k = 0; k < t->n; k++)
		rcpt_index_put(t, k);
	return 0;
}

