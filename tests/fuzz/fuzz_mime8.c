/*
 * fuzz_mime8 - the 8-bit to 7-bit MIME conversion on hostile messages.
 * The first input octet picks where the message is split in two feeds;
 * the rest is the message. Invariants: the scan never fails; when it
 * says the message converts, the conversion does, its output is 7-bit
 * and bounded, and the split gives the same output as one feed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mime8.h"

#define OUT_MAX	(4u << 20)

struct sink {
	char	*data;
	size_t	 len;
};

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_mime8: %s\n", what);
		abort();
	}
}

static int
emit(void *ctx, const char *p, size_t n)
{
	struct sink *s = ctx;

	for (size_t i = 0; i < n; i++)
		check((unsigned char)p[i] < 0x80, "8-bit output");
	check(s->len + n <= OUT_MAX, "output more than 4 MB");
	memcpy(s->data + s->len, p, n);
	s->len += n;
	return 0;
}

/* convert - the whole round, in feeds of `cut` and the rest */
static int
convert(const char *p, size_t n, size_t cut, struct sink *s)
{
	static struct mime8 m;

	mime8_init(&m);
	check(mime8_feed(&m, p, cut) == 0 && mime8_feed(&m, p + cut,
	    n - cut) == 0 && mime8_end(&m) == 0, "the scan failed");
	if (m.error != NULL)
		return -1;
	mime8_encode(&m, emit, s);
	check(mime8_feed(&m, p, cut) == 0 && mime8_feed(&m, p + cut,
	    n - cut) == 0 && mime8_end(&m) == 0, "conversion failed after "
	    "a clean scan");
	check(m.error == NULL && !m.emit_failed, "error in the conversion");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sink a, b;
	size_t cut;

	if (size < 1 || size > 200000)
		return 0;
	if (a.data == NULL) {
		a.data = malloc(OUT_MAX);
		b.data = malloc(OUT_MAX);
		check(a.data && b.data, "malloc");
	}
	cut = size > 1 ? data[0] % (size - 1) : 0;
	a.len = b.len = 0;
	if (convert((const char *)data + 1, size - 1, 0, &a) == -1) {
		check(convert((const char *)data + 1, size - 1, cut, &b) == -1,
		    "a split made it convertible");
		return 0;
	}
	check(convert((const char *)data + 1, size - 1, cut, &b) == 0,
	    "a split made it unconvertible");
	check(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
	    "a split changed the output");
	return 0;
}
