/*
 * mime8 - 8-bit MIME to 7-bit, streaming: see mime8.h.
 *
 * The parse works on whole lines (a longer line is handled in pieces:
 * in a body that is harmless, in a header it cannot be converted). A
 * header is passed on field by field as it comes, except the two fields
 * the decision needs: Content-Type is held until the next field starts
 * and then passed on unchanged, Content-Transfer-Encoding is held to
 * the end of the header, where it is written again (rewritten or not).
 * Then each body line is checked against every open boundary (RFC 2046
 * 5.1.1: an outer boundary also ends the inner parts) before it is
 * copied or encoded.
 *
 * Which leaf parts get encoded: those labelled 8bit or binary, as in
 * Postfix, plus those labelled 7bit (or not labelled) in which the scan
 * found 8-bit octets anyway: sending those on unchanged would give 8-bit
 * data to a server that said it cannot take it.
 */
#include <string.h>
#include <strings.h>

#include "lib/mime8.h"

enum {
	M8_HEAD,		/* a header: the message's, a part's */
	M8_TEXT,		/* a leaf body, copied */
	M8_QP,			/* a leaf body, encoded */
	M8_OPAQUE,		/* base64, quoted-printable...: copied, 7-bit */
	M8_CONTAINER,		/* preamble or epilogue of a multipart */
};

enum {
	ENC_NONE,		/* no Content-Transfer-Encoding: 7bit */
	ENC_7BIT,
	ENC_8BIT,
	ENC_BINARY,
	ENC_OTHER,		/* base64, quoted-printable, x-... */
};

#define QP_LINE		76	/* RFC 2045 6.7 (5): octets per encoded line */

static const char hex[] = "0123456789ABCDEF";

/* fail - remember the first reason; from now on only count octets */
static void
fail(struct mime8 *m, const char *why)
{
	if (m->error == NULL)
		m->error = why;
	m->broken = true;
}

static int
out(struct mime8 *m, const char *p, size_t n)
{
	if (m->emit == NULL || n == 0)
		return 0;
	if (m->emit(m->ctx, p, n) == -1) {
		m->emit_failed = true;
		return -1;
	}
	return 0;
}

#define OUT_STR(m, s)	out((m), (s), sizeof(s) - 1)

/* --- header fields ------------------------------------------------------ */

/* skip_cfws - blanks, line breaks and (nested, escaped) comments */
static const char *
skip_cfws(const char *p, const char *end)
{
	int depth = 0;

	for (; p < end; p++) {
		if (depth > 0 && *p == '\\' && p + 1 < end)
			p++;
		else if (*p == '(')
			depth++;
		else if (depth > 0 && *p == ')')
			depth--;
		else if (depth == 0 && *p != ' ' && *p != '\t' && *p != '\r' &&
		    *p != '\n')
			break;
	}
	return p;
}

/* token - RFC 2045 token characters: no blanks, controls or tspecials */
static const char *
token(const char *p, const char *end)
{
	while (p < end && (unsigned char)*p > 32 && (unsigned char)*p < 127 &&
	    strchr("()<>@,;:\\\"/[]?=", *p) == NULL)
		p++;
	return p;
}

static bool
word_is(const char *p, const char *e, const char *w)
{
	return (size_t)(e - p) == strlen(w) && strncasecmp(p, w, strlen(w)) == 0;
}

/* field_value - the text after the colon of a held field */
static const char *
field_value(const char *f, size_t n, const char **end)
{
	const char *colon = memchr(f, ':', n);

	*end = f + n;
	return colon ? colon + 1 : *end;
}

/* transfer_encoding - the ENC_* a Content-Transfer-Encoding field names */
static int
transfer_encoding(const char *f, size_t n)
{
	const char *end, *p, *e;

	if (n == 0)
		return ENC_NONE;
	p = field_value(f, n, &end);
	p = skip_cfws(p, end);
	e = token(p, end);
	if (word_is(p, e, "7bit"))
		return ENC_7BIT;
	if (word_is(p, e, "8bit"))
		return ENC_8BIT;
	if (word_is(p, e, "binary"))
		return ENC_BINARY;
	return ENC_OTHER;
}

/*
 * content_type - kind of part a Content-Type field names: 'm' multipart
 * (with its boundary in lv, digest or not), 'r' a message to look
 * into (message/rfc822, message/global), 'o' another message/ type
 * (must be 7-bit), 't' anything else. No field, or one that does not
 * parse (RFC 2045 5.2: then text/plain), gives the default `dflt`.
 */
static char
content_type(const char *f, size_t n, char dflt, struct mime8_level *lv)
{
	const char *end, *p, *t, *te, *s, *se, *a, *ae, *v, *ve;
	size_t i;

	if (n == 0)
		return dflt;
	t = field_value(f, n, &end);
	t = skip_cfws(t, end);
	te = token(t, end);
	p = skip_cfws(te, end);
	if (te == t || p == end || *p != '/')
		return 't';
	s = skip_cfws(p + 1, end);
	se = token(s, end);
	if (se == s)
		return 't';
	/* message/partial and /external-body must be 7bit (RFC 2046
	 * 5.2.2, 5.2.3); other message types (delivery-status...) hold
	 * text, and are converted like text, as Postfix does. */
	if (word_is(t, te, "message"))
		return word_is(s, se, "rfc822") || word_is(s, se, "global") ?
		    'r' : word_is(s, se, "partial") || word_is(s, se,
		    "external-body") ? 'o' : 't';
	if (!word_is(t, te, "multipart"))
		return 't';
	lv->digest = word_is(s, se, "digest");
	lv->blen = 0;
	for (p = skip_cfws(se, end); p < end && *p == ';';
	    p = skip_cfws(p, end)) {
		a = skip_cfws(p + 1, end);
		ae = token(a, end);
		p = skip_cfws(ae, end);
		if (ae == a || p == end || *p != '=')
			break;
		v = skip_cfws(p + 1, end);
		if (v < end && *v == '"') {
			for (ve = ++v; ve < end && *ve != '"'; ve++)
				if (*ve == '\\' && ve + 1 < end)
					ve++;
			p = ve < end ? ve + 1 : ve;
		} else
			p = ve = token(v, end);
		if (!word_is(a, ae, "boundary"))
			continue;
		/* Unescape into the level; 1..70 octets by RFC 2046. */
		for (i = 0; v < ve; v++) {
			if (*v == '\\' && v + 1 < ve)
				v++;
			if (i == MIME8_BOUNDARY_MAX)
				return 'o';
			lv->boundary[i++] = *v;
		}
		lv->boundary[i] = '\0';
		lv->blen = i;
	}
	/* A multipart without a usable boundary cannot be split into its
	 * parts: it can only go as it is. */
	return lv->blen > 0 ? 'm' : 'o';
}

/* --- quoted-printable --------------------------------------------------- */

/* qp_token - one encoded or literal octet, after a soft line break when
 * the line is full (the "=" of the break is the 76th octet) */
static int
qp_token(struct mime8 *m, const char *t, size_t n)
{
	if (m->col + n > QP_LINE - 1) {
		if (OUT_STR(m, "=\r\n") == -1)
			return -1;
		m->col = 0;
		/* A "-" opening the new line could make it read as a
		 * boundary of an enclosing multipart. */
		if (n == 1 && t[0] == '-') {
			t = "=2D";
			n = 3;
		}
	}
	m->col += n;
	return out(m, t, n);
}

static int
qp_encoded(struct mime8 *m, unsigned char c)
{
	char t[3] = { '=', hex[c >> 4], hex[c & 15] };

	return qp_token(m, t, 3);
}

/* qp_octet - a blank waits until we know whether a line end follows
 * (RFC 2045 6.7 (3): a blank at the end of a line is encoded) */
static int
qp_octet(struct mime8 *m, unsigned char c)
{
	char lit = m->pending_ws;

	if (lit) {
		m->pending_ws = 0;
		if (qp_token(m, &lit, 1) == -1)
			return -1;
	}
	if (c == ' ' || c == '\t') {
		m->pending_ws = (char)c;
		return 0;
	}
	if (c < 33 || c > 126 || c == '=')
		return qp_encoded(m, c);
	lit = (char)c;
	return qp_token(m, &lit, 1);
}

/* qp_flush - the line ends here: a blank left over is encoded */
static int
qp_flush(struct mime8 *m)
{
	unsigned char c = (unsigned char)m->pending_ws;

	m->pending_ws = 0;
	return c ? qp_encoded(m, c) : 0;
}

static int
qp_line(struct mime8 *m, const char *p, size_t n, bool eol)
{
	for (size_t i = 0; i < n; i++)
		if (qp_octet(m, (unsigned char)p[i]) == -1)
			return -1;
	if (!eol)
		return 0;
	if (qp_flush(m) == -1 || OUT_STR(m, "\r\n") == -1)
		return -1;
	m->col = 0;
	return 0;
}

/* --- the parse ---------------------------------------------------------- */

static bool
has8(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return true;
	return false;
}

static int
copy_line(struct mime8 *m, const char *p, size_t n, bool eol)
{
	if (out(m, p, n) == -1)
		return -1;
	return eol ? OUT_STR(m, "\r\n") : 0;
}

/* held_out - pass on a held field as it came */
static int
held_out(struct mime8 *m, const char *f, size_t n)
{
	return n ? copy_line(m, f, n, true) : 0;
}

/* hold - add one line of a Content-Type or -Transfer-Encoding field */
static void
hold(struct mime8 *m, const char *p, size_t n)
{
	char	*buf = m->buffering == 1 ? m->field : m->cte;
	size_t	*len = m->buffering == 1 ? &m->flen : &m->clen;
	size_t	 need = *len ? n + 2 : n;

	if (*len + need > MIME8_FIELD_MAX) {
		fail(m, "a Content-Type or -Transfer-Encoding field too "
		    "long to convert");
		return;
	}
	if (*len) {
		memcpy(buf + *len, "\r\n", 2);
		*len += 2;
	}
	memcpy(buf + *len, p, n);
	*len += n;
}

/* end_field - the field held so far is complete: a Content-Type goes
 * on at once, a Content-Transfer-Encoding waits for the header's end */
static int
end_field(struct mime8 *m)
{
	int held = m->buffering;

	m->buffering = 0;
	return held == 1 ? held_out(m, m->field, m->flen) : 0;
}

static bool
part_has8(const struct mime8 *m, unsigned part)
{
	return part < MIME8_PARTS_MAX &&
	    (m->has8[part / 8] & (1u << (part % 8))) != 0;
}

/* end_header - decide what the body is and say so in the header */
static int
end_header(struct mime8 *m)
{
	struct mime8_level lv;
	int enc = transfer_encoding(m->cte, m->clen), rc;
	char kind = content_type(m->field, m->flen, m->digest_child ? 'r' :
	    't', &lv);
	bool relabel = enc == ENC_8BIT || enc == ENC_BINARY;
	const char *cte = NULL;
	bool top = m->top;

	if (end_field(m) == -1)
		return -1;
	m->top = false;
	m->digest_child = false;
	if (kind == 'm' && m->depth == MIME8_DEPTH_MAX) {
		fail(m, "MIME parts nested too deeply to convert");
		return m->emit ? -1 : 0;
	}
	if (kind == 'm' || kind == 'r') {
		/* Its parts are converted: what holds them is 7bit. */
		if (kind == 'm')
			m->stack[m->depth++] = lv;
		m->state = kind == 'm' ? M8_CONTAINER : M8_HEAD;
		if (relabel)
			cte = "Content-Transfer-Encoding: 7bit";
	} else if (kind == 'o' || enc == ENC_OTHER) {
		m->state = M8_OPAQUE;
	} else {
		m->state = M8_TEXT;
		if (m->emit && (relabel || part_has8(m, m->part))) {
			m->state = M8_QP;
			m->col = 0;
			m->pending_ws = 0;
			cte = "Content-Transfer-Encoding: quoted-printable";
		}
		m->part++;
	}
	/* A Content-Transfer-Encoding means nothing to a reader outside
	 * MIME (RFC 2045 4): a message header that had no MIME-Version
	 * gets one with it, as sendmail's mime8to7 adds it. */
	if (cte && top && !m->mime_version && copy_line(m,
	    "MIME-Version: 1.0", 17, true) == -1)
		return -1;
	rc = cte ? copy_line(m, cte, strlen(cte), true) :
	    held_out(m, m->cte, m->clen);
	m->flen = m->clen = 0;
	return rc;
}

/* field_name - the length of a header field's name, 0 if the line is
 * not a field (RFC 5322 2.2: printable octets but ':', then ':'; the
 * obsolete syntax of 4.5.3 lets blanks come before the colon, and
 * Postfix takes such a line as a field too: "Name : value" must not end
 * the header, or the fields after it would be converted as body) */
static size_t
field_name(const char *p, size_t n)
{
	size_t i, name;

	for (i = 0; i < n && p[i] != ':' && p[i] != ' ' && p[i] != '\t'; i++)
		if ((unsigned char)p[i] < 33 || (unsigned char)p[i] > 126)
			return 0;
	name = i;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i < n && p[i] == ':' ? name : 0;
}

static int body_line(struct mime8 *, const char *, size_t, bool);

static int
head_line(struct mime8 *m, const char *p, size_t n, bool eol)
{
	bool folded = n > 0 && (p[0] == ' ' || p[0] == '\t');
	size_t name = folded ? 0 : field_name(p, n);

	if (!eol || m->cont) {
		fail(m, "a header line too long to convert");
		return m->emit ? -1 : 0;
	}
	if (n == 0) {
		if (end_header(m) == -1)
			return -1;
		return OUT_STR(m, "\r\n");
	}
	if (!folded && name == 0) {
		/* Not a field: the body started without its empty line.
		 * Give it one, so that what follows stays body. */
		if (end_header(m) == -1 || OUT_STR(m, "\r\n") == -1)
			return -1;
		return m->state == M8_HEAD ? head_line(m, p, n, eol) :
		    body_line(m, p, n, eol);
	}
	if (has8(p, n)) {
		fail(m, "8-bit octets in a header");
		return m->emit ? -1 : 0;
	}
	if (folded) {
		if (m->buffering) {
			hold(m, p, n);
			return 0;
		}
		return copy_line(m, p, n, true);
	}
	if (end_field(m) == -1)
		return -1;
	if (m->top && word_is(p, p + name, "MIME-Version"))
		m->mime_version = true;
	if (word_is(p, p + name, "Content-Type"))
		m->buffering = 1;
	else if (word_is(p, p + name, "Content-Transfer-Encoding"))
		m->buffering = 2;
	else
		return copy_line(m, p, n, true);
	if (m->buffering == 1 ? m->flen != 0 : m->clen != 0) {
		/* Two of them: which one counts is anybody's guess. */
		fail(m, "a repeated Content-Type or Content-Transfer-Encoding");
		return m->emit ? -1 : 0;
	}
	hold(m, p, n);
	return 0;
}

/* boundary - is this line a delimiter of an open multipart? Returns the
 * level's index + 1 (0: no) and whether it closes that multipart */
static size_t
boundary(const struct mime8 *m, const char *p, size_t n, bool *close)
{
	size_t i, k, b;

	if (n < 3 || p[0] != '-' || p[1] != '-')
		return 0;
	for (i = m->depth; i > 0; i--) {
		b = m->stack[i - 1].blen;
		if (n < 2 + b || memcmp(p + 2, m->stack[i - 1].boundary, b) != 0)
			continue;
		k = 2 + b;
		*close = n >= k + 2 && p[k] == '-' && p[k + 1] == '-';
		if (*close)
			k += 2;
		while (k < n && (p[k] == ' ' || p[k] == '\t'))
			k++;	/* transport padding */
		if (k == n)
			return i;
	}
	return 0;
}

static int
body_line(struct mime8 *m, const char *p, size_t n, bool eol)
{
	bool close = false;
	size_t level = m->cont ? 0 : boundary(m, p, n, &close);

	if (level > 0) {
		if (m->state == M8_QP && qp_flush(m) == -1)
			return -1;
		m->depth = close ? level - 1 : level;
		m->state = close ? M8_CONTAINER : M8_HEAD;
		m->digest_child = !close && m->stack[level - 1].digest;
		return copy_line(m, p, n, eol);
	}
	if (m->state == M8_QP)
		return qp_line(m, p, n, eol);
	if (has8(p, n)) {
		if (m->state == M8_TEXT && m->emit == NULL) {
			if (m->part - 1 >= MIME8_PARTS_MAX)
				fail(m, "too many MIME parts to convert");
			else
				m->has8[(m->part - 1) / 8] |=
				    (unsigned char)(1u << ((m->part - 1) % 8));
		} else {
			fail(m, m->state == M8_OPAQUE ? "8-bit octets in a "
			    "part that must be 7-bit" : "8-bit octets outside "
			    "every MIME part");
			return m->emit ? -1 : 0;
		}
	}
	return copy_line(m, p, n, eol);
}

/* line - one line (or a piece of a long one) without its line end */
static int
line(struct mime8 *m, const char *p, size_t n, bool eol)
{
	int rc = 0;

	if (has8(p, n)) {
		if (m->top && m->state == M8_HEAD)
			m->head8 = true;
		else
			m->body8 = true;
	}
	if (m->broken) {
		if (m->emit)
			return -1;
		/* Still tell a header's 8-bit octets from the body's. */
		if (m->top && n == 0 && eol && !m->cont)
			m->top = false;
	} else if (m->state == M8_HEAD)
		rc = head_line(m, p, n, eol);
	else
		rc = body_line(m, p, n, eol);
	m->cont = !eol;
	return rc;
}

/* --- the interface ------------------------------------------------------ */

static void
reset(struct mime8 *m)
{
	m->error = NULL;
	m->head8 = m->body8 = m->emit_failed = false;
	m->len = 0;
	m->cont = false;
	m->state = M8_HEAD;
	m->top = true;
	m->mime_version = false;
	m->broken = false;
	m->digest_child = false;
	m->flen = m->clen = 0;
	m->buffering = 0;
	m->depth = 0;
	m->part = 0;
	m->col = 0;
	m->pending_ws = 0;
}

void
mime8_init(struct mime8 *m)
{
	m->emit = NULL;
	m->ctx = NULL;
	memset(m->has8, 0, sizeof(m->has8));
	reset(m);
}

void
mime8_encode(struct mime8 *m, mime8_emit_fn *emit, void *ctx)
{
	reset(m);
	m->emit = emit;
	m->ctx = ctx;
}

int
mime8_feed(struct mime8 *m, const char *p, size_t n)
{
	const char *nl;
	size_t take, k;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		take = nl ? (size_t)(nl - p) : n;
		if (m->len + take > sizeof(m->line))
			take = sizeof(m->line) - m->len;
		memcpy(m->line + m->len, p, take);
		m->len += take;
		p += take;
		n -= take;
		if (n > 0 && *p == '\n') {
			p++;
			n--;
			k = m->len;
			if (k > 0 && m->line[k - 1] == '\r')
				k--;
			m->len = 0;
			if (line(m, m->line, k, true) == -1)
				return -1;
		} else if (m->len == sizeof(m->line)) {
			/* A piece of a long line; a CR at its end may be
			 * half of the CRLF, so it waits for the next one. */
			k = m->line[m->len - 1] == '\r' ? m->len - 1 : m->len;
			if (line(m, m->line, k, false) == -1)
				return -1;
			memmove(m->line, m->line + k, m->len - k);
			m->len -= k;
		}
	}
	return 0;
}

int
mime8_end(struct mime8 *m)
{
	int rc = 0;

	/* A last line without its line end is ended here: SMTP would add
	 * one anyway. */
	if (m->len > 0 || m->cont)
		rc = line(m, m->line, m->len, true);
	m->len = 0;
	if (rc == 0 && !m->broken && m->state == M8_QP)
		rc = qp_flush(m);
	/* A message that is all header: its held fields, unchanged. */
	if (rc == 0 && !m->broken && m->state == M8_HEAD &&
	    (rc = end_field(m)) == 0)
		rc = held_out(m, m->cte, m->clen);
	if (m->broken && m->emit)
		rc = -1;
	return rc;
}
