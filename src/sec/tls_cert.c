/*
 * tls_cert - a certificate chain file looked at: names, expiry, the
 * digest of the key, the chain verified against a CA store (OpenSSL's
 * own verifier and name check, as a client of ours would use them).
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sec/tls_cert.h"

struct tls_cert {
	X509		*leaf;
	STACK_OF(X509)	*chain;		/* the certificates after the leaf */
};

struct tls_cert *
tls_cert_load(const char *path, char *err, size_t errlen)
{
	struct tls_cert	*c;
	FILE		*f;
	X509		*x;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot open", path);
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->chain = sk_X509_new_null()) == NULL) {
		free(c);
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->leaf = PEM_read_X509(f, NULL, NULL, NULL);
	while (c->leaf != NULL &&
	    (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
		if (sk_X509_push(c->chain, x) == 0) {
			X509_free(x);
			break;
		}
	fclose(f);
	ERR_clear_error();	/* the end of the file reads as an error */
	if (c->leaf == NULL) {
		snprintf(err, errlen, "%s: no certificate in it (PEM "
		    "expected)", path);
		tls_cert_free(c);
		return NULL;
	}
	return c;
}

void
tls_cert_free(struct tls_cert *c)
{
	if (c == NULL)
		return;
	X509_free(c->leaf);
	sk_X509_pop_free(c->chain, X509_free);
	free(c);
}

time_t
tls_cert_not_after(const struct tls_cert *c)
{
	struct tm	 tm;

	if (ASN1_TIME_to_tm(X509_get0_notAfter(c->leaf), &tm) != 1)
		return 0;
	return timegm(&tm);
}

/* cert_name - an ASN.1 string as printable ASCII into out[256]; false
 * when it holds anything else */
static bool
cert_name(const ASN1_STRING *s, char out[256])
{
	const unsigned char *p = ASN1_STRING_get0_data(s);
	int	 len = ASN1_STRING_length(s), i;

	if (len <= 0 || len > 255)
		return false;
	for (i = 0; i < len; i++) {
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			return false;
		out[i] = (char)p[i];
	}
	out[len] = '\0';
	return true;
}

size_t
tls_cert_names(const struct tls_cert *c, char out[][256], size_t max)
{
	GENERAL_NAMES	*sans;
	X509_NAME	*subj;
	size_t		 n = 0;
	int		 i;

	sans = X509_get_ext_d2i(c->leaf, NID_subject_alt_name, NULL, NULL);
	if (sans != NULL) {
		for (i = 0; i < sk_GENERAL_NAME_num(sans) && n < max; i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);

			if (g->type == GEN_DNS && cert_name(g->d.dNSName, out[n]))
				n++;
		}
		GENERAL_NAMES_free(sans);
		return n;
	}
	subj = X509_get_subject_name(c->leaf);
	if (max > 0 && (i = X509_NAME_get_index_by_NID(subj, NID_commonName,
	    -1)) >= 0 && cert_name(X509_NAME_ENTRY_get_data(
	    X509_NAME_get_entry(subj, i)), out[0]))
		n = 1;
	return n;
}

bool
tls_cert_has_name(const struct tls_cert *c, const char *host)
{
	return X509_check_host(c->leaf, host, 0,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
}

int
tls_cert_verify(const struct tls_cert *c, const char *ca_file, char *why,
    size_t whylen)
{
	X509_STORE	*store = X509_STORE_new();
	X509_STORE_CTX	*ctx = X509_STORE_CTX_new();
	int		 rc = -1;

	snprintf(why, whylen, "out of memory");
	if (store == NULL || ctx == NULL)
		goto done;
	if ((ca_file != NULL ? X509_STORE_load_file(store, ca_file) :
	    X509_STORE_set_default_paths(store)) != 1) {
		snprintf(why, whylen, "cannot read the CA certificates of %s",
		    ca_file != NULL ? ca_file : "the system store");
		goto done;
	}
	if (X509_STORE_CTX_init(ctx, store, c->leaf, c->chain) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER) != 1)
		goto done;
	if (X509_verify_cert(ctx) == 1)
		rc = 0;
	else
		snprintf(why, whylen, "%s", X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx)));
done:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

int
tls_cert_spki_sha256(const struct tls_cert *c, char hex[65])
{
	unsigned char	*der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned	 mdlen = 0, i;
	int		 len;

	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(c->leaf), &der);
	if (len <= 0)
		return -1;
	if (EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32) {
		OPENSSL_free(der);
		return -1;
	}
	OPENSSL_free(der);
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02X", md[i]);
	return 0;
}
