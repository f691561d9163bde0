/*
 * test_hops - counting Received: fields in the header section, with the
 * message cut at every byte (a field name split across two reads of
 * the DATA stream counts the same).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "lib/hops.h"

/* count - the hop count of `msg` fed in pieces of `step` bytes (0: at
 * once); every step gives the same count, or the test fails */
static unsigned
count_step(const char *msg, size_t step, bool *done)
{
	struct hops h;
	size_t len = strlen(msg), off = 0, n;

	hops_init(&h);
	while (off < len) {
		n = step && len - off > step ? step : len - off;
		hops_feed(&h, msg + off, n);
		off += n;
	}
	*done = h.done;
	return h.count;
}

static unsigned
count(const char *msg)
{
	bool done, d;
	unsigned want = count_step(msg, 0, &done);

	for (size_t step = 1; step <= 12; step++) {
		cr_assert_eq(count_step(msg, step, &d), want, "step %zu", step);
		cr_assert_eq(d, done, "step %zu", step);
	}
	return want;
}

Test(hops, counts_received_fields_in_the_header)
{
	cr_assert_eq(count("Received: from a\r\n\tby b\r\n"
	    "received: from c\r\nRECEIVED:x\r\nReceived :y\r\n"
	    "Received\t: z\r\nSubject: hi\r\n\r\nbody\r\n"), 5);
}

Test(hops, not_other_fields_or_the_body)
{
	cr_assert_eq(count("Received-SPF: pass\r\nX-Received: by x\r\n"
	    " Received: folded, not a field\r\nReceivedX: no\r\n"
	    "Received\r\nSubject: Received: no\r\n\r\n"
	    "Received: in the body\r\nReceived: again\r\n"), 0);
}

Test(hops, the_header_ends_at_the_first_empty_line)
{
	bool done;

	cr_assert_eq(count_step("Received: a\r\n\r\nReceived: b\r\n", 0,
	    &done), 1);
	cr_assert(done);
	cr_assert_eq(count_step("Received: a\n\nReceived: b\n", 3, &done), 1);
	cr_assert(done);
	cr_assert_eq(count_step("Received: a\r\nReceived: b", 1, &done), 2);
	cr_assert_not(done);
	/* A line of one CR and text is not the empty line. */
	cr_assert_eq(count("\rX\r\nReceived: a\r\n\r\n"), 1);
}

Test(hops, many_fields_across_many_chunks)
{
	static char msg[60 * 40 + 64];
	size_t o = 0;

	for (int i = 0; i < 60; i++)
		o += (size_t)snprintf(msg + o, sizeof(msg) - o,
		    "Received: from hop%d by hop%d\r\n", i, i + 1);
	snprintf(msg + o, sizeof(msg) - o, "\r\nbody\r\n");
	cr_assert_eq(count(msg), 60);
}
