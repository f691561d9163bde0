/*
 * fuzz_spf - SPF's record parser, macro expander and check_host()
 * evaluator (src/auth/spf*.c) on hostile input.
 *
 * Byte 0 picks what the rest is:
 *   0: an SPF record. Invariant: a record spf_record_check accepts
 *      reads term by term to its end without an error, each term's
 *      text inside the record, its prefix lengths in range.
 *   1: a macro-string, expanded as each kind. Invariant: it expands
 *      exactly when it is valid (a domain may also be too long), the
 *      output NUL-terminated in its buffer, a domain at most 253 bytes.
 *   2: DNS answers for a check of x@example.com: for each question, a
 *      byte (outcome and record count), then each record as a length
 *      byte and its bytes, fed as the type asked. Invariants: the
 *      check ends within a bound set by its limits; an explanation
 *      only for fail, and printable ASCII.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "auth/spf.h"
#include "auth/spf_macro.h"
#include "auth/spf_record.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_spf: %s\n", what);
	abort();
}

static void
record(const char *text, size_t len)
{
	struct spf_term	 r, e, t;
	const char	*err;
	size_t		 pos;
	int		 rc;

	if (spf_record_check(text, len, &r, &e, &err) != 0)
		return;
	pos = spf_record_version(text, len);
	while ((rc = spf_term_next(text, len, &pos, &t, &err)) == 1) {
		if (t.spec != NULL && (t.spec < text ||
		    t.spec + t.speclen > text + len))
			fail("a term's text outside the record");
		if (t.cidr4 > 32 || t.cidr6 > 128)
			fail("a prefix length out of range");
	}
	if (rc != 0 || pos != len)
		fail("an accepted record does not read to its end");
}

static void
macro(const char *text, size_t len)
{
	static const unsigned char ip[4] = { 192, 0, 2, 3 };
	struct spf_macro_ctx c = {
		"strong-bad@email.example.com", "strong-bad",
		"email.example.com", "email.example.com", AF_INET, ip,
		"helo.example.org", "ptr.example.net", "mx.example.test", 1,
	};
	char out[SPF_EXPAND_MAX];

	for (int k = SPF_MACRO_DOMAIN; k <= SPF_MACRO_EXPLAIN; k++) {
		bool	valid = spf_macro_valid(text, len, k);
		int	rc;

		memset(out, 'Z', sizeof(out));
		rc = spf_macro_expand(text, len, k, &c, out, sizeof(out));
		if (rc == 0 && !valid)
			fail("an invalid macro-string expanded");
		if (rc == -1 && valid && k != SPF_MACRO_DOMAIN)
			fail("a valid macro-string did not expand");
		if (rc == 0 && memchr(out, '\0', sizeof(out)) == NULL)
			fail("expansion not terminated");
		if (rc == 0 && k == SPF_MACRO_DOMAIN &&
		    strlen(out) > SPF_DOMAIN_MAX)
			fail("a domain longer than 253 bytes");
	}
}

static void
evaluate(const uint8_t *d, size_t n)
{
	static const unsigned char ip[4] = { 192, 0, 2, 3 };
	struct spf_params	 p = { 0 };
	struct spf_query	 q;
	struct spf		*s;
	size_t			 at = 0;
	unsigned		 questions = 0;
	const char		*exp;

	p.family = AF_INET;
	p.ip = ip;
	p.mail_from = "x@example.com";
	p.helo = "helo.example.org";
	p.receiver = "mx.example.test";
	if ((s = spf_new(&p)) == NULL)
		return;
	while (spf_step(s, &q)) {
		unsigned b, nrec;

		/* 10 terms, each at most 1 + 10 lookups, the PTR
		 * validation, redirect and exp: far below this. */
		if (++questions > 1000)
			fail("the check does not end");
		if (at >= n) {
			spf_answer_end(s, SPF_DNS_NXDOMAIN);
			continue;
		}
		b = d[at++];
		nrec = (b >> 2) % 16;
		for (unsigned i = 0; i < nrec && at < n; i++) {
			size_t len = d[at++];

			if (len > n - at)
				len = n - at;
			spf_answer_rr(s, q.type, d + at, len);
			at += len;
		}
		spf_answer_end(s, (b & 3) == 1 ? SPF_DNS_NXDOMAIN :
		    (b & 3) == 2 ? SPF_DNS_TEMPFAIL : SPF_DNS_OK);
	}
	if ((unsigned)spf_result(s) > SPF_PERMERROR)
		fail("no such result");
	if ((exp = spf_explanation(s)) != NULL) {
		if (spf_result(s) != SPF_FAIL)
			fail("an explanation without a fail");
		for (; *exp != '\0'; exp++)
			if (*exp < 0x20 || *exp > 0x7e)
				fail("an explanation that is not printable");
	}
	spf_free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
	case 1:
		/* An exact copy: a read past the end is ASan's. */
		if ((text = malloc(size - 1 ? size - 1 : 1)) == NULL)
			return 0;
		memcpy(text, data + 1, size - 1);
		if (data[0] % 3 == 0)
			record(text, size - 1);
		else
			macro(text, size - 1);
		free(text);
		break;
	case 2:
		evaluate(data + 1, size - 1);
		break;
	}
	return 0;
}
