/*
 * journal_fmt - the journal file's layout, sans I/O: the header block,
 * the records' headers, journal_parse (journal_fmt.h has the picture).
 */
#include <stdio.h>
#include <string.h>

#include "lib/crc32c.h"
#include "queue/journal.h"
#include "queue/journal_fmt.h"

/* --- the format --------------------------------------------------------- */

/* putle, getle - n octets of v, little-endian */
static void
putle(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
getle(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#define put32(p, v)	putle((p), (v), 4)
#define put64(p, v)	putle((p), (v), 8)
#define get32(p)	((uint32_t)getle((p), 4))
#define get64(p)	getle((p), 8)

void
jhdr_encode(uint8_t out[JH_SLOT_LEN], const struct jhdr *h)
{
	memset(out, 0, JH_SLOT_LEN);
	memcpy(out, JH_MAGIC, JH_MAGIC_LEN);
	put32(out + 24, h->gen);
	put64(out + 32, h->retired);
	put64(out + 40, h->seq);
	put32(out + 48, crc32c(out, 48));
}

/* slot_decode - one copy of the header: true when it is whole */
static bool
slot_decode(const uint8_t *p, struct jhdr *h)
{
	static const uint8_t zero[8];

	if (memcmp(p, JH_MAGIC, JH_MAGIC_LEN) != 0 ||
	    memcmp(p + JH_MAGIC_LEN, zero, 24 - JH_MAGIC_LEN) != 0 ||
	    get32(p + 48) != crc32c(p, 48))
		return false;
	h->gen = get32(p + 24);
	h->retired = get64(p + 32);
	h->seq = get64(p + 40);
	return true;
}

int
jhdr_decode(const uint8_t block[JH_BLOCK], uint64_t size, struct jhdr *h)
{
	struct jhdr a, b;
	bool oka, okb;

	oka = slot_decode(block + JH_SLOT0, &a);
	okb = slot_decode(block + JH_SLOT1, &b);
	if (!oka && !okb) {
		for (size_t i = 0; i < JH_BLOCK; i++)
			if (block[i] != 0)
				return -1;
		return 0;
	}
	*h = !okb || (oka && a.seq > b.seq) ? a : b;
	if (h->retired < JH_BLOCK || h->retired > size ||
	    h->retired % JR_ALIGN != 0)
		return -1;
	return 1;
}

bool
jr_id_ok(const uint8_t *p)
{
	for (size_t i = 0; i < QUEUE_ID_LEN; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		    (p[i] >= 'A' && p[i] <= 'F')))
			return false;
	return true;
}

/* jrec_encode - the header of a record of gen for an entry of len octets */
void
jrec_encode(uint8_t out[JR_HDR], uint32_t gen, const char *id, bool held,
    uint64_t len, uint32_t dcrc)
{
	memset(out, 0, JR_HDR);
	put32(out, JR_MAGIC);
	put32(out + 4, gen);
	put32(out + 8, held ? JR_HELD : 0);
	memcpy(out + 16, id, QUEUE_ID_LEN);
	put64(out + 32, len);
	put32(out + 40, dcrc);
	put32(out + 44, crc32c(out, 44));
}

enum jparse
journal_parse(const uint8_t *buf, size_t len, uint32_t gen,
    struct jrecord *rec, size_t *used)
{
	uint8_t magic[8];
	uint64_t n, total;
	uint32_t flags;

	put32(magic, JR_MAGIC);
	put32(magic + 4, gen);
	if (len < JR_HDR) {
		/* Only the start of a header of this pass could still
		 * become one. */
		size_t m = len < 8 ? len : 8;

		return len > 0 && memcmp(buf, magic, m) == 0 ?
		    JPARSE_MORE : JPARSE_END;
	}
	if (get32(buf) != JR_MAGIC || get32(buf + 4) != gen ||
	    get32(buf + 44) != crc32c(buf, 44))
		return JPARSE_END;
	flags = get32(buf + 8);
	n = get64(buf + 32);
	if ((flags & ~(uint32_t)JR_HELD) != 0 || get32(buf + 12) != 0 ||
	    !jr_id_ok(buf + 16) || n > JOURNAL_SIZE_MAX)
		return JPARSE_END;
	if (n > len - JR_HDR)
		return JPARSE_MORE;
	if (get32(buf + 40) != crc32c(buf + JR_HDR, (size_t)n))
		return JPARSE_END;
	memcpy(rec->id, buf + 16, QUEUE_ID_LEN);
	rec->id[QUEUE_ID_LEN] = '\0';
	rec->held = (flags & JR_HELD) != 0;
	rec->data = buf + JR_HDR;
	rec->len = n;
	total = JR_HDR + jr_pad(n);
	*used = total < len ? (size_t)total : len;
	return JPARSE_RECORD;
}

bool
journal_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n < 64 && name[0] != '.' &&
	    strchr(name, '/') == NULL;
}

