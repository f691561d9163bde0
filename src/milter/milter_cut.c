/*
 * milter_cut - a message's header cut into fields, one token at a time
 * (see milter_int.h for the rules). The octets of a field are handed
 * out as they come, never gathered: only the start of a line is held
 * until its colon shows it to be a field (or its absence shows it to be
 * the body's first line).
 */
#include <string.h>

#include "milter/milter.h"
#include "milter/milter_int.h"

enum {
	C_BOL,		/* at the start of a header line */
	C_CR,		/* a line that starts with CR: blank, or the body */
	C_NAME,		/* a line's start, held: a field name? */
	C_VALUE,	/* in a line of an open field */
	C_BODY,		/* the body: the held line first, if any */
	C_DONE,
};

void
milter_cut_init(struct milter_cut *c)
{
	c->state = C_BOL;
	c->open = false;
	buf_init(&c->hold, MILTER_FIELD_MAX);
	c->hold_off = 0;
	c->name_len = 0;
}

void
milter_cut_free(struct milter_cut *c)
{
	buf_free(&c->hold);
}

static size_t
tok(struct cut_tok *t, enum cut_kind kind, const char *data, size_t len,
    size_t taken)
{
	t->tok = kind;
	t->data = data;
	t->len = len;
	return taken;
}

/* not_a_field - the held line is the body's first: the header ends
 * there with no blank line */
static size_t
not_a_field(struct milter_cut *c, struct cut_tok *t, size_t taken)
{
	c->state = C_BODY;
	c->hold_off = 0;
	return tok(t, CUT_EOH, "", 0, taken);
}

/* name - take a line's start until its colon, or until it shows not to
 * be a field; octets are held meanwhile */
static size_t
name(struct milter_cut *c, const char *p, size_t n, bool eof,
    struct cut_tok *t)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch == ':') {
			if (c->name_len == 0)
				c->name_len = c->hold.len;
			if (c->name_len == 0 ||
			    buf_append(&c->hold, ":", 1) == -1)
				return not_a_field(c, t, i);
			c->open = true;
			c->state = C_VALUE;
			t->name_len = c->name_len;
			return tok(t, CUT_FIELD, c->hold.data, c->hold.len,
			    i + 1);
		}
		if (ch == ' ' || ch == '\t') {
			if (c->hold.len == 0)
				return not_a_field(c, t, i);
			if (c->name_len == 0)
				c->name_len = c->hold.len;
		} else if (c->name_len != 0 || ch < 0x21 || ch > 0x7e) {
			return not_a_field(c, t, i);
		}
		if (buf_append(&c->hold, p + i, 1) == -1)
			return not_a_field(c, t, i);
	}
	if (eof)
		return not_a_field(c, t, n);
	return tok(t, CUT_NEED, NULL, 0, n);
}

size_t
milter_cut_step(struct milter_cut *c, const char *p, size_t n, bool eof,
    size_t body_room, struct cut_tok *t)
{
	const char *lf;
	size_t len;

	t->name_len = 0;
	switch (c->state) {
	case C_BOL:
		if (n == 0) {
			if (!eof)
				return tok(t, CUT_NEED, NULL, 0, 0);
			if (c->open) {
				c->open = false;
				return tok(t, CUT_FIELD_END, NULL, 0, 0);
			}
			buf_reset(&c->hold);
			return not_a_field(c, t, 0);
		}
		if (c->open) {
			if (p[0] == ' ' || p[0] == '\t') {
				c->state = C_VALUE;
				return milter_cut_step(c, p, n, eof, body_room,
				    t);
			}
			c->open = false;
			return tok(t, CUT_FIELD_END, NULL, 0, 0);
		}
		buf_reset(&c->hold);
		c->name_len = 0;
		if (p[0] == '\n') {
			c->state = C_BODY;
			return tok(t, CUT_EOH, p, 1, 1);
		}
		if (p[0] == '\r') {
			(void)buf_append(&c->hold, "\r", 1);
			c->state = C_CR;
			return 1 + milter_cut_step(c, p + 1, n - 1, eof,
			    body_room, t);
		}
		c->state = C_NAME;
		return name(c, p, n, eof, t);
	case C_CR:
		if (n == 0 && !eof)
			return tok(t, CUT_NEED, NULL, 0, 0);
		if (n > 0 && p[0] == '\n') {
			buf_reset(&c->hold);
			c->state = C_BODY;
			return tok(t, CUT_EOH, "\r\n", 2, 1);
		}
		return not_a_field(c, t, 0);
	case C_NAME:
		return name(c, p, n, eof, t);
	case C_VALUE:
		if (n == 0) {
			if (!eof)
				return tok(t, CUT_NEED, NULL, 0, 0);
			c->state = C_BOL;
			return milter_cut_step(c, p, n, eof, body_room, t);
		}
		if ((lf = memchr(p, '\n', n)) != NULL) {
			c->state = C_BOL;
			len = (size_t)(lf + 1 - p);
		} else {
			len = n;
		}
		return tok(t, CUT_DATA, p, len, len);
	case C_BODY:
		if (c->hold_off < c->hold.len) {
			len = c->hold.len - c->hold_off;
			len = len < body_room ? len : body_room;
			t->data = c->hold.data + c->hold_off;
			c->hold_off += len;
			return tok(t, CUT_BODY, t->data, len, 0);
		}
		if (n > 0) {
			len = n < body_room ? n : body_room;
			return tok(t, CUT_BODY, p, len, len);
		}
		if (!eof)
			return tok(t, CUT_NEED, NULL, 0, 0);
		c->state = C_DONE;
		/* FALLTHROUGH */
	default:
		return tok(t, CUT_END, NULL, 0, 0);
	}
}

int
milter_cut_peek(const struct milter_cut *c, const char *p, size_t n)
{
	if (c->hold_off < c->hold.len)
		return (unsigned char)c->hold.data[c->hold_off];
	return n > 0 ? (unsigned char)p[0] : -1;
}
