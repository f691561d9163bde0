/*
 * test_milter_msg - a spooled message as a milter is shown it (header
 * fields, end of header, body chunks) and the header changes a milter
 * asks for, applied while the message is copied. Every message is fed
 * whole, in odd pieces and one octet at a time: the result must not
 * depend on how it came.
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
	/* A NUL ends a value (the protocol's strings end there). */
	cut_as("A: b\r\0x\r\n\r\n", 11, false, "A=b\nEOH\nEND|");
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
	/* What libmilter takes in one command (past it, it hangs up). */
	struct milter_msg *m = milter_msg_new(true);
	struct milter_event ev;
	struct buf pkt;

	buf_init(&pkt, SIZE_MAX / 2);
	milter_msg_feed(m, in, strlen(in));
	milter_msg_next(m, &ev);
	cr_assert_eq(ev.ev, MILTER_EV_HEADER);
	cr_assert_eq(milter_put_header(&pkt, ev.name, ev.value), 0);
	cr_assert_leq(pkt.len - 4, 65535, "SMFIC_HEADER of %zu octets",
	    pkt.len - 4);
	buf_free(&pkt);
	milter_msg_free(m);
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

/* --- Header edits. */

struct ed {
	char		 cmd;
	uint32_t	 index;
	const char	*name, *value;
};

static void
out_buf(void *arg, const char *p, size_t n)
{
	cr_assert_eq(buf_append(arg, p, n), 0);
}

/* edited - `in` copied through the edits, fed `piece` octets at a time */
static char *
edited(const char *in, const struct ed *eds, size_t n, bool leadspc,
    bool header_only, size_t piece)
{
	struct milter_edits *e = milter_edits_new(leadspc);
	struct milter_hedit *h;
	struct milter_reply r;
	struct buf out;
	const char *err;
	size_t len = strlen(in);

	buf_init(&out, SIZE_MAX / 2);
	for (size_t i = 0; i < n; i++) {
		memset(&r, 0, sizeof(r));
		r.cmd = eds[i].cmd;
		r.index = eds[i].index;
		r.name = eds[i].name;
		r.value = eds[i].value;
		cr_assert_eq(milter_edits_add(e, &r, &err), 0, "%s", err);
	}
	cr_assert_eq(milter_edits_any(e), n > 0);
	h = milter_hedit_new(e, out_buf, &out);
	if (header_only)
		milter_hedit_header_only(h);
	for (size_t off = 0; off < len;) {
		size_t k = len - off < piece ? len - off : piece;

		cr_assert_eq(milter_hedit_feed(h, in + off, k), 0);
		off += k;
	}
	cr_assert_eq(milter_hedit_end(h), 0);
	milter_hedit_free(h);
	milter_edits_free(e);
	buf_append(&out, "", 0);
	return out.data ? out.data : strdup("");
}

static void
edits_give(const char *in, const struct ed *eds, size_t n, bool leadspc,
    bool header_only, const char *want)
{
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		char *got = edited(in, eds, n, leadspc, header_only, pieces[i]);

		cr_assert_str_eq(got, want, "in pieces of %zu:\n%s", pieces[i],
		    got);
		free(got);
	}
}

#define EDITS(in, want, ...) do {					\
	const struct ed eds_[] = { __VA_ARGS__ };			\
	edits_give(in, eds_, sizeof(eds_) / sizeof(eds_[0]), false,	\
	    false, want);						\
} while (0)

#define RCVD "Received: from client.example (client.example [192.0.2.1])\r\n" \
	"\tby mx.example.org with ESMTPS id 4Xyz\r\n"
#define BODY "\r\nX-Tag: not a field, the body's first line\r\nBye.\r\n"

Test(milter_hedit, no_edits_copies_the_message)
{
	const char *odd[] = { msg, "", "A: b", "no header\r\n\r\nx",
	    "A: b\r\n\rX\r\n", "A: b\nC: d\n\nbody" };

	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		edits_give(odd[i], NULL, 0, false, false, odd[i]);
}

Test(milter_hedit, change_and_delete_by_name_and_index)
{
	EDITS(msg, RCVD "X-Tag: one\r\nSubject: hello\r\nX-Tag: new\r\n"
	    "x-tag: three\r\nTo:<b@example.org>\r\n" BODY,
	    { 'm', 2, "X-Tag", "new" });
	EDITS(msg, RCVD "X-Tag: one\r\nSubject: hello\r\nX-Tag: two\r\n"
	    "  folded\r\nTo:<b@example.org>\r\n" BODY,
	    { 'm', 3, "X-TAG", "" });
	EDITS(msg, RCVD "x-tag: zero\r\nSubject: hello\r\nX-Tag: two\r\n"
	    "  folded\r\nx-tag: three\r\nTo:<b@example.org>\r\n" BODY,
	    { 'm', 0, "x-tag", "zero" });
	/* Past the last of that name: added at the end (as Sendmail). */
	EDITS(msg, RCVD "X-Tag: one\r\nSubject: hello\r\nX-Tag: two\r\n"
	    "  folded\r\nx-tag: three\r\nTo:<b@example.org>\r\n"
	    "X-Tag: four\r\n" BODY,
	    { 'm', 4, "X-Tag", "four" }, { 'm', 9, "X-Tag", "" });
	/* Several changes of one field: in the order asked. */
	EDITS(msg, RCVD "Subject: hello\r\nX-Tag: b\r\nx-tag: three\r\n"
	    "To:<b@example.org>\r\n" BODY,
	    { 'm', 1, "X-Tag", "a" }, { 'm', 1, "X-Tag", "" },
	    { 'm', 2, "X-Tag", "" }, { 'm', 2, "X-Tag", "b" });
	/* All three deleted from the last, as rspamd does. */
	EDITS(msg, RCVD "Subject: hello\r\nTo:<b@example.org>\r\n" BODY,
	    { 'm', 3, "X-Tag", "" }, { 'm', 2, "X-Tag", "" },
	    { 'm', 1, "X-Tag", "" });
	EDITS(msg, RCVD "X-Tag: one\r\nSubject: hello\r\nX-Tag: two\r\n"
	    "  folded\r\nx-tag: three\r\nTo:<b@example.org>\r\nX-New: 2\r\n"
	    BODY, { 'm', 1, "X-New", "1" }, { 'm', 1, "X-New", "2" });
}

Test(milter_hedit, insert_and_add)
{
	EDITS(msg, "Top: b\r\nTop: a\r\n" RCVD "X-Tag: one\r\nMid: m\r\n"
	    "Subject: hello\r\nX-Tag: two\r\n  folded\r\nx-tag: three\r\n"
	    "To:<b@example.org>\r\nX-Added: 1\r\nLate: l\r\nX-Added: 2\r\n"
	    BODY,
	    { 'i', 0, "Top", "a" }, { 'h', 0, "X-Added", "1" },
	    { 'i', 2, "Mid", "m" }, { 'i', 7, "Late", "l" },
	    { 'i', 0, "Top", "b" }, { 'h', 0, "X-Added", "2" });
	/* An insert where a deleted field was, and one before a changed
	 * field. */
	EDITS(msg, RCVD "X-Tag: one\r\nSubject: hello\r\nIns: 4\r\n"
	    "X-Tag: 3\r\nIns: 5\r\nTo:<b@example.org>\r\n" BODY,
	    { 'm', 2, "X-Tag", "" }, { 'i', 4, "Ins", "4" },
	    { 'm', 3, "X-Tag", "3" }, { 'i', 5, "Ins", "5" });
}

Test(milter_hedit, values_made_valid_fields)
{
	EDITS("A: b\r\n\r\nbody\r\n", "A: b\r\n"
	    "DKIM-Signature: v=1; a=rsa-sha256;\r\n\tb=abc\r\n"
	    "X-Lf: a\r\n b\r\n c\r\n"
	    "X-Crlf: a\r\n\tb\r\n"
	    "X-Empty-Lines: a\r\n\tb\r\n"
	    "X-Nothing: \r\n"
	    "\r\nbody\r\n",
	    { 'h', 0, "DKIM-Signature", "v=1; a=rsa-sha256;\n\tb=abc" },
	    { 'h', 0, "X-Lf", "a\nb\rc" },
	    { 'h', 0, "X-Crlf", "a\r\n\tb\r\n" },
	    { 'h', 0, "X-Empty-Lines", "a\n\n \n\r\n\tb\n\n" },
	    { 'h', 0, "X-Nothing", "" });
	/* HDR_LEADSPC: the milter gives the space itself. */
	const struct ed lead[] = { { 'h', 0, "X-Spam", " yes" },
	    { 'm', 1, "A", "\tb" } };
	edits_give("A: b\r\n\r\n", lead, 2, true, false,
	    "A:\tb\r\nX-Spam: yes\r\n\r\n");
}

Test(milter_hedit, header_edges)
{
	/* The header ends without a blank line, the last line with no
	 * CRLF: added fields still come out as lines of their own. */
	EDITS("A: b", "A: b\r\nX: y\r\n", { 'h', 0, "X", "y" });
	EDITS("A: b\r\n", "A: b\r\nX: y\r\n", { 'h', 0, "X", "y" });
	EDITS("A: b", "X: y\r\n", { 'm', 1, "A", "" }, { 'h', 0, "X", "y" });
	/* No header: the fields become one, the body stays. */
	EDITS("\r\nbody", "X: y\r\n\r\nbody", { 'i', 0, "X", "y" });
	/* ... and a first line that starts with a blank stays the body's
	 * (not the new field's continuation): a blank line goes between. */
	EDITS(" first\r\nA: b\r\n", "X: y\r\n\r\n first\r\nA: b\r\n",
	    { 'h', 0, "X", "y" });
	EDITS(" first\r\n", " first\r\n", { 'm', 1, "A", "" });
	/* The header ends at a line that is no field: fields go before
	 * it, and a field of that name below it is the body's. */
	EDITS("Subject: x\r\nnot a field\r\nX-Tag: y\r\n",
	    "Subject: x\r\nX: y\r\nnot a field\r\nX-Tag: y\r\n",
	    { 'm', 1, "X-Tag", "" }, { 'h', 0, "X", "y" });
}

Test(milter_hedit, header_only_for_a_new_body)
{
	const struct ed add[] = { { 'h', 0, "X", "y" } };

	edits_give(msg, add, 1, false, true, RCVD "X-Tag: one\r\n"
	    "Subject: hello\r\nX-Tag: two\r\n  folded\r\nx-tag: three\r\n"
	    "To:<b@example.org>\r\nX: y\r\n\r\n");
	edits_give("A: b", add, 1, false, true, "A: b\r\nX: y\r\n\r\n");
	edits_give("A: b\r\nno field\r\n", NULL, 0, false, true,
	    "A: b\r\n\r\n");
}

Test(milter_edits, refused_changes)
{
	struct milter_edits *e = milter_edits_new(false);
	struct milter_reply r = { .cmd = 'h', .name = "X", .value = "v" };
	const char *bad[] = { "", "X Y", "X:Y", "Caf\xc3\xa9", "X\tY" };
	const char *err = NULL;
	char *big = malloc(MILTER_EDITS_BYTES);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r.name = bad[i];
		cr_assert_eq(milter_edits_add(e, &r, &err), -1, "%s", bad[i]);
		cr_assert_not_null(strstr(err, "names no valid field"));
	}
	r.name = "X";
	r.cmd = MILTER_R_ADDRCPT;
	cr_assert_eq(milter_edits_add(e, &r, &err), -1);
	cr_assert_str_eq(err, "not a header change");
	cr_assert_not(milter_edits_any(e));
	r.cmd = 'h';
	for (int i = 0; i < MILTER_EDITS_MAX; i++)
		cr_assert_eq(milter_edits_add(e, &r, &err), 0);
	cr_assert_eq(milter_edits_add(e, &r, &err), -1);
	cr_assert_str_eq(err, "too many header changes for one message");
	milter_edits_free(e);

	e = milter_edits_new(false);
	memset(big, 'v', MILTER_EDITS_BYTES - 1);
	big[MILTER_EDITS_BYTES - 1] = '\0';
	r.value = big;
	cr_assert_eq(milter_edits_add(e, &r, &err), 0, "exactly the bound");
	r.value = "";
	cr_assert_eq(milter_edits_add(e, &r, &err), -1);
	cr_assert_str_eq(err, "header changes too long for one message");
	milter_edits_free(e);
	free(big);
}
