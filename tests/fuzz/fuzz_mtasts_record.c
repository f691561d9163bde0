/*
 * fuzz_mtasts_record - the _mta-sts TXT record parser: any bytes give
 * an answer and a printable reason, the same answer twice; an id that
 * parses is 1 to 32 letters and digits and appears in the record.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlspol/mtasts.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char a[MTASTS_ID_MAX + 1], b[MTASTS_ID_MAX + 1], why[MTASTS_WHY_MAX];
	const char *txt = (const char *)data;
	size_t i, n;
	int ra, rb;

	ra = mtasts_record_parse(txt, size, a, why, sizeof(why));
	if (memchr(why, '\0', sizeof(why)) == NULL)
		abort();
	for (i = 0; ra == -1 && why[i] != '\0'; i++)
		if (why[i] < 0x20 || why[i] > 0x7e)
			abort();	/* it goes into logs */
	rb = mtasts_record_parse(txt, size, b, NULL, 0);
	if (ra != rb || strcmp(a, b) != 0)
		abort();
	if (ra == 0) {
		n = strlen(a);
		if (n == 0 || n > MTASTS_ID_MAX)
			abort();
		for (i = 0; i < n; i++)
			if (!((a[i] >= '0' && a[i] <= '9') ||
			    (a[i] >= 'a' && a[i] <= 'z') ||
			    (a[i] >= 'A' && a[i] <= 'Z')))
				abort();
		if (memmem(data, size, a, n) == NULL)
			abort();
	}
	/* one record alone is picked as parsed when it starts "v=STSv1;" */
	n = size;
	rb = mtasts_record_pick(&txt, &n, 1, b, NULL, 0);
	if (size >= 8 && memcmp(txt, "v=STSv1;", 8) == 0 &&
	    (rb != ra || strcmp(a, b) != 0))
		abort();
	return 0;
}
