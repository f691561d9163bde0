/*
 * srs - the Sender Rewriting Scheme (Shevek's paper; the SRS0/SRS1 forms
 * libsrs2, postsrsd and chasquid use), without I/O.
 *
 * A forward to another domain keeps SPF passing by sending from our own
 * domain, with the original sender folded into the local part:
 *     SRS0=HHHH=TT=orig.domain=orig-local@srs_domain
 * TT is the day number (time / 86400) mod 1024 in two base32 letters,
 * HHHH the first 4 characters of base64(HMAC-SHA1(secret, TT domain
 * local)), all lower-cased so that a hop that changes case breaks
 * nothing. A sender that is an SRS0 address of another forwarder A
 * becomes SRS1, pointing back to A alone (the chain does not grow):
 *     SRS1=HHHH=A==HHHH=TT=orig.domain=orig-local@srs_domain
 * hashed over A and what follows it; an SRS1 sender is signed again,
 * keeping its A. A bounce to such an address is reversed: SRS0 to the
 * original sender, SRS1 to A's SRS0 address; only when the hash verifies
 * under one of the secrets, and SRS0 only when at most SRS_MAX_AGE_DAYS
 * old (postsrsd's 21).
 */
#ifndef SALLYPORT_SRS_H
#define SALLYPORT_SRS_H

#include <stddef.h>
#include <time.h>

#define SRS_HASH_LEN		4
#define SRS_MAX_AGE_DAYS	21

enum srs_result {
	SRS_OK,			/* rewritten / reversed into out */
	SRS_NOT_SRS,		/* not an SRS local part: nothing to do */
	SRS_MALFORMED,		/* SRS0/SRS1 prefix, but not the form */
	SRS_BAD_HASH,		/* no secret signed it (forged) */
	SRS_EXPIRED,		/* older than SRS_MAX_AGE_DAYS */
	SRS_TOO_LONG,		/* the result does not fit in out */
	SRS_ERROR,		/* no secret, or HMAC failed */
};

/* The sender `sender` ("local@domain"; "" is the null sender) rewritten
 * for a forward from srs_domain, signed with secrets[0]. SRS_NOT_SRS
 * when it stays as it is: the null sender, or one without a domain. */
enum srs_result	srs_forward(const char *const *secrets, size_t nsecrets,
		    const char *srs_domain, const char *sender, time_t now,
		    char *out, size_t outlen);

/* The local part `local` of an address at srs_domain reversed into the
 * address it stands for, when one of the secrets signed it. */
enum srs_result	srs_reverse(const char *const *secrets, size_t nsecrets,
		    const char *local, time_t now, char *out, size_t outlen);

/* A short English phrase for r, for a reply or a log line. */
const char	*srs_strerror(enum srs_result r);

#endif
