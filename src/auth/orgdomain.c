/*
 * orgdomain - Organizational Domains through libpsl (RFC 7489 3.2), and
 * the normal form of a domain that DMARC compares.
 */
#include <libpsl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/orgdomain.h"
#include "lib/idna.h"

struct orgdomain {
	psl_ctx_t	*ctx;		/* loaded by us: freed */
	const psl_ctx_t	*use;		/* what lookups go through */
};

struct orgdomain *
orgdomain_load(const char *path, char *err, size_t errlen)
{
	struct orgdomain *o = calloc(1, sizeof(*o));

	if (o == NULL) {
		snprintf(err, errlen, "public suffix list: out of memory");
		return NULL;
	}
	o->ctx = path ? psl_load_file(path) : psl_latest(NULL);
	o->use = o->ctx;
	/* psl_latest gives libpsl's built-in list when no file is newer,
	 * without the caller owning it */
	if (o->use == NULL && path == NULL)
		o->use = psl_builtin();
	if (o->use == NULL) {
		snprintf(err, errlen, "public suffix list: cannot load %s",
		    path ? path : psl_dist_filename());
		free(o);
		return NULL;
	}
	return o;
}

void
orgdomain_free(struct orgdomain *o)
{
	if (o == NULL)
		return;
	psl_free(o->ctx);
	free(o);
}

static int
host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '_';
}

int
orgdomain_norm(const char *in, size_t len, char *out)
{
	char raw[ORGDOMAIN_MAX * 4], dns[ORGDOMAIN_MAX];
	const char *why;
	size_t i, label = 0;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len >= sizeof(raw) || memchr(in, '\0', len))
		return -1;
	for (i = 0; i < len; i++)
		raw[i] = in[i] >= 'A' && in[i] <= 'Z' ? in[i] - 'A' + 'a' :
		    in[i];
	raw[len] = '\0';
	if (idna_to_dns(raw, dns, sizeof(dns), &why) != 0)
		return -1;
	len = strlen(dns);
	if (len == 0 || len > 253)
		return -1;
	for (i = 0; i <= len; i++) {
		unsigned char c = (unsigned char)dns[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63)
				return -1;
			label = 0;
		} else if (c >= 'A' && c <= 'Z') {
			dns[i] = (char)(c - 'A' + 'a');
			label++;
		} else if (host_char(c)) {
			label++;
		} else {
			return -1;
		}
	}
	memcpy(out, dns, len + 1);
	return 0;
}

void
orgdomain_of(const struct orgdomain *o, const char *domain, char *out)
{
	const char *reg = psl_registrable_domain(o->use, domain);

	/* NULL: the domain is a public suffix (or unusable): its own */
	if (reg == NULL)
		reg = domain;
	snprintf(out, ORGDOMAIN_MAX, "%s", reg);
}

int
orgdomain_aligned(const struct orgdomain *o, const char *a, const char *b,
    int strict)
{
	char oa[ORGDOMAIN_MAX], ob[ORGDOMAIN_MAX];

	if (strcmp(a, b) == 0)
		return 1;
	if (strict)
		return 0;
	orgdomain_of(o, a, oa);
	orgdomain_of(o, b, ob);
	return strcmp(oa, ob) == 0;
}
