/*
 * inject_msg - the message from standard input into a temporary file,
 * read whole before the daemon is asked (a cron job's output may trickle
 * for hours; the daemon's timeouts are for SMTP clients), in the form
 * the DATA phase sends: CRLF line ends, dot-stuffed.
 *
 * The header is read field by field (a folded field whole, bounded):
 * Bcc: goes (its addresses kept with -t, as sendmail and Postfix do),
 * To: and Cc: give their addresses with -t, and Date:, From: and
 * Message-ID: are added at the end of the header when the message has
 * none (RFC 5322 3.6 asks for the first two; Postfix's cleanup adds all
 * three to local mail). A first line that is no header field starts the
 * body of a message without a header, which then gets one. A line past
 * 998 octets is folded before white space in the header (its value
 * unchanged) and broken in the body.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "inject/inject.h"

struct reader {
	FILE		*in;
	char		 line[INJECT_LINE_MAX + 1];
	size_t		 len;
	bool		 eof;
	bool		 cut;		/* the line goes on in the next one */
};

struct writer {
	struct inject_msg *msg;
	const struct inject_opts *opts;
	char		*field;		/* the header field being read */
	size_t		 flen;
	bool		 has_from, has_date, has_msgid;
	char		*err;
	size_t		 errlen;
};

/* read_line - the next line without its LF (and the CR before it); a
 * line past INJECT_LINE_MAX octets is cut there and goes on as the next
 * one. false at the end of input. */
static bool
read_line(struct reader *r)
{
	int c = EOF;

	r->len = 0;
	r->cut = false;
	if (r->eof)
		return false;
	while (r->len < INJECT_LINE_MAX && (c = getc(r->in)) != EOF &&
	    c != '\n')
		r->line[r->len++] = (char)c;
	if (c == EOF && r->len == 0) {
		r->eof = true;
		return false;
	}
	if (c == EOF)
		r->eof = true;
	else if (c != '\n' && (c = getc(r->in)) != '\n' && c != EOF) {
		ungetc(c, r->in);	/* cut: the rest is the next line */
		r->cut = true;
	}
	if (r->len > 0 && r->line[r->len - 1] == '\r')
		r->len--;
	r->line[r->len] = '\0';
	return true;
}

/* put_line - one line to the file, CRLF, dot-stuffed; a sysexits code */
static int
put_line(struct writer *w, const char *s, size_t len)
{
	struct inject_msg *m = w->msg;

	if (m->size + len + 2 > w->opts->max_size) {
		snprintf(w->err, w->errlen, "message larger than "
		    "max_message_size (%llu octets)",
		    (unsigned long long)w->opts->max_size);
		return EX_DATAERR;
	}
	for (size_t i = 0; i < len && !m->eightbit; i++)
		m->eightbit = (unsigned char)s[i] >= 0x80;
	if ((len > 0 && s[0] == '.' && putc('.', m->fp) == EOF) ||
	    fwrite(s, 1, len, m->fp) != len || fputs("\r\n", m->fp) == EOF) {
		snprintf(w->err, w->errlen, "temporary file: %s",
		    strerror(errno));
		return EX_IOERR;
	}
	m->size += len + 2;
	return 0;
}

/* put_folded - a header line, folded before white space where it is
 * longer than a line may be (RFC 5322 2.2.3: unfolding gives the same
 * value back); with no white space to fold at, broken there and gone on
 * with a space of ours */
static int
put_folded(struct writer *w, const char *s, size_t len)
{
	char line[INJECT_LINE_MAX + 1];
	size_t n, room, lead = 0;
	int rc;

	for (;;) {
		room = INJECT_LINE_MAX - lead;
		n = len;
		if (len > room) {
			for (n = room; n > 0 && s[n] != ' ' && s[n] != '\t'; n--)
				;
			if (n == 0)
				n = room;
		}
		line[0] = ' ';
		memcpy(line + lead, s, n);
		if ((rc = put_line(w, line, n + lead)) != 0)
			return rc;
		s += n;
		len -= n;
		if (len == 0)
			return 0;
		lead = s[0] != ' ' && s[0] != '\t';
	}
}

/* is_field - does the line start a header field ("Name:")? */
static bool
is_field(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && s[i] > ' ' && s[i] < 0x7f && s[i] != ':'; i++)
		;
	return i > 0 && i < len && s[i] == ':';
}

/* field_is - is the field named name? */
static bool
field_is(const char *f, size_t flen, const char *name)
{
	size_t n = strlen(name);

	return flen > n && strncasecmp(f, name, n) == 0 &&
	    (f[n] == ':' || f[n] == ' ' || f[n] == '\t');
}

static int
add_rcpt(void *arg, const char *addr)
{
	return inject_rcpts_add(arg, addr) == -1 ? 1 : 0;
}

/* field_end - the field read whole: noted, and written unless Bcc: */
static int
field_end(struct writer *w)
{
	const char *f = w->field, *colon;
	size_t len = w->flen, i, j;
	bool bcc = field_is(f, len, "bcc");
	char aerr[INJECT_ERR];
	int rc;

	if (len == 0)
		return 0;
	w->flen = 0;
	w->has_from |= field_is(f, len, "from");
	w->has_date |= field_is(f, len, "date");
	w->has_msgid |= field_is(f, len, "message-id");
	if (w->opts->extract && (bcc || field_is(f, len, "to") ||
	    field_is(f, len, "cc"))) {
		colon = memchr(f, ':', len);
		rc = inject_addr_list(colon + 1, len - (size_t)(colon + 1 - f),
		    add_rcpt, &w->msg->rcpts, aerr, sizeof(aerr));
		if (rc == 1) {
			snprintf(w->err, w->errlen, "more than %d recipients, "
			    "or out of memory", INJECT_RCPTS_MAX);
			return EX_SOFTWARE;
		}
		if (rc != 0) {
			snprintf(w->err, w->errlen, "cannot read the "
			    "addresses of %.*s: %s", (int)(colon - f), f, aerr);
			return EX_DATAERR;
		}
	}
	if (bcc)
		return 0;
	/* The field's lines as they came, each CRLF-ended. */
	for (i = 0; i < len; i = j + 1) {
		for (j = i; j < len && f[j] != '\n'; j++)
			;
		if ((rc = put_folded(w, f + i, j - i)) != 0)
			return rc;
	}
	return 0;
}

/* field_add - one more line of the field being read; join: the rest
 * of its last line, which was longer than the reader's */
static int
field_add(struct writer *w, const char *s, size_t len, bool join)
{
	if (w->flen + len + 1 > INJECT_FIELD_MAX) {
		snprintf(w->err, w->errlen, "a header field longer than %d "
		    "octets", INJECT_FIELD_MAX);
		return EX_DATAERR;
	}
	if (w->flen > 0 && !join)
		w->field[w->flen++] = '\n';
	memcpy(w->field + w->flen, s, len);
	w->flen += len;
	return 0;
}

/* header_end - the fields the message lacks, then the empty line */
static int
header_end(struct writer *w)
{
	const struct inject_opts *o = w->opts;
	char buf[INJECT_ADDR_MAX + 512], date[64];
	struct timespec ts;
	struct tm tm;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (!w->has_date) {
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z",
		    localtime_r(&ts.tv_sec, &tm));
		snprintf(buf, sizeof(buf), "Date: %s", date);
		rc = put_line(w, buf, strlen(buf));
	}
	if (rc == 0 && !w->has_from) {
		snprintf(buf, sizeof(buf), "From: %s", o->from);
		rc = put_line(w, buf, strlen(buf));
	}
	if (rc == 0 && !w->has_msgid) {
		snprintf(buf, sizeof(buf), "Message-ID: <%lld.%ld.%ld@%s>",
		    (long long)ts.tv_sec, ts.tv_nsec, (long)getpid(),
		    o->hostname);
		rc = put_line(w, buf, strlen(buf));
	}
	return rc == 0 ? put_line(w, "", 0) : rc;
}

/* tmp_open - an unnamed file in $TMPDIR or /tmp, gone when closed */
static FILE *
tmp_open(void)
{
	const char *dir = getenv("TMPDIR");
	FILE *fp;
	int fd;

	if (dir == NULL || dir[0] != '/')
		dir = "/tmp";
	if ((fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) == -1)
		return tmpfile();
	if ((fp = fdopen(fd, "w+")) == NULL)
		close(fd);
	return fp;
}

int
inject_msg_read(FILE *in, const struct inject_opts *opts,
    struct inject_msg *msg, char *err, size_t errlen)
{
	struct reader *r;
	struct writer w;
	bool header = true, join = false, rest;
	int rc = 0;

	memset(msg, 0, sizeof(*msg));
	memset(&w, 0, sizeof(w));
	w.msg = msg;
	w.opts = opts;
	w.err = err;
	w.errlen = errlen;
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (w.field = malloc(INJECT_FIELD_MAX)) == NULL) {
		free(r);
		snprintf(err, errlen, "out of memory");
		return EX_OSERR;
	}
	r->in = in;
	if ((msg->fp = tmp_open()) == NULL) {
		snprintf(err, errlen, "temporary file: %s", strerror(errno));
		rc = EX_CANTCREAT;
	}
	while (rc == 0 && read_line(r)) {
		rest = join;		/* the rest of a line cut by the reader */
		join = r->cut;
		if (!opts->ignore_dots && !rest && r->len == 1 &&
		    r->line[0] == '.')
			break;		/* sendmail's end of input */
		if (!header) {
			rc = put_line(&w, r->line, r->len);
			continue;
		}
		if (w.flen > 0 && (rest || (r->len > 0 &&
		    (r->line[0] == ' ' || r->line[0] == '\t')))) {
			rc = field_add(&w, r->line, r->len, rest);
			continue;
		}
		if ((rc = field_end(&w)) != 0)
			break;
		if (is_field(r->line, r->len)) {
			rc = field_add(&w, r->line, r->len, false);
			continue;
		}
		/* The empty line, or a body line where the header should
		 * be (no header at all, or no empty line after it). */
		header = false;
		if ((rc = header_end(&w)) == 0 && r->len > 0)
			rc = put_line(&w, r->line, r->len);
	}
	if (rc == 0 && ferror(in)) {
		snprintf(err, errlen, "standard input: %s", strerror(errno));
		rc = EX_IOERR;
	}
	if (rc == 0 && header && (rc = field_end(&w)) == 0)
		rc = header_end(&w);
	if (rc == 0 && (fflush(msg->fp) == EOF ||
	    fseek(msg->fp, 0, SEEK_SET) == -1)) {
		snprintf(err, errlen, "temporary file: %s", strerror(errno));
		rc = EX_IOERR;
	}
	free(w.field);
	free(r);
	return rc;
}

void
inject_msg_free(struct inject_msg *msg)
{
	if (msg->fp != NULL)
		fclose(msg->fp);
	inject_rcpts_free(&msg->rcpts);
	memset(msg, 0, sizeof(*msg));
}
