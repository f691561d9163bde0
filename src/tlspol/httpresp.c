/*
 * httpresp - a resumable HTTP/1.1 response parser (RFC 9112): a state
 * per part of the message, lines gathered in one bounded buffer, the
 * body appended to the caller's. What the policy fetch does not need is
 * refused rather than guessed at: folded fields, control characters
 * in a field, a transfer coding other than chunked, two different
 * Content-Lengths.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tlspol/httpresp.h"

enum {
	S_STATUS,		/* "HTTP/1.1 200 OK" */
	S_FIELDS,		/* header fields up to the blank line */
	S_BODY_LEN,		/* Content-Length bytes */
	S_BODY_CLOSE,		/* everything up to the end of the connection */
	S_CHUNK_SIZE,		/* a chunk-size line */
	S_CHUNK_DATA,		/* a chunk's bytes */
	S_CHUNK_END,		/* the CRLF after them */
	S_TRAILER,		/* trailer fields after the last chunk */
	S_DONE,
	S_ERROR,
};

static enum httpresp_status
fail(struct httpresp *r, const char *why)
{
	snprintf(r->why, sizeof(r->why), "%s", why);
	r->state = S_ERROR;
	return HTTPRESP_ERROR;
}

void
httpresp_init(struct httpresp *r, char *body, size_t body_max)
{
	memset(r, 0, sizeof(*r));
	r->state = S_STATUS;
	r->body = body;
	r->body_max = body_max;
}

/* gather - bytes up to LF into r->line: 1 when the line is whole (CR
 * LF or LF cut off), 0 for more, -1 when it is too long */
static int
gather(struct httpresp *r, const char *d, size_t len, size_t *at)
{
	while (*at < len) {
		char c = d[(*at)++];

		if (c == '\n') {
			if (r->line_len > 0 && r->line[r->line_len - 1] == '\r')
				r->line_len--;
			r->line[r->line_len] = '\0';
			return 1;
		}
		if (r->line_len + 1 >= sizeof(r->line))
			return -1;
		r->line[r->line_len++] = c;
	}
	return 0;
}

/* number - decimal (base 10) or hexadecimal (16) digits, bounded: the
 * count of digits read, 0 for none or too many */
static size_t
number(const char *s, int base, unsigned long long *v)
{
	size_t	 i;
	int	 d;

	*v = 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (base == 16 && s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else if (base == 16 && s[i] >= 'A' && s[i] <= 'F')
			d = s[i] - 'A' + 10;
		else
			break;
		if (i == 15)
			return 0;	/* more than any policy could need */
		*v = *v * (unsigned long long)base + (unsigned long long)d;
	}
	return i;
}

static enum httpresp_status
status_line(struct httpresp *r)
{
	const char *l = r->line;

	if (strncmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') ||
	    l[8] != ' ' || l[9] < '1' || l[9] > '5' || l[10] < '0' ||
	    l[10] > '9' || l[11] < '0' || l[11] > '9' ||
	    (l[12] != '\0' && l[12] != ' '))
		return fail(r, "malformed status line");
	r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	r->state = S_FIELDS;
	return HTTPRESP_MORE;
}

/* tchar - a character of a field name (RFC 9110 5.6.2) */
static bool
tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* field - one header field line */
static enum httpresp_status
field(struct httpresp *r)
{
	char	*l = r->line, *v, *end;
	size_t	 n;
	unsigned long long len;

	if (++r->fields > HTTPRESP_FIELDS_MAX)
		return fail(r, "too many header fields");
	if (l[0] == ' ' || l[0] == '\t')
		return fail(r, "folded header field");
	for (n = 0; tchar(l[n]); n++)
		;
	if (n == 0 || l[n] != ':')
		return fail(r, "malformed header field");
	l[n] = '\0';
	for (v = l + n + 1; *v == ' ' || *v == '\t'; v++)
		;
	for (end = v + strlen(v); end > v && (end[-1] == ' ' ||
	    end[-1] == '\t'); end--)
		;
	*end = '\0';
	/* RFC 9110 5.5: visible characters, blanks between them; a CR or
	 * an escape would reach our log line with the value. */
	for (end = v; *end != '\0'; end++)
		if (((unsigned char)*end < 0x20 && *end != '\t') ||
		    *end == 0x7f)
			return fail(r, "control character in a header field");
	if (strcasecmp(l, "content-length") == 0) {
		if (number(v, 10, &len) != strlen(v) || *v == '\0')
			return fail(r, "malformed Content-Length");
		if (r->has_length && r->length != len)
			return fail(r, "two different Content-Lengths");
		r->has_length = true;
		r->length = len;
	} else if (strcasecmp(l, "transfer-encoding") == 0) {
		if (r->chunked || strcasecmp(v, "chunked") != 0)
			return fail(r, "transfer coding other than chunked");
		r->chunked = true;
	} else if (strcasecmp(l, "content-type") == 0) {
		n = strcspn(v, ";");
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (n >= sizeof(r->content_type))
			n = sizeof(r->content_type) - 1;
		for (size_t i = 0; i < n; i++)
			r->content_type[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ?
			    v[i] - 'A' + 'a' : v[i]);
		r->content_type[n] = '\0';
	}
	return HTTPRESP_MORE;
}

/* fields_end - the blank line: where the body is */
static enum httpresp_status
fields_end(struct httpresp *r)
{
	if (r->status < 200) {		/* an interim response: the next */
		r->state = S_STATUS;
		r->fields = 0;
		r->has_length = r->chunked = false;
		r->content_type[0] = '\0';
		return HTTPRESP_MORE;
	}
	r->headers_done = true;
	if (r->status == 204 || r->status == 304) {
		r->state = S_DONE;
		return HTTPRESP_DONE;
	}
	if (r->chunked) {
		r->state = S_CHUNK_SIZE;
	} else if (r->has_length) {
		if (r->length > r->body_max) {
			r->too_large = true;
			return fail(r, "body larger than the limit");
		}
		r->left = r->length;
		r->state = r->left > 0 ? S_BODY_LEN : S_DONE;
	} else
		r->state = S_BODY_CLOSE;
	return r->state == S_DONE ? HTTPRESP_DONE : HTTPRESP_MORE;
}

static enum httpresp_status
chunk_size(struct httpresp *r)
{
	unsigned long long size;
	size_t	 n = number(r->line, 16, &size);
	char	 c = r->line[n];

	if (n == 0 || (c != '\0' && c != ';' && c != ' ' && c != '\t'))
		return fail(r, "malformed chunk size");
	if (size == 0) {
		r->state = S_TRAILER;
		return HTTPRESP_MORE;
	}
	if (size > r->body_max - r->body_len) {
		r->too_large = true;
		return fail(r, "body larger than the limit");
	}
	r->left = size;
	r->state = S_CHUNK_DATA;
	return HTTPRESP_MORE;
}

/* body - up to r->left bytes (all there are for S_BODY_CLOSE) */
static enum httpresp_status
body(struct httpresp *r, const char *d, size_t len, size_t *at)
{
	size_t	 n = len - *at;

	if (r->state != S_BODY_CLOSE && n > r->left)
		n = (size_t)r->left;
	if (n > r->body_max - r->body_len) {
		r->too_large = true;
		return fail(r, "body larger than the limit");
	}
	memcpy(r->body + r->body_len, d + *at, n);
	r->body_len += n;
	*at += n;
	if (r->state == S_BODY_CLOSE)
		return HTTPRESP_MORE;
	r->left -= n;
	if (r->left > 0)
		return HTTPRESP_MORE;
	r->state = r->state == S_CHUNK_DATA ? S_CHUNK_END : S_DONE;
	return r->state == S_DONE ? HTTPRESP_DONE : HTTPRESP_MORE;
}

/* line - a whole line in the state it belongs to */
static enum httpresp_status
line(struct httpresp *r)
{
	r->line_len = 0;
	switch (r->state) {
	case S_STATUS:
		return status_line(r);
	case S_FIELDS:
		return r->line[0] == '\0' ? fields_end(r) : field(r);
	case S_CHUNK_SIZE:
		return chunk_size(r);
	case S_CHUNK_END:
		if (r->line[0] != '\0')
			return fail(r, "chunk longer than its size");
		r->state = S_CHUNK_SIZE;
		return HTTPRESP_MORE;
	default:		/* S_TRAILER */
		if (r->line[0] == '\0') {
			r->state = S_DONE;
			return HTTPRESP_DONE;
		}
		if (++r->fields > HTTPRESP_FIELDS_MAX)
			return fail(r, "too many trailer fields");
		return HTTPRESP_MORE;
	}
}

enum httpresp_status
httpresp_feed(struct httpresp *r, const char *d, size_t len, size_t *used)
{
	enum httpresp_status st = HTTPRESP_MORE;
	size_t	 at = 0;
	int	 got;

	while (st == HTTPRESP_MORE && at < len) {
		switch (r->state) {
		case S_BODY_LEN:
		case S_BODY_CLOSE:
		case S_CHUNK_DATA:
			st = body(r, d, len, &at);
			break;
		case S_DONE:
			st = HTTPRESP_DONE;
			break;
		case S_ERROR:
			st = HTTPRESP_ERROR;
			break;
		default:
			if ((got = gather(r, d, len, &at)) == -1)
				st = fail(r, "line too long");
			else if (got == 1)
				st = line(r);
		}
	}
	if (st == HTTPRESP_MORE && r->state == S_DONE)
		st = HTTPRESP_DONE;
	if (st == HTTPRESP_MORE && r->state == S_ERROR)
		st = HTTPRESP_ERROR;
	*used = at;
	return st;
}

enum httpresp_status
httpresp_eof(struct httpresp *r)
{
	if (r->state == S_DONE || r->state == S_BODY_CLOSE) {
		r->state = S_DONE;
		return HTTPRESP_DONE;
	}
	if (r->state != S_ERROR)
		fail(r, "connection closed before the end of the response");
	return HTTPRESP_ERROR;
}
