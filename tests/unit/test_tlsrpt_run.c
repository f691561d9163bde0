/*
 * test_tlsrpt_run - the daily TLS-RPT run against a real DNS server
 * (dnsmasq on loopback publishing _smtp._tls records): when a run is
 * due, which day files it takes, one report queued per domain that asks
 * (to the record's address), none for the others; a run cut short by a
 * crash is finished without repeating the domains listed as done; a
 * line cut short is skipped; the trigger takes today's file too.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/config.h"
#include "deliver/deliver_int.h"
#include "deliver/tlsrpt_out.h"
#include "queue/qentry.h"
#include "queue/queue.h"
#include "dnsmasq.h"
#include "scratch.h"

#define DAY1		1764633600	/* 2025-12-02T00:00:00Z */
#define DAY2		(DAY1 + 86400)

static char dir[256], rdir[300];
static struct dnsmasq dm;
static struct config *cfg;
static struct queue *q;
static char queued[8][QUEUE_ID_LEN + 1];
static size_t nqueued;

static void
on_queued(void *owner, const char *id)
{
	(void)owner;
	cr_assert_lt(nqueued, 8);
	memcpy(queued[nqueued++], id, QUEUE_ID_LEN + 1);
}

static char conf[300], conf_opt[320];

static void
setup(void)
{
	const char *const records[] = {
		"--txt-record=_smtp._tls.a.test,v=TLSRPTv1; rua=mailto:r@a.test",
		"--txt-record=_smtp._tls.b.test,v=TLSRPTv1;rua=mailto:r@b.test;",
		"--txt-record=_smtp._tls.c.test,v=spf1 -all",
		conf_opt,
		NULL,
	};
	char text[1024], err[256], *errors = NULL;
	FILE *f;

	scratch_make(dir, sizeof(dir), "tlsrpt-run");
	/* a record with commas in a string: only dnsmasq's files take one */
	snprintf(conf, sizeof(conf), "%s.dns.conf", dir);
	cr_assert_not_null(f = fopen(conf, "w"));
	fputs("txt-record=_smtp._tls.e.test,\"v=TLSRPTv1; rua=mailto:r@e.test,"
	    "mailto:R@E.test,mailto:%72@e.test?subject=again,"
	    "mailto:s@e.test\"\n", f);
	cr_assert_eq(fclose(f), 0);
	snprintf(conf_opt, sizeof(conf_opt), "--conf-file=%s", conf);
	snprintf(rdir, sizeof(rdir), "%s/tlsrpt", dir);
	dnsmasq_start(&dm, records);
	snprintf(text, sizeof(text), "hostname = mail.example.org\n"
	    "queue_dir = %s\ntls_reporting = yes\n"
	    "dns_servers = 127.0.0.1:%u\n", dir, dm.port);
	cfg = config_parse(text, "t.conf", &errors);
	cr_assert_not_null(cfg, "%s", errors ? errors : "");
	free(errors);
	cr_assert_not_null(q = queue_open(dir, err, sizeof(err)), "%s", err);
	cr_assert_eq(mkdir(rdir, 0700), 0);
	nqueued = 0;
}

static void
teardown(void)
{
	queue_close(q);
	config_free(cfg);
	dnsmasq_stop(&dm);
	unlink(conf);
	scratch_remove(dir);
}

TestSuite(tlsrpt_run, .init = setup, .fini = teardown);

/* put - append text to rdir/name */
static void
put(const char *name, const char *text)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", rdir, name);
	cr_assert_neq(fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600), -1);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static bool
exists(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", rdir, name);
	return access(path, F_OK) == 0;
}

#define OK(d)	"T1\t1764640000\t" d "\tno-policy-found\tsuccess\t\t\t" \
		"mx." d "\t192.0.2.25\t\n"
#define BAD(d)	"T1\t1764640000\t" d "\tno-policy-found\t" \
		"starttls-not-supported\t\t\tmx." d "\t192.0.2.26\t" \
		"STARTTLS not offered\n"

/* report_for - the rcpt of queued report i, and its message */
static const char *
report_for(size_t i, char **msg)
{
	static char rcpt[256];
	char err[256];
	struct qentry *e;
	ssize_t got;
	int fd;

	cr_assert_not_null(e = qentry_load(dir, queued[i], err, sizeof(err)),
	    "%s", err);
	cr_assert_eq(e->nrcpts, 1);
	snprintf(rcpt, sizeof(rcpt), "%s", e->rcpts[0]);
	cr_assert_str_eq(e->sender, "postmaster@mail.example.org");
	cr_assert_not_null(*msg = malloc((size_t)e->body_size + 1));
	cr_assert_neq(fd = qentry_open_body(dir, e), -1);
	got = read(fd, *msg, (size_t)e->body_size);
	close(fd);
	(*msg)[got < 0 ? 0 : got] = '\0';
	qentry_free(e);
	return rcpt;
}

Test(tlsrpt_run, due)
{
	cr_assert_not(tlsrpt_due(dir, DAY2 + 600, 0), "nothing recorded");
	put("2025-12-03", OK("a.test"));
	cr_assert_not(tlsrpt_due(dir, DAY2 + 600, 0), "today's only");
	put("2025-12-02", OK("a.test"));
	cr_assert(tlsrpt_due(dir, DAY2 + 600, 600));
	cr_assert_not(tlsrpt_due(dir, DAY2 + 600, 601), "before the delay");
	cr_assert(tlsrpt_due(dir, DAY2 + 86399, 3599));
}

Test(tlsrpt_run, one_report_per_asking_domain)
{
	struct deliver_ctx dc = { q, on_queued, NULL };
	char *msg;
	size_t i;
	bool a = false, b = false;

	put("2025-12-02", OK("a.test") OK("b.test") BAD("b.test")
	    OK("c.test") OK("d.test") OK("a.test"));
	put("2025-12-03", OK("a.test"));
	tlsrpt_run(&dc, cfg, DAY2 + 3600, false);
	cr_assert_eq(nqueued, 2, "a.test and b.test ask; c.test, d.test not");
	for (i = 0; i < nqueued; i++) {
		const char *rcpt = report_for(i, &msg);

		if (strcmp(rcpt, "r@a.test") == 0) {
			a = true;
			cr_assert_not_null(strstr(msg, "TLS-Report-Domain: a.test"
			    "\r\n"));
		} else {
			cr_assert_str_eq(rcpt, "r@b.test");
			b = true;
			cr_assert_not_null(strstr(msg, "TLS-Report-Domain: b.test"
			    "\r\n"));
			cr_assert_not_null(strstr(msg, "!b.test!1764633600!"
			    "1764719999!"), "the whole UTC day");
		}
		free(msg);
	}
	cr_assert(a && b);
	cr_assert_not(exists("2025-12-02"), "taken and done");
	cr_assert(exists("2025-12-03"), "today's is kept");
	cr_assert_eq(scratch_count(dir, "tlsrpt"), 1, "no leftovers");
}

Test(tlsrpt_run, a_run_cut_short_is_finished)
{
	struct deliver_ctx dc = { q, on_queued, NULL };
	char *msg;

	/* a run taken at 1764723600 queued a.test's report, then died */
	put("2025-12-02.T1764723600", OK("a.test") BAD("b.test"));
	put("2025-12-02.T1764723600.done", "a.test\n");
	cr_assert(tlsrpt_due(dir, DAY2 + 3600, 0));
	tlsrpt_run(&dc, cfg, DAY2 + 7200, false);
	cr_assert_eq(nqueued, 1, "only what was not done");
	cr_assert_str_eq(report_for(0, &msg), "r@b.test");
	/* the report keeps the id the first run gave it */
	cr_assert_not_null(strstr(msg, "Report-ID: <2025-12-02.1764723600.1@"
	    "mail.example.org>"), "%s", msg);
	free(msg);
	cr_assert_eq(scratch_count(dir, "tlsrpt"), 0);
}

Test(tlsrpt_run, a_line_cut_short_is_skipped)
{
	struct deliver_ctx dc = { q, on_queued, NULL };
	char *msg;

	put("2025-12-02", BAD("b.test") "T1\t1764640000\tb.test\tno-po");
	tlsrpt_run(&dc, cfg, DAY2 + 3600, false);
	cr_assert_eq(nqueued, 1);
	cr_assert_str_eq(report_for(0, &msg), "r@b.test");
	free(msg);
}

Test(tlsrpt_run, the_trigger_takes_today)
{
	struct deliver_ctx dc = { q, on_queued, NULL };
	char *msg;

	put("2025-12-03", OK("a.test"));
	tlsrpt_run(&dc, cfg, DAY2 + 3600, false);
	cr_assert_eq(nqueued, 0);
	tlsrpt_run(&dc, cfg, DAY2 + 3600, true);
	cr_assert_eq(nqueued, 1);
	cr_assert_str_eq(report_for(0, &msg), "r@a.test");
	/* today's report ends when it was asked for */
	cr_assert_not_null(strstr(msg, "!a.test!1764720000!1764723600!"));
	free(msg);
	cr_assert_eq(scratch_count(dir, "tlsrpt"), 0);
}

Test(tlsrpt_run, a_report_too_large_to_build_is_not_retried_forever)
{
	struct deliver_ctx dc = { q, on_queued, NULL };
	char text[1024], path[512], *errors = NULL, *msg;
	char pad[251];
	FILE *f;
	int i;

	/* The limits an admin may set let a hostile domain's day (replies
	 * full of quotes, each kind a failure detail of its own) make a
	 * report past the JSON bound: it can never be built, so it must
	 * not hold the day's file and come back every hour for ever. */
	config_free(cfg);
	snprintf(text, sizeof(text), "hostname = mail.example.org\n"
	    "queue_dir = %s\ntls_reporting = yes\n"
	    "tls_report_max_entries = 10000\n"
	    "dns_servers = 127.0.0.1:%u\n", dir, dm.port);
	cfg = config_parse(text, "t.conf", &errors);
	cr_assert_not_null(cfg, "%s", errors ? errors : "");
	free(errors);
	memset(pad, '"', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	snprintf(path, sizeof(path), "%s/2025-12-02", rdir);
	cr_assert_not_null(f = fopen(path, "w"));
	for (i = 0; i < 15000; i++)
		fprintf(f, "T1\t1764640000\ta.test\ttlsa\tvalidation-failure\t"
		    "mx%d.a.test\t\t%05d%s\t192.0.2.25\t%05d%s\n", i % 2, i,
		    pad, i, pad);
	fputs(BAD("b.test"), f);
	cr_assert_eq(fclose(f), 0);
	tlsrpt_run(&dc, cfg, DAY2 + 3600, false);
	cr_assert_eq(nqueued, 1, "b.test's report, not a.test's");
	cr_assert_str_eq(report_for(0, &msg), "r@b.test");
	free(msg);
	cr_assert_eq(scratch_count(dir, "tlsrpt"), 0, "the day is done");
	cr_assert_not(tlsrpt_due(dir, DAY2 + 7200, 0), "nothing left to retry");
}

Test(tlsrpt_run, one_copy_per_address)
{
	struct deliver_ctx dc = { q, on_queued, NULL };
	char err[256];
	struct qentry *e;

	/* A record naming one mailbox several times (spelled apart) gets
	 * one report to it, not one per spelling. */
	put("2025-12-02", BAD("e.test"));
	tlsrpt_run(&dc, cfg, DAY2 + 3600, false);
	cr_assert_eq(nqueued, 1);
	cr_assert_not_null(e = qentry_load(dir, queued[0], err, sizeof(err)),
	    "%s", err);
	cr_assert_eq(e->nrcpts, 2, "r@e.test and s@e.test");
	cr_assert_str_eq(e->rcpts[0], "r@e.test");
	cr_assert_str_eq(e->rcpts[1], "s@e.test");
	qentry_free(e);
}
