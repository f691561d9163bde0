/*
 * tlsrpt_line - one session as one line of text, and back:
 *
 *	T1 TAB when TAB domain TAB policy-type TAB result-type TAB mx-host
 *	   TAB sending-ip TAB receiving-mx TAB receiving-ip TAB reason
 *	   [TAB policy-string]... LF
 *
 * Every field has '%', TAB, CR, LF and the other control characters
 * as %XX, so a field from a remote server can neither split the line
 * nor add a field. The "T1" lets a later format live beside this one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlspol/tlsrpt_report.h"

#define LINE_TAG	"T1"
#define NFIXED		10		/* fields before the policy strings */

static const size_t field_cap[] = {	/* source octets kept per field */
	2, 20, TLSRPT_DOMAIN_MAX, 32, 32, 512, 64, TLSRPT_TEXT_MAX, 64,
	TLSRPT_TEXT_MAX,
};

/* esc - s (at most cap octets of it) escaped at out[*n], while it fits
 * below max; a character that does not fit is left out, and the rest */
static void
esc(char *out, size_t *n, size_t max, const char *s, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; s && s[i] && i < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || c == '%') {
			if (*n + 3 > max)
				return;
			out[(*n)++] = '%';
			out[(*n)++] = hex[c >> 4];
			out[(*n)++] = hex[c & 15];
		} else {
			if (*n + 1 > max)
				return;
			out[(*n)++] = (char)c;
		}
	}
}

/* esc_len - the escaped length of s's first cap octets */
static size_t
esc_len(const char *s, size_t cap)
{
	size_t i, n = 0;

	for (i = 0; s && s[i] && i < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		n += c < 0x20 || c == 0x7f || c == '%' ? 3 : 1;
	}
	return n;
}

size_t
tlsrpt_line_format(const struct tlsrpt_session *s, char *buf, size_t buflen)
{
	char when[24];
	const char *f[NFIXED];
	size_t max, n = 0, i;

	if (s->domain == NULL || s->domain[0] == '\0' ||
	    buflen < TLSRPT_LINE_MAX)
		return 0;
	max = TLSRPT_LINE_MAX - 1;	/* the '\n' */
	snprintf(when, sizeof(when), "%lld", (long long)s->when);
	f[0] = LINE_TAG;
	f[1] = when;
	f[2] = s->domain;
	f[3] = tlsrpt_policy_name(s->policy);
	f[4] = tlsrpt_result_name(s->result);
	f[5] = s->mx_host;
	f[6] = s->sending_ip;
	f[7] = s->receiving_mx;
	f[8] = s->receiving_ip;
	f[9] = s->reason;
	for (i = 0; i < NFIXED; i++) {
		if (i > 0)
			buf[n++] = '\t';
		/* the fixed fields are short but for hostile escaping; past
		 * the room (the tabs still to come kept), a field is cut,
		 * never the line */
		esc(buf, &n, max - (NFIXED - 1 - i), f[i], field_cap[i]);
	}
	for (i = 0; i < s->npstrings && i < TLSRPT_PSTRINGS_MAX; i++) {
		if (n + 1 + esc_len(s->pstrings[i], TLSRPT_PSTRING_MAX) > max)
			break;		/* whole policy strings, or none */
		buf[n++] = '\t';
		esc(buf, &n, max, s->pstrings[i], TLSRPT_PSTRING_MAX);
	}
	buf[n++] = '\n';
	return n;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* unesc - decode a field in place; -1 on a raw control character or a
 * bad escape */
static int
unesc(char *s)
{
	char *w = s;
	int hi, lo;

	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return -1;
		if (*s != '%') {
			*w++ = *s;
			continue;
		}
		if ((hi = hexval((unsigned char)s[1])) < 0 ||
		    (lo = hexval((unsigned char)s[2])) < 0 || (hi == 0 && lo == 0))
			return -1;
		*w++ = (char)(hi * 16 + lo);
		s += 2;
	}
	*w = '\0';
	return 0;
}

int
tlsrpt_line_parse(char *line, struct tlsrpt_session *s)
{
	char *f[NFIXED + TLSRPT_PSTRINGS_MAX], *p, *end;
	size_t nf = 0, i;
	long long when;
	int pol, res;

	memset(s, 0, sizeof(*s));
	if (strlen(line) >= TLSRPT_LINE_MAX)
		return -1;
	for (p = line;; p++) {
		if (nf == sizeof(f) / sizeof(f[0]))
			return -1;
		f[nf++] = p;
		if ((p = strchr(p, '\t')) == NULL)
			break;
		*p = '\0';
	}
	if (nf < NFIXED || strcmp(f[0], LINE_TAG) != 0)
		return -1;
	/* a field longer than the format writes is no field of ours */
	for (i = 1; i < nf; i++)
		if (unesc(f[i]) == -1 || strlen(f[i]) > (i < NFIXED ?
		    field_cap[i] : TLSRPT_PSTRING_MAX))
			return -1;
	if (f[1][0] < '0' || f[1][0] > '9')
		return -1;
	when = strtoll(f[1], &end, 10);
	if (*end != '\0' || when < 0)
		return -1;
	if (f[2][0] == '\0' || (pol = tlsrpt_policy_from_name(f[3])) < 0 ||
	    (res = tlsrpt_result_from_name(f[4])) < 0)
		return -1;
	s->when = (time_t)when;
	s->domain = f[2];
	s->policy = (enum tlsrpt_policy)pol;
	s->result = (enum tlsrpt_result)res;
	s->mx_host = f[5];
	s->sending_ip = f[6];
	s->receiving_mx = f[7];
	s->receiving_ip = f[8];
	s->reason = f[9];
	for (i = NFIXED; i < nf; i++)
		s->pstrings[s->npstrings++] = f[i];
	return 0;
}

int
tlsrpt_policy_from_name(const char *name)
{
	int p;

	for (p = TLSRPT_NO_POLICY; p <= TLSRPT_STS; p++)
		if (strcmp(name, tlsrpt_policy_name((enum tlsrpt_policy)p)) == 0)
			return p;
	return -1;
}

int
tlsrpt_result_from_name(const char *name)
{
	int r;

	for (r = TLSRPT_SUCCESS; r <= TLSRPT_STS_WEBPKI_INVALID; r++)
		if (strcmp(name, tlsrpt_result_name((enum tlsrpt_result)r)) == 0)
			return r;
	return -1;
}
