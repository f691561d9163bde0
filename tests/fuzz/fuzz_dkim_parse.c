/*
 * fuzz_dkim_parse - the DKIM tag=value list parser, the key record
 * parser and the DKIM-Signature parser on the same input: no crash, no
 * leak, and what the tag parser returns lies inside the input and obeys
 * the grammar (names of letters, digits and "_", values of printable
 * characters without ";", unique names).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dkim_key.h"
#include "auth/dkim_sig.h"
#include "auth/dkim_tag.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_tags(const char *in, size_t len, const struct dkim_tags *t)
{
	size_t i, j, k;

	if (t->n > DKIM_TAGS_MAX)
		abort();
	for (i = 0; i < t->n; i++) {
		const struct dkim_tag *g = &t->tag[i];

		if (g->name < in || g->name + g->name_len > in + len || g->name_len == 0 ||
		    g->value < in || g->value + g->value_len > in + len ||
		    g->eq_off >= len || in[g->eq_off] != '=' || g->end_off > len ||
		    (g->end_off < len && in[g->end_off] != ';'))
			abort();
		for (k = 0; k < g->name_len; k++) {
			char c = g->name[k];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (k > 0 && ((c >= '0' && c <= '9') || c == '_'))))
				abort();
		}
		for (k = 0; k < g->value_len; k++) {
			unsigned char c = (unsigned char)g->value[k];

			if (c == ';' || c > 0x7e || (c < 0x21 && c != ' ' &&
			    c != '\t' && c != '\r' && c != '\n'))
				abort();
		}
		if (g->value_len && (g->value[0] == ' ' || g->value[g->value_len - 1] == ' '))
			abort();
		for (j = 0; j < i; j++)
			if (t->tag[j].name_len == g->name_len &&
			    memcmp(t->tag[j].name, g->name, g->name_len) == 0)
				abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *err;
	struct dkim_tags tags;
	struct dkim_key key;
	struct dkim_sig *sig = malloc(sizeof *sig);

	if (dkim_tags_parse(in, size, &tags, &err) == 0)
		check_tags(in, size, &tags);
	else if (err == NULL)
		abort();
	if (dkim_key_parse(in, size, &key, &err) == 0) {
		if (!key.revoked && key.pkey == NULL)
			abort();
		dkim_key_clear(&key);
	}
	if (sig != NULL && dkim_sig_parse(in, size, sig, &err) == 0) {
		if (sig->b_eq_off >= size || in[sig->b_eq_off] != '=' ||
		    sig->b_end_off > size || sig->blen > DKIM_SIG_MAX ||
		    strlen(sig->d) == 0 || strlen(sig->h) == 0)
			abort();
	}
	free(sig);
	return 0;
}
