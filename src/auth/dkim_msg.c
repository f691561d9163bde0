/*
 * dkim_msg - the header of a streaming message, kept within bounds and
 * split into fields (see dkim_msg.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/dkim_msg.h"

void
dkim_msg_init(struct dkim_msg *m, size_t max_header, size_t max_fields)
{
	memset(m, 0, sizeof *m);
	buf_init(&m->hdr, max_header);
	m->max_fields = max_fields;
	m->bol = 1;
}

/* split - the header, complete, into fields: a line that begins with
 * white space continues the field before it (RFC 5322 folding) */
static int
split(struct dkim_msg *m)
{
	const char *h = m->hdr.data ? m->hdr.data : "";
	size_t len = m->hdr.len, pos = 0;

	while (pos < len) {
		size_t eol = pos, next;
		struct dkim_field *f;

		/* the end of this field: a CRLF not followed by white space */
		for (;;) {
			const char *cr = memchr(h + eol, '\r', len - eol);

			if (cr == NULL) {
				eol = next = len;
				break;
			}
			eol = (size_t)(cr - h);
			if (eol + 1 < len && h[eol + 1] == '\n') {
				if (eol + 2 < len && (h[eol + 2] == ' ' || h[eol + 2] == '\t')) {
					eol += 2;
					continue;
				}
				next = eol + 2;
				break;
			}
			eol++;
		}
		if (m->nfields == m->max_fields)
			return -1;
		if (m->fields == NULL &&
		    (m->fields = calloc(m->max_fields, sizeof *m->fields)) == NULL)
			return -1;
		f = &m->fields[m->nfields++];
		f->off = pos;
		f->len = eol - pos;
		{
			const char *colon = memchr(h + pos, ':', f->len);
			size_t n = colon ? (size_t)(colon - (h + pos)) : 0;

			while (n > 0 && (h[pos + n - 1] == ' ' || h[pos + n - 1] == '\t'))
				n--;
			f->name_len = n;
		}
		pos = next;
	}
	return 0;
}

int
dkim_msg_feed(struct dkim_msg *m, const void *data, size_t len,
    size_t *body_off)
{
	const char *p = data;
	size_t i;

	*body_off = 0;
	if (m->in_body)
		return m->in_body < 0 ? -1 : 2;
	for (i = 0; i < len; i++) {
		char c = p[i];

		if (c == '\n' && m->cr && m->blank_cr) {
			/* the empty line: header ends before its CR */
			if (i > 0 && buf_append(&m->hdr, p, i - 1) == -1)
				goto bad;
			if (i == 0)	/* the CR came in the chunk before */
				m->hdr.len--;
			if (split(m) == -1)
				goto bad;
			m->in_body = 1;
			*body_off = i + 1;
			return 1;
		}
		m->blank_cr = c == '\r' && m->bol;
		m->bol = c == '\n' && m->cr;
		m->cr = c == '\r';
	}
	if (buf_append(&m->hdr, p, len) == -1)
		goto bad;
	return 0;
bad:
	m->in_body = -1;
	return -1;
}

int
dkim_msg_end(struct dkim_msg *m)
{
	if (m->in_body)
		return m->in_body < 0 ? -1 : 0;
	/* no empty line: all header, and a final CRLF is not part of it */
	if (m->hdr.len >= 2 && memcmp(m->hdr.data + m->hdr.len - 2, "\r\n", 2) == 0)
		m->hdr.len -= 2;
	m->in_body = 1;
	if (split(m) == -1) {
		m->in_body = -1;
		return -1;
	}
	return 0;
}

int
dkim_msg_field_is(const struct dkim_msg *m, const struct dkim_field *f,
    const char *name, size_t len)
{
	return f->name_len == len &&
	    strncasecmp(m->hdr.data + f->off, name, len) == 0;
}

const char *
dkim_msg_field_text(const struct dkim_msg *m, const struct dkim_field *f)
{
	return m->hdr.data + f->off;
}

void
dkim_msg_free(struct dkim_msg *m)
{
	buf_free(&m->hdr);
	free(m->fields);
	m->fields = NULL;
	m->nfields = 0;
}
