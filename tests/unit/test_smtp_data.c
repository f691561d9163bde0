/*
 * test_smtp_data - the DATA state machine: end of data, unstuffing,
 * smuggling attempts, limits, input split at every byte.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "smtp/smtp_data.h"

struct result {
	char		out[8192];
	size_t		outlen;
	size_t		used;
	unsigned	flags;
	bool		done;
};

static bool normalize;		/* run() takes bare LF as a line end */

/* run - feed `in` in pieces of `step` bytes (0: all at once) */
static struct result
run(const char *in, size_t len, size_t step, uint64_t max)
{
	struct smtp_data d;
	struct result r;
	size_t n, o;

	memset(&r, 0, sizeof(r));
	smtp_data_init(&d, max);
	if (normalize)
		smtp_data_normalize_lf(&d);
	while (r.used < len && !d.done) {
		n = step && len - r.used > step ? step : len - r.used;
		n = smtp_data_feed(&d, in + r.used, n, r.out + r.outlen, &o);
		r.used += n;
		r.outlen += o;
	}
	r.flags = d.flags;
	r.done = d.done;
	return r;
}

#define RUN(s, step)	run(s, sizeof(s) - 1, step, 0)

static void
strict(void)
{
	normalize = false;
}

TestSuite(smtp_data, .init = strict);

Test(smtp_data, simple_message_ends_at_crlf_dot_crlf)
{
	static const char in[] = "Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n";
	struct result r = RUN(in, 0);

	cr_assert(r.done);
	cr_assert_eq(r.flags, 0);
	cr_assert_eq(r.used, sizeof(in) - 1 - strlen("QUIT\r\n"));
	cr_assert_eq(r.outlen, strlen("Subject: x\r\n\r\nbody\r\n"));
	cr_assert_arr_eq(r.out, "Subject: x\r\n\r\nbody\r\n", r.outlen);
}

Test(smtp_data, empty_message)
{
	struct result r = RUN(".\r\n", 0);

	cr_assert(r.done);
	cr_assert_eq(r.outlen, 0);
	cr_assert_eq(r.used, 3);
}

Test(smtp_data, dot_unstuffing)
{
	static const char in[] = "..\r\n..x\r\n.y\r\n...\r\n a.\r\n.\r\n";
	static const char want[] = ".\r\n.x\r\ny\r\n..\r\n a.\r\n";
	struct result r = RUN(in, 0);

	cr_assert(r.done);
	cr_assert_eq(r.flags, 0);
	cr_assert_eq(r.outlen, sizeof(want) - 1);
	cr_assert_arr_eq(r.out, want, r.outlen);
}

Test(smtp_data, split_at_every_byte_gives_the_same_result)
{
	static const char in[] = "a\r\n..b\r\n\r\n.\r\nNEXT";
	struct result whole = RUN(in, 0);
	size_t step;

	for (step = 1; step < sizeof(in); step++) {
		struct result r = RUN(in, step);

		cr_assert(r.done, "step %zu", step);
		cr_assert_eq(r.used, whole.used, "step %zu", step);
		cr_assert_eq(r.outlen, whole.outlen, "step %zu", step);
		cr_assert_arr_eq(r.out, whole.out, r.outlen, "step %zu", step);
	}
}

/* The 2023 smuggling forms: none of them ends the message, and each
 * leaves the bare-EOL flag so the message is refused. */
Test(smtp_data, smuggling_forms_do_not_end_data)
{
	static const char *const forms[] = {
		"\n.\n", "\n.\r", "\r.\n", "\r.\r", "\n.\r\n", "\r.\r\n",
		"\r\n\x00.\r\n", "\r\n.\n", "\r\n.\r",
	};
	static const size_t lens[] = { 3, 3, 3, 3, 4, 4, 6, 4, 4 };
	static const char next[] = "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
	    "DATA\r\nsmuggled\r\n";
	size_t i;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char in[256];
		size_t len = 0;
		struct result r;

		memcpy(in, "text", 4);
		len = 4;
		memcpy(in + len, forms[i], lens[i]);
		len += lens[i];
		memcpy(in + len, next, sizeof(next) - 1);
		len += sizeof(next) - 1;
		r = run(in, len, 0, 0);
		cr_assert_not(r.done, "form %zu ended DATA", i);
		cr_assert_eq(r.used, len, "form %zu", i);
		if (i != 6)	/* form 6 is a real CRLF, then NUL */
			cr_assert(r.flags & DATA_F_BARE_EOL, "form %zu", i);
		else
			cr_assert(r.flags & DATA_F_NUL, "form %zu", i);
	}
}

/* NUL anywhere in a line: flagged (the message is refused), never an
 * end, whether it arrives in a run of text, after a dot or alone. */
Test(smtp_data, nul_is_flagged_wherever_it_is)
{
	static const struct { const char *in; size_t len; } forms[] = {
		{ "a\r\n\0.\r\n.\r\n", 10 },	/* NUL opens the line */
		{ "a\r\n.\0\r\n.\r\n", 10 },	/* NUL after the dot */
		{ "a\0b\r\n.\r\n", 8 },		/* inside text */
		{ "\0\r\n.\r\n", 6 },		/* the first octet */
		{ "a\r\n..\0\r\n.\r\n", 11 },	/* after a stuffed dot */
	};
	size_t i, step;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
		for (step = 0; step <= forms[i].len; step++) {
			struct result r = run(forms[i].in, forms[i].len, step, 0);

			cr_assert(r.done, "form %zu step %zu", i, step);
			cr_assert_eq(r.used, forms[i].len, "form %zu: only "
			    "<CRLF>.<CRLF> ends data", i);
			cr_assert_eq(r.flags, DATA_F_NUL, "form %zu step %zu",
			    i, step);
		}
	/* Past the size limit the output stops, the NUL is still seen. */
	{
		struct result r = run("0123456789\0\r\n.\r\n", 16, 0, 4);

		cr_assert(r.flags & DATA_F_NUL);
		cr_assert(r.flags & DATA_F_TOO_BIG);
	}
}

Test(smtp_data, bare_lf_and_bare_cr_are_flagged)
{
	struct result lf = RUN("a\nb\r\n.\r\n", 0);
	struct result cr = RUN("a\rb\r\n.\r\n", 0);
	struct result crcr = RUN("a\r\r\n.\r\n", 0);

	cr_assert(lf.done && (lf.flags & DATA_F_BARE_EOL));
	cr_assert(cr.done && (cr.flags & DATA_F_BARE_EOL));
	cr_assert(crcr.done && (crcr.flags & DATA_F_BARE_EOL));
}

Test(smtp_data, dot_cr_then_text_is_not_the_end)
{
	struct result r = RUN(".\rx\r\n.\r\n", 0);

	cr_assert(r.done);
	cr_assert(r.flags & DATA_F_BARE_EOL);
	cr_assert_eq(r.used, 8);
}

Test(smtp_data, line_limit_is_1000_octets_with_crlf)
{
	char in[1200];
	struct result r;

	memset(in, 'x', 998);
	memcpy(in + 998, "\r\n.\r\n", 5);
	r = run(in, 1003, 0, 0);
	cr_assert(r.done);
	cr_assert_eq(r.flags, 0, "998 + CRLF is allowed");

	memset(in, 'x', 999);
	memcpy(in + 999, "\r\n.\r\n", 5);
	r = run(in, 1004, 0, 0);
	cr_assert(r.done);
	cr_assert(r.flags & DATA_F_LONG_LINE, "999 + CRLF is too long");
}

Test(smtp_data, stuffed_dot_counts_toward_line_length)
{
	char in[1200];
	struct result r;

	in[0] = '.';
	memset(in + 1, 'x', 998);
	memcpy(in + 999, "\r\n.\r\n", 5);
	r = run(in, 1004, 0, 0);
	cr_assert(r.flags & DATA_F_LONG_LINE);
}

Test(smtp_data, size_limit_stops_output_but_consumes_to_the_end)
{
	static const char in[] = "0123456789\r\n0123456789\r\n.\r\nRSET\r\n";
	struct result ok = run(in, sizeof(in) - 1, 0, 24);
	struct result big = run(in, sizeof(in) - 1, 0, 23);

	cr_assert(ok.done);
	cr_assert_eq(ok.flags, 0, "exactly the limit is fine");
	cr_assert_eq(ok.outlen, 24);
	cr_assert(big.done);
	cr_assert(big.flags & DATA_F_TOO_BIG);
	cr_assert_eq(big.outlen, 23);
	cr_assert_eq(big.used, ok.used);
}

/* bare_newline = normalize: a bare LF ends a line and is stored as CRLF,
 * dots after it are unstuffed as after CRLF, and only <CRLF>.<CRLF> ends
 * the data. */
Test(smtp_data, normalize_stores_bare_lf_as_crlf)
{
	static const char in[] = "Subject: lf\n\nline\n..dot\nmixed\r\nend\n"
	    ".\r\nQUIT\r\n";
	static const char want[] = "Subject: lf\r\n\r\nline\r\n.dot\r\n"
	    "mixed\r\nend\r\n\r\n";
	size_t step;

	normalize = true;
	for (step = 0; step < sizeof(in); step++) {
		struct result r = RUN(in, step);

		/* "end\n.\r\n": the dot line follows a bare LF, so it is
		 * a line (an empty one, unstuffed), not the end. */
		cr_assert_not(r.done, "step %zu", step);
		cr_assert_eq(r.flags, 0, "step %zu", step);
		cr_assert_eq(r.outlen, sizeof(want) - 1 + strlen("QUIT\r\n"),
		    "step %zu", step);
		cr_assert_arr_eq(r.out, want, sizeof(want) - 1, "step %zu", step);
	}
	{
		static const char done[] = "a\nb\r\n.\r\nQUIT\r\n";
		struct result r = RUN(done, 0);

		cr_assert(r.done);
		cr_assert_eq(r.flags, 0);
		cr_assert_eq(r.used, sizeof(done) - 1 - strlen("QUIT\r\n"));
		cr_assert_eq(r.outlen, 6);
		cr_assert_arr_eq(r.out, "a\r\nb\r\n", 6);
	}
}

Test(smtp_data, normalize_keeps_every_smuggling_form_from_ending_data)
{
	static const char *const forms[] = {
		"\n.\n", "\n.\r", "\r.\n", "\r.\r", "\n.\r\n", "\r.\r\n",
		"\r\n\x00.\r\n", "\r\n.\x00\r\n", "\r\n.\n", "\r\n.\r",
	};
	static const size_t lens[] = { 3, 3, 3, 3, 4, 4, 6, 6, 4, 4 };
	/* A bare CR is refused in both modes, a NUL too; bare LF is not. */
	static const unsigned want[] = {
		0, DATA_F_BARE_EOL, DATA_F_BARE_EOL, DATA_F_BARE_EOL, 0,
		DATA_F_BARE_EOL, DATA_F_NUL, DATA_F_NUL, 0, DATA_F_BARE_EOL,
	};
	static const char next[] = "MAIL FROM:<a@b>\r\n";
	size_t i;

	normalize = true;
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char in[64];
		size_t len = 4, step;

		memcpy(in, "text", 4);
		memcpy(in + len, forms[i], lens[i]);
		len += lens[i];
		memcpy(in + len, next, sizeof(next) - 1);
		len += sizeof(next) - 1;
		for (step = 0; step <= len; step++) {
			struct result r = run(in, len, step, 0);

			cr_assert_not(r.done, "form %zu ended DATA", i);
			cr_assert_eq(r.used, len, "form %zu", i);
			cr_assert_eq(r.flags, want[i], "form %zu step %zu", i,
			    step);
		}
	}
}

Test(smtp_data, normalize_counts_the_added_cr_toward_the_line_limit)
{
	char in[1200];
	struct result r;

	normalize = true;
	memset(in, 'x', 998);
	memcpy(in + 998, "\n\r\n.\r\n", 6);
	r = run(in, 1004, 0, 0);
	cr_assert(r.done);
	cr_assert_eq(r.flags, 0, "998 + LF (stored as CRLF) is allowed");

	memset(in, 'x', 999);
	memcpy(in + 999, "\n\r\n.\r\n", 6);
	r = run(in, 1005, 0, 0);
	cr_assert(r.done);
	cr_assert(r.flags & DATA_F_LONG_LINE, "999 + LF is too long as CRLF");
}

Test(smtp_data, normalize_after_a_data_command_ended_by_lf)
{
	struct smtp_data d;
	char out[64];
	size_t o, used;

	smtp_data_init(&d, 0);
	smtp_data_normalize_lf(&d);
	smtp_data_after_bare_lf(&d);
	used = smtp_data_feed(&d, ".\r\n..x\n\r\n.\r\n", 12, out, &o);
	cr_assert(d.done);
	cr_assert_eq(used, 12);
	cr_assert_eq(d.flags, 0);
	cr_assert_eq(o, 8);
	cr_assert_arr_eq(out, "\r\n.x\r\n\r\n", 8);
}
