/*
 * fuzz_srs - the SRS parser: any local part is reversed or refused,
 * never read past its end; whatever reverses was signed by the key
 * (made by srs_forward, or a hash collision), and any address a
 * forward makes of a plain sender reverses to it again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/srs.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const key[] = { "fuzzing key" };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, out[1200], back[1200], *at;
	enum srs_result r;

	if ((in = malloc(size + 1)) == NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	r = srs_reverse(key, 1, in, 86400 * 100, out, sizeof(out));
	if (r == SRS_OK && strchr(out, '@') == NULL)
		abort();
	(void)srs_strerror(r);
	/* as a sender: forwarded, then reversed (one level) */
	r = srs_forward(key, 1, "fwd.example", in, 86400 * 100, out,
	    sizeof(out));
	if (r == SRS_OK) {
		if ((at = strrchr(out, '@')) == NULL ||
		    strcmp(at, "@fwd.example") != 0)
			abort();
		*at = '\0';
		/* a domain with '=' is no domain; NUL ends the input */
		if (strncmp(out, "SRS0", 4) == 0 && strchr(in, '\0') ==
		    in + size && strchr(strrchr(in, '@'), '=') == NULL &&
		    srs_reverse(key, 1, out, 86400 * 100, back,
		    sizeof(back)) == SRS_OK && strcmp(back, in) != 0)
			abort();
	}
	free(in);
	return 0;
}
