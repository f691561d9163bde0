/*
 * doctor_report - the deployment doctor's report: a paragraph saying
 * what was asked of whom, one line per check (verdict, job, subject,
 * what was found) with its fix under it, and a summary line; or the
 * same as one JSON object, strings escaped as the self-test's are.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "selftest/doctor.h"
#include "selftest/selftest.h"

#define SUMMARY_MAX	(64 * 1024)

struct doc_counts {
	unsigned	 n[DOC_ERROR + 1];
};

static void
count(const struct doctor *d, struct doc_counts *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < d->nchecks; i++)
		c->n[d->checks[i].verdict]++;
}

/* summary - "checks: 9 PASS, 1 WARN, 1 FAIL, 0 ERROR: FAIL ptr
 * 192.0.2.25; WARN dmarc example.org" */
static void
summary(const struct doctor *d, struct buf *b)
{
	struct doc_counts c;
	bool first = true;

	count(d, &c);
	buf_printf(b, "checks: %u PASS, %u WARN, %u FAIL, %u ERROR",
	    c.n[DOC_PASS], c.n[DOC_WARN], c.n[DOC_FAIL], c.n[DOC_ERROR]);
	for (size_t i = 0; i < d->nchecks; i++) {
		const struct doc_check *k = &d->checks[i];

		if (k->verdict == DOC_PASS)
			continue;
		buf_printf(b, "%s%s %s %s", first ? ": " : "; ",
		    doc_verdict_name(k->verdict), k->name, k->subject);
		first = false;
	}
	if (first)
		buf_printf(b, ": the world sees this server as it should");
}

static void
list_text(FILE *fp, char *const *v, size_t n, const char *none)
{
	if (n == 0)
		fputs(none, fp);
	for (size_t i = 0; i < n; i++)
		fprintf(fp, "%s%s", i ? ", " : "", v[i]);
}

/* put_text - n bytes of s, those outside printable ASCII as \xNN (a
 * name or record from DNS may hold any byte) */
static void
put_text(FILE *fp, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f)
			fputc(c, fp);
		else
			fprintf(fp, "\\x%02x", c);
	}
}

/* print_lines - each line of s, the first after prefix, the others
 * lined up under it */
static void
print_lines(FILE *fp, const char *prefix, const char *s)
{
	int w = (int)strlen(prefix);
	const char *nl;
	bool first = true;

	for (; s != NULL; s = nl ? nl + 1 : NULL, first = false) {
		nl = strchr(s, '\n');
		fprintf(fp, "        %-*s", w, first ? prefix : "");
		put_text(fp, s, nl ? (size_t)(nl - s) : strlen(s));
		fputc('\n', fp);
	}
}

void
doctor_print_text(const struct doctor *d, FILE *fp)
{
	const struct config *cfg = d->cfg;
	struct buf b;

	fprintf(fp, "Deployment doctor for %s: hostname %s; local domains ",
	    cfg->path ? cfg->path : "(configuration)", cfg->hostname);
	list_text(fp, cfg->local_domains.v, cfg->local_domains.n, "none");
	fputs("; public addresses ", fp);
	for (size_t i = 0; i < d->naddrs; i++)
		fprintf(fp, "%s%s", i ? ", " : "", d->addrs[i].text);
	if (d->naddrs)
		fprintf(fp, " (%s)", d->addrs_from);
	else
		fputs("unknown", fp);
	fputs("; DNS asked of ", fp);
	list_text(fp, cfg->dns_servers.v, cfg->dns_servers.n,
	    "the servers of /etc/resolv.conf");
	fprintf(fp, " (dns_timeout %u s).\n\n", cfg->dns_timeout);
	for (size_t i = 0; i < d->nchecks; i++) {
		const struct doc_check *c = &d->checks[i];

		fprintf(fp, "  %-5s  %-8s ", doc_verdict_name(c->verdict),
		    c->name);
		put_text(fp, c->subject, strlen(c->subject));
		fputs(": ", fp);
		put_text(fp, c->detail, strlen(c->detail));
		fputc('\n', fp);
		if (c->fix != NULL)
			print_lines(fp, "fix: ", c->fix);
	}
	buf_init(&b, SUMMARY_MAX);
	summary(d, &b);
	fprintf(fp, "\n%.*s; run took %.1f ms\n", (int)b.len,
	    b.data ? b.data : "", d->elapsed * 1000);
	buf_free(&b);
}

void
doctor_print_json(const struct doctor *d, FILE *fp)
{
	const struct config *cfg = d->cfg;
	struct doc_counts c;
	struct buf b;

	fputs("{\n  \"mode\": \"dns\",\n  \"config\": ", fp);
	st_json_string(fp, cfg->path);
	fputs(",\n  \"hostname\": ", fp);
	st_json_string(fp, cfg->hostname);
	fputs(",\n  \"local_domains\": ", fp);
	st_json_strings(fp, cfg->local_domains.v, cfg->local_domains.n);
	fputs(",\n  \"addresses\": [", fp);
	for (size_t i = 0; i < d->naddrs; i++) {
		fputs(i ? ", " : "", fp);
		st_json_string(fp, d->addrs[i].text);
	}
	fputs("],\n  \"addresses_from\": ", fp);
	st_json_string(fp, d->addrs_from);
	fputs(",\n  \"dns_servers\": ", fp);
	st_json_strings(fp, cfg->dns_servers.v, cfg->dns_servers.n);
	fputs(",\n  \"checks\": [", fp);
	for (size_t i = 0; i < d->nchecks; i++) {
		const struct doc_check *k = &d->checks[i];

		fprintf(fp, "%s\n    {\"check\": ", i ? "," : "");
		st_json_string(fp, k->name);
		fputs(", \"subject\": ", fp);
		st_json_string(fp, k->subject);
		fputs(", \"verdict\": ", fp);
		st_json_string(fp, doc_verdict_name(k->verdict));
		fputs(",\n     \"detail\": ", fp);
		st_json_string(fp, k->detail);
		fputs(",\n     \"fix\": ", fp);
		st_json_string(fp, k->fix);
		fputc('}', fp);
	}
	count(d, &c);
	buf_init(&b, SUMMARY_MAX);
	summary(d, &b);
	buf_append(&b, "", 1);
	fprintf(fp, "%s],\n  \"summary\": {\"pass\": %u, \"warn\": %u, "
	    "\"fail\": %u, \"error\": %u, \"elapsed\": %.6f, \"text\": ",
	    d->nchecks ? "\n  " : "", c.n[DOC_PASS], c.n[DOC_WARN],
	    c.n[DOC_FAIL], c.n[DOC_ERROR], d->elapsed);
	st_json_string(fp, b.data ? b.data : "");
	fprintf(fp, "},\n  \"exit\": %d\n}\n", doctor_exit_code(d));
	buf_free(&b);
}
