/*
 * test_metrics_text - the exposition of the counters: slots summed,
 * the histogram cumulative, every family and label combination there
 * from the start, labels escaped, both formats; checked by promtool.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/metrics_text.h"

static struct metrics_slot slots[METRICS_SLOTS];
static struct metrics_text_listener names[METRICS_LISTENERS];

static struct metrics_text_info
info(bool om)
{
	struct metrics_text_info i = {
		.listeners = names, .version = "1.2.3", .start_time = 1700000000,
		.workers = 2, .now = 1800000000, .openmetrics = om,
	};

	return i;
}

static void
setup(void)
{
	memset(slots, 0, sizeof(slots));
	memset(names, 0, sizeof(names));
	names[0] = (struct metrics_text_listener){ "127.0.0.1:25", "mx" };
	names[1] = (struct metrics_text_listener){ "[::1]:587", "submission" };
	/* index 2: the metrics line itself, no labels */
	names[METRICS_LISTENERS - 1] =
	    (struct metrics_text_listener){ "other", "other" };
}

TestSuite(metrics_text, .init = setup);

/* render - the exposition as a string (freed by the caller) */
static char *
render(bool om)
{
	struct metrics_text_info i = info(om);
	struct buf b;

	buf_init(&b, 1 << 20);
	cr_assert_eq(metrics_text_render(&b, slots, METRICS_SLOTS, &i), 0);
	cr_assert_not_null(b.data);
	return b.data;
}

/* has - text has the line `line` */
static bool
has(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static size_t
count_prefix(const char *text, const char *prefix)
{
	size_t n = 0;

	for (const char *p = text; p != NULL && *p; p = strchr(p, '\n'),
	    p = p ? p + 1 : NULL)
		n += strncmp(p, prefix, strlen(prefix)) == 0;
	return n;
}

Test(metrics_text, counters_summed_over_every_slot)
{
	char *t;

	slots[METRICS_SLOT_MASTER].conn_total[0][MCO_BUSY] = 1;
	slots[METRICS_SLOT_WORKER(0)].conn_total[0][MCO_SERVED] = 2;
	slots[METRICS_SLOT_WORKER(1)].conn_total[0][MCO_SERVED] = 3;
	slots[METRICS_SLOT_WORKER(63)].conn_total[1][MCO_DENIED] = 4;
	slots[METRICS_SLOT_WORKER(0)].conn_open[1] = 1;
	slots[METRICS_SLOT_WORKER(1)].conn_open[1] = 2;
	slots[METRICS_SLOT_WORKER(0)].messages[METRICS_LISTENERS - 1] = 5;
	slots[METRICS_SLOT_WORKER(1)].message_bytes[0] = 1000;
	slots[METRICS_SLOT_WORKER(2)].message_bytes[0] = 234;
	slots[METRICS_SLOT_WORKER(0)].refusals[MR_RELAY] = 7;
	slots[METRICS_SLOT_WORKER(1)].refusals[MR_RELAY] = 1;
	slots[METRICS_SLOT_RUNNER].deliveries[MDO_SENT][MDC_MX] = 9;
	slots[METRICS_SLOT_RUNNER].dns_queries = 10;
	slots[METRICS_SLOT_WORKER(0)].dns_queries = 5;
	slots[METRICS_SLOT_WORKER(0)].auth_failure = 2;
	slots[METRICS_SLOT_WORKER(0)].tls_sessions[MTV_TLS13] = 6;
	/* The queue's gauges are the runner's; a worker's are ignored. */
	slots[METRICS_SLOT_WORKER(0)].queue_entries = 99;
	slots[METRICS_SLOT_RUNNER].queue_entries = 5;
	slots[METRICS_SLOT_RUNNER].queue_held = 2;
	slots[METRICS_SLOT_RUNNER].queue_oldest = 1800000000 - 300;
	t = render(true);
	cr_expect(has(t, "sallyport_connections_total{listener=\"127.0.0.1:25\","
	    "role=\"mx\",outcome=\"served\"} 5"), "%s", t);
	cr_expect(has(t, "sallyport_connections_total{listener=\"127.0.0.1:25\","
	    "role=\"mx\",outcome=\"busy\"} 1"));
	cr_expect(has(t, "sallyport_connections_total{listener=\"[::1]:587\","
	    "role=\"submission\",outcome=\"denied\"} 4"));
	cr_expect(has(t, "sallyport_connections_open{listener=\"[::1]:587\","
	    "role=\"submission\"} 3"));
	cr_expect(has(t, "sallyport_messages_accepted_total{listener=\"other\","
	    "role=\"other\"} 5"));
	cr_expect(has(t, "sallyport_message_bytes_total{listener="
	    "\"127.0.0.1:25\",role=\"mx\"} 1234"));
	cr_expect(has(t, "sallyport_refusals_total{reason=\"relay\"} 8"));
	cr_expect(has(t, "sallyport_deliveries_total{outcome=\"sent\","
	    "destination=\"mx\"} 9"));
	cr_expect(has(t, "sallyport_dns_queries_total 15"));
	cr_expect(has(t, "sallyport_auth_total{result=\"failure\"} 2"));
	cr_expect(has(t, "sallyport_tls_sessions_total{version=\"TLSv1.3\"} 6"));
	cr_expect(has(t, "sallyport_queue_entries{state=\"active\"} 5"));
	cr_expect(has(t, "sallyport_queue_entries{state=\"held\"} 2"));
	cr_expect(has(t, "sallyport_queue_oldest_age_seconds 300"));
	cr_expect(has(t, "sallyport_workers 2"));
	cr_expect(has(t, "sallyport_process_start_time_seconds 1700000000"));
	cr_expect(has(t, "sallyport_build_info{version=\"1.2.3\"} 1"));
	free(t);
}

Test(metrics_text, histogram_is_cumulative)
{
	char *t;

	/* 250us, 2ms and 2.5ms (twice), 3s: the bounds are inclusive. */
	metrics_commit_latency(250);
	metrics_commit_latency(2000);
	metrics_commit_latency(2500);
	metrics_commit_latency(2500);
	metrics_commit_latency(3000000);
	/* Nobody attached: counted in the private slot, here slot 4's. */
	slots[4] = *metrics_self;
	slots[5].commit_bucket[0] = 1;	/* another process's */
	slots[5].commit_sum_us = 100;
	slots[5].commit_count = 1;
	t = render(true);
	cr_expect(has(t, "sallyport_commit_latency_seconds_bucket{le="
	    "\"0.00025\"} 2"), "%s", t);
	cr_expect(has(t, "sallyport_commit_latency_seconds_bucket{le="
	    "\"0.001\"} 2"));
	cr_expect(has(t, "sallyport_commit_latency_seconds_bucket{le="
	    "\"0.0025\"} 5"));
	cr_expect(has(t, "sallyport_commit_latency_seconds_bucket{le="
	    "\"1.0\"} 5"));
	cr_expect(has(t, "sallyport_commit_latency_seconds_bucket{le="
	    "\"2.5\"} 5"));
	cr_expect(has(t, "sallyport_commit_latency_seconds_bucket{le="
	    "\"+Inf\"} 6"));
	cr_expect(has(t, "sallyport_commit_latency_seconds_count 6"));
	cr_expect(has(t, "sallyport_commit_latency_seconds_sum 3.00735"));
	cr_expect_eq(count_prefix(t, "sallyport_commit_latency_seconds_bucket"),
	    METRICS_COMMIT_BUCKETS);
	free(t);
}

Test(metrics_text, every_family_and_label_set_from_the_start)
{
	static const char *const families[] = {
		"sallyport_build info", "sallyport_process_start_time_seconds "
		"gauge", "sallyport_workers gauge",
		"sallyport_connections_open gauge",
		"sallyport_connections counter", "sallyport_refusals counter",
		"sallyport_messages_accepted counter",
		"sallyport_message_bytes counter",
		"sallyport_tls_sessions counter", "sallyport_auth counter",
		"sallyport_queue_entries gauge",
		"sallyport_queue_oldest_age_seconds gauge",
		"sallyport_deliveries counter",
		"sallyport_commit_latency_seconds histogram",
		"sallyport_dns_queries counter", "sallyport_dns_failures counter",
		"sallyport_proxy_headers counter",
		"sallyport_journal_syncs counter",
		"sallyport_journal_writeouts counter",
	};
	char line[128], *t = render(true);
	size_t n;

	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		snprintf(line, sizeof(line), "# TYPE %s", families[i]);
		cr_expect(has(t, line), "no %s", line);
	}
	cr_expect(has(t, "# UNIT sallyport_message_bytes bytes"));
	cr_expect(has(t, "# UNIT sallyport_commit_latency_seconds seconds"));
	cr_expect(has(t, "# UNIT sallyport_queue_oldest_age_seconds seconds"));
	cr_expect_eq(count_prefix(t, "# UNIT "), 4);
	n = strlen(t);
	cr_expect(n > 6 && strcmp(t + n - 6, "# EOF\n") == 0, "ends with EOF");
	/* Three listeners with labels (the metrics line has none), five
	 * outcomes each, zeros; every reason, version, result, state. */
	cr_expect_eq(count_prefix(t, "sallyport_connections_total{"), 15);
	cr_expect_eq(count_prefix(t, "sallyport_connections_open{"), 3);
	cr_expect_eq(count_prefix(t, "sallyport_messages_accepted_total{"), 3);
	cr_expect_eq(count_prefix(t, "sallyport_refusals_total{"), MR_COUNT);
	cr_expect_eq(count_prefix(t, "sallyport_deliveries_total{"),
	    MDO_COUNT * MDC_COUNT);
	cr_expect_eq(count_prefix(t, "sallyport_tls_sessions_total{"), 3);
	cr_expect_eq(count_prefix(t, "sallyport_auth_total{"), 2);
	cr_expect_eq(count_prefix(t, "sallyport_queue_entries{"), 2);
	cr_expect(has(t, "sallyport_queue_oldest_age_seconds 0"),
	    "0 when the queue is empty");
	cr_expect(has(t, "sallyport_refusals_total{reason=\"tls_required\"} 0"));
	free(t);
}

Test(metrics_text, the_text_format_names_samples)
{
	char *t = render(false);

	cr_expect(has(t, "# TYPE sallyport_connections_total counter"));
	cr_expect(has(t, "# TYPE sallyport_build_info gauge"));
	cr_expect(has(t, "# TYPE sallyport_commit_latency_seconds histogram"));
	cr_expect_eq(count_prefix(t, "# UNIT"), 0);
	cr_expect(strstr(t, "# EOF") == NULL);
	cr_expect(has(t, "sallyport_build_info{version=\"1.2.3\"} 1"));
	free(t);
}

Test(metrics_text, labels_are_escaped)
{
	char *t;

	names[0].listener = "a\"b\\c\nd";
	t = render(true);
	cr_expect(has(t, "sallyport_connections_open{listener="
	    "\"a\\\"b\\\\c\\nd\",role=\"mx\"} 0"), "%s", t);
	free(t);
}

Test(metrics_text, a_full_buffer_fails)
{
	struct metrics_text_info i = info(true);
	struct buf b;

	buf_init(&b, 1000);
	cr_assert_eq(metrics_text_render(&b, slots, METRICS_SLOTS, &i), -1);
	buf_free(&b);
}

/* promtool - `promtool check metrics` on text: its exit status */
static int
promtool(const char *text)
{
	char path[] = "/tmp/test_metrics_text.XXXXXX", cmd[256];
	FILE *fp;
	int fd, st;

	cr_assert_neq(fd = mkstemp(path), -1);
	cr_assert_not_null(fp = fdopen(fd, "w"));
	fputs(text, fp);
	fclose(fp);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
	st = system(cmd);
	unlink(path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(metrics_text, promtool_finds_nothing_to_say)
{
	char *t;

	if (system("command -v promtool >/dev/null") != 0) {
		if (getenv("SALLYPORT_REQUIRE_CLIENTS") != NULL)
			cr_assert_fail("promtool is required but missing");
		cr_skip_test("promtool is not installed (contrib/install-deps)");
	}
	slots[METRICS_SLOT_WORKER(0)].conn_total[0][MCO_SERVED] = 2;
	slots[METRICS_SLOT_WORKER(0)].commit_bucket[3] = 2;
	slots[METRICS_SLOT_WORKER(0)].commit_sum_us = 3000;
	t = render(false);
	cr_expect_eq(promtool(t), 0, "%s", t);
	free(t);
}
