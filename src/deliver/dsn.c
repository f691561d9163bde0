/*
 * dsn - the bounce message (RFC 3464, RFC 6522): a multipart/report of
 * a plain-words explanation, a message/delivery-status with one block
 * per failed recipient, and the original message's headers (never its
 * body). The report of a REQUIRETLS message is queued with REQUIRETLS
 * (RFC 8689 5).
 *
 * The report streams into a spool file like any accepted message. Every
 * line ends in CRLF and none is longer than 998 octets: values that come
 * from elsewhere (remote replies, original headers) have their control
 * characters replaced, and long ones are folded at spaces, or cut where
 * there is none.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* memrchr */
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deliver/dsn.h"

#define ORIG_HEADERS_MAX	(64 * 1024)	/* original headers returned */
#define LINE_HARD		998		/* RFC 5322 2.1.1 */
#define LINE_SOFT		78

/* Where the report goes; the first write error sticks. */
struct out {
	struct spool	*sp;
	int		 rc;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->rc == 0 && n > 0)
		o->rc = spool_write(o->sp, s, n);
}

/* line - one short line of our own making, CRLF added */
static void
line(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
line(struct out *o, const char *fmt, ...)
{
	char buf[LINE_HARD + 3];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, LINE_HARD + 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > LINE_HARD)
		n = LINE_HARD;	/* hostnames are shorter; never a long line */
	memcpy(buf + n, "\r\n", 2);
	put(o, buf, (size_t)n + 2);
}

/*
 * fold - head, then text with control characters as spaces, broken at
 * spaces into lines of about LINE_SOFT octets (at most LINE_HARD, cut
 * where a word is longer); each further line starts with indent. With
 * indent " " this is RFC 5322 folding: unfolding gives the text back.
 */
static void
fold(struct out *o, const char *head, const char *text, const char *indent)
{
	char buf[LINE_HARD + 3];
	size_t len, rest, take, i, cut;

	len = strlen(head);
	if (len > LINE_SOFT / 2)
		len = LINE_SOFT / 2;
	memcpy(buf, head, len);
	rest = strlen(text);
	for (;;) {
		take = rest;
		if (len + take > LINE_SOFT) {
			/* the last space that fits, else the first one after */
			cut = 0;
			for (i = 1; i < rest && len + i <= LINE_HARD; i++) {
				if (text[i] != ' ')
					continue;
				if (cut != 0 && len + i > LINE_SOFT)
					break;
				cut = i;
			}
			if (cut)
				take = cut;
			else if (len + take > LINE_HARD)
				take = LINE_HARD - len;
		}
		for (i = 0; i < take; i++)
			buf[len + i] = (unsigned char)text[i] < 0x20 ||
			    text[i] == 0x7f ? ' ' : text[i];
		memcpy(buf + len + take, "\r\n", 2);
		put(o, buf, len + take + 2);
		text += take;
		rest -= take;
		if (rest > 0 && *text == ' ') {
			text++;
			rest--;
		}
		if (rest == 0)
			return;
		len = strlen(indent);
		memcpy(buf, indent, len);
	}
}

static void
field(struct out *o, const char *name, const char *value)
{
	char head[64];

	snprintf(head, sizeof(head), "%s: ", name);
	fold(o, head, value, " ");
}

/* rfc5322_date - "Sun, 22 Nov 2026 20:27:32 +0000" */
static void
rfc5322_date(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, outlen, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		snprintf(out, outlen, "Thu, 01 Jan 1970 00:00:00 +0000");
}

/* status_ok - "C.S.D": class 2, 4 or 5, subject and detail 1-3 digits */
static bool
status_ok(const char *s)
{
	int part, digits;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return false;
	s += 2;
	for (part = 0; part < 2; part++) {
		for (digits = 0; *s >= '0' && *s <= '9'; s++)
			digits++;
		if (digits < 1 || digits > 3 || *s != (part == 0 ? '.' : '\0'))
			return false;
		if (part == 0)
			s++;
	}
	return true;
}

/* reason - a status code in plain words (RFC 3463) */
static const char *
reason(const char *status)
{
	static const struct {
		const char	*code;	/* the code without its class */
		const char	*words;
	} reasons[] = {
		{ "1.1",	"the mailbox does not exist" },
		{ "1.2",	"the destination domain does not exist" },
		{ "1.3",	"the address is not valid" },
		{ "1.6",	"the mailbox has moved" },
		{ "1.10",	"the domain accepts no mail" },
		{ "2.1",	"the mailbox is disabled" },
		{ "2.2",	"the mailbox is full" },
		{ "2.3",	"the message is larger than the mailbox takes" },
		{ "3.4",	"the message is too big" },
		{ "4.4",	"no mail server could be found for the domain" },
		{ "4.6",	"the mail is going round in a loop" },
		{ "4.7",	"it could not be delivered in time" },
		{ "7.1",	"the receiving system refused it" },
		{ "7.30",	"it required TLS (REQUIRETLS) that no next "
				"mail server could promise" },
	};
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcmp(status + 2, reasons[i].code) == 0)
			return reasons[i].words;
	return "it could not be delivered";
}

/* after_type - "smtp; 550 ..." -> "550 ...": the words without the type */
static const char *
after_type(const char *s)
{
	const char *semi = strchr(s, ';');

	if (semi == NULL)
		return s;
	for (semi++; *semi == ' '; semi++)
		;
	return semi;
}

/* has_type - starts with an atom and ";" (RFC 3464 "dns; ...") */
static bool
has_type(const char *s)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-");

	return n > 0 && s[n] == ';';
}

/* field_with - a field whose value is prefix, value, suffix */
static void
field_with(struct out *o, const char *name, const char *prefix,
    const char *value, const char *suffix)
{
	size_t n = strlen(prefix) + strlen(value) + strlen(suffix) + 1;
	char *v;

	if ((v = malloc(n)) == NULL) {
		o->rc = -1;
		return;
	}
	snprintf(v, n, "%s%s%s", prefix, value, suffix);
	field(o, name, v);
	free(v);
}

/*
 * read_headers - the original headers, up to the empty line, at most
 * ORIG_HEADERS_MAX octets (cut after a whole line); NULL with *len 0
 * when there is no body to read.
 */
static char *
read_headers(int fd, const struct qentry *e, size_t *len, char *err,
    size_t errlen)
{
	char *buf, *end;
	size_t got = 0;
	ssize_t n;

	*len = 0;
	if (fd < 0)
		return NULL;
	if ((buf = malloc(ORIG_HEADERS_MAX + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	while (got < ORIG_HEADERS_MAX) {
		n = pread(fd, buf + got, ORIG_HEADERS_MAX - got,
		    e->msg_offset + (off_t)got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "read %s: %s", e->id,
			    strerror(errno));
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	if (got >= 2 && memcmp(buf, "\r\n", 2) == 0)
		*len = 0;
	else if ((end = strstr(buf, "\r\n\r\n")) != NULL)
		*len = (size_t)(end - buf) + 2;
	else if (got < ORIG_HEADERS_MAX)
		*len = got;
	else if ((end = memrchr(buf, '\n', got)) != NULL)
		*len = (size_t)(end - buf) + 1;
	return buf;
}

/* put_headers - the original header lines, CRLF, none past LINE_HARD */
static void
put_headers(struct out *o, const char *h, size_t len)
{
	const char *nl;
	size_t n;

	while (len > 0) {
		nl = memchr(h, '\n', len);
		n = nl ? (size_t)(nl - h) : len;
		len -= nl ? n + 1 : n;
		if (n > 0 && h[n - 1] == '\r')
			n--;
		put(o, h, n > LINE_HARD ? LINE_HARD : n);
		put(o, "\r\n", 2);
		h = nl ? nl + 1 : h + n;
	}
}

static bool
eight_bit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/* human - part 1: which recipients failed and why, in plain words */
static void
human(struct out *o, const char *hostname, const struct qentry *e,
    const struct dsn_failure *f, size_t nfail)
{
	char date[64], *text, *head;
	size_t i, n;

	rfc5322_date(e->arrival, date, sizeof(date));
	line(o, "This is the mail system at %s.", hostname);
	line(o, "%s", "");
	n = strlen(date) + 200;
	if ((text = malloc(n)) == NULL) {
		o->rc = -1;
		return;
	}
	snprintf(text, n, "Your message of %s (queue id %s) could not be "
	    "delivered to %s, and the mail system has given up. The "
	    "message's headers are attached below.", date, e->id,
	    nfail == 1 ? "one recipient" : "some recipients");
	fold(o, "", text, "");
	free(text);
	for (i = 0; i < nfail; i++) {
		const char *addr = e->rcpts[f[i].rcpt];

		line(o, "%s", "");
		n = strlen(addr) + 8;
		if ((head = malloc(n)) == NULL) {
			o->rc = -1;
			return;
		}
		snprintf(head, n, "<%s>: ", addr);
		/* a long address gets a line of its own */
		if (strlen(head) > LINE_SOFT / 2) {
			head[strlen(head) - 1] = '\0';	/* no trailing space */
			fold(o, "", head, "    ");
			fold(o, "    ", reason(f[i].status), "    ");
		} else
			fold(o, head, reason(f[i].status), "    ");
		free(head);
		if (f[i].diagnostic) {
			n = strlen(f[i].diagnostic) + 300;
			if ((text = malloc(n)) == NULL) {
				o->rc = -1;
				return;
			}
			if (f[i].remote_mta)
				snprintf(text, n, "%s said: %s",
				    after_type(f[i].remote_mta),
				    after_type(f[i].diagnostic));
			else
				snprintf(text, n, "The reason: %s",
				    after_type(f[i].diagnostic));
			fold(o, "    ", text, "    ");
			free(text);
		}
	}
}

/* status_part - part 2, message/delivery-status (RFC 3464 2.2, 2.3) */
static void
status_part(struct out *o, const char *hostname, const struct qentry *e,
    const struct dsn_failure *f, size_t nfail)
{
	char date[64], now[64];
	size_t i;

	rfc5322_date(e->arrival, date, sizeof(date));
	rfc5322_date(time(NULL), now, sizeof(now));
	line(o, "Reporting-MTA: dns; %s", hostname);
	line(o, "X-Sallyport-Queue-ID: %s", e->id);
	line(o, "Arrival-Date: %s", date);
	for (i = 0; i < nfail; i++) {
		line(o, "%s", "");
		field_with(o, "Final-Recipient", "rfc822; ",
		    e->rcpts[f[i].rcpt], "");
		line(o, "Action: failed");
		line(o, "Status: %s", f[i].status);
		if (f[i].remote_mta)
			field_with(o, "Remote-MTA", has_type(f[i].remote_mta) ?
			    "" : "dns; ", f[i].remote_mta, "");
		if (f[i].diagnostic)
			field_with(o, "Diagnostic-Code", has_type(
			    f[i].diagnostic) ? "" : "smtp; ", f[i].diagnostic,
			    "");
		line(o, "Last-Attempt-Date: %s", now);
	}
}

/* part_head - a boundary and a body part's header */
static void
part_head(struct out *o, const char *boundary, const char *description,
    const char *type, const char *cte)
{
	line(o, "--%s", boundary);
	line(o, "Content-Description: %s", description);
	line(o, "Content-Type: %s", type);
	if (cte)
		line(o, "%s", cte);
	line(o, "%s", "");
}

static void
report(struct out *o, const char *hostname, const char *id,
    const struct qentry *e, const struct dsn_failure *f, size_t nfail,
    const char *headers, size_t hlen, bool eightbit)
{
	const char *cte = eightbit ? "Content-Transfer-Encoding: 8bit" : NULL;
	char date[64], boundary[QUEUE_ID_LEN + 32];

	rfc5322_date(time(NULL), date, sizeof(date));
	snprintf(boundary, sizeof(boundary), "=_%s.report/sallyport", id);
	line(o, "Received: by %s (sallyport) with LOCAL id %s;", hostname,
	    id);
	line(o, "\t%s", date);
	line(o, "From: Mail Delivery System <MAILER-DAEMON@%s>", hostname);
	field_with(o, "To", "<", e->sender, ">");
	line(o, "Subject: Undelivered Mail Returned to Sender");
	line(o, "Date: %s", date);
	line(o, "Message-ID: <%s.dsn@%s>", id, hostname);
	line(o, "Auto-Submitted: auto-replied");
	line(o, "MIME-Version: 1.0");
	line(o, "Content-Type: multipart/report; report-type=delivery-status;");
	line(o, "\tboundary=\"%s\"", boundary);
	if (cte)
		line(o, "%s", cte);
	line(o, "%s", "");
	line(o, "This is a MIME-encapsulated message.");
	line(o, "%s", "");

	part_head(o, boundary, "Notification", eightbit ?
	    "text/plain; charset=utf-8" : "text/plain; charset=us-ascii", cte);
	human(o, hostname, e, f, nfail);
	line(o, "%s", "");

	part_head(o, boundary, "Delivery report", "message/delivery-status",
	    cte);
	status_part(o, hostname, e, f, nfail);
	line(o, "%s", "");

	if (headers) {
		part_head(o, boundary, "Undelivered message headers",
		    "text/rfc822-headers", cte);
		put_headers(o, headers, hlen);
		line(o, "%s", "");
	}
	line(o, "--%s--", boundary);
}

int
dsn_queue(struct queue *q, const char *hostname, const struct qentry *e,
    int body_fd, const struct dsn_failure *f, size_t nfail,
    char id_out[QUEUE_ID_LEN + 1], char *err, size_t errlen)
{
	char *rcpt[1], *headers, what[QUEUE_ID_LEN + 16];
	struct envelope env;
	struct out o;
	size_t i, hlen;
	bool eightbit;

	id_out[0] = '\0';
	if (e->sender == NULL || e->sender[0] == '\0' || nfail == 0)
		return 0;	/* never a bounce for a bounce */
	for (i = 0; i < nfail; i++)
		if (f[i].rcpt >= e->nrcpts || !status_ok(f[i].status)) {
			snprintf(err, errlen, "%s: bad failure %zu (recipient "
			    "%zu, status %s)", e->id, i, f[i].rcpt,
			    f[i].status ? f[i].status : "none");
			return -1;
		}
	headers = read_headers(body_fd, e, &hlen, err, errlen);
	if (headers == NULL && body_fd >= 0)
		return -1;
	eightbit = eight_bit(headers ? headers : "", hlen) ||
	    eight_bit(e->sender, strlen(e->sender));
	for (i = 0; i < nfail; i++)
		eightbit = eightbit || eight_bit(e->rcpts[f[i].rcpt],
		    strlen(e->rcpts[f[i].rcpt])) || (f[i].diagnostic &&
		    eight_bit(f[i].diagnostic, strlen(f[i].diagnostic)));

	memset(&env, 0, sizeof(env));
	rcpt[0] = e->sender;
	env.arrival = time(NULL);
	env.client = "127.0.0.1";
	env.helo = hostname;
	env.proto = "LOCAL";
	env.sender = "";
	env.rcpts = rcpt;
	env.nrcpts = 1;
	/* It carries the failed message's addresses and headers: UTF-8
	 * only where that message had SMTPUTF8, 8-bit text when eightbit. */
	env.smtputf8 = e->smtputf8;
	env.body = eightbit ? MAIL_BODY_8BITMIME : MAIL_BODY_7BIT;
	/* RFC 8689 5: the report of a REQUIRETLS message goes back under
	 * REQUIRETLS too (it holds the original header; never the body,
	 * as any bounce of ours). */
	env.requiretls = e->requiretls;
	if ((o.sp = queue_spool_create(q, &env, err, errlen)) == NULL) {
		free(headers);
		return -1;
	}
	o.rc = 0;
	report(&o, hostname, env.id, e, f, nfail, headers, hlen, eightbit);
	free(headers);
	snprintf(what, sizeof(what), "bounce for %s", e->id);
	return queue_commit_own(o.sp, o.rc, what, id_out, err, errlen);
}
