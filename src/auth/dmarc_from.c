/*
 * dmarc_from - RFC 5322 3.4's mailbox-list (with RFC 6532's UTF-8 and
 * the obsolete forms of 4.4: routes, empty list members, CFWS between
 * the parts of an address), read only as far as each address's domain.
 */
#include <string.h>

#include "auth/dmarc_from.h"

struct cur {
	const char	*p, *end;
};

/* the local part of an address as written (quotes, obsolete CFWS and
 * all) */
struct span {
	const char	*p;
	size_t		 len;
};

/* dmarc_from_atext - RFC 5322's atext, with RFC 6532's UTF-8 octets */
int
dmarc_from_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80 ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int
is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* skip_cfws - white space and (nested) comments; -1 on an unclosed or
 * too deeply nested comment */
static int
skip_cfws(struct cur *c)
{
	unsigned depth = 0;

	while (c->p < c->end) {
		char ch = *c->p;

		if (depth == 0 && is_fws(ch)) {
			c->p++;
		} else if (ch == '(') {
			if (++depth > DMARC_FROM_MAX_DEPTH)
				return -1;
			c->p++;
		} else if (depth == 0) {
			return 0;
		} else if (ch == ')') {
			depth--;
			c->p++;
		} else if (ch == '\\') {
			c->p += c->end - c->p > 1 ? 2 : 1;
		} else {
			c->p++;
		}
	}
	return depth == 0 ? 0 : -1;
}

/* skip_quoted - a quoted-string from its opening quote; -1 unclosed */
static int
skip_quoted(struct cur *c)
{
	for (c->p++; c->p < c->end; c->p++) {
		if (*c->p == '\\') {
			if (++c->p == c->end)
				return -1;
		} else if (*c->p == '"') {
			c->p++;
			return 0;
		}
	}
	return -1;
}

/* word - an atom or a quoted-string after CFWS; 1 found, 0 none, -1
 * broken */
static int
word(struct cur *c)
{
	if (skip_cfws(c) != 0)
		return -1;
	if (c->p < c->end && *c->p == '"')
		return skip_quoted(c) == 0 ? 1 : -1;
	if (c->p >= c->end || !dmarc_from_atext((unsigned char)*c->p))
		return 0;
	while (c->p < c->end && dmarc_from_atext((unsigned char)*c->p))
		c->p++;
	return 1;
}

/* peek - the next character after CFWS, '\0' at the end, -1 broken */
static int
peek(struct cur *c)
{
	if (skip_cfws(c) != 0)
		return -1;
	return c->p < c->end ? (unsigned char)*c->p : '\0';
}

/* has_angle - is there a '<' before the next ',' at this level? (the
 * mailbox is then a name-addr) */
static int
has_angle(struct cur c)
{
	int ch;

	while ((ch = peek(&c)) > 0 && ch != ',') {
		if (ch == '<')
			return 1;
		if (ch == '"') {
			if (skip_quoted(&c) != 0)
				return 0;
		} else {
			c.p++;
		}
	}
	return 0;
}

/* domain - dot-atom (obs-domain: CFWS around the dots) into out, -1
 * for anything else (a domain-literal is not a name DMARC can use) */
static int
domain(struct cur *c, char *out, size_t outlen)
{
	size_t n = 0;

	if (peek(c) == '[')
		return -1;
	for (;;) {
		const char *s;
		size_t len;

		if (skip_cfws(c) != 0)
			return -1;
		s = c->p;
		while (c->p < c->end && dmarc_from_atext((unsigned char)*c->p))
			c->p++;
		len = (size_t)(c->p - s);
		if (len == 0 || n + len + 1 >= outlen)
			return -1;
		memcpy(out + n, s, len);
		n += len;
		if (peek(c) != '.')
			break;
		c->p++;
		out[n++] = '.';
	}
	out[n] = '\0';
	return 0;
}

/* addr_spec - local-part "@" domain; the domain into out, the local
 * part's text into *local */
static int
addr_spec(struct cur *c, char *out, size_t outlen, struct span *local)
{
	int w;

	if (skip_cfws(c) != 0)
		return -1;
	local->p = c->p;
	for (;;) {
		if ((w = word(c)) <= 0)
			return -1;
		local->len = (size_t)(c->p - local->p);
		if (peek(c) != '.')
			break;
		c->p++;
	}
	if (peek(c) != '@')
		return -1;
	c->p++;
	return domain(c, out, outlen);
}

/* mailbox - name-addr or addr-spec */
static int
mailbox(struct cur *c, char *out, size_t outlen, struct span *local)
{
	int ch;

	if (!has_angle(*c))
		return addr_spec(c, out, outlen, local);
	/* display-name (obs-phrase: dots too) up to '<' */
	while ((ch = peek(c)) > 0 && ch != '<') {
		if (ch == '.')
			c->p++;
		else if (word(c) <= 0)
			return -1;
	}
	if (ch != '<')
		return -1;
	c->p++;
	/* obs-route: "@a,@b:" */
	if (peek(c) == '@') {
		struct cur r = *c;
		char skip[ORGDOMAIN_MAX * 4];

		while ((ch = peek(&r)) == '@' || ch == ',') {
			r.p++;
			if (ch == '@' && domain(&r, skip, sizeof(skip)) != 0)
				return -1;
		}
		if (ch != ':')
			return -1;
		c->p = r.p + 1;
	}
	if (addr_spec(c, out, outlen, local) != 0 || peek(c) != '>')
		return -1;
	c->p++;
	return 0;
}

void
dmarc_from_init(struct dmarc_from *f)
{
	memset(f, 0, sizeof(*f));
	f->status = DMARC_FROM_MISSING;
}

/* keep_address - local@norm at the end of f->addrs, or addrs_cut */
static void
keep_address(struct dmarc_from *f, const struct span *local,
    const char *norm)
{
	size_t dl = strlen(norm);

	if (local->len + 1 + dl + 1 > sizeof(f->addrs) - f->addrs_len) {
		f->addrs_cut = 1;
		return;
	}
	memcpy(f->addrs + f->addrs_len, local->p, local->len);
	f->addrs_len += local->len;
	f->addrs[f->addrs_len++] = '@';
	memcpy(f->addrs + f->addrs_len, norm, dl + 1);
	f->addrs_len += dl + 1;
}

/* read_list - the mailbox-list; the status of this one field. Every
 * address is kept (for the sender map: each must be the user's), also
 * past one in another domain. */
static enum dmarc_from_status
read_list(struct dmarc_from *f, const char *value, size_t len)
{
	struct cur c = { value, value + len };
	char dom[ORGDOMAIN_MAX * 4], norm[ORGDOMAIN_MAX];
	struct span local = { NULL, 0 };
	int ch, domains = 0;

	f->addresses = 0;
	if (len > DMARC_FROM_MAX_FIELD || memchr(value, '\0', len))
		return DMARC_FROM_SYNTAX;
	for (;;) {
		if ((ch = peek(&c)) < 0)
			break;
		if (ch == '\0')
			return domains ? DMARC_FROM_DOMAINS : f->addresses == 0 ?
			    DMARC_FROM_EMPTY : DMARC_FROM_OK;
		if (ch == ',') {	/* obs-mbox-list: empty members */
			c.p++;
			continue;
		}
		if (mailbox(&c, dom, sizeof(dom), &local) != 0 ||
		    orgdomain_norm(dom, strlen(dom), norm) != 0)
			break;
		keep_address(f, &local, norm);
		if (f->addresses++ == 0)
			memcpy(f->domain, norm, sizeof(norm));
		else if (strcmp(f->domain, norm) != 0)
			domains = 1;
		if ((ch = peek(&c)) != ',' && ch != '\0')
			break;
	}
	return domains ? DMARC_FROM_DOMAINS : DMARC_FROM_SYNTAX;
}

enum dmarc_from_status
dmarc_from_field(struct dmarc_from *f, const char *value, size_t len)
{
	enum dmarc_from_status st;

	if (++f->fields > 1) {
		f->status = DMARC_FROM_FIELDS;
		f->domain[0] = '\0';
		return f->status;
	}
	st = read_list(f, value, len);
	if (st != DMARC_FROM_OK)
		f->domain[0] = '\0';
	f->status = st;
	return st;
}

const char *
dmarc_from_problem(const struct dmarc_from *f)
{
	switch (f->status) {
	case DMARC_FROM_OK:
		return "";
	case DMARC_FROM_MISSING:
		return "no From: field";
	case DMARC_FROM_FIELDS:
		return "several From: fields";
	case DMARC_FROM_EMPTY:
		return "From: has no address";
	case DMARC_FROM_DOMAINS:
		return "From: has addresses in several domains";
	case DMARC_FROM_SYNTAX:
		break;
	}
	return "From: has no readable author domain";
}
