/*
 * fuzz_base64 - the strict decoder on arbitrary text (what AUTH PLAIN
 * and LOGIN responses go through), and decode(encode(x)) == x.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_base64: %s\n", what);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *enc;
	unsigned char *dec, *back;
	long n;
	size_t elen;

	/* Exactly the room the header asks for, so ASan sees an overrun. */
	dec = malloc(size / 4 * 3 + 1);
	check(dec != NULL, "out of memory");
	n = base64_decode((const char *)data, size, dec);
	check(n >= -1 && n <= (long)(size / 4 * 3), "decoded length");
	if (n >= 0) {
		/* Strict: what decodes encodes back to the same text. */
		enc = malloc(BASE64_ENCODED_LEN((size_t)n));
		check(enc != NULL, "out of memory");
		elen = base64_encode(dec, (size_t)n, enc);
		check(elen == size && memcmp(enc, data, size) == 0,
		    "decode accepted a non-canonical form");
		free(enc);
	}
	free(dec);

	enc = malloc(BASE64_ENCODED_LEN(size));
	back = malloc(size + 1);
	check(enc != NULL && back != NULL, "out of memory");
	elen = base64_encode(data, size, enc);
	check(elen + 1 == BASE64_ENCODED_LEN(size) && enc[elen] == '\0',
	    "encoded length");
	n = base64_decode(enc, elen, back);
	check(n == (long)size && memcmp(back, data, size) == 0,
	    "decode(encode(x)) != x");
	free(enc);
	free(back);
	return 0;
}
