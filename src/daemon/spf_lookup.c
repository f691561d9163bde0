/*
 * spf_lookup - drive the SPF state machine (auth/spf.c) from the event
 * loop: each question it asks goes to dns_query, each answer's records
 * go back through dns_answer_each. A lookup answered before dns_query
 * returns (no server reachable, a name c-ares refuses) is fed at once
 * and the loop goes on; otherwise we wait for the callback.
 */
#include <stdbool.h>
#include <stdlib.h>

#include <ev.h>

#include "auth/spf.h"
#include "conf/config.h"
#include "daemon/spf_lookup.h"
#include "dns/dns.h"
#include "dns/dns_answer.h"

struct spf_lookup {
	struct ev_loop	*loop;
	struct dns	*dns;
	struct spf	*spf;
	struct dns_req	*req;		/* the question out */
	unsigned	 qtype;
	bool		 stepping;	/* inside step(): no recursion */
	bool		 fed;		/* an answer came during dns_query */
	ev_timer	 budget;
	spf_lookup_cb	*cb;
	void		*arg;
};

void
spf_limits_from(const struct config *cfg, struct spf_limits *lim)
{
	lim->dns_terms = cfg->spf_max_lookups;
	lim->void_lookups = cfg->spf_max_void_lookups;
	lim->mx_names = lim->ptr_names = cfg->spf_max_names;
	lim->record_max = (size_t)cfg->spf_max_record_size;
}

static void
feed_rr(void *arg, unsigned type, const void *data, size_t len)
{
	struct spf_lookup *l = arg;

	spf_answer_rr(l->spf, type, data, len);
}

static bool step(struct spf_lookup *);

static void
answered(void *arg, enum dns_result result, const unsigned char *msg,
    size_t len)
{
	struct spf_lookup	*l = arg;
	enum spf_dns		 rcode = SPF_DNS_OK;

	l->req = NULL;
	if (result == DNS_TEMPFAIL)
		rcode = SPF_DNS_TEMPFAIL;
	else if (msg != NULL && dns_answer_each(msg, len, l->qtype, feed_rr,
	    l) == -1)
		rcode = SPF_DNS_TEMPFAIL;	/* unreadable: not a "no" */
	else if (result == DNS_NOT_FOUND)
		rcode = SPF_DNS_NXDOMAIN;
	spf_answer_end(l->spf, rcode);
	if (l->stepping)
		l->fed = true;
	else
		(void)step(l);
}

/* done - tell the asker, then free */
static void
done(struct spf_lookup *l)
{
	ev_timer_stop(l->loop, &l->budget);
	l->cb(l->arg, l->spf);
	spf_free(l->spf);
	free(l);
}

/* step - ask until a question is out (true) or the check is done and
 * l is freed (false) */
static bool
step(struct spf_lookup *l)
{
	struct spf_query q;

	while (spf_step(l->spf, &q)) {
		l->qtype = q.type;
		l->fed = false;
		l->stepping = true;
		l->req = dns_query(l->dns, q.name, q.type, answered, l);
		l->stepping = false;
		if (!l->fed)
			return true;	/* answered later, from the loop */
	}
	done(l);
	return false;
}

static void
budget_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct spf_lookup *l = w->data;

	(void)loop;
	(void)revents;
	/* Out of time: whatever is out is dropped. */
	dns_cancel(l->req);
	l->req = NULL;
	spf_abort(l->spf, "out of time (spf_timeout)");
	done(l);
}

struct spf_lookup *
spf_lookup_start(struct ev_loop *loop, struct dns *dns,
    const struct spf_params *p, double budget, spf_lookup_cb *cb, void *arg)
{
	struct spf_lookup *l;

	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->spf = spf_new(p)) == NULL) {
		free(l);
		cb(arg, NULL);
		return NULL;
	}
	l->loop = loop;
	l->dns = dns;
	l->cb = cb;
	l->arg = arg;
	ev_timer_init(&l->budget, budget_cb, budget, 0.);
	l->budget.data = l;
	if (budget > 0)
		ev_timer_start(loop, &l->budget);
	return step(l) ? l : NULL;
}

void
spf_lookup_cancel(struct spf_lookup *l)
{
	if (l == NULL)
		return;
	dns_cancel(l->req);
	ev_timer_stop(l->loop, &l->budget);
	spf_free(l->spf);
	free(l);
}
