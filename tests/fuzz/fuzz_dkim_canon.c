/*
 * fuzz_dkim_canon - the streaming body canonicalization: for "simple"
 * and "relaxed", the input fed at once, byte by byte and in pieces whose
 * length byte 0 picks gives the same hash and length as a plain
 * whole-buffer reading of RFC 6376 3.4.3 and 3.4.4 (below, written the
 * obvious way); and the header canonicalizations never fault.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth/dkim_canon.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* reference - the canonical body of in, into out (room for 2 * len + 2) */
static size_t
reference(enum dkim_canon c, const char *in, size_t len, char *out)
{
	size_t o = 0, i = 0;

	while (i < len) {
		const char *crlf = NULL;
		size_t end, k;
		int space = 0;

		for (k = i; k + 1 < len; k++)
			if (in[k] == '\r' && in[k + 1] == '\n') {
				crlf = in + k;
				break;
			}
		end = crlf ? (size_t)(crlf - in) : len;
		for (k = i; k < end; k++) {
			if (c == DKIM_CANON_RELAXED && (in[k] == ' ' || in[k] == '\t')) {
				space = 1;
				continue;
			}
			if (space)
				out[o++] = ' ';
			space = 0;
			out[o++] = in[k];
		}
		if (space && crlf == NULL)	/* white space ending an unterminated line */
			out[o++] = ' ';
		if (crlf) {
			out[o++] = '\r';
			out[o++] = '\n';
			i = end + 2;
		} else {
			i = len;
		}
	}
	while (o >= 2 && out[o - 2] == '\r' && out[o - 1] == '\n')
		o -= 2;		/* empty lines at the end */
	if (o > 0 || c == DKIM_CANON_SIMPLE) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	return o;
}

static void
stream(enum dkim_canon c, const char *in, size_t len, size_t step,
    unsigned char md[DKIM_SHA256_LEN], uint64_t *n)
{
	struct dkim_body *b = dkim_body_new(c, DKIM_NO_LIMIT);
	size_t off = 0, k;

	if (b == NULL)
		abort();
	while (off < len) {
		k = step == 0 || step > len - off ? len - off : step;
		if (dkim_body_update(b, in + off, k) != 0)
			abort();
		off += k;
	}
	if (dkim_body_final(b) != 0)
		abort();
	memcpy(md, dkim_body_digest(b), DKIM_SHA256_LEN);
	*n = dkim_body_length(b);
	dkim_body_free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data + (size ? 1 : 0);
	size_t len = size ? size - 1 : 0, steps[3], s;
	char *ref = malloc(2 * len + 4);
	int c;

	if (ref == NULL)
		return 0;
	steps[0] = 0;
	steps[1] = 1;
	steps[2] = size ? (size_t)data[0] % 17 + 1 : 1;
	for (c = DKIM_CANON_SIMPLE; c <= DKIM_CANON_RELAXED; c++) {
		unsigned char want[DKIM_SHA256_LEN], got[DKIM_SHA256_LEN];
		unsigned int mdlen;
		size_t rlen = reference((enum dkim_canon)c, in, len, ref);
		uint64_t n;
		struct buf h;

		EVP_Digest(ref, rlen, want, &mdlen, EVP_sha256(), NULL);
		for (s = 0; s < 3; s++) {
			stream((enum dkim_canon)c, in, len, steps[s], got, &n);
			if (n != rlen || memcmp(got, want, DKIM_SHA256_LEN) != 0)
				abort();
		}
		buf_init(&h, 3 * len + 16);
		if (dkim_canon_header((enum dkim_canon)c, in, len, &h) != 0 ||
		    h.len < 2 || memcmp(h.data + h.len - 2, "\r\n", 2) != 0)
			abort();
		buf_free(&h);
	}
	free(ref);
	return 0;
}
