/*
 * dkim_verify - DKIM verification, streaming and without I/O (see
 * dkim_verify.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "auth/dkim_canon.h"
#include "auth/dkim_key.h"
#include "auth/dkim_msg.h"
#include "auth/dkim_sig.h"
#include "auth/dkim_verify.h"

struct vsig {
	struct dkim_sig	 sig;
	struct dkim_result res;
	unsigned char	 hhash[DKIM_SHA256_LEN];	/* the header hash */
	struct dkim_body *body;		/* one of v->bodies */
	EVP_PKEY	*key;		/* once answered */
	int		 asked;		/* still wants its key */
	char		 query[2 * DKIM_DOMAIN_MAX + 16];	/* s + d within 253 (dkim_sig) */
};

struct dkim_verify {
	struct dkim_verify_opts opts;
	struct dkim_msg	 msg;
	int		 state;		/* 0 header, 1 body, 2 ended, -1 failed */
	struct vsig	*sigs;
	size_t		 nsigs;
	struct dkim_body **bodies;	/* distinct (c=, l=) pairs */
	size_t		 nbodies;
};

const char *
dkim_status_name(enum dkim_status s)
{
	switch (s) {
	case DKIM_PENDING:	return "pending";
	case DKIM_PASS:		return "pass";
	case DKIM_FAIL:		return "fail";
	case DKIM_NEUTRAL:	return "neutral";
	case DKIM_TEMPERROR:	return "temperror";
	case DKIM_PERMERROR:	return "permerror";
	case DKIM_POLICY:	return "policy";
	}
	return "?";
}

void
dkim_verify_defaults(struct dkim_verify_opts *o, uint64_t now)
{
	memset(o, 0, sizeof *o);
	o->max_header = DKIM_MAX_HEADER;
	o->max_fields = DKIM_MAX_FIELDS;
	o->max_signatures = DKIM_MAX_SIGNATURES;
	o->now = now;
}

struct dkim_verify *
dkim_verify_new(const struct dkim_verify_opts *o)
{
	struct dkim_verify *v = calloc(1, sizeof *v);

	if (v == NULL)
		return NULL;
	v->opts = *o;
	dkim_msg_init(&v->msg, o->max_header, o->max_fields);
	return v;
}

/* settle - the final result of a signature */
static void
settle(struct vsig *s, enum dkim_status st, const char *fmt, ...)
{
	va_list ap;

	s->res.status = st;
	s->asked = 0;
	va_start(ap, fmt);
	vsnprintf(s->res.reason, sizeof s->res.reason, fmt, ap);
	va_end(ap);
}

/* body_for - the hasher for a canonicalization and a limit, shared */
static struct dkim_body *
body_for(struct dkim_verify *v, enum dkim_canon c, uint64_t limit)
{
	struct dkim_body *b;
	size_t i;

	for (i = 0; i < v->nbodies; i++)
		if (dkim_body_canon(v->bodies[i]) == c &&
		    dkim_body_limit(v->bodies[i]) == limit)
			return v->bodies[i];
	if ((b = dkim_body_new(c, limit)) == NULL)
		return NULL;
	v->bodies[v->nbodies++] = b;
	return b;
}

/* prepare - one DKIM-Signature field: parsed, checked, its header hash
 * computed (the header is complete), its body hasher and query set */
static int
prepare(struct dkim_verify *v, struct vsig *s, const struct dkim_field *f)
{
	const char *text = dkim_msg_field_text(&v->msg, f), *err = NULL;
	size_t voff = (size_t)((const char *)memchr(text, ':', f->len) - text) + 1;
	struct dkim_sig *sig = &s->sig;
	char *cut;
	size_t cutlen;
	int r;

	r = dkim_sig_parse(text + voff, f->len - voff, sig, &err);
	snprintf(s->res.domain, sizeof s->res.domain, "%s", sig->d);
	snprintf(s->res.selector, sizeof s->res.selector, "%s", sig->s);
	if (r == -1) {
		settle(s, DKIM_PERMERROR, "%s", err);
		return 0;
	}
	snprintf(s->res.identity, sizeof s->res.identity, "%s", sig->i);
	snprintf(s->res.b_prefix, sizeof s->res.b_prefix, "%s", sig->b_prefix);
	s->res.alg = dkim_alg_name(sig->alg);
	s->res.has_length = sig->has_l;
	s->res.length = sig->l;
	if (sig->alg == DKIM_RSA_SHA1) {
		settle(s, DKIM_FAIL, "rsa-sha1 is not acceptable (RFC 8301)");
		return 0;
	}
	if (sig->has_x && sig->x < v->opts.now) {
		settle(s, DKIM_FAIL, "signature expired");
		return 0;
	}
	/* the field with b='s value cut out, for the header hash */
	if ((cut = malloc(f->len)) == NULL)
		return -1;
	cutlen = voff + sig->b_eq_off + 1;
	memcpy(cut, text, cutlen);
	memcpy(cut + cutlen, text + voff + sig->b_end_off,
	    f->len - voff - sig->b_end_off);
	cutlen += f->len - voff - sig->b_end_off;
	r = dkim_header_hash(&v->msg, sig->hcanon, sig->h, cut, cutlen, s->hhash);
	free(cut);
	if (r == -1)
		return -1;
	if ((s->body = body_for(v, sig->bcanon,
	    sig->has_l ? sig->l : DKIM_NO_LIMIT)) == NULL)
		return -1;
	snprintf(s->query, sizeof s->query, "%s._domainkey.%s", sig->s, sig->d);
	s->asked = 1;
	return 0;
}

/* header_done - the header is complete: find the signatures */
static int
header_done(struct dkim_verify *v)
{
	size_t k, n = 0;

	for (k = 0; k < v->msg.nfields; k++)
		if (dkim_msg_field_is(&v->msg, &v->msg.fields[k], "DKIM-Signature", 14))
			n++;
	if (n > v->opts.max_signatures)
		n = v->opts.max_signatures;
	v->state = 1;
	if (n == 0)
		return 0;
	if ((v->sigs = calloc(n, sizeof *v->sigs)) == NULL ||
	    (v->bodies = calloc(n, sizeof *v->bodies)) == NULL)
		return -1;
	for (k = 0; k < v->msg.nfields && v->nsigs < n; k++) {
		const struct dkim_field *f = &v->msg.fields[k];
		struct vsig *s;

		if (!dkim_msg_field_is(&v->msg, f, "DKIM-Signature", 14))
			continue;
		s = &v->sigs[v->nsigs++];
		s->res.status = DKIM_PENDING;
		s->res.alg = "";
		if (prepare(v, s, f) == -1)
			return -1;
	}
	return 0;
}

static int
feed_bodies(struct dkim_verify *v, const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < v->nbodies; i++)
		if (dkim_body_update(v->bodies[i], p, len) == -1)
			return -1;
	return 0;
}

int
dkim_verify_feed(struct dkim_verify *v, const void *data, size_t len)
{
	size_t off;
	int r;

	if (v->state < 0 || v->state > 1)
		return -1;
	if (v->state == 1)
		r = feed_bodies(v, data, len);
	else if ((r = dkim_msg_feed(&v->msg, data, len, &off)) == 1)
		r = header_done(v) == -1 ? -1 :
		    feed_bodies(v, (const char *)data + off, len - off);
	if (r == -1)
		v->state = -1;
	return r == -1 ? -1 : 0;
}

static int
crypto_ok(const struct vsig *s)
{
	int ok;

	if (s->sig.alg == DKIM_ED25519_SHA256) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		ok = ctx != NULL &&
		    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, s->key) == 1 &&
		    EVP_DigestVerify(ctx, s->sig.b, s->sig.blen, s->hhash,
		    DKIM_SHA256_LEN) == 1;
		EVP_MD_CTX_free(ctx);
	} else {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(s->key, NULL);

		ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
		    EVP_PKEY_verify(ctx, s->sig.b, s->sig.blen, s->hhash,
		    DKIM_SHA256_LEN) == 1;
		EVP_PKEY_CTX_free(ctx);
	}
	return ok;
}

/* finish - with the body and the key both in, the verdict */
static void
finish(struct dkim_verify *v, struct vsig *s)
{
	uint64_t blen;

	if (s->res.status != DKIM_PENDING || s->key == NULL || v->state != 2)
		return;
	blen = dkim_body_length(s->body);
	s->res.body_length = blen;
	if (s->sig.has_l && s->sig.l > blen)
		settle(s, DKIM_PERMERROR, "l= is longer than the body");
	else if (CRYPTO_memcmp(s->sig.bh, dkim_body_digest(s->body),
	    DKIM_SHA256_LEN) != 0)
		settle(s, DKIM_FAIL, "body hash did not verify");
	else if (!crypto_ok(s))
		settle(s, DKIM_FAIL, "signature did not verify");
	else if (s->sig.has_l && s->sig.l < blen && v->opts.partial_body_policy)
		settle(s, DKIM_POLICY, "l= leaves %llu bytes of the body unsigned",
		    (unsigned long long)(blen - s->sig.l));
	else
		settle(s, DKIM_PASS, "%s", "");
}

int
dkim_verify_end(struct dkim_verify *v)
{
	size_t i;

	if (v->state < 0 || v->state > 1)
		return -1;
	if (v->state == 0 && (dkim_msg_end(&v->msg) == -1 || header_done(v) == -1)) {
		v->state = -1;
		return -1;
	}
	for (i = 0; i < v->nbodies; i++)
		if (dkim_body_final(v->bodies[i]) == -1) {
			v->state = -1;
			return -1;
		}
	v->state = 2;
	for (i = 0; i < v->nsigs; i++)
		finish(v, &v->sigs[i]);
	return 0;
}

int
dkim_verify_header_done(const struct dkim_verify *v)
{
	return v->state >= 1;
}

size_t
dkim_verify_count(const struct dkim_verify *v)
{
	return v->nsigs;
}

const char *
dkim_verify_query(const struct dkim_verify *v, size_t i)
{
	if (i >= v->nsigs || !v->sigs[i].asked)
		return NULL;
	return v->sigs[i].query;
}

/* take_key - the key record is acceptable for this signature */
static void
take_key(struct vsig *s, struct dkim_key *k)
{
	const char *at;

	s->res.key_bits = k->bits;
	s->res.testing = k->testing;
	if (k->revoked)
		settle(s, DKIM_FAIL, "key revoked");
	else if ((k->type == DKIM_KEY_ED25519) != (s->sig.alg == DKIM_ED25519_SHA256))
		settle(s, DKIM_PERMERROR, "key type does not match a=");
	else if (!k->sha256_ok)
		settle(s, DKIM_PERMERROR, "key h= does not allow sha256");
	else if (!k->email_ok)
		settle(s, DKIM_PERMERROR, "key s= is not for email");
	else if (k->strict_i && s->sig.i[0] &&
	    ((at = strrchr(s->sig.i, '@')) == NULL || strcasecmp(at + 1, s->sig.d) != 0))
		settle(s, DKIM_PERMERROR, "key t=s: i= must be in d= itself");
	else if (k->type == DKIM_KEY_RSA && k->bits < DKIM_RSA_MIN_VERIFY_BITS)
		settle(s, DKIM_FAIL, "RSA key of %u bits, under 1024 (RFC 8301)", k->bits);
	else {
		s->key = k->pkey;	/* the signature owns it now */
		k->pkey = NULL;
		s->asked = 0;
	}
}

void
dkim_verify_answer(struct dkim_verify *v, size_t i, enum dkim_dns rcode,
    const char *const *records, const size_t *lens, size_t n)
{
	struct vsig *s;
	const char *err = "no key record";
	struct dkim_key k;
	size_t r;

	if (i >= v->nsigs || !(s = &v->sigs[i])->asked)
		return;
	if (rcode == DKIM_DNS_TEMPFAIL) {
		settle(s, DKIM_TEMPERROR, "key lookup failed for now");
		return;
	}
	if (rcode == DKIM_DNS_NXDOMAIN)
		n = 0;
	/* several records: the first that is a key (RFC 6376 3.6.2.2) */
	for (r = 0; r < n; r++)
		if (dkim_key_parse(records[r], lens[r], &k, &err) == 0)
			break;
	if (r == n) {
		settle(s, DKIM_PERMERROR, n ? "key record: %s" : "%s", err);
		return;
	}
	take_key(s, &k);
	dkim_key_clear(&k);
	finish(v, s);
}

const struct dkim_result *
dkim_verify_result(const struct dkim_verify *v, size_t i)
{
	return i < v->nsigs ? &v->sigs[i].res : NULL;
}

int
dkim_verify_done(const struct dkim_verify *v)
{
	size_t i;

	for (i = 0; i < v->nsigs; i++)
		if (v->sigs[i].res.status == DKIM_PENDING)
			return 0;
	return v->state == 2;
}

void
dkim_verify_free(struct dkim_verify *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->nsigs; i++)
		EVP_PKEY_free(v->sigs[i].key);
	for (i = 0; i < v->nbodies; i++)
		dkim_body_free(v->bodies[i]);
	free(v->sigs);
	free(v->bodies);
	dkim_msg_free(&v->msg);
	free(v);
}
