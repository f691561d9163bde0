/*
 * test_dkim_from - the From: domain that picks the keys our mail is
 * signed with, found while the message streams in: the usual forms of
 * the field, folding, comments and quotes, what is refused (no From,
 * two, addresses in two domains, an address literal, a field past the
 * bound), and the same answer however the message is cut.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "auth/dkim_from.h"

/* domain_of - the message fed in pieces of step octets (0: at once) */
static int
domain_of(const char *msg, size_t step, char *out, size_t outlen,
    const char **why)
{
	static struct dkim_from f;
	size_t len = strlen(msg), off = 0, n;

	dkim_from_init(&f);
	while (off < len) {
		n = step == 0 || step > len - off ? len - off : step;
		dkim_from_feed(&f, msg + off, n);
		off += n;
	}
	return dkim_from_domain(&f, out, outlen, why);
}

static void
expect(const char *msg, const char *domain, const char *why)
{
	static const size_t steps[] = { 0, 1, 2, 3, 7 };
	char out[256];
	const char *w;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		w = "";
		if (domain != NULL) {
			cr_assert_eq(domain_of(msg, steps[i], out, sizeof(out),
			    &w), 0, "%s (step %zu): %s", msg, steps[i], w);
			cr_assert_str_eq(out, domain, "%s", msg);
		} else {
			cr_assert_eq(domain_of(msg, steps[i], out, sizeof(out),
			    &w), -1, "%s (step %zu): %s", msg, steps[i], out);
			cr_assert_str_eq(w, why, "%s: %s", msg, w);
		}
	}
}

Test(dkim_from, usual_forms)
{
	expect("From: alice@example.org\r\n\r\nbody\r\n", "example.org", NULL);
	expect("To: b@x\r\nFrom: Alice <alice@Example.ORG>\r\n\r\n",
	    "example.org", NULL);
	expect("from:<a@EXAMPLE.org>\r\n\r\n", "example.org", NULL);
	/* several addresses in one domain: that domain, as DMARC reads it */
	expect("From: a@example.org, B <b@example.org>\r\n\r\n",
	    "example.org", NULL);
	expect("FROM : \"Doe, John <x@evil.test>\" <j@example.org>\r\n\r\n",
	    "example.org", NULL);
	expect("From: (a comment, with <x@evil.test>) a@example.org "
	    "(trailing)\r\n\r\n", "example.org", NULL);
	expect("From: \"a@evil.test\"@example.org\r\n\r\n", "example.org",
	    NULL);
	expect("From: Alice\r\n <alice@\r\n\texample.org>\r\n\r\n",
	    "example.org", NULL);
	/* a header without a body, and a field that is only a name */
	expect("From: a@example.org\r\nX-Junk\r\n", "example.org", NULL);
}

Test(dkim_from, refused)
{
	/* a From with many blanks before its colon is still a From */
	expect("From                      : a@example.org\r\nFrom: b@example.org"
	    "\r\n\r\n", NULL, "several From fields");
	expect("X-Long-Field-Name-Here: a\r\nFr om: b@example.org\r\n\r\n",
	    NULL, "no From field");
	expect("To: a@example.org\r\n\r\n", NULL, "no From field");
	expect("From: a@example.org\r\nFrom: b@example.org\r\n\r\n", NULL,
	    "several From fields");
	expect("From: a@example.org, b@evil.test\r\n\r\n", NULL,
	    "From: has addresses in several domains");
	expect("From: a@[192.0.2.1]\r\n\r\n", NULL,
	    "From: has no readable author domain");
	expect("From: Alice <alice>\r\n\r\n", NULL,
	    "From: has no readable author domain");
	expect("From: \"unclosed <a@example.org>\r\n\r\n", NULL,
	    "From: has no readable author domain");
}

/* A field name folded before its colon ("From\r\n : b@x") is still a
 * From to a reader that unfolds first (RFC 5322 2.2.3), as the DMARC
 * side reads it (smtp_hdrs): a second From so written must not slip
 * past the count and get the message signed for the first one's domain. */
Test(dkim_from, folded_name)
{
	expect("From: a@example.org\r\nFrom\r\n : ceo@bank.test\r\n\r\n",
	    NULL, "several From fields");
	expect("From\r\n\t: ceo@bank.test\r\nFrom: a@example.org\r\n\r\n",
	    NULL, "several From fields");
	expect("From \r\n \r\n : ceo@bank.test\r\nFrom: a@example.org\r\n"
	    "\r\n", NULL, "several From fields");
	/* alone, it is the From, read unfolded */
	expect("From\r\n : a@Example.org\r\n\r\n", "example.org", NULL);
	/* a line without a colon is no field, and the next one is its own */
	expect("From\r\nFrom: a@example.org\r\n\r\n", "example.org", NULL);
	/* the name goes on past the fold: not "from" */
	expect("From\r\n x: ceo@bank.test\r\nFrom: a@example.org\r\n\r\n",
	    "example.org", NULL);
}

/* Only the header counts: a From line in the body is text. */
Test(dkim_from, body_is_not_header)
{
	expect("To: x@y\r\n\r\nFrom: a@example.org\r\n", NULL,
	    "no From field");
	expect("From: a@example.org\r\n\r\nFrom: b@evil.test\r\n",
	    "example.org", NULL);
}

Test(dkim_from, bounded)
{
	static char msg[DKIM_FROM_MAX * 2];
	size_t n;

	n = (size_t)snprintf(msg, sizeof(msg), "From: ");
	memset(msg + n, 'a', DKIM_FROM_MAX);
	snprintf(msg + n + DKIM_FROM_MAX, sizeof(msg) - n - DKIM_FROM_MAX,
	    "@example.org\r\n\r\n");
	expect(msg, NULL, "From field too long");
}
