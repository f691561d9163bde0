/*
 * inject_addr - the addresses of an RFC 5322 address-list, as -t reads
 * To:, Cc: and Bcc: and as recipients on the command line are read
 * (Postfix's sendmail takes "a@x, b@y" as one argument too).
 *
 * One pass, bounded: a member is either an angle address (whatever the
 * display name before it says) or a bare addr-spec; a group's name and
 * its closing ';' are passed over; comments and folding white space go.
 * The daemon checks each address again at RCPT: this reads, it does not
 * judge.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inject/inject.h"

#define ADDR_DEPTH	16	/* nested comments */

struct member {
	char	 text[INJECT_ADDR_MAX + 1];	/* the address so far */
	size_t	 len;
	size_t	 words;		/* bare words (a bare addr-spec has one) */
	bool	 space;		/* white space since the last octet */
	bool	 angle;		/* inside <...> */
	bool	 done;		/* its angle address was taken */
};

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* member_put - one octet of the address; -1 when it is too long, -2
 * for a control character (no address has one; a NUL would cut it) */
static int
member_put(struct member *m, char c)
{
	if ((unsigned char)c < 0x20 || c == 0x7f)
		return -2;
	/* A bare member's words meet at '@' or '.' ("bob @ example.org"
	 * is bob@example.org); other white space splits a name's words. */
	if (m->space && !m->angle && m->len > 0 && c != '@' && c != '.' &&
	    m->text[m->len - 1] != '@' && m->text[m->len - 1] != '.')
		m->words++;
	if (m->len == 0 && !m->angle)
		m->words = 1;
	m->space = false;
	if (m->len >= INJECT_ADDR_MAX)
		return -1;
	m->text[m->len++] = c;
	return 0;
}

/* member_end - a member is over (',' ';' or the end): its address to fn */
static int
member_end(struct member *m, inject_addr_fn *fn, void *arg, char *err,
    size_t errlen)
{
	const char *addr = m->text;
	int rc = 0;

	if (m->angle) {
		snprintf(err, errlen, "unclosed '<'");
		return -1;
	}
	if (!m->done && m->len > 0) {
		if (m->words > 1) {
			m->text[m->len] = '\0';
			snprintf(err, errlen, "no address in \"%.60s\"",
			    m->text);
			return -1;
		}
		m->text[m->len] = '\0';
		rc = fn(arg, addr);
	}
	memset(m, 0, sizeof(*m));
	return rc;
}

/* angle_end - '>': the angle address, its obsolete route dropped (up
 * to the last ':' outside quotes and domain literals, whose '"' and ':'
 * are their own) */
static int
angle_end(struct member *m, inject_addr_fn *fn, void *arg)
{
	char *a = m->text, *colon = NULL;
	bool quoted = false, literal = false;
	int rc = 0;

	m->text[m->len] = '\0';
	for (char *p = a; *p != '\0'; p++) {
		if (literal)
			literal = *p != ']';
		else if (*p == '\\' && quoted && p[1] != '\0')
			p++;	/* a quoted-pair: only inside quotes */
		else if (*p == '[' && !quoted)
			literal = true;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == ':' && !quoted && a[0] == '@')
			colon = p;	/* <@relay,@relay2:user@domain> */
	}
	if (colon != NULL)
		a = colon + 1;
	if (*a != '\0')		/* <> is no recipient */
		rc = fn(arg, a);
	m->angle = false;
	m->done = true;
	return rc;
}

/* skip_comment - from '(' to its ')'; the index after it, or 0 when
 * unclosed or too deep */
static size_t
skip_comment(const char *v, size_t len, size_t i)
{
	unsigned depth = 0;

	for (; i < len; i++) {
		if (v[i] == '\\')
			i++;
		else if (v[i] == '(' && ++depth > ADDR_DEPTH)
			return 0;
		else if (v[i] == ')' && --depth == 0)
			return i + 1;
	}
	return 0;
}

int
inject_addr_list(const char *v, size_t len, inject_addr_fn *fn, void *arg,
    char *err, size_t errlen)
{
	struct member *m;
	size_t i = 0, next;
	int rc = 0;

	if (errlen > 0)
		err[0] = '\0';
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while (rc == 0 && i < len) {
		char c = v[i];

		if (is_wsp(c)) {
			m->space = true;
			i++;
		} else if (c == '(') {
			if ((next = skip_comment(v, len, i)) == 0) {
				snprintf(err, errlen, "unclosed comment");
				rc = -1;
			}
			m->space = true;
			i = next;
		} else if (c == '"') {
			/* A quoted string: a local part, or a name that an
			 * angle address will replace. */
			rc = member_put(m, c);
			for (i++; rc == 0 && i < len && v[i] != '"'; i++) {
				if (v[i] == '\r' || v[i] == '\n')
					continue;	/* folding */
				if (v[i] == '\\' && i + 1 < len) {
					if (v[i + 1] == '\r' || v[i + 1] == '\n') {
						i++;	/* an escaped fold */
						continue;
					}
					rc = member_put(m, v[i++]);
				}
				if (rc == 0)
					rc = member_put(m, v[i]);
			}
			if (rc == 0 && i >= len) {
				snprintf(err, errlen, "unclosed quote");
				rc = -1;
			} else if (rc == 0) {
				rc = member_put(m, '"');
				i++;
			}
		} else if (c == '[') {
			/* A domain literal, whose ':' is no group's */
			for (; rc == 0 && i < len && v[i] != ']'; i++)
				if (!is_wsp(v[i]))
					rc = member_put(m, v[i]);
			if (rc == 0 && i < len) {
				rc = member_put(m, ']');
				i++;
			}
		} else if (c == '<' && !m->angle) {
			m->len = 0;	/* what came before was a name */
			m->words = 0;
			m->angle = true;
			m->space = false;
			i++;
		} else if (c == '>' && m->angle) {
			rc = angle_end(m, fn, arg);
			i++;
		} else if ((c == ',' || c == ';') && !m->angle) {
			rc = member_end(m, fn, arg, err, errlen);
			i++;
		} else if (c == ':' && !m->angle) {
			memset(m, 0, sizeof(*m));	/* a group's name */
			i++;
		} else if (m->done) {
			i++;		/* after the angle address: nothing */
		} else {
			rc = member_put(m, c);
			i++;
		}
		if (rc == -2) {
			snprintf(err, errlen, "control character in an "
			    "address");
			rc = -1;
		}
		if (rc == -1 && err[0] == '\0')
			snprintf(err, errlen, "address longer than %d octets",
			    INJECT_ADDR_MAX);
	}
	if (rc == 0)
		rc = member_end(m, fn, arg, err, errlen);
	free(m);
	return rc;
}

bool
inject_addr_has_domain(const char *addr)
{
	bool quoted = false, at = false;

	for (const char *p = addr; *p != '\0'; p++) {
		if (*p == '\\' && quoted && p[1] != '\0')
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == '@' && !quoted)
			at = true;
	}
	return at;
}

int
inject_rcpts_add(struct inject_rcpts *r, const char *addr)
{
	char **v;

	if (r->n >= INJECT_RCPTS_MAX)
		return -1;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;

		if ((v = reallocarray(r->v, cap, sizeof(*v))) == NULL)
			return -1;
		r->v = v;
		r->cap = cap;
	}
	if ((r->v[r->n] = strdup(addr)) == NULL)
		return -1;
	r->n++;
	return 0;
}

void
inject_rcpts_free(struct inject_rcpts *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i]);
	free(r->v);
	memset(r, 0, sizeof(*r));
}
