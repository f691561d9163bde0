/*
 * fuzz_httpreq - the request head parser of the metrics listener: any
 * bytes, fed whole, one at a time or in pieces of three (a socket may
 * give any), give the same answer and the same request; nothing is
 * taken past the head's end, and never more than HTTPREQ_HEAD_MAX.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/httpreq.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static enum httpreq_status
run(struct httpreq *r, const uint8_t *data, size_t size, size_t step,
    size_t *taken)
{
	enum httpreq_status st = HTTPREQ_MORE;
	size_t at = 0, n, used;

	httpreq_init(r);
	while (st == HTTPREQ_MORE && at < size) {
		n = size - at < step ? size - at : step;
		st = httpreq_feed(r, (const char *)data + at, n, &used);
		if (used > n || (st == HTTPREQ_MORE && used != n))
			abort();
		at += used;
	}
	if (at > HTTPREQ_HEAD_MAX || r->total > HTTPREQ_HEAD_MAX + 1)
		abort();
	if (st == HTTPREQ_BAD && (r->error == NULL || r->error[0] == '\0'))
		abort();
	if (strlen(r->target) > HTTPREQ_TARGET_MAX)
		abort();
	*taken = at;
	return st;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct httpreq a, b, c;
	enum httpreq_status sa, sb, sc;
	size_t ta, tb, tc;

	sa = run(&a, data, size, size > 0 ? size : 1, &ta);
	sb = run(&b, data, size, 1, &tb);
	sc = run(&c, data, size, 3, &tc);
	if (sa != sb || sa != sc)
		abort();
	if (sa == HTTPREQ_DONE && (ta != tb || ta != tc ||
	    a.method != b.method || a.method != c.method ||
	    a.minor != b.minor || a.openmetrics != b.openmetrics ||
	    a.openmetrics != c.openmetrics ||
	    strcmp(a.target, b.target) != 0 ||
	    strcmp(a.target, c.target) != 0 ||
	    httpreq_path_is(&a, "/metrics") != httpreq_path_is(&b, "/metrics")))
		abort();
	if (sa == HTTPREQ_BAD && strcmp(a.error, b.error) != 0)
		abort();
	return 0;
}
