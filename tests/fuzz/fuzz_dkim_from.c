/*
 * fuzz_dkim_from - the From: domain of a streamed message (dkim_from):
 * the input fed at once, byte by byte and in pieces cut where its first
 * byte says gives the same answer, and a domain found is not empty and
 * has no upper-case letter, blank or control character.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dkim_from.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_dkim_from: %s\n", what);
		abort();
	}
}

/* run - feed data in pieces of step (0: at once); the answer in out */
static int
run(const uint8_t *data, size_t len, size_t step, char *out, size_t outlen,
    const char **why)
{
	static struct dkim_from f;	/* 16 KB: not on the stack */
	size_t off = 0, n;

	dkim_from_init(&f);
	while (off < len) {
		n = step == 0 || step > len - off ? len - off : step;
		dkim_from_feed(&f, data + off, n);
		off += n;
	}
	*why = "";
	return dkim_from_domain(&f, out, outlen, why);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char a[256], b[256], c[256];
	const char *wa, *wb, *wc;
	size_t step = size ? (size_t)data[0] % 17 + 1 : 1;
	int ra, rb, rc;

	ra = run(data, size, 0, a, sizeof(a), &wa);
	rb = run(data, size, 1, b, sizeof(b), &wb);
	rc = run(data, size, step, c, sizeof(c), &wc);
	check(ra == rb && ra == rc, "the answer depends on the pieces");
	if (ra == 0) {
		check(strcmp(a, b) == 0 && strcmp(a, c) == 0,
		    "the domain depends on the pieces");
		check(a[0] != '\0', "an empty domain");
		for (const char *p = a; *p != '\0'; p++)
			check(!(*p >= 'A' && *p <= 'Z') && (unsigned char)*p > ' ',
			    "not a normalized name");
	} else
		check(strcmp(wa, wb) == 0 && strcmp(wa, wc) == 0 &&
		    wa[0] != '\0', "the reason depends on the pieces");
	return 0;
}
