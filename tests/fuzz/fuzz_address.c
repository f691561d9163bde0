/*
 * fuzz_address - address_parse on arbitrary paths, and the round trip:
 * whatever parses, once formatted, parses again, whole, to the same
 * local part, domain, routed domain and flags (less those that only say
 * how it was written: brackets, quotes, a dropped source route).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/address.h"

/* Flags that describe the address, not its spelling. */
#define SAME_FLAGS	(ADDR_F_NULL | ADDR_F_LITERAL | ADDR_F_ROUTING | \
			 ADDR_F_NODOMAIN | ADDR_F_UTF8)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fail(const char *what, const char *text)
{
	fprintf(stderr, "fuzz_address: %s: [%s]\n", what, text);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct address a, b;
	const char *err = NULL;
	char out[2 * ADDR_PATH_MAX + 8];
	int n, m;

	memset(&a, 0xa5, sizeof(a));	/* unset fields show up as garbage */
	n = address_parse((const char *)data, size, &a, &err);
	if (n == -1) {
		if (err == NULL || err[0] == '\0')
			fail("refused without a reason", "");
		return 0;
	}
	if (n <= 0 || (size_t)n > size)
		fail("used length out of range", "");
	if (memchr(a.local, '\0', sizeof(a.local)) == NULL ||
	    memchr(a.domain, '\0', sizeof(a.domain)) == NULL ||
	    memchr(a.routed_domain, '\0', sizeof(a.routed_domain)) == NULL)
		fail("field not terminated", "");
	if (address_format(&a, out, sizeof(out)) == -1)
		fail("format does not fit", a.local);
	if (a.flags & ADDR_F_NULL) {
		if (out[0] != '\0')
			fail("null path formatted as", out);
		return 0;
	}

	memset(&b, 0x5a, sizeof(b));
	m = address_parse(out, strlen(out), &b, &err);
	if (m == -1)
		fail(err, out);
	if ((size_t)m != strlen(out))
		fail("formatted address not used whole", out);
	if (strcmp(a.local, b.local) != 0)
		fail("local part changed", out);
	if (strcmp(a.domain, b.domain) != 0)
		fail("domain changed", out);
	if (strcmp(a.routed_domain, b.routed_domain) != 0)
		fail("routed domain changed", out);
	if ((a.flags & SAME_FLAGS) != (b.flags & SAME_FLAGS))
		fail("flags changed", out);
	return 0;
}
