/*
 * dkim_sign - DKIM signing, one pass for any number of signers (see
 * dkim_sign.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "auth/dkim_canon.h"
#include "auth/dkim_msg.h"
#include "auth/dkim_sig.h"
#include "auth/dkim_sign.h"
#include "auth/dkim_tag.h"
#include "lib/base64.h"

#define FOLD_AT		76	/* columns a line of the field stays within */
#define FOLD_INDENT	8	/* a continuation line starts with a tab */

struct dkim_signer {
	char		 domain[DKIM_DOMAIN_MAX + 1];
	char		 selector[DKIM_DOMAIN_MAX + 1];
	EVP_PKEY	*key;
	enum dkim_alg	 alg;
};

struct dkim_sign {
	struct dkim_msg	 msg;
	struct dkim_body *body;		/* relaxed, shared by every signer */
	int		 state;		/* 0 feeding, 1 ended, -1 failed */
};

/* The fields signed when present, each occurrence; List-* too. Each is
 * then named once more in h= (oversigned, RFC 6376 8.15), so that a
 * copy of the message replayed with such a field added fails: always
 * for those a reader sees or answers to (added where there was none, a
 * Reply-To or a Cc is as bad as a second Subject), for the others when
 * present (as rspamd's defaults do). */
static const struct {
	const char	*name;
	int		 always;
} signed_fields[] = {
	{ "From", 1 }, { "To", 1 }, { "Cc", 1 }, { "Subject", 1 },
	{ "Date", 0 }, { "Message-ID", 0 }, { "Reply-To", 1 },
	{ "In-Reply-To", 0 }, { "References", 0 }, { "MIME-Version", 0 },
	{ "Content-Type", 0 }, { "Content-Transfer-Encoding", 0 },
	{ NULL, 0 }
};

EVP_PKEY *
dkim_key_from_pem(const char *pem, size_t len, const char **err)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *k = NULL;

	if (bio != NULL && len <= 0x7fffffff)
		k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (k == NULL)
		*err = "not a PEM private key";
	return k;
}

struct dkim_signer *
dkim_signer_new(const char *domain, const char *selector, EVP_PKEY *key,
    const char **err)
{
	struct dkim_signer *s;
	enum dkim_alg alg;

	if (!dkim_tag_domain(domain, strlen(domain)) ||
	    !dkim_tag_domain(selector, strlen(selector)) ||
	    strlen(domain) + strlen(selector) + 12 > DKIM_DOMAIN_MAX) {
		*err = "the domain or the selector is not a domain name";
		return NULL;
	}
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(key) < DKIM_RSA_MIN_SIGN_BITS) {
			*err = "RSA key shorter than 2048 bits";
			return NULL;
		}
		alg = DKIM_RSA_SHA256;
		break;
	case EVP_PKEY_ED25519:
		alg = DKIM_ED25519_SHA256;
		break;
	default:
		*err = "the key is neither RSA nor Ed25519";
		return NULL;
	}
	if ((s = calloc(1, sizeof *s)) == NULL || EVP_PKEY_up_ref(key) != 1) {
		free(s);
		*err = "out of memory";
		return NULL;
	}
	snprintf(s->domain, sizeof s->domain, "%s", domain);
	snprintf(s->selector, sizeof s->selector, "%s", selector);
	s->key = key;
	s->alg = alg;
	return s;
}

const char *
dkim_signer_alg(const struct dkim_signer *s)
{
	return dkim_alg_name(s->alg);
}

void
dkim_signer_free(struct dkim_signer *s)
{
	if (s == NULL)
		return;
	EVP_PKEY_free(s->key);
	free(s);
}

struct dkim_sign *
dkim_sign_new(size_t max_header, size_t max_fields)
{
	struct dkim_sign *s = calloc(1, sizeof *s);

	if (s == NULL)
		return NULL;
	dkim_msg_init(&s->msg, max_header, max_fields);
	if ((s->body = dkim_body_new(DKIM_CANON_RELAXED, DKIM_NO_LIMIT)) == NULL) {
		dkim_sign_free(s);
		return NULL;
	}
	return s;
}

int
dkim_sign_feed(struct dkim_sign *s, const void *data, size_t len)
{
	size_t off;
	int r;

	if (s->state != 0)
		return -1;
	if ((r = dkim_msg_feed(&s->msg, data, len, &off)) == -1) {
		s->state = -1;
		return -1;
	}
	if (r > 0 && dkim_body_update(s->body, (const char *)data + off,
	    len - off) == -1) {
		s->state = -1;
		return -1;
	}
	return 0;
}

int
dkim_sign_end(struct dkim_sign *s)
{
	if (s->state != 0 || dkim_msg_end(&s->msg) == -1 ||
	    dkim_body_final(s->body) == -1) {
		s->state = -1;
		return -1;
	}
	s->state = 1;
	return 0;
}

/* --- the field, folded ----------------------------------------------------- */

struct fold {
	struct buf	*out;
	size_t		 col;
	int		 err;
};

static void
put(struct fold *f, const char *s, size_t n)
{
	if (buf_append(f->out, s, n) == -1)
		f->err = 1;
	f->col += n;
}

static void
newline(struct fold *f)
{
	put(f, "\r\n\t", 3);
	f->col = FOLD_INDENT;
}

/* token - s, after a space (or none), on this line if it fits */
static void
token(struct fold *f, const char *s, size_t n, int space)
{
	if (f->col + (space ? 1 : 0) + n > FOLD_AT && f->col > FOLD_INDENT)
		newline(f);
	else if (space)
		put(f, " ", 1);
	put(f, s, n);
}

static void
tag(struct fold *f, const char *name, const char *value)
{
	char t[DKIM_DOMAIN_MAX + 32];
	int n = snprintf(t, sizeof t, "%s=%s;", name, value);

	if (n < 0 || (size_t)n >= sizeof t)
		f->err = 1;
	else
		token(f, t, (size_t)n, 1);
}

/* add - one name to the colon-separated list hl; -1 if it is full */
static int
add(char *hl, size_t *len, size_t size, const char *name, size_t n)
{
	if (*len + n + 2 > size)
		return -1;
	if (*len)
		hl[(*len)++] = ':';
	memcpy(hl + *len, name, n);
	*len += n;
	hl[*len] = '\0';
	return 0;
}

/* pick - the names for h=, colon-separated, into hl; NULL, or what is wrong */
static const char *
pick(const struct dkim_msg *m, char *hl, size_t size)
{
	size_t k, i, len = 0, seen[sizeof signed_fields / sizeof *signed_fields];

	hl[0] = '\0';
	memset(seen, 0, sizeof seen);
	for (k = 0; k < m->nfields; k++) {
		const struct dkim_field *f = &m->fields[k];
		const char *text = dkim_msg_field_text(m, f), *name = NULL;
		size_t n = f->name_len;

		for (i = 0; signed_fields[i].name; i++)
			if (dkim_msg_field_is(m, f, signed_fields[i].name,
			    strlen(signed_fields[i].name))) {
				name = signed_fields[i].name;
				seen[i]++;
			}
		if (name == NULL && n > 5 && strncasecmp(text, "List-", 5) == 0) {
			name = text;	/* its own spelling, if it is a clean name */
			for (i = 0; i < n; i++)
				if ((unsigned char)text[i] <= 0x20 ||
				    (unsigned char)text[i] >= 0x7f || text[i] == ';')
					name = NULL;
		}
		if (name != NULL && add(hl, &len, size, name, n) == -1)
			return "too many fields to sign";
	}
	if (seen[0] == 0)
		return "no From field to sign";
	/* oversigned: none of these can be added */
	for (i = 0; signed_fields[i].name; i++)
		if ((seen[i] || signed_fields[i].always) &&
		    add(hl, &len, size, signed_fields[i].name,
		    strlen(signed_fields[i].name)) == -1)
			return "too many fields to sign";
	return NULL;
}

static int
sign_hash(const struct dkim_signer *sg, const unsigned char *md,
    unsigned char *sig, size_t *siglen)
{
	int ok = 0;

	if (sg->alg == DKIM_ED25519_SHA256) {
		/* RFC 8463: PureEdDSA over the SHA-256 of the header data */
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		ok = ctx != NULL &&
		    EVP_DigestSignInit(ctx, NULL, NULL, NULL, sg->key) == 1 &&
		    EVP_DigestSign(ctx, sig, siglen, md, DKIM_SHA256_LEN) == 1;
		EVP_MD_CTX_free(ctx);
	} else {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(sg->key, NULL);

		ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
		    EVP_PKEY_sign(ctx, sig, siglen, md, DKIM_SHA256_LEN) == 1;
		EVP_PKEY_CTX_free(ctx);
	}
	return ok ? 0 : -1;
}

int
dkim_sign_field(struct dkim_sign *s, const struct dkim_signer *sg,
    uint64_t now, uint64_t expire, struct buf *out, const char **err)
{
	char hl[DKIM_H_MAX + 1], num[24], bh[BASE64_ENCODED_LEN(DKIM_SHA256_LEN)];
	char b64[BASE64_ENCODED_LEN(DKIM_SIG_MAX)];
	unsigned char md[DKIM_SHA256_LEN], sig[DKIM_SIG_MAX];
	size_t siglen = sizeof sig, start = out->len, n, done, p, e;
	struct fold f = { out, 0, 0 };

	if (s->state != 1) {
		*err = "the message could not be read (header too large?)";
		return -1;
	}
	if ((*err = pick(&s->msg, hl, sizeof hl)) != NULL)
		return -1;
	put(&f, "DKIM-Signature:", 15);
	tag(&f, "v", "1");
	tag(&f, "a", dkim_alg_name(sg->alg));
	tag(&f, "c", "relaxed/relaxed");
	tag(&f, "d", sg->domain);
	tag(&f, "s", sg->selector);
	snprintf(num, sizeof num, "%llu", (unsigned long long)now);
	tag(&f, "t", num);
	if (expire > 0) {
		snprintf(num, sizeof num, "%llu", (unsigned long long)(now + expire));
		tag(&f, "x", num);
	}
	/* h=: a fold may come after any colon */
	for (p = 0; hl[p]; p = e + 1) {
		char name[DKIM_H_MAX + 4];

		e = p + strcspn(hl + p, ":");
		n = (size_t)snprintf(name, sizeof name, "%s%.*s%c",
		    p == 0 ? "h=" : "", (int)(e - p), hl + p, hl[e] ? ':' : ';');
		token(&f, name, n, p == 0);
		if (hl[e] == '\0')
			break;
	}
	base64_encode(dkim_body_digest(s->body), DKIM_SHA256_LEN, bh);
	tag(&f, "bh", bh);
	/* b= last and empty for the hash; its value is not preceded by
	 * blanks, so whichever way a verifier cuts it out, it gets this */
	if (f.col + 1 + 2 + 8 > FOLD_AT)
		newline(&f);
	else
		put(&f, " ", 1);
	put(&f, "b=", 2);
	if (f.err || dkim_header_hash(&s->msg, DKIM_CANON_RELAXED, hl,
	    out->data + start, out->len - start, md) == -1 ||
	    sign_hash(sg, md, sig, &siglen) == -1) {
		out->len = start;
		*err = f.err ? "out of memory" : "signing failed (OpenSSL)";
		return -1;
	}
	n = base64_encode(sig, siglen, b64);
	for (done = 0; done < n;) {
		size_t room;

		if (f.col >= FOLD_AT)
			newline(&f);
		room = FOLD_AT - f.col;
		if (room > n - done)
			room = n - done;
		put(&f, b64 + done, room);
		done += room;
	}
	put(&f, "\r\n", 2);
	if (f.err) {
		out->len = start;
		*err = "out of memory";
		return -1;
	}
	return 0;
}

void
dkim_sign_free(struct dkim_sign *s)
{
	if (s == NULL)
		return;
	dkim_msg_free(&s->msg);
	dkim_body_free(s->body);
	free(s);
}
