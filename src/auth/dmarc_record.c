/*
 * dmarc_record - the DMARC record's tag list (RFC 7489 6.4, over DKIM's
 * tag=value syntax of RFC 6376 3.2), strict where a mistake would
 * weaken a policy and forgiving elsewhere, as RFC 7489 6.3 asks.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth/dmarc_record.h"

/* one tag-spec, as found */
struct tag {
	const char	*name, *val;
	size_t		 nlen, vlen;
};

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static void
note(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0 || why[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	/* it quotes the record, which anyone's DNS may fill: printable
	 * ASCII only, so that it can go into a reply or a log line */
	for (; *why != '\0'; why++)
		if (*why < 0x20 || *why > 0x7e)
			*why = '?';
}

/* trim - drop white space at both ends of [*p, *p + *n) */
static void
trim(const char **p, size_t *n)
{
	while (*n > 0 && is_wsp(**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && is_wsp((*p)[*n - 1]))
		(*n)--;
}

/* split_tag - a tag-spec into name and value: 0; -1 when it is not
 * tag-name "=" anything; -2 when the value is no tag-value (RFC 6376
 * 3.2): the name still counts, with an invalid value */
static int
split_tag(const char *s, size_t n, struct tag *t)
{
	const char *eq = memchr(s, '=', n);
	size_t i;

	if (eq == NULL)
		return -1;
	t->name = s;
	t->nlen = (size_t)(eq - s);
	t->val = eq + 1;
	t->vlen = n - t->nlen - 1;
	trim(&t->name, &t->nlen);
	trim(&t->val, &t->vlen);
	if (t->nlen == 0 || !is_alpha(t->name[0]))
		return -1;
	for (i = 1; i < t->nlen; i++)
		if (!is_alpha(t->name[i]) && !is_digit(t->name[i]) &&
		    t->name[i] != '_')
			return -1;
	/* tval: VALCHAR (0x21-0x7e but ';') runs separated by white space */
	for (i = 0; i < t->vlen; i++) {
		unsigned char c = (unsigned char)t->val[i];

		if (!is_wsp((char)c) && (c < 0x21 || c > 0x7e))
			return -2;
	}
	return 0;
}

static int
tag_is(const struct tag *t, const char *name)
{
	return t->nlen == strlen(name) && memcmp(t->name, name, t->nlen) == 0;
}

static int
val_is(const struct tag *t, const char *word)
{
	return t->vlen == strlen(word) &&
	    strncasecmp(t->val, word, t->vlen) == 0;
}

static int
parse_policy(const struct tag *t, enum dmarc_policy *p)
{
	if (val_is(t, "none"))
		*p = DMARC_POLICY_NONE;
	else if (val_is(t, "quarantine"))
		*p = DMARC_POLICY_QUARANTINE;
	else if (val_is(t, "reject"))
		*p = DMARC_POLICY_REJECT;
	else
		return -1;
	return 0;
}

/* parse_num - 1*max_digits DIGIT up to `limit` */
static int
parse_num(const struct tag *t, size_t max_digits, unsigned long long limit,
    unsigned long long *v)
{
	size_t i;

	if (t->vlen == 0 || t->vlen > max_digits)
		return -1;
	*v = 0;
	for (i = 0; i < t->vlen; i++) {
		if (!is_digit(t->val[i]))
			return -1;
		*v = *v * 10 + (unsigned)(t->val[i] - '0');
	}
	return *v > limit ? -1 : 0;
}

/* uri_ok - dmarc-uri: URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ],
 * the URI checked as far as scheme ":" and something after it */
static int
uri_ok(const char *s, size_t n)
{
	const char *bang = NULL, *colon;
	size_t i;

	for (i = n; i > 0; i--)
		if (s[i - 1] == '!') {
			bang = s + i - 1;
			break;
		}
	if (bang != NULL) {
		const char *d = bang + 1, *end = s + n;

		if (d < end && strchr("kmgtKMGT", end[-1]) != NULL)
			end--;
		if (d == end)
			return 0;
		for (; d < end; d++)
			if (!is_digit(*d))
				return 0;
		n = (size_t)(bang - s);
	}
	colon = memchr(s, ':', n);
	if (colon == NULL || colon == s || colon == s + n - 1 ||
	    !is_alpha(s[0]))
		return 0;
	for (i = 1; s + i < colon; i++)
		if (!is_alpha(s[i]) && !is_digit(s[i]) &&
		    strchr("+-.", s[i]) == NULL)
			return 0;
	for (i = (size_t)(colon - s); i < n; i++)
		if (is_wsp(s[i]))
			return 0;
	return 1;
}

/* parse_uris - the valid URIs of a comma-separated list; -1 when one
 * of them is not valid */
static int
parse_uris(const struct tag *t, unsigned *count)
{
	const char *p = t->val, *end = t->val + t->vlen, *comma;
	int bad = 0;

	*count = 0;
	while (p <= end) {
		const char *s;
		size_t n;

		comma = memchr(p, ',', (size_t)(end - p));
		if (comma == NULL)
			comma = end;
		s = p;
		n = (size_t)(comma - p);
		trim(&s, &n);
		if (uri_ok(s, n))
			(*count)++;
		else
			bad = 1;
		p = comma + 1;
	}
	return bad ? -1 : 0;
}

/* parse_colon_list - fo= and rf=: colon-separated words, each one of
 * `words` (flag i for words[i]); -1 on an unknown one */
static int
parse_colon_list(const struct tag *t, const char *const *words,
    unsigned *flags)
{
	const char *p = t->val, *end = t->val + t->vlen, *colon;

	*flags = 0;
	while (p <= end) {
		struct tag w = { NULL, p, 0, 0 };
		unsigned i;

		colon = memchr(p, ':', (size_t)(end - p));
		if (colon == NULL)
			colon = end;
		w.vlen = (size_t)(colon - p);
		trim(&w.val, &w.vlen);
		for (i = 0; words[i] != NULL; i++)
			if (val_is(&w, words[i]))
				break;
		if (words[i] == NULL)
			return -1;
		*flags |= 1u << i;
		p = colon + 1;
	}
	return 0;
}

/* the tags we know, for "given twice" */
static const char *const known[] = {
	"p", "sp", "np", "pct", "adkim", "aspf", "rua", "ruf", "fo", "rf",
	"ri", NULL
};

/* apply - one tag onto r; -1 when its value is invalid (r unchanged) */
static int
apply(struct dmarc_record *r, const struct tag *t, int *p_ok, int *sp_bad)
{
	static const char *const fo_words[] = { "0", "1", "d", "s", NULL };
	static const char *const rf_words[] = { "afrf", NULL };
	unsigned long long v;
	unsigned flags;

	if (tag_is(t, "p")) {
		if (parse_policy(t, &r->p) != 0)
			return -1;
		*p_ok = 1;
	} else if (tag_is(t, "sp")) {
		if (parse_policy(t, &r->sp) != 0) {
			*sp_bad = 1;
			return -1;
		}
		r->has_sp = 1;
	} else if (tag_is(t, "np")) {
		if (parse_policy(t, &r->np) != 0)
			return -1;
		r->has_np = 1;
	} else if (tag_is(t, "pct")) {
		if (parse_num(t, 3, 100, &v) != 0)
			return -1;
		r->pct = (unsigned)v;
	} else if (tag_is(t, "adkim") || tag_is(t, "aspf")) {
		int *strict = tag_is(t, "adkim") ? &r->adkim_strict :
		    &r->aspf_strict;

		if (val_is(t, "s"))
			*strict = 1;
		else if (!val_is(t, "r"))
			return -1;
	} else if (tag_is(t, "rua")) {
		return parse_uris(t, &r->rua_count);
	} else if (tag_is(t, "ruf")) {
		return parse_uris(t, &r->ruf_count);
	} else if (tag_is(t, "fo")) {
		if (parse_colon_list(t, fo_words, &flags) != 0)
			return -1;
		r->fo = flags;
	} else if (tag_is(t, "rf")) {
		if (parse_colon_list(t, rf_words, &flags) != 0)
			return -1;
		r->rf_afrf = (flags & 1) != 0;
	} else if (tag_is(t, "ri")) {
		if (parse_num(t, 10, 0xffffffffULL, &v) != 0)
			return -1;
		r->ri = (uint32_t)v;
	}
	return 0;
}

/* next_spec - the tag-spec at *p up to ';' or the end */
static void
next_spec(const char **p, const char *end, const char **s, size_t *n)
{
	const char *semi = memchr(*p, ';', (size_t)(end - *p));

	if (semi == NULL)
		semi = end;
	*s = *p;
	*n = (size_t)(semi - *p);
	*p = semi < end ? semi + 1 : end;
}

enum dmarc_record_status
dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *r,
    char *why, size_t whylen)
{
	const char *p = txt, *end, *s;
	unsigned seen = 0, k;
	int p_ok = 0, sp_bad = 0, split;
	struct tag t;
	size_t n;

	memset(r, 0, sizeof(*r));
	r->pct = 100;
	r->fo = DMARC_FO_0;
	r->rf_afrf = 1;
	r->ri = 86400;
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (len > DMARC_RECORD_MAX) {
		note(why, whylen, "record longer than %d bytes",
		    DMARC_RECORD_MAX);
		return DMARC_REC_INVALID;
	}
	end = txt + len;
	next_spec(&p, end, &s, &n);
	if (split_tag(s, n, &t) != 0 || !tag_is(&t, "v") ||
	    t.vlen != 6 || memcmp(t.val, "DMARC1", 6) != 0) {
		note(why, whylen, "no v=DMARC1 first");
		return DMARC_REC_NOT_DMARC;
	}
	while (p < end) {
		next_spec(&p, end, &s, &n);
		trim(&s, &n);
		if (n == 0)
			continue;	/* ";;" or a final ";" */
		if ((split = split_tag(s, n, &t)) == -1) {
			note(why, whylen, "ignored \"%.*s\": not tag=value",
			    (int)(n > 40 ? 40 : n), s);
			continue;
		}
		for (k = 0; known[k] != NULL; k++)
			if (tag_is(&t, known[k]))
				break;
		if (known[k] == NULL)
			continue;	/* unknown tags are ignored (6.3) */
		if (seen & (1u << k)) {
			note(why, whylen, "ignored a second %s=", known[k]);
			continue;
		}
		seen |= 1u << k;
		if (split == -2 && tag_is(&t, "sp"))
			sp_bad = 1;
		if (split == -2 || apply(r, &t, &p_ok, &sp_bad) != 0)
			note(why, whylen, "ignored %s=: invalid value", known[k]);
	}
	if (!p_ok || sp_bad) {
		/* 6.6.3 step 6: a usable rua= makes it p=none */
		if (r->rua_count == 0) {
			if (why != NULL && whylen > 0)
				why[0] = '\0';
			note(why, whylen, !p_ok ? "no valid p=" :
			    "invalid sp=");
			return DMARC_REC_INVALID;
		}
		r->p = DMARC_POLICY_NONE;
		r->has_sp = 0;
		r->has_np = 0;
		r->p_from_rua = 1;
	}
	if (!r->has_sp)
		r->sp = r->p;
	return DMARC_REC_OK;
}

const char *
dmarc_policy_name(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_POLICY_QUARANTINE:
		return "quarantine";
	case DMARC_POLICY_REJECT:
		return "reject";
	case DMARC_POLICY_NONE:
		break;
	}
	return "none";
}
