/*
 * smtp_data - DATA phase state machine: dot-unstuffing, end detection,
 * line and size limits, bare CR/LF and NUL detection.
 *
 * States, with what the machine has seen since the last line end:
 *	BOL	nothing: at the beginning of a line
 *	DOT	"."
 *	DOTCR	".\r"           (a following \n ends the message, unless
 *				 the line began after a bare LF: `soft`)
 *	TEXT	some text
 *	CR	text, then "\r"  (a following \n ends the line)
 * A CR is held back until we know whether an LF follows it.
 */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "smtp/smtp_data.h"

enum { BOL, DOT, DOTCR, TEXT, CR };

void
smtp_data_init(struct smtp_data *d, uint64_t max_size)
{
	memset(d, 0, sizeof(*d));
	d->state = BOL;
	d->max_size = max_size;
}

void
smtp_data_normalize_lf(struct smtp_data *d)
{
	d->lf_eol = true;
}

void
smtp_data_after_bare_lf(struct smtp_data *d)
{
	if (d->lf_eol) {
		d->state = BOL;
		d->soft = true;
	} else {
		d->state = TEXT;
	}
}

/* emit - one output octet, unless the message is already too big */
static inline void
emit(struct smtp_data *d, char *out, size_t *o, char c)
{
	if (c == '\0')
		d->flags |= DATA_F_NUL;
	if (d->flags & DATA_F_TOO_BIG)
		return;
	if (d->max_size && d->size >= d->max_size) {
		d->flags |= DATA_F_TOO_BIG;
		return;
	}
	out[(*o)++] = c;
	d->size++;
}

/* text_span - how many octets of `in` come before the next CR or LF:
 * sixteen at a time where the compiler has SSE2 (every x86-64), the
 * last few one by one. A message body is mostly such runs, so this is
 * where DATA spends its time (a 32 KB message: 21 us one octet at a
 * time on the development machine). */
static size_t
text_span(const char *in, size_t len)
{
	size_t n = 0;

#ifdef __SSE2__
	const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');

	for (; n + 16 <= len; n += 16) {
		__m128i v = _mm_loadu_si128((const void *)(in + n));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
		    _mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));

		if (m != 0)
			return n + (size_t)__builtin_ctz(m);
	}
#endif
	while (n < len && in[n] != '\r' && in[n] != '\n')
		n++;
	return n;
}

/* emit_text - `n` octets of plain text in a line, at once: what emit()
 * and the line count would do for each of them */
static void
emit_text(struct smtp_data *d, char *out, size_t *o, const char *in, size_t n)
{
	d->linelen += n;
	if (d->linelen > SMTP_DATA_LINE_MAX)
		d->flags |= DATA_F_LONG_LINE;
	if (memchr(in, '\0', n) != NULL)
		d->flags |= DATA_F_NUL;
	if (d->flags & DATA_F_TOO_BIG)
		return;
	if (d->max_size && n > d->max_size - d->size) {
		n = (size_t)(d->max_size - d->size);
		d->flags |= DATA_F_TOO_BIG;
	}
	memcpy(out + *o, in, n);
	*o += n;
	d->size += n;
}

/* bare_lf - an LF without CR ends the line in `state`: refused, or
 * (normalize) stored as CRLF with the next line `soft` */
static void
bare_lf(struct smtp_data *d, char *out, size_t *o)
{
	if (!d->lf_eol) {
		d->flags |= DATA_F_BARE_EOL;
		emit(d, out, o, '\n');
		d->state = TEXT;
		return;
	}
	/* The CR we add counts toward the line, as it will be sent. */
	if (++d->linelen > SMTP_DATA_LINE_MAX)
		d->flags |= DATA_F_LONG_LINE;
	emit(d, out, o, '\r');
	emit(d, out, o, '\n');
	d->state = BOL;
	d->soft = true;
	d->linelen = 0;
}

/* crlf - a real CRLF ends the line */
static void
crlf(struct smtp_data *d, char *out, size_t *o)
{
	emit(d, out, o, '\r');
	emit(d, out, o, '\n');
	d->state = BOL;
	d->soft = false;
	d->linelen = 0;
}

size_t
smtp_data_feed(struct smtp_data *d, const char *in, size_t len, char *out,
    size_t *outlen)
{
	size_t i, o = 0;

	for (i = 0; i < len && !d->done; i++) {
		char c = in[i];

		/* Most octets are text within a line: take the whole run up
		 * to the next CR or LF in one step. */
		if (d->state == TEXT || (d->state == BOL && c != '.')) {
			size_t n = text_span(in + i, len - i);

			if (n > 0) {
				emit_text(d, out, &o, in + i, n);
				d->state = TEXT;
				i += n - 1;	/* the loop counts the last */
				continue;
			}
		}
		if (++d->linelen > SMTP_DATA_LINE_MAX)
			d->flags |= DATA_F_LONG_LINE;
		switch (d->state) {
		case BOL:
			if (c == '.') {
				d->state = DOT;
				break;
			}
			/* FALLTHROUGH */
		case TEXT:
		case DOT:	/* ".." is a stuffed dot; ".x" drops the dot too */
			if (c == '\r') {
				d->state = d->state == DOT ? DOTCR : CR;
			} else if (c == '\n') {
				bare_lf(d, out, &o);
			} else {
				emit(d, out, &o, c);
				d->state = TEXT;
			}
			break;
		case DOTCR:
			if (c == '\n' && d->soft) {
				/* "." after a bare LF: a line, not the end */
				crlf(d, out, &o);
				break;
			}
			if (c == '\n') {
				d->done = true;
				break;
			}
			/* ".\r" then something else: the CR was bare */
			d->flags |= DATA_F_BARE_EOL;
			emit(d, out, &o, '\r');
			d->state = TEXT;
			i--;		/* look at c again as text */
			d->linelen--;
			break;
		case CR:
			if (c == '\n') {
				crlf(d, out, &o);
			} else {
				d->flags |= DATA_F_BARE_EOL;
				emit(d, out, &o, '\r');
				d->state = TEXT;
				i--;
				d->linelen--;
			}
			break;
		}
	}
	*outlen = o;
	return i;
}
