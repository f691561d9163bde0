/*
 * test_smtp_data - the DATA state machine: end of data, unstuffing,
 * smuggling attempts, limits, input split at every byte.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "smtp_data.h"

struct result {
	char		out[8192];
	size_t		outlen;
	size_t		used;
	unsigned	flags;
	bool		done;
};

/* run - feed `in` in pieces of `step` bytes (0: all at once) */
static struct result
run(const char *in, size_t len, size_t step, uint64_t max)
{
	struct smtp_data d;
	struct result r;
	size_t n, o;

	memset(&r, 0, sizeof(r));
	smtp_data_init(&d, max);
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
