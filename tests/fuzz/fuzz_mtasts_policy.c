/*
 * fuzz_mtasts_policy - the MTA-STS policy parser: any bytes give an
 * answer and a printable reason, the same answer twice; a policy that
 * parses has its fields in range, and its own formatted lines parse
 * back to the same policy; every mx pattern matches a host made from
 * it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlspol/mtasts.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct mtasts_policy a, b;
static char text[MTASTS_MX_MAX * (MTASTS_NAME_MAX + 8) + 128];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[MTASTS_WHY_MAX], host[MTASTS_NAME_MAX + 8];
	size_t i;
	int ra, rb, n;

	ra = mtasts_policy_parse((const char *)data, size, &a, why,
	    sizeof(why));
	if (memchr(why, '\0', sizeof(why)) == NULL)
		abort();
	for (i = 0; why[i] != '\0'; i++)
		if (why[i] < 0x20 || why[i] > 0x7e)
			abort();
	rb = mtasts_policy_parse((const char *)data, size, &b, NULL, 0);
	if (ra != rb || (ra == 0 && memcmp(&a, &b, sizeof(a)) != 0))
		abort();
	if (ra != 0)
		return 0;
	if (a.max_age > MTASTS_MAX_AGE_MAX || a.nmx > MTASTS_MX_MAX ||
	    a.mode > MTASTS_ENFORCE || (a.nmx == 0 && a.mode != MTASTS_NONE))
		abort();
	if ((n = mtasts_policy_format(&a, text, sizeof(text))) < 0)
		abort();
	if (mtasts_policy_parse(text, (size_t)n, &b, NULL, 0) != 0 ||
	    memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	for (i = 0; i < a.nmx; i++) {
		snprintf(host, sizeof(host), "%s%s", a.mx[i][0] == '*' ?
		    "x" : "", a.mx[i] + (a.mx[i][0] == '*'));
		if (!mtasts_mx_match(&a, host))
			abort();
	}
	return 0;
}
