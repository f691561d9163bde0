/*
 * fuzz_milter_reply - whatever a milter sends, in whatever pieces: the
 * decoder takes only what it is given, either hands out replies whose
 * strings all end inside the packet or stops with a message, and cuts
 * the stream the same way whether it comes in one read or in many
 * (the pieces' sizes come from the input's first octet).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "milter/milter.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
add(struct buf *log, const char *s)
{
	if (s == NULL)
		s = "(null)";
	if (buf_append(log, s, strlen(s) + 1) == -1)
		abort();
}

/* record - every field of a reply, read to its end, into log */
static void
record(struct buf *log, const struct milter_reply *r)
{
	char head[64];
	int n = snprintf(head, sizeof(head), "%c %u %u %u %u %zu", r->cmd,
	    (unsigned)r->version, (unsigned)r->actions,
	    (unsigned)r->protocol, (unsigned)r->index, r->len);

	if (buf_append(log, head, (size_t)n + 1) == -1)
		abort();
	for (int i = 0; i < MILTER_M_COUNT; i++)
		add(log, r->symlist[i]);
	add(log, r->name);
	add(log, r->value);
	add(log, r->addr);
	add(log, r->args);
	add(log, r->reason);
	add(log, r->text);
	if (r->len > 0 && buf_append(log, r->data, r->len) == -1)
		abort();
	if (r->cmd == MILTER_R_REPLYCODE) {
		if (r->text == NULL || (r->text[0] != '4' && r->text[0] != '5'))
			abort();
		for (const char *p = r->text; *p != '\0'; p++) {
			if (p[0] == '\r' && p[1] == '\n')
				p++;
			else if (*p < 0x20 || *p > 0x7e)
				abort();
		}
	}
}

/* run - decode all of in, `piece` octets at a time (0: all at once) */
static void
run(const char *in, size_t size, unsigned seed, struct buf *log)
{
	struct milter_dec d;
	struct milter_reply r;
	const char *err;
	size_t off = 0, used;
	int rc = 0;

	milter_dec_init(&d);
	while (off < size && rc != -1) {
		size_t piece = size - off;

		if (seed != 0) {
			seed = seed * 1103515245u + 12345u;
			piece = 1 + (seed >> 16) % 97;
			if (piece > size - off)
				piece = size - off;
		}
		const char *p = in + off;
		size_t left = piece;

		for (;;) {
			err = NULL;
			rc = milter_dec_feed(&d, p, left, &used, &r, &err);
			if (used > left)
				abort();
			p += used;
			left -= used;
			if (rc == -1) {
				if (err == NULL || err[0] == '\0')
					abort();
				add(log, "error");
				add(log, err);
				break;
			}
			if (rc == 0) {
				if (left != 0)
					abort();	/* all taken */
				break;
			}
			record(log, &r);
		}
		off += piece;
	}
	milter_dec_free(&d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf whole, pieces;

	if (size < 1)
		return 0;
	buf_init(&whole, SIZE_MAX / 2);
	buf_init(&pieces, SIZE_MAX / 2);
	run((const char *)data + 1, size - 1, 0, &whole);
	run((const char *)data + 1, size - 1, data[0] | 1u, &pieces);
	if (whole.len != pieces.len ||
	    (whole.len > 0 && memcmp(whole.data, pieces.data, whole.len) != 0))
		abort();
	buf_free(&whole);
	buf_free(&pieces);
	return 0;
}
