/*
 * import_tcprules - tcpserver's rules for qmail-smtpd (tcp.smtp, the
 * source of tcp.smtp.cdb) as mynetworks and client_deny.
 *
 * A rule is ADDRESS:allow or ADDRESS:deny, optionally followed by
 * ,VAR="value" settings (any character may quote the value). ADDRESS
 * is a full IPv4 address, a prefix ending in a dot ("192.168.1."), a
 * range in its last number ("10.0.0.10-20", "10.1-3."), an IPv6
 * address or a prefix of whole groups ending in a colon
 * ("2001:db8:"), or empty for the default. Hostname (=...) and
 * remote-info (user@...) rules are reported: sallyport matches
 * addresses only.
 *
 * allow with RELAYCLIENT -> mynetworks; deny -> client_deny; allow
 * alone is sallyport's default. Any other variable is reported. tcprules
 * picks the most specific rule, while sallyport refuses a client_deny
 * address whatever else matches: an allowed address inside a denied
 * network is reported.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "import_qmail.h"
#include "netaddr.h"

#define TR_CIDRS_MAX	64	/* a range of one octet needs at most 14 */

struct tr_rule {
	unsigned	 line;
	const char	*text;		/* the whole line */
	bool		 deny;
	bool		 relay;		/* RELAYCLIENT set */
	const char	*relay_value;
	char		 others[256];	/* other variables, for the report */
	struct cidr	 cidrs[TR_CIDRS_MAX];
	size_t		 ncidrs;
};

/* tr_range - the networks that cover lo..hi exactly, largest first */
static int
tr_range(uint32_t lo, uint32_t hi, struct tr_rule *r)
{
	uint64_t	 a = lo, end = hi;

	while (a <= end) {
		unsigned bits = 0;
		struct cidr *c;

		while (bits < 32 && (a & ((1ULL << (bits + 1)) - 1)) == 0 &&
		    a + (1ULL << (bits + 1)) - 1 <= end)
			bits++;
		if (r->ncidrs == TR_CIDRS_MAX)
			return -1;
		c = &r->cidrs[r->ncidrs++];
		memset(c, 0, sizeof(*c));
		c->family = AF_INET;
		c->prefix = 32 - bits;
		c->addr[0] = (unsigned char)(a >> 24);
		c->addr[1] = (unsigned char)(a >> 16);
		c->addr[2] = (unsigned char)(a >> 8);
		c->addr[3] = (unsigned char)a;
		a += 1ULL << bits;
	}
	return 0;
}

/* tr_octet - a number 0..255 from s up to end; -1 if not one */
static int
tr_octet(const char *s, const char *end)
{
	int	 v = 0;

	if (s == end || end - s > 3)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v <= 255 ? v : -1;
}

/* tr_ipv4 - "a.b.c.d", "a.b.", "a.b.c.d-e", "a.b-c." */
static const char *
tr_ipv4(const char *addr, struct tr_rule *r)
{
	uint32_t	 lo = 0, hi = 0;
	unsigned	 n = 0;
	const char	*s = addr;
	bool		 prefix = false, ranged = false;

	while (*s != '\0') {
		const char *dot = strchr(s, '.'), *end, *dash;
		int	 a, b;

		end = dot != NULL ? dot : s + strlen(s);
		if (n == 4 || ranged)
			return "a range is allowed in the last number only";
		dash = memchr(s, '-', (size_t)(end - s));
		a = tr_octet(s, dash != NULL ? dash : end);
		b = dash != NULL ? tr_octet(dash + 1, end) : a;
		if (a < 0 || b < 0)
			return "expected numbers 0-255 between the dots";
		if (b < a)
			return "a range must go upwards";
		ranged = dash != NULL;
		lo = lo << 8 | (uint32_t)a;
		hi = hi << 8 | (uint32_t)b;
		n++;
		if (dot == NULL)
			break;
		s = dot + 1;
		if (*s == '\0')
			prefix = true;
	}
	if (!prefix && n != 4)
		return "incomplete address (a prefix ends with '.')";
	if (prefix && n == 4)
		return "a full address takes no final '.'";
	lo <<= 8 * (4 - n);
	hi = (hi << 8 * (4 - n)) | (uint32_t)((1ULL << 8 * (4 - n)) - 1);
	if (tr_range(lo, hi, r) == -1)
		return "range too complex";
	return NULL;
}

/* tr_ipv6 - an address, or whole groups then ':' ("2001:db8:") */
static const char *
tr_ipv6(const char *addr, struct tr_rule *r)
{
	struct cidr	*c = &r->cidrs[0];
	size_t		 len = strlen(addr);
	char		 full[INET6_ADDRSTRLEN + 4];
	unsigned	 groups = 0;

	memset(c, 0, sizeof(*c));
	c->family = AF_INET6;
	r->ncidrs = 1;
	if (inet_pton(AF_INET6, addr, c->addr) == 1) {
		c->prefix = 128;
		return NULL;
	}
	if (len == 0 || addr[len - 1] != ':' || strstr(addr, "::") != NULL ||
	    len + 2 >= sizeof(full))
		return "not an IPv6 address or prefix of whole groups";
	for (const char *s = addr; *s != '\0'; s++)
		groups += *s == ':';
	if (groups >= 8)
		return "not an IPv6 address or prefix of whole groups";
	snprintf(full, sizeof(full), "%s:", addr);
	if (inet_pton(AF_INET6, full, c->addr) != 1)
		return "not an IPv6 address or prefix of whole groups";
	c->prefix = 16 * groups;
	return NULL;
}

/* tr_split - where ":allow" or ":deny" starts the instructions */
static char *
tr_split(char *s)
{
	for (char *c = strchr(s, ':'); c != NULL; c = strchr(c + 1, ':')) {
		size_t n = strncmp(c + 1, "allow", 5) == 0 ? 5 :
		    strncmp(c + 1, "deny", 4) == 0 ? 4 : 0;

		if (n > 0 && (c[1 + n] == '\0' || c[1 + n] == ','))
			return c;
	}
	return NULL;
}

/* tr_vars - ,VAR="value" settings after allow or deny */
static const char *
tr_vars(char *s, struct tr_rule *r)
{
	size_t	 olen = 0;

	while (*s == ',') {
		char	*name = s + 1, *eq, *val, *end, quote;

		if ((eq = strchr(name, '=')) == NULL || eq == name)
			return "expected ,VAR=\"value\"";
		*eq = '\0';
		quote = eq[1];
		if (quote == '\0' || quote == ',')
			return "expected ,VAR=\"value\" (the value in quotes)";
		val = eq + 2;
		if ((end = strchr(val, quote)) == NULL)
			return "unterminated quoted value";
		*end = '\0';
		s = end + 1;
		if (*s != '\0' && *s != ',')
			return "expected ',' after a quoted value";
		if (strcmp(name, "RELAYCLIENT") == 0) {
			r->relay = true;
			r->relay_value = val;
		} else if (olen + strlen(name) + 3 < sizeof(r->others)) {
			olen += (size_t)snprintf(r->others + olen,
			    sizeof(r->others) - olen, "%s%s", olen > 0 ? ", " :
			    "", name);
		}
	}
	return *s == '\0' ? NULL : "expected ,VAR=\"value\"";
}

/* tr_parse - one rule; 1 for a rule on names, which is only reported */
static int
tr_parse(struct imp *imp, const char *path, char *s, struct tr_rule *r)
{
	char		*colon = tr_split(s), q[CV_QBUF];
	const char	*why;

	if (colon == NULL)
		return imp_fail(imp, "%s:%u: %s: expected ADDRESS:allow or "
		    "ADDRESS:deny", path, r->line, cv_quote(s, q, sizeof(q)));
	*colon = '\0';
	r->deny = colon[1] == 'd';
	if ((why = tr_vars(colon + (r->deny ? 5 : 6), r)) != NULL)
		return imp_fail(imp, "%s:%u: %s", path, r->line, why);
	if (s[0] == '\0')
		return 0;		/* the default rule */
	if (s[0] == '=' || strchr(s, '@') != NULL) {
		imp_unmapped(imp, "%s:%u: %s: a rule on host names or remote "
		    "users; sallyport matches addresses only", path, r->line,
		    r->text);
		return 1;
	}
	why = strchr(s, ':') != NULL ? tr_ipv6(s, r) : tr_ipv4(s, r);
	if (why != NULL)
		return imp_fail(imp, "%s:%u: %s: %s", path, r->line,
		    cv_quote(s, q, sizeof(q)), why);
	return 0;
}

/* tr_list - the networks of the rules that are (not) deny ones */
static char *
tr_list(const struct tr_rule *rules, size_t n, bool deny, char **why)
{
	struct imp_text	 t[2];		/* the value, where it came from */
	char		 buf[CIDR_STRLEN];
	bool		 first = true;

	if (imp_texts_open(t, 2) == -1)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct tr_rule *r = &rules[i];

		if (r->ncidrs == 0 || r->deny != deny || (!deny && !r->relay))
			continue;
		fprintf(t[1].fp, "\nline %u: %s ->", r->line, r->text);
		for (size_t j = 0; j < r->ncidrs; j++) {
			cidr_format(&r->cidrs[j], buf, sizeof(buf));
			fprintf(t[0].fp, "%s%s", first ? "" : " ", buf);
			fprintf(t[1].fp, " %s", buf);
			first = false;
		}
	}
	*why = imp_text_close(&t[1]);
	return imp_text_close(&t[0]);
}

/* tr_shadowed - an allowed network inside a denied one */
static void
tr_shadowed(struct imp *imp, const char *path, const struct tr_rule *rules,
    size_t n)
{
	char	 a[CIDR_STRLEN], d[CIDR_STRLEN];

	for (size_t i = 0; i < n; i++) {
		if (rules[i].deny)
			continue;
		for (size_t j = 0; j < rules[i].ncidrs; j++) {
			const struct cidr *c = &rules[i].cidrs[j];
			struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
			struct sockaddr_in sin = { .sin_family = AF_INET };
			const struct sockaddr *sa = (const void *)&sin;

			if (c->family == AF_INET6) {
				memcpy(&sin6.sin6_addr, c->addr, 16);
				sa = (const void *)&sin6;
			} else {
				memcpy(&sin.sin_addr, c->addr, 4);
			}
			for (size_t k = 0; k < n; k++)
				for (size_t m = 0; rules[k].deny &&
				    m < rules[k].ncidrs; m++) {
					const struct cidr *dc =
					    &rules[k].cidrs[m];

					if (dc->prefix >= c->prefix ||
					    !cidr_match(dc, sa))
						continue;
					cidr_format(c, a, sizeof(a));
					cidr_format(dc, d, sizeof(d));
					imp_unmapped(imp, "%s:%u: %s is "
					    "allowed inside %s, denied at line "
					    "%u: sallyport refuses all of "
					    "client_deny, so %s stays refused",
					    path, rules[i].line, a, d,
					    rules[k].line, a);
				}
		}
	}
}

/* tr_report - what each rule became, and what it could not */
static void
tr_report(struct imp *imp, const char *path, const struct tr_rule *r,
    bool dflt)
{
	if (r->others[0] != '\0')
		imp_unmapped(imp, "%s:%u: %s: not imported (no per-client "
		    "settings in sallyport)", path, r->line, r->others);
	if (dflt && r->deny)
		imp_unmapped(imp, "%s:%u: %s: the default refuses everyone "
		    "else; sallyport has no default deny: list the networks "
		    "to refuse in client_deny", path, r->line, r->text);
	else if (dflt && r->relay)
		imp_unmapped(imp, "%s:%u: %s: lets every client relay (an "
		    "open relay): not imported", path, r->line, r->text);
	else if (dflt)
		imp_mapped(imp, "%s:%u: %s: everyone else may connect, as in "
		    "sallyport by default", path, r->line, r->text);
	else if (r->deny)
		imp_mapped(imp, "%s:%u: %s -> client_deny", path, r->line,
		    r->text);
	else if (r->relay)
		imp_mapped(imp, "%s:%u: %s -> mynetworks%s", path, r->line,
		    r->text, r->relay_value[0] != '\0' ? " (the RELAYCLIENT "
		    "suffix for recipients is not imported)" : "");
	else
		imp_mapped(imp, "%s:%u: %s: may connect, as in sallyport by "
		    "default", path, r->line, r->text);
}

int
imp_tcprules(struct imp *imp)
{
	struct imp_lines l;
	struct tr_rule	*rules;
	size_t		 n = 0;
	char		*val, *why = NULL;
	int		 rc = -1;

	memset(&l, 0, sizeof(l));
	if ((rc = imp_lines_read(imp, imp->tcprules, &l)) != 0) {
		if (rc == 1 && imp->tcprules_given)
			return imp_fail(imp, "%s: no such file", imp->tcprules);
		if (rc == 1)
			imp_unmapped(imp, "%s: missing: mynetworks and "
			    "client_deny left at sallyport's defaults",
			    imp->tcprules);
		return rc == 1 ? 0 : -1;
	}
	if ((rules = calloc(l.n + 1, sizeof(*rules))) == NULL) {
		imp_lines_free(&l);
		return imp_fail(imp, "out of memory");
	}
	rc = -1;
	for (size_t i = 0; i < l.n; i++) {
		char		*s = imp_trim(l.v[i]), *copy;
		struct tr_rule	*r = &rules[n];
		int		 k;

		if (*s == '\0' || *s == '#')
			continue;
		r->line = (unsigned)i + 1;
		/* keep the line as written for comments and the report */
		if ((copy = strdup(s)) == NULL) {
			imp_fail(imp, "out of memory");
			goto out;
		}
		r->text = copy;
		if ((k = tr_parse(imp, imp->tcprules, s, r)) == -1) {
			n++;
			goto out;
		}
		n++;
		if (k == 0)
			tr_report(imp, imp->tcprules, r, r->ncidrs == 0);
	}
	tr_shadowed(imp, imp->tcprules, rules, n);
	if ((val = tr_list(rules, n, false, &why)) == NULL)
		goto nomem;
	imp_key_set(imp, "mynetworks", val, "%s, the rules that allow with "
	    "RELAYCLIENT%s", imp->tcprules, why[0] != '\0' ? why :
	    ": none, so nobody relays without AUTH");
	free(val);
	free(why);
	why = NULL;
	if ((val = tr_list(rules, n, true, &why)) == NULL)
		goto nomem;
	imp_key_set(imp, "client_deny", val, "%s, the rules that deny%s",
	    imp->tcprules, why[0] != '\0' ? why : ": none");
	free(val);
	free(why);
	rc = 0;
	goto out;
nomem:
	free(why);
	imp_fail(imp, "out of memory");
out:
	for (size_t i = 0; i < n; i++)
		free((char *)rules[i].text);
	free(rules);
	imp_lines_free(&l);
	return rc;
}
