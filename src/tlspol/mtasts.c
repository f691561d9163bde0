/*
 * mtasts - the MTA-STS TXT record and policy parsers, and MX name
 * matching (RFC 8461 3.1, 3.2, 3.4). Pure functions over the caller's
 * bytes; nothing is allocated and nothing is read past len.
 */
#include <stdio.h>
#include <string.h>

#include "tlspol/mtasts.h"

static void
why_set(char *why, size_t whylen, const char *text)
{
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "%s", text);
}

static bool
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* ext_name_len - an sts-ext-name at p: (ALPHA / DIGIT) *31(ALPHA /
 * DIGIT / "_" / "-" / "."); its length, 0 if there is none */
static size_t
ext_name_len(const char *p, size_t n)
{
	size_t	 i;

	if (n == 0 || !is_alnum((unsigned char)p[0]))
		return 0;
	for (i = 1; i < n && i < 32; i++)
		if (!is_alnum((unsigned char)p[i]) && p[i] != '_' &&
		    p[i] != '-' && p[i] != '.')
			break;
	return i;
}

/* --- the TXT record (3.1) ----------------------------------------------- */

int
mtasts_record_parse(const char *txt, size_t len, char id[MTASTS_ID_MAX + 1],
    char *why, size_t whylen)
{
	size_t	 i = 7, k, n;
	bool	 have_id = false;

	id[0] = '\0';
	if (len < 7 || memcmp(txt, "v=STSv1", 7) != 0) {
		why_set(why, whylen, "record does not begin with v=STSv1");
		return -1;
	}
	/* 1*(sts-field-delim sts-field) [sts-field-delim], where
	 * sts-field-delim = *WSP ";" *WSP */
	for (;;) {
		while (i < len && is_wsp((unsigned char)txt[i]))
			i++;
		if (i == len)
			break;
		if (txt[i] != ';') {
			why_set(why, whylen, "field not separated by ';'");
			return -1;
		}
		i++;
		while (i < len && is_wsp((unsigned char)txt[i]))
			i++;
		if (i == len)
			break;		/* the final delimiter */
		if (len - i >= 3 && memcmp(txt + i, "id=", 3) == 0) {
			if (have_id) {
				why_set(why, whylen, "more than one id");
				return -1;
			}
			i += 3;
			for (n = 0; i + n < len &&
			    is_alnum((unsigned char)txt[i + n]); n++)
				;
			if (n == 0 || n > MTASTS_ID_MAX) {
				why_set(why, whylen, "id is not 1 to 32 "
				    "letters and digits");
				return -1;
			}
			memcpy(id, txt + i, n);
			id[n] = '\0';
			have_id = true;
			i += n;
			continue;
		}
		/* sts-extension: name "=" 1*(%x21-3A / %x3C / %x3E-7E) */
		if ((k = ext_name_len(txt + i, len - i)) == 0 ||
		    i + k >= len || txt[i + k] != '=') {
			why_set(why, whylen, "malformed field");
			return -1;
		}
		i += k + 1;
		for (n = 0; i + n < len; n++) {
			unsigned char c = (unsigned char)txt[i + n];

			if (c < 0x21 || c > 0x7e || c == ';' || c == '=')
				break;
		}
		if (n == 0) {
			why_set(why, whylen, "extension without a value");
			return -1;
		}
		i += n;
	}
	if (!have_id) {
		why_set(why, whylen, "no id");
		return -1;
	}
	return 0;
}

int
mtasts_record_pick(const char *const *txts, const size_t *lens, size_t n,
    char id[MTASTS_ID_MAX + 1], char *why, size_t whylen)
{
	size_t	 i, found = n, count = 0;

	id[0] = '\0';
	for (i = 0; i < n; i++)
		if (lens[i] >= 8 && memcmp(txts[i], "v=STSv1;", 8) == 0) {
			found = i;
			count++;
		}
	if (count == 0) {
		why_set(why, whylen, "no v=STSv1 record");
		return -1;
	}
	if (count > 1) {
		why_set(why, whylen, "more than one v=STSv1 record");
		return -1;
	}
	return mtasts_record_parse(txts[found], lens[found], id, why, whylen);
}

/* --- the policy (3.2) ---------------------------------------------------- */

/* mx_value - an mx pattern (["*."] Domain, RFC 5321 4.1.2) into out,
 * lower case: 0, or -1 */
static int
mx_value(const char *v, size_t n, char *out, size_t outlen)
{
	size_t	 i = 0, label = 0;

	if (n >= 2 && v[0] == '*' && v[1] == '.')
		i = 2;
	if (n - i == 0 || n - i > MTASTS_NAME_MAX || n >= outlen)
		return -1;
	for (; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '.') {
			/* a label ends with a letter or digit */
			if (label == 0 || v[i - 1] == '-')
				return -1;
			label = 0;
		} else if (is_alnum(c) || (c == '-' && label > 0)) {
			if (++label > 63)
				return -1;
		} else
			return -1;
	}
	if (label == 0 || v[n - 1] == '-')
		return -1;
	for (i = 0; i < n; i++)
		out[i] = (char)lower((unsigned char)v[i]);
	out[n] = '\0';
	return 0;
}

/* digits - 1*10(DIGIT): the value, capped at the RFC's maximum; -1 */
static long long
digits(const char *v, size_t n)
{
	unsigned long long x = 0;
	size_t	 i;

	if (n == 0 || n > 10)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (unsigned long long)(v[i] - '0');
	}
	return x > MTASTS_MAX_AGE_MAX ? (long long)MTASTS_MAX_AGE_MAX :
	    (long long)x;
}

/* value_ok - sts-policy-ext-value: visible characters (UTF-8 octets
 * taken as they come), spaces only between them */
static bool
value_ok(const char *v, size_t n)
{
	size_t	 i;

	if (n == 0 || v[0] == ' ' || v[n - 1] == ' ')
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* policy_line - one "key: value" line: 0, or -1 with why */
static int
policy_line(const char *l, size_t n, struct mtasts_policy *p,
    unsigned *seen, char *why, size_t whylen)
{
	size_t	 k, vs;
	long long age;

	if ((k = ext_name_len(l, n)) == 0 || k >= n || l[k] != ':') {
		why_set(why, whylen, "line is not \"key: value\"");
		return -1;
	}
	for (vs = k + 1; vs < n && is_wsp((unsigned char)l[vs]); vs++)
		;
	while (n > vs && is_wsp((unsigned char)l[n - 1]))
		n--;
	if (!value_ok(l + vs, n - vs)) {
		why_set(why, whylen, "empty or malformed value");
		return -1;
	}
#define KEY(s)	(k == sizeof(s) - 1 && memcmp(l, s, k) == 0)
#define VAL(s)	(n - vs == sizeof(s) - 1 && memcmp(l + vs, s, n - vs) == 0)
	if (KEY("version")) {
		if ((*seen & 1) || !VAL("STSv1")) {
			why_set(why, whylen, "version not STSv1, or twice");
			return -1;
		}
		*seen |= 1;
	} else if (KEY("mode")) {
		if (*seen & 2) {
			why_set(why, whylen, "mode twice");
			return -1;
		}
		if (VAL("enforce"))
			p->mode = MTASTS_ENFORCE;
		else if (VAL("testing"))
			p->mode = MTASTS_TESTING;
		else if (VAL("none"))
			p->mode = MTASTS_NONE;
		else {
			why_set(why, whylen, "mode not enforce, testing or "
			    "none");
			return -1;
		}
		*seen |= 2;
	} else if (KEY("max_age")) {
		if ((*seen & 4) || (age = digits(l + vs, n - vs)) < 0) {
			why_set(why, whylen, "max_age not 1 to 10 digits, or "
			    "twice");
			return -1;
		}
		p->max_age = (unsigned long)age;
		*seen |= 4;
	} else if (KEY("mx")) {
		if (p->nmx == MTASTS_MX_MAX) {
			why_set(why, whylen, "too many mx lines");
			return -1;
		}
		if (mx_value(l + vs, n - vs, p->mx[p->nmx],
		    sizeof(p->mx[0])) == -1) {
			why_set(why, whylen, "mx is not a host name or "
			    "*.domain");
			return -1;
		}
		p->nmx++;
	}
#undef KEY
#undef VAL
	return 0;
}

int
mtasts_policy_parse(const char *text, size_t len, struct mtasts_policy *p,
    char *why, size_t whylen)
{
	const char *l = text, *end = text + len, *nl;
	size_t	 n;
	unsigned seen = 0;

	memset(p, 0, sizeof(*p));
	why_set(why, whylen, "");
	while (l < end) {
		nl = memchr(l, '\n', (size_t)(end - l));
		n = (size_t)((nl != NULL ? nl : end) - l);
		if (n > 0 && l[n - 1] == '\r')
			n--;
		if (n > MTASTS_LINE_MAX) {
			why_set(why, whylen, "line too long");
			return -1;
		}
		if (n > 0 && policy_line(l, n, p, &seen, why, whylen) == -1)
			return -1;
		l = nl != NULL ? nl + 1 : end;
	}
	if ((seen & 7) != 7) {
		why_set(why, whylen, (seen & 1) == 0 ? "no version" :
		    (seen & 2) == 0 ? "no mode" : "no max_age");
		return -1;
	}
	if (p->nmx == 0 && p->mode != MTASTS_NONE) {
		why_set(why, whylen, "no mx");
		return -1;
	}
	return 0;
}

const char *
mtasts_mode_name(enum mtasts_mode m)
{
	return m == MTASTS_ENFORCE ? "enforce" : m == MTASTS_TESTING ?
	    "testing" : "none";
}

int
mtasts_policy_format(const struct mtasts_policy *p, char *out, size_t outlen)
{
	size_t	 at = 0, i;
	int	 w;

	w = snprintf(out, outlen, "version: STSv1\nmode: %s\n",
	    mtasts_mode_name(p->mode));
	if (w < 0 || (size_t)w >= outlen)
		return -1;
	at = (size_t)w;
	for (i = 0; i < p->nmx; i++) {
		w = snprintf(out + at, outlen - at, "mx: %s\n", p->mx[i]);
		if (w < 0 || (size_t)w >= outlen - at)
			return -1;
		at += (size_t)w;
	}
	w = snprintf(out + at, outlen - at, "max_age: %lu\n", p->max_age);
	if (w < 0 || (size_t)w >= outlen - at)
		return -1;
	return (int)(at + (size_t)w);
}

/* --- MX names (3.4) ------------------------------------------------------ */

/* same - a[0..n) and b[0..n) equal but for case */
static bool
same(const char *a, const char *b, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

bool
mtasts_pattern_match(const char *pattern, const char *host)
{
	size_t	 hl = strlen(host), pl = strlen(pattern);
	const char *dot;

	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (pl == 0 || hl == 0)
		return false;
	if (pl >= 2 && pattern[0] == '*' && pattern[1] == '.') {
		/* one label, then the pattern's ".domain" */
		dot = memchr(host, '.', hl);
		if (dot == NULL || dot == host)
			return false;
		return hl - (size_t)(dot - host) == pl - 1 &&
		    same(dot, pattern + 1, pl - 1);
	}
	return hl == pl && same(host, pattern, hl);
}

bool
mtasts_mx_match(const struct mtasts_policy *p, const char *host)
{
	size_t	 i;

	for (i = 0; i < p->nmx; i++)
		if (mtasts_pattern_match(p->mx[i], host))
			return true;
	return false;
}
