/*
 * mtasts - SMTP MTA Strict Transport Security (RFC 8461) without I/O:
 * the _mta-sts TXT record (3.1), the policy a domain publishes over
 * HTTPS (3.2), and whether an MX host is one the policy names (3.4).
 * The DNS answer and the HTTPS body come from the caller.
 */
#ifndef SALLYPORT_MTASTS_H
#define SALLYPORT_MTASTS_H

#include <stdbool.h>
#include <stddef.h>

#define MTASTS_ID_MAX		32		/* sts-id: 1*32(ALPHA / DIGIT) */
#define MTASTS_MAX_AGE_MAX	31557600UL	/* about a year (3.2) */
#define MTASTS_MX_MAX		64		/* mx lines a policy may have */
#define MTASTS_NAME_MAX		253		/* a domain name, no final dot */
#define MTASTS_LINE_MAX		1024		/* one line of a policy */
#define MTASTS_WHY_MAX		128		/* a reason, for a log line */

enum mtasts_mode {
	MTASTS_NONE,		/* "none": no policy to apply */
	MTASTS_TESTING,		/* "testing": deliver as usual, report */
	MTASTS_ENFORCE,		/* "enforce": matching MX, valid certificate */
};

/* A policy as parsed: the fields the RFC names, extensions dropped. */
struct mtasts_policy {
	enum mtasts_mode mode;
	unsigned long	 max_age;	/* seconds, at most MTASTS_MAX_AGE_MAX */
	size_t		 nmx;
	char		 mx[MTASTS_MX_MAX][MTASTS_NAME_MAX + 3]; /* lower case,
					 * "mail.example.com" or
					 * "*.example.com" */
};

/* One TXT record (its strings joined) as RFC 8461 3.1 reads it, strictly
 * (the ABNF's case-sensitive "v=STSv1" first, an id of 1 to 32 letters
 * and digits, extensions name=value): 0 with the id in id[], or -1 with
 * a reason in why (which may be NULL). */
int		 mtasts_record_parse(const char *txt, size_t len,
		    char id[MTASTS_ID_MAX + 1], char *why, size_t whylen);
/* The answer of _mta-sts.DOMAIN: records not beginning with "v=STSv1;"
 * are not ours; exactly one may be left and it must parse (3.1). 0 with
 * the id, -1 with a reason. */
int		 mtasts_record_pick(const char *const *txts, const size_t *lens,
		    size_t n, char id[MTASTS_ID_MAX + 1], char *why,
		    size_t whylen);

/* A policy body (3.2): lines ending in LF or CRLF, "key: value", each of
 * version (STSv1), mode and max_age exactly once, mx at least once
 * unless mode is none; other keys ignored, blank lines too. A max_age
 * past the RFC's maximum is read as the maximum. 0, or -1 with a
 * reason. */
int		 mtasts_policy_parse(const char *text, size_t len,
		    struct mtasts_policy *, char *why, size_t whylen);
/* The policy as lines ("version: STSv1\nmode: enforce\nmx: ...\n
 * max_age: N\n"), what the cache keeps and what a TLS-RPT report calls
 * the policy-string: the length, or -1 when out is too small. */
int		 mtasts_policy_format(const struct mtasts_policy *, char *out,
		    size_t outlen);
/* "enforce", "testing", "none". */
const char	*mtasts_mode_name(enum mtasts_mode);

/* Whether host matches pattern (3.4): case-insensitive, a final dot on
 * host ignored, "*.example.com" standing for exactly one label more. */
bool		 mtasts_pattern_match(const char *pattern, const char *host);
/* Whether host matches one of the policy's mx patterns. */
bool		 mtasts_mx_match(const struct mtasts_policy *, const char *host);

#endif
