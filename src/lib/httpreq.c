/*
 * httpreq - an HTTP/1.x request head read in pieces (httpreq.h).
 *
 * One state per place in the grammar of RFC 9112 sections 2 to 5, fed a
 * byte at a time: a head cut anywhere resumes where it stopped. Strict
 * where the RFC lets a server be (one SP between the request line's
 * parts, no whitespace before a field's colon, no obsolete line folding,
 * a CR only before LF), lenient where it asks to be (empty lines before
 * the request line, a bare LF for CRLF).
 */
#include <string.h>
#include <strings.h>

#include "lib/httpreq.h"

#define METHOD_MAX	16	/* longer: a method we do not serve */

enum {
	S_LEAD,			/* before the request line: empty lines */
	S_LEAD_CR,
	S_METHOD,
	S_TARGET,
	S_VERSION,
	S_VERSION_CR,		/* CR at the end of the request line */
	S_FIELD,		/* the start of a field line, or the end */
	S_NAME,
	S_OWS,			/* after the colon */
	S_VALUE,
	S_VALUE_CR,		/* CR at the end of a field line */
	S_END_CR,		/* CR of the empty line */
	S_DONE,
	S_BAD,
};

/* The fields that count; the others are checked, then forgotten. */
enum {
	F_OTHER, F_HOST, F_CONTENT_LENGTH, F_TRANSFER_ENCODING, F_ACCEPT,
};

static const struct {
	const char	*name;		/* lower case */
	int		 field;
} fields[] = {
	{ "host", F_HOST },
	{ "content-length", F_CONTENT_LENGTH },
	{ "transfer-encoding", F_TRANSFER_ENCODING },
	{ "accept", F_ACCEPT },
};

static const char openmetrics_type[] = "application/openmetrics-text";

/* tchar - a character of a token (RFC 9110 5.6.2) */
static bool
tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != '\0' && strchr("!#$%&'*+-.^_`|~",
	    c) != NULL);
}

/* value_char - a character of a field value: VCHAR, obs-text, SP, HTAB */
static bool
value_char(unsigned char c)
{
	return (c >= 0x21 && c != 0x7f) || c == ' ' || c == '\t';
}

static bool
ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static enum httpreq_status
bad(struct httpreq *r, const char *why)
{
	r->state = S_BAD;
	r->error = why;
	return HTTPREQ_BAD;
}

/* keep - one more byte of tok; past cap it is counted, not kept */
static void
keep(struct httpreq *r, char c, size_t cap)
{
	if (r->len < cap)
		r->tok[r->len] = c;
	r->len++;
}

/* q_zero - a qvalue (RFC 9110 12.4.2) from p to end that is 0 */
static bool
q_zero(const char *p, const char *end)
{
	if (p == end || *p++ != '0')
		return false;
	if (p < end && *p == '.')
		for (p++; p < end && *p == '0'; p++)
			continue;
	return p == end;
}

/* range_openmetrics - the media range from p to end names OpenMetrics
 * text, with a weight above 0 */
static bool
range_openmetrics(const char *p, const char *end)
{
	size_t n = sizeof(openmetrics_type) - 1;
	const char *v;

	while (p < end && ows(*p))
		p++;
	if ((size_t)(end - p) < n || strncasecmp(p, openmetrics_type, n) != 0)
		return false;
	for (p += n; p < end && ows(*p); p++)
		continue;
	while (p < end && *p == ';') {
		for (p++; p < end && ows(*p); p++)
			continue;
		for (v = p; v < end && *v != ';' && !ows(*v); v++)
			continue;
		if (v - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=' &&
		    q_zero(p + 2, v))
			return false;
		for (p = v; p < end && *p != ';'; p++)
			continue;
	}
	return p == end;
}

/* accept_openmetrics - an Accept value with an OpenMetrics range */
static bool
accept_openmetrics(const char *v)
{
	const char *end;

	for (;; v = end + 1) {
		if ((end = strchr(v, ',')) == NULL)
			end = v + strlen(v);
		if (range_openmetrics(v, end))
			return true;
		if (*end == '\0')
			return false;
	}
}

/* name_done - the field name in tok: which field it is */
static void
name_done(struct httpreq *r)
{
	size_t i;

	r->field = F_OTHER;
	if (r->len > HTTPREQ_VALUE_MAX)
		return;
	r->tok[r->len] = '\0';
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcasecmp(r->tok, fields[i].name) == 0)
			r->field = fields[i].field;
}

/* field_done - the value in tok (as far as kept) of the field read */
static enum httpreq_status
field_done(struct httpreq *r)
{
	size_t n = r->len < HTTPREQ_VALUE_MAX ? r->len : HTTPREQ_VALUE_MAX;

	while (n > 0 && ows(r->tok[n - 1]))
		n--;
	r->tok[n] = '\0';
	switch (r->field) {
	case F_HOST:
		r->hosts++;
		break;
	case F_CONTENT_LENGTH:
		/* Digits, and zero: no body. */
		if (n == 0 || r->len > HTTPREQ_VALUE_MAX ||
		    strspn(r->tok, "0") != n)
			return bad(r, strspn(r->tok, "0123456789") == n && n > 0 ?
			    "a request body" : "bad Content-Length");
		break;
	case F_TRANSFER_ENCODING:
		return bad(r, "a request body");
	case F_ACCEPT:
		if (accept_openmetrics(r->tok))
			r->openmetrics = true;
		break;
	}
	r->len = 0;
	r->state = S_FIELD;
	return HTTPREQ_MORE;
}

/* method_done - the method in tok */
static void
method_done(struct httpreq *r)
{
	r->method = HTTPREQ_OTHER;
	if (r->len > METHOD_MAX)
		return;
	r->tok[r->len] = '\0';
	if (strcmp(r->tok, "GET") == 0)
		r->method = HTTPREQ_GET;
	else if (strcmp(r->tok, "HEAD") == 0)
		r->method = HTTPREQ_HEAD;
}

/* version_done - "HTTP/1.x" in tok */
static enum httpreq_status
version_done(struct httpreq *r)
{
	if (r->len != 8 || memcmp(r->tok, "HTTP/1.", 7) != 0 ||
	    r->tok[7] < '0' || r->tok[7] > '9')
		return bad(r, "not HTTP/1.x");
	r->minor = (unsigned)(r->tok[7] - '0');
	r->len = 0;
	return HTTPREQ_MORE;
}

/* head_done - the empty line: what the whole head must have */
static enum httpreq_status
head_done(struct httpreq *r)
{
	/* RFC 9112 3.2: exactly one Host in 1.1, at most one in 1.0. */
	if (r->hosts > 1 || (r->minor >= 1 && r->hosts == 0))
		return bad(r, r->hosts ? "Host repeated" : "no Host");
	r->state = S_DONE;
	return HTTPREQ_DONE;
}

/* step - one byte */
static enum httpreq_status
step(struct httpreq *r, unsigned char c)
{
	switch (r->state) {
	case S_LEAD:
		if (c == '\r')
			r->state = S_LEAD_CR;
		else if (tchar(c)) {
			keep(r, (char)c, METHOD_MAX);
			r->state = S_METHOD;
		} else if (c != '\n')
			return bad(r, "no request line");
		return HTTPREQ_MORE;
	case S_LEAD_CR:
		if (c != '\n')
			return bad(r, "CR without LF");
		r->state = S_LEAD;
		return HTTPREQ_MORE;
	case S_METHOD:
		if (c == ' ') {
			method_done(r);
			r->len = 0;
			r->state = S_TARGET;
		} else if (tchar(c))
			keep(r, (char)c, METHOD_MAX);
		else
			return bad(r, "bad method");
		return HTTPREQ_MORE;
	case S_TARGET:
		if (c == ' ') {
			if (r->len == 0)
				return bad(r, "no request target");
			r->target[r->len] = '\0';
			r->len = 0;
			r->state = S_VERSION;
		} else if (c > 0x20 && c < 0x7f) {
			if (r->len == HTTPREQ_TARGET_MAX)
				return bad(r, "request target too long");
			r->target[r->len++] = (char)c;
		} else if (c == '\r' || c == '\n')
			return bad(r, "no HTTP version (HTTP/0.9)");
		else
			return bad(r, "bad request target");
		return HTTPREQ_MORE;
	case S_VERSION:
		if (c == '\r' || c == '\n') {
			if (version_done(r) == HTTPREQ_BAD)
				return HTTPREQ_BAD;
			r->state = c == '\r' ? S_VERSION_CR : S_FIELD;
		} else if (r->len == 8)
			return bad(r, "not HTTP/1.x");
		else
			r->tok[r->len++] = (char)c;
		return HTTPREQ_MORE;
	case S_VERSION_CR:
		if (c != '\n')
			return bad(r, "CR without LF");
		r->state = S_FIELD;
		return HTTPREQ_MORE;
	case S_FIELD:
		if (c == '\r')
			r->state = S_END_CR;
		else if (c == '\n')
			return head_done(r);
		else if (ows(c))
			return bad(r, "obsolete line folding");
		else if (!tchar(c))
			return bad(r, "bad field name");
		else if (++r->nfields > HTTPREQ_FIELDS_MAX)
			return bad(r, "too many header fields");
		else {
			keep(r, (char)c, HTTPREQ_VALUE_MAX);
			r->state = S_NAME;
		}
		return HTTPREQ_MORE;
	case S_NAME:
		if (c == ':') {
			name_done(r);
			r->len = 0;
			r->state = S_OWS;
		} else if (tchar(c))
			keep(r, (char)c, HTTPREQ_VALUE_MAX);
		else
			return bad(r, "bad field name");
		return HTTPREQ_MORE;
	case S_OWS:
	case S_VALUE:
		if (c == '\r')
			r->state = S_VALUE_CR;
		else if (c == '\n')
			return field_done(r);
		else if (!value_char(c))
			return bad(r, "bad field value");
		else if (r->state == S_VALUE || !ows(c)) {
			/* Only the fields that count are kept. */
			if (r->field != F_OTHER)
				keep(r, (char)c, HTTPREQ_VALUE_MAX);
			r->state = S_VALUE;
		}
		return HTTPREQ_MORE;
	case S_VALUE_CR:
		if (c != '\n')
			return bad(r, "CR without LF");
		return field_done(r);
	case S_END_CR:
		if (c != '\n')
			return bad(r, "CR without LF");
		return head_done(r);
	case S_DONE:
		return HTTPREQ_DONE;
	default:
		return HTTPREQ_BAD;
	}
}

void
httpreq_init(struct httpreq *r)
{
	memset(r, 0, sizeof(*r));
	r->state = S_LEAD;
}

enum httpreq_status
httpreq_feed(struct httpreq *r, const char *p, size_t len, size_t *used)
{
	enum httpreq_status st = r->state == S_DONE ? HTTPREQ_DONE :
	    r->state == S_BAD ? HTTPREQ_BAD : HTTPREQ_MORE;
	size_t i;

	for (i = 0; i < len && st == HTTPREQ_MORE; i++) {
		if (++r->total > HTTPREQ_HEAD_MAX) {
			st = bad(r, "request head too large");
			break;
		}
		st = step(r, (unsigned char)p[i]);
	}
	*used = i;
	return st;
}

bool
httpreq_path_is(const struct httpreq *r, const char *path)
{
	const char *t = r->target;
	size_t n;

	/* absolute-form (RFC 9112 3.2.2): the path after the authority */
	if (strncasecmp(t, "http://", 7) == 0 ||
	    strncasecmp(t, "https://", 8) == 0) {
		t = strchr(t, ':') + 3;
		t += strcspn(t, "/?");
	}
	n = strcspn(t, "?");
	return strlen(path) == n && strncmp(t, path, n) == 0;
}
