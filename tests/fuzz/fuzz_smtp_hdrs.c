/*
 * fuzz_smtp_hdrs - the header filter of checked mail (smtp_hdrs): the
 * same message fed at once, byte by byte and in pieces cut where the
 * input says gives the same output, the same count of dropped
 * Authentication-Results fields, the same From: reading and the same
 * TLS-Required verdict; nothing is
 * added, and a message with nothing dropped comes out as it went in.
 *
 * Byte 0 picks the piece length of the third run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "smtp/smtp_hdrs.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define OURS	"mail.example.test"

static void
out(void *arg, const char *data, size_t len)
{
	struct buf *b = arg;

	if (buf_append(b, data, len) == -1)
		abort();
}

static void
run(const char *in, size_t len, size_t step, struct buf *o,
    struct smtp_hdrs *h)
{
	size_t off = 0, n;

	buf_init(o, len + 1);
	smtp_hdrs_init(h, OURS, out, o);
	while (off < len) {
		n = step == 0 || step > len - off ? len - off : step;
		smtp_hdrs_feed(h, in + off, n);
		off += n;
	}
	smtp_hdrs_end(h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_hdrs h[3];
	struct buf o[3];
	size_t steps[3], i;

	if (size < 1)
		return 0;
	steps[0] = 0;
	steps[1] = 1;
	steps[2] = 1 + data[0] % 31;
	data++;
	size--;
	for (i = 0; i < 3; i++)
		run((const char *)data, size, steps[i], &o[i], &h[i]);
	for (i = 1; i < 3; i++)
		if (o[i].len != o[0].len || (o[0].len > 0 &&
		    memcmp(o[i].data, o[0].data, o[0].len) != 0) ||
		    h[i].dropped != h[0].dropped ||
		    h[i].tls_required_no != h[0].tls_required_no ||
		    h[i].from.status != h[0].from.status ||
		    strcmp(h[i].from.domain, h[0].from.domain) != 0) {
			fprintf(stderr, "fuzz_smtp_hdrs: run %zu differs\n", i);
			abort();
		}
	if (o[0].len > size || (h[0].dropped == 0 && (o[0].len != size ||
	    (size > 0 && memcmp(o[0].data, data, size) != 0)))) {
		fprintf(stderr, "fuzz_smtp_hdrs: output not the input\n");
		abort();
	}
	for (i = 0; i < 3; i++) {
		smtp_hdrs_free(&h[i]);
		buf_free(&o[i]);
	}
	return 0;
}
