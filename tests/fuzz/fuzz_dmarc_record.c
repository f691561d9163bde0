/*
 * fuzz_dmarc_record - the DMARC record parser: any bytes give one of
 * its three answers with every field in range and a printable reason,
 * the same answer twice, and a record that parses reads the same with
 * an unknown tag after it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dmarc_record.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(const struct dmarc_record *r)
{
	if (r->pct > 100 || r->p > DMARC_POLICY_REJECT ||
	    r->sp > DMARC_POLICY_REJECT || r->np > DMARC_POLICY_REJECT ||
	    (r->fo & ~0xfu) != 0 || (!r->has_sp && r->sp != r->p)) {
		fprintf(stderr, "fuzz_dmarc_record: field out of range\n");
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmarc_record a, b;
	enum dmarc_record_status sa, sb;
	char why[96], *more;
	size_t i;

	sa = dmarc_record_parse((const char *)data, size, &a, why,
	    sizeof(why));
	if (memchr(why, '\0', sizeof(why)) == NULL)
		abort();
	for (i = 0; why[i] != '\0'; i++)
		if (why[i] < 0x20 || why[i] > 0x7e)
			abort();	/* it goes into replies and logs */
	sb = dmarc_record_parse((const char *)data, size, &b, NULL, 0);
	if (sa != sb || memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	if (sa != DMARC_REC_OK)
		return 0;
	check(&a);
	if (size + 16 > DMARC_RECORD_MAX || (more = malloc(size + 16)) == NULL)
		return 0;
	memcpy(more, data, size);
	memcpy(more + size, ";x-unknown=1;", 13);
	sb = dmarc_record_parse(more, size + 13, &b, NULL, 0);
	free(more);
	/* an unknown tag after the record changes nothing */
	if (sb != DMARC_REC_OK || memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	return 0;
}
