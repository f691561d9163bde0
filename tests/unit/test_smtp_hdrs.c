/*
 * test_smtp_hdrs - the header filter of checked mail: which
 * Authentication-Results fields are dropped (ours, however spelled or
 * folded; not another's), what a field too long to hold becomes, the
 * From: fields read for DMARC, and the body untouched; every case fed
 * at once and cut at every byte.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "smtp/smtp_hdrs.h"

#define OURS	"mail.example.test"

static void
out(void *arg, const char *data, size_t len)
{
	cr_assert_eq(buf_append(arg, data, len), 0);
}

/* run - msg through the filter in pieces of step (0: at once); the
 * output NUL-terminated in *o (freed by the caller) */
static void
run(const char *msg, size_t len, size_t step, struct buf *o,
    struct smtp_hdrs *h)
{
	size_t off = 0, n;

	buf_init(o, len + 2);
	smtp_hdrs_init(h, OURS, out, o);
	while (off < len) {
		n = step && len - off > step ? step : len - off;
		smtp_hdrs_feed(h, msg + off, n);
		off += n;
	}
	smtp_hdrs_end(h);
	cr_assert_eq(buf_append(o, "", 1), 0);
}

/* filter - what comes out of msg, the same at every cut; *dropped and
 * the From: status and domain of the whole run */
static char *
filter(const char *msg, size_t len, unsigned *dropped, struct dmarc_from *f)
{
	struct smtp_hdrs h, hs;
	struct buf o, os;
	size_t step;

	run(msg, len, 0, &o, &h);
	for (step = 1; step <= 13; step++) {
		run(msg, len, step, &os, &hs);
		cr_assert_str_eq(os.data, o.data, "step %zu", step);
		cr_assert_eq(hs.dropped, h.dropped, "step %zu", step);
		cr_assert_eq(hs.from.status, h.from.status, "step %zu", step);
		smtp_hdrs_free(&hs);
		buf_free(&os);
	}
	*dropped = h.dropped;
	if (f != NULL)
		*f = h.from;
	smtp_hdrs_free(&h);
	return o.data;
}

Test(smtp_hdrs, ours_dropped_others_kept)
{
	const char *msg =
	    "Authentication-Results: mail.example.test;\r\n"
	    "\tspf=pass smtp.mailfrom=a@b.example\r\n"
	    "From: A <a@b.example>\r\n"
	    "authentication-results : (c) \"MAIL.Example.Test.\"; dkim=pass\r\n"
	    "Authentication-Results: mx.other.example; spf=fail\r\n"
	    "Authentication-Results: mail.example.test.evil; none\r\n"
	    "Subject: x\r\n"
	    "\r\n"
	    "Authentication-Results: mail.example.test; body, kept\r\n";
	unsigned dropped;
	struct dmarc_from f;
	char *o = filter(msg, strlen(msg), &dropped, &f);

	cr_assert_str_eq(o,
	    "From: A <a@b.example>\r\n"
	    "Authentication-Results: mx.other.example; spf=fail\r\n"
	    "Authentication-Results: mail.example.test.evil; none\r\n"
	    "Subject: x\r\n"
	    "\r\n"
	    "Authentication-Results: mail.example.test; body, kept\r\n");
	cr_assert_eq(dropped, 2);
	cr_assert_eq(f.status, DMARC_FROM_OK);
	cr_assert_str_eq(f.domain, "b.example");
	free(o);
}

Test(smtp_hdrs, from_fields_read)
{
	const char *two = "From: a@b.example\r\nFrom: c@d.example\r\n\r\nx\r\n";
	const char *none = "Subject: x\r\n\r\nFrom: a@b.example\r\n";
	unsigned dropped;
	struct dmarc_from f;

	free(filter(two, strlen(two), &dropped, &f));
	cr_assert_eq(f.status, DMARC_FROM_FIELDS);
	free(filter(none, strlen(none), &dropped, &f));
	cr_assert_eq(f.status, DMARC_FROM_MISSING, "a From: in the body");
}

/* A field past SMTP_HDRS_FIELD_MAX is judged on what was held: ours is
 * dropped whole, another field passes whole. */
Test(smtp_hdrs, long_fields)
{
	size_t n = SMTP_HDRS_FIELD_MAX + 5000, i;
	const char *tail = "Subject: x\r\n\r\nbody\r\n";
	char *msg = malloc(2 * n + 200), *o;
	const char *heads[] = { "Authentication-Results: " OURS ";\r\n",
	    "Comments: other.example;\r\n" };
	unsigned dropped;

	for (i = 0; i < 2; i++) {
		size_t len = 0, k;

		strcpy(msg, heads[i]);
		len = strlen(msg);
		for (k = 0; len < n; k++) {
			memcpy(msg + len, "\tspf=pass (xxxxxxxxxxxxxxxxxxxxx)\r\n",
			    35);
			len += 35;
		}
		strcpy(msg + len, tail);
		len += strlen(tail);
		o = filter(msg, len, &dropped, NULL);
		if (i == 0) {
			cr_assert_str_eq(o, tail);
			cr_assert_eq(dropped, 1);
		} else {
			cr_assert_eq(strlen(o), len);
			cr_assert_eq(memcmp(o, msg, len), 0);
			cr_assert_eq(dropped, 0);
		}
		free(o);
	}
	free(msg);
}

/* An Authentication-Results field too long to hold cannot be judged on
 * its first 64 KiB: our authserv-id may come after them (behind folded
 * white space or a long comment), and a reader of the whole field finds
 * it there. Such a field is dropped, whatever it claims. */
Test(smtp_hdrs, long_ar_hides_ours)
{
	size_t n = SMTP_HDRS_FIELD_MAX + 5000, i;
	const char *tail = "Subject: x\r\n\r\nbody\r\n";
	const char *pads[] = { " \r\n", " (xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx)\r\n",
	    " other.example\r\n" };
	const char *ends[] = { " " OURS "; dkim=pass header.d=bank.example\r\n",
	    " " OURS "; dkim=pass header.d=bank.example\r\n",
	    " ; dkim=pass header.d=bank.example\r\n" };
	char *msg = malloc(n + 400), *o;
	unsigned dropped;

	for (i = 0; i < 3; i++) {
		size_t len, k = strlen(pads[i]);

		strcpy(msg, i == 2 ? "Authentication-Results:" :
		    "Authentication-Results: (");
		if (i == 0)
			msg[strlen(msg) - 1] = '\0';
		len = strlen(msg);
		if (i == 1)
			msg[len - 1] = ' ';	/* comments in pads[1] */
		while (len < n) {
			memcpy(msg + len, pads[i], k);
			len += k;
		}
		strcpy(msg + len, ends[i]);
		len += strlen(ends[i]);
		strcpy(msg + len, tail);
		len += strlen(tail);
		o = filter(msg, len, &dropped, NULL);
		cr_assert_str_eq(o, tail, "case %zu: %zu octets out", i, strlen(o));
		cr_assert_eq(dropped, 1, "case %zu", i);
		free(o);
	}
	free(msg);
}

/* A field whose authserv-id cannot be read is one RFC 8601 tells
 * readers to ignore; a lenient reader may still find ours in it (an
 * unclosed quote, no id before the ';'): it is dropped. */
Test(smtp_hdrs, malformed_dropped)
{
	const char *msg =
	    "Authentication-Results: \"mail.example.test; dkim=pass\r\n"
	    "Authentication-Results: ; dmarc=pass header.from=bank.example\r\n"
	    "Authentication-Results:\r\n"
	    "Subject: x\r\n"
	    "\r\n"
	    "body\r\n";
	unsigned dropped;
	char *o = filter(msg, strlen(msg), &dropped, NULL);

	cr_assert_str_eq(o, "Subject: x\r\n\r\nbody\r\n");
	cr_assert_eq(dropped, 3);
	free(o);
}

/* RFC 5322 2.2.3: a field is read unfolded, and 4.5 lets blanks stand
 * before the colon: "Name\r\n :" is that field to a reader that follows
 * it. Ours is dropped; a From: so written is a From: for DMARC (two of
 * them: no single author domain). */
Test(smtp_hdrs, name_folded_before_colon)
{
	const char *ar =
	    "Authentication-Results\r\n : mail.example.test; dkim=pass\r\n"
	    "Authentication-Results \r\n\t\r\n :mail.example.test; dmarc=pass\r\n"
	    "Subject: x\r\n"
	    "\r\n"
	    "body\r\n";
	const char *from =
	    "From: a@attacker.example\r\n"
	    "From\r\n : ceo@bank.example\r\n"
	    "\r\n"
	    "body\r\n";
	unsigned dropped;
	struct dmarc_from f;
	char *o = filter(ar, strlen(ar), &dropped, NULL);

	cr_assert_str_eq(o, "Subject: x\r\n\r\nbody\r\n");
	cr_assert_eq(dropped, 2);
	free(o);
	free(filter(from, strlen(from), &dropped, &f));
	cr_assert_eq(f.status, DMARC_FROM_FIELDS, "status %d", f.status);
}
