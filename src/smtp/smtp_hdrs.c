/*
 * smtp_hdrs - hold each header field until its end, then drop it (an
 * Authentication-Results claiming our authserv-id), read it (From:) and
 * pass it on; see smtp_hdrs.h.
 */
#include <string.h>
#include <strings.h>

#include "auth/authres.h"
#include "auth/dmarc_from.h"
#include "lib/buf.h"
#include "smtp/smtp_hdrs.h"

_Static_assert(SMTP_HDRS_FIELD_MAX > DMARC_FROM_MAX_FIELD,
    "a From: cut short must be one the reader refuses");

enum { F_NONE, F_HOLD, F_PASS, F_DROP };

#define AR_NAME		"Authentication-Results"

void
smtp_hdrs_init(struct smtp_hdrs *h, const char *ours, smtp_hdrs_out *out,
    void *arg)
{
	memset(h, 0, sizeof(*h));
	h->ours = ours;
	h->out = out;
	h->arg = arg;
	h->mode = F_NONE;
	h->bol = true;
	buf_init(&h->field, SMTP_HDRS_FIELD_MAX);
	dmarc_from_init(&h->from);
}

void
smtp_hdrs_free(struct smtp_hdrs *h)
{
	buf_free(&h->field);
}

/* name_is - does the field (its first len octets) have this name? The
 * name ends at the colon; blanks before the colon are obsolete syntax
 * (RFC 5322 4.5) that readers still take, and a field is read unfolded
 * (2.2.3): a line end before the blanks does not make it another. */
static bool
name_is(const char *f, size_t len, const char *name, size_t *value)
{
	size_t n = strlen(name), i = n;

	if (len < n || strncasecmp(f, name, n) != 0)
		return false;
	while (i < len && (f[i] == ' ' || f[i] == '\t' || (f[i] == '\r' &&
	    i + 2 < len && f[i + 1] == '\n' &&
	    (f[i + 2] == ' ' || f[i + 2] == '\t'))))
		i += f[i] == '\r' ? 3 : 1;
	if (i >= len || f[i] != ':')
		return false;
	*value = i + 1;
	return true;
}

/* value_is_no - the value of a TLS-Required field, between its
 * folding white space, is "No" (RFC 8689 5; case as header keywords
 * are read, RFC 5322 1.2.2 leaves it to the field) */
static bool
value_is_no(const char *v, size_t len)
{
	size_t i = 0;

	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t' ||
	    v[len - 1] == '\r' || v[len - 1] == '\n'))
		len--;
	while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' ||
	    v[i] == '\n'))
		i++;
	return len - i == 2 && strncasecmp(v + i, "no", 2) == 0;
}

/* judge - what becomes of the held field (complete, or all that could
 * be held: cut): F_DROP for an Authentication-Results that claims us,
 * that names no authserv-id, or that is cut (our authserv-id may follow what was held, behind
 * folded white space or a long comment, where a reader of the whole
 * field finds it), else F_PASS */
static int
judge(struct smtp_hdrs *h, bool cut)
{
	const char *f = h->field.data;
	size_t len = h->field.len, v;

	/* The value without the CRLF that ends the field. */
	while (len > 0 && (f[len - 1] == '\n' || f[len - 1] == '\r'))
		len--;
	if (h->ours != NULL && name_is(f, len, AR_NAME, &v)) {
		/* One without a readable authserv-id (MALFORMED) is
		 * one readers must ignore (RFC 8601 2.2): a lenient
		 * reader may find ours in it, and dropping it loses
		 * nothing. */
		if (cut || authres_claims(f + v, len - v, h->ours) !=
		    AUTHRES_OTHER)
			return F_DROP;
	} else if (name_is(f, len, "From", &v)) {
		/* A From: cut short is past DMARC_FROM_MAX_FIELD all the
		 * same: the reader finds it unreadable, as it is. */
		dmarc_from_field(&h->from, f + v, len - v);
	} else if (!cut && name_is(f, len, "TLS-Required", &v) &&
	    value_is_no(f + v, len - v)) {
		h->tls_required_no = true;
	}
	return F_PASS;
}

/* finish - the held field is complete */
static void
finish(struct smtp_hdrs *h)
{
	if (h->mode == F_HOLD) {
		if (judge(h, false) == F_DROP)
			h->dropped++;
		else if (h->field.len > 0)
			h->out(h->arg, h->field.data, h->field.len);
	}
	if (h->mode == F_DROP)
		h->dropped++;
	buf_reset(&h->field);
	h->mode = F_NONE;
}

/* line_part - octets of the current field's line */
static void
line_part(struct smtp_hdrs *h, const char *p, size_t n)
{
	switch (h->mode) {
	case F_HOLD:
		if (buf_append(&h->field, p, n) == 0)
			return;
		/* Too long to hold: judged on what was held. */
		if ((h->mode = judge(h, true)) == F_PASS) {
			h->out(h->arg, h->field.data, h->field.len);
			h->out(h->arg, p, n);
		}
		buf_reset(&h->field);
		return;
	case F_PASS:
	case F_NONE:		/* a continuation line with no field above */
		h->out(h->arg, p, n);
		return;
	case F_DROP:
		return;
	}
}

void
smtp_hdrs_feed(struct smtp_hdrs *h, const char *data, size_t len)
{
	const char *nl;
	size_t n;

	while (len > 0 && !h->in_body) {
		if (h->bol) {
			if (data[0] == '\r' || data[0] == '\n') {
				/* The empty line: the header ends. (A CR
				 * alone here is a bare CR, which smtp_data
				 * has flagged: the message is refused.) */
				finish(h);
				h->in_body = true;
				break;
			}
			if (data[0] != ' ' && data[0] != '\t') {
				finish(h);
				h->mode = F_HOLD;
			}
			h->bol = false;
		}
		nl = memchr(data, '\n', len);
		n = nl != NULL ? (size_t)(nl - data) + 1 : len;
		line_part(h, data, n);
		if (nl != NULL)
			h->bol = true;
		data += n;
		len -= n;
	}
	if (len > 0)
		h->out(h->arg, data, len);
}

void
smtp_hdrs_end(struct smtp_hdrs *h)
{
	if (!h->in_body)
		finish(h);
}
