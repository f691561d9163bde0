/*
 * dkim_tag - the strict, bounded tag=value list parser of RFC 6376
 * section 3.2 (see dkim_tag.h).
 *
 *	tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
 *	tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
 *	tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]
 *	VALCHAR   =  %x21-3A / %x3C-7E
 */
#include <string.h>
#include <strings.h>

#include "auth/dkim_tag.h"

/* fws - length of the folding white space at p (WSP, or CRLF followed
 * by WSP), 0 if none */
static size_t
fws(const char *p, const char *end)
{
	const char *s = p;

	for (;;) {
		if (p < end && (*p == ' ' || *p == '\t'))
			p++;
		else if (end - p >= 3 && p[0] == '\r' && p[1] == '\n' &&
		    (p[2] == ' ' || p[2] == '\t'))
			p += 3;
		else
			return (size_t)(p - s);
	}
}

static int
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_valchar(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != ';';
}

int
dkim_tags_parse(const char *text, size_t len, struct dkim_tags *t,
    const char **err)
{
	const char *p = text, *end = text + len;
	size_t i;

	t->n = 0;
	for (;;) {
		struct dkim_tag tag;
		const char *last;

		p += fws(p, end);
		if (p == end)	/* "", or a list ending in ";" */
			return 0;
		if (!is_alpha((unsigned char)*p)) {
			*err = *p == ';' ? "empty tag" : "tag name does not start with a letter";
			return -1;
		}
		tag.name = p;
		while (p < end && (is_alpha((unsigned char)*p) ||
		    (*p >= '0' && *p <= '9') || *p == '_'))
			p++;
		tag.name_len = (size_t)(p - tag.name);
		p += fws(p, end);
		if (p == end || *p != '=') {
			*err = "tag without \"=\"";
			return -1;
		}
		tag.eq_off = (size_t)(p - text);
		p++;
		p += fws(p, end);
		tag.value = p;
		last = p;
		while (p < end && *p != ';') {
			size_t w;

			if (is_valchar((unsigned char)*p)) {
				p++;
				last = p;
			} else if ((w = fws(p, end)) > 0) {
				p += w;
			} else {
				*err = "character not allowed in a tag value";
				return -1;
			}
		}
		tag.value_len = (size_t)(last - tag.value);
		tag.end_off = (size_t)(p - text);
		for (i = 0; i < t->n; i++)
			if (t->tag[i].name_len == tag.name_len &&
			    memcmp(t->tag[i].name, tag.name, tag.name_len) == 0) {
				*err = "tag appears twice";
				return -1;
			}
		if (t->n == DKIM_TAGS_MAX) {
			*err = "too many tags";
			return -1;
		}
		t->tag[t->n++] = tag;
		if (p == end)
			return 0;
		p++;			/* the ";" */
	}
}

const struct dkim_tag *
dkim_tags_get(const struct dkim_tags *t, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < t->n; i++)
		if (t->tag[i].name_len == n && memcmp(t->tag[i].name, name, n) == 0)
			return &t->tag[i];
	return NULL;
}

int
dkim_tag_is(const struct dkim_tag *tag, const char *s)
{
	return tag->value_len == strlen(s) && memcmp(tag->value, s, tag->value_len) == 0;
}

long
dkim_tag_compact(const struct dkim_tag *tag, char *out, size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < tag->value_len; i++) {
		char c = tag->value[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (o + 1 >= size)
			return -1;
		out[o++] = c;
	}
	if (size == 0)
		return -1;
	out[o] = '\0';
	return (long)o;
}

int
dkim_tag_list_has(const char *list, size_t len, const char *word)
{
	size_t wl = strlen(word), i = 0;

	while (i <= len) {
		size_t s, e;

		while (i < len && (list[i] == ' ' || list[i] == '\t' ||
		    list[i] == '\r' || list[i] == '\n'))
			i++;
		s = i;
		while (i < len && list[i] != ':')
			i++;
		e = i;
		while (e > s && (list[e - 1] == ' ' || list[e - 1] == '\t' ||
		    list[e - 1] == '\r' || list[e - 1] == '\n'))
			e--;
		if (e - s == wl && strncasecmp(list + s, word, wl) == 0)
			return 1;
		i++;		/* past the ':' (or the end) */
	}
	return 0;
}

int
dkim_tag_domain(const char *s, size_t n)
{
	size_t i, label = 0;

	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0;
}
