/*
 * fuzz_dmarc_from - the From: author-domain reader: any bytes end in a
 * status, an OK one with a domain in DMARC's normal form (which reads
 * back as itself), the same answer twice, and a second field always
 * makes it "several From: fields".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dmarc_from.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmarc_from a, b;
	char norm[ORGDOMAIN_MAX];

	dmarc_from_init(&a);
	dmarc_from_init(&b);
	if (dmarc_from_field(&a, (const char *)data, size) !=
	    dmarc_from_field(&b, (const char *)data, size) ||
	    strcmp(a.domain, b.domain) != 0)
		abort();
	if (a.status == DMARC_FROM_OK) {
		if (a.addresses == 0 || orgdomain_norm(a.domain,
		    strlen(a.domain), norm) != 0 || strcmp(norm, a.domain)) {
			fprintf(stderr, "fuzz_dmarc_from: domain \"%s\"\n",
			    a.domain);
			abort();
		}
	} else if (a.domain[0] != '\0' || *dmarc_from_problem(&a) == '\0') {
		abort();
	}
	/* the addresses kept: whole "local@domain" strings, within the
	 * room, one per address unless cut */
	{
		size_t k = 0;
		unsigned n = 0;

		if (a.addrs_len > sizeof(a.addrs) || (a.addrs_len > 0 &&
		    a.addrs[a.addrs_len - 1] != '\0'))
			abort();
		for (; k < a.addrs_len; k += strlen(a.addrs + k) + 1, n++)
			if (strchr(a.addrs + k, '@') == NULL)
				abort();
		if ((a.status == DMARC_FROM_OK || a.status ==
		    DMARC_FROM_DOMAINS) && !a.addrs_cut && n != a.addresses)
			abort();
	}
	if (dmarc_from_field(&a, (const char *)data, size) !=
	    DMARC_FROM_FIELDS || a.domain[0] != '\0')
		abort();
	return 0;
}
