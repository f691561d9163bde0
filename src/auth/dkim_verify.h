/*
 * dkim_verify - DKIM verification of every signature on a message (RFC
 * 6376 section 6, RFC 8463, RFC 8301), without I/O.
 *
 * The message is fed as it streams in; once its header is complete the
 * verifier knows its signatures and which key each one needs, and the
 * caller looks the keys up (TXT at SELECTOR._domainkey.DOMAIN) while the
 * body is still arriving, answering with the records, NXDOMAIN or a
 * temporary failure. Each body hash is computed on the fly (one hasher
 * per canonicalization and l= pair, however many signatures share it);
 * the body is never kept.
 *
 *	struct dkim_verify_opts o;  dkim_verify_defaults(&o, time(NULL));
 *	struct dkim_verify *v = dkim_verify_new(&o);
 *	dkim_verify_feed(v, chunk, len)...;	(dot-unstuffed, CRLF)
 *	dkim_verify_end(v);
 *	for (i = 0; i < dkim_verify_count(v); i++)
 *		if ((q = dkim_verify_query(v, i)) != NULL)
 *			... look q up, then dkim_verify_answer(v, i, ...);
 *	dkim_verify_result(v, i)->status ... (DKIM_PENDING until both the
 *	    body and the key are in; dkim_verify_done(v) when none is)
 *	dkim_verify_free(v);
 *
 * Queries may be asked and answered as soon as dkim_verify_header_done()
 * is true; answers and the end of the message may come in either order.
 * No signature at all (count 0) is dkim=none. Only the first
 * max_signatures DKIM-Signature fields are looked at (RFC 6376 6.1 lets
 * a verifier limit them). A header past max_header or max_fields makes
 * dkim_verify_feed fail: the message cannot be checked (record it as
 * dkim=neutral, or refuse it for size).
 */
#ifndef SALLYPORT_DKIM_VERIFY_H
#define SALLYPORT_DKIM_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#define DKIM_RSA_MIN_VERIFY_BITS	1024	/* RFC 8301 */
#define DKIM_MAX_SIGNATURES		8

/* RFC 8601's dkim results (none is a count of 0) */
enum dkim_status {
	DKIM_PENDING,		/* key or body still to come */
	DKIM_PASS,
	DKIM_FAIL,		/* did not verify, key revoked, expired, rsa-sha1,
				 * RSA key under 1024 bits */
	DKIM_NEUTRAL,		/* not evaluated */
	DKIM_TEMPERROR,		/* the key lookup failed for now */
	DKIM_PERMERROR,		/* malformed signature or key record, no key,
				 * key not for this signature, l= past the body */
	DKIM_POLICY		/* verified, but l= left part of the body
				 * unsigned and the options refuse that */
};

/* The caller's answer to a key query. */
enum dkim_dns { DKIM_DNS_OK, DKIM_DNS_NXDOMAIN, DKIM_DNS_TEMPFAIL };

struct dkim_result {
	enum dkim_status status;
	char		 reason[96];	/* why, for a comment or a log; "" on pass */
	char		 domain[254];	/* d=, lower-cased (header.d) */
	char		 selector[254];	/* s= (header.s) */
	char		 identity[513];	/* i=, "" when absent (header.i) */
	char		 b_prefix[13];	/* b='s first characters (header.b) */
	const char	*alg;		/* "rsa-sha256", "ed25519-sha256", ... */
	unsigned	 key_bits;	/* of the key used, once known */
	int		 testing;	/* the key record says t=y */
	int		 has_length;	/* l= was present ... */
	uint64_t	 length;	/* ... with this value */
	uint64_t	 body_length;	/* canonical body length (when l= or done) */
};

struct dkim_verify_opts {
	size_t		 max_header;	/* bytes of header kept (DKIM_MAX_HEADER) */
	size_t		 max_fields;	/* fields (DKIM_MAX_FIELDS) */
	size_t		 max_signatures;/* DKIM_MAX_SIGNATURES */
	uint64_t	 now;		/* for x= */
	int		 partial_body_policy;	/* l= shorter than the body gives
						 * policy instead of pass */
};

struct dkim_verify;

void	dkim_verify_defaults(struct dkim_verify_opts *, uint64_t now);
struct dkim_verify *dkim_verify_new(const struct dkim_verify_opts *);
/* The next bytes of the message: 0, or -1 when it cannot be checked
 * (header past its bounds, out of memory). */
int	dkim_verify_feed(struct dkim_verify *, const void *data, size_t len);
/* End of message: 0, or -1 as above. */
int	dkim_verify_end(struct dkim_verify *);
int	dkim_verify_header_done(const struct dkim_verify *);
/* The signatures found (the first max_signatures). */
size_t	dkim_verify_count(const struct dkim_verify *);
/* The TXT name to look up for signature i, or NULL when it needs none
 * (its result is already known, or was answered). */
const char *dkim_verify_query(const struct dkim_verify *, size_t i);
/* The answer for signature i: with DKIM_DNS_OK, the n TXT records found
 * (each one's strings joined, len bytes). */
void	dkim_verify_answer(struct dkim_verify *, size_t i, enum dkim_dns,
	    const char *const *records, const size_t *lens, size_t n);
const struct dkim_result *dkim_verify_result(const struct dkim_verify *, size_t i);
/* 1 when no result is pending any more */
int	dkim_verify_done(const struct dkim_verify *);
const char *dkim_status_name(enum dkim_status);
void	dkim_verify_free(struct dkim_verify *);

#endif
