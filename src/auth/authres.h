/*
 * authres - the Authentication-Results header field (RFC 8601), without
 * I/O: a builder for the one field we add, with our authserv-id, and a
 * reader of an existing field's authserv-id, so that a field claiming
 * ours (a forger's: RFC 8601 5) can be dropped and others kept.
 *
 Building:
 *	struct authres a;
 *	authres_begin(&a, hostname);
 *	authres_spf(&a, "pass", "user@example.com", NULL, NULL);
 *	authres_dkim(&a, "pass", "example.com", "sel", "AbCdEfGh", NULL);
 *	authres_dmarc(&a, outcome);
 *	authres_end(&a);	(-1 from any: past AUTHRES_MAX)
 *	... a.b.data, a.b.len: the whole field, to prepend as it is
 *	authres_free(&a);
 * gives, folded under 78 columns where it can, lines ending CRLF:
 *	Authentication-Results: mx.example.org;
 *		spf=pass smtp.mailfrom=user@example.com;
 *		dkim=pass header.d=example.com header.s=sel header.b=AbCdEfGh;
 *		dmarc=pass (p=reject sp=reject dis=none) header.from=example.com
 * Values that are not plain tokens or addresses are written as quoted
 * strings and comments have their parentheses escaped: nothing a peer
 * sent can end the field, start another or close a comment early.
 */
#ifndef SALLYPORT_AUTHRES_H
#define SALLYPORT_AUTHRES_H

#include <stddef.h>

#include "auth/dmarc.h"
#include "lib/buf.h"

#define AUTHRES_MAX		8192	/* bytes of the field we build */

struct authres {
	struct buf	b;		/* the field, CRLF-ended once done */
	unsigned	results;	/* resinfo added */
};

int	authres_begin(struct authres *, const char *authserv_id);
void	authres_free(struct authres *);
/* SPF: smtp.mailfrom when mailfrom is not NULL or "", else smtp.helo;
 * comment may be NULL. */
int	authres_spf(struct authres *, const char *result, const char *mailfrom,
	    const char *helo, const char *comment);
/* DKIM: header.d, header.s, header.b (a prefix of b=, RFC 6008); NULL
 * leaves one out. */
int	authres_dkim(struct authres *, const char *result, const char *d,
	    const char *s, const char *b_prefix, const char *comment);
/* DMARC: the result, the policy as a comment (p=, sp=, dis= for what
 * was applied), header.from. */
int	authres_dmarc(struct authres *, const struct dmarc_outcome *);
/* the end of the field ("none" when no result was added) and CRLF */
int	authres_end(struct authres *);

enum authres_claim {
	AUTHRES_OTHER,		/* another authserv-id: keep the field */
	AUTHRES_OURS,		/* claims our authserv-id: drop it */
	AUTHRES_MALFORMED,	/* no authserv-id can be read: RFC 8601
				 * tells readers to ignore such a field,
				 * so dropping it too loses nothing */
};

/* authres_parse_id - the authserv-id of a field's value (after the
 * colon: CFWS, a token or quoted string, then the version), into id
 * (unquoted); *version is 1 when absent. 0, or -1 when there is none
 * (or it does not fit idlen). */
int	authres_parse_id(const char *value, size_t len, char *id,
	    size_t idlen, unsigned *version);
/* authres_claims - does this value claim `ours`? (case-insensitive,
 * a final dot ignored; comments nested to any depth; OURS also when a
 * reader that drops comments first would read ours, as in
 * "mx(x).example.org", which a strict reader finds broken) */
enum authres_claim authres_claims(const char *value, size_t len,
	    const char *ours);

#endif
