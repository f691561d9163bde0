/*
 * fuzz_hops - the Received: counter: the same stream fed at once, byte
 * by byte and in pieces cut where the input says gives the same count
 * and end, and that count is what a plain line-by-line reading of the
 * header section finds.
 *
 * Byte 0 picks the piece length of the third run.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/hops.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
feed(struct hops *h, const char *in, size_t len, size_t step)
{
	size_t off = 0, n;

	hops_init(h);
	while (off < len) {
		n = step == 0 || step > len - off ? len - off : step;
		hops_feed(h, in + off, n);
		off += n;
	}
}

/* reference - count line by line, the obvious way */
static unsigned
reference(const char *in, size_t len, int *done)
{
	const char *p = in, *end = in + len, *nl;
	unsigned n = 0;

	*done = 0;
	while (p < end) {
		size_t ll, i;

		nl = memchr(p, '\n', (size_t)(end - p));
		ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (nl && (ll == 0 || (ll == 1 && p[0] == '\r'))) {
			*done = 1;
			break;
		}
		if (ll >= 8 && strncasecmp(p, "received", 8) == 0) {
			for (i = 8; i < ll && (p[i] == ' ' || p[i] == '\t');
			    i++)
				;
			if (i < ll && p[i] == ':')
				n++;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hops whole, bytes, pieces;
	size_t step;
	unsigned want;
	int done;

	if (size < 1)
		return 0;
	step = 1 + data[0] % 31;
	data++;
	size--;
	feed(&whole, (const char *)data, size, 0);
	feed(&bytes, (const char *)data, size, 1);
	feed(&pieces, (const char *)data, size, step);
	want = reference((const char *)data, size, &done);
	if (whole.count != bytes.count || whole.count != pieces.count ||
	    whole.done != bytes.done || whole.done != pieces.done ||
	    whole.count != want || whole.done != (done != 0)) {
		fprintf(stderr, "fuzz_hops: count %u/%u/%u want %u, done "
		    "%d/%d/%d want %d\n", whole.count, bytes.count,
		    pieces.count, want, whole.done, bytes.done, pieces.done,
		    done);
		abort();
	}
	return 0;
}
