/*
 * authres - building our Authentication-Results field (RFC 8601 2.2):
 * one resinfo a line, properties folded at 78 columns, every value a
 * peer chose written so that it cannot break the field's syntax.
 */
#include <stdio.h>
#include <string.h>

#include "auth/authres.h"

#define FOLD_AT		78

/* line_len - bytes on the last line of b */
static size_t
line_len(const struct buf *b)
{
	size_t i = b->len;

	while (i > 0 && b->data[i - 1] != '\n')
		i--;
	return b->len - i;
}

/* put_word - " " word, or a fold and word when the line would pass
 * FOLD_AT (never before anything stands on the line) */
static int
put_word(struct buf *b, const char *w, size_t n)
{
	size_t ll = line_len(b);
	const char *sep = ll > 8 && ll + 1 + n > FOLD_AT ? "\r\n\t" : " ";

	if (buf_append(b, sep, strlen(sep)) != 0)
		return -1;
	return buf_append(b, w, n);
}

static int
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* is_token - RFC 2045's token (UTF-8 allowed, RFC 6532) */
static int
is_token(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c == 0x7f ||
		    strchr("()<>@,;:\\\"/[]?=", c) != NULL)
			return 0;
	}
	return 1;
}

/* is_addr - [local-part "@"] domain with dot-atom parts: as it is */
static int
is_addr(const char *s)
{
	const char *at = strrchr(s, '@');
	int prev_dot = 1;

	if (*s == '\0' || at == s || at == NULL || at[1] == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (*s == '.' || *s == '@') {
			if (prev_dot || (*s == '@' && s != at))
				return 0;
			prev_dot = 1;
		} else if (!dmarc_from_atext((unsigned char)*s)) {
			return 0;
		} else {
			prev_dot = 0;
		}
	}
	return !prev_dot;
}

/* quoted - s as a quoted-string into q, controls dropped */
static int
quoted(struct buf *q, const char *s)
{
	if (buf_append(q, "\"", 1) != 0)
		return -1;
	for (; *s != '\0'; s++) {
		if (is_ctl((unsigned char)*s))
			continue;
		if ((*s == '"' || *s == '\\') && buf_append(q, "\\", 1) != 0)
			return -1;
		if (buf_append(q, s, 1) != 0)
			return -1;
	}
	return buf_append(q, "\"", 1);
}

/* put_prop - " ptype.property=value", the value as it is when it is a
 * token (or an address, when addr), else quoted */
static int
put_prop(struct buf *b, const char *name, const char *value, int addr)
{
	struct buf w;
	int rc;

	if (value == NULL || *value == '\0')
		return 0;
	buf_init(&w, AUTHRES_MAX);
	rc = buf_printf(&w, "%s=", name);
	if (rc == 0)
		rc = is_token(value) || (addr && is_addr(value)) ?
		    buf_append(&w, value, strlen(value)) : quoted(&w, value);
	if (rc == 0)
		rc = put_word(b, w.data, w.len);
	buf_free(&w);
	return rc;
}

/* put_comment - " (text)" with ( ) \ escaped, line ends made spaces,
 * other controls dropped, runs of spaces made one, folded at spaces */
static int
put_comment(struct buf *b, const char *text)
{
	struct buf w;
	const char *p, *word, *end;
	int rc;

	if (text == NULL || *text == '\0')
		return 0;
	buf_init(&w, AUTHRES_MAX);
	rc = buf_append(&w, "(", 1);
	for (p = text; rc == 0 && *p != '\0'; p++) {
		char last = w.data[w.len - 1];

		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			if (last != '(' && last != ' ')
				rc = buf_append(&w, " ", 1);
			continue;
		}
		if (is_ctl((unsigned char)*p))
			continue;
		if (strchr("()\\", *p) != NULL)
			rc = buf_append(&w, "\\", 1);
		if (rc == 0)
			rc = buf_append(&w, p, 1);
	}
	if (rc == 0 && w.data[w.len - 1] == ' ')
		w.len--;
	if (rc == 0)
		rc = buf_append(&w, ")", 1);
	for (word = w.data, end = w.data + w.len; rc == 0 && word < end;) {
		const char *sp = memchr(word, ' ', (size_t)(end - word));

		if (sp == NULL)
			sp = end;
		rc = put_word(b, word, (size_t)(sp - word));
		word = sp + 1;
	}
	buf_free(&w);
	return rc;
}

/* put_method - ";" CRLF TAB "method=result" */
static int
put_method(struct authres *a, const char *method, const char *result)
{
	a->results++;
	return buf_printf(&a->b, ";\r\n\t%s=%s", method,
	    is_token(result) ? result : "permerror");
}

int
authres_begin(struct authres *a, const char *authserv_id)
{
	struct buf *b = &a->b;

	buf_init(b, AUTHRES_MAX);
	a->results = 0;
	if (buf_printf(b, "Authentication-Results:") != 0)
		return -1;
	if (is_token(authserv_id))
		return put_word(b, authserv_id, strlen(authserv_id));
	if (buf_append(b, " ", 1) != 0)
		return -1;
	return quoted(b, authserv_id);
}

void
authres_free(struct authres *a)
{
	buf_free(&a->b);
}

int
authres_spf(struct authres *a, const char *result, const char *mailfrom,
    const char *helo, const char *comment)
{
	struct buf *b = &a->b;

	if (put_method(a, "spf", result) != 0 || put_comment(b, comment) != 0)
		return -1;
	if (mailfrom != NULL && *mailfrom != '\0') {
		const char *at = strrchr(mailfrom, '@');

		/* A quoted local part ("x; dkim=pass"@...) would be quoted
		 * here, but a reader that splits at ';' is fooled by it:
		 * the domain alone then (RFC 8601 2.3's pvalue allows it). */
		if (!is_addr(mailfrom) && at != NULL && is_token(at + 1))
			mailfrom = at + 1;
		return put_prop(b, "smtp.mailfrom", mailfrom, 1);
	}
	return put_prop(b, "smtp.helo", helo, 1);
}

int
authres_dkim(struct authres *a, const char *result, const char *d,
    const char *s, const char *b_prefix, const char *comment)
{
	struct buf *b = &a->b;

	if (put_method(a, "dkim", result) != 0 ||
	    put_comment(b, comment) != 0 ||
	    put_prop(b, "header.d", d, 1) != 0 ||
	    put_prop(b, "header.s", s, 0) != 0)
		return -1;
	return put_prop(b, "header.b", b_prefix, 0);
}

int
authres_dmarc(struct authres *a, const struct dmarc_outcome *o)
{
	struct buf *b = &a->b;
	char comment[96];

	if (put_method(a, "dmarc", dmarc_result_name(o->result)) != 0)
		return -1;
	if (o->has_record) {
		snprintf(comment, sizeof(comment), "p=%s sp=%s dis=%s",
		    dmarc_policy_name(o->record.p),
		    dmarc_policy_name(o->record.sp),
		    dmarc_policy_name(o->policy));
		if (put_comment(b, comment) != 0)
			return -1;
	} else if (put_comment(b, o->reason) != 0) {
		return -1;
	}
	return put_prop(b, "header.from", o->domain, 1);
}

int
authres_end(struct authres *a)
{
	/* no resinfo: "; none" (RFC 8601 2.2 no-result) */
	if (a->results == 0 && buf_append(&a->b, "; none", 6) != 0)
		return -1;
	return buf_append(&a->b, "\r\n", 2);
}
