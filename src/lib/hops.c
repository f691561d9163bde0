/*
 * hops - Received: fields in the header section, counted as the
 * message streams by.
 *
 * States, with what the machine has seen since the last LF:
 *	BOL	nothing: at the beginning of a line
 *	BOLCR	"\r"          (a following \n is the empty line)
 *	NAME	a prefix of "received"
 *	BLANK	"received" and blanks (a following ':' counts)
 *	SKIP	anything else: the rest of the line does not matter
 */
#include <ctype.h>
#include <limits.h>
#include <string.h>

#include "lib/hops.h"

enum { BOL, BOLCR, NAME, BLANK, SKIP };

static const char received[] = "received";
#define RECEIVED_LEN	(sizeof(received) - 1)

void
hops_init(struct hops *h)
{
	memset(h, 0, sizeof(*h));
	h->state = BOL;
}

/* name_char - one octet after a prefix of "received": the next state */
static unsigned char
name_char(struct hops *h, char c)
{
	if (h->matched < RECEIVED_LEN) {
		if (tolower((unsigned char)c) != received[h->matched])
			return SKIP;
		h->matched++;
		return NAME;
	}
	if (c == ' ' || c == '\t')
		return BLANK;
	if (c == ':' && h->count < UINT_MAX)
		h->count++;
	return SKIP;
}

void
hops_feed(struct hops *h, const char *p, size_t len)
{
	const char *end = p + len, *nl;

	while (p < end && !h->done) {
		char c = *p;

		switch (h->state) {
		case SKIP:
			/* Most of a header is here: jump to the line end. */
			if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
				return;
			p = nl;
			h->state = BOL;
			break;
		case BOL:
		case BOLCR:
			if (c == '\n') {
				h->done = true;		/* the empty line */
				break;
			}
			if (c == '\r' && h->state == BOL) {
				h->state = BOLCR;
				break;
			}
			h->matched = 0;
			h->state = h->state == BOLCR ? SKIP : name_char(h, c);
			break;
		case NAME:
		case BLANK:
			if (c == '\n')
				h->state = BOL;
			else if (h->state == BLANK && c != ':' && c != ' ' &&
			    c != '\t')
				h->state = SKIP;
			else
				h->state = name_char(h, c);
			break;
		}
		p++;
	}
}
