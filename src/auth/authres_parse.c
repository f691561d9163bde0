/*
 * authres_parse - the authserv-id at the start of an existing
 * Authentication-Results field (RFC 8601 2.2), read through CFWS, nested
 * comments and quoted strings, so that one claiming our id is found
 * however a forger spells it.
 */
#include <string.h>
#include <strings.h>

#include "auth/authres.h"

struct cur {
	const char	*p, *end;
};

/* skip - comments (nested) and, when blanks, white space; -1 on a
 * comment unclosed. No bound on the nesting (one count, no recursion):
 * an id that other readers find behind deep comments must be found here
 * too, or a forged claim of ours would be kept as malformed. */
static int
skip(struct cur *c, int blanks)
{
	size_t depth = 0;

	for (; c->p < c->end; c->p++) {
		char ch = *c->p;

		if (ch == '(') {
			depth++;
		} else if (depth > 0 && ch == ')') {
			depth--;
		} else if (depth > 0 && ch == '\\') {
			if (c->p + 1 < c->end)
				c->p++;
		} else if (depth == 0 && (!blanks || (ch != ' ' &&
		    ch != '\t' && ch != '\r' && ch != '\n'))) {
			return 0;
		}
	}
	return depth == 0 ? 0 : -1;
}

/* skip_cfws - white space and comments */
static int
skip_cfws(struct cur *c)
{
	return skip(c, 1);
}

static int
token_char(unsigned char c)
{
	return c > 0x20 && c != 0x7f &&
	    strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* put - one byte of the id; -1 when it does not fit */
static int
put(char *id, size_t idlen, size_t *n, char c)
{
	if (c == '\0' || *n + 1 >= idlen)
		return -1;
	id[(*n)++] = c;
	id[*n] = '\0';
	return 0;
}

/* read_value - a token or a quoted-string (unescaped) into id; with
 * glue, comments inside a token are dropped ("mx(x).example" reads
 * "mx.example"), as a reader that removes comments first reads it */
static int
read_value(struct cur *c, char *id, size_t idlen, int glue)
{
	size_t n = 0;

	if (idlen == 0)
		return -1;
	id[0] = '\0';
	if (c->p < c->end && *c->p == '"') {
		for (c->p++; c->p < c->end; c->p++) {
			if (*c->p == '"') {
				c->p++;
				return n > 0 ? 0 : -1;
			}
			if (*c->p == '\\' && ++c->p == c->end)
				return -1;
			if (*c->p == '\r' || *c->p == '\n')
				continue;	/* folded */
			if (put(id, idlen, &n, *c->p) != 0)
				return -1;
		}
		return -1;
	}
	for (;;) {
		struct cur after;

		while (c->p < c->end && token_char((unsigned char)*c->p))
			if (put(id, idlen, &n, *c->p++) != 0)
				return -1;
		if (!glue || n == 0 || c->p >= c->end || *c->p != '(')
			break;
		after = *c;
		if (skip(&after, 0) != 0 || after.p >= after.end ||
		    !token_char((unsigned char)*after.p))
			break;
		*c = after;
	}
	return n > 0 ? 0 : -1;
}

int
authres_parse_id(const char *v, size_t len, char *id, size_t idlen,
    unsigned *version)
{
	struct cur c = { v, v + len };
	unsigned ver = 0;

	*version = 1;
	if (skip_cfws(&c) != 0 || read_value(&c, id, idlen, 0) != 0)
		return -1;
	/* authres-version = 1*DIGIT [CFWS], before ";" or the end */
	if (skip_cfws(&c) == 0 && c.p < c.end && *c.p >= '0' && *c.p <= '9') {
		struct cur d = c;

		while (d.p < d.end && *d.p >= '0' && *d.p <= '9') {
			if (ver < 100000)
				ver = ver * 10 + (unsigned)(*d.p - '0');
			d.p++;
		}
		if (skip_cfws(&d) == 0 && (d.p == d.end || *d.p == ';'))
			*version = ver;
	}
	return 0;
}

/* same_id - case-insensitive, a final dot ignored on either side */
static int
same_id(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && la > 0 && strncasecmp(a, b, la) == 0;
}

enum authres_claim
authres_claims(const char *value, size_t len, const char *ours)
{
	char id[1024];
	unsigned version;
	struct cur c = { value, value + len };
	int strict;

	strict = authres_parse_id(value, len, id, sizeof(id), &version);
	if (strict == 0 && same_id(id, ours))
		return AUTHRES_OURS;
	/* Read as a reader that drops comments first would: a field
	 * that names us to either reader is a claim of ours. */
	if (skip_cfws(&c) == 0 && read_value(&c, id, sizeof(id), 1) == 0 &&
	    same_id(id, ours))
		return AUTHRES_OURS;
	return strict == 0 ? AUTHRES_OTHER : AUTHRES_MALFORMED;
}
