/*
 * milter_dec - the milter's replies, taken as they arrive.
 *
 * At most one packet is held: its length is read first and checked
 * (never 0, never past MILTER_PACKET_MAX), then only the octets of that
 * packet are taken, so the buffer never holds more than one reply.
 * Every reply is checked against its shape in the table below: strings
 * NUL-terminated, integers whole, nothing after the last field. A reply
 * with a fault is a protocol error for the whole stream: the host gives
 * up on the milter (its default action), as Postfix does.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "milter/milter.h"

enum shape {
	SH_NONE,	/* no data */
	SH_OPTNEG,	/* version, actions, protocol, [stage, list]... */
	SH_SYMLIST,	/* stage, list */
	SH_REPLY,	/* an SMTP reply */
	SH_HEADER,	/* name, value */
	SH_IHEADER,	/* index, name, value */
	SH_ADDR,	/* address */
	SH_ADDR_ARGS,	/* address, [ESMTP parameters] */
	SH_DATA,	/* octets */
	SH_REASON,	/* quarantine reason */
};

static const struct reply_type {
	char		 cmd;
	const char	*name;
	enum shape	 shape;
} reply_types[] = {
	{ MILTER_R_ACCEPT,	"accept",		SH_NONE },
	{ MILTER_R_CONTINUE,	"continue",		SH_NONE },
	{ MILTER_R_DISCARD,	"discard",		SH_NONE },
	{ MILTER_R_REJECT,	"reject",		SH_NONE },
	{ MILTER_R_TEMPFAIL,	"tempfail",		SH_NONE },
	{ MILTER_R_SKIP,	"skip",			SH_NONE },
	{ MILTER_R_PROGRESS,	"progress",		SH_NONE },
	{ MILTER_R_SHUTDOWN,	"shutdown",		SH_NONE },
	{ MILTER_R_CONN_FAIL,	"connection failure",	SH_NONE },
	{ MILTER_R_OPTNEG,	"option negotiation",	SH_OPTNEG },
	{ MILTER_R_SETSYMLIST,	"set macro list",	SH_SYMLIST },
	{ MILTER_R_REPLYCODE,	"reply code",		SH_REPLY },
	{ MILTER_R_ADDHEADER,	"add header",		SH_HEADER },
	{ MILTER_R_INSHEADER,	"insert header",	SH_IHEADER },
	{ MILTER_R_CHGHEADER,	"change header",	SH_IHEADER },
	{ MILTER_R_ADDRCPT,	"add recipient",	SH_ADDR },
	{ MILTER_R_DELRCPT,	"delete recipient",	SH_ADDR },
	{ MILTER_R_ADDRCPT_PAR,	"add recipient with parameters", SH_ADDR_ARGS },
	{ MILTER_R_CHGFROM,	"change sender",	SH_ADDR_ARGS },
	{ MILTER_R_REPLBODY,	"replace body",		SH_DATA },
	{ MILTER_R_QUARANTINE,	"quarantine",		SH_REASON },
};

/* The fields of one packet, read front to back. */
struct cursor {
	char	*p;
	size_t	 left;
};

void
milter_dec_init(struct milter_dec *d)
{
	buf_init(&d->in, 4 + MILTER_PACKET_MAX);
	d->done = 0;
	d->err[0] = '\0';
}

void
milter_dec_free(struct milter_dec *d)
{
	buf_free(&d->in);
	d->done = 0;
}

static int
fail(struct milter_dec *d, const char **err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct milter_dec *d, const char **err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	*err = d->err;
	return -1;
}

static int
get_u32(struct cursor *c, uint32_t *v)
{
	uint32_t n;

	if (c->left < 4)
		return -1;
	memcpy(&n, c->p, 4);
	*v = ntohl(n);
	c->p += 4;
	c->left -= 4;
	return 0;
}

/* get_str - a string that ends with its NUL inside the packet */
static int
get_str(struct cursor *c, char **s)
{
	char *nul = memchr(c->p, '\0', c->left);

	if (nul == NULL)
		return -1;
	*s = c->p;
	c->left -= (size_t)(nul + 1 - c->p);
	c->p = nul + 1;
	return 0;
}

static int
get_cstr(struct cursor *c, const char **s)
{
	char *w;

	if (get_str(c, &w) == -1)
		return -1;
	*s = w;
	return 0;
}

/* unpercent - Sendmail takes a reply text as a format string, so
 * libmilter has milters double their '%'; Postfix (and we) make "%%"
 * one '%' and drop a lone '%'. */
static void
unpercent(char *s)
{
	char *w = s;

	for (; *s != '\0'; s++) {
		if (*s == '%') {
			if (s[1] != '%')
				continue;
			s++;
		}
		*w++ = *s;
	}
	*w = '\0';
}

/* reply_check - an SMTP reply as a milter may give it: every line the
 * same 4xx or 5xx code, the first one's text starting with an enhanced
 * code of the same class (Postfix asks the same), printable ASCII, lines
 * joined by CRLF. The separators are set right in place ('-' on all
 * lines but the last), so what the client gets is a well-formed
 * multi-line reply whatever the milter wrote. NULL, or what is wrong. */
static const char *
reply_check(char *text)
{
	char *line = text, *end;
	size_t len = strlen(text);

	/* One CRLF at the very end is tolerated, and dropped. */
	if (len >= 2 && strcmp(text + len - 2, "\r\n") == 0)
		text[len - 2] = '\0';
	if (text[0] != '4' && text[0] != '5')
		return "not a 4xx or 5xx reply";
	for (;;) {
		end = strstr(line, "\r\n");
		if (end == NULL)
			end = line + strlen(line);
		if (end - line < 4 || memcmp(line, text, 3) != 0 ||
		    line[1] < '0' || line[1] > '9' ||
		    line[2] < '0' || line[2] > '9' ||
		    (line[3] != ' ' && line[3] != '-'))
			return "a line does not start with the reply's code";
		for (const char *q = line; q < end; q++)
			if (*q < 0x20 || *q > 0x7e)
				return "a control or 8-bit character in the text";
		line[3] = *end == '\0' ? ' ' : '-';
		if (line == text && (line[4] != text[0] || line[5] != '.'))
			return "no enhanced status code of the reply's class";
		if (*end == '\0')
			return NULL;
		line = end + 2;
	}
}

/* symlist - a macro list for a stage; a stage we do not know is left
 * out (Postfix ignores it too), as a later protocol may add some. */
static void
symlist(struct milter_reply *r, uint32_t stage, const char *list)
{
	if (stage < MILTER_M_COUNT)
		r->symlist[stage] = list;
}

static int
decode(struct milter_dec *d, const struct reply_type *t, struct cursor *c,
    struct milter_reply *r, const char **err)
{
	const char *what = "data", *list, *bad;
	uint32_t stage;
	char *text, shown[80];

	switch (t->shape) {
	case SH_NONE:
		break;
	case SH_OPTNEG:
		what = "version, actions and steps";
		if (get_u32(c, &r->version) == -1 ||
		    get_u32(c, &r->actions) == -1 ||
		    get_u32(c, &r->protocol) == -1)
			goto cut;
		/* then its macro lists, if any */
		/* FALLTHROUGH */
	case SH_SYMLIST:
		/* SETSYMLIST has one list, OPTNEG any number. */
		for (int n = 0; t->shape == SH_SYMLIST ? n == 0 : c->left > 0;
		    n++) {
			what = "macro list stage";
			if (get_u32(c, &stage) == -1)
				goto cut;
			what = "macro list";
			if (get_cstr(c, &list) == -1)
				goto unterminated;
			symlist(r, stage, list);
		}
		break;
	case SH_REPLY:
		what = "reply text";
		if (get_str(c, &text) == -1)
			goto unterminated;
		unpercent(text);
		/* The text goes into an error the host logs: its CR and LF
		 * escaped, so that it stays one line. */
		if ((bad = reply_check(text)) != NULL)
			return fail(d, err, "milter reply '%c' (%s): %s: "
			    "\"%s\"", t->cmd, t->name, bad, log_escape(shown,
			    sizeof(shown), text, strlen(text)));
		r->text = text;
		break;
	case SH_IHEADER:
		what = "index";
		if (get_u32(c, &r->index) == -1)
			goto cut;
		/* FALLTHROUGH */
	case SH_HEADER:
		what = "header name";
		if (get_cstr(c, &r->name) == -1)
			goto unterminated;
		what = "header value";
		if (get_cstr(c, &r->value) == -1)
			goto unterminated;
		break;
	case SH_ADDR:
	case SH_ADDR_ARGS:
		what = "address";
		if (get_cstr(c, &r->addr) == -1)
			goto unterminated;
		what = "ESMTP parameters";
		if (t->shape == SH_ADDR_ARGS && c->left > 0 &&
		    get_cstr(c, &r->args) == -1)
			goto unterminated;
		break;
	case SH_DATA:
		r->data = c->p;
		r->len = c->left;
		c->p += c->left;
		c->left = 0;
		break;
	case SH_REASON:
		what = "reason";
		if (get_cstr(c, &r->reason) == -1)
			goto unterminated;
		break;
	}
	if (c->left > 0)
		return fail(d, err, "milter reply '%c' (%s): %zu octets after "
		    "its last field", t->cmd, t->name, c->left);
	return 1;

cut:
	return fail(d, err, "milter reply '%c' (%s): %s cut short", t->cmd,
	    t->name, what);
unterminated:
	return fail(d, err, "milter reply '%c' (%s): %s missing or not "
	    "NUL-terminated", t->cmd, t->name, what);
}

static uint32_t
packet_len(const char *p)
{
	uint32_t n;

	memcpy(&n, p, 4);
	return ntohl(n);
}

int
milter_dec_feed(struct milter_dec *d, const char *in, size_t len,
    size_t *used, struct milter_reply *r, const char **err)
{
	const struct reply_type *t = NULL;
	struct cursor c;
	uint32_t plen = 0;

	*used = 0;
	memset(r, 0, sizeof(*r));
	if (d->err[0] != '\0') {
		*err = d->err;
		return -1;
	}
	if (d->done > 0) {
		buf_consume(&d->in, d->done);
		d->done = 0;
	}
	for (;;) {
		size_t need, take;

		if (d->in.len < 4) {
			need = 4 - d->in.len;
		} else {
			plen = packet_len(d->in.data);
			if (plen == 0)
				return fail(d, err, "milter packet of length "
				    "0 (no reply code)");
			if (plen > MILTER_PACKET_MAX)
				return fail(d, err, "milter packet of %lu "
				    "octets, more than %d", (unsigned long)plen,
				    MILTER_PACKET_MAX);
			if (d->in.len >= 5)
				r->cmd = d->in.data[4];
			need = 4 + (size_t)plen - d->in.len;
		}
		if (need == 0)
			break;
		take = len - *used < need ? len - *used : need;
		if (take == 0)
			return 0;
		if (buf_append(&d->in, in + *used, take) == -1)
			return fail(d, err, "milter packet: out of memory");
		*used += take;
	}
	d->done = d->in.len;
	for (size_t i = 0; i < sizeof(reply_types) / sizeof(reply_types[0]);
	    i++)
		if (reply_types[i].cmd == r->cmd)
			t = &reply_types[i];
	if (t == NULL) {
		unsigned char u = (unsigned char)r->cmd;

		if (u >= 0x21 && u <= 0x7e)
			return fail(d, err, "unknown milter reply '%c'", u);
		return fail(d, err, "unknown milter reply 0x%02x", u);
	}
	c.p = d->in.data + 5;
	c.left = plen - 1;
	return decode(d, t, &c, r, err);
}
