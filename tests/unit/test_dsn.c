/*
 * test_dsn - the bounce as it lands in the queue: its envelope, its
 * headers, the three parts of the report, the per-recipient fields, and
 * the line discipline (CRLF only, nothing past 998 octets).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deliver/dsn.h"
#include "queue/qentry.h"
#include "queue/queue.h"
#include "qfixture.h"

#define HOST	"mail.example.test"

static char err[512];

QFIXTURE_SUITE(dsn, "dsn");

static bool entry_requiretls;	/* the next entry() has REQUIRETLS */

/* entry - commit a message for three recipients and load it */
static struct qentry *
entry(const char *sender, const char *message)
{
	static char *rcpts[] = { "a@example.test", "b@example.test",
	    "c@example.org" };
	struct envelope env = qfixture_env("192.0.2.7", "client.example.org",
	    sender, rcpts, 3);
	struct qentry *e;

	env.requiretls = entry_requiretls;
	qfixture_commit(q, &env, message);
	cr_assert_not_null(e = qentry_load(dir, env.id, err, sizeof(err)),
	    "%s", err);
	return e;
}

/* bounce - dsn_queue for e; the bounce entry, its message in *msg */
static struct qentry *
bounce(struct qentry *e, const struct dsn_failure *f, size_t n, int withbody,
    char **msg)
{
	char id[QUEUE_ID_LEN + 1];
	struct qentry *b;
	ssize_t got;
	int fd = -1;

	if (withbody)
		cr_assert_neq(fd = qentry_open_body(dir, e), -1);
	cr_assert_eq(dsn_queue(q, HOST, e, fd, f, n, id, err, sizeof(err)), 0,
	    "%s", err);
	if (fd != -1)
		close(fd);
	cr_assert(qentry_id_valid(id), "id \"%s\"", id);
	cr_assert_not_null(b = qentry_load(dir, id, err, sizeof(err)), "%s",
	    err);
	cr_assert_not_null(*msg = malloc((size_t)b->body_size + 1));
	cr_assert_neq(fd = qentry_open_body(dir, b), -1);
	got = read(fd, *msg, (size_t)b->body_size);
	close(fd);
	cr_assert_eq(got, (ssize_t)b->body_size);
	(*msg)[got] = '\0';
	return b;
}

/* lines_ok - CRLF only, no line past 998 octets */
static void
lines_ok(const char *m)
{
	const char *p = m, *nl;

	while (*p) {
		cr_assert_not_null(nl = strchr(p, '\n'), "unterminated line");
		cr_assert(nl > p && nl[-1] == '\r', "bare LF at %zu",
		    (size_t)(nl - m));
		cr_assert_null(memchr(p, '\r', (size_t)(nl - p - 1)),
		    "bare CR at %zu", (size_t)(p - m));
		cr_assert_leq(nl - p - 1, 998, "line of %zu octets",
		    (size_t)(nl - p - 1));
		p = nl + 1;
	}
}

/* has_line - a line exactly equal to s */
static bool
has_line(const char *m, const char *s)
{
	size_t n = strlen(s);
	const char *p;

	for (p = m; (p = strstr(p, s)) != NULL; p++)
		if ((p == m || p[-1] == '\n') && strncmp(p + n, "\r\n", 2) == 0)
			return true;
	return false;
}

/* part - the text of part i (0-based) of the multipart, NUL-terminated
 * copy; NULL if there is none */
static char *
part(const char *m, int i)
{
	char delim[128], *copy;
	const char *b, *p, *end;
	size_t n;

	cr_assert_not_null(b = strstr(m, "boundary=\""));
	b += 10;
	n = (size_t)(strchr(b, '"') - b);
	snprintf(delim, sizeof(delim), "\r\n--%.*s", (int)n, b);
	p = strstr(m, "\r\n\r\n");
	while (i-- >= 0) {
		if ((p = strstr(p, delim)) == NULL)
			return NULL;
		p += strlen(delim);
		if (strncmp(p, "--", 2) == 0)
			return NULL;
	}
	cr_assert_not_null(end = strstr(p, delim));
	copy = strndup(p + 2, (size_t)(end - p - 2));
	return copy;
}

static const char message[] =
    "Received: from client.example.org\r\n"
    "\tby mail.example.test; Tue, 14 Nov 2023 22:13:20 +0000\r\n"
    "From: <s@example.org>\r\n"
    "Subject: hello there\r\n"
    "\r\n"
    "the body, which must not come back\r\n";

Test(dsn, envelope_and_headers)
{
	struct dsn_failure f[] = {
		{ 0, "5.1.1", "smtp; 550 5.1.1 <a@example.test>: no such user",
		    "dns; mx.example.test" },
	};
	struct qentry *e = entry("s@example.org", message), *b;
	char *m, line[200], *head;

	b = bounce(e, f, 1, 1, &m);
	cr_assert_str_eq(b->sender, "");
	cr_assert_eq(b->nrcpts, 1);
	cr_assert_str_eq(b->rcpts[0], "s@example.org");
	cr_assert_str_eq(b->client, "127.0.0.1");
	cr_assert_str_eq(b->helo, HOST);
	cr_assert_str_eq(b->proto, "LOCAL");
	lines_ok(m);
	cr_assert_not_null(strstr(m, "\r\n\r\n"));
	head = strndup(m, (size_t)(strstr(m, "\r\n\r\n") - m + 2));
	cr_assert(has_line(head,
	    "From: Mail Delivery System <MAILER-DAEMON@" HOST ">"), "%s", head);
	cr_assert(has_line(head, "To: <s@example.org>"), "%s", head);
	cr_assert(has_line(head,
	    "Subject: Undelivered Mail Returned to Sender"));
	snprintf(line, sizeof(line), "Message-ID: <%s.dsn@" HOST ">", b->id);
	cr_assert(has_line(head, line), "%s", head);
	cr_assert(has_line(head, "Auto-Submitted: auto-replied"));
	cr_assert(has_line(head, "MIME-Version: 1.0"));
	cr_assert(strstr(head, "\r\nDate: ") != NULL);
	cr_assert(strstr(head, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"") != NULL, "%s",
	    head);
	cr_assert_null(strstr(head, "8bit"));
	free(head);
	free(m);
	qentry_free(b);
	qentry_free(e);
}

Test(dsn, three_parts)
{
	struct dsn_failure f[] = {
		{ 0, "5.1.1", "smtp; 550 5.1.1 no such user",
		    "dns; mx.example.test" },
		{ 2, "4.4.7", "X-Sallyport; delivery time expired", NULL },
	};
	struct qentry *e = entry("s@example.org", message), *b;
	char *m, *p1, *p2, *p3, arrival[100];

	b = bounce(e, f, 2, 1, &m);
	cr_assert_not_null(p1 = part(m, 0));
	cr_assert_not_null(p2 = part(m, 1));
	cr_assert_not_null(p3 = part(m, 2));
	cr_assert_null(part(m, 3));

	cr_assert(strstr(p1, "Content-Type: text/plain; charset=us-ascii")
	    != NULL, "%s", p1);
	cr_assert(strstr(p1, "<a@example.test>: the mailbox does not exist")
	    != NULL, "%s", p1);
	cr_assert(strstr(p1, "mx.example.test said: 550 5.1.1 no such user")
	    != NULL, "%s", p1);
	cr_assert(strstr(p1, "<c@example.org>: it could not be delivered in "
	    "time") != NULL, "%s", p1);
	cr_assert_null(strstr(p1, "b@example.test"));

	cr_assert(has_line(p2, "Content-Type: message/delivery-status"));
	cr_assert(has_line(p2, "Reporting-MTA: dns; " HOST));
	cr_assert(strstr(p2, "\r\nArrival-Date: ") != NULL);
	snprintf(arrival, sizeof(arrival), "\r\n\r\nReporting-MTA:");
	cr_assert(strstr(p2, arrival) != NULL, "fields right after the "
	    "part's header: %s", p2);
	cr_assert(strstr(p2, "\r\n\r\nFinal-Recipient: rfc822; a@example.test"
	    "\r\nAction: failed\r\nStatus: 5.1.1\r\n"
	    "Remote-MTA: dns; mx.example.test\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n") != NULL,
	    "%s", p2);
	cr_assert(strstr(p2, "\r\n\r\nFinal-Recipient: rfc822; c@example.org"
	    "\r\nAction: failed\r\nStatus: 4.4.7\r\n"
	    "Diagnostic-Code: X-Sallyport; delivery time expired\r\n") != NULL,
	    "%s", p2);
	cr_assert_null(strstr(p2, "b@example.test"));

	cr_assert(has_line(p3, "Content-Type: text/rfc822-headers"));
	cr_assert(has_line(p3, "Subject: hello there"));
	cr_assert(has_line(p3, "\tby mail.example.test; Tue, 14 Nov 2023 "
	    "22:13:20 +0000"));
	cr_assert_null(strstr(p3, "must not come back"));
	cr_assert_null(strstr(m, "must not come back"));
	free(p1);
	free(p2);
	free(p3);
	free(m);
	qentry_free(b);
	qentry_free(e);
}

Test(dsn, long_and_hostile_diagnostics)
{
	char words[3000], word[2500], hostile[100], *m, *p2, *unfolded, *s,
	    *d;
	struct dsn_failure f[3] = {
		{ 0, "5.0.0", words, NULL },
		{ 1, "5.0.0", word, NULL },
		{ 2, "5.7.1", hostile, "mx.example.org" },
	};
	struct qentry *e = entry("s@example.org", message), *b;
	size_t i;

	strcpy(words, "smtp; 550");
	for (i = strlen(words); i + 6 < sizeof(words); i += 6)
		memcpy(words + i, " words", 6);
	words[i] = '\0';
	memset(word, 'w', sizeof(word) - 1);
	word[sizeof(word) - 1] = '\0';
	strcpy(hostile, "550 bad\r\nX-Injected: yes\r\n\r\n--oops");

	b = bounce(e, f, 3, 1, &m);
	lines_ok(m);
	cr_assert_null(strstr(m, "\r\nX-Injected"));
	cr_assert_not_null(p2 = part(m, 1));
	/* folded at spaces: unfolding gives the text back */
	cr_assert_not_null(unfolded = strdup(p2));
	for (s = d = unfolded; *s; s++)
		if (!(s[0] == '\r' && s[1] == '\n' && s[2] == ' '))
			*d++ = *s;
		else
			s++;
	*d = '\0';
	cr_assert(strstr(unfolded, "Diagnostic-Code: ") != NULL);
	cr_assert(strstr(unfolded, words) != NULL, "words not kept");
	cr_assert(strstr(p2, "Diagnostic-Code: smtp; 550 bad  X-Injected: yes"
	    "    --oops\r\n") != NULL, "%s", p2);
	cr_assert(strstr(p2, "Remote-MTA: dns; mx.example.org\r\n") != NULL);
	free(unfolded);
	free(p2);
	free(m);
	qentry_free(b);
	qentry_free(e);
}

Test(dsn, original_headers_bounded)
{
	size_t n = 200 * 1024, i;
	char *msg, *m, *p3;
	struct dsn_failure f[] = { { 1, "5.1.1", "smtp; 550 no", NULL } };
	struct qentry *e, *b;

	/* one 2000-octet header, then headers past 64 KiB */
	cr_assert_not_null(msg = malloc(n + 100));
	strcpy(msg, "X-Long: ");
	memset(msg + 8, 'l', 2000);
	strcpy(msg + 2008, "\r\n");
	for (i = strlen(msg); i < n; i += 21)
		memcpy(msg + i, "X-Filler: 123456789\r\n", 21);
	strcpy(msg + i, "\r\nbody\r\n");
	e = entry("s@example.org", msg);
	b = bounce(e, f, 1, 1, &m);
	lines_ok(m);
	cr_assert_not_null(p3 = part(m, 2));
	cr_assert_lt(strlen(p3), 66 * 1024);
	cr_assert_gt(strlen(p3), 60 * 1024);
	cr_assert(strncmp(p3 + strlen(p3) - 21, "X-Filler: 123456789\r\n", 21)
	    == 0, "cut inside a line");
	free(p3);
	free(m);
	free(msg);
	qentry_free(b);
	qentry_free(e);
}

Test(dsn, without_body_two_parts)
{
	struct dsn_failure f[] = { { 1, "5.1.1", "smtp; 550 no", NULL } };
	struct qentry *e = entry("s@example.org", message), *b;
	char *m, *p;

	b = bounce(e, f, 1, 0, &m);
	cr_assert_not_null(p = part(m, 1));
	free(p);
	cr_assert_null(part(m, 2));
	free(m);
	qentry_free(b);
	qentry_free(e);
}

Test(dsn, eight_bit_declared)
{
	struct dsn_failure f[] = { { 0, "5.1.1", "smtp; 550 n\xc3\xa4", NULL } };
	struct qentry *e = entry("s@example.org", message), *b;
	char *m;

	b = bounce(e, f, 1, 1, &m);
	cr_assert(has_line(m, "Content-Transfer-Encoding: 8bit"));
	cr_assert(strstr(m, "charset=utf-8") != NULL);
	free(m);
	qentry_free(b);
	qentry_free(e);
}

Test(dsn, none_for_null_sender)
{
	struct dsn_failure f[] = { { 0, "5.1.1", "smtp; 550 no", NULL } };
	struct qentry *e = entry("", message);
	char id[QUEUE_ID_LEN + 1] = "x";
	size_t n;
	char **ids;

	cr_assert_eq(dsn_queue(q, HOST, e, -1, f, 1, id, err, sizeof(err)), 0);
	cr_assert_str_eq(id, "");
	cr_assert_not_null(ids = qentry_list(dir, &n));
	cr_assert_eq(n, 1);
	qentry_list_free(ids, n);
	qentry_free(e);
}

Test(dsn, bad_failures_refused)
{
	struct dsn_failure bad_rcpt[] = { { 3, "5.1.1", "smtp; 550", NULL } };
	struct dsn_failure bad_status[] = { { 0, "5.1", "smtp; 550", NULL } };
	struct dsn_failure no_status[] = { { 0, NULL, "smtp; 550", NULL } };
	struct qentry *e = entry("s@example.org", message);
	char id[QUEUE_ID_LEN + 1];
	size_t n;
	char **ids;

	cr_assert_eq(dsn_queue(q, HOST, e, -1, bad_rcpt, 1, id, err,
	    sizeof(err)), -1);
	cr_assert_eq(dsn_queue(q, HOST, e, -1, bad_status, 1, id, err,
	    sizeof(err)), -1);
	cr_assert_eq(dsn_queue(q, HOST, e, -1, no_status, 1, id, err,
	    sizeof(err)), -1);
	cr_assert_not_null(ids = qentry_list(dir, &n));
	cr_assert_eq(n, 1);
	qentry_list_free(ids, n);
	qentry_free(e);
}

/* RFC 8689 5: the report of a REQUIRETLS message is itself sent with
 * REQUIRETLS, carries the header only, and says why in plain words; the
 * report of any other message is not. */
Test(dsn, requiretls_report_goes_with_requiretls)
{
	struct dsn_failure f[] = {
		{ 2, "5.7.30", "smtp; 550 5.7.30 REQUIRETLS support required, "
		    "but was not offered by host 127.0.0.1:25", "dns; mx.example.org" },
	};
	struct qentry *e, *b;
	char *m;

	entry_requiretls = true;
	e = entry("s@example.org", message);
	entry_requiretls = false;
	cr_assert(e->requiretls);
	b = bounce(e, f, 1, 1, &m);
	cr_assert(b->requiretls, "the report goes with REQUIRETLS");
	cr_assert_not(b->tls_optional);
	cr_assert_not_null(strstr(m, "Subject: hello there\r\n"));
	cr_assert_null(strstr(m, "must not come back"), "never the body");
	cr_assert_not_null(strstr(m, "REQUIRETLS"), "%s", m);
	cr_assert(has_line(m, "Status: 5.7.30"), "%s", m);
	free(m);
	qentry_free(b);
	qentry_free(e);

	e = entry("s@example.org", message);
	b = bounce(e, f, 1, 1, &m);
	cr_assert_not(b->requiretls);
	free(m);
	qentry_free(b);
	qentry_free(e);
}
