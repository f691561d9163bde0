/*
 * fuzz_authres - Authentication-Results both ways. The input read as an
 * existing field's value never crashes the authserv-id reader; and,
 * cut at NUL bytes into the values a peer could choose (MAIL FROM,
 * HELO, d=, s=, b=, comments, DMARC's reason), it goes into a field we
 * build, which must stay one well-formed field (CRLF only at line ends,
 * every later line a continuation) that reads back as ours.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authres.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define OURS	"mx.example.org"

static void
well_formed(const struct authres *a)
{
	const char *p = a->b.data, *end = p + a->b.len, *colon;

	if (a->b.len < 2 || memcmp(end - 2, "\r\n", 2) != 0 ||
	    memchr(p, '\0', a->b.len) != NULL)
		abort();
	for (; p < end; p++) {
		if (*p == '\r' && (p + 1 == end || p[1] != '\n'))
			abort();
		if (*p == '\n' && (p == a->b.data || p[-1] != '\r'))
			abort();
		if (*p == '\n' && p + 1 < end && p[1] != '\t' && p[1] != ' ')
			abort();
	}
	colon = strchr(a->b.data, ':');
	if (colon == NULL || authres_claims(colon + 1,
	    a->b.len - (size_t)(colon + 1 - a->b.data), OURS) != AUTHRES_OURS)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy, *part[8], id[256];
	struct dmarc_outcome o;
	struct authres a;
	unsigned v, i;
	size_t off = 0;

	(void)authres_claims((const char *)data, size, OURS);
	(void)authres_parse_id((const char *)data, size, id, sizeof(id), &v);

	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (i = 0; i < 8; i++) {
		part[i] = copy + off;
		off += strlen(copy + off);
		if (off < size)
			off++;
	}
	memset(&o, 0, sizeof(o));
	o.result = (enum dmarc_result)(size % 5);
	o.domain = part[6];
	o.record_domain = "";
	o.has_record = size % 2;
	snprintf(o.reason, sizeof(o.reason), "%s", part[7]);
	if (authres_begin(&a, OURS) == 0 &&
	    authres_spf(&a, part[0], part[1], part[2], part[3]) == 0 &&
	    authres_dkim(&a, part[0], part[4], part[5], part[3], part[7]) == 0 &&
	    authres_dmarc(&a, &o) == 0 && authres_end(&a) == 0)
		well_formed(&a);
	authres_free(&a);
	free(copy);
	return 0;
}
