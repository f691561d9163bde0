/*
 * milter_msg - a spooled message cut into what SMFIC_HEADER, SMFIC_EOH
 * and SMFIC_BODY carry.
 *
 * The fields are those of milter_cut (Postfix's rules, milter_int.h).
 * A field's value is shown as Sendmail and Postfix show it: the text
 * after the colon, without the one space that usually follows (kept
 * when the milter asked HDR_LEADSPC), its folded lines joined by a bare
 * LF, its last line end left out. A field longer than MILTER_FIELD_MAX
 * is shown cut there (Postfix's header_size_limit); the message itself
 * is not changed; a NUL in a value ends it (the protocol's strings end
 * there). The body goes as it is, in chunks of MILTER_CHUNK_MAX
 * but the last.
 */
#include <stdlib.h>
#include <string.h>

#include "milter/milter.h"
#include "milter/milter_int.h"

struct milter_msg {
	struct milter_cut cut;
	bool		 leadspc;
	bool		 eof;
	struct buf	 in;		/* fed, from `off` not cut yet */
	size_t		 off;
	struct buf	 field;		/* the field being gathered (cut) */
	size_t		 name_len;
	struct buf	 ev;		/* name NUL value NUL handed out */
	struct buf	 body;		/* the chunk being filled */
	bool		 body_out;	/* ... or handed out last */
};

struct milter_msg *
milter_msg_new(bool leadspc)
{
	struct milter_msg *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	milter_cut_init(&m->cut);
	m->leadspc = leadspc;
	buf_init(&m->in, SIZE_MAX / 2);
	buf_init(&m->field, MILTER_FIELD_MAX);
	buf_init(&m->ev, 2 * MILTER_FIELD_MAX);
	buf_init(&m->body, MILTER_CHUNK_MAX);
	return m;
}

void
milter_msg_free(struct milter_msg *m)
{
	if (m == NULL)
		return;
	milter_cut_free(&m->cut);
	buf_free(&m->in);
	buf_free(&m->field);
	buf_free(&m->ev);
	buf_free(&m->body);
	free(m);
}

int
milter_msg_feed(struct milter_msg *m, const char *p, size_t n)
{
	if (m->off > 0) {
		buf_consume(&m->in, m->off);
		m->off = 0;
	}
	return buf_append(&m->in, p, n);
}

void
milter_msg_eof(struct milter_msg *m)
{
	m->eof = true;
}

/* gather - a field's octets, up to MILTER_FIELD_MAX; the rest is cut */
static void
gather(struct milter_msg *m, const char *p, size_t n)
{
	size_t room = m->field.max - m->field.len;

	(void)buf_append(&m->field, p, n < room ? n : room);
}

/* header_event - name and value of the gathered field, as sent */
static void
header_event(struct milter_msg *m, struct milter_event *ev)
{
	const char *v = m->field.data + m->name_len, *end, *nul;
	size_t len;

	/* The colon (blanks may come before it), then the value. */
	v = memchr(v, ':', m->field.len - m->name_len) + 1;
	end = m->field.data + m->field.len;
	/* A NUL would end the protocol's string there anyway: the value
	 * ends at it, and then loses its line end like any other. */
	if ((nul = memchr(v, '\0', (size_t)(end - v))) != NULL)
		end = nul;
	if (!m->leadspc && v < end && *v == ' ')
		v++;
	while (end > v && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	buf_reset(&m->ev);
	(void)buf_append(&m->ev, m->field.data, m->name_len);
	(void)buf_append(&m->ev, "", 1);
	while (v < end) {
		const char *crlf = NULL;

		for (const char *q = v; q + 1 < end; q++)
			if (q[0] == '\r' && q[1] == '\n') {
				crlf = q;
				break;
			}
		len = (size_t)((crlf != NULL ? crlf : end) - v);
		(void)buf_append(&m->ev, v, len);
		if (crlf == NULL)
			break;
		(void)buf_append(&m->ev, "\n", 1);
		v = crlf + 2;
	}
	ev->ev = MILTER_EV_HEADER;
	ev->name = m->ev.data;
	ev->value = m->ev.data + m->name_len + 1;
}

void
milter_msg_next(struct milter_msg *m, struct milter_event *ev)
{
	struct cut_tok t;
	size_t taken;

	memset(ev, 0, sizeof(*ev));
	if (m->body_out) {
		buf_reset(&m->body);
		m->body_out = false;
	}
	for (;;) {
		/* (nothing fed yet: no data pointer to offset) */
		const char *p = m->in.len > 0 ? m->in.data + m->off : "";

		taken = milter_cut_step(&m->cut, p, m->in.len - m->off,
		    m->eof, m->body.max - m->body.len, &t);
		m->off += taken;
		switch (t.tok) {
		case CUT_NEED:
			ev->ev = MILTER_EV_NEED;
			return;
		case CUT_FIELD:
			buf_reset(&m->field);
			m->name_len = t.name_len;
			gather(m, t.data, t.len);
			break;
		case CUT_DATA:
			gather(m, t.data, t.len);
			break;
		case CUT_FIELD_END:
			header_event(m, ev);
			return;
		case CUT_EOH:
			ev->ev = MILTER_EV_EOH;
			return;
		case CUT_BODY:
			(void)buf_append(&m->body, t.data, t.len);
			if (m->body.len < m->body.max)
				break;
			/* FALLTHROUGH */
		case CUT_END:
			if (m->body.len > 0) {
				ev->ev = MILTER_EV_BODY;
				ev->data = m->body.data;
				ev->len = m->body.len;
				m->body_out = true;
				return;
			}
			ev->ev = MILTER_EV_END;
			return;
		}
	}
}
