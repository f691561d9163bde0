/*
 * fuzz_httpresp - the HTTP response parser of the policy fetch: any
 * bytes, fed whole or one at a time (a socket may give either), give
 * the same answer, status and body; the body never passes its buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlspol/httpresp.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define BODY_MAX	512

static enum httpresp_status
run(struct httpresp *r, char *body, const uint8_t *data, size_t size,
    size_t step)
{
	enum httpresp_status st = HTTPRESP_MORE;
	size_t at = 0, n, used;

	httpresp_init(r, body, BODY_MAX);
	while (st == HTTPRESP_MORE && at < size) {
		n = size - at < step ? size - at : step;
		st = httpresp_feed(r, (const char *)data + at, n, &used);
		if (used > n || (st == HTTPRESP_MORE && used != n))
			abort();
		at += used;
	}
	if (st == HTTPRESP_MORE)
		st = httpresp_eof(r);
	if (r->body_len > BODY_MAX || st == HTTPRESP_MORE)
		abort();
	return st;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct httpresp a, b;
	static char ba[BODY_MAX], bb[BODY_MAX];
	enum httpresp_status sa, sb;

	sa = run(&a, ba, data, size, size > 0 ? size : 1);
	sb = run(&b, bb, data, size, 1);
	if (sa != sb || a.status != b.status || strcmp(a.content_type,
	    b.content_type) != 0)
		abort();
	if (sa == HTTPRESP_DONE && (a.body_len != b.body_len ||
	    memcmp(ba, bb, a.body_len) != 0))
		abort();
	return 0;
}
