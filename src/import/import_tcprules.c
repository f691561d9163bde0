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
 * tcpserver looks a client up by its address as text, then by shorter
 * and shorter prefixes of it ending in a dot (1.2.3.4, 1.2.3., 1.2., 1.),
 * then the empty rule, and follows the first rule it finds; for one key
 * the first line wins. A range is an abbreviation for one rule per
 * number. So each IPv4 key (an address, a /24, /16 or /8) decides for
 * the addresses under it that no more specific key claims: the rule
 * maps to exactly that part of its networks (split into CIDRs), allow
 * with RELAYCLIENT to mynetworks, deny to client_deny, allow alone to
 * nothing (sallyport's default). An allow inside a relay network is cut
 * out of mynetworks, a relay host inside a deny network out of
 * client_deny: the import never gives relay or refusal to an address
 * that tcpserver would not. IPv6 rules that nest with different
 * outcomes stop the import with both lines named. The default rule is
 * reported: sallyport has no default deny, and a relaying default is an
 * open relay, not imported.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "import/import_qmail.h"
#include "lib/netaddr.h"

#define TR_KEYS_MAX	(1u << 20)	/* IPv4 keys after ranges */

enum tr_dec { TR_ALLOW, TR_RELAY, TR_DENY };

struct tr_rule {
	unsigned	 line;
	const char	*text;		/* the whole line */
	bool		 deny;
	bool		 relay;		/* RELAYCLIENT set */
	const char	*relay_value;
	char		 others[256];	/* other variables, for the report */
	bool		 v4;		/* IPv4 keys first..last, one per */
	unsigned	 level;		/* ... 2^(32 - level) addresses */
	uint32_t	 first, last;
	struct cidr	*cidrs;		/* what it decides, exactly */
	size_t		 ncidrs, cap;
	bool		 nets;		/* an address rule (not default/names) */
	unsigned	 cut_by;	/* a more specific rule's line, or 0 */
	unsigned	 shadow_by;	/* an earlier rule with the same key */
	struct cidr	 net6;		/* an IPv6 rule's network */
	bool		 names;		/* on host names or remote users */
};

/* One IPv4 key of tcpserver's lookup, and the first rule that has it. */
struct tr_key {
	uint32_t	 net;
	unsigned	 level;
	size_t		 rule;
};

static enum tr_dec
tr_dec(const struct tr_rule *r)
{
	return r->deny ? TR_DENY : r->relay ? TR_RELAY : TR_ALLOW;
}

/* tr_push - add net/prefix to r, merging it with the CIDR before when
 * the two are halves of one (CIDRs come in address order, so this keeps
 * the list the fewest networks that cover exactly the same addresses) */
static int
tr_push(struct tr_rule *r, uint32_t net, unsigned prefix)
{
	struct cidr *c, *grown;

	for (;;) {
		uint64_t size = 1ULL << (32 - prefix);

		if (r->ncidrs == 0 || prefix == 0)
			break;
		c = &r->cidrs[r->ncidrs - 1];
		if (c->prefix != prefix || (net & (2 * size - 1)) != size ||
		    ((uint32_t)c->addr[0] << 24 | (uint32_t)c->addr[1] << 16 |
		    (uint32_t)c->addr[2] << 8 | c->addr[3]) != net - size)
			break;
		r->ncidrs--;		/* the lower half: the two make one */
		net -= (uint32_t)size;
		prefix--;
	}
	if (r->ncidrs == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 4;

		if ((grown = reallocarray(r->cidrs, cap, sizeof(*grown))) ==
		    NULL)
			return -1;
		r->cidrs = grown;
		r->cap = cap;
	}
	c = &r->cidrs[r->ncidrs++];
	memset(c, 0, sizeof(*c));
	c->family = AF_INET;
	c->prefix = prefix;
	c->addr[0] = (unsigned char)(net >> 24);
	c->addr[1] = (unsigned char)(net >> 16);
	c->addr[2] = (unsigned char)(net >> 8);
	c->addr[3] = (unsigned char)net;
	return 0;
}

/* tr_range - the addresses lo..hi as the largest aligned networks */
static int
tr_range(struct tr_rule *r, uint64_t lo, uint64_t hi)
{
	while (lo <= hi) {
		unsigned bits = 0;

		while (bits < 32 && (lo & ((1ULL << (bits + 1)) - 1)) == 0 &&
		    lo + (1ULL << (bits + 1)) - 1 <= hi)
			bits++;
		if (tr_push(r, (uint32_t)lo, 32 - bits) == -1)
			return -1;
		lo += 1ULL << bits;
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
	uint64_t	 lo = 0, hi = 0;
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
		/* tcpserver compares text: "010" is never how it writes 10
		 * (tcprules reads the numbers of a range, though) */
		if (dash == NULL && end - s > 1 && *s == '0')
			return "a number with a leading zero, which tcpserver "
			    "never matches";
		if (b < a)
			return "a range must go upwards";
		ranged = dash != NULL;
		lo = lo << 8 | (uint64_t)a;
		hi = hi << 8 | (uint64_t)b;
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
	r->v4 = true;
	r->level = 8 * n;
	r->first = (uint32_t)((uint64_t)lo << 8 * (4 - n));
	r->last = (uint32_t)((uint64_t)hi << 8 * (4 - n));
	return NULL;
}

/* tr_ipv6 - an address, or whole groups then ':' ("2001:db8:") */
static const char *
tr_ipv6(const char *addr, struct tr_rule *r)
{
	struct cidr	*c = &r->net6;
	size_t		 len = strlen(addr);
	char		 full[INET6_ADDRSTRLEN + 4];
	unsigned	 groups = 0;

	memset(c, 0, sizeof(*c));
	c->family = AF_INET6;
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
		r->names = true;
		return 1;
	}
	why = strchr(s, ':') != NULL ? tr_ipv6(s, r) : tr_ipv4(s, r);
	if (why != NULL)
		return imp_fail(imp, "%s:%u: %s: %s", path, r->line,
		    cv_quote(s, q, sizeof(q)), why);
	r->nets = true;
	return 0;
}

static int
tr_key_cmp(const void *a, const void *b)
{
	const struct tr_key *x = a, *y = b;

	if (x->net != y->net)
		return x->net < y->net ? -1 : 1;
	if (x->level != y->level)
		return x->level < y->level ? -1 : 1;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/* tr_keys - every IPv4 key of every rule, sorted by address, then
 * shortest prefix first; of the rules with the same key only the first
 * (tcpserver's choice) is kept, the others learn that they are shadowed */
static struct tr_key *
tr_keys(struct tr_rule *rules, size_t n, size_t *nkeys, const char **why)
{
	struct tr_key	*keys;
	size_t		 total = 0, k = 0, out = 0;

	for (size_t i = 0; i < n; i++)
		if (rules[i].nets && rules[i].v4)
			total += ((rules[i].last - rules[i].first) >>
			    (32 - rules[i].level)) + 1;
	*why = "too many addresses in the rules";
	if (total > TR_KEYS_MAX)
		return NULL;
	*why = "out of memory";
	if ((keys = calloc(total + 1, sizeof(*keys))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct tr_rule *r = &rules[i];
		uint64_t step = 1ULL << (32 - r->level);

		if (!r->nets || !r->v4)
			continue;
		for (uint64_t a = r->first; a <= r->last; a += step)
			keys[k++] = (struct tr_key){ (uint32_t)a, r->level, i };
	}
	qsort(keys, k, sizeof(*keys), tr_key_cmp);
	for (size_t j = 0; j < k; j++) {
		if (out > 0 && keys[out - 1].net == keys[j].net &&
		    keys[out - 1].level == keys[j].level) {
			if (rules[keys[j].rule].shadow_by == 0)
				rules[keys[j].rule].shadow_by =
				    rules[keys[out - 1].rule].line;
			continue;
		}
		keys[out++] = keys[j];
	}
	*nkeys = out;
	return keys;
}

/* tr_resolve - each IPv4 rule's CIDRs: for each key it has first, the
 * key's addresses less those of every more specific key within (they
 * decide for themselves), as tcpserver's lookup does */
static const char *
tr_resolve(struct tr_rule *rules, size_t n)
{
	struct tr_key	*keys;
	size_t		 nkeys = 0;
	const char	*why;

	if ((keys = tr_keys(rules, n, &nkeys, &why)) == NULL)
		return why;
	for (size_t i = 0; i < nkeys; i++) {
		struct tr_rule *r = &rules[keys[i].rule];
		uint64_t lo = keys[i].net, cursor = lo,
		    hi = lo + (1ULL << (32 - keys[i].level)) - 1;

		/* Sorted by address, then shortest prefix first: what follows
		 * within lo..hi is more specific; one that starts before
		 * cursor lies inside one already cut out. */
		for (size_t j = i + 1; j < nkeys && keys[j].net <= hi; j++) {
			uint64_t start = keys[j].net;

			if (start < cursor)
				continue;
			if (start > cursor && tr_range(r, cursor, start - 1) == -1)
				goto nomem;
			if (r->cut_by == 0)
				r->cut_by = rules[keys[j].rule].line;
			cursor = start + (1ULL << (32 - keys[j].level));
		}
		if (cursor <= hi && tr_range(r, cursor, hi) == -1)
			goto nomem;
	}
	free(keys);
	return NULL;
nomem:
	free(keys);
	return "out of memory";
}

/* tr_ipv6_nesting - IPv6 rules are matched on text, which sallyport
 * cannot redo for every way of writing an address: networks that
 * overlap with different outcomes stop the import (lines named);
 * otherwise each maps whole. 0, or -1 with imp's error set. */
static int
tr_ipv6_nesting(struct imp *imp, const char *path, struct tr_rule *rules,
    size_t n)
{
	char a[CIDR_STRLEN], b[CIDR_STRLEN];

	for (size_t i = 0; i < n; i++) {
		struct tr_rule *r = &rules[i];

		if (!r->nets || r->v4)
			continue;
		for (size_t j = 0; j < n; j++) {
			const struct tr_rule *o = &rules[j];
			const struct cidr *big, *small;
			struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

			if (j == i || !o->nets || o->v4 || tr_dec(o) == tr_dec(r))
				continue;
			big = r->net6.prefix <= o->net6.prefix ? &r->net6 :
			    &o->net6;
			small = big == &r->net6 ? &o->net6 : &r->net6;
			memcpy(&sin6.sin6_addr, small->addr, 16);
			if (!cidr_match(big, (const struct sockaddr *)&sin6))
				continue;
			cidr_format(&r->net6, a, sizeof(a));
			cidr_format(&o->net6, b, sizeof(b));
			return imp_fail(imp, "%s:%u: %s overlaps %s of line %u "
			    "with another outcome; tcpserver decides IPv6 "
			    "clients by the text of their address, which "
			    "sallyport cannot map exactly: give each network "
			    "one outcome", path, i < j ? r->line : o->line,
			    i < j ? a : b, i < j ? b : a,
			    i < j ? o->line : r->line);
		}
		if ((r->cidrs = calloc(1, sizeof(*r->cidrs))) == NULL)
			return imp_fail(imp, "out of memory");
		r->cidrs[0] = r->net6;
		r->ncidrs = r->cap = 1;
	}
	return 0;
}

/* tr_names - a rule on names (=host, user@...) comes before tcpserver's
 * address prefixes and default: one that does not relay may keep from
 * relaying a client that a prefix would let relay, and sallyport cannot
 * tell which. 0, or -1 with imp's error set. */
static int
tr_names(struct imp *imp, const char *path, const struct tr_rule *rules,
    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!rules[i].names || tr_dec(&rules[i]) == TR_RELAY)
			continue;
		for (size_t j = 0; j < n; j++) {
			const struct tr_rule *o = &rules[j];

			if (!o->nets || tr_dec(o) != TR_RELAY ||
			    (o->v4 ? o->level == 32 : o->net6.prefix == 128))
				continue;
			return imp_fail(imp, "%s:%u: %s takes precedence over "
			    "the network of line %u (%s) for the clients it "
			    "names, which sallyport cannot know: the import "
			    "would let them relay; use addresses",
			    path, rules[i].line, rules[i].text, o->line,
			    o->text);
		}
	}
	return 0;
}

/* tr_list - the networks of the rules that deny, or allow with
 * RELAYCLIENT, in the order of the file */
static char *
tr_list(const struct tr_rule *rules, size_t n, enum tr_dec dec, char **why)
{
	struct imp_text	 t[2];		/* the value, where it came from */
	char		 buf[CIDR_STRLEN];
	bool		 first = true;

	if (imp_texts_open(t, 2) == -1)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct tr_rule *r = &rules[i];

		if (!r->nets || tr_dec(r) != dec)
			continue;
		fprintf(t[1].fp, "\nline %u: %s ->", r->line, r->text);
		for (size_t j = 0; j < r->ncidrs; j++) {
			cidr_format(&r->cidrs[j], buf, sizeof(buf));
			fprintf(t[0].fp, "%s%s", first ? "" : " ", buf);
			fprintf(t[1].fp, " %s", buf);
			first = false;
		}
		if (r->ncidrs == 0 && r->shadow_by != 0)
			fprintf(t[1].fp, " nothing (line %u comes first for "
			    "the same address)", r->shadow_by);
		else if (r->ncidrs == 0)
			fprintf(t[1].fp, " nothing (more specific rules "
			    "decide for all of it)");
		else if (r->cut_by != 0)
			fprintf(t[1].fp, " (less what more specific rules "
			    "decide, as line %u)", r->cut_by);
	}
	*why = imp_text_close(&t[1]);
	return imp_text_close(&t[0]);
}

/* tr_report - what each rule became, and what it could not */
static void
tr_report(struct imp *imp, const char *path, const struct tr_rule *r,
    bool dflt)
{
	char cut[96] = "";

	if (!dflt && r->ncidrs == 0 && r->shadow_by != 0)
		snprintf(cut, sizeof(cut), ": no effect, line %u comes first "
		    "for the same address", r->shadow_by);
	else if (!dflt && r->ncidrs == 0)
		snprintf(cut, sizeof(cut), ": no effect, more specific rules "
		    "decide for all of it");
	else if (r->shadow_by != 0)
		snprintf(cut, sizeof(cut), ", less the addresses line %u has "
		    "first", r->shadow_by);
	else if (r->cut_by != 0)
		snprintf(cut, sizeof(cut), ", less the addresses more specific "
		    "rules decide (line %u...)", r->cut_by);
	if (r->others[0] != '\0')
		imp_unmapped(imp, "%s:%u: %s: not imported (no per-client "
		    "settings in sallyport)", path, r->line, r->others);
	if (!dflt && r->ncidrs == 0)
		imp_mapped(imp, "%s:%u: %s%s", path, r->line, r->text, cut);
	else if (dflt && r->shadow_by != 0)
		imp_mapped(imp, "%s:%u: %s: no effect, the default of line %u "
		    "comes first", path, r->line, r->text, r->shadow_by);
	else if (dflt && r->deny)
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
		imp_mapped(imp, "%s:%u: %s -> client_deny%s", path, r->line,
		    r->text, cut);
	else if (r->relay)
		imp_mapped(imp, "%s:%u: %s -> mynetworks%s%s", path, r->line,
		    r->text, cut, r->relay_value[0] != '\0' ? " (the "
		    "RELAYCLIENT suffix for recipients is not imported)" : "");
	else
		imp_mapped(imp, "%s:%u: %s: may connect, as in sallyport by "
		    "default%s", path, r->line, r->text, cut);
}

int
imp_tcprules(struct imp *imp)
{
	struct imp_lines l;
	struct tr_rule	*rules;
	size_t		 n = 0;
	char		*val, *why = NULL;
	const char	*err;
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
		char		*s = imp_trim(l.v[i]), *copy, q[CV_QBUF];
		struct tr_rule	*r = &rules[n];

		/* tcprules skips a line without a colon and one starting
		 * with '#' */
		if (*s == '\0' || (*s == '#' && (s == l.v[i] ||
		    strchr(s, ':') == NULL)))
			continue;
		/* tcprules strips blanks at the end of a line only: blanks
		 * before the address stay in the key, which tcpserver never
		 * matches. Imported, such a rule would widen what qmail
		 * allowed (a relay network qmail never relayed for). */
		if (s != l.v[i]) {
			imp_fail(imp, "%s:%u: %s: blanks before the address: "
			    "tcprules keeps them in the key, so tcpserver never "
			    "applied this rule; remove the line (or the blanks, "
			    "to apply it from now on)", imp->tcprules,
			    (unsigned)i + 1, cv_quote(l.v[i], q, sizeof(q)));
			goto out;
		}
		r->line = (unsigned)i + 1;
		/* keep the line as written for comments and the report */
		if ((copy = strdup(s)) == NULL) {
			imp_fail(imp, "out of memory");
			goto out;
		}
		r->text = copy;
		n++;
		if (tr_parse(imp, imp->tcprules, s, r) == -1)
			goto out;
	}
	if (tr_names(imp, imp->tcprules, rules, n) == -1 ||
	    tr_ipv6_nesting(imp, imp->tcprules, rules, n) == -1)
		goto out;
	if ((err = tr_resolve(rules, n)) != NULL) {
		imp_fail(imp, "%s: %s", imp->tcprules, err);
		goto out;
	}
	for (size_t i = 0, dflt = 0; i < n; i++) {
		if (rules[i].names)
			continue;
		if (!rules[i].nets && dflt != 0)	/* tcpserver takes the first */
			rules[i].shadow_by = (unsigned)dflt;
		else if (!rules[i].nets)
			dflt = rules[i].line;
		tr_report(imp, imp->tcprules, &rules[i], !rules[i].nets);
	}
	if ((val = tr_list(rules, n, TR_RELAY, &why)) == NULL)
		goto nomem;
	imp_key_set(imp, "mynetworks", val, "%s, the rules that allow with "
	    "RELAYCLIENT%s", imp->tcprules, why[0] != '\0' ? why :
	    ": none, so nobody relays without AUTH");
	free(val);
	free(why);
	why = NULL;
	if ((val = tr_list(rules, n, TR_DENY, &why)) == NULL)
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
	for (size_t i = 0; i < n; i++) {
		free((char *)rules[i].text);
		free(rules[i].cidrs);
	}
	free(rules);
	imp_lines_free(&l);
	return rc;
}
