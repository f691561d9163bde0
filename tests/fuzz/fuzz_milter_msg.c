/*
 * fuzz_milter_msg - any octets as a spooled message, cut for a milter
 * and copied through a list of header edits (both drawn from the
 * input). What must hold whatever the message:
 * - the events come as HEADER* EOH BODY* END, names are field names,
 *   values have no line end last, every body chunk but the
 *   last is MILTER_CHUNK_MAX long, and all of it is the same whether
 *   the message comes whole or in pieces;
 * - with no edits the copy is the message, octet for octet;
 * - with edits the body is untouched (cut again, the copy has the same
 *   body; none with milter_hedit_header_only), the copy is the same
 *   whole or in pieces, and a message without a bare CR or LF gets none.
 * Input: octet 0 the pieces' seed, octet 1 flags, octet 2 the number of
 * edits, then 3 octets per edit, then the message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "milter/milter.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const names[] = { "X-Tag", "x-tag", "Subject",
	"Received", "New", "A" };
static const char *const values[] = { "", "v", " lead", "a\nb",
	"a\r\n\tb", "x\r", "\n\n", "a\r\rb\n\n c", "\t", "two  words" };
static const uint32_t indices[] = { 0, 1, 2, 3, 5, 100, UINT32_MAX };

struct piecer {
	unsigned	 seed;
};

static size_t
next_piece(struct piecer *p, size_t left)
{
	size_t n;

	if (p->seed == 0)
		return left;
	p->seed = p->seed * 1103515245u + 12345u;
	n = 1 + (p->seed >> 16) % 61;
	return n < left ? n : left;
}

/* cut - the events of in as text (HEADER name/value, EOH, BODY), the
 * body octets in *body when not NULL */
static void
cut(const char *in, size_t len, bool leadspc, unsigned seed,
    struct buf *log, struct buf *body)
{
	struct milter_msg *m = milter_msg_new(leadspc);
	struct milter_event ev;
	struct piecer pc = { seed };
	size_t off = 0, last_body = MILTER_CHUNK_MAX;
	int stage = 0;		/* 0 header, 1 body, 2 end */

	if (m == NULL)
		abort();
	while (stage < 2) {
		size_t n = next_piece(&pc, len - off);

		if (milter_msg_feed(m, in + off, n) == -1)
			abort();
		off += n;
		if (off == len)
			milter_msg_eof(m);
		for (;;) {
			milter_msg_next(m, &ev);
			if (ev.ev == MILTER_EV_NEED) {
				if (off == len)
					abort();	/* nothing owed after eof */
				break;
			}
			if (ev.ev == MILTER_EV_HEADER) {
				size_t vl = strlen(ev.value);

				if (stage != 0 || ev.name[0] == '\0' ||
				    strpbrk(ev.name, ": \t\r\n") != NULL ||
				    vl > MILTER_FIELD_MAX ||
				    (vl > 0 && (ev.value[vl - 1] == '\n' ||
				    ev.value[vl - 1] == '\r')))
					abort();
				buf_printf(log, "H%s:%s\n", ev.name, ev.value);
			} else if (ev.ev == MILTER_EV_EOH) {
				if (stage != 0)
					abort();
				stage = 1;
				buf_printf(log, "EOH\n");
			} else if (ev.ev == MILTER_EV_BODY) {
				if (stage != 1 || ev.len == 0 ||
				    ev.len > MILTER_CHUNK_MAX ||
				    last_body != MILTER_CHUNK_MAX)
					abort();
				last_body = ev.len;
				buf_printf(log, "B%zu\n", ev.len);
				if (body != NULL)
					buf_append(body, ev.data, ev.len);
			} else {
				if (stage != 1)
					abort();
				stage = 2;
				break;
			}
		}
	}
	milter_msg_free(m);
}

static void
out_buf(void *arg, const char *p, size_t n)
{
	if (buf_append(arg, p, n) == -1)
		abort();
}

static void
copy(const struct milter_edits *e, const char *in, size_t len,
    bool header_only, unsigned seed, struct buf *out)
{
	struct milter_hedit *h = milter_hedit_new(e, out_buf, out);
	struct piecer pc = { seed };

	if (h == NULL)
		abort();
	if (header_only)
		milter_hedit_header_only(h);
	for (size_t off = 0; off < len;) {
		size_t n = next_piece(&pc, len - off);

		if (milter_hedit_feed(h, in + off, n) == -1)
			abort();
		off += n;
	}
	if (milter_hedit_end(h) == -1)
		abort();
	milter_hedit_free(h);
}

static bool
same(const struct buf *a, const struct buf *b)
{
	return a->len == b->len &&
	    (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* bare - a CR not before a LF, or a LF not after a CR */
static bool
bare(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			return true;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return true;
	}
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a, b, body_in, body_out;
	struct milter_edits *e;
	struct milter_reply r;
	const char *in, *err;
	size_t len, nedits;
	unsigned seed;
	bool leadspc, header_only;

	if (size < 3)
		return 0;
	seed = data[0] | 1u;
	leadspc = data[1] & 1;
	header_only = (data[1] & 2) != 0;
	nedits = data[2] % 16;
	if (size < 3 + 3 * nedits)
		return 0;
	in = (const char *)data + 3 + 3 * nedits;
	len = size - 3 - 3 * nedits;

	buf_init(&a, SIZE_MAX / 2);
	buf_init(&b, SIZE_MAX / 2);
	buf_init(&body_in, SIZE_MAX / 2);
	buf_init(&body_out, SIZE_MAX / 2);
	cut(in, len, leadspc, 0, &a, &body_in);
	cut(in, len, leadspc, seed, &b, NULL);
	if (!same(&a, &b))
		abort();

	e = milter_edits_new(leadspc);
	for (size_t i = 0; i < nedits; i++) {
		const uint8_t *d = data + 3 + 3 * i;
		static const char cmds[] = { MILTER_R_ADDHEADER,
		    MILTER_R_INSHEADER, MILTER_R_CHGHEADER };

		memset(&r, 0, sizeof(r));
		r.cmd = cmds[d[0] % 3];
		r.name = names[(d[0] / 3) % (sizeof(names) / sizeof(*names))];
		r.index = indices[d[1] % (sizeof(indices) / sizeof(*indices))];
		r.value = values[d[2] % (sizeof(values) / sizeof(*values))];
		if (milter_edits_add(e, &r, &err) == -1)
			abort();
	}
	buf_reset(&a);
	buf_reset(&b);
	copy(e, in, len, header_only, 0, &a);
	copy(e, in, len, header_only, seed, &b);
	if (!same(&a, &b))
		abort();
	if (nedits == 0 && !header_only &&
	    (a.len != len || (len > 0 && memcmp(a.data, in, len) != 0)))
		abort();
	if (!bare(in, len) && bare(a.data, a.len))
		abort();
	buf_reset(&b);
	cut(a.data != NULL ? a.data : "", a.len, leadspc, 0, &b, &body_out);
	if (header_only ? body_out.len != 0 : !same(&body_in, &body_out))
		abort();
	milter_edits_free(e);
	buf_free(&a);
	buf_free(&b);
	buf_free(&body_in);
	buf_free(&body_out);
	return 0;
}
