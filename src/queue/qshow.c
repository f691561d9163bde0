/*
 * qshow - entries as `sallyport --queue` prints them, list and show,
 * in text for people and JSON for programs.
 *
 * Addresses, replies, reasons and header fields are other people's
 * bytes: in text, whatever could drive a terminal (control characters,
 * C1 controls, bytes that are not UTF-8) is written as \xNN, and a
 * backslash as \x5c so that the escapes cannot be forged; in JSON,
 * control characters (C1 too) are \u00NN and bytes that are not UTF-8
 * U+FFFD.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* memrchr, strndup */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/qentry.h"
#include "queue/qfilter.h"
#include "queue/qshow.h"

/* utf8_len - length of the valid UTF-8 sequence at s (n octets left),
 * 0 if invalid */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* overlong forms, surrogates, past U+10FFFF */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return len;
}

void
qshow_text(FILE *fp, const char *s, size_t n, bool keep_tab)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len;

	while (n > 0) {
		len = utf8_len(p, n);
		if (len == 0 || (*p < 0x20 && !(keep_tab && *p == '\t')) ||
		    *p == 0x7f || *p == '\\' ||
		    (len == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
			fprintf(fp, "\\x%02x", *p);	/* C1 too: its first */
			len = 1;
		} else
			fwrite(p, 1, len, fp);
		p += len;
		n -= len;
	}
}

/* put - a NUL-terminated string, escaped */
static void
put(const char *s)
{
	qshow_text(stdout, s, strlen(s), false);
}

void
qshow_json(FILE *fp, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, left;

	if (s == NULL) {
		fputs("null", fp);
		return;
	}
	left = strlen(s);
	fputc('"', fp);
	while (left > 0) {
		n = 1;
		if (*p == '"' || *p == '\\')
			fprintf(fp, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(fp, "\\u%04x", *p);
		else if ((n = utf8_len(p, left)) == 0) {
			fputs("\\ufffd", fp);
			n = 1;
		} else if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)
			fprintf(fp, "\\u%04x", p[1]);	/* a C1 control */
		else
			fwrite(p, 1, n, fp);
		p += n;
		left -= n;
	}
	fputc('"', fp);
}

/* iso_time - "2026-11-22T20:27:32Z" */
static const char *
iso_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
	return buf;
}

/* rcpt_state_name - pending until a try failed: then deferred */
static const char *
rcpt_state_name(const struct qentry *e, size_t i)
{
	switch (e->state[i]) {
	case RCPT_SENT:
		return "sent";
	case RCPT_BOUNCED:
		return "bounced";
	default:
		return e->last_error[i] ? "deferred" : "pending";
	}
}

/* tls_request - what the sender asked of TLS (RFC 8689), in its words */
static const char *
tls_request(const struct qentry *e)
{
	return e->requiretls ? "REQUIRETLS" : e->tls_optional ?
	    "TLS-Required: No" : NULL;
}

/* --- text ---------------------------------------------------------------- */

static void
text_head(const struct qentry *e, time_t now)
{
	char when[40];

	printf("%s\n  arrival   %s\n  size      %lld\n  state     %s\n",
	    e->id, iso_time(e->arrival, when, sizeof(when)),
	    (long long)e->body_size, qfilter_state_name(e, now));
}

static void
text_tail(const struct qentry *e)
{
	char when[40];
	size_t i;

	printf("  sender    <");
	put(e->sender);
	printf(">\n");
	if (tls_request(e))
		printf("  tls       %s\n", tls_request(e));
	if (e->held) {
		/* No hold line: held by the command, which writes none. */
		printf("  held      ");
		if (e->hold == NULL)
			printf("(by sallyport --queue hold)");
		else if (e->hold[0] == '\0')
			printf("(no reason given)");
		else
			put(e->hold);
		printf("\n");
	}
	for (i = 0; i < e->nrcpts; i++) {
		printf("  rcpt      <");
		put(e->rcpts[i]);
		printf("> %s", rcpt_state_name(e, i));
		if (e->last_error[i]) {
			printf(": ");
			put(e->last_error[i]);
		}
		printf("\n");
	}
	printf("  attempts  %u\n  next      %s\n", e->attempts,
	    e->held ? "when released" : e->next_attempt == 0 ? "now" :
	    iso_time(e->next_attempt, when, sizeof(when)));
}

void
qshow_list_text(const struct qentry *e, time_t now)
{
	text_head(e, now);
	text_tail(e);
	printf("\n");
}

/* --- JSON ---------------------------------------------------------------- */

/* json_common - the members list and show share, from "id" on */
static void
json_common(const struct qentry *e, time_t now, const char *indent)
{
	char when[40];
	size_t i;

	printf("{\"id\": \"%s\", \"arrival\": \"%s\", \"size\": %lld,"
	    "\n%s\"state\": \"%s\", \"sender\": ", e->id,
	    iso_time(e->arrival, when, sizeof(when)),
	    (long long)e->body_size, indent, qfilter_state_name(e, now));
	qshow_json(stdout, e->sender);
	printf(",\n%s\"tls\": ", indent);
	qshow_json(stdout, tls_request(e));
	/* The reason when held (perhaps ""), null when not. */
	printf(",\n%s\"held\": ", indent);
	qshow_json(stdout, e->held ? (e->hold ? e->hold : "") : NULL);
	printf(",\n%s\"recipients\": [", indent);
	for (i = 0; i < e->nrcpts; i++) {
		printf("%s\n%s  {\"address\": ", i ? "," : "", indent);
		qshow_json(stdout, e->rcpts[i]);
		printf(", \"state\": \"%s\", \"last_error\": ",
		    rcpt_state_name(e, i));
		qshow_json(stdout, e->last_error[i]);
		printf("}");
	}
	printf("],\n%s\"attempts\": %u, \"next_attempt\": ", indent,
	    e->attempts);
	if (e->next_attempt == 0)
		printf("null");
	else
		printf("\"%s\"", iso_time(e->next_attempt, when, sizeof(when)));
}

void
qshow_list_json(const struct qentry *e, bool first, time_t now)
{
	printf("%s\n    ", first ? "" : ",");
	json_common(e, now, "     ");
	printf("}");
}

/* --- show ---------------------------------------------------------------- */

/* read_header - the message's header section as delivered (prepended
 * fields first), up to its empty line, at most QSHOW_HEADER_MAX octets
 * cut after a whole line (*cut set); NULL with errno */
static char *
read_header(const char *queue_dir, const struct qentry *e, size_t *len,
    bool *cut)
{
	char *buf, *end;
	size_t got = 0;
	ssize_t n;
	int fd, saved;

	*len = 0;
	*cut = false;
	if ((fd = qentry_open_body(queue_dir, e)) == -1)
		return NULL;
	if ((buf = malloc(QSHOW_HEADER_MAX + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	while (got < QSHOW_HEADER_MAX && (off_t)got < e->body_size) {
		n = read(fd, buf + got, QSHOW_HEADER_MAX - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			saved = errno;
			free(buf);
			close(fd);
			errno = saved;
			return NULL;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	if (got >= 2 && memcmp(buf, "\r\n", 2) == 0)
		*len = 0;
	else if ((end = strstr(buf, "\r\n\r\n")) != NULL)
		*len = (size_t)(end - buf) + 2;
	else if (got < QSHOW_HEADER_MAX)
		*len = got;
	else {
		*cut = true;
		end = memrchr(buf, '\n', got);
		*len = end ? (size_t)(end - buf) + 1 : 0;
	}
	return buf;
}

/* next_field - the field at h (its continuation lines with it): its
 * length up to the next field */
static size_t
next_field(const char *h, size_t len)
{
	size_t i = 0;
	const char *nl;

	for (;;) {
		nl = memchr(h + i, '\n', len - i);
		i = nl ? (size_t)(nl - h) + 1 : len;
		if (i >= len || (h[i] != ' ' && h[i] != '\t'))
			return i;
	}
}

static void
show_header_text(const char *h, size_t len)
{
	const char *nl;
	size_t n;

	while (len > 0) {
		nl = memchr(h, '\n', len);
		n = nl ? (size_t)(nl - h) : len;
		printf("  ");
		qshow_text(stdout, h, n > 0 && h[n - 1] == '\r' ? n - 1 : n,
		    true);
		printf("\n");
		len -= nl ? n + 1 : n;
		h += nl ? n + 1 : n;
	}
}

static void
show_header_json(const char *h, size_t len)
{
	const char *colon;
	size_t n, first = 1;
	char *copy;

	while (len > 0) {
		n = next_field(h, len);
		if ((copy = strndup(h, n)) == NULL)
			break;
		/* the field's line end is not part of it */
		if (n >= 2 && copy[n - 2] == '\r')
			copy[n - 2] = '\0';
		else if (n >= 1 && copy[n - 1] == '\n')
			copy[n - 1] = '\0';
		colon = strchr(copy, ':');
		printf("%s\n    {\"name\": ", first ? "" : ",");
		if (colon) {
			copy[colon - copy] = '\0';
			qshow_json(stdout, copy);
			printf(", \"value\": ");
			qshow_json(stdout, copy + (colon - copy) + 1);
		} else {
			printf("null, \"value\": ");
			qshow_json(stdout, copy);
		}
		printf("}");
		free(copy);
		first = 0;
		h += n;
		len -= n;
	}
}

static void
show_history_text(const struct qentry *e)
{
	const struct qentry_event *ev;
	char when[40];
	size_t i;

	if (e->history_dropped)
		printf("  (%zu earlier lines not shown)\n", e->history_dropped);
	for (i = 0; i < e->nhistory; i++) {
		ev = &e->history[i];
		if (ev->text == NULL) {
			printf("  next attempt at %s (%u %s so far)\n",
			    iso_time(ev->when, when, sizeof(when)),
			    ev->attempts, ev->attempts == 1 ? "attempt" :
			    "attempts");
			continue;
		}
		printf("  %s <", iso_time(ev->when, when, sizeof(when)));
		put(e->rcpts[ev->rcpt]);
		printf("> %s", ev->what);
		if (ev->text[0] != '\0') {
			printf(": ");
			put(ev->text);
		}
		printf("\n");
	}
	if (e->nhistory == 0)
		printf("  (no attempt yet)\n");
}

static void
show_history_json(const struct qentry *e)
{
	const struct qentry_event *ev;
	char when[40];
	size_t i;

	for (i = 0; i < e->nhistory; i++) {
		ev = &e->history[i];
		printf("%s\n    {\"event\": \"%s\", ", i ? "," : "", ev->what);
		if (ev->text == NULL) {
			printf("\"next_attempt\": \"%s\", \"attempts\": %u}",
			    iso_time(ev->when, when, sizeof(when)),
			    ev->attempts);
			continue;
		}
		printf("\"time\": \"%s\", \"recipient\": ",
		    iso_time(ev->when, when, sizeof(when)));
		qshow_json(stdout, e->rcpts[ev->rcpt]);
		printf(", \"text\": ");
		qshow_json(stdout, ev->text);
		printf("}");
	}
}

/* envelope_text - what list does not show */
static void
envelope_text(const struct qentry *e)
{
	printf("  queue     %s\n  client    ", e->held ? "hold" : "incoming");
	put(e->client);
	printf("\n  helo      ");
	put(e->helo);
	printf("\n  proto     ");
	put(e->proto);
	printf("\n");
	if (e->auth) {
		printf("  auth      ");
		put(e->auth);
		printf("\n");
	}
	if (e->smtputf8)
		printf("  smtputf8  yes\n");
	if (e->body != MAIL_BODY_NONE)
		printf("  body      %s\n", e->body == MAIL_BODY_8BITMIME ?
		    "8BITMIME" : "7BIT");
}

int
qshow_entry(const char *queue_dir, const struct qentry *e, bool json,
    time_t now)
{
	size_t hlen = 0;
	bool cut = false;
	char *h;
	int saved, status = 0;

	if ((h = read_header(queue_dir, e, &hlen, &cut)) == NULL) {
		saved = errno;
		fprintf(stderr, "sallyport: %s: cannot read its message: %s\n",
		    e->id, qentry_strerror(saved));
		status = 1;
	}
	if (json) {
		printf("{\"queue_dir\": ");
		qshow_json(stdout, queue_dir);
		printf(",\n \"entry\": ");
		json_common(e, now, "  ");
		printf(",\n  \"queue\": \"%s\", \"client\": ", e->held ?
		    "hold" : "incoming");
		qshow_json(stdout, e->client);
		printf(", \"helo\": ");
		qshow_json(stdout, e->helo);
		printf(", \"proto\": ");
		qshow_json(stdout, e->proto);
		printf(",\n  \"auth\": ");
		qshow_json(stdout, e->auth);
		printf(", \"smtputf8\": %s, \"body\": %s,\n  \"history\": [",
		    e->smtputf8 ? "true" : "false",
		    e->body == MAIL_BODY_NONE ? "null" :
		    e->body == MAIL_BODY_8BITMIME ? "\"8BITMIME\"" : "\"7BIT\"");
		show_history_json(e);
		printf("],\n  \"history_dropped\": %zu,\n  \"header\": [",
		    e->history_dropped);
		show_header_json(h ? h : "", hlen);
		printf("],\n  \"header_cut\": %s}}\n", cut ? "true" : "false");
	} else {
		text_head(e, now);
		envelope_text(e);
		text_tail(e);
		printf("history\n");
		show_history_text(e);
		printf("header%s\n", cut ? " (cut after 65536 octets)" : "");
		show_header_text(h ? h : "", hlen);
	}
	free(h);
	return status;
}
