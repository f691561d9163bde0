/*
 * address - RFC 5321 path parser for MAIL FROM and RCPT TO.
 *
 * Grammar accepted (RFC 5321 4.1.2, plus the leniencies noted):
 *
 *   path       = "<" [ route ":" ] mailbox ">"  /  "<>"  /  bare
 *   bare       = [ route ":" ] mailbox      ; ends at SP, HTAB or end
 *   route      = "@" domain *( "," "@" domain )   ; dropped
 *   mailbox    = local-part [ "@" ( domain / address-literal ) ]
 *   local-part = dot-string / quoted-string
 *
 * Leniencies and decisions:
 * - A mailbox without "@domain" parses, flagged ADDR_F_NODOMAIN
 *   (RCPT TO:<postmaster> is legal); the caller decides.
 * - Bare paths (no brackets) are accepted in every form the bracketed
 *   one has, source route included; the path ends at the first blank.
 * - Two unquoted "@" (a@b@c) is a syntax error: no reading of it is
 *   right, and guessing is how relays open. A quoted "@" ("a@b"@c) is
 *   legal and reported as routing.
 * - A source route may name address literals; route domains are
 *   checked, then dropped.
 * - Only IPv4 and "IPv6:" literals are accepted; general literals
 *   ("[tag:...]") cannot be delivered to and are refused.
 * - Octets >= 0x80 are allowed in local parts and domain labels
 *   (SMTPUTF8) when they are well-formed UTF-8 (RFC 3629, which RFC
 *   6531 3.3 asks for: no overlong forms, surrogates or stray
 *   continuation bytes); ADDR_F_UTF8 tells the caller.
 * - The local part limit (64) applies to its unquoted text, the path
 *   limit (256) to the bytes used, brackets included. A 255-octet
 *   domain passes the domain check but can never fit in a 256-octet
 *   path, so it fails with "Path too long".
 * - A trick in the local part (%, !, quoted @) sets ADDR_F_ROUTING and
 *   routed_domain to the first hop an old MTA would take: inner "@"
 *   first (after the last one), then "%" (after the last one), then
 *   "!" (before the first one). The hop may be empty ("a%@b", "!a");
 *   policy must then treat the address as leading nowhere local.
 *
 * Error texts (*err), static, without reply code:
 *   "Syntax error in mailbox address"
 *   "Local part too long"
 *   "Domain name too long"
 *   "Path too long"
 *   "Bad address literal"
 *   "Control character in address"
 *   "Malformed UTF-8 in address"
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "smtp/address.h"
#include "lib/netaddr.h"

#define LABEL_MAX	63	/* RFC 1035 2.3.4 */
#define LITERAL_MAX	63	/* text between [ and ]: "IPv6:" + 45 */

static const char err_syntax[] = "Syntax error in mailbox address";
static const char err_local[] = "Local part too long";
static const char err_domain[] = "Domain name too long";
static const char err_path[] = "Path too long";
static const char err_literal[] = "Bad address literal";
static const char err_control[] = "Control character in address";
static const char err_utf8[] = "Malformed UTF-8 in address";

struct scan {
	const unsigned char *s;
	size_t		len;
	size_t		pos;
	int		bracket;	/* inside <...> */
	const char	*err;		/* set by the first failure */
};

/* peek - the next octet, or -1 at the end of input */
static int
peek(const struct scan *sc)
{
	return sc->pos < sc->len ? sc->s[sc->pos] : -1;
}

static int
is_blank(int c)
{
	return c == ' ' || c == '\t';
}

static int
is_control(int c)
{
	return (c >= 0 && c < 32) || c == 127;
}

static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static int
to_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* is_atext - RFC 5322 atext, plus UTF-8 octets (RFC 6531) */
static int
is_atext(int c)
{
	return is_alnum(c) || c >= 0x80 ||
	    (c > 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int
is_label_char(int c)
{
	return is_alnum(c) || c == '-' || c >= 0x80;
}

static int
fail(struct scan *sc, const char *msg)
{
	if (sc->err == NULL)
		sc->err = msg;
	return -1;
}

/* unexpected - fail on the octet at the current position; a blank
 * ends a bare path (too early, here) but is a control inside <> */
static int
unexpected(struct scan *sc)
{
	int	c = peek(sc);

	if (is_control(c) && (sc->bracket || !is_blank(c)))
		return fail(sc, err_control);
	return fail(sc, err_syntax);
}

/* parse_literal - "[1.2.3.4]" or "[IPv6:...]" into out, brackets kept */
static int
parse_literal(struct scan *sc, char *out, size_t outlen)
{
	char		text[LITERAL_MAX + 1];
	unsigned char	bin[sizeof(struct in6_addr)];
	size_t		n = 0;
	int		c, v6;

	sc->pos++;			/* '[' */
	while ((c = peek(sc)) != ']') {
		if (c == -1)
			return fail(sc, err_literal);
		if (is_control(c))
			return fail(sc, err_control);
		if (!is_alnum(c) && c != '.' && c != ':')
			return fail(sc, err_literal);
		if (n == LITERAL_MAX)
			return fail(sc, err_literal);
		text[n++] = (char)c;
		sc->pos++;
	}
	sc->pos++;			/* ']' */
	text[n] = '\0';

	v6 = n > 5 && strncasecmp(text, "IPv6:", 5) == 0;
	if (v6 ? inet_pton(AF_INET6, text + 5, bin) != 1 :
	    inet_pton(AF_INET, text, bin) != 1)
		return fail(sc, err_literal);

	/* Canonical form, so that two spellings of one address match. */
	if (netaddr_literal(v6 ? AF_INET6 : AF_INET, bin, out, outlen) == -1)
		return fail(sc, err_literal);
	return 0;
}

/*
 * parse_domain - a domain name or address literal into out (size
 * ADDR_DOMAIN_MAX + 1), lower-cased, one trailing dot dropped. Adds
 * ADDR_F_LITERAL / ADDR_F_UTF8 to *flags.
 */
static int
parse_domain(struct scan *sc, char *out, unsigned *flags)
{
	size_t	n = 0, label = 0;
	int	c;

	if (peek(sc) == '[') {
		*flags |= ADDR_F_LITERAL;
		return parse_literal(sc, out, ADDR_DOMAIN_MAX + 1);
	}
	for (;;) {
		c = peek(sc);
		if (is_label_char(c)) {
			if (label == 0 && c == '-')
				return fail(sc, err_syntax);
			if (label == LABEL_MAX)
				return fail(sc, err_syntax);
			if (n == ADDR_DOMAIN_MAX)
				return fail(sc, err_domain);
			if (c >= 0x80)
				*flags |= ADDR_F_UTF8;
			out[n++] = (char)to_lower(c);
			label++;
			sc->pos++;
			continue;
		}
		if (label == 0 || out[n - 1] == '-')
			return unexpected(sc);	/* empty label, "a-" */
		if (c != '.')
			break;
		sc->pos++;
		if (!is_label_char(peek(sc)))
			break;		/* one trailing dot, dropped */
		if (n == ADDR_DOMAIN_MAX)
			return fail(sc, err_domain);
		out[n++] = '.';
		label = 0;
	}
	out[n] = '\0';
	return 0;
}

/* parse_route - "@a,@b:" (validated, then dropped) */
static int
parse_route(struct scan *sc)
{
	char		scratch[ADDR_DOMAIN_MAX + 1];
	unsigned	flags = 0;

	for (;;) {
		if (peek(sc) != '@')
			return unexpected(sc);
		sc->pos++;
		if (parse_domain(sc, scratch, &flags) == -1)
			return -1;
		if (peek(sc) != ',')
			break;
		sc->pos++;
	}
	if (peek(sc) != ':')
		return unexpected(sc);
	sc->pos++;
	return 0;
}

/* put_local - append one octet of the unquoted local part */
static int
put_local(struct scan *sc, struct address *a, size_t *n, int c)
{
	if (*n == ADDR_LOCAL_MAX)
		return fail(sc, err_local);
	if (c >= 0x80)
		a->flags |= ADDR_F_UTF8;
	a->local[(*n)++] = (char)c;
	return 0;
}

/* parse_quoted - quoted-string local part, unquoted into a->local */
static int
parse_quoted(struct scan *sc, struct address *a)
{
	size_t	n = 0;
	int	c;

	a->flags |= ADDR_F_QUOTED;
	sc->pos++;			/* '"' */
	for (;;) {
		c = peek(sc);
		if (c == -1)
			return fail(sc, err_syntax);	/* unbalanced '"' */
		if (is_control(c))
			return fail(sc, err_control);
		sc->pos++;
		if (c == '"')
			break;
		if (c == '\\') {
			c = peek(sc);
			if (c == -1)
				return fail(sc, err_syntax);
			if (is_control(c))
				return fail(sc, err_control);
			sc->pos++;
		}
		if (put_local(sc, a, &n, c) == -1)
			return -1;
	}
	a->local[n] = '\0';
	return 0;
}

/* parse_dot_string - atoms of atext separated by single dots */
static int
parse_dot_string(struct scan *sc, struct address *a)
{
	size_t	n = 0;
	int	c;

	for (;;) {
		if (!is_atext(peek(sc)))
			return unexpected(sc);	/* empty atom */
		while (is_atext(c = peek(sc))) {
			if (put_local(sc, a, &n, c) == -1)
				return -1;
			sc->pos++;
		}
		if (c != '.')
			break;
		if (put_local(sc, a, &n, c) == -1)
			return -1;
		sc->pos++;
	}
	a->local[n] = '\0';
	return 0;
}

/* note_routing - what an old MTA would make of %, ! or an inner @ */
static void
note_routing(struct address *a)
{
	const char	*l = a->local, *from, *to, *p;
	size_t		n, i;

	if ((p = strrchr(l, '@')) != NULL || (p = strrchr(l, '%')) != NULL) {
		from = p + 1;
		to = l + strlen(l);
	} else if ((p = strchr(l, '!')) != NULL) {
		from = l;
		to = p;
	} else
		return;
	a->flags |= ADDR_F_ROUTING;
	n = (size_t)(to - from);
	if (n > 0 && from[n - 1] == '.')
		n--;
	if (n > sizeof(a->routed_domain) - 1)
		n = sizeof(a->routed_domain) - 1;
	for (i = 0; i < n; i++)
		a->routed_domain[i] = (char)to_lower((unsigned char)from[i]);
	a->routed_domain[n] = '\0';
}

/* parse_path - the whole grammar; the position ends after the path */
static int
parse_path(struct scan *sc, struct address *a)
{
	if (peek(sc) == -1 || is_blank(peek(sc)))
		return fail(sc, err_syntax);	/* bare and empty */
	if (peek(sc) == '<') {
		sc->bracket = 1;
		a->flags |= ADDR_F_BRACKETS;
		sc->pos++;
		if (peek(sc) == '>') {
			a->flags |= ADDR_F_NULL;
			sc->pos++;
			return 0;
		}
	}
	if (peek(sc) == '@') {
		if (parse_route(sc) == -1)
			return -1;
		a->flags |= ADDR_F_ROUTE;
	}
	if (peek(sc) == '"') {
		if (parse_quoted(sc, a) == -1)
			return -1;
	} else if (parse_dot_string(sc, a) == -1)
		return -1;
	if (peek(sc) == '@') {
		sc->pos++;
		if (parse_domain(sc, a->domain, &a->flags) == -1)
			return -1;
	} else
		a->flags |= ADDR_F_NODOMAIN;
	if (sc->bracket) {
		if (peek(sc) != '>')
			return unexpected(sc);
		sc->pos++;
	}
	return 0;
}

/* utf8_valid - is s well-formed UTF-8 (RFC 3629 section 4)? */
static int
utf8_valid(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char lo, hi;
	size_t n, i;

	while (*s) {
		lo = 0x80;
		hi = 0xbf;
		if (*s < 0x80) {
			s++;
			continue;
		}
		if (*s >= 0xc2 && *s <= 0xdf)
			n = 1;
		else if (*s >= 0xe0 && *s <= 0xef) {
			n = 2;
			if (*s == 0xe0)
				lo = 0xa0;	/* no overlong form */
			else if (*s == 0xed)
				hi = 0x9f;	/* no surrogate */
		} else if (*s >= 0xf0 && *s <= 0xf4) {
			n = 3;
			if (*s == 0xf0)
				lo = 0x90;
			else if (*s == 0xf4)
				hi = 0x8f;	/* nothing past U+10FFFF */
		} else
			return 0;
		if (s[1] < lo || s[1] > hi)
			return 0;
		for (i = 2; i <= n; i++)
			if ((s[i] & 0xc0) != 0x80)
				return 0;
		s += n + 1;
	}
	return 1;
}

int
address_parse(const char *s, size_t len, struct address *a,
    const char **err)
{
	struct scan	sc = { (const unsigned char *)s, len, 0, 0, NULL };

	if (a == NULL)
		return -1;
	memset(a, 0, sizeof *a);
	if (s == NULL)
		sc.len = 0;
	if (parse_path(&sc, a) == 0) {
		if (sc.pos > ADDR_PATH_MAX)
			fail(&sc, err_path);
		else if (peek(&sc) != -1 && !is_blank(peek(&sc)))
			unexpected(&sc);	/* "<a@b>x", "a@b@c" */
		else if ((a->flags & ADDR_F_UTF8) &&
		    (!utf8_valid(a->local) || !utf8_valid(a->domain)))
			fail(&sc, err_utf8);
	}
	if (sc.err != NULL) {
		memset(a, 0, sizeof *a);
		if (err != NULL)
			*err = sc.err;
		return -1;
	}
	note_routing(a);
	return (int)sc.pos;
}

/* is_dot_string - can this local part be written without quotes? */
static int
is_dot_string(const char *l, size_t n)
{
	size_t	i;

	if (n == 0 || l[0] == '.' || l[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (l[i] == '.' ? l[i + 1] == '.' :
		    !is_atext((unsigned char)l[i]))
			return 0;
	}
	return 1;
}

/* put - append one octet to out, keeping room for the NUL */
static int
put(char *out, size_t outlen, size_t *n, int c)
{
	if (*n + 1 >= outlen || is_control(c))
		return -1;
	out[(*n)++] = (char)c;
	return 0;
}

int
address_format(const struct address *a, char *out, size_t outlen)
{
	size_t	n = 0, i, llen, dlen;
	int	quote;

	if (out == NULL || outlen == 0)
		return -1;
	out[0] = '\0';
	if (a == NULL)
		return -1;
	if (a->flags & ADDR_F_NULL)
		return 0;
	llen = strnlen(a->local, sizeof(a->local));
	dlen = strnlen(a->domain, sizeof(a->domain));
	if (llen == sizeof(a->local) || dlen == sizeof(a->domain))
		goto fail;		/* not terminated: not from us */

	quote = !is_dot_string(a->local, llen);
	if (quote && put(out, outlen, &n, '"') == -1)
		goto fail;
	for (i = 0; i < llen; i++) {
		if (quote && (a->local[i] == '"' || a->local[i] == '\\') &&
		    put(out, outlen, &n, '\\') == -1)
			goto fail;
		if (put(out, outlen, &n, (unsigned char)a->local[i]) == -1)
			goto fail;
	}
	if (quote && put(out, outlen, &n, '"') == -1)
		goto fail;
	if (!(a->flags & ADDR_F_NODOMAIN)) {
		if (put(out, outlen, &n, '@') == -1)
			goto fail;
		for (i = 0; i < dlen; i++)
			if (put(out, outlen, &n,
			    (unsigned char)a->domain[i]) == -1)
				goto fail;
	}
	out[n] = '\0';
	return (int)n;
fail:
	out[0] = '\0';
	return -1;
}

int
domain_equal(const char *x, const char *y)
{
	size_t	xl, yl, i;

	if (x == NULL || y == NULL)
		return 0;
	xl = strlen(x);
	yl = strlen(y);
	if (xl > 0 && x[xl - 1] == '.')
		xl--;
	if (yl > 0 && y[yl - 1] == '.')
		yl--;
	if (xl != yl)
		return 0;
	for (i = 0; i < xl; i++)
		if (to_lower((unsigned char)x[i]) !=
		    to_lower((unsigned char)y[i]))
			return 0;
	return 1;
}
