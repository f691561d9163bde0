/*
 * fuzz_dnsbl_site - one dnsbl item, ZONE[=FILTER][*WEIGHT]: any text
 * either fails with a message or gives a site whose zone is a name and
 * whose weight is within bounds; the canonical form (dnsbl_site_norm)
 * parses again to the same site; matching never takes an error code
 * (127.255.255.x) for a listing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/dnsbl_site.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char item[600], canon[600], err[256];
	struct dnsbl_site a, b;
	uint8_t addr[4] = { 127, 0, 0, 2 };

	if (size >= sizeof(item))
		return 0;
	memcpy(item, data, size);
	item[size] = '\0';
	err[0] = '\0';
	if (dnsbl_site_parse(item, &a, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			abort();	/* a failure always says why */
		return 0;
	}
	if (a.zone[0] == '\0' || strlen(a.zone) > DNSBL_ZONE_MAX ||
	    a.weight > DNSBL_WEIGHT_MAX || a.weight < -DNSBL_WEIGHT_MAX)
		abort();
	if (dnsbl_site_norm(item, canon, sizeof(canon), err, sizeof(err)) ==
	    -1 || dnsbl_site_parse(canon, &b, err, sizeof(err)) == -1 ||
	    memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	for (unsigned i = 0; i < 256; i++) {
		addr[3] = (uint8_t)i;
		(void)dnsbl_site_match(&a, addr);
	}
	addr[1] = addr[2] = 255;
	if (dnsbl_site_match(&a, addr))
		abort();
	return 0;
}
