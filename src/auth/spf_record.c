/*
 * spf_record - reading SPF records' terms (RFC 7208 section 12):
 *
 *   record    = "v=spf1" *( 1*SP ( directive / modifier ) ) *SP
 *   directive = [ "+" / "-" / "~" / "?" ] mechanism
 *   modifier  = name "=" macro-string
 *
 * Names of mechanisms and modifiers are matched without regard to case.
 * Anything outside printable ASCII and the space is a syntax error
 * (RFC 7208 3.1), as are an unknown mechanism, a prefix length out of
 * range or written with a leading zero, and a malformed macro.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "auth/spf_macro.h"
#include "auth/spf_record.h"

static const struct {
	const char	*name;
	enum spf_mech	 mech;
} mechs[] = {
	{ "all",	SPF_MECH_ALL },
	{ "include",	SPF_MECH_INCLUDE },
	{ "a",		SPF_MECH_A },
	{ "mx",		SPF_MECH_MX },
	{ "ptr",	SPF_MECH_PTR },
	{ "ip4",	SPF_MECH_IP4 },
	{ "ip6",	SPF_MECH_IP6 },
	{ "exists",	SPF_MECH_EXISTS },
};

size_t
spf_record_version(const char *text, size_t len)
{
	if (len < 6 || strncasecmp(text, "v=spf1", 6) != 0)
		return 0;
	return len == 6 || text[6] == ' ' ? 6 : 0;
}

/* prefix - "/N" at s (n bytes): N in 0..max, no leading zero; the
 * bytes read, or 0 */
static size_t
prefix(const char *s, size_t n, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t	 i = 1;

	if (n < 2 || s[0] != '/' || !isdigit((unsigned char)s[1]))
		return 0;
	if (s[1] == '0' && n > 2 && isdigit((unsigned char)s[2]))
		return 0;
	while (i < n && isdigit((unsigned char)s[i]) && i < 5)
		v = v * 10 + (unsigned)(s[i++] - '0');
	if (v > max || (i < n && isdigit((unsigned char)s[i])))
		return 0;
	*out = v;
	return i;
}

/* dual_cidr - [ "/" N4 ] [ "//" N6 ]: the whole of s, or -1 */
static int
dual_cidr(const char *s, size_t n, struct spf_term *t)
{
	size_t k;

	if (n > 0 && !(n >= 2 && s[1] == '/')) {
		if ((k = prefix(s, n, 32, &t->cidr4)) == 0)
			return -1;
		s += k;
		n -= k;
	}
	if (n > 0) {
		if (n < 2 || s[0] != '/' ||
		    (k = prefix(s + 1, n - 1, 128, &t->cidr6)) == 0 ||
		    k + 1 != n)
			return -1;
	}
	return 0;
}

/* cidr_shape - is s (n bytes) "/digits", "//digits" or both, in the
 * shape of a dual-cidr-length (its values checked later)? */
static int
cidr_shape(const char *s, size_t n)
{
	size_t i = 0, d;

	if (n >= 2 && s[0] == '/' && s[1] != '/') {	/* "/N" */
		for (d = ++i; i < n && isdigit((unsigned char)s[i]); i++)
			;
		if (i == d)
			return 0;
	}
	if (i < n) {					/* "//N" */
		if (n - i < 3 || s[i] != '/' || s[i + 1] != '/')
			return 0;
		for (d = i += 2; i < n && isdigit((unsigned char)s[i]); i++)
			;
		if (i == d)
			return 0;
	}
	return i == n && n > 0;
}

/* cidr_start - where a trailing prefix length begins in s: the first
 * '/' outside a macro that starts one, or n. Any other '/' belongs to
 * the domain-spec ("a:foo:bar/baz.example.com"). */
static size_t
cidr_start(const char *s, size_t n)
{
	int in_macro = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 1 < n && s[i + 1] == '{')
			in_macro = 1;
		else if (s[i] == '}')
			in_macro = 0;
		else if (s[i] == '/' && !in_macro && cidr_shape(s + i, n - i))
			return i;
	}
	return n;
}

/* ip_net - ip4:/ip6: argument, address and optional prefix */
static int
ip_net(const char *s, size_t n, int family, struct spf_term *t)
{
	char	 addr[INET6_ADDRSTRLEN + 1];
	size_t	 a = cidr_start(s, n);
	unsigned max = family == AF_INET ? 32 : 128;
	unsigned *len = family == AF_INET ? &t->cidr4 : &t->cidr6;

	if (a == 0 || a >= sizeof(addr))
		return -1;
	memcpy(addr, s, a);
	addr[a] = '\0';
	if (inet_pton(family, addr, t->addr) != 1)
		return -1;
	if (a < n && prefix(s + a, n - a, max, len) != n - a)
		return -1;
	return 0;
}

/* mechanism - the argument of a mechanism, arg (n bytes, from its
 * ':' or '/' on, or empty) */
static int
mechanism(const char *arg, size_t n, struct spf_term *t, const char **err)
{
	size_t c;

	*err = "invalid argument";
	switch (t->mech) {
	case SPF_MECH_ALL:
		return n == 0 ? 0 : -1;
	case SPF_MECH_INCLUDE:
	case SPF_MECH_EXISTS:
		if (n < 2 || arg[0] != ':')
			return -1;
		t->spec = arg + 1;
		t->speclen = n - 1;
		break;
	case SPF_MECH_PTR:
		if (n == 0)
			return 0;
		if (arg[0] != ':')
			return -1;
		t->spec = arg + 1;
		t->speclen = n - 1;
		break;
	case SPF_MECH_A:
	case SPF_MECH_MX:
		c = cidr_start(arg, n);
		if (dual_cidr(arg + c, n - c, t) == -1) {
			*err = "invalid prefix length";
			return -1;
		}
		if (c == 0)
			return 0;
		if (arg[0] != ':' || c < 2)
			return -1;
		t->spec = arg + 1;
		t->speclen = c - 1;
		break;
	case SPF_MECH_IP4:
	case SPF_MECH_IP6:
		if (n < 2 || arg[0] != ':' ||
		    ip_net(arg + 1, n - 1, t->mech == SPF_MECH_IP4 ?
		    AF_INET : AF_INET6, t) == -1) {
			*err = "invalid network";
			return -1;
		}
		return 0;
	}
	if (!spf_macro_valid(t->spec, t->speclen, SPF_MACRO_DOMAIN)) {
		*err = "invalid domain-spec";
		return -1;
	}
	return 0;
}

int
spf_term_next(const char *text, size_t len, size_t *pos, struct spf_term *t,
    const char **err)
{
	size_t	 i = *pos, start, end, name, n;

	while (i < len && text[i] == ' ')
		i++;
	if (i == len) {
		*pos = i;
		return 0;
	}
	for (end = i; end < len && text[end] != ' '; end++) {
		unsigned char c = (unsigned char)text[end];

		if (c < 0x21 || c > 0x7e) {
			*err = "a character that is not printable ASCII";
			return -1;
		}
	}
	*pos = end;
	start = i;
	memset(t, 0, sizeof(*t));
	t->qual = '+';
	t->cidr4 = 32;
	t->cidr6 = 128;
	if (strchr("+-~?", text[i]) != NULL)
		t->qual = text[i++];
	name = i;
	if (i == end || !isalpha((unsigned char)text[i])) {
		*err = "a term that is no mechanism or modifier";
		return -1;
	}
	while (i < end && (isalnum((unsigned char)text[i]) ||
	    strchr("-_.", text[i]) != NULL))
		i++;
	n = i - name;
	if (i < end && text[i] == '=') {
		if (name != start) {
			*err = "a qualifier on a modifier";
			return -1;
		}
		t->spec = text + i + 1;
		t->speclen = end - i - 1;
		if (n == 8 && strncasecmp(text + name, "redirect", 8) == 0)
			t->kind = SPF_TERM_REDIRECT;
		else if (n == 3 && strncasecmp(text + name, "exp", 3) == 0)
			t->kind = SPF_TERM_EXP;
		else
			t->kind = SPF_TERM_UNKNOWN;
		if (!spf_macro_valid(t->spec, t->speclen,
		    t->kind == SPF_TERM_UNKNOWN ? SPF_MACRO_STRING :
		    SPF_MACRO_DOMAIN)) {
			*err = "invalid macro-string in a modifier";
			return -1;
		}
		return 1;
	}
	t->kind = SPF_TERM_MECH;
	for (size_t k = 0; k < sizeof(mechs) / sizeof(mechs[0]); k++) {
		if (strlen(mechs[k].name) == n &&
		    strncasecmp(text + name, mechs[k].name, n) == 0) {
			t->mech = mechs[k].mech;
			return mechanism(text + i, end - i, t, err) == 0 ?
			    1 : -1;
		}
	}
	*err = "unknown mechanism";
	return -1;
}

int
spf_record_check(const char *text, size_t len, struct spf_term *redirect,
    struct spf_term *exp, const char **err)
{
	struct spf_term	 t;
	size_t		 pos = spf_record_version(text, len);
	int		 rc;

	memset(redirect, 0, sizeof(*redirect));
	memset(exp, 0, sizeof(*exp));
	redirect->kind = exp->kind = SPF_TERM_UNKNOWN;
	if (pos == 0) {
		*err = "no version";
		return -1;
	}
	while ((rc = spf_term_next(text, len, &pos, &t, err)) == 1) {
		if (t.kind == SPF_TERM_REDIRECT || t.kind == SPF_TERM_EXP) {
			struct spf_term *keep = t.kind == SPF_TERM_REDIRECT ?
			    redirect : exp;

			if (keep->kind != SPF_TERM_UNKNOWN) {
				*err = t.kind == SPF_TERM_REDIRECT ?
				    "two redirect= modifiers" :
				    "two exp= modifiers";
				return -1;
			}
			*keep = t;
		}
	}
	return rc;
}
