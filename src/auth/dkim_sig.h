/*
 * dkim_sig - one DKIM-Signature header field (RFC 6376 section 3.5):
 * its tags parsed and checked as section 6.1.1 asks, and the header hash
 * of section 3.7 that signer and verifier both compute.
 */
#ifndef SALLYPORT_DKIM_SIG_H
#define SALLYPORT_DKIM_SIG_H

#include <stddef.h>
#include <stdint.h>

#include "auth/dkim_canon.h"
#include "auth/dkim_msg.h"

#define DKIM_DOMAIN_MAX		253
#define DKIM_SIG_MAX		1024	/* octets of b=: RSA up to 8192 bits */
#define DKIM_H_MAX		2048	/* the h= list, blanks removed */
#define DKIM_IDENTITY_MAX	512

enum dkim_alg { DKIM_RSA_SHA256, DKIM_ED25519_SHA256, DKIM_RSA_SHA1 };

struct dkim_sig {
	enum dkim_alg	 alg;
	enum dkim_canon	 hcanon, bcanon;
	char		 d[DKIM_DOMAIN_MAX + 1];	/* lower-cased */
	char		 s[DKIM_DOMAIN_MAX + 1];
	char		 i[DKIM_IDENTITY_MAX + 1];	/* "" when absent */
	char		 h[DKIM_H_MAX + 1];		/* colon-separated, no blanks */
	unsigned char	 bh[DKIM_SHA256_LEN];
	unsigned char	 b[DKIM_SIG_MAX];
	size_t		 blen;
	char		 b_prefix[13];		/* b='s first characters, for header.b */
	int		 has_l, has_t, has_x;
	uint64_t	 l, t, x;
	size_t		 b_eq_off;	/* in the value: the "=" of b= */
	size_t		 b_end_off;	/* the end of b='s value (";" or end) */
};

/* Parse and check the value of a DKIM-Signature field (the text after
 * its colon). Returns 0, or -1 with *err a static description: the
 * signature is a permerror. a=rsa-sha1 parses (the verifier refuses it). */
int	dkim_sig_parse(const char *value, size_t len, struct dkim_sig *,
	    const char **err);
const char *dkim_alg_name(enum dkim_alg);

/* The header hash (RFC 6376 3.7): the fields named in hlist (colon-
 * separated), each name taking the last occurrence not yet taken, then
 * sigfield (the DKIM-Signature field with b='s value removed) without
 * its CRLF, all in canonicalization c, through SHA-256 into md. 0 or -1. */
int	dkim_header_hash(const struct dkim_msg *, enum dkim_canon c,
	    const char *hlist, const char *sigfield, size_t siglen,
	    unsigned char md[DKIM_SHA256_LEN]);

#endif
