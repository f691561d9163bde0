/*
 * fuzz_journal - journal_parse, as replay walks a journal file: the
 * first 4 octets of the input name the pass, the rest is the file from
 * a record boundary on. For every answer: used is at most what was
 * given and more than 0, the entry lies inside the buffer, a RECORD's
 * header and entry carry matching CRC32c values and the pass asked for;
 * a RECORD stays the same RECORD over every longer prefix, and MORE
 * turns into RECORD or END once the claimed length is there. The same
 * input as a header block: a decoded header names an offset inside the
 * file, on a record boundary.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crc32c.h"
#include "queue/journal.h"
#include "queue/journal_fmt.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fail(const char *what, size_t off)
{
	fprintf(stderr, "fuzz_journal: %s (record at %zu)\n", what, off);
	abort();
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* check - one answer on buf[0..len) */
static enum jparse
check(const uint8_t *buf, size_t len, uint32_t gen, struct jrecord *rec,
    size_t *used, size_t off)
{
	enum jparse r;

	*used = 0;
	r = journal_parse(buf, len, gen, rec, used);
	if (r != JPARSE_RECORD)
		return r;
	if (*used == 0 || *used > len)
		fail("used outside what was given", off);
	if (rec->data != buf + JR_HDR || rec->len > len - JR_HDR ||
	    *used < JR_HDR + rec->len)
		fail("entry outside the buffer", off);
	if (le32(buf + 4) != gen)
		fail("a record of another pass", off);
	if (le32(buf + 44) != crc32c(buf, 44) ||
	    le32(buf + 40) != crc32c(rec->data, (size_t)rec->len))
		fail("a record whose CRC does not match", off);
	if (strlen(rec->id) != QUEUE_ID_LEN ||
	    memcmp(rec->id, buf + 16, QUEUE_ID_LEN) != 0)
		fail("an id that is not the record's", off);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *buf;
	size_t len, off = 0;
	uint32_t gen;

	if (size < 4)
		return 0;
	gen = le32(data);
	buf = data + 4;
	len = size - 4;
	while (off <= len) {
		struct jrecord rec, again;
		size_t used, used2;
		enum jparse r = check(buf + off, len - off, gen, &rec, &used,
		    off);

		if (r == JPARSE_MORE) {
			/* Every shorter prefix says MORE too (or END for a
			 * shorter start that no longer looks like one). */
			for (size_t m = 0; m < len - off;
			    m += 1 + (len - off) / 64)
				if (check(buf + off, m, gen, &again, &used2,
				    off) == JPARSE_RECORD)
					fail("RECORD on a prefix of MORE", off);
			break;
		}
		if (r == JPARSE_END)
			break;
		/* Any prefix that holds the entry gives the same record. */
		for (size_t m = JR_HDR + (size_t)rec.len; m < len - off;
		    m += 1 + (len - off) / 64) {
			if (check(buf + off, m, gen, &again, &used2, off) !=
			    JPARSE_RECORD || again.len != rec.len ||
			    again.held != rec.held ||
			    strcmp(again.id, rec.id) != 0)
				fail("a longer buffer changed the record", off);
		}
		off += used;
	}

	if (len >= JH_BLOCK) {
		struct jhdr h;
		uint64_t fsize = (uint64_t)gen * 8;

		if (jhdr_decode(buf, fsize, &h) == 1 &&
		    (h.retired < JH_BLOCK || h.retired > fsize ||
		    h.retired % JR_ALIGN != 0))
			fail("a header naming an offset outside the file", 0);
	}
	return 0;
}
