/*
 * test_dkim - DKIM signing and verification end to end in memory: what
 * our signer writes (tags, h= with From and others oversigned, folding),
 * that it verifies in our verifier however the message is chunked, and the
 * verdicts a receiving admin reads (pass, fail and why, permerror,
 * temperror), including the RFC 8463 Appendix A example. The keys are
 * answered by the test as the caller's DNS would.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "auth/dkim_sign.h"
#include "auth/dkim_verify.h"
#include "lib/base64.h"

#define NOW	1800000000ULL

static const char MESSAGE[] =
    "From: Alice <alice@example.com>\r\n"
    "To: bob@example.net\r\n"
    "Subject: a subject long enough to be folded across\r\n"
    " two lines of the header\r\n"
    "Date: Wed, 2 Dec 2026 02:00:00 +0000\r\n"
    "Message-ID: <1@example.com>\r\n"
    "X-Not-Signed: anything\r\n"
    "List-Unsubscribe: <mailto:u@example.com>\r\n"
    "\r\n"
    "Hello  Bob, \r\n"
    ".a line that was dot-stuffed\r\n"
    "caf\xc3\xa9\r\n"
    "\r\n"
    "\r\n";

struct answer {
	const char	*name;
	enum dkim_dns	 rcode;
	char		 rec[2048];
};

static EVP_PKEY *
keygen(const char *type)
{
	EVP_PKEY *k = strcmp(type, "RSA") == 0 ?
	    EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048) :
	    EVP_PKEY_Q_keygen(NULL, NULL, type);

	cr_assert_not_null(k);
	return k;
}

/* record - the TXT record that publishes k */
static void
record(EVP_PKEY *k, char *out, size_t size)
{
	unsigned char der[1024], *p = der;
	char b64[BASE64_ENCODED_LEN(1024)];
	size_t n = 32;

	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519) {
		cr_assert_eq(EVP_PKEY_get_raw_public_key(k, der, &n), 1);
		base64_encode(der, n, b64);
		snprintf(out, size, "v=DKIM1; k=ed25519; p=%s", b64);
	} else {
		int len = i2d_PUBKEY(k, &p);

		cr_assert_gt(len, 0);
		base64_encode(der, (size_t)len, b64);
		snprintf(out, size, "v=DKIM1; k=rsa; p=%s", b64);
	}
}

/* sign - the message with a signature per (selector, key) on top */
static char *
sign(const char *msg, size_t nkeys, const char *const *sel, EVP_PKEY **keys,
    uint64_t expire)
{
	struct dkim_sign *s = dkim_sign_new(DKIM_MAX_HEADER, DKIM_MAX_FIELDS);
	struct buf out;
	const char *err;
	size_t i;
	char *r;

	cr_assert_eq(dkim_sign_feed(s, msg, strlen(msg)), 0);
	cr_assert_eq(dkim_sign_end(s), 0);
	buf_init(&out, 1 << 20);
	for (i = 0; i < nkeys; i++) {
		struct dkim_signer *sg = dkim_signer_new("example.com", sel[i], keys[i], &err);

		cr_assert_not_null(sg, "%s", err);
		cr_assert_eq(dkim_sign_field(s, sg, NOW, expire, &out, &err), 0, "%s", err);
		dkim_signer_free(sg);
	}
	cr_assert_eq(buf_append(&out, msg, strlen(msg)), 0);
	r = strdup(out.data);
	buf_free(&out);
	dkim_sign_free(s);
	return r;
}

/* verify - msg in chunks of `chunk`, the keys answered from answers[] */
static struct dkim_verify *
verify(const char *msg, size_t chunk, const struct answer *answers, size_t nans)
{
	struct dkim_verify_opts o;
	struct dkim_verify *v;
	size_t len = strlen(msg), off, i, a;

	dkim_verify_defaults(&o, NOW);
	v = dkim_verify_new(&o);
	for (off = 0; off < len; off += chunk)
		cr_assert_eq(dkim_verify_feed(v, msg + off,
		    len - off < chunk ? len - off : chunk), 0);
	cr_assert_eq(dkim_verify_end(v), 0);
	for (i = 0; i < dkim_verify_count(v); i++) {
		const char *q = dkim_verify_query(v, i);

		if (q == NULL)
			continue;
		for (a = 0; a < nans; a++)
			if (strcmp(answers[a].name, q) == 0)
				break;
		if (a == nans) {
			dkim_verify_answer(v, i, DKIM_DNS_NXDOMAIN, NULL, NULL, 0);
		} else {
			const char *rec = answers[a].rec;
			size_t rl = strlen(rec);

			dkim_verify_answer(v, i, answers[a].rcode, &rec, &rl, 1);
		}
	}
	cr_assert(dkim_verify_done(v));
	return v;
}

static const struct dkim_result *
only(struct dkim_verify *v)
{
	cr_assert_eq(dkim_verify_count(v), 1);
	return dkim_verify_result(v, 0);
}

/* unfold - the tag at s up to its ";", without folding white space */
static char *
unfold(const char *s)
{
	char *r = calloc(1, strlen(s) + 1);
	size_t o = 0;

	for (; *s; s++) {
		if (*s == '\r' || *s == '\n' || *s == '\t' || *s == ' ')
			continue;
		r[o++] = *s;
		if (*s == ';')
			break;
	}
	return r;
}

/* the field's lines, tabs as 8 columns, are under 78 */
static void
assert_folded(const char *field)
{
	size_t col = 0;
	const char *p;

	for (p = field; *p && !(p[0] == '\r' && p[1] == '\n' && p[2] != '\t'); p++) {
		if (*p == '\r')
			continue;
		if (*p == '\n') {
			col = 0;
			continue;
		}
		col += *p == '\t' ? 8 : 1;
		cr_assert_lt(col, 78, "a line of 78 columns or more in:\n%s", field);
	}
}

Test(dkim, rsa_signature_fields_and_pass)
{
	EVP_PKEY *k = keygen("RSA");
	const char *sel = "rsa";
	struct answer a = { "rsa._domainkey.example.com", DKIM_DNS_OK, "" };
	char *signed_msg, *h;
	struct dkim_verify *v;
	const struct dkim_result *r;

	record(k, a.rec, sizeof a.rec);
	signed_msg = sign(MESSAGE, 1, &sel, &k, 0);
	cr_assert(strncmp(signed_msg, "DKIM-Signature: v=1; a=rsa-sha256; "
	    "c=relaxed/relaxed; d=example.com; s=rsa;", 55) == 0, "%s", signed_msg);
	cr_assert_not_null(strstr(signed_msg, "t=1800000000;"));
	cr_assert_null(strstr(signed_msg, " l="), "no l= when signing");
	cr_assert_null(strstr(signed_msg, " x="));
	h = unfold(strstr(signed_msg, "h="));
	cr_assert_str_eq(h, "h=From:To:Subject:Date:Message-ID:List-Unsubscribe:"
	    "From:To:Cc:Subject:Date:Message-ID:Reply-To;",
	    "the usual fields signed, then oversigned: From, To, Cc, Subject "
	    "and Reply-To always, the others present once more");
	free(h);
	assert_folded(signed_msg);

	v = verify(signed_msg, 65536, &a, 1);
	r = only(v);
	cr_assert_eq(r->status, DKIM_PASS, "%s", r->reason);
	cr_assert_str_eq(r->domain, "example.com");
	cr_assert_str_eq(r->selector, "rsa");
	cr_assert_str_eq(r->alg, "rsa-sha256");
	cr_assert_eq(r->key_bits, 2048);
	dkim_verify_free(v);
	free(signed_msg);
	EVP_PKEY_free(k);
}

Test(dkim, dual_signature_one_pass_any_chunking)
{
	EVP_PKEY *keys[2] = { keygen("RSA"), keygen("ED25519") };
	const char *sel[2] = { "rsa", "ed" };
	struct answer a[2] = {
		{ "rsa._domainkey.example.com", DKIM_DNS_OK, "" },
		{ "ed._domainkey.example.com", DKIM_DNS_OK, "" },
	};
	size_t chunks[] = { 1, 2, 3, 7, 64, 65536 }, c, i;
	char *signed_msg;

	record(keys[0], a[0].rec, sizeof a[0].rec);
	record(keys[1], a[1].rec, sizeof a[1].rec);
	signed_msg = sign(MESSAGE, 2, sel, keys, 0);
	cr_assert_not_null(strstr(signed_msg, "a=ed25519-sha256;"));
	for (c = 0; c < sizeof chunks / sizeof *chunks; c++) {
		struct dkim_verify *v = verify(signed_msg, chunks[c], a, 2);

		cr_assert_eq(dkim_verify_count(v), 2);
		for (i = 0; i < 2; i++) {
			const struct dkim_result *r = dkim_verify_result(v, i);

			cr_assert_eq(r->status, DKIM_PASS, "chunk %zu sig %zu: %s",
			    chunks[c], i, r->reason);
		}
		cr_assert_str_eq(dkim_verify_result(v, 1)->alg, "ed25519-sha256");
		dkim_verify_free(v);
	}
	free(signed_msg);
	EVP_PKEY_free(keys[0]);
	EVP_PKEY_free(keys[1]);
}

/* tamper - signed_msg with `from` replaced by `to` (first occurrence) */
static char *
tamper(const char *msg, const char *from, const char *to)
{
	const char *at = strstr(msg, from);
	char *r;

	cr_assert_not_null(at, "%s not in the message", from);
	r = malloc(strlen(msg) + strlen(to) + 1);
	sprintf(r, "%.*s%s%s", (int)(at - msg), msg, to, at + strlen(from));
	return r;
}

Test(dkim, changes_after_signing_fail)
{
	static const struct { const char *from, *to, *why; } cases[] = {
		{ "caf\xc3\xa9", "cafe", "body hash did not verify" },
		{ "Subject: a subject", "Subject: A subject", "signature did not verify" },
		{ "From: Alice", "From: Mallory <m@evil.example>\r\nFrom: Alice",
		    "signature did not verify" },
		{ "X-Not-Signed: anything\r\n", "X-Not-Signed: anything\r\n"
		    "From: Mallory <m@evil.example>\r\n", "signature did not verify" },
		/* a replayed message with a field added above the signed one
		 * (a reader shows the first) or where there was none: the
		 * fields that change what a reader sees are oversigned */
		{ "From: Alice", "Subject: pay now\r\nFrom: Alice",
		    "signature did not verify" },
		{ "From: Alice", "To: victim@example.net\r\nFrom: Alice",
		    "signature did not verify" },
		{ "From: Alice", "Reply-To: m@evil.example\r\nFrom: Alice",
		    "signature did not verify" },
		{ "From: Alice", "Cc: victim@example.net\r\nFrom: Alice",
		    "signature did not verify" },
		{ "From: Alice", "Date: Thu, 1 Jan 2032 00:00:00 +0000\r\n"
		    "From: Alice", "signature did not verify" },
	};
	EVP_PKEY *k = keygen("ED25519");
	const char *sel = "ed";
	struct answer a = { "ed._domainkey.example.com", DKIM_DNS_OK, "" };
	char *signed_msg;
	size_t i;

	record(k, a.rec, sizeof a.rec);
	signed_msg = sign(MESSAGE, 1, &sel, &k, 0);
	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *bad = tamper(signed_msg, cases[i].from, cases[i].to);
		struct dkim_verify *v = verify(bad, 100, &a, 1);
		const struct dkim_result *r = only(v);

		cr_assert_eq(r->status, DKIM_FAIL, "case %zu passed", i);
		cr_assert_str_eq(r->reason, cases[i].why);
		dkim_verify_free(v);
		free(bad);
	}
	/* white space changes that relaxed canonicalization absorbs */
	{
		char *ok = tamper(signed_msg, "Hello  Bob, ", "Hello Bob,");
		struct dkim_verify *v = verify(ok, 5, &a, 1);

		cr_assert_eq(only(v)->status, DKIM_PASS, "%s", only(v)->reason);
		dkim_verify_free(v);
		free(ok);
	}
	free(signed_msg);
	EVP_PKEY_free(k);
}

Test(dkim, key_answers)
{
	EVP_PKEY *k = keygen("ED25519");
	const char *sel = "ed";
	static const struct { enum dkim_dns rcode; const char *rec; enum dkim_status st;
	    const char *why; } cases[] = {
		{ DKIM_DNS_TEMPFAIL, "", DKIM_TEMPERROR, "key lookup failed for now" },
		{ DKIM_DNS_NXDOMAIN, "", DKIM_PERMERROR, "no key record" },
		{ DKIM_DNS_OK, "v=DKIM1; k=ed25519; p=", DKIM_FAIL, "key revoked" },
		{ DKIM_DNS_OK, "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHl"
		    "OQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W9"
		    "1y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLz"
		    "BfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB", DKIM_PERMERROR,
		    "key type does not match a=" },
		{ DKIM_DNS_OK, "v=DKIM1; k=ed25519; h=sha1; p=11qYAYKxCrfVS/7TyWQHOg7hcvP"
		    "apiMlrwIaaPcHURo=", DKIM_PERMERROR, "key h= does not allow sha256" },
		{ DKIM_DNS_OK, "v=spf1 -all", DKIM_PERMERROR,
		    "key record: v= is not DKIM1 or not first" },
		{ DKIM_DNS_OK, "v=DKIM1; k=ed25519", DKIM_PERMERROR,
		    "key record: no p= in the key record" },
		{ DKIM_DNS_OK, "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIa"
		    "aPcHURo=", DKIM_FAIL, "signature did not verify" },	/* another key */
	};
	char *signed_msg = sign(MESSAGE, 1, &sel, &k, 0);
	size_t i;

	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct answer a = { "ed._domainkey.example.com", cases[i].rcode, "" };
		struct dkim_verify *v;

		snprintf(a.rec, sizeof a.rec, "%s", cases[i].rec);
		v = verify(signed_msg, 4096, &a, 1);
		cr_assert_eq(only(v)->status, cases[i].st, "case %zu: %s", i, only(v)->reason);
		cr_assert_str_eq(only(v)->reason, cases[i].why);
		dkim_verify_free(v);
	}
	free(signed_msg);
	EVP_PKEY_free(k);
}

Test(dkim, expired_signature_fails_without_a_lookup)
{
	EVP_PKEY *k = keygen("ED25519");
	const char *sel = "ed";
	char *signed_msg = sign(MESSAGE, 1, &sel, &k, 60);
	struct dkim_verify_opts o;
	struct dkim_verify *v;

	cr_assert_not_null(strstr(signed_msg, "x=1800000060;"));
	dkim_verify_defaults(&o, NOW + 61);
	v = dkim_verify_new(&o);
	cr_assert_eq(dkim_verify_feed(v, signed_msg, strlen(signed_msg)), 0);
	cr_assert_eq(dkim_verify_end(v), 0);
	cr_assert_null(dkim_verify_query(v, 0));
	cr_assert_eq(only(v)->status, DKIM_FAIL);
	cr_assert_str_eq(only(v)->reason, "signature expired");
	cr_assert(dkim_verify_done(v));
	dkim_verify_free(v);
	free(signed_msg);
	EVP_PKEY_free(k);
}

Test(dkim, signer_refusals)
{
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	EVP_PKEY *ed = keygen("ED25519");
	struct dkim_sign *s = dkim_sign_new(DKIM_MAX_HEADER, DKIM_MAX_FIELDS);
	struct dkim_signer *sg;
	struct buf out;
	const char *err = NULL;
	static const char nofrom[] = "To: x@example.net\r\n\r\nbody\r\n";

	cr_assert_null(dkim_signer_new("example.com", "s", small, &err));
	cr_assert_str_eq(err, "RSA key shorter than 2048 bits");
	cr_assert_null(dkim_signer_new("exa mple.com", "s", ed, &err));
	sg = dkim_signer_new("example.com", "s", ed, &err);
	cr_assert_not_null(sg);
	cr_assert_eq(dkim_sign_feed(s, nofrom, sizeof nofrom - 1), 0);
	cr_assert_eq(dkim_sign_end(s), 0);
	buf_init(&out, 4096);
	cr_assert_eq(dkim_sign_field(s, sg, NOW, 0, &out, &err), -1);
	cr_assert_eq(out.len, 0);
	cr_assert_str_eq(err, "no From field to sign");
	buf_free(&out);
	dkim_sign_free(s);
	dkim_signer_free(sg);
	EVP_PKEY_free(small);
	EVP_PKEY_free(ed);
}

Test(dkim, pem_keys)
{
	static const char junk[] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
	const char *err = NULL;

	cr_assert_null(dkim_key_from_pem(junk, sizeof junk - 1, &err));
	cr_assert_str_eq(err, "not a PEM private key");
}

/* RFC 8463 Appendix A.3, with the keys of A.2 */
static const char RFC8463[] =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    " date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
    " DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
    " dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.  Are you hungry yet?\r\n"
    "\r\n"
    "Joe.\r\n";

static const struct answer RFC8463_KEYS[] = {
	{ "brisbane._domainkey.football.example.com", DKIM_DNS_OK,
	  "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=" },
	{ "test._domainkey.football.example.com", DKIM_DNS_OK,
	  "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6"
	  "NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC"
	  "/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOT"
	  "IKT+l/K4w3QIDAQAB" },
};

Test(dkim, rfc8463_example_verifies)
{
	size_t chunks[] = { 1, 13, 65536 }, c;

	for (c = 0; c < 3; c++) {
		struct dkim_verify *v = verify(RFC8463, chunks[c], RFC8463_KEYS, 2);
		const struct dkim_result *ed = dkim_verify_result(v, 0);
		const struct dkim_result *rsa = dkim_verify_result(v, 1);

		cr_assert_eq(dkim_verify_count(v), 2);
		cr_assert_eq(ed->status, DKIM_PASS, "%s", ed->reason);
		cr_assert_str_eq(ed->alg, "ed25519-sha256");
		cr_assert_str_eq(ed->domain, "football.example.com");
		cr_assert_str_eq(ed->selector, "brisbane");
		cr_assert_str_eq(ed->identity, "@football.example.com");
		cr_assert_eq(rsa->status, DKIM_PASS, "%s", rsa->reason);
		cr_assert_eq(rsa->key_bits, 1024);
		dkim_verify_free(v);
	}
}

Test(dkim, rsa_sha1_and_short_rsa_keys_fail)
{
	char *half = tamper(RFC8463, "a=rsa-sha256", "a=rsa-sha1");
	/* with a SHA-1 body hash, as rsa-sha1 signers write */
	char *sha1 = tamper(half, "s=test; t=1528637909; h=from : to : subject :\r\n"
	    " date : message-id : from : subject : date;\r\n"
	    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=",
	    "s=test; t=1528637909; h=from : to : subject :\r\n"
	    " date : message-id : from : subject : date;\r\n"
	    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQ=");
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)768);
	struct answer keys[2];
	struct dkim_verify *v;

	cr_assert_not_null(small);
	v = verify(sha1, 64, RFC8463_KEYS, 2);
	cr_assert_eq(dkim_verify_result(v, 1)->status, DKIM_FAIL);
	cr_assert_str_eq(dkim_verify_result(v, 1)->reason,
	    "rsa-sha1 is not acceptable (RFC 8301)");
	dkim_verify_free(v);

	memcpy(keys, RFC8463_KEYS, sizeof keys);
	record(small, keys[1].rec, sizeof keys[1].rec);
	v = verify(RFC8463, 64, keys, 2);
	cr_assert_eq(dkim_verify_result(v, 1)->status, DKIM_FAIL);
	cr_assert_str_eq(dkim_verify_result(v, 1)->reason,
	    "RSA key of 768 bits, under 1024 (RFC 8301)");
	dkim_verify_free(v);
	free(sha1);
	free(half);
	EVP_PKEY_free(small);
}

Test(dkim, answers_may_come_before_the_body_ends)
{
	struct dkim_verify_opts o;
	struct dkim_verify *v;
	const char *body = strstr(RFC8463, "\r\n\r\nHi.") + 4;
	size_t i;

	dkim_verify_defaults(&o, NOW);
	v = dkim_verify_new(&o);
	cr_assert_eq(dkim_verify_feed(v, RFC8463, (size_t)(body - RFC8463)), 0);
	cr_assert(dkim_verify_header_done(v));
	for (i = 0; i < 2; i++) {
		const char *rec = RFC8463_KEYS[i].rec;
		size_t len = strlen(rec);

		cr_assert_str_eq(dkim_verify_query(v, i), RFC8463_KEYS[i].name);
		dkim_verify_answer(v, i, DKIM_DNS_OK, &rec, &len, 1);
		cr_assert_eq(dkim_verify_result(v, i)->status, DKIM_PENDING);
	}
	cr_assert(!dkim_verify_done(v));
	cr_assert_eq(dkim_verify_feed(v, body, strlen(body)), 0);
	cr_assert_eq(dkim_verify_end(v), 0);
	cr_assert(dkim_verify_done(v));
	cr_assert_eq(dkim_verify_result(v, 0)->status, DKIM_PASS);
	cr_assert_eq(dkim_verify_result(v, 1)->status, DKIM_PASS);
	dkim_verify_free(v);
}

Test(dkim, no_signature_and_bounds)
{
	struct dkim_verify_opts o;
	struct dkim_verify *v;
	struct buf big;
	size_t i, first = (size_t)(strstr(RFC8463 + 1, "DKIM-Signature") - RFC8463);

	v = verify(MESSAGE, 10, NULL, 0);
	cr_assert_eq(dkim_verify_count(v), 0, "dkim=none");
	dkim_verify_free(v);

	/* only the first max_signatures are looked at */
	buf_init(&big, 1 << 20);
	for (i = 0; i < 12; i++)
		buf_append(&big, RFC8463, first);	/* the first signature field */
	buf_append(&big, RFC8463 + first, sizeof RFC8463 - 1 - first);
	v = verify(big.data, 4096, RFC8463_KEYS, 2);
	cr_assert_eq(dkim_verify_count(v), DKIM_MAX_SIGNATURES);
	dkim_verify_free(v);

	/* a header past its bound: the message cannot be checked */
	dkim_verify_defaults(&o, NOW);
	o.max_header = 1000;
	v = dkim_verify_new(&o);
	cr_assert_eq(dkim_verify_feed(v, big.data, 999), 0);
	cr_assert_eq(dkim_verify_feed(v, big.data + 999, 2), -1);
	cr_assert_eq(dkim_verify_end(v), -1);
	dkim_verify_free(v);
	buf_free(&big);
}
