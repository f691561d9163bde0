/*
 * fuzz_data - the DATA state machine: the same stream fed in one piece,
 * byte by byte, and in pieces cut where the input says, gives the same
 * output, flags, size and end; output never exceeds the promised room.
 * In both bare-newline modes: only <CRLF>.<CRLF> ends the data; a NUL
 * consumed is always flagged; a message that is not refused is stored
 * CRLF-clean and without NUL; and where the input has no bare LF,
 * normalize does exactly what reject does.
 *
 * Byte 0 picks max_size (0: none; else a small limit so TOO_BIG is
 * reached), byte 1 the piece length of the third run (low 7 bits) and
 * the mode (high bit: normalize).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_data.h"

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
feed(struct run *r, const char *in, size_t len, size_t step, uint64_t max,
    bool lf)
{
	char *piece;
	size_t n, got, used;

	smtp_data_init(&r->d, max);
	if (lf)
		smtp_data_normalize_lf(&r->d);
	r->out = malloc(SMTP_DATA_ROOM(len));
	check(r->out != NULL, "out of memory");
	r->outlen = r->used = 0;
	while (r->used < len && !r->d.done) {
		n = step == 0 || step > len - r->used ? len - r->used : step;
		/* Exactly the room the header promises: ASan sees past it. */
		piece = malloc(SMTP_DATA_ROOM(n));
		check(piece != NULL, "out of memory");
		got = (size_t)-1;
		used = smtp_data_feed(&r->d, in + r->used, n, piece, &got);
		check(used <= n, "consumed more than given");
		check(got <= SMTP_DATA_ROOM(n), "output past its room");
		check(used == n || r->d.done, "stopped before the end");
		if (got > 0)
			memcpy(r->out + r->outlen, piece, got);
		r->outlen += got;
		check(lf || r->outlen <= len + 1, "output longer than input");
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

/* crlf_clean - every CR is followed by LF, every LF follows a CR, no NUL */
static int
crlf_clean(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\0')
			return 0;
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			return 0;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return 0;
	}
	return 1;
}

/* invariants - what must hold of one run over `in`, in either mode */
static void
invariants(const struct run *r, const char *in)
{
	if (r->d.done) {
		check(r->used >= 3 && memcmp(in + r->used - 3, ".\r\n", 3) == 0,
		    "ended without a dot line");
		check(r->used == 3 || (r->used >= 5 &&
		    memcmp(in + r->used - 5, "\r\n", 2) == 0),
		    "ended at a dot line not after CRLF");
	}
	check((memchr(in, '\0', r->used) != NULL) ==
	    ((r->d.flags & DATA_F_NUL) != 0), "NUL seen and flag differ");
	if ((r->d.flags & (DATA_F_BARE_EOL | DATA_F_NUL | DATA_F_TOO_BIG)) == 0)
		check(crlf_clean(r->out, r->outlen) || (!r->d.done &&
		    r->outlen > 0 && r->out[r->outlen - 1] == '\r' &&
		    crlf_clean(r->out, r->outlen - 1)),
		    "accepted output is not CRLF-clean");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, bytes, pieces, strict;
	uint64_t max;
	size_t step;
	bool lf;

	if (size < 2)
		return 0;
	max = data[0] == 0 ? 0 : (uint64_t)data[0] * 16;
	step = 1 + (data[1] & 0x7f) % 97;
	lf = (data[1] & 0x80) != 0;
	data += 2;
	size -= 2;

	feed(&whole, (const char *)data, size, 0, max, lf);
	feed(&bytes, (const char *)data, size, 1, max, lf);
	feed(&pieces, (const char *)data, size, step, max, lf);
	same(&whole, &bytes, "byte by byte");
	same(&whole, &pieces, "in pieces");
	invariants(&whole, (const char *)data);
	/* The other mode over the same input: its own invariants, and
	 * without a bare LF the two modes agree. */
	feed(&strict, (const char *)data, size, 0, max, !lf);
	invariants(&strict, (const char *)data);
	if (!((lf ? &strict : &whole)->d.flags & DATA_F_BARE_EOL))
		same(&whole, &strict, "normalize without bare LF");
	free(strict.out);
	if (max != 0 && (whole.d.flags & DATA_F_TOO_BIG) == 0)
		check(whole.d.size <= max, "over max_size without TOO_BIG");
	check(whole.outlen == whole.d.size || (whole.d.flags & DATA_F_TOO_BIG),
	    "size is not what was produced");
	free(whole.out);
	free(bytes.out);
	free(pieces.out);
	return 0;
}
