/*
 * idna - internationalized domain names as DNS wants them: UTF-8
 * labels (U-labels, from an SMTPUTF8 address) to IDNA2008 A-labels
 * ("xn--..."), through libidn2.
 */
#ifndef SALLYPORT_IDNA_H
#define SALLYPORT_IDNA_H

#include <stddef.h>

/* The name to look up for `domain`: a copy when it is all ASCII (an
 * A-label is not checked again), else its A-label form, which libidn2
 * derives with Unicode normalization and TR46 non-transitional mapping
 * as Postfix does. Returns 0, or -1 with *why set to a static text
 * saying why the domain is not a valid IDNA2008 name (or that out is
 * too small). */
int	idna_to_dns(const char *domain, char *out, size_t outlen,
	    const char **why);

/* Does s hold an octet >= 0x80? */
int	idna_is_utf8(const char *s);

#endif
