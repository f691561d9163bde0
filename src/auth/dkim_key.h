/*
 * dkim_key - the DKIM public key record (RFC 6376 section 3.6.1, RFC
 * 8463 for Ed25519) as published in the TXT record at
 * SELECTOR._domainkey.DOMAIN: v=DKIM1 (first, if present), k=rsa or
 * ed25519 (default rsa), h= acceptable hashes, s= service types, t=
 * flags (y: testing, s: i= must be d= exactly), p= the key (empty:
 * revoked). RSA keys are SubjectPublicKeyInfo (or a bare RSAPublicKey),
 * Ed25519 keys the 32 raw octets.
 */
#ifndef SALLYPORT_DKIM_KEY_H
#define SALLYPORT_DKIM_KEY_H

#include <stddef.h>

#include <openssl/evp.h>

#define DKIM_KEY_RECORD_MAX	8192	/* longer TXT records are refused */

enum dkim_key_type { DKIM_KEY_RSA, DKIM_KEY_ED25519 };

struct dkim_key {
	enum dkim_key_type type;
	EVP_PKEY	*pkey;		/* NULL when revoked */
	int		 revoked;	/* p= was empty */
	unsigned	 bits;		/* RSA modulus size; 256 for Ed25519 */
	int		 testing;	/* t=y */
	int		 strict_i;	/* t=s */
	int		 sha256_ok;	/* h= absent or naming sha256 */
	int		 email_ok;	/* s= absent, "*" or naming email */
};

/* Parse one record (its character-strings already joined, RFC 6376
 * 3.6.2.2). Returns 0, or -1 with *err a static description. On success
 * the caller owns k->pkey (dkim_key_clear frees it). */
int	dkim_key_parse(const char *rec, size_t len, struct dkim_key *k,
	    const char **err);
void	dkim_key_clear(struct dkim_key *);

/* The record to publish for a key (RSA or Ed25519; its public part):
 * the zone-file line "SELECTOR._domainkey.DOMAIN. IN TXT ( "v=DKIM1;
 * k=rsa; p=..." )", the value cut into character-strings of at most 255
 * octets (RFC 1035 3.3.14, RFC 6376 3.6.2.2). p= holds the
 * SubjectPublicKeyInfo for RSA (RFC 6376 3.6.1), the 32 raw octets for
 * Ed25519 (RFC 8463 4.2). malloc'd; NULL when OpenSSL fails. */
char	*dkim_key_record(EVP_PKEY *, const char *selector, const char *domain);
/* Do a and b hold the same public key? */
int	dkim_key_same(EVP_PKEY *a, EVP_PKEY *b);

#endif
