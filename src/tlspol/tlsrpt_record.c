/*
 * tlsrpt_record - RFC 8460 3's grammar, strictly:
 *
 *	tlsrpt-record = "v=TLSRPTv1" 1*(field-delim tlsrpt-field)
 *			[field-delim]
 *	field-delim   = *WSP ";" *WSP
 *	tlsrpt-field  = "rua=" uri *(*WSP "," *WSP uri)   (exactly once)
 *		      / ext-name "=" ext-value
 *	ext-name      = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *	ext-value     = 1*(%x21-3A / %x3C / %x3E-7E)
 *
 * A URI is RFC 3986's characters with ',' and '!' escaped (they would
 * split the list); it must start with a scheme and ':'.
 */
#include <string.h>
#include <strings.h>

#include "tlspol/tlsrpt_record.h"

#define TLSRPT_V1		"v=TLSRPTv1"
#define EXT_NAME_MAX	32

static int
is_alpha(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_hex(int c)
{
	return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

static int
hex_val(int c)
{
	return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
}

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* uri_char - RFC 3986 unreserved, reserved and '%', but ',', '!' and
 * ';' (the record's own delimiters) */
static int
uri_char(int c)
{
	if (is_alpha(c) || is_digit(c))
		return 1;
	return c != '\0' && strchr("-._~:/?#[]@$&'()*+=%", c) != NULL;
}

/* uri_len - the URI at s (a scheme, ':', the rest): its length, 0 if
 * there is none */
static size_t
uri_len(const char *s, const char *end)
{
	const char *p = s;

	if (p == end || !is_alpha((unsigned char)*p))
		return 0;
	while (p < end && (is_alpha((unsigned char)*p) ||
	    is_digit((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.'))
		p++;
	if (p == end || *p != ':')
		return 0;
	for (p++; p < end && uri_char((unsigned char)*p); p++)
		if (*p == '%' && (end - p < 3 || !is_hex((unsigned char)p[1]) ||
		    !is_hex((unsigned char)p[2])))
			return 0;
	return (size_t)(p - s);
}

/* parse_rua - the URIs of a rua= value in [s, end): s points after
 * "rua=". Returns where the value ends, or NULL. */
static const char *
parse_rua(const char *s, const char *end, struct tlsrpt_record *r)
{
	size_t n;

	for (;;) {
		if ((n = uri_len(s, end)) == 0)
			return NULL;
		if (r->nrua < TLSRPT_RUA_MAX)
			r->rua[r->nrua++] = s;	/* cut where the value ends */
		else
			r->nrua_dropped++;
		s += n;
		/* *WSP "," *WSP: look past blanks for a comma */
		{
			const char *p = s;

			while (p < end && is_wsp((unsigned char)*p))
				p++;
			if (p == end || *p != ',')
				return s;
			for (p++; p < end && is_wsp((unsigned char)*p); p++)
				;
			s = p;
		}
	}
}

/* parse_ext - an extension: name "=" value; returns where it ends, or
 * NULL */
static const char *
parse_ext(const char *s, const char *end)
{
	const char *p = s;

	if (p == end || !(is_alpha((unsigned char)*p) ||
	    is_digit((unsigned char)*p)))
		return NULL;
	for (p++; p < end && (is_alpha((unsigned char)*p) ||
	    is_digit((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.');
	    p++)
		if (p - s >= EXT_NAME_MAX)
			return NULL;
	if (p == end || *p != '=')
		return NULL;
	s = ++p;
	while (p < end && (unsigned char)*p >= 0x21 && (unsigned char)*p <= 0x7e &&
	    *p != ';' && *p != '=')
		p++;
	return p == s ? NULL : p;
}

int
tlsrpt_record_parse(const char *txt, size_t len, struct tlsrpt_record *r,
    const char **why)
{
	const char *s, *end, *next;
	size_t i, vlen = strlen(TLSRPT_V1);
	int seen_rua = 0;

	memset(r, 0, sizeof(*r));
	if (len > TLSRPT_RECORD_MAX) {
		*why = "record too long";
		return -1;
	}
	if (memchr(txt, '\0', len) != NULL) {
		*why = "NUL in record";
		return -1;
	}
	memcpy(r->text, txt, len);
	r->text[len] = '\0';
	s = r->text;
	end = r->text + len;
	if (len < vlen || memcmp(s, TLSRPT_V1, vlen) != 0) {
		*why = "not v=TLSRPTv1";
		return -1;
	}
	s += vlen;
	for (;;) {
		/* field-delim: *WSP ";" *WSP; blanks end a record only
		 * before a last ';' */
		while (s < end && is_wsp((unsigned char)*s))
			s++;
		if (s == end && is_wsp((unsigned char)s[-1])) {
			*why = "blank at the end";
			return -1;
		}
		if (s == end)
			break;
		if (*s != ';') {
			*why = "junk after a field";
			return -1;
		}
		for (s++; s < end && is_wsp((unsigned char)*s); s++)
			;
		if (s == end)
			break;		/* the optional last delimiter */
		if (end - s >= 4 && memcmp(s, "rua=", 4) == 0) {
			if (seen_rua++) {
				*why = "rua= twice";
				return -1;
			}
			next = parse_rua(s + 4, end, r);
			if (next == NULL) {
				*why = "bad URI in rua=";
				return -1;
			}
		} else if ((next = parse_ext(s, end)) == NULL) {
			*why = "bad field";
			return -1;
		}
		s = next;
		/* a field must end at a delimiter or the record's end: no
		 * blank inside one */
		if (s < end && !is_wsp((unsigned char)*s) && *s != ';') {
			*why = "junk after a field";
			return -1;
		}
	}
	if (!seen_rua) {
		*why = "no rua=";
		return -1;
	}
	/* End each URI where it ends: the text after one is a blank, ','
	 * or ';', never part of a URI. */
	for (i = 0; i < r->nrua; i++) {
		size_t n = uri_len(r->rua[i], end);

		((char *)r->rua[i])[n] = '\0';
	}
	return 0;
}

/* is_candidate - "v=TLSRPTv1" *WSP ";": a record that is meant to be
 * TLS-RPT's (RFC 8460 3, discarding the others) */
static int
is_candidate(const char *s, size_t len)
{
	size_t vlen = strlen(TLSRPT_V1), i;

	if (len < vlen || memcmp(s, TLSRPT_V1, vlen) != 0)
		return 0;
	for (i = vlen; i < len && is_wsp((unsigned char)s[i]); i++)
		;
	return i < len && s[i] == ';';
}

int
tlsrpt_record_select(const char *const *txts, const size_t *lens, size_t n,
    struct tlsrpt_record *r, const char **why)
{
	size_t i, found = n, count = 0;

	for (i = 0; i < n; i++)
		if (is_candidate(txts[i], lens[i])) {
			found = i;
			count++;
		}
	if (count != 1) {
		memset(r, 0, sizeof(*r));
		*why = count == 0 ? "no TLS-RPT record" :
		    "more than one TLS-RPT record";
		return -1;
	}
	return tlsrpt_record_parse(txts[found], lens[found], r, why);
}

/* addr_char - what we take in a report address: printable ASCII but
 * blanks, quotes, brackets, commas and the like, which would need
 * quoting in a header or an envelope */
static int
addr_char(int c)
{
	return c > 0x20 && c < 0x7f && strchr("\"(),:;<>[\\]", c) == NULL;
}

int
tlsrpt_mailto(const char *uri, char *addr, size_t addrlen)
{
	const char *p;
	size_t n = 0, at = 0, ats = 0, dots_ok;
	int c;

	if (strncasecmp(uri, "mailto:", 7) != 0 || addrlen == 0)
		return -1;
	for (p = uri + 7; *p && *p != '?'; p++) {
		c = (unsigned char)*p;
		if (c == '%') {
			if (!is_hex((unsigned char)p[1]) ||
			    !is_hex((unsigned char)p[2]))
				return -1;
			c = hex_val((unsigned char)p[1]) * 16 +
			    hex_val((unsigned char)p[2]);
			p += 2;
		}
		if (!addr_char(c) || n + 1 >= addrlen || n >= TLSRPT_ADDR_MAX)
			return -1;
		if (c == '@') {
			ats++;
			at = n;
		}
		addr[n++] = (char)c;
	}
	addr[n] = '\0';
	if (ats != 1 || at == 0 || at > 64 || at + 1 == n)
		return -1;
	/* the domain: letters, digits, '-' and dots between labels */
	dots_ok = addr[at + 1] != '.' && addr[n - 1] != '.';
	for (p = addr + at + 1; *p; p++)
		if (!(is_alpha((unsigned char)*p) || is_digit((unsigned char)*p) ||
		    *p == '-' || (*p == '.' && p[1] != '.')))
			return -1;
	return dots_ok ? 0 : -1;
}
