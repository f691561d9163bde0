/*
 * fuzz_data - the DATA state machine: the same stream fed in one piece,
 * byte by byte, and in pieces cut where the input says, gives the same
 * output, flags, size and end; output never exceeds the promised room.
 *
 * Byte 0 picks max_size (0: none; else a small limit so TOO_BIG is
 * reached), byte 1 the piece length of the third run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_data.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct run {
	struct smtp_data d;
	char		*out;		/* everything produced */
	size_t		 outlen;
	size_t		 used;		/* input consumed */
};

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_data: %s\n", what);
		abort();
	}
}

/* feed - the whole input in pieces of `step` bytes (0: at once) */
static void
feed(struct run *r, const char *in, size_t len, size_t step, uint64_t max)
{
	char *piece;
	size_t n, got, used;

	smtp_data_init(&r->d, max);
	r->out = malloc(len + 1);
	check(r->out != NULL, "out of memory");
	r->outlen = r->used = 0;
	while (r->used < len && !r->d.done) {
		n = step == 0 || step > len - r->used ? len - r->used : step;
		/* Exactly the room the header promises: ASan sees past it. */
		piece = malloc(n + 1);
		check(piece != NULL, "out of memory");
		got = (size_t)-1;
		used = smtp_data_feed(&r->d, in + r->used, n, piece, &got);
		check(used <= n, "consumed more than given");
		check(got <= n + 1, "output past its room");
		check(used == n || r->d.done, "stopped before the end");
		if (got > 0)
			memcpy(r->out + r->outlen, piece, got);
		r->outlen += got;
		check(r->outlen <= len + 1, "output longer than input");
		r->used += used;
		free(piece);
		if (used == 0 && !r->d.done)
			break;
	}
}

static void
same(const struct run *a, const struct run *b, const char *how)
{
	if (a->outlen != b->outlen || memcmp(a->out, b->out, a->outlen) != 0 ||
	    a->d.flags != b->d.flags || a->d.size != b->d.size ||
	    a->d.done != b->d.done || a->used != b->used) {
		fprintf(stderr, "fuzz_data: %s differs: out %zu/%zu flags "
		    "%x/%x done %d/%d used %zu/%zu\n", how, a->outlen,
		    b->outlen, a->d.flags, b->d.flags, a->d.done, b->d.done,
		    a->used, b->used);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, bytes, pieces;
	uint64_t max;
	size_t step;

	if (size < 2)
		return 0;
	max = data[0] == 0 ? 0 : (uint64_t)data[0] * 16;
	step = 1 + data[1] % 97;
	data += 2;
	size -= 2;

	feed(&whole, (const char *)data, size, 0, max);
	feed(&bytes, (const char *)data, size, 1, max);
	feed(&pieces, (const char *)data, size, step, max);
	same(&whole, &bytes, "byte by byte");
	same(&whole, &pieces, "in pieces");
	if (whole.d.done)
		check(whole.used >= 3, "ended without a dot line");
	if (max != 0 && (whole.d.flags & DATA_F_TOO_BIG) == 0)
		check(whole.d.size <= max, "over max_size without TOO_BIG");
	check(whole.outlen == whole.d.size || (whole.d.flags & DATA_F_TOO_BIG),
	    "size is not what was produced");
	free(whole.out);
	free(bytes.out);
	free(pieces.out);
	return 0;
}
