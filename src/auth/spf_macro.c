/*
 * spf_macro - SPF's macro-strings (RFC 7208 section 7): syntax check and
 * expansion, without I/O.
 *
 *   macro-expand = "%{" letter *DIGIT [ "r" ] *delimiter "}"
 *                  / "%%" / "%_" / "%-"
 *
 * A letter in upper case has its value URL-escaped. The digits keep
 * that many parts from the right (after an optional reversal), the
 * parts being split on any of the delimiters (default ".") and joined
 * with dots. c, r and t exist only in explanations.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "auth/spf_macro.h"

#define DELIMITERS	".-+,/_="

/* Output with a bound; overflowing sets a flag instead of writing. */
struct out {
	char	*buf;
	size_t	 len, cap;		/* cap: room for text, NUL excluded */
	int	 overflow;
};

static void
out_byte(struct out *o, char c)
{
	if (o->len >= o->cap) {
		o->overflow = 1;
		return;
	}
	o->buf[o->len++] = c;
}

static void
out_str(struct out *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out_byte(o, s[i]);
}

/* letter_ok - a macro letter allowed in this kind of string */
static int
letter_ok(int c, enum spf_macro_kind kind)
{
	c = tolower((unsigned char)c);
	if (strchr("slodiphv", c) != NULL)
		return 1;
	return kind == SPF_MACRO_EXPLAIN && strchr("crt", c) != NULL;
}

/* is_literal - a macro-literal (%x21-24 / %x26-7E), or a space where
 * explanations allow one */
static int
is_literal(unsigned char c, enum spf_macro_kind kind)
{
	if (c == ' ')
		return kind == SPF_MACRO_EXPLAIN;
	return c >= 0x21 && c <= 0x7e && c != '%';
}

/* A parsed %{...}: the letter, digits (0: all), reversal, delimiters. */
struct macro {
	char		 letter;
	unsigned	 keep;
	int		 reverse;
	const char	*delim;		/* NULL: "." */
	size_t		 ndelim;
};

/* parse_macro - read one macro-expand at s[i] (a '%'); the index after
 * it, or 0 when it is not valid. m->letter is '%', '_' or '-' for the
 * short escapes. */
static size_t
parse_macro(const char *s, size_t len, size_t i, enum spf_macro_kind kind,
    struct macro *m)
{
	memset(m, 0, sizeof(*m));
	if (++i >= len)
		return 0;
	if (s[i] == '%' || s[i] == '_' || s[i] == '-') {
		m->letter = s[i];
		return i + 1;
	}
	if (s[i] != '{' || ++i >= len || !letter_ok(s[i], kind))
		return 0;
	m->letter = s[i++];
	if (i < len && isdigit((unsigned char)s[i])) {
		unsigned long n = 0;

		while (i < len && isdigit((unsigned char)s[i])) {
			/* More parts than any value has is all of them. */
			if (n < 1000)
				n = n * 10 + (unsigned)(s[i] - '0');
			i++;
		}
		if (n == 0)	/* RFC 7208 7.1: the number is nonzero */
			return 0;
		m->keep = (unsigned)n;
	}
	if (i < len && (s[i] == 'r' || s[i] == 'R')) {
		m->reverse = 1;
		i++;
	}
	m->delim = s + i;
	while (i < len && s[i] != '\0' && strchr(DELIMITERS, s[i]) != NULL)
		i++;
	m->ndelim = (size_t)(s + i - m->delim);
	if (i >= len || s[i] != '}')
		return 0;
	return i + 1;
}

/* toplabel - RFC 7208's toplabel: letters, digits and inner hyphens,
 * not all digits */
static int
toplabel(const char *s, size_t n)
{
	int alpha = 0, hyphen = 0;

	if (n == 0 || !isalnum((unsigned char)s[0]) ||
	    !isalnum((unsigned char)s[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (isalpha((unsigned char)s[i]))
			alpha = 1;
		else if (s[i] == '-')
			hyphen = 1;
		else if (!isdigit((unsigned char)s[i]))
			return 0;
	}
	return alpha || hyphen;
}

bool
spf_macro_valid(const char *s, size_t len, enum spf_macro_kind kind)
{
	struct macro	 m;
	size_t		 i = 0, tail = 0, end, dot;

	while (i < len) {
		if (s[i] == '%') {
			if ((i = parse_macro(s, len, i, kind, &m)) == 0)
				return false;
			tail = i;	/* literal text starts after this */
		} else if (!is_literal((unsigned char)s[i], kind)) {
			return false;
		} else {
			i++;
		}
	}
	if (kind != SPF_MACRO_DOMAIN)
		return true;
	/* domain-end = ( "." toplabel [ "." ] ) / macro-expand */
	if (len == 0)
		return false;
	if (tail == len)
		return true;
	end = len;
	if (s[end - 1] == '.')
		end--;
	for (dot = end; dot > tail && s[dot - 1] != '.'; dot--)
		;
	if (dot == tail)	/* no dot in the literal tail */
		return false;
	return toplabel(s + dot, end - dot);
}

bool
spf_macro_uses_p(const char *s, size_t len)
{
	for (size_t i = 0; i + 2 < len; i++)
		if (s[i] == '%' && s[i + 1] == '{' &&
		    (s[i + 2] == 'p' || s[i + 2] == 'P'))
			return true;
		else if (s[i] == '%' && s[i + 1] == '%')
			i++;		/* an escaped %, not a macro */
	return false;
}

/* letter_value - the raw value of a macro letter, in buf */
static const char *
letter_value(char letter, const struct spf_macro_ctx *c, char *buf,
    size_t buflen)
{
	size_t n;

	switch (tolower((unsigned char)letter)) {
	case 's':
		return c->sender;
	case 'l':
		return c->local;
	case 'o':
		return c->sender_domain;
	case 'd':
		return c->domain;
	case 'h':
		return c->helo;
	case 'p':
		return c->ptr != NULL ? c->ptr : "unknown";
	case 'r':
		return c->receiver != NULL && *c->receiver != '\0' ?
		    c->receiver : "unknown";
	case 'v':
		return c->family == AF_INET ? "in-addr" : "ip6";
	case 't':
		snprintf(buf, buflen, "%llu", c->now);
		return buf;
	case 'c':
		if (inet_ntop(c->family, c->ip, buf, (socklen_t)buflen) == NULL)
			return "";
		return buf;
	case 'i':
		if (c->family == AF_INET) {
			snprintf(buf, buflen, "%u.%u.%u.%u", c->ip[0],
			    c->ip[1], c->ip[2], c->ip[3]);
			return buf;
		}
		/* RFC 7208 7.3: IPv6 as dot-separated nibbles. Upper
		 * case, as the RFC 7208 test suite expects in an
		 * explanation; DNS names do not care. */
		n = 0;
		for (size_t i = 0; i < 16 && n + 4 < buflen; i++) {
			n += (size_t)snprintf(buf + n, buflen - n, "%s%X.%X",
			    i ? "." : "", c->ip[i] >> 4, c->ip[i] & 15);
		}
		return buf;
	}
	return "";
}

/* part - the k-th part (from 0) of v split on delimiters */
static void
part(const char *v, size_t vlen, const struct macro *m, size_t k,
    const char **start, size_t *n)
{
	const char	*d = m->delim != NULL && m->ndelim > 0 ? m->delim : ".";
	size_t		 nd = m->delim != NULL && m->ndelim > 0 ? m->ndelim : 1;
	size_t		 i = 0, b = 0, idx = 0;

	for (;; i++) {
		if (i == vlen || memchr(d, v[i], nd) != NULL) {
			if (idx == k) {
				*start = v + b;
				*n = i - b;
				return;
			}
			if (i == vlen)
				break;
			idx++;
			b = i + 1;
		}
	}
	*start = v;
	*n = 0;
}

/* put_value - the value transformed and, for an upper-case letter,
 * URL-escaped (RFC 7208 7.3) */
static void
put_value(struct out *o, const char *v, const struct macro *m)
{
	const char	*d = m->delim != NULL && m->ndelim > 0 ? m->delim : ".";
	size_t		 nd = m->delim != NULL && m->ndelim > 0 ? m->ndelim : 1;
	size_t		 vlen = strlen(v), nparts = 1, keep, first, n;
	const char	*p;
	int		 escape = isupper((unsigned char)m->letter);

	for (size_t i = 0; i < vlen; i++)
		if (memchr(d, v[i], nd) != NULL)
			nparts++;
	keep = m->keep == 0 || m->keep > nparts ? nparts : m->keep;
	first = nparts - keep;
	for (size_t j = first; j < nparts && !o->overflow; j++) {
		/* Reversed, the j-th part is the original's (nparts-1-j). */
		part(v, vlen, m, m->reverse ? nparts - 1 - j : j, &p, &n);
		if (j > first)
			out_byte(o, '.');
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)p[i];

			if (escape && !isalnum(c) && !strchr("-._~", c)) {
				char hex[4];

				snprintf(hex, sizeof(hex), "%%%02X", c);
				out_str(o, hex, 3);
			} else {
				out_byte(o, (char)c);
			}
		}
	}
}

int
spf_macro_expand(const char *s, size_t len, enum spf_macro_kind kind,
    const struct spf_macro_ctx *ctx, char *outbuf, size_t outlen)
{
	struct out	 o = { outbuf, 0, outlen ? outlen - 1 : 0, 0 };
	struct macro	 m;
	char		 buf[80];
	size_t		 i = 0, next, cut;

	if (outlen == 0 || !spf_macro_valid(s, len, kind))
		return -1;
	while (i < len && !o.overflow) {
		if (s[i] != '%') {
			out_byte(&o, s[i++]);
			continue;
		}
		next = parse_macro(s, len, i, kind, &m);
		if (m.letter == '%')
			out_byte(&o, '%');
		else if (m.letter == '_')
			out_byte(&o, ' ');
		else if (m.letter == '-')
			out_str(&o, "%20", 3);
		else
			put_value(&o, letter_value(m.letter, ctx, buf,
			    sizeof(buf)), &m);
		i = next;
	}
	outbuf[o.len] = '\0';
	if (kind != SPF_MACRO_DOMAIN)
		return 0;	/* an explanation may be cut short */
	if (o.overflow)
		return -1;
	/* Too long for a query: labels go from the left (RFC 7208 7.3). */
	cut = 0;
	while (o.len - cut > SPF_DOMAIN_MAX) {
		const char *dot = memchr(outbuf + cut, '.', o.len - cut);

		if (dot == NULL)
			return -1;
		cut = (size_t)(dot - outbuf) + 1;
	}
	memmove(outbuf, outbuf + cut, o.len - cut + 1);
	return 0;
}
