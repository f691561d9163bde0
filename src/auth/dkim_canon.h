/*
 * dkim_canon - the canonicalizations of RFC 6376 section 3.4: "simple"
 * and "relaxed" for one header field, and for the body a streaming
 * SHA-256 hasher.
 *
 * The body hasher is fed the body in chunks of any size, as it arrives
 * (dot-unstuffed, CRLF line ends), and never holds it: its state is a
 * count of held-back empty lines, a pending CR and a pending run of white
 * space, so trailing empty lines and white space that straddle a chunk
 * boundary come out as they would from the whole body at once. Only CRLF
 * ends a line; a bare CR or LF is an ordinary character, as in RFC 6376.
 */
#ifndef SALLYPORT_DKIM_CANON_H
#define SALLYPORT_DKIM_CANON_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

enum dkim_canon { DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED };

#define DKIM_NO_LIMIT	UINT64_MAX	/* no l= */
#define DKIM_SHA256_LEN	32

/* Append field's canonical form, CRLF-terminated, to out. field is one
 * whole header field as it appeared ("Name: value", folded lines and
 * all), without its final CRLF. Returns 0 or -1 (out is full). */
int	dkim_canon_header(enum dkim_canon, const char *field, size_t len,
	    struct buf *out);

struct dkim_body;

/* A body hasher for canonicalization c that hashes at most limit bytes
 * of the canonical body (DKIM_NO_LIMIT: all). NULL when out of memory. */
struct dkim_body *dkim_body_new(enum dkim_canon c, uint64_t limit);
/* Hash the next len bytes of the body. Returns 0 or -1 (OpenSSL). */
int	dkim_body_update(struct dkim_body *, const void *data, size_t len);
/* End of body: the SHA-256 of the canonical body (its first limit
 * bytes) is computed. Returns 0 or -1. Call once. */
int	dkim_body_final(struct dkim_body *);
/* That SHA-256 (DKIM_SHA256_LEN bytes), after dkim_body_final. */
const unsigned char *dkim_body_digest(const struct dkim_body *);
/* Length of the whole canonical body (valid after dkim_body_final):
 * with l=, what the verifier compares the limit with. */
uint64_t dkim_body_length(const struct dkim_body *);
enum dkim_canon dkim_body_canon(const struct dkim_body *);
uint64_t dkim_body_limit(const struct dkim_body *);
void	dkim_body_free(struct dkim_body *);

#endif
