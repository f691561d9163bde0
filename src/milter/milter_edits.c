/*
 * milter_edits - the header changes one milter asked for one message,
 * and their application while the message is copied.
 *
 * Where each change lands (indices count the fields as milter_msg
 * showed them to the milter, deleted or changed ones included, so that
 * an edit never depends on the ones asked before it):
 * - CHGHEADER n: the n-th field of that name (1 the first, 0 taken as
 *   1, names compared without case, as Sendmail and Postfix do); an
 *   empty value deletes it. Several changes of one field apply in the
 *   order asked, the last one wins. An n past the last field of that
 *   name adds the field at the end of the header (as Sendmail does);
 *   deleting a field that is not there does nothing.
 * - INSHEADER n: before the field at position n (0 the first); several
 *   at one position come out the last asked on top, as Sendmail and
 *   Postfix leave them (each is put at that index in turn). An n at or
 *   past the end of the header appends the field.
 * - ADDHEADER, and the changes and inserts past the end: appended at
 *   the end of the header, in the order asked.
 * A field is written "Name: value", or "Name:value" for a milter that
 * asked HDR_LEADSPC (its values carry their own leading space), as
 * Postfix does. A value's line breaks (CRLF, or a bare LF or CR as
 * milters send them) become CRLF with the next line starting with
 * blank space (one is put when it has none); empty and blank lines are
 * left out, as they would end the header. A message with no field
 * whose first line starts with a blank gets a blank line after the
 * fields put before it, or that line would become their continuation.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "milter/milter.h"
#include "milter/milter_int.h"

struct edit {
	char		 cmd;		/* MILTER_R_ADD/INS/CHGHEADER */
	uint32_t	 index;
	char		*name;
	char		*value;
};

struct milter_edits {
	bool		 leadspc;
	struct edit	*v;
	size_t		 n;
	size_t		 bytes;		/* of names and values */
};

struct milter_edits *
milter_edits_new(bool leadspc)
{
	struct milter_edits *e = calloc(1, sizeof(*e));

	if (e != NULL)
		e->leadspc = leadspc;
	return e;
}

void
milter_edits_free(struct milter_edits *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].name);
		free(e->v[i].value);
	}
	free(e->v);
	free(e);
}

bool
milter_edits_any(const struct milter_edits *e)
{
	return e->n > 0;
}

/* field_name - printable ASCII without a colon: what a header field's
 * name may be, so that a change never writes a broken field */
static bool
field_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (*s < 0x21 || *s > 0x7e || *s == ':')
			return false;
	return true;
}

int
milter_edits_add(struct milter_edits *e, const struct milter_reply *r,
    const char **err)
{
	struct edit *v, *ed;
	size_t len;

	if (r->cmd != MILTER_R_ADDHEADER && r->cmd != MILTER_R_INSHEADER &&
	    r->cmd != MILTER_R_CHGHEADER) {
		*err = "not a header change";
		return -1;
	}
	if (!field_name(r->name)) {
		*err = "a header change names no valid field (empty, or with "
		    "a space, a colon, a control or an 8-bit octet)";
		return -1;
	}
	if (e->n >= MILTER_EDITS_MAX) {
		*err = "too many header changes for one message";
		return -1;
	}
	len = strlen(r->name) + strlen(r->value);
	if (len > MILTER_EDITS_BYTES - e->bytes) {
		*err = "header changes too long for one message";
		return -1;
	}
	if ((v = realloc(e->v, (e->n + 1) * sizeof(*v))) == NULL) {
		*err = "out of memory";
		return -1;
	}
	e->v = v;
	ed = &e->v[e->n];
	ed->cmd = r->cmd;
	ed->index = r->index;
	if (ed->cmd == MILTER_R_CHGHEADER && ed->index == 0)
		ed->index = 1;
	ed->name = strdup(r->name);
	ed->value = strdup(r->value);
	if (ed->name == NULL || ed->value == NULL) {
		free(ed->name);
		free(ed->value);
		*err = "out of memory";
		return -1;
	}
	e->n++;
	e->bytes += len;
	return 0;
}

/* --- Applying them. */

struct milter_hedit {
	const struct milter_edits *e;
	milter_out	*out;
	void		*arg;
	struct milter_cut cut;
	size_t		*seen;		/* per edit: fields of its name so far */
	bool		*done;		/* per edit: written already */
	size_t		 pos;		/* fields so far */
	bool		 drop;		/* the field's octets are not copied */
	bool		 at_bol;	/* the last octet written ends a line */
	bool		 header_only;
	bool		 stopped;
};

struct milter_hedit *
milter_hedit_new(const struct milter_edits *e, milter_out *out, void *arg)
{
	struct milter_hedit *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->seen = calloc(e->n + 1, sizeof(*h->seen));
	h->done = calloc(e->n + 1, sizeof(*h->done));
	if (h->seen == NULL || h->done == NULL) {
		free(h->seen);
		free(h->done);
		free(h);
		return NULL;
	}
	h->e = e;
	h->out = out;
	h->arg = arg;
	h->at_bol = true;
	milter_cut_init(&h->cut);
	return h;
}

void
milter_hedit_free(struct milter_hedit *h)
{
	if (h == NULL)
		return;
	milter_cut_free(&h->cut);
	free(h->seen);
	free(h->done);
	free(h);
}

void
milter_hedit_header_only(struct milter_hedit *h)
{
	h->header_only = true;
}

static void
put(struct milter_hedit *h, const char *p, size_t n)
{
	if (n == 0 || h->stopped)
		return;
	h->out(h->arg, p, n);
	h->at_bol = p[n - 1] == '\n';
}

static bool
blank_line(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t')
			return false;
	return true;
}

/* write_field - "Name: value" with its line breaks made CRLF + blank */
static void
write_field(struct milter_hedit *h, const struct edit *ed)
{
	const char *v = ed->value;
	size_t n;
	bool first = true;

	if (!h->at_bol)
		put(h, "\r\n", 2);
	put(h, ed->name, strlen(ed->name));
	put(h, h->e->leadspc ? ":" : ": ", h->e->leadspc ? 1 : 2);
	for (;;) {
		n = strcspn(v, "\r\n");
		if (first) {
			put(h, v, n);
			first = false;
		} else if (!blank_line(v, n)) {
			put(h, "\r\n", 2);
			if (*v != ' ' && *v != '\t')
				put(h, " ", 1);
			put(h, v, n);
		}
		v += n;
		if (*v == '\0')
			break;
		v += (v[0] == '\r' && v[1] == '\n') ? 2 : 1;
	}
	put(h, "\r\n", 2);
}

/* field_start - a field of the message begins: the inserts before it,
 * then the field or what the changes made of it */
static void
field_start(struct milter_hedit *h, const struct cut_tok *t)
{
	const struct milter_edits *e = h->e;
	const struct edit *chg = NULL;

	for (size_t i = e->n; i-- > 0;) {
		if (e->v[i].cmd == MILTER_R_INSHEADER &&
		    e->v[i].index == h->pos) {
			write_field(h, &e->v[i]);
			h->done[i] = true;
		}
	}
	for (size_t i = 0; i < e->n; i++) {
		const struct edit *ed = &e->v[i];

		if (ed->cmd != MILTER_R_CHGHEADER ||
		    strlen(ed->name) != t->name_len ||
		    strncasecmp(ed->name, t->data, t->name_len) != 0)
			continue;
		if (++h->seen[i] == ed->index) {
			chg = ed;
			h->done[i] = true;
		}
	}
	h->pos++;
	h->drop = chg != NULL;
	if (chg == NULL)
		put(h, t->data, t->len);
	else if (chg->value[0] != '\0')
		write_field(h, chg);
}

/* changed_later - the field of change i is changed again after it
 * (the last change wins, also of a field added past the end) */
static bool
changed_later(const struct milter_edits *e, size_t i)
{
	for (size_t j = i + 1; j < e->n; j++)
		if (e->v[j].cmd == MILTER_R_CHGHEADER &&
		    e->v[j].index == e->v[i].index &&
		    strcasecmp(e->v[j].name, e->v[i].name) == 0)
			return true;
	return false;
}

/* header_end - what goes at the end of the header, then the blank line
 * (one is made up when the body is to be replaced) */
static void
header_end(struct milter_hedit *h, const struct cut_tok *t, int next)
{
	const struct milter_edits *e = h->e;
	bool added = false;

	for (size_t i = 0; i < e->n; i++) {
		const struct edit *ed = &e->v[i];

		if (h->done[i] || (ed->cmd == MILTER_R_CHGHEADER &&
		    (ed->value[0] == '\0' || changed_later(e, i))))
			continue;
		write_field(h, ed);
		h->done[i] = true;
		added = true;
	}
	/* A message with no field whose first line starts with a blank:
	 * the fields put before it would take it as their continuation,
	 * so the blank line goes between. */
	if (added && !h->header_only && t->len == 0 &&
	    (next == ' ' || next == '\t'))
		put(h, "\r\n", 2);
	if (h->header_only) {
		if (!h->at_bol)
			put(h, "\r\n", 2);
		put(h, "\r\n", 2);
		h->stopped = true;
		return;
	}
	put(h, t->data, t->len);
}

static void
hedit_run(struct milter_hedit *h, const char *p, size_t n, bool eof)
{
	struct cut_tok t;
	size_t taken;

	for (;;) {
		taken = milter_cut_step(&h->cut, p, n, eof, SIZE_MAX, &t);
		p += taken;
		n -= taken;
		switch (t.tok) {
		case CUT_NEED:
		case CUT_END:
			return;
		case CUT_FIELD:
			field_start(h, &t);
			break;
		case CUT_DATA:
			if (!h->drop)
				put(h, t.data, t.len);
			break;
		case CUT_FIELD_END:
			h->drop = false;
			break;
		case CUT_EOH:
			header_end(h, &t, milter_cut_peek(&h->cut, p, n));
			break;
		case CUT_BODY:
			put(h, t.data, t.len);
			break;
		}
	}
}

int
milter_hedit_feed(struct milter_hedit *h, const char *p, size_t n)
{
	hedit_run(h, p, n, false);
	return 0;
}

int
milter_hedit_end(struct milter_hedit *h)
{
	hedit_run(h, "", 0, true);
	return 0;
}
