/*
 * smtp_params - the arguments of MAIL and RCPT after the path: the
 * "FROM:"/"TO:" prefix and ESMTP parameters (RFC 5321 4.1.2), checked
 * against what we advertise. Pure functions: text in, verdict out.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "smtp/smtp_params.h"
#include "smtp/smtp_reply.h"

/* esmtp_skip_prefix - match "FROM:" or "TO:" case-insensitively, then blanks */
bool
esmtp_skip_prefix(const char **arg, size_t *len, const char *prefix)
{
	size_t n = strlen(prefix);

	if (*len < n || strncasecmp(*arg, prefix, n) != 0)
		return false;
	*arg += n;
	*len -= n;
	while (*len > 0 && **arg == ' ') {
		(*arg)++;
		(*len)--;
	}
	return true;
}

/* next_param - split the next "KEY[=VALUE]" off an ESMTP parameter list */
static bool
next_param(const char **p, size_t *len, char *key, size_t keymax,
    const char **val, size_t *vallen)
{
	size_t i = 0;

	while (*len > 0 && **p == ' ') {
		(*p)++;
		(*len)--;
	}
	if (*len == 0)
		return false;
	*val = NULL;
	*vallen = 0;
	while (*len > 0 && **p != ' ' && **p != '=') {
		if (i + 1 < keymax)
			key[i++] = (char)toupper((unsigned char)**p);
		else
			key[0] = '?';	/* too long: unknown parameter */
		(*p)++;
		(*len)--;
	}
	key[i] = '\0';
	if (*len > 0 && **p == '=') {
		(*p)++;
		(*len)--;
		*val = *p;
		while (*len > 0 && **p != ' ') {
			(*p)++;
			(*len)--;
			(*vallen)++;
		}
	}
	return true;
}

/* parse_size - decimal octet count, refusing overflow */
static bool
parse_size(const char *p, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 20)
		return false;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		if (v > (UINT64_MAX - (uint64_t)(p[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = v;
	return true;
}

/* hexval - one hex digit (upper case, as xtext wants), or -1 */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* xtext_ok - "<>" or RFC 3461 xtext that decodes to printable text:
 * "+0A" and friends would smuggle a line break into the envelope */
static bool
xtext_ok(const char *p, size_t len)
{
	size_t i;

	if (len == 2 && p[0] == '<' && p[1] == '>')
		return true;
	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '+') {
			int hi, lo;

			if (i + 2 >= len)
				return false;
			hi = hexval(p[i + 1]);
			lo = hexval(p[i + 2]);
			if (hi < 0 || lo < 0 || hi * 16 + lo < 33 ||
			    hi * 16 + lo > 126)
				return false;
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return false;
		}
	}
	return true;
}

const char *
esmtp_mail_params(const char *p, size_t len, bool esmtp, bool tls,
    uint64_t max_size, struct esmtp_mail_params *mp)
{
	bool seen_size = false, seen_body = false, seen_auth = false;
	const char *val;
	size_t vallen;
	char key[16];

	memset(mp, 0, sizeof(*mp));
	while (next_param(&p, &len, key, sizeof(key), &val, &vallen)) {
		if (!esmtp)
			return R_BAD_PARAM;	/* parameters need EHLO */
		if (strcmp(key, "SIZE") == 0 && !seen_size) {
			seen_size = true;
			if (val == NULL || !parse_size(val, vallen, &mp->size))
				return R_BAD_SIZE_PARAM;
			if (mp->size > max_size)
				return R_SIZE_EXCEEDED;
		} else if (strcmp(key, "BODY") == 0 && !seen_body) {
			seen_body = true;
			if (val && vallen == 4 && strncasecmp(val, "7BIT", 4) == 0)
				mp->body = MAIL_BODY_7BIT;
			else if (val && vallen == 8 &&
			    strncasecmp(val, "8BITMIME", 8) == 0)
				mp->body = MAIL_BODY_8BITMIME;
			else
				return R_BAD_BODY_PARAM;
		} else if (strcmp(key, "AUTH") == 0 && !seen_auth) {
			/* RFC 4954 5: noted, not trusted: we do not relay
			 * another server's authentication claims. */
			seen_auth = true;
			if (val == NULL || !xtext_ok(val, vallen))
				return R_BAD_AUTH_PARAM;
		} else if (strcmp(key, "SMTPUTF8") == 0 && !mp->smtputf8 &&
		    val == NULL) {
			mp->smtputf8 = true;
		} else if (strcmp(key, "REQUIRETLS") == 0 && !mp->requiretls) {
			/* RFC 8689 3: a keyword alone, offered only inside
			 * TLS; outside it the promise could not be kept
			 * even on the hop that brought the message. */
			if (val != NULL)
				return R_BAD_REQUIRETLS_PARAM;
			if (!tls)
				return R_REQUIRETLS_NEEDS_TLS;
			mp->requiretls = true;
		} else {
			return R_BAD_PARAM;
		}
	}
	return NULL;
}

const char *
esmtp_rcpt_params(const char *p, size_t len, bool esmtp)
{
	const char *val;
	size_t vallen;
	char key[16];

	(void)esmtp;		/* no RCPT parameter is advertised yet */
	if (next_param(&p, &len, key, sizeof(key), &val, &vallen))
		return R_BAD_PARAM;
	return NULL;
}
