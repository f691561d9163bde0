/*
 * dkim_sign - DKIM signing of our own mail (RFC 6376, RFC 8463 for
 * Ed25519, RFC 8301 for key sizes).
 *
 * A signer is a domain, a selector and a private key: RSA of 2048 bits
 * or more (rsa-sha256) or Ed25519 (ed25519-sha256). A message is signed
 * in one pass however many signers there are (dual RSA + Ed25519
 * signing): it is fed as it streams in, its header kept (bounded), its
 * body hashed on the fly and never kept; at the end each signer makes
 * its DKIM-Signature field, to be put above the message's header.
 *
 *	struct dkim_sign *s = dkim_sign_new(DKIM_MAX_HEADER, DKIM_MAX_FIELDS);
 *	dkim_sign_feed(s, chunk, len)...;	(dot-unstuffed, CRLF)
 *	dkim_sign_end(s);
 *	dkim_sign_field(s, signer, time(NULL), 0, &out, &err)...;
 *	dkim_sign_free(s);
 *
 * What is signed: c=relaxed/relaxed, t=, no l=; h= lists every
 * occurrence of From, To, Cc, Subject, Date, Message-ID, Reply-To,
 * In-Reply-To, References, MIME-Version, Content-Type,
 * Content-Transfer-Encoding and List-* present, and From once more than
 * it occurs (oversigned, so that no From can be added). The field is
 * folded under 78 columns.
 */
#ifndef SALLYPORT_DKIM_SIGN_H
#define SALLYPORT_DKIM_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "auth/dkim_msg.h"	/* DKIM_MAX_HEADER, DKIM_MAX_FIELDS */
#include "lib/buf.h"

#define DKIM_RSA_MIN_SIGN_BITS	2048

struct dkim_signer;
struct dkim_sign;

/* Read a PEM private key (as "openssl genpkey" writes it) from memory.
 * NULL with *err set when it is not one. */
EVP_PKEY *dkim_key_from_pem(const char *pem, size_t len, const char **err);
/* A signer for domain and selector with key (RSA >= 2048 bits, or
 * Ed25519; the signer takes a reference of its own). NULL with *err set
 * when the key will not do or a name is not a domain name. */
struct dkim_signer *dkim_signer_new(const char *domain, const char *selector,
	    EVP_PKEY *key, const char **err);
/* "rsa-sha256" or "ed25519-sha256" */
const char *dkim_signer_alg(const struct dkim_signer *);
void	dkim_signer_free(struct dkim_signer *);

/* One message being signed; NULL when out of memory. */
struct dkim_sign *dkim_sign_new(size_t max_header, size_t max_fields);
/* The next bytes of the message. 0, or -1 when the header is past its
 * bounds (or OpenSSL failed): the message cannot be signed. */
int	dkim_sign_feed(struct dkim_sign *, const void *data, size_t len);
/* End of message. 0 or -1. */
int	dkim_sign_end(struct dkim_sign *);
/* Append the signer's "DKIM-Signature: ...\r\n" field to out, with t=now
 * and, when expire > 0, x=now+expire. Returns 0, or -1 with *err set
 * (no From field, too many fields to sign, the header was too
 * large, OpenSSL failed). */
int	dkim_sign_field(struct dkim_sign *, const struct dkim_signer *,
	    uint64_t now, uint64_t expire, struct buf *out, const char **err);
void	dkim_sign_free(struct dkim_sign *);

#endif
