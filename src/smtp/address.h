/*
 * address - RFC 5321 path parsing for MAIL FROM and RCPT TO.
 *
 * One parser for every form a client may send: `<user@domain>`,
 * bare `user@domain`, quoted local parts (`"a b"@x`, `"a@b"@c`),
 * source routes (`<@a,@b:user@c>`: the route is dropped, RFC 5321
 * 4.1.1.3), address literals (`[1.2.3.4]`, `[IPv6:...]`), the null
 * path `<>`. It also reports what an old MTA would have made of the
 * address (`%` hacks, `!` bang paths, an `@` inside the local part),
 * so that policy can see through them.
 */
#ifndef SALLYPORT_ADDRESS_H
#define SALLYPORT_ADDRESS_H

#include <stddef.h>

#define ADDR_LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1 */
#define ADDR_DOMAIN_MAX	255	/* RFC 5321 4.5.3.1.2 */
#define ADDR_PATH_MAX	256	/* RFC 5321 4.5.3.1.3, brackets included */

enum {
	ADDR_F_NULL	= 1 << 0,	/* the null path <> */
	ADDR_F_BRACKETS	= 1 << 1,	/* written with angle brackets */
	ADDR_F_QUOTED	= 1 << 2,	/* local part was a quoted string */
	ADDR_F_ROUTE	= 1 << 3,	/* had a source route (dropped) */
	ADDR_F_LITERAL	= 1 << 4,	/* domain is an address literal */
	ADDR_F_ROUTING	= 1 << 5,	/* local part holds %, ! or @ */
	ADDR_F_NODOMAIN	= 1 << 6,	/* no @domain at all ("postmaster") */
	ADDR_F_UTF8	= 1 << 7,	/* holds octets >= 0x80 */
};

struct address {
	char		local[ADDR_LOCAL_MAX + 1];	/* unquoted */
	char		domain[ADDR_DOMAIN_MAX + 1];	/* lower case, no
							 * trailing dot; a
							 * literal keeps its
							 * brackets "[1.2.3.4]" */
	/* Where a %-hack, bang path or inner @ would route the mail:
	 * "a%b@c" -> "b", "b!a@c" and "b!a" -> "b", "a@b"@c -> "b".
	 * Empty when the local part has no such trick. Lower case. */
	char		routed_domain[ADDR_DOMAIN_MAX + 1];
	unsigned	flags;
};

/* Parse the path at the start of `s` (the text after "MAIL FROM:" or
 * "RCPT TO:", leading blanks already skipped; `len` bytes, not
 * necessarily NUL-terminated). On success returns the number of bytes
 * the path used (the rest are ESMTP parameters, after blanks) and fills
 * *a. On failure returns -1 and sets *err to a static reply text
 * without code, e.g. "Syntax error in mailbox address".
 * A local part or domain past the RFC limits, control characters
 * (CR, LF, NUL, ...) anywhere, or an unbalanced bracket or quote is an
 * error. */
int	address_parse(const char *s, size_t len, struct address *a,
	    const char **err);

/* "local@domain", quoting the local part again when it needs it
 * (`"a b"@x`); "" for the null path; `local` alone when there is no
 * domain. Returns -1 if out is too small. */
int	address_format(const struct address *, char *out, size_t outlen);

/* Compare two domains ignoring case and one trailing dot. */
int	domain_equal(const char *, const char *);

#endif
