/*
 * dkim_key - the DKIM key record parser (see dkim_key.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/x509.h>

#include "auth/dkim_key.h"
#include "auth/dkim_tag.h"
#include "lib/base64.h"

static int
make_rsa(const unsigned char *der, size_t len, struct dkim_key *k)
{
	const unsigned char *p = der;
	EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)len);

	if (pk == NULL || p != der + len) {
		EVP_PKEY_free(pk);
		/* a few signers publish the PKCS#1 RSAPublicKey alone */
		p = der;
		pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)len);
		if (pk == NULL || p != der + len) {
			EVP_PKEY_free(pk);
			return -1;
		}
	}
	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
		EVP_PKEY_free(pk);
		return -1;
	}
	k->pkey = pk;
	k->bits = (unsigned)EVP_PKEY_get_bits(pk);
	return 0;
}

int
dkim_key_parse(const char *rec, size_t len, struct dkim_key *k,
    const char **err)
{
	char b64[DKIM_KEY_RECORD_MAX + 1];
	unsigned char der[DKIM_KEY_RECORD_MAX];
	struct dkim_tags tags;
	const struct dkim_tag *t;
	long n;

	memset(k, 0, sizeof *k);
	if (len > DKIM_KEY_RECORD_MAX) {
		*err = "key record too long";
		return -1;
	}
	if (dkim_tags_parse(rec, len, &tags, err) == -1)
		return -1;
	if ((t = dkim_tags_get(&tags, "v")) != NULL &&
	    (t != &tags.tag[0] || !dkim_tag_is(t, "DKIM1"))) {
		*err = "v= is not DKIM1 or not first";
		return -1;
	}
	k->type = DKIM_KEY_RSA;
	if ((t = dkim_tags_get(&tags, "k")) != NULL) {
		if (dkim_tag_is(t, "rsa"))
			k->type = DKIM_KEY_RSA;
		else if (dkim_tag_is(t, "ed25519"))
			k->type = DKIM_KEY_ED25519;
		else {
			*err = "unknown key type (k=)";
			return -1;
		}
	}
	t = dkim_tags_get(&tags, "h");
	k->sha256_ok = t == NULL || dkim_tag_list_has(t->value, t->value_len, "sha256");
	t = dkim_tags_get(&tags, "s");
	k->email_ok = t == NULL || dkim_tag_list_has(t->value, t->value_len, "*") ||
	    dkim_tag_list_has(t->value, t->value_len, "email");
	if ((t = dkim_tags_get(&tags, "t")) != NULL) {
		k->testing = dkim_tag_list_has(t->value, t->value_len, "y");
		k->strict_i = dkim_tag_list_has(t->value, t->value_len, "s");
	}
	if ((t = dkim_tags_get(&tags, "p")) == NULL) {
		*err = "no p= in the key record";
		return -1;
	}
	if ((n = dkim_tag_compact(t, b64, sizeof b64)) < 0) {
		*err = "p= too long";
		return -1;
	}
	if (n == 0) {
		k->revoked = 1;
		return 0;
	}
	if ((n = base64_decode(b64, (size_t)n, der)) < 0) {
		*err = "p= is not base64";
		return -1;
	}
	if (k->type == DKIM_KEY_ED25519) {
		if (n != 32 || (k->pkey = EVP_PKEY_new_raw_public_key(
		    EVP_PKEY_ED25519, NULL, der, 32)) == NULL) {
			*err = "p= is not an Ed25519 key";
			return -1;
		}
		k->bits = 256;
		return 0;
	}
	if (make_rsa(der, (size_t)n, k) == -1) {
		*err = "p= is not an RSA public key";
		return -1;
	}
	return 0;
}

void
dkim_key_clear(struct dkim_key *k)
{
	EVP_PKEY_free(k->pkey);
	k->pkey = NULL;
}

#define TXT_STRING_MAX	255	/* octets in one character-string */

/* public_b64 - the p= value of a key; malloc'd */
static char *
public_b64(EVP_PKEY *pkey, int rsa)
{
	unsigned char *der = NULL, raw[32];
	size_t	 len = sizeof(raw);
	char	*out = NULL;
	int	 n;

	if (rsa) {
		if ((n = i2d_PUBKEY(pkey, &der)) <= 0)
			return NULL;
		len = (size_t)n;
	} else if (EVP_PKEY_get_raw_public_key(pkey, raw, &len) != 1)
		return NULL;
	if ((out = malloc(4 * ((len + 2) / 3) + 1)) != NULL)
		base64_encode(rsa ? der : raw, len, out);
	OPENSSL_free(der);
	return out;
}

char *
dkim_key_record(EVP_PKEY *pkey, const char *selector, const char *domain)
{
	int	 rsa = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA;
	char	*p, *value = NULL, *out = NULL;
	size_t	 len, off, k, o, cap;
	int	 w;

	if ((p = public_b64(pkey, rsa)) == NULL)
		return NULL;
	len = strlen(p) + 32;
	if ((value = malloc(len)) == NULL)
		goto done;
	snprintf(value, len, "v=DKIM1; k=%s; p=%s", rsa ? "rsa" : "ed25519",
	    p);
	len = strlen(value);
	/* The name, then each string with its quotes and a blank. */
	cap = strlen(selector) + strlen(domain) + 64 + len +
	    4 * (len / TXT_STRING_MAX + 1);
	if ((out = malloc(cap)) == NULL)
		goto done;
	w = snprintf(out, cap, "%s._domainkey.%s. IN TXT (", selector, domain);
	o = (size_t)w;
	for (off = 0; off < len; off += k) {
		k = len - off < TXT_STRING_MAX ? len - off : TXT_STRING_MAX;
		w = snprintf(out + o, cap - o, " \"%.*s\"", (int)k, value + off);
		o += (size_t)w;
	}
	snprintf(out + o, cap - o, " )");
done:
	free(p);
	free(value);
	return out;
}

int
dkim_key_same(EVP_PKEY *a, EVP_PKEY *b)
{
	return a != NULL && b != NULL && EVP_PKEY_eq(a, b) == 1;
}
