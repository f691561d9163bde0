/*
 * dkim_canon - header and streaming body canonicalization (RFC 6376
 * section 3.4), see dkim_canon.h.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth/dkim_canon.h"

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* relaxed header (3.4.2): name lower-cased and without the white space
 * around the colon; value unfolded, runs of white space made one space,
 * white space at both ends removed */
static int
canon_header_relaxed(const char *f, size_t len, struct buf *out)
{
	const char *colon = memchr(f, ':', len), *p, *end = f + len;
	size_t nlen, i;
	int space = 0;
	char c;

	if (colon == NULL)	/* not a field: hashed as its text, lower-cased */
		colon = end;
	nlen = (size_t)(colon - f);
	while (nlen > 0 && is_wsp(f[nlen - 1]))
		nlen--;
	for (i = 0; i < nlen; i++) {
		c = f[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (buf_append(out, &c, 1) == -1)
			return -1;
	}
	if (colon < end && buf_append(out, ":", 1) == -1)
		return -1;
	p = colon < end ? colon + 1 : end;
	while (p < end && (is_wsp(*p) || *p == '\r' || *p == '\n'))
		p++;
	for (; p < end; p++) {
		if (*p == '\r' && end - p >= 2 && p[1] == '\n') {
			p++;		/* unfold: CRLF deleted */
			continue;
		}
		if (is_wsp(*p)) {
			space = 1;
			continue;
		}
		if (space && buf_append(out, " ", 1) == -1)
			return -1;
		space = 0;
		if (buf_append(out, p, 1) == -1)
			return -1;
	}
	return buf_append(out, "\r\n", 2);
}

int
dkim_canon_header(enum dkim_canon c, const char *field, size_t len,
    struct buf *out)
{
	if (c == DKIM_CANON_RELAXED)
		return canon_header_relaxed(field, len, out);
	if (buf_append(out, field, len) == -1)
		return -1;
	return buf_append(out, "\r\n", 2);
}

/* --- body ---------------------------------------------------------------- */

#define STAGE	4096

struct dkim_body {
	enum dkim_canon	 canon;
	EVP_MD_CTX	*md;
	uint64_t	 limit;		/* canonical bytes to hash */
	uint64_t	 length;	/* canonical bytes emitted so far */
	uint64_t	 held;		/* CRLFs held back: empty lines, maybe at the end */
	int		 cr;		/* the last byte seen was a CR */
	int		 wsp;		/* relaxed: white space seen, not yet emitted */
	int		 failed;	/* OpenSSL said no */
	unsigned char	 digest[DKIM_SHA256_LEN];	/* once final */
	size_t		 nstage;
	unsigned char	 stage[STAGE];	/* bytes on their way to the digest */
};

struct dkim_body *
dkim_body_new(enum dkim_canon c, uint64_t limit)
{
	struct dkim_body *b = calloc(1, sizeof *b);

	if (b == NULL)
		return NULL;
	b->canon = c;
	b->limit = limit;
	if ((b->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
		dkim_body_free(b);
		return NULL;
	}
	return b;
}

static void
flush(struct dkim_body *b)
{
	if (b->nstage && EVP_DigestUpdate(b->md, b->stage, b->nstage) != 1)
		b->failed = 1;
	b->nstage = 0;
}

/* emit - one byte of canonical body: counted, and hashed within l= */
static void
emit(struct dkim_body *b, unsigned char c)
{
	if (b->length++ >= b->limit)
		return;
	if (b->nstage == STAGE)
		flush(b);
	b->stage[b->nstage++] = c;
}

/* emit_held - the empty lines held back turned out not to be the end */
static void
emit_held(struct dkim_body *b)
{
	for (; b->held > 0; b->held--) {
		emit(b, '\r');
		emit(b, '\n');
	}
}

/* byte - one byte of body that is not part of a CRLF */
static void
byte(struct dkim_body *b, unsigned char c)
{
	if (b->canon == DKIM_CANON_RELAXED && (c == ' ' || c == '\t')) {
		b->wsp = 1;
		return;
	}
	emit_held(b);
	if (b->wsp)
		emit(b, ' ');
	b->wsp = 0;
	emit(b, c);
}

/* crlf - a line ends: held back, since it may be among the last */
static void
crlf(struct dkim_body *b)
{
	b->wsp = 0;	/* relaxed: white space at the end of a line goes */
	b->held++;
}

/* emit_run - n bytes of canonical body at once (the common case) */
static void
emit_run(struct dkim_body *b, const unsigned char *p, size_t n)
{
	uint64_t room = b->length < b->limit ? b->limit - b->length : 0;
	size_t h = (uint64_t)n < room ? n : (size_t)room;

	b->length += n;
	if (h == 0)
		return;
	if (h <= STAGE - b->nstage) {
		memcpy(b->stage + b->nstage, p, h);
		b->nstage += h;
		return;
	}
	flush(b);
	if (EVP_DigestUpdate(b->md, p, h) != 1)
		b->failed = 1;
}

/* ordinary - a byte that canonicalization leaves as it is */
static int
ordinary(const struct dkim_body *b, unsigned char c)
{
	return c != '\r' && (b->canon == DKIM_CANON_SIMPLE || (c != ' ' && c != '\t'));
}

int
dkim_body_update(struct dkim_body *b, const void *data, size_t len)
{
	const unsigned char *p = data, *end = p + len, *q;

	while (p < end) {
		if (!b->cr && ordinary(b, *p)) {
			/* a run of bytes that pass unchanged, in one go */
			for (q = p + 1; q < end && ordinary(b, *q); q++)
				;
			emit_held(b);
			if (b->wsp)
				emit(b, ' ');
			b->wsp = 0;
			emit_run(b, p, (size_t)(q - p));
			p = q;
			continue;
		}
		if (b->cr) {
			b->cr = 0;
			if (*p == '\n') {
				crlf(b);
				p++;
				continue;
			}
			byte(b, '\r');
		}
		if (*p == '\r')
			b->cr = 1;
		else
			byte(b, *p);
		p++;
	}
	return b->failed ? -1 : 0;
}

int
dkim_body_final(struct dkim_body *b)
{
	unsigned int n = 0;

	if (b->cr) {
		b->cr = 0;
		byte(b, '\r');
	}
	if (b->canon == DKIM_CANON_RELAXED && b->wsp) {
		/* white space on a last line without CRLF (a DATA body always
		 * has one): kept as one space, as dkimpy and OpenDKIM do */
		emit_held(b);
		emit(b, ' ');
		b->wsp = 0;
	}
	/* Empty lines at the end are dropped; the last line gets its CRLF.
	 * An empty body is CRLF in simple, nothing in relaxed. */
	b->held = 0;
	if (b->length > 0 || b->canon == DKIM_CANON_SIMPLE) {
		emit(b, '\r');
		emit(b, '\n');
	}
	flush(b);
	if (b->failed || EVP_DigestFinal_ex(b->md, b->digest, &n) != 1 ||
	    n != DKIM_SHA256_LEN)
		return -1;
	return 0;
}

const unsigned char *
dkim_body_digest(const struct dkim_body *b)
{
	return b->digest;
}

uint64_t
dkim_body_length(const struct dkim_body *b)
{
	return b->length;
}

enum dkim_canon
dkim_body_canon(const struct dkim_body *b)
{
	return b->canon;
}

uint64_t
dkim_body_limit(const struct dkim_body *b)
{
	return b->limit;
}

void
dkim_body_free(struct dkim_body *b)
{
	if (b == NULL)
		return;
	EVP_MD_CTX_free(b->md);
	free(b);
}
