/*
 * dovecot_proto - Dovecot's authentication protocol, client side.
 *
 * The reply parser knows the lines a client is sent: the handshake
 * (VERSION, MECH, SPID, CUID, COOKIE, DONE) and the answers to an AUTH
 * (CONT, OK, FAIL). As the protocol asks, unknown commands and unknown
 * optional parameters are ignored, so a newer Dovecot still parses; a
 * known command with a bad required field is an error, on which the
 * caller drops the connection. The parser works in place: fields are
 * cut at their TABs, values unescaped and CONT's base64 decoded where
 * they lie, so nothing is allocated and nothing can grow.
 *
 * A user name from OK is only passed on when it is one line of
 * printable text (no control bytes, at most DOVECOT_USER_MAX bytes):
 * it goes into logs and the Received field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/base64.h"
#include "sec/dovecot_proto.h"

#define ESC	'\001'		/* Dovecot's tab-escaping character */

/* unescape - Dovecot's tab-escaping undone in place; the new length */
static size_t
unescape(char *s, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (s[i] != ESC || i + 1 == len) {
			if (s[i] != ESC)	/* a lone trailing \001: dropped */
				s[o++] = s[i];
			continue;
		}
		switch (s[++i]) {
		case '0':
			s[o++] = '\0';
			break;
		case '1':
			s[o++] = ESC;
			break;
		case 't':
			s[o++] = '\t';
			break;
		case 'r':
			s[o++] = '\r';
			break;
		case 'n':
		case 'l':
			s[o++] = '\n';
			break;
		default:
			s[o++] = s[i];
			break;
		}
	}
	return o;
}

/* number - a decimal number of 1 to 10 digits that fits in unsigned */
static int
number(const char *s, size_t len, unsigned *out)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0 || len > 10)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 0xffffffffUL)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* printable - one line of text fit for a log and a Received field */
static bool
printable(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > DOVECOT_USER_MAX)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* The fields of one line, each cut out of it. */
#define FIELDS_MAX	64	/* more are ignored: all we read come early */
struct fields {
	char	*v[FIELDS_MAX];
	size_t	 len[FIELDS_MAX];
	size_t	 n;
};

static void
split(char *line, size_t len, struct fields *f)
{
	size_t i, start = 0;

	f->n = 0;
	for (i = 0; i <= len && f->n < FIELDS_MAX; i++) {
		if (i < len && line[i] != '\t')
			continue;
		f->v[f->n] = line + start;
		f->len[f->n] = i - start;
		f->n++;
		start = i + 1;
	}
}

/* named - is field `fv` the optional parameter `name` (with "=value"
 * when value is wanted, or the bare boolean)? Sets *val, *vlen. */
static bool
named(char *fv, size_t flen, const char *name, char **val, size_t *vlen)
{
	size_t n = strlen(name);

	if (flen < n || memcmp(fv, name, n) != 0)
		return false;
	if (val == NULL)
		return flen == n;
	if (flen == n || fv[n] != '=')
		return false;
	*val = fv + n + 1;
	*vlen = flen - n - 1;
	return true;
}

/* answer - OK, FAIL: the optional parameters we read */
static void
answer(struct fields *f, struct dovecot_reply *r)
{
	char *v;
	size_t i, vlen;

	for (i = 2; i < f->n; i++) {
		if (named(f->v[i], f->len[i], "user", &v, &vlen)) {
			vlen = unescape(v, vlen);
			r->user = NULL;
			if (printable(v, vlen)) {
				v[vlen] = '\0';	/* a TAB or the line's end */
				r->user = v;
			}
		} else if (named(f->v[i], f->len[i], "temp", NULL, NULL)) {
			r->temp = true;
		} else if (named(f->v[i], f->len[i], "code", &v, &vlen)) {
			if (vlen == 9 && memcmp(v, "temp_fail", 9) == 0)
				r->temp = true;
		}
	}
}

/* mech - MECH: a name we keep (upper case, as offered in EHLO) */
static int
mech(struct fields *f, struct dovecot_reply *r, char *err, size_t errlen)
{
	size_t i;

	if (f->n < 2 || f->len[1] == 0 || f->len[1] > DOVECOT_MECH_MAX) {
		snprintf(err, errlen, "MECH without a usable name");
		return -1;
	}
	for (i = 0; i < f->len[1]; i++) {
		char c = f->v[1][i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			snprintf(err, errlen, "MECH with a bad name");
			return -1;
		}
		r->mech[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
	}
	r->mech[i] = '\0';
	for (i = 2; i < f->n; i++)
		if (named(f->v[i], f->len[i], "plaintext", NULL, NULL))
			r->plaintext = true;
	return 0;
}

static bool
is(struct fields *f, const char *cmd)
{
	return f->len[0] == strlen(cmd) && memcmp(f->v[0], cmd, f->len[0]) == 0;
}

int
dovecot_reply_parse(char *line, size_t len, struct dovecot_reply *r,
    char *err, size_t errlen)
{
	struct fields f;
	long n;

	memset(r, 0, sizeof(*r));
	r->kind = DOVECOT_OTHER;
	split(line, len, &f);
	if (f.len[0] == 0) {
		snprintf(err, errlen, "a line without a command");
		return -1;
	}
	if (is(&f, "VERSION")) {
		if (f.n < 3 || number(f.v[1], f.len[1], &r->major) == -1 ||
		    number(f.v[2], f.len[2], &r->minor) == -1) {
			snprintf(err, errlen, "VERSION without two numbers");
			return -1;
		}
		r->kind = DOVECOT_VERSION;
		return 0;
	}
	if (is(&f, "MECH")) {
		r->kind = DOVECOT_MECH;
		return mech(&f, r, err, errlen);
	}
	if (is(&f, "DONE")) {
		r->kind = DOVECOT_DONE;
		return 0;
	}
	if (is(&f, "CONT"))
		r->kind = DOVECOT_CONT;
	else if (is(&f, "OK"))
		r->kind = DOVECOT_OK;
	else if (is(&f, "FAIL"))
		r->kind = DOVECOT_FAIL;
	else
		return 0;		/* SPID, CUID, COOKIE, newer ones */
	if (f.n < 2 || number(f.v[1], f.len[1], &r->id) == -1 || r->id == 0) {
		snprintf(err, errlen, "%.*s without a request id",
		    (int)f.len[0], f.v[0]);
		return -1;
	}
	if (r->kind != DOVECOT_CONT) {
		answer(&f, r);
		return 0;
	}
	/* CONT's data is plain base64 (never escaped); absent: empty. */
	r->data = f.n > 2 ? f.v[2] : line + len;
	if (f.n > 2 && (n = base64_decode(f.v[2], f.len[2], f.v[2])) < 0) {
		snprintf(err, errlen, "CONT %u with bad base64", r->id);
		return -1;
	}
	r->datalen = f.n > 2 ? (size_t)n : 0;
	return 0;
}

/* --- the lines we send ------------------------------------------------- */

/* put - append, all or nothing: a failed line leaves b as it was */
static int
put(struct buf *b, size_t mark, int rc)
{
	if (rc == -1)
		b->len = mark;
	return rc;
}

int
dovecot_handshake(struct buf *b, pid_t pid)
{
	return put(b, b->len, buf_printf(b, "VERSION\t%d\t%d\nCPID\t%ld\n",
	    DOVECOT_MAJOR, DOVECOT_MINOR, (long)pid));
}

/* b64 - the base64 of len raw bytes appended to b */
static int
b64(struct buf *b, const void *raw, size_t len)
{
	char *enc;
	size_t n;
	int rc;

	if (len > DOVECOT_LINE_MAX ||
	    (enc = malloc(BASE64_ENCODED_LEN(len))) == NULL)
		return -1;
	n = base64_encode(raw, len, enc);
	rc = buf_append(b, enc, n);
	explicit_bzero(enc, n);		/* it may hold a password */
	free(enc);
	return rc;
}

/* safe - may s go into a line as it is (an IP address does)? */
static bool
safe(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == ESC || *s == 0x7f)
			return false;
	return true;
}

int
dovecot_auth(struct buf *b, unsigned id, const char *mech,
    const struct dovecot_client *c, const void *initial, size_t len,
    bool has_initial)
{
	size_t mark = b->len;
	int rc;

	if (!safe(mech) || (c->lip != NULL && !safe(c->lip)) ||
	    (c->rip != NULL && !safe(c->rip)))
		return -1;
	/* nologin: no Dovecot login follows (Postfix sends it too). */
	rc = buf_printf(b, "AUTH\t%u\t%s\tservice=smtp\tnologin%s", id, mech,
	    c->secured ? "\tsecured" : "");
	if (rc == 0 && c->lip != NULL && *c->lip != '\0')
		rc = buf_printf(b, "\tlip=%s", c->lip);
	if (rc == 0 && c->rip != NULL && *c->rip != '\0')
		rc = buf_printf(b, "\trip=%s", c->rip);
	if (rc == 0 && c->lport != 0)
		rc = buf_printf(b, "\tlport=%u", c->lport);
	if (rc == 0 && c->rport != 0)
		rc = buf_printf(b, "\trport=%u", c->rport);
	if (rc == 0 && has_initial) {
		rc = buf_append(b, "\tresp=", 6);
		if (rc == 0)
			rc = b64(b, initial, len);
	}
	if (rc == 0)
		rc = buf_append(b, "\n", 1);
	return put(b, mark, rc);
}

int
dovecot_cont(struct buf *b, unsigned id, const void *resp, size_t len)
{
	size_t mark = b->len;
	int rc;

	rc = buf_printf(b, "CONT\t%u\t", id);
	if (rc == 0)
		rc = b64(b, resp, len);
	if (rc == 0)
		rc = buf_append(b, "\n", 1);
	return put(b, mark, rc);
}

int
dovecot_cancel(struct buf *b, unsigned id)
{
	return put(b, b->len, buf_printf(b, "CANCEL\t%u\n", id));
}
