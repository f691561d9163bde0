/*
 * test_milter_msg - a spooled message as a milter is shown it (header
 * fields, end of header, body chunks). Every message is fed whole, in
 * odd pieces and one octet at a time: the result must not depend on how
 * it came.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "milter/milter.h"

static const size_t pieces[] = { 1, 3, 7, 64, SIZE_MAX };

/* A message as it reaches the spool. */
static const char msg[] =
    "Received: from client.example (client.example [192.0.2.1])\r\n"
    "\tby mx.example.org with ESMTPS id 4Xyz\r\n"
    "X-Tag: one\r\n"
    "Subject: hello\r\n"
    "X-Tag: two\r\n"
    "  folded\r\n"
    "x-tag: three\r\n"
    "To:<b@example.org>\r\n"
    "\r\n"
    "X-Tag: not a field, the body's first line\r\n"
    "Bye.\r\n";

/* shown - what milter_msg shows of `in`, as text: "name=value" lines,
 * "EOH", "BODY n", then "END" and the body octets after a '|' */
static char *
shown(const char *in, size_t len, bool leadspc, size_t piece)
{
	struct milter_msg *m = milter_msg_new(leadspc);
	struct milter_event ev;
	struct buf t, body;
	size_t off = 0;
	bool end = false;

	cr_assert_not_null(m);
	buf_init(&t, SIZE_MAX / 2);
	buf_init(&body, SIZE_MAX / 2);
	while (!end) {
		size_t n = len - off < piece ? len - off : piece;

		cr_assert_eq(milter_msg_feed(m, in + off, n), 0);
		off += n;
		if (off == len)
			milter_msg_eof(m);
		for (;;) {
			milter_msg_next(m, &ev);
			if (ev.ev == MILTER_EV_NEED) {
				cr_assert_lt(off, len, "NEED after eof");
				break;
			}
			if (ev.ev == MILTER_EV_HEADER) {
				buf_printf(&t, "%s=%s\n", ev.name, ev.value);
			} else if (ev.ev == MILTER_EV_EOH) {
				buf_printf(&t, "EOH\n");
			} else if (ev.ev == MILTER_EV_BODY) {
				cr_assert_leq(ev.len, MILTER_CHUNK_MAX);
				cr_assert_gt(ev.len, 0);
				buf_printf(&t, "BODY %zu\n", ev.len);
				buf_append(&body, ev.data, ev.len);
			} else {
				buf_printf(&t, "END|");
				buf_append(&t, body.data, body.len);
				end = true;
				break;
			}
		}
	}
	milter_msg_free(m);
	buf_free(&body);
	return t.data;
}

/* cut_as - shown() is `want` whatever the pieces */
static void
cut_as(const char *in, size_t len, bool leadspc, const char *want)
{
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		char *got = shown(in, len, leadspc, pieces[i]);

		cr_assert_str_eq(got, want, "in pieces of %zu:\n%s", pieces[i],
		    got);
		free(got);
	}
}

#define CUT_AS(in, leadspc, want) cut_as(in, strlen(in), leadspc, want)

Test(milter_msg, fields_as_sendmail_and_postfix_send_them)
{
	CUT_AS(msg, false,
	    "Received=from client.example (client.example [192.0.2.1])\n"
	    "\tby mx.example.org with ESMTPS id 4Xyz\n"
	    "X-Tag=one\n"
	    "Subject=hello\n"
	    "X-Tag=two\n  folded\n"
	    "x-tag=three\n"
	    "To=<b@example.org>\n"
	    "EOH\n"
	    "BODY 49\n"
	    "END|X-Tag: not a field, the body's first line\r\nBye.\r\n");
}

Test(milter_msg, leadspc_keeps_the_space)
{
	CUT_AS("Subject:  two spaces\r\nTo:<a@b>\r\nX: \tx\r\n\r\n", true,
	    "Subject=  two spaces\nTo=<a@b>\nX= \tx\nEOH\nEND|");
	CUT_AS("Subject:  two spaces\r\nTo:<a@b>\r\nX: \tx\r\n\r\n", false,
	    "Subject= two spaces\nTo=<a@b>\nX=\tx\nEOH\nEND|");
}

Test(milter_msg, postfix_edge_cases)
{
	/* No blank line: all header, no body. */
	CUT_AS("Subject: x\r\nFrom: y\r\n", false,
	    "Subject=x\nFrom=y\nEOH\nEND|");
	/* The last line without its CRLF. */
	CUT_AS("Subject: x\r\nFrom: y", false, "Subject=x\nFrom=y\nEOH\nEND|");
	/* No header at all. */
	CUT_AS("\r\nbody\r\n", false, "EOH\nBODY 6\nEND|body\r\n");
	CUT_AS("", false, "EOH\nEND|");
	/* A line that is no field ends the header and starts the body. */
	CUT_AS("Subject: x\r\nno colon here\r\nX: y\r\n\r\nz\r\n", false,
	    "Subject=x\nEOH\nBODY 26\nEND|no colon here\r\nX: y\r\n\r\nz\r\n");
	CUT_AS("Subject: x\r\nBad name: y\r\n", false,
	    "Subject=x\nEOH\nBODY 13\nEND|Bad name: y\r\n");
	CUT_AS("Subject: x\r\nCaf\xc3\xa9: y\r\n", false,
	    "Subject=x\nEOH\nBODY 10\nEND|Caf\xc3\xa9: y\r\n");
	CUT_AS(": y\r\n", false, "EOH\nBODY 5\nEND|: y\r\n");
	CUT_AS(" folded first\r\nA: b\r\n", false,
	    "EOH\nBODY 21\nEND| folded first\r\nA: b\r\n");
	/* Blanks before the colon (obsolete, Postfix takes it). */
	CUT_AS("Subject : x\r\n\r\n", false, "Subject=x\nEOH\nEND|");
	/* Bare LF line ends and a bare CR inside a line. */
	CUT_AS("A: b\nC: d\r e\n\tf\n\nbody", false,
	    "A=b\nC=d\r e\n\tf\nEOH\nBODY 4\nEND|body");
	/* A CR at the start of a line that is no blank line. */
	CUT_AS("A: b\r\n\rX: y\r\n", false, "A=b\nEOH\nBODY 7\nEND|\rX: y\r\n");
}

Test(milter_msg, long_field_cut_at_field_max)
{
	size_t vlen = MILTER_FIELD_MAX + 100;
	char *in = malloc(vlen + 100), *want = malloc(vlen + 100);
	size_t n;

	n = (size_t)sprintf(in, "X-Big: ");
	memset(in + n, 'a', vlen);
	strcpy(in + n + vlen, "\r\n\tmore\r\nSubject: after\r\n\r\nb");
	n = (size_t)sprintf(want, "X-Big=");
	memset(want + n, 'a', MILTER_FIELD_MAX - 7);
	strcpy(want + n + MILTER_FIELD_MAX - 7,
	    "\nSubject=after\nEOH\nBODY 1\nEND|b");
	for (size_t i = 0; i < 2; i++) {
		char *got = shown(in, strlen(in), false, i ? 4096 : SIZE_MAX);

		cr_assert_eq(strcmp(got, want), 0, "the field cut at %d",
		    MILTER_FIELD_MAX);
		free(got);
	}
	free(in);
	free(want);
}

Test(milter_msg, body_in_full_chunks)
{
	size_t blen = 3 * MILTER_CHUNK_MAX + 5;
	char *in = malloc(blen + 20), *got;
	const char *head = "A=b\nEOH\nBODY 65535\nBODY 65535\nBODY 65535\n"
	    "BODY 5\nEND|";

	strcpy(in, "A: b\r\n\r\n");
	for (size_t i = 0; i < blen; i++)
		in[8 + i] = (char)('a' + i % 26);
	for (size_t i = 0; i < 2; i++) {
		got = shown(in, 8 + blen, false, i ? 1000 : SIZE_MAX);
		cr_assert_eq(strncmp(got, head, strlen(head)), 0, "%.80s",
		    got);
		cr_assert_eq(memcmp(got + strlen(head), in + 8, blen), 0);
		free(got);
	}
	free(in);
}
