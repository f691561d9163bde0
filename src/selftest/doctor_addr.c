/*
 * doctor_addr - the deployment doctor's checks of names and addresses:
 * the MX of every local domain points at us, each public address has a
 * PTR naming the hostname that resolves back to it (the HELO name that
 * receivers compare), none is on a configured DNSBL, and, when asked,
 * whether port 25 out is open at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "conf/dnsbl_site.h"
#include "dns/dns_answer.h"
#include "dns/resolve.h"
#include "selftest/doctor.h"

#define DETAIL_MAX	1024
#define PROBE_TIMEOUT	10	/* seconds to connect, and for the greeting */

/* same_name - two DNS names, ignoring case and one final dot */
static bool
same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la && a[la - 1] == '.')
		la--;
	if (lb && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

/* append - add to a detail being built, cut when full */
static void __attribute__((format(printf, 3, 4)))
append(char *out, size_t outlen, const char *fmt, ...)
{
	size_t o = strlen(out);
	va_list ap;

	va_start(ap, fmt);
	if (o < outlen)
		vsnprintf(out + o, outlen - o, fmt, ap);
	va_end(ap);
}

/* fix_address_records - the A/AAAA that make the hostname ours */
static void
fix_address_records(struct doctor *d, struct doc_check *c, const char *host)
{
	for (size_t i = 0; i < d->naddrs; i++)
		doc_fix(c, "publish: %s. IN %s %s", host,
		    d->addrs[i].ss.ss_family == AF_INET6 ? "AAAA" : "A",
		    d->addrs[i].text);
}

/* host_is_ours - does host resolve to one of our addresses? Its
 * addresses in words in out. */
static enum dns_result
host_is_ours(struct doctor *d, const char *host, bool *ours, char *out,
    size_t outlen)
{
	struct sockaddr_storage ss[DOC_ADDRS_MAX];
	char text[NETADDR_STRLEN];
	enum dns_result r;
	size_t n;

	*ours = false;
	out[0] = '\0';
	r = doc_host_addrs(d, host, ss, &n);
	for (size_t i = 0; i < n; i++) {
		netaddr_format((struct sockaddr *)&ss[i], text, sizeof(text));
		append(out, outlen, "%s%s", i ? ", " : "", text);
		if (doc_is_ours(d, (struct sockaddr *)&ss[i]))
			*ours = true;
	}
	if (r == DNS_NOT_FOUND)
		snprintf(out, outlen, "no A or AAAA record");
	else if (r == DNS_TEMPFAIL && n == 0)
		snprintf(out, outlen, "no answer from DNS");
	return r;
}

/* --- MX ----------------------------------------------------------------- */

static void
mx_fix(struct doctor *d, struct doc_check *c, const char *domain,
    bool replace)
{
	char where[DETAIL_MAX];
	bool ours;

	doc_fix(c, "publish: %s. IN MX 10 %s.%s", domain, d->cfg->hostname,
	    replace ? " (in place of the MX records there now)" : "");
	if (host_is_ours(d, d->cfg->hostname, &ours, where, sizeof(where)) !=
	    DNS_TEMPFAIL && !ours)
		fix_address_records(d, c, d->cfg->hostname);
}

static void
mx_domain(struct doctor *d, const char *domain)
{
	char names[DOC_NAMES_MAX][256], detail[DETAIL_MAX], where[DETAIL_MAX];
	size_t n, ours = 0, tempfail = 0;
	struct doc_check *c;
	enum dns_result r;
	bool mine;

	if ((c = doc_add(d, "mx", domain)) == NULL)
		return;
	r = doc_names(d, domain, DNS_TYPE_MX, names, &n);
	if (r == DNS_TEMPFAIL) {
		doc_set(c, DOC_ERROR, "no answer from DNS for %s MX", domain);
		return;
	}
	if (r == DNS_NOT_FOUND) {
		doc_set(c, DOC_FAIL, "no MX record: senders fall back to the "
		    "domain's own address, if it has one");
		mx_fix(d, c, domain, false);
		return;
	}
	if (n == 1 && names[0][0] == '\0') {
		doc_set(c, DOC_FAIL, "a null MX (RFC 7505): the domain says it "
		    "takes no mail");
		mx_fix(d, c, domain, true);
		return;
	}
	detail[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		r = host_is_ours(d, names[i], &mine, where, sizeof(where));
		ours += mine;
		tempfail += r == DNS_TEMPFAIL && !mine;
		append(detail, sizeof(detail), "%sMX %s -> %s%s", i ? "; " : "",
		    names[i], where, d->naddrs == 0 || mine || r != DNS_FOUND ?
		    "" : " (not ours)");
	}
	if (d->naddrs == 0)
		doc_set(c, DOC_WARN, "%s; whether that is us is unknown (see "
		    "addresses)", detail);
	else if (ours == n)
		doc_set(c, DOC_PASS, "%s", detail);
	else if (ours == 0 && tempfail > 0)
		doc_set(c, DOC_ERROR, "%s", detail);
	else if (ours == 0) {
		doc_set(c, DOC_FAIL, "%s: no MX host is this server", detail);
		mx_fix(d, c, domain, true);
	} else
		doc_set(c, DOC_WARN, "%s: not every MX host is this server (a "
		    "backup MX must take the mail and pass it on to us)",
		    detail);
}

void
doc_job_mx(struct doctor *d)
{
	for (size_t i = 0; i < d->cfg->local_domains.n; i++)
		mx_domain(d, d->cfg->local_domains.v[i]);
}

/* --- PTR and forward-confirmed reverse DNS ------------------------------- */

static void
ptr_address(struct doctor *d, const struct doc_addr *a)
{
	const char *host = d->cfg->hostname;
	char names[DOC_NAMES_MAX][256], rev[128], where[DETAIL_MAX];
	char found[DETAIL_MAX] = "";
	struct doc_check *c;
	enum dns_result r;
	bool match = false, ours;
	size_t n;

	if ((c = doc_add(d, "ptr", a->text)) == NULL)
		return;
	if (netaddr_reverse((const struct sockaddr *)&a->ss, NULL, rev,
	    sizeof(rev)) == -1) {
		doc_set(c, DOC_ERROR, "no reverse name for this address");
		return;
	}
	r = doc_names(d, rev, DNS_TYPE_PTR, names, &n);
	if (r == DNS_TEMPFAIL) {
		doc_set(c, DOC_ERROR, "no answer from DNS for %s PTR", rev);
		return;
	}
	if (r == DNS_NOT_FOUND) {
		doc_set(c, DOC_FAIL, "no PTR record at %s: many receivers "
		    "refuse mail from an address without one", rev);
		doc_fix(c, "publish: %s. IN PTR %s. (the reverse zone is "
		    "kept by whoever gave you the address: set it in their "
		    "control panel or ask them)", rev, host);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		append(found, sizeof(found), "%s%s", i ? ", " : "", names[i]);
		if (same_name(names[i], host))
			match = true;
	}
	if (!match) {
		doc_set(c, DOC_FAIL, "PTR %s, not the HELO name (hostname) %s",
		    found, host);
		doc_fix(c, "publish: %s. IN PTR %s. (in place of %s; the "
		    "reverse zone is kept by whoever gave you the address)",
		    rev, host, found);
		return;
	}
	r = host_is_ours(d, host, &ours, where, sizeof(where));
	if (ours)
		doc_set(c, DOC_PASS, "PTR %s, and %s -> %s (forward-confirmed)",
		    host, host, where);
	else if (r == DNS_TEMPFAIL)
		doc_set(c, DOC_ERROR, "PTR %s; %s: %s", host, host, where);
	else {
		doc_set(c, DOC_FAIL, "PTR %s, but %s -> %s: the reverse DNS is "
		    "not forward-confirmed", host, host, where);
		doc_fix(c, "publish: %s. IN %s %s", host,
		    a->ss.ss_family == AF_INET6 ? "AAAA" : "A", a->text);
	}
}

void
doc_job_ptr(struct doctor *d)
{
	for (size_t i = 0; i < d->naddrs; i++)
		ptr_address(d, &d->addrs[i]);
}

/* --- DNSBLs ------------------------------------------------------------- */

struct listing {
	const struct dnsbl_site *site;
	char		 codes[DETAIL_MAX];	/* the A records that match */
	bool		 listed, refused;
};

static void
dnsbl_rr(void *arg, unsigned type, const void *data, size_t len)
{
	struct listing *l = arg;
	const uint8_t *a = data;
	char text[32];

	if (type != DNS_TYPE_A || len != 4)
		return;
	snprintf(text, sizeof(text), "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
	if (dnsbl_error_code(a))
		l->refused = true;
	else if (dnsbl_site_match(l->site, a)) {
		l->listed = true;
		append(l->codes, sizeof(l->codes), "%s%s", l->codes[0] ? ", " :
		    "", text);
	}
}

/* dnsbl_reason - the list's TXT record for the listing, in words */
static void
dnsbl_reason(struct doctor *d, const char *qname, char *out, size_t outlen)
{
	struct dns_txt_set set;

	out[0] = '\0';
	if (doc_txt(d, qname, &set) == DNS_FOUND)
		doc_printable(set.v[0].text, set.v[0].len, out, outlen);
	dns_txt_set_free(&set);
}

static void
dnsbl_address(struct doctor *d, const struct doc_addr *a)
{
	const struct strlist *sites = &d->cfg->dnsbl;
	char qname[DNSBL_ZONE_MAX + 80], err[256], reason[512];
	char listed[DETAIL_MAX] = "", failed[DETAIL_MAX] = "";
	struct doc_check *c;
	struct doc_answer ans;
	struct dnsbl_site site;
	struct listing l;
	size_t nlisted = 0;

	if ((c = doc_add(d, "dnsbl", a->text)) == NULL)
		return;
	for (size_t i = 0; i < sites->n; i++) {
		/* The configuration was checked with this parser. */
		if (dnsbl_site_parse(sites->v[i], &site, err, sizeof(err)) ==
		    -1 || site.weight < 0 || netaddr_reverse(
		    (const struct sockaddr *)&a->ss, site.zone, qname,
		    sizeof(qname)) == -1)
			continue;
		memset(&l, 0, sizeof(l));
		l.site = &site;
		doc_query(d, qname, DNS_TYPE_A, &ans);
		if (ans.r == DNS_TEMPFAIL || (ans.msg != NULL &&
		    dns_answer_each(ans.msg, ans.len, DNS_TYPE_A, dnsbl_rr, &l) ==
		    -1))
			append(failed, sizeof(failed), "%s%s: no answer",
			    failed[0] ? "; " : "", site.zone);
		else if (l.refused && !l.listed)
			append(failed, sizeof(failed), "%s%s: refuses our "
			    "resolver (127.255.255.x)", failed[0] ? "; " : "",
			    site.zone);
		doc_answer_free(&ans);
		if (!l.listed)
			continue;
		nlisted++;
		dnsbl_reason(d, qname, reason, sizeof(reason));
		append(listed, sizeof(listed), "%s%s (%s%s%s)", listed[0] ?
		    "; " : "", site.zone, l.codes, reason[0] ? ": " : "",
		    reason);
		doc_fix(c, "ask the operator of %s to delist %s (the listing: "
		    "%s A)", site.zone, a->text, qname);
	}
	if (nlisted > 0)
		doc_set(c, DOC_FAIL, "listed on %s", listed);
	else if (failed[0] != '\0')
		doc_set(c, DOC_ERROR, "%s", failed);
	else
		doc_set(c, DOC_PASS, "on none of the %zu configured DNSBLs",
		    sites->n);
}

void
doc_job_dnsbl(struct doctor *d)
{
	if (d->cfg->dnsbl.n == 0)
		return;
	for (size_t i = 0; i < d->naddrs; i++)
		dnsbl_address(d, &d->addrs[i]);
}

/* --- --probe-outbound --------------------------------------------------- */

/* probe_connect - connect to ss port 25 and read the greeting's first
 * line; 0, or -1 with why */
static int
probe_connect(struct sockaddr_storage *ss, char *line, size_t linelen,
    char *why, size_t whylen)
{
	struct pollfd pfd;
	socklen_t len = ss->ss_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int fd, soerr = 0, rc = -1;
	ssize_t got;
	size_t o = 0;

	((struct sockaddr_in *)ss)->sin_port = htons(25);
	if ((fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (connect(fd, (struct sockaddr *)ss, len) == -1 &&
	    errno != EINPROGRESS) {
		snprintf(why, whylen, "connect: %s", strerror(errno));
		goto out;
	}
	if (poll(&pfd, 1, PROBE_TIMEOUT * 1000) != 1) {
		snprintf(why, whylen, "connect: no answer in %d s", PROBE_TIMEOUT);
		goto out;
	}
	len = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1 ||
	    soerr != 0) {
		snprintf(why, whylen, "connect: %s", strerror(soerr ? soerr :
		    errno));
		goto out;
	}
	pfd.events = POLLIN;
	while (o + 1 < linelen && memchr(line, '\n', o) == NULL &&
	    poll(&pfd, 1, PROBE_TIMEOUT * 1000) == 1 &&
	    (got = read(fd, line + o, linelen - 1 - o)) > 0)
		o += (size_t)got;
	line[o] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	rc = 0;
out:
	close(fd);
	return rc;
}

void
doc_job_probe(struct doctor *d)
{
	struct mx_host mx[8];
	struct sockaddr_storage ss[4];
	char line[512], greet[600], why[256], text[NETADDR_STRLEN];
	struct doc_check *c;
	size_t n = 0, na = 0;

	if (d->probe_domain == NULL ||
	    (c = doc_add(d, "outbound", d->probe_domain)) == NULL)
		return;
	if (resolve_mx(d->cfg, d->probe_domain, mx, 8, &n) != RESOLVE_OK ||
	    n == 0 || resolve_addrs(d->cfg, mx[0].name, ss, 4, &na) !=
	    RESOLVE_OK || na == 0) {
		doc_set(c, DOC_ERROR, "no MX host address for %s in DNS",
		    d->probe_domain);
		return;
	}
	netaddr_format((struct sockaddr *)&ss[0], text, sizeof(text));
	if (probe_connect(&ss[0], line, sizeof(line), why, sizeof(why)) ==
	    -1) {
		doc_set(c, DOC_FAIL, "%s [%s]:25: %s", mx[0].name, text, why);
		doc_fix(c, "outbound port 25 looks blocked: ask your provider "
		    "to open it, or send through a smarthost (smarthost = "
		    "HOST:587)");
		return;
	}
	doc_printable(line, strlen(line), greet, sizeof(greet));
	doc_set(c, DOC_PASS, "%s [%s]:25 connected: %s", mx[0].name, text,
	    greet[0] ? greet : "(no greeting)");
}
