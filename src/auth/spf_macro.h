/*
 * spf_macro - the macro language of SPF records (RFC 7208 section 7):
 * checking a macro-string's syntax and expanding it.
 *
 * No I/O: the values of the letters come from the caller (spf.c), the
 * validated name of %{p} included, which the caller looks up first
 * when spf_macro_uses_p says it is needed.
 */
#ifndef SALLYPORT_SPF_MACRO_H
#define SALLYPORT_SPF_MACRO_H

#include <stdbool.h>
#include <stddef.h>

/* What a macro-string is for: its syntax differs a little. */
enum spf_macro_kind {
	SPF_MACRO_DOMAIN,	/* domain-spec: ends in a top label or a macro */
	SPF_MACRO_STRING,	/* an unknown modifier's macro-string */
	SPF_MACRO_EXPLAIN,	/* the TXT of exp=: spaces, and c, r and t */
};

/* Longest domain name a query may ask for (RFC 7208 7.3). */
#define SPF_DOMAIN_MAX	253
/* Room for any expansion; longer is an error (domains) or cut short
 * (explanations). */
#define SPF_EXPAND_MAX	2048

struct spf_macro_ctx {
	const char		*sender;	/* s: local-part@domain */
	const char		*local;		/* l */
	const char		*sender_domain;	/* o */
	const char		*domain;	/* d: the domain being checked */
	int			 family;	/* i, c, v: AF_INET or AF_INET6 */
	const unsigned char	*ip;		/* 4 or 16 bytes */
	const char		*helo;		/* h */
	const char		*ptr;		/* p: NULL until looked up */
	const char		*receiver;	/* r */
	unsigned long long	 now;		/* t: seconds since the epoch */
};

/* Is s (len bytes) a valid macro-string of this kind? */
bool	spf_macro_valid(const char *s, size_t len, enum spf_macro_kind);
/* Does it use %{p}, so that the caller must find the name first? */
bool	spf_macro_uses_p(const char *s, size_t len);
/* Expand a valid macro-string into out (outlen bytes, NUL ended). A
 * domain longer than SPF_DOMAIN_MAX loses labels from the left until
 * it fits (RFC 7208 7.3). Returns 0, or -1 when the text is not valid
 * or a domain does not fit in out; an explanation is cut short. */
int	spf_macro_expand(const char *s, size_t len, enum spf_macro_kind,
	    const struct spf_macro_ctx *, char *out, size_t outlen);

#endif
