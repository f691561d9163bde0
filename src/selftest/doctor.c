/*
 * doctor - what the deployment doctor's jobs share: the public
 * addresses, the DNS helpers that wait on the loop, the checks and the
 * exit status.
 */
#include <ev.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "conf/ownaddr.h"
#include "dns/dns_answer.h"
#include "selftest/doctor.h"

#define DOC_TEXT_MAX	(16 * 1024)	/* a detail or fix */

/* --- checks ------------------------------------------------------------- */

struct doc_check *
doc_add(struct doctor *d, const char *name, const char *subject)
{
	struct doc_check *c;

	if (d->nchecks == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 16;
		struct doc_check *v = realloc(d->checks, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		d->checks = v;
		d->cap = cap;
	}
	c = &d->checks[d->nchecks];
	memset(c, 0, sizeof(*c));
	if ((c->name = strdup(name)) == NULL ||
	    (c->subject = strdup(subject)) == NULL ||
	    (c->detail = strdup("")) == NULL) {
		free(c->name);
		free(c->subject);
		return NULL;
	}
	d->nchecks++;
	return c;
}

/* vtext - a malloc'd string from a format; NULL without memory */
static char *
vtext(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) == -1)
		return NULL;
	if (strlen(s) > DOC_TEXT_MAX)
		s[DOC_TEXT_MAX] = '\0';
	return s;
}

void
doc_set(struct doc_check *c, enum doc_verdict v, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (c == NULL)
		return;
	c->verdict = v;
	va_start(ap, fmt);
	s = vtext(fmt, ap);
	va_end(ap);
	if (s != NULL) {
		free(c->detail);
		c->detail = s;
	}
}

void
doc_fix(struct doc_check *c, const char *fmt, ...)
{
	va_list ap;
	char *s, *joined;

	if (c == NULL)
		return;
	va_start(ap, fmt);
	s = vtext(fmt, ap);
	va_end(ap);
	if (s == NULL)
		return;
	if (c->fix == NULL) {
		c->fix = s;
		return;
	}
	if (asprintf(&joined, "%s\n%s", c->fix, s) != -1) {
		free(c->fix);
		c->fix = joined;
	}
	free(s);
}

const char *
doc_verdict_name(enum doc_verdict v)
{
	switch (v) {
	case DOC_PASS:	return "PASS";
	case DOC_WARN:	return "WARN";
	case DOC_FAIL:	return "FAIL";
	default:	return "ERROR";
	}
}

int
doctor_exit_code(const struct doctor *d)
{
	bool error = false;

	for (size_t i = 0; i < d->nchecks; i++) {
		if (d->checks[i].verdict == DOC_FAIL)
			return 1;
		if (d->checks[i].verdict == DOC_ERROR)
			error = true;
	}
	return error ? 2 : 0;
}

void
doctor_free(struct doctor *d)
{
	for (size_t i = 0; i < d->nchecks; i++) {
		free(d->checks[i].name);
		free(d->checks[i].subject);
		free(d->checks[i].detail);
		free(d->checks[i].fix);
	}
	free(d->checks);
	free(d->addrs);
	d->checks = NULL;
	d->addrs = NULL;
	d->nchecks = d->cap = d->naddrs = 0;
}

/* --- DNS on the loop ---------------------------------------------------- */

struct pending {
	bool		 done;
	struct doc_answer *a;
};

static void
on_msg(void *arg, enum dns_result r, const unsigned char *msg, size_t len)
{
	struct pending *p = arg;

	p->done = true;
	p->a->r = r;
	if (msg == NULL || len == 0)
		return;
	if ((p->a->msg = malloc(len)) == NULL) {
		p->a->r = DNS_TEMPFAIL;
		return;
	}
	memcpy(p->a->msg, msg, len);
	p->a->len = len;
}

bool
doc_wait(struct doctor *d)
{
	return ev_run(d->loop, EVRUN_ONCE) != 0;
}

void
doc_query(struct doctor *d, const char *name, unsigned type,
    struct doc_answer *a)
{
	struct pending p = { false, a };
	struct dns_req *req;

	memset(a, 0, sizeof(*a));
	a->r = DNS_TEMPFAIL;
	req = dns_query(d->dns, name, type, on_msg, &p);
	while (!p.done) {
		/* No watcher left and no answer: dns lost the request. */
		if (!doc_wait(d) && !p.done) {
			dns_cancel(req);
			return;
		}
	}
}

void
doc_answer_free(struct doc_answer *a)
{
	free(a->msg);
	a->msg = NULL;
	a->len = 0;
}

struct names {
	char	(*v)[256];
	size_t	 n;
};

static void
add_name(void *arg, unsigned type, const void *data, size_t len)
{
	struct names *nm = arg;

	(void)type;
	if (nm->n < DOC_NAMES_MAX && len < 256) {
		memcpy(nm->v[nm->n], data, len);
		nm->v[nm->n][len] = '\0';
		nm->n++;
	}
}

enum dns_result
doc_names(struct doctor *d, const char *name, unsigned type, char out[][256],
    size_t *n)
{
	struct names nm = { out, 0 };
	struct doc_answer a;

	doc_query(d, name, type, &a);
	if (a.r != DNS_TEMPFAIL && a.msg != NULL &&
	    dns_answer_each(a.msg, a.len, type, add_name, &nm) == -1)
		a.r = DNS_TEMPFAIL;
	doc_answer_free(&a);
	*n = nm.n;
	if (a.r == DNS_FOUND && nm.n == 0)
		a.r = DNS_NOT_FOUND;
	return a.r;
}

struct addrs {
	struct sockaddr_storage *v;
	size_t	 n;
};

static void
add_addr(void *arg, unsigned type, const void *data, size_t len)
{
	struct addrs *ad = arg;
	struct sockaddr_storage *ss;

	if (ad->n >= DOC_ADDRS_MAX)
		return;
	ss = &ad->v[ad->n];
	memset(ss, 0, sizeof(*ss));
	if (type == DNS_TYPE_A && len == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, data, 4);
		ad->n++;
	} else if (type == DNS_TYPE_AAAA && len == 16) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, data, 16);
		ad->n++;
	}
}

enum dns_result
doc_host_addrs(struct doctor *d, const char *host, struct sockaddr_storage *out,
    size_t *n)
{
	static const unsigned types[] = { DNS_TYPE_A, DNS_TYPE_AAAA };
	struct addrs ad = { out, 0 };
	struct doc_answer a;
	bool tempfail = false;

	for (size_t i = 0; i < 2; i++) {
		doc_query(d, host, types[i], &a);
		if (a.r == DNS_TEMPFAIL || (a.msg != NULL &&
		    dns_answer_each(a.msg, a.len, types[i], add_addr, &ad) ==
		    -1))
			tempfail = true;
		doc_answer_free(&a);
	}
	*n = ad.n;
	if (ad.n > 0)
		return DNS_FOUND;
	return tempfail ? DNS_TEMPFAIL : DNS_NOT_FOUND;
}

enum dns_result
doc_txt(struct doctor *d, const char *name, struct dns_txt_set *set)
{
	struct doc_answer a;
	enum dns_result r;

	memset(set, 0, sizeof(*set));
	doc_query(d, name, DNS_TYPE_TXT, &a);
	r = a.r;
	if (a.msg != NULL && dns_txt_set_read(a.msg, a.len, set) == -1)
		r = DNS_TEMPFAIL;
	doc_answer_free(&a);
	if (r == DNS_FOUND && set->n == 0)
		r = DNS_NOT_FOUND;
	return r;
}

void
doc_printable(const char *in, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen == 0)
		return;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int w;

		if (o + 8 >= outlen) {
			snprintf(out + o, outlen - o, "...");
			return;
		}
		w = snprintf(out + o, outlen - o, c >= 0x20 && c < 0x7f &&
		    c != '\\' ? "%c" : "\\x%02x", c);
		o += (size_t)w;
	}
	out[o] = '\0';
}

void
doc_spf_mech(const struct doc_addr *a, char *out, size_t outlen)
{
	snprintf(out, outlen, "ip%c:%s", a->ss.ss_family == AF_INET6 ? '6' :
	    '4', a->text);
}

/* --- our addresses ------------------------------------------------------ */

static bool
same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
	char ta[NETADDR_STRLEN], tb[NETADDR_STRLEN];

	netaddr_format(a, ta, sizeof(ta));
	netaddr_format(b, tb, sizeof(tb));
	return ta[0] != '\0' && strcmp(ta, tb) == 0;
}

bool
doc_is_ours(const struct doctor *d, const struct sockaddr *sa)
{
	for (size_t i = 0; i < d->naddrs; i++)
		if (same_addr((const struct sockaddr *)&d->addrs[i].ss, sa))
			return true;
	return false;
}

static int
add_public(struct doctor *d, const struct sockaddr_storage *ss)
{
	struct doc_addr *v;

	if (doc_is_ours(d, (const struct sockaddr *)ss))
		return 0;
	if ((v = realloc(d->addrs, (d->naddrs + 1) * sizeof(*v))) == NULL)
		return -1;
	d->addrs = v;
	v[d->naddrs].ss = *ss;
	netaddr_format((const struct sockaddr *)ss, v[d->naddrs].text,
	    sizeof(v[d->naddrs].text));
	d->naddrs++;
	return 0;
}

/* add_cidrs - the single addresses of a list of networks */
static int
add_cidrs(struct doctor *d, const struct cidr *v, size_t n, const char *from)
{
	struct sockaddr_storage ss;

	for (size_t i = 0; i < n; i++) {
		const struct cidr *c = &v[i];

		if (c->prefix != (c->family == AF_INET ? 32u : 128u))
			continue;
		memset(&ss, 0, sizeof(ss));
		if (c->family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			s4->sin_family = AF_INET;
			memcpy(&s4->sin_addr, c->addr, 4);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			s6->sin6_family = AF_INET6;
			memcpy(&s6->sin6_addr, c->addr, 16);
		}
		if (add_public(d, &ss) == -1)
			return -1;
		d->addrs_from = from;
	}
	return 0;
}

/* find_addresses - public_addresses; else the single addresses of
 * own_addresses and the listeners' addresses, neither a wildcard nor
 * loopback; else none (the report says so) */
static int
find_addresses(struct doctor *d)
{
	const struct config *cfg = d->cfg;
	struct sockaddr_storage ss;

	if (add_cidrs(d, cfg->public_addresses, cfg->npublic_addresses,
	    "public_addresses") == -1)
		return -1;
	if (d->naddrs > 0)
		return 0;
	if (add_cidrs(d, cfg->own_addresses, cfg->nown_addresses,
	    "own_addresses and the listeners") == -1)
		return -1;
	for (size_t i = 0; i < cfg->nlisten; i++) {
		const struct listen_spec *l = &cfg->listen[i];

		if (l->role == ROLE_METRICS || l->host == NULL ||
		    netaddr_from_text(l->host, &ss) == -1 ||
		    ownaddr_loopback((struct sockaddr *)&ss) ||
		    ownaddr_unspecified((struct sockaddr *)&ss))
			continue;
		if (add_public(d, &ss) == -1)
			return -1;
		d->addrs_from = cfg->nown_addresses ?
		    "own_addresses and the listeners" : "the listeners";
	}
	return 0;
}

/* no_addresses - the one check that says why the address checks are
 * not there */
static void
no_addresses(struct doctor *d)
{
	struct doc_check *c = doc_add(d, "addresses", d->cfg->hostname);

	doc_set(c, DOC_WARN, "our public addresses are unknown: no "
	    "public_addresses, and every listener is a wildcard or loopback; "
	    "the MX targets are not compared, and PTR, SPF and DNSBL are not "
	    "checked");
	doc_fix(c, "set in %s: public_addresses = IP ... (the addresses the "
	    "world connects to and sees our mail come from)", d->cfg->path ?
	    d->cfg->path : "sallyport.conf");
}

int
doc_find_addresses(struct doctor *d)
{
	if (find_addresses(d) == -1)
		return -1;
	if (d->naddrs == 0)
		no_addresses(d);
	return 0;
}
