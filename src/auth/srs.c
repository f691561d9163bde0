/*
 * srs - the Sender Rewriting Scheme's two forms, made and reversed (see
 * srs.h for the forms). The hash is computed over the lower-cased
 * fields and compared without regard to case, as libsrs2 does, because
 * some hops fold the local part's case on the way back.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/srs.h"
#include "lib/base64.h"

#define SRS_FIELDS_MAX	1024	/* what one hash covers */

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* is_sep - the separator after SRS0/SRS1 (libsrs2 allows =, + and -) */
static bool
is_sep(char c)
{
	return c == '=' || c == '+' || c == '-';
}

/* srs_kind - 0 or 1 for an SRS0/SRS1 local part, else -1 */
static int
srs_kind(const char *local)
{
	if (strncasecmp(local, "SRS", 3) != 0 || (local[3] != '0' &&
	    local[3] != '1') || !is_sep(local[4]))
		return -1;
	return local[3] - '0';
}

/* srs_hash - the first SRS_HASH_LEN characters of the base64 HMAC-SHA1
 * of the fields a and b (lower-cased) under secret; -1 if they are too
 * long or OpenSSL fails */
static int
srs_hash(const char *secret, const char *a, size_t alen, const char *b,
    size_t blen, char out[SRS_HASH_LEN + 1])
{
	unsigned char data[SRS_FIELDS_MAX], mac[EVP_MAX_MD_SIZE];
	char enc[BASE64_ENCODED_LEN(EVP_MAX_MD_SIZE)];
	unsigned int maclen = 0;
	size_t i;

	if (alen + blen > sizeof(data))
		return -1;
	for (i = 0; i < alen; i++)
		data[i] = (unsigned char)tolower((unsigned char)a[i]);
	for (i = 0; i < blen; i++)
		data[alen + i] = (unsigned char)tolower((unsigned char)b[i]);
	if (HMAC(EVP_sha1(), secret, (int)strlen(secret), data, alen + blen,
	    mac, &maclen) == NULL)
		return -1;
	base64_encode(mac, maclen, enc);
	memcpy(out, enc, SRS_HASH_LEN);
	out[SRS_HASH_LEN] = '\0';
	return 0;
}

/* verify - does hash (len bytes) match one of the secrets? */
static enum srs_result
verify(const char *const *secrets, size_t n, const char *hash, size_t len,
    const char *a, size_t alen, const char *b, size_t blen)
{
	char want[SRS_HASH_LEN + 1];

	if (n == 0)
		return SRS_ERROR;
	if (len != SRS_HASH_LEN)
		return SRS_BAD_HASH;
	for (size_t i = 0; i < n; i++) {
		if (srs_hash(secrets[i], a, alen, b, blen, want) == -1)
			return SRS_ERROR;
		if (strncasecmp(want, hash, SRS_HASH_LEN) == 0)
			return SRS_OK;
	}
	return SRS_BAD_HASH;
}

/* day - today's number, mod 1024 as the two letters carry it */
static unsigned
day(time_t now)
{
	return (unsigned)((now < 0 ? 0 : now) / 86400 % 1024);
}

/* ts_decode - the two base32 letters' day number, or -1 */
static int
ts_decode(const char *ts)
{
	const char *hi = strchr(b32, toupper((unsigned char)ts[0]));
	const char *lo = strchr(b32, toupper((unsigned char)ts[1]));

	if (ts[0] == '\0' || ts[1] == '\0' || hi == NULL || lo == NULL)
		return -1;
	return (int)((hi - b32) << 5 | (lo - b32));
}

/* put - snprintf into out, SRS_TOO_LONG when cut */
#define PUT(out, outlen, ...) \
	((size_t)snprintf(out, outlen, __VA_ARGS__) >= (outlen) ? \
	SRS_TOO_LONG : SRS_OK)

/* split1 - SRS1's "HASH=HOST=REST": the hash and host lengths, REST
 * (which starts with SRS0's own separator); false when not the form */
static bool
split1(const char *s, size_t *hlen, const char **host, size_t *hostlen,
    const char **rest)
{
	const char *e1 = strchr(s, '='), *e2;

	if (e1 == NULL || e1 == s || (e2 = strchr(e1 + 1, '=')) == NULL ||
	    e2 == e1 + 1 || e2[1] == '\0')
		return false;
	*hlen = (size_t)(e1 - s);
	*host = e1 + 1;
	*hostlen = (size_t)(e2 - *host);
	*rest = e2 + 1;
	return true;
}

enum srs_result
srs_forward(const char *const *secrets, size_t nsecrets,
    const char *srs_domain, const char *sender, time_t now, char *out,
    size_t outlen)
{
	const char *at = strrchr(sender, '@'), *host, *rest;
	char hash[SRS_HASH_LEN + 1], ts[3], local[SRS_FIELDS_MAX];
	size_t llen, hlen, hostlen;

	if (nsecrets == 0)
		return SRS_ERROR;
	if (at == NULL || at == sender || at[1] == '\0')
		return SRS_NOT_SRS;
	llen = (size_t)(at - sender);
	if (llen >= sizeof(local))
		return SRS_TOO_LONG;
	memcpy(local, sender, llen);
	local[llen] = '\0';
	switch (srs_kind(local)) {
	case 0:
		/* Another forwarder's SRS0: point back at it alone. */
		if (srs_hash(secrets[0], at + 1, strlen(at + 1), local + 4,
		    llen - 4, hash) == -1)
			return SRS_ERROR;
		return PUT(out, outlen, "SRS1=%s=%s=%s@%s", hash, at + 1,
		    local + 4, srs_domain);
	case 1:
		/* Signed again, its first forwarder kept. */
		if (!split1(local + 5, &hlen, &host, &hostlen, &rest))
			break;
		if (srs_hash(secrets[0], host, hostlen, rest, strlen(rest),
		    hash) == -1)
			return SRS_ERROR;
		return PUT(out, outlen, "SRS1=%s=%.*s=%s@%s", hash,
		    (int)hostlen, host, rest, srs_domain);
	default:
		break;
	}
	ts[0] = b32[day(now) >> 5];
	ts[1] = b32[day(now) & 31];
	ts[2] = '\0';
	{
		char fields[SRS_FIELDS_MAX];

		if ((size_t)snprintf(fields, sizeof(fields), "%s%s", ts,
		    at + 1) >= sizeof(fields) || srs_hash(secrets[0], fields,
		    strlen(fields), local, llen, hash) == -1)
			return SRS_TOO_LONG;
	}
	return PUT(out, outlen, "SRS0=%s=%s=%s=%s@%s", hash, ts, at + 1,
	    local, srs_domain);
}

/* reverse0 - SRS0's "HASH=TT=DOMAIN=LOCAL" */
static enum srs_result
reverse0(const char *const *secrets, size_t n, const char *s, time_t now,
    char *out, size_t outlen)
{
	const char *e1 = strchr(s, '='), *e2, *e3;
	char fields[SRS_FIELDS_MAX];
	enum srs_result r;
	int ts;

	if (e1 == NULL || (e2 = strchr(e1 + 1, '=')) == NULL ||
	    (e3 = strchr(e2 + 1, '=')) == NULL || e2 - e1 != 3 ||
	    e3 == e2 + 1 || e3[1] == '\0' || (ts = ts_decode(e1 + 1)) < 0)
		return SRS_MALFORMED;
	/* The hash covers TT DOMAIN, then LOCAL. */
	if ((size_t)(e3 - (e1 + 1)) >= sizeof(fields))
		return SRS_MALFORMED;
	memcpy(fields, e1 + 1, 2);
	memcpy(fields + 2, e2 + 1, (size_t)(e3 - e2 - 1));
	if ((r = verify(secrets, n, s, (size_t)(e1 - s), fields,
	    (size_t)(e3 - e2 - 1) + 2, e3 + 1, strlen(e3 + 1))) != SRS_OK)
		return r;
	if ((day(now) + 1024 - (unsigned)ts) % 1024 > SRS_MAX_AGE_DAYS)
		return SRS_EXPIRED;
	return PUT(out, outlen, "%s@%.*s", e3 + 1, (int)(e3 - e2 - 1),
	    e2 + 1);
}

enum srs_result
srs_reverse(const char *const *secrets, size_t nsecrets, const char *local,
    time_t now, char *out, size_t outlen)
{
	const char *host, *rest;
	size_t hlen, hostlen;
	enum srs_result r;

	switch (srs_kind(local)) {
	case 0:
		return reverse0(secrets, nsecrets, local + 5, now, out,
		    outlen);
	case 1:
		if (!split1(local + 5, &hlen, &host, &hostlen, &rest) ||
		    !is_sep(rest[0]))
			return SRS_MALFORMED;
		if ((r = verify(secrets, nsecrets, local + 5, hlen, host,
		    hostlen, rest, strlen(rest))) != SRS_OK)
			return r;
		return PUT(out, outlen, "SRS0%s@%.*s", rest, (int)hostlen,
		    host);
	default:
		return SRS_NOT_SRS;
	}
}

const char *
srs_strerror(enum srs_result r)
{
	switch (r) {
	case SRS_OK:
		return "valid SRS address";
	case SRS_NOT_SRS:
		return "not an SRS address";
	case SRS_MALFORMED:
		return "malformed SRS address";
	case SRS_BAD_HASH:
		return "SRS address has an invalid hash (forged)";
	case SRS_EXPIRED:
		return "SRS address has expired";
	case SRS_TOO_LONG:
		return "SRS address too long";
	case SRS_ERROR:
		break;
	}
	return "SRS failure";
}
