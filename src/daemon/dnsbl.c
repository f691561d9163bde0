/*
 * dnsbl - look a client up in the DNS blocklists (see dnsbl.h).
 *
 * One dns_query (A records) a dnsbl item, all sent at once; dns.c
 * caches each answer for its TTL, so a client that comes back costs no
 * query. The verdict waits for every answer or for dnsbl_timeout,
 * whichever comes first: a zone that has not answered by then, or that
 * failed (SERVFAIL, c-ares's own timeout), counts as not listing the
 * client, with a log line, as Postfix's postscreen does.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "conf/config.h"
#include "conf/dnsbl_site.h"
#include "daemon/dnsbl.h"
#include "dns/dns.h"
#include "dns/dns_answer.h"
#include "lib/netaddr.h"
#include "lib/log.h"
#include "smtp/smtp_reply.h"

/* Zones whose error code (127.255.255.x) was logged: once a process
 * (the code means every query to that zone fails the same way). */
#define ERR_LOGGED_MAX	32

struct zone_q {
	struct dnsbl	*b;
	struct dnsbl_site site;
	struct dns_req	*req;
	bool		 done;
	bool		 listed;
};

struct dnsbl {
	struct ev_loop	*loop;
	const struct config *cfg;
	unsigned long	 sid;
	char		 addr_text[64];
	struct zone_q	*q;
	size_t		 n, pending;
	bool		 starting;	/* inside dnsbl_start */
	ev_timer	 timer;
	dnsbl_cb	*cb;
	void		*arg;
};

static char	err_logged[ERR_LOGGED_MAX][DNSBL_ZONE_MAX + 1];

/* error_code_seen - log a zone's error code the first time only */
static void
error_code_seen(const struct zone_q *q, const uint8_t a[4])
{
	size_t i;

	for (i = 0; i < ERR_LOGGED_MAX && err_logged[i][0] != '\0'; i++)
		if (strcmp(err_logged[i], q->site.zone) == 0)
			return;
	if (i < ERR_LOGGED_MAX)
		snprintf(err_logged[i], sizeof(err_logged[i]), "%s",
		    q->site.zone);
	log_warn("s=%lx dnsbl: %s answered error code %u.%u.%u.%u (see the "
	    "list's terms of use: a public resolver is often refused); "
	    "never taken as a listing, logged once", q->b->sid,
	    q->site.zone, a[0], a[1], a[2], a[3]);
}

static void
feed_a(void *arg, unsigned type, const void *data, size_t len)
{
	struct zone_q *q = arg;
	const uint8_t *a = data;

	if (type != DNS_TYPE_A || len != 4)
		return;
	if (dnsbl_error_code(a))
		error_code_seen(q, a);
	else if (dnsbl_site_match(&q->site, a))
		q->listed = true;
}

/* finish - add up, log, answer, free */
static void
finish(struct dnsbl *b)
{
	char zones[512], reply[512];
	const struct zone_q *top = NULL;
	size_t zl = 0;
	long score = 0;

	ev_timer_stop(b->loop, &b->timer);
	zones[0] = '\0';
	for (size_t i = 0; i < b->n; i++) {
		const struct zone_q *q = &b->q[i];
		int w;

		if (!q->listed)
			continue;
		score += q->site.weight;
		if (q->site.weight > 0 &&
		    (top == NULL || q->site.weight > top->site.weight))
			top = q;
		w = snprintf(zones + zl, sizeof(zones) - zl, "%s%s*%d",
		    zl ? " " : "", q->site.zone, q->site.weight);
		if (w > 0 && (size_t)w < sizeof(zones) - zl)
			zl += (size_t)w;
	}
	if (zl > 0)
		log_info("s=%lx dnsbl: client [%s] score %ld (threshold %u), "
		    "listed by %s: %s", b->sid, b->addr_text, score,
		    b->cfg->dnsbl_threshold, zones,
		    score >= b->cfg->dnsbl_threshold && top ? "refused" :
		    "passed");
	if (score >= b->cfg->dnsbl_threshold && top != NULL) {
		if (b->cfg->dnsbl_reply != NULL)
			snprintf(reply, sizeof(reply), R_DNSBL "%s",
			    b->cfg->dnsbl_reply);
		else
			snprintf(reply, sizeof(reply), R_DNSBL R_DNSBL_DEFAULT,
			    b->addr_text, top->site.zone);
		b->cb(b->arg, reply);
	} else {
		b->cb(b->arg, NULL);
	}
	free(b->q);
	free(b);
}

static void
answered(void *arg, enum dns_result result, const unsigned char *msg,
    size_t len)
{
	struct zone_q *q = arg;
	struct dnsbl *b = q->b;

	q->req = NULL;
	q->done = true;
	b->pending--;
	if (result == DNS_TEMPFAIL)
		log_info("s=%lx dnsbl: %s did not answer for [%s]; taken as "
		    "not listed", b->sid, q->site.zone, b->addr_text);
	else if (result == DNS_FOUND && msg != NULL)
		(void)dns_answer_each(msg, len, DNS_TYPE_A, feed_a, q);
	if (b->pending == 0 && !b->starting)
		finish(b);
}

static void
on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dnsbl *b = w->data;

	(void)loop;
	(void)revents;
	for (size_t i = 0; i < b->n; i++) {
		struct zone_q *q = &b->q[i];

		if (q->done)
			continue;
		dns_cancel(q->req);
		q->req = NULL;
		log_info("s=%lx dnsbl: %s did not answer for [%s] within "
		    "dnsbl_timeout (%us); taken as not listed", b->sid,
		    q->site.zone, b->addr_text, b->cfg->dnsbl_timeout);
	}
	finish(b);
}

struct dnsbl *
dnsbl_start(struct ev_loop *loop, struct dns *dns, const struct config *cfg,
    const struct sockaddr *client, const char *addr_text, unsigned long sid,
    dnsbl_cb *cb, void *arg)
{
	struct dnsbl *b;
	char name[DNSBL_ZONE_MAX + 80], err[256];

	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->q = calloc(cfg->dnsbl.n, sizeof(*b->q))) == NULL) {
		free(b);
		log_warn("s=%lx dnsbl: out of memory; [%s] not checked", sid,
		    addr_text);
		cb(arg, NULL);
		return NULL;
	}
	b->loop = loop;
	b->cfg = cfg;
	b->sid = sid;
	snprintf(b->addr_text, sizeof(b->addr_text), "%s", addr_text);
	b->cb = cb;
	b->arg = arg;
	ev_timer_init(&b->timer, on_timeout, cfg->dnsbl_timeout, 0.);
	b->timer.data = b;
	b->starting = true;
	for (size_t i = 0; i < cfg->dnsbl.n; i++) {
		struct zone_q *q = &b->q[b->n];

		/* The config was checked with this parser: no error. */
		if (dnsbl_site_parse(cfg->dnsbl.v[i], &q->site, err,
		    sizeof(err)) == -1 || netaddr_reverse(client, q->site.zone,
		    name, sizeof(name)) == -1)
			continue;
		q->b = b;
		b->n++;
		b->pending++;
		q->req = dns_query(dns, name, DNS_TYPE_A, answered, q);
	}
	b->starting = false;
	if (b->pending == 0) {
		finish(b);
		return NULL;
	}
	ev_timer_start(loop, &b->timer);
	return b;
}

void
dnsbl_cancel(struct dnsbl *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++)
		dns_cancel(b->q[i].req);
	ev_timer_stop(b->loop, &b->timer);
	free(b->q);
	free(b);
}
