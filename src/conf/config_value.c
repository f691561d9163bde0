/*
 * config_value - the simple values of sallyport.conf, one parser per
 * kind: numbers with units, switches, domain names and address
 * literals, paths, user names, TLS and SASL words, local parts; and the
 * quoting and list splitting every parser's messages and lists share.
 *
 * Kept apart from config.c, which knows keys, lines and struct config,
 * so that each kind of value is checked in one place whichever key
 * takes it, and can be tested without a file. The values that name a
 * place (listen lines, networks, servers, delivery targets, the
 * smarthost) are config_addr.c's. Nothing here resolves names: address
 * literals go through inet_pton/inet_ntop only.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "conf/config_value.h"

#define CV_LABEL_MAX	63

/* --- messages and lists --------------------------------------------- */

/* cv_excerpt - in between two marks, cut after CV_QUOTE_MAX bytes with
 * "..." so that a long value cannot crowd out the message */
static const char *
cv_excerpt(const char *in, const char *mark, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s%.*s%s%s", mark, CV_QUOTE_MAX, in,
	    strlen(in) > CV_QUOTE_MAX ? "..." : "", mark);
	return out;
}

const char *
cv_quote(const char *in, char *out, size_t outlen)
{
	return cv_excerpt(in, "\"", out, outlen);
}

bool
cv_isblank(int c)
{
	return c == ' ' || c == '\t';
}

const char *
cv_next_item(const char *s, char *item, size_t itemlen)
{
	size_t	 n = 0;

	while (*s == ',' || cv_isblank(*s))
		s++;
	if (*s == '\0')
		return NULL;
	/* Items come from a line of at most CV_LINE_MAX bytes and item
	 * is that big, so the copy cannot be cut. */
	while (*s != '\0' && *s != ',' && !cv_isblank(*s) &&
	    n + 1 < itemlen)
		item[n++] = *s++;
	item[n] = '\0';
	return s;
}

/* --- numbers with units ---------------------------------------------- */

/* Units of a scaled number. The first row is what a bare number means
 * and what cv_number_format falls back to. */
struct cv_unit {
	const char	*name;
	uint64_t	 mult;
};

static const struct cv_unit cv_size_units[] = {
	{ "", 1 }, { "K", 1024 }, { "M", 1024 * 1024 },
	{ "G", 1024 * 1024 * 1024 }, { NULL, 0 }
};
static const struct cv_unit cv_time_units[] = {
	{ "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 }, { NULL, 0 }
};
static const struct cv_unit cv_plain_units[] = {
	{ "", 1 }, { NULL, 0 }
};

static const struct cv_unit *const cv_unit_sets[] = {
	[CV_UNITS_PLAIN] = cv_plain_units,
	[CV_UNITS_SIZE] = cv_size_units,
	[CV_UNITS_TIME] = cv_time_units,
};

void
cv_number_format(uint64_t v, enum cv_units set, char *out, size_t outlen)
{
	const struct cv_unit *u = cv_unit_sets[set], *best = &u[0];

	for (; v != 0 && u->name != NULL; u++)
		if (v % u->mult == 0)
			best = u;
	snprintf(out, outlen, "%llu%s",
	    (unsigned long long)(v / best->mult), best->name);
}

/* cv_unit_list - "K, M or G" from the table, so that a message cannot
 * go stale; "" when the set has no named unit */
static void
cv_unit_list(const struct cv_unit *units, char *out, size_t outlen)
{
	const char	*sep = "";
	size_t		 n = 0, i = 0, len;

	out[0] = '\0';
	for (const struct cv_unit *u = units; u->name != NULL; u++)
		n += u->name[0] != '\0';
	for (const struct cv_unit *u = units; u->name != NULL; u++) {
		if (u->name[0] == '\0')
			continue;
		len = strlen(out);
		snprintf(out + len, outlen - len, "%s%s", sep, u->name);
		sep = ++i == n - 1 ? " or " : ", ";
	}
}

/*
 * Overflow counts as "above the maximum": it is, and it never wraps
 * into a small value.
 */
int
cv_number_parse(const char *val, enum cv_units set, uint64_t min,
    uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	const struct cv_unit *units = cv_unit_sets[set];
	const char	*p = val;
	uint64_t	 v = 0, mult = 0;
	bool		 over = false;
	char		 q[CV_QBUF], lim[32], names[32];

	if (*p < '0' || *p > '9') {
		snprintf(err, errlen, "%s is not a number",
		    cv_quote(val, q, sizeof(q)));
		return -1;
	}
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			over = true;
		else
			v = v * 10 + d;
	}
	if (*p == '\0') {
		mult = 1;
	} else {
		for (const struct cv_unit *u = units; u->name != NULL; u++)
			if (u->name[0] != '\0' && strcasecmp(p, u->name) == 0)
				mult = u->mult;
	}
	if (mult == 0) {
		cv_unit_list(units, names, sizeof(names));
		if (names[0] == '\0')
			snprintf(err, errlen, "%s is not a number",
			    cv_quote(val, q, sizeof(q)));
		else
			snprintf(err, errlen, "%s has an unknown unit "
			    "(expected %s)", cv_quote(val, q, sizeof(q)),
			    names);
		return -1;
	}
	if (v > UINT64_MAX / mult)
		over = true;
	else
		v *= mult;
	if (over || v > max) {
		cv_number_format(max, set, lim, sizeof(lim));
		snprintf(err, errlen, "%s is above the maximum %s",
		    cv_excerpt(val, "", q, sizeof(q)), lim);
		return -1;
	}
	if (v < min) {
		cv_number_format(min, set, lim, sizeof(lim));
		snprintf(err, errlen, "%s is below the minimum %s",
		    cv_excerpt(val, "", q, sizeof(q)), lim);
		return -1;
	}
	*out = v;
	return 0;
}

/* --- domains and address literals ------------------------------------ */

/*
 * Letters, digits and hyphens in labels of 1 to 63 bytes, no hyphen at
 * either end of a label (RFC 1123 2.1), 253 bytes in all. An all-digit
 * last label is refused: that is an address written without brackets.
 */
int
cv_domain_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	size_t	 len = strlen(in), label = 0, i;
	bool	 digits = true;
	char	 q[CV_QBUF];

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > CV_DOMAIN_MAX || len >= outlen) {
		snprintf(err, errlen, "%s is not a domain name (%s)",
		    cv_quote(in, q, sizeof(q)), len == 0 ? "empty" :
		    "longer than 253 bytes");
		return -1;
	}
	for (i = 0; i <= len; i++) {
		char c = i < len ? in[i] : '.';

		if (c == '.') {
			if (label == 0 || label > CV_LABEL_MAX ||
			    in[i - 1] == '-') {
				snprintf(err, errlen, "%s is not a domain name "
				    "(%s)", cv_quote(in, q, sizeof(q)),
				    label == 0 ? "empty label" :
				    label > CV_LABEL_MAX ?
				    "label longer than 63 bytes" :
				    "label ends with '-'");
				return -1;
			}
			if (i < len) {
				label = 0;
				digits = true;
			}
			out[i] = '.';
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '-') {
			snprintf(err, errlen, "%s is not a domain name "
			    "(only letters, digits, '-' and '.')",
			    cv_quote(in, q, sizeof(q)));
			return -1;
		}
		if (c == '-' && label == 0) {
			snprintf(err, errlen, "%s is not a domain name "
			    "(label starts with '-')",
			    cv_quote(in, q, sizeof(q)));
			return -1;
		}
		if (!isdigit((unsigned char)c))
			digits = false;
		out[i] = (char)tolower((unsigned char)c);
		label++;
	}
	out[len] = '\0';
	if (digits) {
		snprintf(err, errlen, "%s is not a domain name (an address "
		    "needs brackets, as [192.0.2.1])",
		    cv_quote(in, q, sizeof(q)));
		return -1;
	}
	return 0;
}

/* cv_literal_norm - "[192.0.2.1]" or "[IPv6:2001:db8::1]", lower case,
 * as the address parser writes a literal domain */
static int
cv_literal_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	size_t		 len = strlen(in);
	char		 addr[NETADDR_STRLEN + 1], q[CV_QBUF];
	unsigned char	 bin[16];
	const char	*a = in + 1;
	int		 family = AF_INET;

	if (strncasecmp(a, "IPv6:", 5) == 0) {
		family = AF_INET6;
		a += 5;
	}
	if (len < 3 || in[len - 1] != ']' || len >= outlen ||
	    (size_t)(in + len - 1 - a) >= sizeof(addr))
		goto bad;
	memcpy(addr, a, (size_t)(in + len - 1 - a));
	addr[in + len - 1 - a] = '\0';
	if (inet_pton(family, addr, bin) != 1 ||
	    netaddr_literal(family, bin, out, outlen) == -1)
		goto bad;
	return 0;
bad:
	snprintf(err, errlen, "%s is not an address literal "
	    "(expected [192.0.2.1] or [IPv6:2001:db8::1])",
	    cv_quote(in, q, sizeof(q)));
	return -1;
}

int
cv_maildomain_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	if (in[0] == '[')
		return cv_literal_norm(in, out, outlen, err, errlen);
	return cv_domain_norm(in, out, outlen, err, errlen);
}

/* --- switches -------------------------------------------------------- */

/* Every spelling of a switch; cv_bool_name prints the first two. */
static const struct {
	const char	*name;
	bool		 value;
} cv_bools[] = {
	{ "yes", true }, { "no", false }, { "true", true }, { "false", false },
	{ "on", true }, { "off", false }, { "1", true }, { "0", false },
};

int
cv_bool_parse(const char *val, bool *out, char *err, size_t errlen)
{
	char	 q[CV_QBUF];

	for (size_t i = 0; i < sizeof(cv_bools) / sizeof(cv_bools[0]); i++)
		if (strcasecmp(val, cv_bools[i].name) == 0) {
			*out = cv_bools[i].value;
			return 0;
		}
	snprintf(err, errlen, "%s is not yes or no", cv_quote(val, q,
	    sizeof(q)));
	return -1;
}

const char *
cv_bool_name(bool v)
{
	return v ? cv_bools[0].name : cv_bools[1].name;
}

/* --- paths and user names ------------------------------------------- */

/* cv_copy - a checked value into out, whole or not at all */
static int
cv_copy(const char *in, char *out, size_t outlen, char *err, size_t errlen)
{
	char	 q[CV_QBUF];

	if ((size_t)snprintf(out, outlen, "%s", in) >= outlen) {
		snprintf(err, errlen, "%s is too long",
		    cv_quote(in, q, sizeof(q)));
		return -1;
	}
	return 0;
}

int
cv_path_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	char	 q[CV_QBUF];

	if (in[0] != '/') {
		snprintf(err, errlen, "%s is not an absolute path",
		    cv_quote(in, q, sizeof(q)));
		return -1;
	}
	return cv_copy(in, out, outlen, err, errlen);
}

int
cv_user_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	char	 q[CV_QBUF];

	/* A user name with a blank, ':' or '/' cannot be in passwd, and
	 * a leading '-' would read as an option to other tools. */
	if (strpbrk(in, " \t:/") != NULL || in[0] == '-') {
		snprintf(err, errlen, "%s is not a valid name",
		    cv_quote(in, q, sizeof(q)));
		return -1;
	}
	return cv_copy(in, out, outlen, err, errlen);
}

/* --- TLS and SASL -------------------------------------------------------- */

/* The versions we speak, as OpenSSL's SSL_get_version() names them. */
static const char *const cv_tls_versions[] = { "TLSv1.2", "TLSv1.3" };
#define CV_TLS_EXPECTED	"TLSv1.2 or TLSv1.3"

/* Older versions, refused by name with the RFC that retired them, so
 * that an old configuration learns why rather than just "unknown". */
static const struct {
	const char	*name;
	const char	*rfc;
} cv_tls_obsolete[] = {
	{ "SSLv2", "RFC 6176" }, { "SSLv3", "RFC 7568" },
	{ "TLSv1", "RFC 8996" }, { "TLSv1.0", "RFC 8996" },
	{ "TLSv1.1", "RFC 8996" },
};

int
cv_tls_protocol_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	char	 q[CV_QBUF];
	size_t	 i;

	for (i = 0; i < sizeof(cv_tls_versions) / sizeof(cv_tls_versions[0]);
	    i++)
		if (strcasecmp(in, cv_tls_versions[i]) == 0)
			return cv_copy(cv_tls_versions[i], out, outlen, err,
			    errlen);
	for (i = 0; i < sizeof(cv_tls_obsolete) / sizeof(cv_tls_obsolete[0]);
	    i++)
		if (strcasecmp(in, cv_tls_obsolete[i].name) == 0) {
			snprintf(err, errlen, "%s is obsolete (%s): use "
			    CV_TLS_EXPECTED, cv_tls_obsolete[i].name,
			    cv_tls_obsolete[i].rfc);
			return -1;
		}
	snprintf(err, errlen, "%s is not a TLS version (expected "
	    CV_TLS_EXPECTED ")", cv_quote(in, q, sizeof(q)));
	return -1;
}

/*
 * Cipher names are letters, digits, '-', '_' and '.', joined by ':'
 * and qualified by '!', '+', '-' and "@STRENGTH" or "@SECLEVEL=n".
 * OpenSSL also takes blanks and commas as separators; we do not, so
 * that the value stays one word like every other.
 */
int
cv_ciphers_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	char	 q[CV_QBUF];

	for (const char *c = in; *c != '\0'; c++)
		if (!isalnum((unsigned char)*c) &&
		    strchr(":+-!@=._", *c) == NULL) {
			snprintf(err, errlen, "%s is not a cipher list "
			    "(names such as ECDHE-RSA-AES128-GCM-SHA256 "
			    "joined by ':')", cv_quote(in, q, sizeof(q)));
			return -1;
		}
	return cv_copy(in, out, outlen, err, errlen);
}

#define CV_SASL_MECH_MAX	20	/* RFC 4422 3.1 */

int
cv_sasl_mech_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	size_t	 len = strlen(in);
	char	 q[CV_QBUF];

	if (len == 0 || len > CV_SASL_MECH_MAX || len >= outlen)
		goto bad;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c != '\0' && !isalnum(c) && c != '-' && c != '_')
			goto bad;
		out[i] = (char)toupper(c);
	}
	return 0;
bad:
	snprintf(err, errlen, "%s is not a SASL mechanism name (1 to 20 "
	    "letters, digits, '-' or '_')", cv_quote(in, q, sizeof(q)));
	return -1;
}

/* cv_choice - one of `words` in any case, copied as the table spells
 * it; `what` names the kind in the message */
static int
cv_choice(const char *in, const char *const *words, size_t nwords,
    const char *what, const char *expected, char *out, size_t outlen,
    char *err, size_t errlen)
{
	char	 q[CV_QBUF];

	for (size_t i = 0; i < nwords; i++)
		if (strcasecmp(in, words[i]) == 0)
			return cv_copy(words[i], out, outlen, err, errlen);
	snprintf(err, errlen, "%s is not %s (expected %s)",
	    cv_quote(in, q, sizeof(q)), what, expected);
	return -1;
}

static const char *const cv_pwchecks[] = { "auxprop", "saslauthd" };

int
cv_pwcheck_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	return cv_choice(in, cv_pwchecks, 2, "a password check method",
	    "auxprop or saslauthd", out, outlen, err, errlen);
}

static const char *const cv_sasl_backends[] = { "cyrus", "dovecot" };

int
cv_sasl_backend_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	return cv_choice(in, cv_sasl_backends, 2, "a SASL backend",
	    "cyrus or dovecot", out, outlen, err, errlen);
}

static const char *const cv_tls_modes[] = {
	"required", "opportunistic", "none", "dane"
};

int
cv_smarthost_tls_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	return cv_choice(in, cv_tls_modes, 4, "a TLS mode",
	    "required, opportunistic, none or dane", out, outlen, err,
	    errlen);
}

static const char *const cv_bare_newlines[] = { "reject", "normalize" };

int
cv_bare_newline_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	return cv_choice(in, cv_bare_newlines, 2, "a bare newline mode",
	    "reject or normalize", out, outlen, err, errlen);
}

static const char *const cv_bare_newline_clients[] = { "trusted", "all" };

int
cv_bare_newline_clients_norm(const char *in, char *out, size_t outlen,
    char *err, size_t errlen)
{
	return cv_choice(in, cv_bare_newline_clients, 2, "a client class",
	    "trusted or all", out, outlen, err, errlen);
}

static const char *const cv_auth_policies[] = { "off", "header", "enforce" };

int
cv_auth_policy_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	return cv_choice(in, cv_auth_policies, 3, "a check policy",
	    "off, header or enforce", out, outlen, err, errlen);
}

int
cv_dkim_policy_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	/* A failed DKIM signature is no signature (RFC 6376 6.1): nothing
	 * to enforce on its own; DMARC does that. */
	return cv_choice(in, cv_auth_policies, 2, "a DKIM check policy",
	    "off or header", out, outlen, err, errlen);
}

static const char *const cv_downgrades[] = { "convert", "bounce" };

int
cv_mime_8bit_downgrade_norm(const char *in, char *out, size_t outlen,
    char *err, size_t errlen)
{
	return cv_choice(in, cv_downgrades, 2, "an 8-bit downgrade mode",
	    "convert or bounce", out, outlen, err, errlen);
}

static const char *const cv_commits[] = { "journal", "files" };

int
cv_queue_commit_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	return cv_choice(in, cv_commits, 2, "a commit method",
	    "journal or files", out, outlen, err, errlen);
}

/* --- local parts -------------------------------------------------------- */

/*
 * A dot-atom of the safe characters only: the name becomes a path
 * component of a Maildir (%u), so no '/', no leading dot, no "..".
 */
int
cv_localpart_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	size_t		 len = strlen(in);
	const char	*why = NULL;
	char		 q[CV_QBUF];

	if (len == 0 || len > CV_LOCALPART_MAX)
		why = "1 to 64 bytes";
	else if (in[0] == '.' || in[len - 1] == '.' ||
	    strstr(in, "..") != NULL)
		why = "a '.' at either end or two in a row";
	for (size_t i = 0; why == NULL && i < len; i++)
		if (!isalnum((unsigned char)in[i]) &&
		    strchr(".-_+", in[i]) == NULL)
			why = "only letters, digits, '.', '-', '_' and '+'";
	if (why == NULL && len >= outlen)
		why = "too long";
	if (why != NULL) {
		snprintf(err, errlen, "%s is not a local part (%s)",
		    cv_quote(in, q, sizeof(q)), why);
		return -1;
	}
	for (size_t i = 0; i <= len; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	return 0;
}
