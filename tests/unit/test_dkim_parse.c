/*
 * test_dkim_parse - the DKIM parsers and canonicalizations: tag lists
 * (RFC 6376 3.2), header and streaming body canonicalization (3.4, with
 * the examples of 3.4.5), key records (3.6.1) and signature checks
 * (6.1.1).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth/dkim_canon.h"
#include "auth/dkim_key.h"
#include "auth/dkim_sig.h"
#include "auth/dkim_tag.h"

/* --- tag lists ------------------------------------------------------------- */

static int
parse(const char *s, struct dkim_tags *t, const char **err)
{
	*err = NULL;
	return dkim_tags_parse(s, strlen(s), t, err);
}

Test(dkim_tag, folded_list_with_trailing_semicolon)
{
	const char *s = "v=1; a = rsa-sha256;\r\n\th=From:\r\n To ; b=ab cd\r\n ef;";
	struct dkim_tags t;
	const struct dkim_tag *h, *b;
	char c[64];
	const char *err;

	cr_assert_eq(parse(s, &t, &err), 0, "%s", err);
	cr_assert_eq(t.n, 4);
	cr_assert(dkim_tag_is(dkim_tags_get(&t, "a"), "rsa-sha256"));
	h = dkim_tags_get(&t, "h");
	cr_assert_eq(dkim_tag_compact(h, c, sizeof c), 7);
	cr_assert_str_eq(c, "From:To");
	b = dkim_tags_get(&t, "b");
	cr_assert_eq(dkim_tag_compact(b, c, sizeof c), 6);
	cr_assert_str_eq(c, "abcdef");
	/* the offsets cut b='s value out exactly */
	cr_assert_eq(s[b->eq_off], '=');
	cr_assert_eq(s[b->end_off], ';');
	cr_assert_null(dkim_tags_get(&t, "B"), "tag names are case-sensitive");
}

Test(dkim_tag, empty_values_and_empty_list)
{
	struct dkim_tags t;
	const char *err;

	cr_assert_eq(parse("p=", &t, &err), 0);
	cr_assert_eq(dkim_tags_get(&t, "p")->value_len, 0);
	cr_assert_eq(parse("v=DKIM1; p= ; ", &t, &err), 0);
	cr_assert_eq(dkim_tags_get(&t, "p")->value_len, 0);
	cr_assert_eq(parse("", &t, &err), 0);
	cr_assert_eq(t.n, 0);
}

Test(dkim_tag, strict_refusals)
{
	static const char *const bad[] = {
		"a=1; a=2",		/* twice */
		"a=1;;b=2",		/* empty tag-spec */
		";",
		"1a=1",			/* name starts with a digit */
		"a",			/* no "=" */
		"a-b=1",		/* "-" in a name */
		"a=x\xc3\xa9",		/* 8-bit in a value */
		"a=x\r\ny",		/* a CRLF that is not folding */
		"a=x\ny",		/* bare LF */
		"a=\"q\x01\"",		/* control character */
	};
	struct dkim_tags t;
	const char *err;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof *bad; i++) {
		cr_assert_eq(parse(bad[i], &t, &err), -1, "accepted: %s", bad[i]);
		cr_assert_not_null(err);
	}
}

Test(dkim_tag, bounded_number_of_tags)
{
	char s[512] = "";
	struct dkim_tags t;
	const char *err;
	int i;

	for (i = 0; i < DKIM_TAGS_MAX; i++)
		sprintf(s + strlen(s), "t%d=%d;", i, i);
	cr_assert_eq(parse(s, &t, &err), 0);
	strcat(s, "one=more");
	cr_assert_eq(parse(s, &t, &err), -1);
	cr_assert_str_eq(err, "too many tags");
}

Test(dkim_tag, colon_lists)
{
	cr_assert(dkim_tag_list_has("sha1 : SHA256", 13, "sha256"));
	cr_assert(!dkim_tag_list_has("sha1", 4, "sha256"));
	cr_assert(dkim_tag_list_has("y:s", 3, "s"));
	cr_assert(!dkim_tag_list_has("", 0, "s"));
}

/* --- canonicalization -------------------------------------------------------- */

static char *
canon_header(enum dkim_canon c, const char *f)
{
	static char out[512];
	struct buf b;

	buf_init(&b, 4096);
	cr_assert_eq(dkim_canon_header(c, f, strlen(f), &b), 0);
	snprintf(out, sizeof out, "%.*s", (int)b.len, b.data);
	buf_free(&b);
	return out;
}

Test(dkim_canon, rfc6376_header_example)
{
	/* RFC 6376 3.4.5: "A: X" and "B : Y<TAB><CRLF><TAB>Z  " */
	cr_assert_str_eq(canon_header(DKIM_CANON_RELAXED, "A: X"), "a:X\r\n");
	cr_assert_str_eq(canon_header(DKIM_CANON_RELAXED, "B : Y\t\r\n\tZ  "),
	    "b:Y Z\r\n");
	cr_assert_str_eq(canon_header(DKIM_CANON_SIMPLE, "B : Y\t\r\n\tZ  "),
	    "B : Y\t\r\n\tZ  \r\n");
	cr_assert_str_eq(canon_header(DKIM_CANON_RELAXED, "Subject:\r\n  a \t b"),
	    "subject:a b\r\n");
}

static void
sha256(const char *s, size_t n, unsigned char md[DKIM_SHA256_LEN])
{
	unsigned int len;

	cr_assert_eq(EVP_Digest(s, n, md, &len, EVP_sha256(), NULL), 1);
}

/* body_hash - the body fed in pieces of size `step` (0: one piece) */
static uint64_t
body_hash(enum dkim_canon c, uint64_t limit, const char *body, size_t len,
    size_t split, unsigned char md[DKIM_SHA256_LEN])
{
	struct dkim_body *b = dkim_body_new(c, limit);
	uint64_t n;

	cr_assert_not_null(b);
	cr_assert_eq(dkim_body_update(b, body, split), 0);
	cr_assert_eq(dkim_body_update(b, body + split, len - split), 0);
	cr_assert_eq(dkim_body_final(b), 0);
	memcpy(md, dkim_body_digest(b), DKIM_SHA256_LEN);
	n = dkim_body_length(b);
	dkim_body_free(b);
	return n;
}

/* every split of body into two chunks hashes as the canonical text */
static void
check_body(enum dkim_canon c, const char *body, const char *canonical)
{
	unsigned char want[DKIM_SHA256_LEN], got[DKIM_SHA256_LEN];
	size_t len = strlen(body), split;

	sha256(canonical, strlen(canonical), want);
	for (split = 0; split <= len; split++) {
		cr_assert_eq(body_hash(c, DKIM_NO_LIMIT, body, len, split, got),
		    strlen(canonical), "split at %zu of %s", split, body);
		cr_assert_arr_eq(got, want, DKIM_SHA256_LEN, "split at %zu of %s",
		    split, body);
	}
}

Test(dkim_canon, rfc6376_body_example_any_split)
{
	const char *body = " C \r\nD \t E\r\n\r\n\r\n";

	check_body(DKIM_CANON_RELAXED, body, " C\r\nD E\r\n");
	check_body(DKIM_CANON_SIMPLE, body, " C \r\nD \t E\r\n");
}

Test(dkim_canon, trailing_blank_lines_and_white_space)
{
	check_body(DKIM_CANON_RELAXED, "a\r\n \t\r\n\r\n  \r\n", "a\r\n");
	check_body(DKIM_CANON_SIMPLE, "a\r\n \t\r\n\r\n", "a\r\n \t\r\n");
	check_body(DKIM_CANON_RELAXED, "a\r\n\r\n\r\nb \r\n\r\n", "a\r\n\r\n\r\nb\r\n");
	check_body(DKIM_CANON_SIMPLE, "a\r\n\r\n\r\nb \r\n\r\n", "a\r\n\r\n\r\nb \r\n");
	/* only CRLF ends a line: bare CR and LF are characters */
	check_body(DKIM_CANON_RELAXED, "a \r b\n\r\r\n", "a \r b\n\r\r\n");
	check_body(DKIM_CANON_SIMPLE, "x\r", "x\r\r\n");
	/* no final CRLF: one is added */
	check_body(DKIM_CANON_SIMPLE, "x", "x\r\n");
	check_body(DKIM_CANON_RELAXED, "x  y", "x y\r\n");
	/* 8-bit content is just bytes */
	check_body(DKIM_CANON_RELAXED, "caf\xc3\xa9  cr\xc3\xa8me\r\n", "caf\xc3\xa9 cr\xc3\xa8me\r\n");
}

Test(dkim_canon, empty_bodies)
{
	check_body(DKIM_CANON_SIMPLE, "", "\r\n");
	check_body(DKIM_CANON_SIMPLE, "\r\n\r\n", "\r\n");
	check_body(DKIM_CANON_RELAXED, "", "");
	check_body(DKIM_CANON_RELAXED, "\r\n \r\n", "");
}

Test(dkim_canon, byte_at_a_time)
{
	const char *body = "x  \r\n\r\n. dot\r\n\r\n  \r\n\r\n";
	unsigned char want[DKIM_SHA256_LEN];
	struct dkim_body *b = dkim_body_new(DKIM_CANON_RELAXED, DKIM_NO_LIMIT);
	size_t i;

	for (i = 0; body[i]; i++)
		cr_assert_eq(dkim_body_update(b, body + i, 1), 0);
	cr_assert_eq(dkim_body_final(b), 0);
	sha256("x\r\n\r\n. dot\r\n", 12, want);
	cr_assert_arr_eq(dkim_body_digest(b), want, DKIM_SHA256_LEN);
	dkim_body_free(b);
}

Test(dkim_canon, length_limit_hashes_a_prefix)
{
	unsigned char want[DKIM_SHA256_LEN], got[DKIM_SHA256_LEN];
	const char *body = "hello\r\nworld\r\n";

	sha256("hello\r\nwo", 9, want);
	cr_assert_eq(body_hash(DKIM_CANON_SIMPLE, 9, body, strlen(body), 3, got), 14,
	    "the whole canonical length is still counted");
	cr_assert_arr_eq(got, want, DKIM_SHA256_LEN);
}

/* --- key records --------------------------------------------------------------- */

#define RFC8463_ED25519 "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
#define RFC8463_RSA "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3id" \
	"Y6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8" \
	"uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTI" \
	"KT+l/K4w3QIDAQAB"

static int
key(const char *rec, struct dkim_key *k, const char **err)
{
	*err = NULL;
	return dkim_key_parse(rec, strlen(rec), k, err);
}

Test(dkim_key, ed25519_and_rsa_records)
{
	struct dkim_key k;
	const char *err;

	cr_assert_eq(key("v=DKIM1; k=ed25519; p=" RFC8463_ED25519, &k, &err), 0, "%s", err);
	cr_assert_eq(k.type, DKIM_KEY_ED25519);
	cr_assert_not_null(k.pkey);
	cr_assert_eq(k.bits, 256);
	dkim_key_clear(&k);
	cr_assert_eq(key("v=DKIM1; p=" RFC8463_RSA, &k, &err), 0, "%s", err);
	cr_assert_eq(k.type, DKIM_KEY_RSA, "k= defaults to rsa");
	cr_assert_eq(k.bits, 1024);
	cr_assert(k.sha256_ok && k.email_ok && !k.testing && !k.strict_i);
	dkim_key_clear(&k);
}

Test(dkim_key, flags_hashes_services_and_folded_p)
{
	struct dkim_key k;
	const char *err;

	cr_assert_eq(key("k=ed25519; t=y:s; h=sha1; s=tlsrpt; p=11qYAYKxCrfVS/7TyW"
	    "QHOg7h cvPapiMlrwIaaPcHURo=", &k, &err), 0, "%s", err);
	cr_assert(k.testing && k.strict_i);
	cr_assert(!k.sha256_ok, "h=sha1 excludes sha256");
	cr_assert(!k.email_ok, "s=tlsrpt is not for mail");
	dkim_key_clear(&k);
}

Test(dkim_key, revoked_and_broken_records)
{
	static const char *const bad[] = {
		"v=DKIM2; p=" RFC8463_ED25519,		/* unknown version */
		"k=rsa; v=DKIM1; p=" RFC8463_RSA,	/* v= not first */
		"k=dsa; p=" RFC8463_RSA,		/* unknown key type */
		"v=DKIM1; k=rsa",			/* no p= */
		"k=ed25519; p=AAAA",			/* not 32 octets */
		"k=rsa; p=" RFC8463_ED25519,		/* not an RSA key */
		"p=!!!!",				/* not base64 */
	};
	struct dkim_key k;
	const char *err;
	size_t i;

	cr_assert_eq(key("v=DKIM1; k=rsa; p=", &k, &err), 0);
	cr_assert(k.revoked);
	cr_assert_null(k.pkey);
	for (i = 0; i < sizeof bad / sizeof *bad; i++) {
		cr_assert_eq(key(bad[i], &k, &err), -1, "accepted: %s", bad[i]);
		cr_assert_not_null(err);
	}
}

Test(dkim_key, oversized_records_are_refused)
{
	static char rec[DKIM_KEY_RECORD_MAX + 64];
	struct dkim_key k;
	const char *err;

	memset(rec, 'A', sizeof rec - 1);
	memcpy(rec, "k=rsa; p=", 9);
	cr_assert_eq(dkim_key_parse(rec, sizeof rec - 1, &k, &err), -1);
	cr_assert_str_eq(err, "key record too long");
}

/* --- signature fields ------------------------------------------------------------- */

#define SIG_OK "v=1; a=ed25519-sha256; c=relaxed/simple; d=Example.COM; s=sel; " \
	"t=100; x=200; h=From:To; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; " \
	"b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5Os" \
	"U7ZbnKELq+eXdp1Q1Dw=="

static int
sig(const char *s, struct dkim_sig *out, const char **err)
{
	*err = NULL;
	return dkim_sig_parse(s, strlen(s), out, err);
}

Test(dkim_sig, a_good_signature)
{
	struct dkim_sig s;
	const char *err;

	cr_assert_eq(sig(SIG_OK, &s, &err), 0, "%s", err);
	cr_assert_eq(s.alg, DKIM_ED25519_SHA256);
	cr_assert_eq(s.hcanon, DKIM_CANON_RELAXED);
	cr_assert_eq(s.bcanon, DKIM_CANON_SIMPLE);
	cr_assert_str_eq(s.d, "example.com");
	cr_assert_str_eq(s.h, "From:To");
	cr_assert_eq(s.blen, 64);
	cr_assert(s.has_t && s.has_x && !s.has_l);
	cr_assert_str_eq(s.b_prefix, "/gCrinpcQOoI");
}

Test(dkim_sig, refusals_say_why)
{
	static const struct { const char *edit, *with, *why; } cases[] = {
		{ "h=From:To", "h=To:Subject", "h= does not sign From" },
		{ "v=1", "v=2", "v= is not 1" },
		{ "s=sel; ", "", "a required tag (v a b bh d h s) is missing" },
		{ "c=relaxed/simple", "c=relaxed/fancy", "unknown canonicalization (c=)" },
		{ "a=ed25519-sha256", "a=rsa-sha512", "unknown algorithm (a=)" },
		{ "x=200", "x=99", "x= is before t=" },
		{ "t=100", "t=1e3", "l=, t= or x= is not a number" },
		{ "d=Example.COM", "d=exa mple.com", "d= or s= is not a domain name" },
		{ "d=Example.COM", "d=example.com; i=joe@example.net",
		    "i= is not within d=" },
		{ "d=Example.COM", "d=example.com; q=http", "q= does not allow dns/txt" },
		{ "bh=2jUSOH9", "bh=2jU", "bh= is not a hash" },
	};
	struct dkim_sig s;
	const char *err;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		char text[1024];
		const char *at = strstr(SIG_OK, cases[i].edit);

		cr_assert_not_null(at);
		snprintf(text, sizeof text, "%.*s%s%s", (int)(at - SIG_OK), SIG_OK,
		    cases[i].with, at + strlen(cases[i].edit));
		cr_assert_eq(sig(text, &s, &err), -1, "accepted: %s", text);
		cr_assert_str_eq(err, cases[i].why);
	}
}

Test(dkim_sig, identity_in_a_subdomain)
{
	char text[1024];
	struct dkim_sig s;
	const char *err;

	snprintf(text, sizeof text, "%s; i=joe@mail.example.com", SIG_OK);
	cr_assert_eq(sig(text, &s, &err), 0, "%s", err);
	cr_assert_str_eq(s.i, "joe@mail.example.com");
	snprintf(text, sizeof text, "%s; i=@badexample.com", SIG_OK);
	cr_assert_eq(sig(text, &s, &err), -1, "a suffix that is not a subdomain");
}

/* record_strings - the character-strings of a zone-file line joined */
static void
record_strings(const char *line, char *out, size_t outlen)
{
	const char *q = line, *e;
	size_t o = 0;

	while ((q = strchr(q, '"')) != NULL && (e = strchr(q + 1, '"')) != NULL) {
		cr_assert_leq((size_t)(e - q - 1), 255, "a string past 255 octets");
		cr_assert_lt(o + (size_t)(e - q - 1), outlen);
		memcpy(out + o, q + 1, (size_t)(e - q - 1));
		o += (size_t)(e - q - 1);
		q = e + 1;
	}
	out[o] = '\0';
}

Test(dkim_key, record_of_a_key_gives_it_back)
{
	static const char *const recs[] = {
		"v=DKIM1; k=ed25519; p=" RFC8463_ED25519,
		"v=DKIM1; k=rsa; p=" RFC8463_RSA,
	};
	struct dkim_key a, b, other;
	const char *err;
	char text[2048], *line;

	cr_assert_eq(key(recs[1], &other, &err), 0, "%s", err);
	for (size_t i = 0; i < 2; i++) {
		cr_assert_eq(key(recs[i], &a, &err), 0, "%s", err);
		line = dkim_key_record(a.pkey, "sel", "example.com");
		cr_assert_not_null(line);
		cr_assert_eq(strncmp(line, "sel._domainkey.example.com. IN TXT ( \"",
		    38), 0, "%s", line);
		record_strings(line, text, sizeof(text));
		cr_assert_str_eq(text, recs[i], "the record as published");
		cr_assert_eq(key(text, &b, &err), 0, "%s", err);
		cr_assert(dkim_key_same(a.pkey, b.pkey));
		cr_assert_eq(dkim_key_same(a.pkey, other.pkey), i == 1);
		free(line);
		dkim_key_clear(&a);
		dkim_key_clear(&b);
	}
	dkim_key_clear(&other);
}
