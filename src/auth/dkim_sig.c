/*
 * dkim_sig - DKIM-Signature parsing and checking, and the header hash
 * (see dkim_sig.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "auth/dkim_sig.h"
#include "auth/dkim_tag.h"
#include "lib/base64.h"

const char *
dkim_alg_name(enum dkim_alg a)
{
	switch (a) {
	case DKIM_RSA_SHA256:		return "rsa-sha256";
	case DKIM_ED25519_SHA256:	return "ed25519-sha256";
	case DKIM_RSA_SHA1:		return "rsa-sha1";
	}
	return "?";
}

/* domain - copy a d= or s= value: labels of letters, digits, "-" and
 * "_" (selectors may have several labels), lower-cased; "" if not one */
static int
domain(const struct dkim_tag *t, char *out, size_t size)
{
	size_t i;

	out[0] = '\0';
	if (t->value_len >= size || !dkim_tag_domain(t->value, t->value_len))
		return -1;
	for (i = 0; i < t->value_len; i++) {
		char c = t->value[i];

		out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[i] = '\0';
	return 0;
}

/* number - a decimal tag value of at most 19 digits */
static int
number(const struct dkim_tag *t, uint64_t *v)
{
	size_t i;

	if (t->value_len == 0 || t->value_len > 19)
		return -1;
	*v = 0;
	for (i = 0; i < t->value_len; i++) {
		if (t->value[i] < '0' || t->value[i] > '9')
			return -1;
		*v = *v * 10 + (uint64_t)(t->value[i] - '0');
	}
	return 0;
}

static int
canon_word(const char *s, size_t n, enum dkim_canon *c)
{
	if (n == 6 && memcmp(s, "simple", 6) == 0)
		*c = DKIM_CANON_SIMPLE;
	else if (n == 7 && memcmp(s, "relaxed", 7) == 0)
		*c = DKIM_CANON_RELAXED;
	else
		return -1;
	return 0;
}

/* hlist - check the compacted h= list: names of printable characters,
 * none empty, From among them (RFC 6376 5.4) */
static const char *
hlist(const char *h)
{
	const char *p = h;
	int from = 0;

	for (;;) {
		const char *e = strchr(p, ':');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		size_t i;

		if (n == 0)
			return "empty name in h=";
		for (i = 0; i < n; i++)
			if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e)
				return "bad name in h=";
		if (n == 4 && strncasecmp(p, "from", 4) == 0)
			from = 1;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return from ? NULL : "h= does not sign From";
}

/* i_within_d - the domain of i= is d= or one of its subdomains */
static int
i_within_d(const char *i, const char *d)
{
	const char *at = strrchr(i, '@');
	size_t n, dl = strlen(d);

	if (at == NULL)
		return 0;
	at++;
	n = strlen(at);
	if (n == dl)
		return strcasecmp(at, d) == 0;
	return n > dl && at[n - dl - 1] == '.' && strcasecmp(at + n - dl, d) == 0;
}

static int
b64tag(const struct dkim_tag *t, unsigned char *out, size_t size, size_t *len)
{
	char text[BASE64_ENCODED_LEN(DKIM_SIG_MAX)];
	long n;

	if ((n = dkim_tag_compact(t, text, sizeof text)) <= 0)
		return -1;
	if ((size_t)n / 4 * 3 > size)
		return -1;
	if ((n = base64_decode(text, (size_t)n, out)) < 0)
		return -1;
	*len = (size_t)n;
	return 0;
}

int
dkim_sig_parse(const char *value, size_t len, struct dkim_sig *sig,
    const char **err)
{
	static const char *const required[] = { "v", "a", "b", "bh", "d", "h", "s", NULL };
	struct dkim_tags tags;
	const struct dkim_tag *t;
	size_t i, n;

	memset(sig, 0, sizeof *sig);
	if (dkim_tags_parse(value, len, &tags, err) == -1)
		return -1;
	for (i = 0; required[i]; i++)
		if (dkim_tags_get(&tags, required[i]) == NULL) {
			*err = "a required tag (v a b bh d h s) is missing";
			return -1;
		}
	if (!dkim_tag_is(dkim_tags_get(&tags, "v"), "1")) {
		*err = "v= is not 1";
		return -1;
	}
	t = dkim_tags_get(&tags, "a");
	if (dkim_tag_is(t, "rsa-sha256"))
		sig->alg = DKIM_RSA_SHA256;
	else if (dkim_tag_is(t, "ed25519-sha256"))
		sig->alg = DKIM_ED25519_SHA256;
	else if (dkim_tag_is(t, "rsa-sha1"))
		sig->alg = DKIM_RSA_SHA1;
	else {
		*err = "unknown algorithm (a=)";
		return -1;
	}
	if (domain(dkim_tags_get(&tags, "d"), sig->d, sizeof sig->d) == -1 ||
	    domain(dkim_tags_get(&tags, "s"), sig->s, sizeof sig->s) == -1) {
		*err = "d= or s= is not a domain name";
		return -1;
	}
	if (strlen(sig->s) + strlen(sig->d) + 12 > DKIM_DOMAIN_MAX) {
		*err = "s= and d= make too long a name";
		return -1;
	}
	sig->hcanon = sig->bcanon = DKIM_CANON_SIMPLE;
	if ((t = dkim_tags_get(&tags, "c")) != NULL) {
		const char *slash = memchr(t->value, '/', t->value_len);
		size_t hl = slash ? (size_t)(slash - t->value) : t->value_len;

		if (canon_word(t->value, hl, &sig->hcanon) == -1 ||
		    (slash && canon_word(slash + 1, t->value_len - hl - 1,
		    &sig->bcanon) == -1)) {
			*err = "unknown canonicalization (c=)";
			return -1;
		}
	}
	if ((t = dkim_tags_get(&tags, "q")) != NULL &&
	    !dkim_tag_list_has(t->value, t->value_len, "dns/txt")) {
		*err = "q= does not allow dns/txt";
		return -1;
	}
	if (dkim_tag_compact(dkim_tags_get(&tags, "h"), sig->h, sizeof sig->h) < 0) {
		*err = "h= too long";
		return -1;
	}
	if ((*err = hlist(sig->h)) != NULL)
		return -1;
	if ((t = dkim_tags_get(&tags, "i")) != NULL) {
		if (t->value_len > DKIM_IDENTITY_MAX) {
			*err = "i= too long";
			return -1;
		}
		memcpy(sig->i, t->value, t->value_len);
		sig->i[t->value_len] = '\0';
		if (!i_within_d(sig->i, sig->d)) {
			*err = "i= is not within d=";
			return -1;
		}
	}
	if (((t = dkim_tags_get(&tags, "l")) != NULL &&
	    (sig->has_l = 1, number(t, &sig->l) == -1)) ||
	    ((t = dkim_tags_get(&tags, "t")) != NULL &&
	    (sig->has_t = 1, number(t, &sig->t) == -1)) ||
	    ((t = dkim_tags_get(&tags, "x")) != NULL &&
	    (sig->has_x = 1, number(t, &sig->x) == -1))) {
		*err = "l=, t= or x= is not a number";
		return -1;
	}
	if (sig->has_t && sig->has_x && sig->x < sig->t) {
		*err = "x= is before t=";
		return -1;
	}
	t = dkim_tags_get(&tags, "bh");
	if (b64tag(t, sig->b, sizeof sig->b, &n) == -1 ||
	    n != (sig->alg == DKIM_RSA_SHA1 ? 20 : DKIM_SHA256_LEN)) {
		*err = "bh= is not a hash";
		return -1;
	}
	if (sig->alg != DKIM_RSA_SHA1)
		memcpy(sig->bh, sig->b, DKIM_SHA256_LEN);
	t = dkim_tags_get(&tags, "b");
	if (b64tag(t, sig->b, sizeof sig->b, &sig->blen) == -1) {
		*err = "b= is not base64";
		return -1;
	}
	dkim_tag_compact(t, sig->b_prefix, sizeof sig->b_prefix);
	sig->b_eq_off = t->eq_off;
	sig->b_end_off = t->end_off;
	return 0;
}

int
dkim_header_hash(const struct dkim_msg *m, enum dkim_canon c,
    const char *hl, const char *sigfield, size_t siglen,
    unsigned char md[DKIM_SHA256_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *used = calloc(m->nfields + 1, 1);
	struct buf out;
	const char *p = hl;
	unsigned int mdlen = 0;
	int ok = 0;

	buf_init(&out, m->hdr.max + siglen + 1024);
	if (ctx == NULL || used == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto done;
	while (*p) {
		const char *e = strchr(p, ':');
		size_t n = e ? (size_t)(e - p) : strlen(p), k;

		for (k = m->nfields; k-- > 0;) {
			const struct dkim_field *f = &m->fields[k];

			if (used[k] || !dkim_msg_field_is(m, f, p, n))
				continue;
			used[k] = 1;
			buf_reset(&out);
			if (dkim_canon_header(c, dkim_msg_field_text(m, f), f->len,
			    &out) == -1 ||
			    EVP_DigestUpdate(ctx, out.data, out.len) != 1)
				goto done;
			break;		/* none left: the name adds nothing */
		}
		p += n;
		if (*p == ':')
			p++;
	}
	buf_reset(&out);
	if (dkim_canon_header(c, sigfield, siglen, &out) == -1 ||
	    EVP_DigestUpdate(ctx, out.data, out.len - 2) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != DKIM_SHA256_LEN)
		goto done;
	ok = 1;
done:
	buf_free(&out);
	free(used);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}
