/*
 * test_tlsrpt_out - TLS-RPT on the delivery side. Sessions recorded
 * as the delivery threads record them: one whole line each in the UTC
 * day's file under queue_dir/tlsrpt/, also from many threads at once;
 * nothing with tls_reporting = no, nothing for a domain DNS cannot ask
 * about; a UTF-8 domain by its A-labels. The report message as it
 * lands in the queue: envelope, RFC 8460 5.3's header fields, a
 * multipart/report whose attachment gunzips to the report.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "conf/config.h"
#include "deliver/tlsrpt_msg.h"
#include "lib/base64.h"
#include "queue/qentry.h"
#include "queue/queue.h"
#include "deliver/tlsrpt_out.h"
#include "scratch.h"

static char dir[256];

static struct config *
conf(const char *reporting)
{
	char text[1024], *errors = NULL;
	struct config *cfg;

	snprintf(text, sizeof(text), "hostname = mail.example.org\n"
	    "queue_dir = %s\ntls_reporting = %s\n", dir, reporting);
	cfg = config_parse(text, "t.conf", &errors);
	cr_assert_not_null(cfg, "%s", errors ? errors : "");
	free(errors);
	return cfg;
}

static void
setup(void)
{
	scratch_make(dir, sizeof(dir), "tlsrpt-log");
}

static void
teardown(void)
{
	scratch_remove(dir);
}

TestSuite(tlsrpt_out, .init = setup, .fini = teardown);

/* lines - the lines of day's file, each parsed into s[] (up to max);
 * fails the test on one that does not parse */
static size_t
lines(const char *day, struct tlsrpt_session *s, char **keep, size_t max)
{
	char path[512], line[TLSRPT_LINE_MAX + 1];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tlsrpt/%s", dir, day);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t len = strlen(line);

		cr_assert_eq(line[len - 1], '\n', "a whole line");
		line[len - 1] = '\0';
		if (n < max) {
			keep[n] = strdup(line);
			cr_assert_eq(tlsrpt_line_parse(keep[n], &s[n]), 0,
			    "line %zu: %s", n, line);
		} else {
			struct tlsrpt_session t;

			cr_assert_eq(tlsrpt_line_parse(line, &t), 0,
			    "line %zu: %s", n, line);
		}
		n++;
	}
	fclose(f);
	return n;
}

Test(tlsrpt_out, one_session)
{
	struct config *cfg = conf("yes");
	struct smtp_client_tls tls;
	struct tlsrpt_session s[2], t;
	char *keep[2];
	const char *ps[] = { "3 1 1 AABB" };

	memset(&tls, 0, sizeof(tls));
	tls.result = TLSRPT_VALIDATION_FAILURE;
	snprintf(tls.detail, sizeof(tls.detail), "TLSA mismatch\r\nX: y");
	snprintf(tls.peer_ip, sizeof(tls.peer_ip), "192.0.2.25");
	tlsrpt_note_session(cfg, "Example.NET", TLSRPT_TLSA, "mx.example.net",
	    ps, 1, "mx.example.net", &tls);
	/* a session of 2025-12-02 (UTC) */
	memset(&t, 0, sizeof(t));
	t.when = 1764633600 + 3600;
	t.domain = "example.net";
	tlsrpt_note(cfg, &t);
	cr_assert_eq(lines("2025-12-02", s, keep, 2), 1);
	cr_assert_str_eq(s[0].domain, "example.net");
	free(keep[0]);
	{
		char day[16];
		time_t now = time(NULL);
		struct tm tm;

		gmtime_r(&now, &tm);
		strftime(day, sizeof(day), "%Y-%m-%d", &tm);
		cr_assert_eq(lines(day, s, keep, 2), 1);
	}
	cr_assert_str_eq(s[0].domain, "Example.NET");
	cr_assert_eq(s[0].policy, TLSRPT_TLSA);
	cr_assert_eq(s[0].result, TLSRPT_VALIDATION_FAILURE);
	cr_assert_str_eq(s[0].reason, "TLSA mismatch\r\nX: y");
	cr_assert_str_eq(s[0].receiving_ip, "192.0.2.25");
	cr_assert_eq(s[0].npstrings, 1);
	cr_assert_str_eq(s[0].pstrings[0], "3 1 1 AABB");
	free(keep[0]);
	config_free(cfg);
}

Test(tlsrpt_out, off_literal_and_utf8)
{
	struct config *cfg = conf("no");
	struct tlsrpt_session t, s[1];
	char *keep[1];

	memset(&t, 0, sizeof(t));
	t.when = 1764633600;
	t.domain = "example.net";
	tlsrpt_note(cfg, &t);
	{
		char path[512];

		snprintf(path, sizeof(path), "%s/tlsrpt", dir);
		cr_assert_eq(access(path, F_OK), -1, "tls_reporting = no");
	}
	config_free(cfg);
	cfg = conf("yes");
	t.domain = "[192.0.2.1]";
	tlsrpt_note(cfg, &t);
	t.domain = "bad domain";
	tlsrpt_note(cfg, &t);
	cr_assert_eq(lines("2025-12-02", s, keep, 1), 0);
	t.domain = "b\xc3\xbc" "cher.example";
	tlsrpt_note(cfg, &t);
	cr_assert_eq(lines("2025-12-02", s, keep, 1), 1);
	cr_assert_str_eq(s[0].domain, "xn--bcher-kva.example");
	free(keep[0]);
	config_free(cfg);
}

#define THREADS		8
#define PER_THREAD	400

static struct config *shared;

static void *
writer(void *arg)
{
	char domain[64], reason[600];
	struct tlsrpt_session t;
	int i;

	snprintf(domain, sizeof(domain), "d%ld.example", (long)(intptr_t)arg);
	memset(reason, 'r', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	for (i = 0; i < PER_THREAD; i++) {
		memset(&t, 0, sizeof(t));
		t.when = 1764633600;
		t.domain = domain;
		t.result = TLSRPT_STARTTLS_NOT_SUPPORTED;
		t.reason = reason;	/* long lines: more chance to mix */
		tlsrpt_note(shared, &t);
	}
	return NULL;
}

Test(tlsrpt_out, threads_never_mix_lines)
{
	pthread_t t[THREADS];
	struct tlsrpt_session s[1];
	char *keep[1];
	long i;

	shared = conf("yes");
	for (i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, writer,
		    (void *)(intptr_t)i), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(lines("2025-12-02", s, keep, 1), THREADS * PER_THREAD);
	free(keep[0]);
	config_free(shared);
}

/* --- the report message ------------------------------------------------------ */

static char *
body_of(const char *id)
{
	char err[256], *msg;
	struct qentry *e;
	ssize_t got;
	int fd;

	cr_assert_not_null(e = qentry_load(dir, id, err, sizeof(err)), "%s",
	    err);
	cr_assert_str_eq(e->sender, "tlsrpt-sender@mail.example.org");
	cr_assert_eq(e->nrcpts, 2);
	cr_assert_str_eq(e->rcpts[0], "a@example.net");
	cr_assert_str_eq(e->rcpts[1], "b+x@reports.example");
	/* RFC 8460 5.3: delivered despite TLS failures (RFC 8689 5) */
	cr_assert(e->tls_optional);
	cr_assert_not(e->requiretls);
	cr_assert_not_null(msg = malloc((size_t)e->body_size + 1));
	cr_assert_neq(fd = qentry_open_body(dir, e), -1);
	got = read(fd, msg, (size_t)e->body_size);
	close(fd);
	cr_assert_eq(got, (ssize_t)e->body_size);
	msg[got] = '\0';
	qentry_free(e);
	return msg;
}

Test(tlsrpt_out, report_message)
{
	static const char json[] = "{\"organization-name\":\"x\"}\n";
	char *rcpts[] = { "a@example.net", "b+x@reports.example" };
	char err[256], *msg, *p, *end, b64[8192];
	unsigned char raw[8192], out[256];
	struct tlsrpt_queued qd;
	struct tlsrpt_msg m;
	struct queue *q;
	size_t blen = 0;
	long rlen;
	z_stream zs;

	cr_assert_not_null(q = queue_open(dir, err, sizeof(err)), "%s", err);
	memset(&m, 0, sizeof(m));
	m.hostname = "mail.example.org";
	m.from = "tlsrpt-sender@mail.example.org";
	m.rcpts = rcpts;
	m.nrcpts = 2;
	m.domain = "example.net";
	m.report_id = "2025-12-02.1764720000.0@mail.example.org";
	m.start = 1764633600;
	m.end = 1764633600 + 86399;
	m.json = json;
	m.json_len = strlen(json);
	cr_assert_eq(tlsrpt_msg_queue(q, &m, &qd, err, sizeof(err)), 0, "%s",
	    err);
	cr_assert_eq(qd.signatures, 0);		/* m.sign NULL: unsigned */
	cr_assert_null(strstr(msg = body_of(qd.id), "DKIM-Signature"));
	cr_assert_not_null(strstr(msg, "\r\nFrom: <tlsrpt-sender@mail.example."
	    "org>\r\n"), "%s", msg);
	cr_assert_not_null(strstr(msg, "\r\nTo: <a@example.net>,\r\n\t"
	    "<b+x@reports.example>\r\n"));
	cr_assert_not_null(strstr(msg, "\r\nSubject: Report Domain: "
	    "example.net\r\n\tSubmitter: mail.example.org\r\n\tReport-ID: "
	    "<2025-12-02.1764720000.0@mail.example.org>\r\n"));
	cr_assert_not_null(strstr(msg, "\r\nTLS-Required: No\r\n"));
	cr_assert_not_null(strstr(msg, "\r\nTLS-Report-Domain: example.net"
	    "\r\n"));
	cr_assert_not_null(strstr(msg, "\r\nTLS-Report-Submitter: "
	    "mail.example.org\r\n"));
	cr_assert_not_null(strstr(msg, "\r\nContent-Type: multipart/report; "
	    "report-type=\"tlsrpt\";\r\n"));
	cr_assert_not_null(strstr(msg, "\r\nContent-Type: application/"
	    "tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n"));
	cr_assert_not_null(strstr(msg, "filename=\"mail.example.org!example.net"
	    "!1764633600!1764719999!"));
	/* the attachment: base64 lines up to the blank line */
	p = strstr(msg, ".json.gz\"\r\n\r\n");
	cr_assert_not_null(p);
	p += strlen(".json.gz\"\r\n\r\n");
	while (*p != '\r') {
		cr_assert_not_null(end = strstr(p, "\r\n"));
		cr_assert_leq(end - p, 76);
		memcpy(b64 + blen, p, (size_t)(end - p));
		blen += (size_t)(end - p);
		p = end + 2;
	}
	cr_assert_gt(rlen = base64_decode(b64, blen, raw), 0);
	cr_assert_eq(raw[0], 0x1f, "gzip magic");
	cr_assert_eq(raw[1], 0x8b, "gzip magic");
	memset(&zs, 0, sizeof(zs));
	cr_assert_eq(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = raw;
	zs.avail_in = (uInt)rlen;
	zs.next_out = out;
	zs.avail_out = sizeof(out);
	cr_assert_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
	cr_assert_eq(zs.total_out, strlen(json));
	cr_assert_eq(memcmp(out, json, strlen(json)), 0);
	inflateEnd(&zs);
	cr_assert_not_null(strstr(p, "\r\n--=_"), "the closing boundary");
	free(msg);
	queue_close(q);
}
