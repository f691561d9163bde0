/*
 * tlsrpt_report - the aggregate of a day's sessions and its reports in
 * RFC 8460 4.4's JSON.
 *
 * A policy is told apart by its type, its MX host and its policy
 * strings (one per MX host for DANE, whose TLSA records are the
 * host's; one for the domain's MTA-STS policy; one "no-policy-found");
 * a failure detail by its result type, addresses, MX host and reason.
 * Both keep the order in which they were first seen, so the same day
 * gives the same report. Lookups are linear: a domain has few policies
 * and a policy few kinds of failure, and the limits bound both.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "tlspol/tlsrpt_report.h"

#define JSON_MAX	(16u << 20)	/* one report; the default limits keep it
					 * far below */

struct detail {
	enum tlsrpt_result	 result;
	char			*sending_ip, *receiving_mx, *receiving_ip;
	char			*reason;
	unsigned long		 count;
};

struct policy {
	enum tlsrpt_policy	 type;
	char			*mx_host;
	char			**pstr;
	size_t			 npstr;
	unsigned long		 success, failure;
	struct detail		*det;
	size_t			 ndet;
};

struct domain {
	char			*name;
	struct policy		*pol;
	size_t			 npol;
};

struct tlsrpt_agg {
	struct domain		*dom;
	size_t			 ndom;
	size_t			 max_domains, max_policies, max_details;
	unsigned long		 dropped;
	time_t			 first, last;
};

struct tlsrpt_agg *
tlsrpt_agg_new(size_t max_domains, size_t max_policies, size_t max_details)
{
	struct tlsrpt_agg *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->max_domains = max_domains;
	a->max_policies = max_policies;
	a->max_details = max_details;
	return a;
}

static void
policy_free(struct policy *p)
{
	size_t i;

	free(p->mx_host);
	for (i = 0; i < p->npstr; i++)
		free(p->pstr[i]);
	free(p->pstr);
	for (i = 0; i < p->ndet; i++) {
		free(p->det[i].sending_ip);
		free(p->det[i].receiving_mx);
		free(p->det[i].receiving_ip);
		free(p->det[i].reason);
	}
	free(p->det);
}

void
tlsrpt_agg_free(struct tlsrpt_agg *a)
{
	size_t i, j;

	if (a == NULL)
		return;
	for (i = 0; i < a->ndom; i++) {
		for (j = 0; j < a->dom[i].npol; j++)
			policy_free(&a->dom[i].pol[j]);
		free(a->dom[i].pol);
		free(a->dom[i].name);
	}
	free(a->dom);
	free(a);
}

/* same - two optional strings are equal (NULL is "") */
static bool
same(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* dup - a copy of an optional string ("" for NULL), cut at max */
static char *
dup(const char *s, size_t max)
{
	return strndup(s ? s : "", max);
}

static struct domain *
find_domain(struct tlsrpt_agg *a, const char *name, int *full)
{
	struct domain *d;
	size_t i;

	for (i = 0; i < a->ndom; i++)
		if (strcmp(a->dom[i].name, name) == 0)
			return &a->dom[i];
	if (a->ndom >= a->max_domains) {
		*full = 1;
		return NULL;
	}
	if ((d = realloc(a->dom, (a->ndom + 1) * sizeof(*d))) == NULL)
		return NULL;
	a->dom = d;
	d = &a->dom[a->ndom];
	memset(d, 0, sizeof(*d));
	if ((d->name = strdup(name)) == NULL)
		return NULL;
	a->ndom++;
	return d;
}

static bool
policy_is(const struct policy *p, const struct tlsrpt_session *s)
{
	size_t i;

	if (p->type != s->policy || !same(p->mx_host, s->mx_host) ||
	    p->npstr != s->npstrings)
		return false;
	for (i = 0; i < p->npstr; i++)
		if (!same(p->pstr[i], s->pstrings[i]))
			return false;
	return true;
}

static struct policy *
find_policy(struct tlsrpt_agg *a, struct domain *d,
    const struct tlsrpt_session *s, int *full)
{
	struct policy *p;
	size_t i;

	for (i = 0; i < d->npol; i++)
		if (policy_is(&d->pol[i], s))
			return &d->pol[i];
	if (d->npol >= a->max_policies) {
		*full = 1;
		return NULL;
	}
	if ((p = realloc(d->pol, (d->npol + 1) * sizeof(*p))) == NULL)
		return NULL;
	d->pol = p;
	p = &d->pol[d->npol];
	memset(p, 0, sizeof(*p));
	p->type = s->policy;
	if ((p->mx_host = dup(s->mx_host, 512)) == NULL ||
	    (s->npstrings && (p->pstr = calloc(s->npstrings,
	    sizeof(*p->pstr))) == NULL)) {
		policy_free(p);
		return NULL;
	}
	for (i = 0; i < s->npstrings; i++) {
		if ((p->pstr[i] = dup(s->pstrings[i], TLSRPT_PSTRING_MAX)) ==
		    NULL) {
			policy_free(p);
			return NULL;
		}
		p->npstr++;
	}
	d->npol++;
	return p;
}

/* add_detail - count a failure in p's details; one of a kind past
 * max_details is counted in the policy's failures only */
static int
add_detail(struct tlsrpt_agg *a, struct policy *p,
    const struct tlsrpt_session *s)
{
	struct detail *d;
	size_t i;

	for (i = 0; i < p->ndet; i++) {
		d = &p->det[i];
		if (d->result == s->result && same(d->sending_ip,
		    s->sending_ip) && same(d->receiving_mx, s->receiving_mx) &&
		    same(d->receiving_ip, s->receiving_ip) &&
		    same(d->reason, s->reason)) {
			d->count++;
			return 0;
		}
	}
	if (p->ndet >= a->max_details)
		return 0;
	if ((d = realloc(p->det, (p->ndet + 1) * sizeof(*d))) == NULL)
		return -1;
	p->det = d;
	d = &p->det[p->ndet];
	memset(d, 0, sizeof(*d));
	d->result = s->result;
	d->count = 1;
	if ((d->sending_ip = dup(s->sending_ip, 64)) == NULL ||
	    (d->receiving_mx = dup(s->receiving_mx, TLSRPT_TEXT_MAX)) == NULL ||
	    (d->receiving_ip = dup(s->receiving_ip, 64)) == NULL ||
	    (d->reason = dup(s->reason, TLSRPT_TEXT_MAX)) == NULL) {
		free(d->sending_ip);
		free(d->receiving_mx);
		free(d->receiving_ip);
		free(d->reason);
		return -1;
	}
	p->ndet++;
	return 0;
}

int
tlsrpt_agg_add(struct tlsrpt_agg *a, const struct tlsrpt_session *s)
{
	char name[TLSRPT_DOMAIN_MAX + 1];
	struct domain *d;
	struct policy *p;
	size_t i;
	int full = 0;

	if (s->domain == NULL || s->domain[0] == '\0')
		return 1;
	for (i = 0; s->domain[i] && i < TLSRPT_DOMAIN_MAX; i++)
		name[i] = (char)tolower((unsigned char)s->domain[i]);
	name[i] = '\0';
	if ((d = find_domain(a, name, &full)) == NULL ||
	    (p = find_policy(a, d, s, &full)) == NULL) {
		if (!full)
			return -1;
		a->dropped++;
		return 1;
	}
	if (s->result == TLSRPT_SUCCESS)
		p->success++;
	else {
		p->failure++;
		if (add_detail(a, p, s) == -1)
			return -1;
	}
	if (a->first == 0 || s->when < a->first)
		a->first = s->when;
	if (s->when > a->last)
		a->last = s->when;
	return 0;
}

size_t
tlsrpt_agg_ndomains(const struct tlsrpt_agg *a)
{
	return a->ndom;
}

const char *
tlsrpt_agg_domain(const struct tlsrpt_agg *a, size_t i)
{
	return i < a->ndom ? a->dom[i].name : NULL;
}

unsigned long
tlsrpt_agg_dropped(const struct tlsrpt_agg *a)
{
	return a->dropped;
}

void
tlsrpt_agg_span(const struct tlsrpt_agg *a, time_t *first, time_t *last)
{
	*first = a->first;
	*last = a->last;
}

void
tlsrpt_datetime(time_t t, char out[21])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, 21,
	    "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
		memcpy(out, "1970-01-01T00:00:00Z", 21);
}

/* --- JSON ------------------------------------------------------------------ */

/* utf8_len - the length of the well-formed UTF-8 sequence at s (at
 * most n octets), 0 if there is none: no overlong forms, surrogates or
 * code points past U+10FFFF */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* jstr - s as a JSON string (RFC 8259 7): quotes, backslashes and
 * control characters escaped, octets that are not UTF-8 as U+FFFD */
static void
jstr(struct buf *b, const char *s, int *rc)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p), k;

	*rc |= buf_append(b, "\"", 1);
	while (n > 0) {
		if (*p == '"' || *p == '\\') {
			*rc |= buf_printf(b, "\\%c", *p);
			k = 1;
		} else if (*p < 0x20 || *p == 0x7f) {
			*rc |= buf_printf(b, "\\u%04x", *p);
			k = 1;
		} else if ((k = utf8_len(p, n)) == 0) {
			*rc |= buf_append(b, "\xef\xbf\xbd", 3);
			k = 1;
		} else
			*rc |= buf_append(b, p, k);
		p += k;
		n -= k;
	}
	*rc |= buf_append(b, "\"", 1);
}

/* jkey - "key":"value", after a comma unless first */
static void
jkv(struct buf *b, const char *key, const char *value, int *rc)
{
	*rc |= buf_printf(b, ",\"%s\":", key);
	jstr(b, value, rc);
}

/* mx_host - tlsa: the host's name; sts: the policy's patterns as an
 * array (RFC 8460 4.4, "mx-host") */
static void
mx_host(struct buf *b, const struct policy *p, int *rc)
{
	char *copy, *tok, *save;
	bool first = true;

	if (p->mx_host[0] == '\0')
		return;
	if (p->type != TLSRPT_STS) {
		jkv(b, "mx-host", p->mx_host, rc);
		return;
	}
	if ((copy = strdup(p->mx_host)) == NULL) {
		*rc = -1;
		return;
	}
	*rc |= buf_append(b, ",\"mx-host\":[", 12);
	for (tok = strtok_r(copy, " \t", &save); tok;
	    tok = strtok_r(NULL, " \t", &save)) {
		if (!first)
			*rc |= buf_append(b, ",", 1);
		jstr(b, tok, rc);
		first = false;
	}
	*rc |= buf_append(b, "]", 1);
	free(copy);
}

static void
policy_json(struct buf *b, const char *domain, const struct policy *p,
    int *rc)
{
	size_t i;

	*rc |= buf_printf(b, "{\"policy\":{\"policy-type\":\"%s\"",
	    tlsrpt_policy_name(p->type));
	if (p->npstr > 0) {
		*rc |= buf_append(b, ",\"policy-string\":[", 18);
		for (i = 0; i < p->npstr; i++) {
			if (i > 0)
				*rc |= buf_append(b, ",", 1);
			jstr(b, p->pstr[i], rc);
		}
		*rc |= buf_append(b, "]", 1);
	}
	jkv(b, "policy-domain", domain, rc);
	mx_host(b, p, rc);
	*rc |= buf_printf(b, "},\"summary\":{\"total-successful-session-count\""
	    ":%lu,\"total-failure-session-count\":%lu}", p->success,
	    p->failure);
	if (p->ndet > 0) {
		*rc |= buf_append(b, ",\"failure-details\":[", 20);
		for (i = 0; i < p->ndet; i++) {
			const struct detail *d = &p->det[i];

			*rc |= buf_printf(b, "%s{\"result-type\":\"%s\"",
			    i > 0 ? "," : "", tlsrpt_result_name(d->result));
			if (d->sending_ip[0])
				jkv(b, "sending-mta-ip", d->sending_ip, rc);
			if (d->receiving_mx[0])
				jkv(b, "receiving-mx-hostname",
				    d->receiving_mx, rc);
			if (d->receiving_ip[0])
				jkv(b, "receiving-ip", d->receiving_ip, rc);
			*rc |= buf_printf(b, ",\"failed-session-count\":%lu",
			    d->count);
			if (d->reason[0])
				jkv(b, "failure-reason-code", d->reason, rc);
			*rc |= buf_append(b, "}", 1);
		}
		*rc |= buf_append(b, "]", 1);
	}
	*rc |= buf_append(b, "}", 1);
}

char *
tlsrpt_report_json(const struct tlsrpt_agg *a, size_t i,
    const struct tlsrpt_meta *m, size_t *len)
{
	const struct domain *d;
	char start[21], end[21];
	struct buf b;
	size_t k;
	int rc = 0;

	if (i >= a->ndom)
		return NULL;
	d = &a->dom[i];
	buf_init(&b, JSON_MAX);
	tlsrpt_datetime(m->start, start);
	tlsrpt_datetime(m->end, end);
	rc |= buf_append(&b, "{\"organization-name\":", 21);
	jstr(&b, m->org, &rc);
	rc |= buf_printf(&b, ",\"date-range\":{\"start-datetime\":\"%s\","
	    "\"end-datetime\":\"%s\"}", start, end);
	jkv(&b, "contact-info", m->contact, &rc);
	jkv(&b, "report-id", m->report_id, &rc);
	rc |= buf_append(&b, ",\"policies\":[", 13);
	for (k = 0; k < d->npol; k++) {
		if (k > 0)
			rc |= buf_append(&b, ",", 1);
		policy_json(&b, d->name, &d->pol[k], &rc);
	}
	rc |= buf_append(&b, "]}\n", 3);
	if (rc != 0) {
		int saved = errno;	/* ENOBUFS: past JSON_MAX */

		buf_free(&b);
		errno = saved;
		return NULL;
	}
	*len = b.len;
	return b.data;
}
