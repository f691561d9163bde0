/*
 * tlsrpt_run - the daily TLS-RPT run (RFC 8460 5): a day's file becomes
 * one report per policy domain that asks for reports.
 *
 * A day's file QUEUE_DIR/tlsrpt/DAY is first taken: renamed, under its
 * exclusive lock, to DAY.T<now> (a session of the same day recorded
 * after that starts a new DAY file). The taken file is then read into
 * an aggregate, and for each domain in it the _smtp._tls TXT record is
 * looked up; for a domain with one, the report goes to its mailto:
 * addresses as one message committed to our own queue, and the domain
 * is appended to DAY.T<now>.done. When every domain is done the two
 * files are removed. A run stopped half-way (a crash, a restart) is
 * finished by the next one from the taken file, skipping the domains
 * already listed as done: no report is lost, and only a crash between
 * a report's commit and its line in .done makes that one report twice.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "deliver/deliver_int.h"
#include "deliver/tlsrpt_msg.h"
#include "deliver/tlsrpt_out.h"
#include "dns/resolve.h"
#include "lib/log.h"
#include "tlspol/tlsrpt_record.h"

#define DAY_LEN		10		/* "2026-12-01" */
#define DONE_MAX	(1u << 20)	/* octets of a .done file read */

/* day_start - the UTC midnight a "YYYY-MM-DD" name says; -1 if none */
static time_t
day_start(const char *name)
{
	struct tm tm;
	int y, m, d, n = 0;

	if (sscanf(name, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 ||
	    n != DAY_LEN || m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	return timegm(&tm);
}

/* is_day - "YYYY-MM-DD" alone */
static bool
is_day(const char *name)
{
	return strlen(name) == DAY_LEN && day_start(name) != -1;
}

/* is_taken - "YYYY-MM-DD.T<digits>": *taken gets the time */
static bool
is_taken(const char *name, long long *taken)
{
	char *end;

	if (strlen(name) < DAY_LEN + 3 || day_start(name) == -1 ||
	    strncmp(name + DAY_LEN, ".T", 2) != 0 ||
	    name[DAY_LEN + 2] < '0' || name[DAY_LEN + 2] > '9')
		return false;
	*taken = strtoll(name + DAY_LEN + 2, &end, 10);
	return *end == '\0';
}

static void
utc_day(time_t t, char out[DAY_LEN + 1])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, DAY_LEN + 1, "%Y-%m-%d", &tm) == 0)
		snprintf(out, DAY_LEN + 1, "1970-01-01");
}

bool
tlsrpt_due(const char *queue_dir, time_t now, unsigned delay)
{
	char path[4096], today[DAY_LEN + 1];
	struct dirent *de;
	long long taken;
	bool due = false;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", queue_dir, TLSRPT_DIR);
	if ((d = opendir(path)) == NULL)
		return false;
	utc_day(now, today);
	while (!due && (de = readdir(d)) != NULL)
		due = is_taken(de->d_name, &taken) || (is_day(de->d_name) &&
		    strcmp(de->d_name, today) < 0);
	closedir(d);
	return due && now - day_start(today) >= (time_t)delay;
}

/* take - rename dir/day to dir/day.T<now> under its exclusive lock:
 * writers between their open and their lock see the name gone and
 * open the next file. The new name in out; 0, or -1 with errno. */
static int
take(int dfd, const char *day, time_t now, char *out, size_t outlen)
{
	int fd, rc, i;

	if ((fd = openat(dfd, day, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	if (flock(fd, LOCK_EX) == -1) {
		close(fd);
		return -1;
	}
	/* a name not yet used: two takes in one second get two */
	for (i = 0, rc = -1; i < 100 && rc == -1; i++) {
		snprintf(out, outlen, "%s.T%lld", day, (long long)now + i);
		if (faccessat(dfd, out, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		rc = renameat(dfd, day, dfd, out);
	}
	close(fd);
	/* the new name durable before any report is made from it: after a
	 * power loss the old name could come back beside queued reports,
	 * and be reported again whole */
	if (rc == 0 && fsync(dfd) == -1)
		return -1;
	return rc;
}

/* --- one taken file ---------------------------------------------------------- */

/* read_text - a small file of dir's, NUL ended, malloc'd; NULL if none */
static char *
read_text(int dfd, const char *name, size_t max)
{
	char *buf;
	size_t got = 0;
	ssize_t n;
	int fd;

	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return NULL;
	if ((buf = malloc(max + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	while (got < max && (n = read(fd, buf + got, max - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	return buf;
}

/* is_done - domain is a line of done */
static bool
is_done(const char *done, const char *domain)
{
	size_t n = strlen(domain);
	const char *p;

	for (p = done; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, domain, n) == 0 && p[n] == '\n')
			return true;
	return false;
}

/* mark_done - domain's report is committed: a line of name.done */
static void
mark_done(int dfd, const char *name, const char *domain)
{
	char path[512], line[TLSRPT_DOMAIN_MAX + 2];
	int fd, n;

	snprintf(path, sizeof(path), "%s.done", name);
	n = snprintf(line, sizeof(line), "%s\n", domain);
	fd = openat(dfd, path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	/* the line, and the file's name when this line made it */
	if (fd == -1 || write(fd, line, (size_t)n) != n ||
	    fdatasync(fd) == -1 || fsync(dfd) == -1)
		log_warn("tlsrpt: %s: %s (a crash now would report %s twice)",
		    path, strerror(errno), domain);
	if (fd != -1)
		close(fd);
}

/* aggregate - the taken file's lines; lines that do not parse (cut by
 * a crash, too long) are counted and skipped */
static struct tlsrpt_agg *
aggregate(const struct config *cfg, int dfd, const char *name,
    unsigned long *bad)
{
	struct tlsrpt_agg *a;
	struct tlsrpt_session s;
	char line[TLSRPT_LINE_MAX + 1];
	FILE *f;
	int fd;

	*bad = 0;
	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return NULL;
	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return NULL;
	}
	if ((a = tlsrpt_agg_new(cfg->tls_report_max_domains,
	    cfg->tls_report_max_entries, cfg->tls_report_max_entries)) == NULL) {
		fclose(f);
		return NULL;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strlen(line);

		if (n == 0 || line[n - 1] != '\n') {
			int c;

			/* too long, or cut at the end: skip to its end */
			while ((c = getc(f)) != EOF && c != '\n')
				;
			(*bad)++;
			continue;
		}
		line[n - 1] = '\0';
		if (tlsrpt_line_parse(line, &s) == -1) {
			(*bad)++;
			continue;
		}
		if (tlsrpt_agg_add(a, &s) == -1) {
			tlsrpt_agg_free(a);
			fclose(f);
			return NULL;
		}
	}
	fclose(f);
	return a;
}

/* rua - the mailto: addresses of domain's _smtp._tls record, at most
 * tls_report_max_recipients; 0 when it asks for no mail report */
static size_t
rua(const struct config *cfg, const char *domain, char (*addr)[TLSRPT_ADDR_MAX + 1])
{
	char name[TLSRPT_DOMAIN_MAX + 16];
	struct dns_txt_set set = { NULL, 0 };
	struct tlsrpt_record *rec;
	const char *why, **txts = NULL;
	size_t *lens = NULL, i, k, n = 0;
	bool secure;
	int rc;

	snprintf(name, sizeof(name), "_smtp._tls.%s", domain);
	rc = resolve_txt(cfg, name, &set, &secure);
	if (rc != RESOLVE_OK) {
		if (rc == RESOLVE_NONE)
			log_info("tlsrpt: %s: no TXT record: no report for %s",
			    name, domain);
		else
			log_warn("tlsrpt: %s: TXT lookup failed: no report for "
			    "%s this time", name, domain);
		dns_txt_set_free(&set);
		return 0;
	}
	rec = malloc(sizeof(*rec));
	txts = calloc(set.n, sizeof(*txts));
	lens = calloc(set.n, sizeof(*lens));
	for (i = 0; rec && txts && lens && i < set.n; i++) {
		txts[i] = set.v[i].text;
		lens[i] = set.v[i].len;
	}
	if (rec == NULL || txts == NULL || lens == NULL)
		log_warn("tlsrpt: %s: out of memory", name);
	else if (tlsrpt_record_select(txts, lens, set.n, rec, &why) == -1)
		log_info("tlsrpt: %s: %s: no report for %s", name, why, domain);
	else {
		for (i = 0; i < rec->nrua; i++) {
			if (n == cfg->tls_report_max_recipients) {
				log_info("tlsrpt: %s: more report addresses "
				    "than tls_report_max_recipients (%u)",
				    name, cfg->tls_report_max_recipients);
				break;
			}
			if (tlsrpt_mailto(rec->rua[i], addr[n],
			    TLSRPT_ADDR_MAX + 1) == 0) {
				/* one copy per address, however often (and
				 * however spelled) the record names it */
				for (k = 0; k < n && strcasecmp(addr[k],
				    addr[n]) != 0; k++)
					;
				n += k == n;
			} else if (strncasecmp(rec->rua[i], "https:", 6) == 0)
				log_info("tlsrpt: %s: https: report URIs are "
				    "not used (mail only)", name);
			else
				log_info("tlsrpt: %s: report URI not used (not "
				    "a plain mailto: address)", name);
		}
	}
	free(rec);
	free(txts);
	free(lens);
	dns_txt_set_free(&set);
	return n;
}

/* report - domain i of a: its report queued; true when done (sent or
 * not wanted), false to keep the file for the next run */
static bool
report(const struct deliver_ctx *dc, const struct config *cfg,
    const struct tlsrpt_agg *a, size_t i, const char *name, time_t start,
    time_t end, size_t seq, bool *unsigned_said)
{
	char addrs[16][TLSRPT_ADDR_MAX + 1], *rcpts[16];
	char from[300], contact[300], report_id[128];
	char err[512];
	struct tlsrpt_queued q;
	const char *domain = tlsrpt_agg_domain(a, i);
	struct tlsrpt_meta meta;
	struct tlsrpt_msg m;
	size_t n, k;

	if ((n = rua(cfg, domain, addrs)) == 0)
		return true;
	for (k = 0; k < n; k++)
		rcpts[k] = addrs[k];
	snprintf(from, sizeof(from), "%s", cfg->tls_report_from ?
	    cfg->tls_report_from : "");
	if (from[0] == '\0')
		snprintf(from, sizeof(from), "postmaster@%s", cfg->hostname);
	snprintf(contact, sizeof(contact), "%s", cfg->tls_report_contact ?
	    cfg->tls_report_contact : from);
	/* unique: one taken file a second, one report a domain in it */
	snprintf(report_id, sizeof(report_id), "%.*s.%s.%zu@%s", DAY_LEN, name,
	    name + DAY_LEN + 2, seq, cfg->hostname);
	memset(&meta, 0, sizeof(meta));
	meta.org = cfg->tls_report_org ? cfg->tls_report_org : cfg->hostname;
	meta.contact = contact;
	meta.report_id = report_id;
	meta.start = start;
	meta.end = end;
	memset(&m, 0, sizeof(m));
	if ((m.json = tlsrpt_report_json(a, i, &meta, &m.json_len)) == NULL) {
		if (errno == ENOBUFS) {
			/* the same every run: kept, the day would come back
			 * every hour for ever */
			log_err("tlsrpt: report for %s past 16 MiB (lower "
			    "tls_report_max_entries): not sent", domain);
			return true;
		}
		log_warn("tlsrpt: report for %s: out of memory", domain);
		return false;
	}
	m.hostname = cfg->hostname;
	m.from = from;
	m.rcpts = rcpts;
	m.nrcpts = n;
	m.domain = domain;
	m.report_id = report_id;
	m.start = start;
	m.end = end;
	m.sign = cfg;
	if (tlsrpt_msg_queue(dc->queue, &m, &q, err, sizeof(err)) == -1) {
		log_err("tlsrpt: report for %s not queued: %s", domain, err);
		free((char *)m.json);
		return false;
	}
	free((char *)m.json);
	if (q.signatures == 0 && !*unsigned_said) {
		/* once a run: the same From: every time */
		log_warn("tlsrpt: reports from %s go unsigned: no dkim_sign key "
		    "covers its domain (RFC 8460 3 asks for a DKIM signature;"
		    " receivers may discard unsigned reports)", from);
		*unsigned_said = true;
	} else if (q.signatures == -1)
		log_warn("tlsrpt: report for %s goes unsigned: %s", domain,
		    q.dkim);
	log_info("tlsrpt: report %s for %s queued as %s to %zu address%s%s%s",
	    report_id, domain, q.id, n, n == 1 ? "" : "es",
	    q.signatures > 0 ? ", dkim " : "", q.signatures > 0 ? q.dkim : "");
	dc->queued(dc->owner, q.id);
	return true;
}

/* run_taken - the reports of one taken file, which goes when all are
 * done */
static void
run_taken(const struct deliver_ctx *dc, const struct config *cfg, int dfd,
    const char *name, long long taken, bool *unsigned_said)
{
	char done_name[512];
	struct tlsrpt_agg *a;
	unsigned long bad;
	time_t start = day_start(name), end;
	char *done;
	size_t i;
	bool all = true;

	/* a past day's report spans it (RFC 8460 4.4's example: 00:00:00
	 * to 23:59:59); a report asked for today ends when it was */
	end = start + 86399 < (time_t)taken ? start + 86399 : (time_t)taken;
	snprintf(done_name, sizeof(done_name), "%s.done", name);
	done = read_text(dfd, done_name, DONE_MAX);
	if ((a = aggregate(cfg, dfd, name, &bad)) == NULL) {
		log_err("tlsrpt: %s: cannot read: %s", name, strerror(errno));
		free(done);
		return;
	}
	if (bad > 0)
		log_warn("tlsrpt: %s: %lu line%s skipped (cut short or not "
		    "ours)", name, bad, bad == 1 ? "" : "s");
	if (tlsrpt_agg_dropped(a) > 0)
		log_warn("tlsrpt: %s: %lu session%s not reported "
		    "(tls_report_max_domains, tls_report_max_entries)", name,
		    tlsrpt_agg_dropped(a), tlsrpt_agg_dropped(a) == 1 ? "" :
		    "s");
	for (i = 0; i < tlsrpt_agg_ndomains(a); i++) {
		const char *domain = tlsrpt_agg_domain(a, i);

		if (done && is_done(done, domain))
			continue;
		if (report(dc, cfg, a, i, name, start, end, i, unsigned_said))
			mark_done(dfd, name, domain);
		else
			all = false;
	}
	tlsrpt_agg_free(a);
	free(done);
	if (!all)
		return;		/* the next run tries the rest */
	if (unlinkat(dfd, name, 0) == -1 || (unlinkat(dfd, done_name, 0) ==
	    -1 && errno != ENOENT))
		log_err("tlsrpt: %s: %s", name, strerror(errno));
}

void
tlsrpt_run(const struct deliver_ctx *dc, const struct config *cfg,
    time_t now, bool all)
{
	char path[4096], today[DAY_LEN + 1], taken_name[64];
	struct dirent *de;
	long long taken;
	char **names = NULL, **more;
	size_t n = 0, i;
	int dfd;
	DIR *d;
	bool unsigned_said = false;

	snprintf(path, sizeof(path), "%s/%s", cfg->queue_dir, TLSRPT_DIR);
	if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || (d = fdopendir(dup(dfd))) == NULL) {
		if (dfd != -1)
			close(dfd);
		return;
	}
	utc_day(now, today);
	/* the names first: taking renames files while we read */
	while ((de = readdir(d)) != NULL) {
		if (!is_taken(de->d_name, &taken) && !(is_day(de->d_name) &&
		    (all || strcmp(de->d_name, today) < 0)))
			continue;
		if ((more = realloc(names, (n + 1) * sizeof(*names))) == NULL)
			break;
		names = more;
		if ((names[n] = strdup(de->d_name)) != NULL)
			n++;
	}
	closedir(d);
	for (i = 0; i < n; i++) {
		if (is_day(names[i])) {
			if (take(dfd, names[i], now, taken_name,
			    sizeof(taken_name)) == -1) {
				log_err("tlsrpt: %s/%s: cannot take: %s", path,
				    names[i], strerror(errno));
				continue;
			}
			(void)is_taken(taken_name, &taken);
			run_taken(dc, cfg, dfd, taken_name, taken,
			    &unsigned_said);
		} else if (is_taken(names[i], &taken))
			run_taken(dc, cfg, dfd, names[i], taken,
			    &unsigned_said);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	close(dfd);
}
