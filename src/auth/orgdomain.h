/*
 * orgdomain - the Organizational Domain of RFC 7489 3.2 (the public
 * suffix plus one label) through libpsl and the public suffix list that
 * Debian packages (publicsuffix); the list is read once, at start-up,
 * and is never copied into this tree.
 *
 * Also the one spelling of a domain that DMARC compares: lower case, no
 * final dot, A-labels for UTF-8 names.
 */
#ifndef SALLYPORT_ORGDOMAIN_H
#define SALLYPORT_ORGDOMAIN_H

#include <stddef.h>

#define ORGDOMAIN_MAX	254	/* a domain name and its NUL */

struct orgdomain;

/* The public suffix list: `path` names a list file (.dat or the .dafsa
 * libpsl compiles); NULL takes the newest of libpsl's own copy and the
 * packaged /usr/share/publicsuffix list. NULL on failure, with err set. */
struct orgdomain *orgdomain_load(const char *path, char *err, size_t errlen);
void	orgdomain_free(struct orgdomain *);

/* orgdomain_norm - `in` (len bytes) as DMARC compares it, into out
 * (ORGDOMAIN_MAX): lower case, the final dot dropped, A-labels for a
 * UTF-8 name. -1 when it is not a DNS domain name (an empty label, a
 * label past 63 octets or with a character no host name has, past 253
 * octets, an address literal). */
int	orgdomain_norm(const char *in, size_t len, char *out);

/* orgdomain_of - the Organizational Domain of `domain` (normalized as
 * above) into out (ORGDOMAIN_MAX): the longest matching public suffix
 * and the label before it; a domain that is itself a public suffix is
 * its own. */
void	orgdomain_of(const struct orgdomain *, const char *domain, char *out);

/* orgdomain_aligned - do a and b (normalized) align, relaxed (the same
 * Organizational Domain) or strict (the same name)? RFC 7489 3.1. */
int	orgdomain_aligned(const struct orgdomain *, const char *a,
	    const char *b, int strict);

#endif
