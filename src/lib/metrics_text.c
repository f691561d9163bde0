/*
 * metrics_text - the slots summed and written for Prometheus
 * (metrics_text.h).
 *
 * The two formats differ only in the comments around the samples:
 * OpenMetrics names a family without its `_total` or `_info`, gives
 * `# UNIT` and ends with `# EOF`; the 0.0.4 format names the sample
 * itself, has no info type (a gauge of 1 instead) and no end marker.
 * The samples are the same lines in both.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/metrics_text.h"

#define LABELS_MAX	512	/* one sample's label set, escaped */

static const char *const outcome_names[MCO_COUNT] = {
	"served", "busy", "per_ip", "denied", "proxy_bad",
};
static const char *const refusal_names[MR_COUNT] = {
	"relay", "dnsbl", "limit", "tls_required", "auth_failed", "sender",
	"recipient", "milter", "other",
};
static const char *const tls_names[MTV_COUNT] = {
	"TLSv1.2", "TLSv1.3", "other",
};
static const char *const delivery_names[MDO_COUNT] = {
	"sent", "deferred", "bounced",
};
static const char *const dest_names[MDC_COUNT] = {
	"local", "smarthost", "mx",
};
static const uint64_t commit_bounds[] = METRICS_COMMIT_BOUNDS;

_Static_assert(sizeof(commit_bounds) / sizeof(commit_bounds[0]) ==
    METRICS_COMMIT_BUCKETS - 1, "a bound for every bucket but +Inf");

/* --- the sum ------------------------------------------------------------- */

/* Read as the counting processes write: atomically, relaxed. */
static uint64_t
u(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static int64_t
s(const int64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void
metrics_text_sum(const struct metrics_slot *slots, size_t nslots,
    struct metrics_slot *out)
{
	size_t n, i, j;

	memset(out, 0, sizeof(*out));
	for (n = 0; n < nslots; n++) {
		const struct metrics_slot *x = &slots[n];

		for (i = 0; i < METRICS_LISTENERS; i++) {
			out->conn_open[i] += s(&x->conn_open[i]);
			for (j = 0; j < MCO_COUNT; j++)
				out->conn_total[i][j] += u(&x->conn_total[i][j]);
			out->messages[i] += u(&x->messages[i]);
			out->message_bytes[i] += u(&x->message_bytes[i]);
		}
		for (i = 0; i < MR_COUNT; i++)
			out->refusals[i] += u(&x->refusals[i]);
		for (i = 0; i < MTV_COUNT; i++)
			out->tls_sessions[i] += u(&x->tls_sessions[i]);
		out->auth_success += u(&x->auth_success);
		out->auth_failure += u(&x->auth_failure);
		for (i = 0; i < MDO_COUNT; i++)
			for (j = 0; j < MDC_COUNT; j++)
				out->deliveries[i][j] += u(&x->deliveries[i][j]);
		for (i = 0; i < METRICS_COMMIT_BUCKETS; i++)
			out->commit_bucket[i] += u(&x->commit_bucket[i]);
		out->commit_count += u(&x->commit_count);
		out->commit_sum_us += u(&x->commit_sum_us);
		out->dns_queries += u(&x->dns_queries);
		out->dns_failures += u(&x->dns_failures);
		out->proxy_headers += u(&x->proxy_headers);
		out->journal_syncs += u(&x->journal_syncs);
		out->journal_writeouts += u(&x->journal_writeouts);
		/* The runner's alone: nobody else sets them. */
		if (n == METRICS_SLOT_RUNNER) {
			out->queue_entries = s(&x->queue_entries);
			out->queue_held = s(&x->queue_held);
			out->queue_oldest = s(&x->queue_oldest);
		}
	}
}

/* --- writing ------------------------------------------------------------- */

struct out {
	struct buf	*b;
	bool		 om;		/* OpenMetrics */
	bool		 full;		/* an append failed */
};

static void
put(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
put(struct out *o, const char *fmt, ...)
{
	char	 line[LABELS_MAX + 256];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    buf_append(o->b, line, (size_t)n) == -1)
		o->full = true;
}

/* family - the comments before a family's samples. type is the
 * OpenMetrics one; unit NULL for none. */
static void
family(struct out *o, const char *name, const char *type, const char *unit,
    const char *help)
{
	if (o->om) {
		put(o, "# TYPE %s %s\n", name, type);
		if (unit != NULL)
			put(o, "# UNIT %s %s\n", name, unit);
		put(o, "# HELP %s %s\n", name, help);
	} else if (strcmp(type, "counter") == 0) {
		put(o, "# HELP %s_total %s\n# TYPE %s_total counter\n", name,
		    help, name);
	} else if (strcmp(type, "info") == 0) {
		put(o, "# HELP %s_info %s\n# TYPE %s_info gauge\n", name, help,
		    name);
	} else
		put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* label - `key="value"` added to the set in l (escaped as both formats
 * want: backslash, double quote, line feed) */
static void
label(struct out *o, char *l, const char *key, const char *value)
{
	size_t n = strlen(l);
	int w;

	w = snprintf(l + n, LABELS_MAX - n, "%s%s=\"", n ? "," : "", key);
	if (w < 0 || (size_t)w >= LABELS_MAX - n)
		goto full;
	n += (size_t)w;
	for (; *value != '\0'; value++) {
		const char *e = *value == '\\' ? "\\\\" : *value == '"' ?
		    "\\\"" : *value == '\n' ? "\\n" : NULL;
		size_t k = e != NULL ? 2 : 1;

		if (n + k + 2 > LABELS_MAX)
			goto full;
		memcpy(l + n, e != NULL ? e : value, k);
		n += k;
	}
	memcpy(l + n, "\"", 2);
	return;
full:
	o->full = true;
}

/* sample - one line: name, suffix, the label set l (may be empty) */
static void
sample_u(struct out *o, const char *name, const char *suffix, const char *l,
    uint64_t v)
{
	put(o, "%s%s%s%s%s %" PRIu64 "\n", name, suffix, *l ? "{" : "", l,
	    *l ? "}" : "", v);
}

static void
sample_s(struct out *o, const char *name, const char *suffix, const char *l,
    int64_t v)
{
	put(o, "%s%s%s%s%s %" PRId64 "\n", name, suffix, *l ? "{" : "", l,
	    *l ? "}" : "", v);
}

/* seconds - microseconds as seconds, exactly, with a decimal point and
 * no trailing zero past the first decimal: "0.00025", "1.0", "2.5" */
static void
seconds(uint64_t us, char *out, size_t outlen)
{
	size_t n;

	snprintf(out, outlen, "%" PRIu64 ".%06" PRIu64, us / 1000000,
	    us % 1000000);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '0' && out[n - 2] != '.')
		out[--n] = '\0';
}

/* listener_labels - l: listener and role of index i */
static void
listener_labels(struct out *o, char *l, const struct metrics_text_listener *t)
{
	l[0] = '\0';
	label(o, l, "listener", t->listener);
	label(o, l, "role", t->role);
}

/* per_listener - a counter's samples, one per listener with labels */
static void
per_listener(struct out *o, const struct metrics_text_listener *ls,
    const char *name, const uint64_t *v)
{
	char l[LABELS_MAX];
	size_t i;

	for (i = 0; i < METRICS_LISTENERS; i++)
		if (ls[i].listener != NULL) {
			listener_labels(o, l, &ls[i]);
			sample_u(o, name, "_total", l, v[i]);
		}
}

/* per_name - a counter's samples, one per value of label `key` */
static void
per_name(struct out *o, const char *name, const char *key,
    const char *const *names, size_t n, const uint64_t *v)
{
	char l[LABELS_MAX];
	size_t i;

	for (i = 0; i < n; i++) {
		l[0] = '\0';
		label(o, l, key, names[i]);
		sample_u(o, name, "_total", l, v[i]);
	}
}

/* --- the families ---------------------------------------------------------- */

static void
render_process(struct out *o, const struct metrics_text_info *info)
{
	char l[LABELS_MAX] = "";

	family(o, "sallyport_build", "info", NULL, "The version of sallyport "
	    "that is running.");
	label(o, l, "version", info->version);
	sample_u(o, "sallyport_build", "_info", l, 1);
	family(o, "sallyport_process_start_time_seconds", "gauge", "seconds",
	    "When the daemon started, in seconds since the Unix epoch.");
	sample_s(o, "sallyport_process_start_time_seconds", "", "",
	    info->start_time);
	family(o, "sallyport_workers", "gauge", NULL, "Processes serving SMTP "
	    "clients: worker processes running, or 1 for the only process.");
	sample_u(o, "sallyport_workers", "", "", info->workers);
}

static void
render_connections(struct out *o, const struct metrics_slot *t,
    const struct metrics_text_info *info)
{
	const struct metrics_text_listener *ls = info->listeners;
	char l[LABELS_MAX];
	size_t i, j;

	family(o, "sallyport_connections_open", "gauge", NULL, "Client "
	    "connections open now, by listener.");
	for (i = 0; i < METRICS_LISTENERS; i++)
		if (ls[i].listener != NULL) {
			listener_labels(o, l, &ls[i]);
			sample_s(o, "sallyport_connections_open", "", l,
			    t->conn_open[i]);
		}
	family(o, "sallyport_connections", "counter", NULL, "Client "
	    "connections, by listener and by what became of them.");
	for (i = 0; i < METRICS_LISTENERS; i++)
		for (j = 0; ls[i].listener != NULL && j < MCO_COUNT; j++) {
			listener_labels(o, l, &ls[i]);
			label(o, l, "outcome", outcome_names[j]);
			sample_u(o, "sallyport_connections", "_total", l,
			    t->conn_total[i][j]);
		}
	family(o, "sallyport_refusals", "counter", NULL, "Commands and "
	    "connections refused, by reason.");
	per_name(o, "sallyport_refusals", "reason", refusal_names, MR_COUNT,
	    t->refusals);
}

static void
render_messages(struct out *o, const struct metrics_slot *t,
    const struct metrics_text_info *info)
{
	family(o, "sallyport_messages_accepted", "counter", NULL, "Messages "
	    "accepted into the queue (250 after DATA), by listener.");
	per_listener(o, info->listeners, "sallyport_messages_accepted",
	    t->messages);
	family(o, "sallyport_message_bytes", "counter", "bytes", "Bytes of "
	    "the messages accepted, by listener.");
	per_listener(o, info->listeners, "sallyport_message_bytes",
	    t->message_bytes);
	family(o, "sallyport_tls_sessions", "counter", NULL, "TLS handshakes "
	    "completed with clients, by protocol version.");
	per_name(o, "sallyport_tls_sessions", "version", tls_names, MTV_COUNT,
	    t->tls_sessions);
	family(o, "sallyport_auth", "counter", NULL, "SMTP AUTH attempts, by "
	    "result.");
	sample_u(o, "sallyport_auth", "_total", "result=\"success\"",
	    t->auth_success);
	sample_u(o, "sallyport_auth", "_total", "result=\"failure\"",
	    t->auth_failure);
}

static void
render_queue(struct out *o, const struct metrics_slot *t,
    const struct metrics_text_info *info)
{
	char l[LABELS_MAX], le[32];
	uint64_t cum = 0;
	size_t i, j;

	family(o, "sallyport_queue_entries", "gauge", NULL, "Entries in the "
	    "queue: scheduled for delivery (active), or held.");
	sample_s(o, "sallyport_queue_entries", "", "state=\"active\"",
	    t->queue_entries);
	sample_s(o, "sallyport_queue_entries", "", "state=\"held\"",
	    t->queue_held);
	family(o, "sallyport_queue_oldest_age_seconds", "gauge", "seconds",
	    "Age of the oldest entry in the queue; 0 when it is empty.");
	sample_s(o, "sallyport_queue_oldest_age_seconds", "", "",
	    t->queue_oldest > 0 && info->now > t->queue_oldest ?
	    info->now - t->queue_oldest : 0);
	family(o, "sallyport_deliveries", "counter", NULL, "Delivery attempts, "
	    "one per recipient, by outcome and by destination.");
	for (i = 0; i < MDO_COUNT; i++)
		for (j = 0; j < MDC_COUNT; j++) {
			l[0] = '\0';
			label(o, l, "outcome", delivery_names[i]);
			label(o, l, "destination", dest_names[j]);
			sample_u(o, "sallyport_deliveries", "_total", l,
			    t->deliveries[i][j]);
		}
	family(o, "sallyport_commit_latency_seconds", "histogram", "seconds",
	    "Time from the end of a message's data to its being durable in "
	    "the queue.");
	for (i = 0; i < METRICS_COMMIT_BUCKETS; i++) {
		cum += t->commit_bucket[i];
		if (i < METRICS_COMMIT_BUCKETS - 1)
			seconds(commit_bounds[i], le, sizeof(le));
		else
			snprintf(le, sizeof(le), "+Inf");
		l[0] = '\0';
		label(o, l, "le", le);
		sample_u(o, "sallyport_commit_latency_seconds", "_bucket", l,
		    cum);
	}
	/* The count is the +Inf bucket's, read once: never one apart from
	 * it while a commit is being counted. */
	sample_u(o, "sallyport_commit_latency_seconds", "_count", "", cum);
	seconds(t->commit_sum_us, le, sizeof(le));
	put(o, "sallyport_commit_latency_seconds_sum %s\n", le);
}

static void
render_other(struct out *o, const struct metrics_slot *t)
{
	family(o, "sallyport_dns_queries", "counter", NULL, "DNS lookups "
	    "made.");
	sample_u(o, "sallyport_dns_queries", "_total", "", t->dns_queries);
	family(o, "sallyport_dns_failures", "counter", NULL, "DNS lookups "
	    "that failed (no answer in time, a server failure).");
	sample_u(o, "sallyport_dns_failures", "_total", "", t->dns_failures);
	family(o, "sallyport_proxy_headers", "counter", NULL, "PROXY protocol "
	    "headers taken on proxy listeners.");
	sample_u(o, "sallyport_proxy_headers", "_total", "", t->proxy_headers);
	family(o, "sallyport_journal_syncs", "counter", NULL, "Group "
	    "commits: each makes every message appended to a journal since "
	    "the last one durable with one synced write.");
	sample_u(o, "sallyport_journal_syncs", "_total", "", t->journal_syncs);
	family(o, "sallyport_journal_writeouts", "counter", NULL, "Batches "
	    "of journalled messages written out to the queue's directories, "
	    "each with one syncfs.");
	sample_u(o, "sallyport_journal_writeouts", "_total", "",
	    t->journal_writeouts);
}

int
metrics_text_render(struct buf *b, const struct metrics_slot *slots,
    size_t nslots, const struct metrics_text_info *info)
{
	struct out o = { b, info->openmetrics, false };
	struct metrics_slot total;

	metrics_text_sum(slots, nslots, &total);
	render_process(&o, info);
	render_connections(&o, &total, info);
	render_messages(&o, &total, info);
	render_queue(&o, &total, info);
	render_other(&o, &total);
	if (o.om)
		put(&o, "# EOF\n");
	return o.full ? -1 : 0;
}
