/*
 * idna - UTF-8 domains to IDNA2008 A-labels, for DNS. libidn2 does the
 * work (Punycode, the IDNA2008 code point rules, TR46 mapping); this
 * file keeps its types and its allocation away from the callers.
 */
#include <idn2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/idna.h"

int
idna_is_utf8(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

int
idna_to_dns(const char *domain, char *out, size_t outlen, const char **why)
{
	uint8_t *alabel = NULL;
	size_t n;
	int rc;

	if (!idna_is_utf8(domain)) {
		n = strlen(domain);
		if (n >= outlen) {
			*why = "domain name too long";
			return -1;
		}
		memcpy(out, domain, n + 1);
		return 0;
	}
	/* Non-transitional: "ß" stays "ß" (xn--...), as IDNA2008 wants and
	 * as Postfix and the browsers look such names up. */
	rc = idn2_lookup_u8((const uint8_t *)domain, &alabel,
	    IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK) {
		*why = idn2_strerror(rc);
		return -1;
	}
	n = strlen((const char *)alabel);
	if (n >= outlen) {
		idn2_free(alabel);
		*why = "domain name too long";
		return -1;
	}
	memcpy(out, alabel, n + 1);
	idn2_free(alabel);
	return 0;
}
