/*
 * dkim_from - the domain of a message's From: field (RFC 5322 3.6.2),
 * found while the message streams in, for choosing the keys our mail is
 * signed with. Only the From field is kept, unfolded and bounded; the
 * rest of the header is looked at once and forgotten. The field's value
 * is read by dmarc_from, as DMARC reads the author domain.
 */
#include <string.h>

#include "auth/dkim_from.h"
#include "auth/dmarc_from.h"

enum { BOL, NAME, SKIP, VALUE, CR, EOH_CR };

void
dkim_from_init(struct dkim_from *f)
{
	memset(f, 0, sizeof(*f));
	f->state = BOL;
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* name_is_from - the field name seen, blanks before the colon dropped
 * (RFC 5322 4.5.3 allows them), is "from" */
static int
name_is_from(const struct dkim_from *f)
{
	return !f->name_bad && f->namelen == 4 &&
	    memcmp(f->name, "from", 4) == 0;
}

static void
keep(struct dkim_from *f, char c)
{
	if (f->len < sizeof(f->value) - 1)
		f->value[f->len++] = c;
	else
		f->overflow = 1;
}

void
dkim_from_feed(struct dkim_from *f, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len && !f->done; i++) {
		char c = (char)p[i];

		switch (f->state) {
		case BOL:
			if (c == '\r') {
				f->state = EOH_CR;
			} else if ((c == ' ' || c == '\t') && f->in_from) {
				keep(f, c);	/* folding: CRLF dropped */
				f->state = VALUE;
			} else if ((c == ' ' || c == '\t') && f->name_open) {
				/* "From\r\n :": unfolded, the same name with
				 * blanks before its colon (RFC 5322 2.2.3), as
				 * smtp_hdrs reads it for DMARC */
				f->name_open = 0;
				f->name_blank = 1;
				f->state = NAME;
			} else if (c == ' ' || c == '\t') {
				f->state = SKIP;
			} else {
				f->name_open = 0;
				f->in_from = 0;
				f->namelen = 0;
				f->name_blank = f->name_bad = 0;
				f->state = NAME;
				i--;
			}
			break;
		case NAME:
			if (c == ':') {
				if (name_is_from(f)) {
					f->count++;
					f->in_from = 1;
					f->len = 0;
					f->overflow = 0;
					f->state = VALUE;
				} else
					f->state = SKIP;
			} else if (c == '\r' || c == '\n') {
				/* not a field, unless a fold carries the name on */
				f->state = c == '\r' ? CR : BOL;
				f->name_open = 1;
			} else if (c == ' ' || c == '\t') {
				f->name_blank = 1;	/* only before the colon */
			} else if (f->name_blank || f->namelen == sizeof(f->name))
				f->name_bad = 1;	/* not "from", however long */
			else
				f->name[f->namelen++] = (char)lower(c);
			break;
		case SKIP:
		case VALUE:
			if (c == '\r')
				f->state = CR;
			else if (c == '\n')
				f->state = BOL;
			else if (f->state == VALUE)
				keep(f, c);
			break;
		case CR:
			if (c == '\n')
				f->state = BOL;
			else if (f->in_from)
				keep(f, '\r');
			if (c != '\n') {
				f->name_open = 0;
				f->state = f->in_from ? VALUE : SKIP;
				i--;
			}
			break;
		case EOH_CR:
			/* CR LF at the start of a line: the header is over. */
			f->done = 1;
			break;
		}
	}
}

int
dkim_from_domain(const struct dkim_from *f, char *out, size_t outlen,
    const char **why)
{
	struct dmarc_from df;

	if (f->count == 0) {
		*why = "no From field";
		return -1;
	}
	if (f->count > 1) {
		*why = "several From fields";
		return -1;
	}
	if (f->overflow) {
		*why = "From field too long";
		return -1;
	}
	/* The author domain as DMARC reads it, so that what we sign for is
	 * what a receiver aligns d= with. */
	dmarc_from_init(&df);
	if (dmarc_from_field(&df, f->value, f->len) != DMARC_FROM_OK) {
		*why = dmarc_from_problem(&df);
		return -1;
	}
	if (strlen(df.domain) >= outlen) {
		*why = "From domain too long";
		return -1;
	}
	memcpy(out, df.domain, strlen(df.domain) + 1);
	return 0;
}
