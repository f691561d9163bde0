/*
 * mxcheck - run one transaction's checks on the event loop: SPF through
 * spf_lookup.c from MAIL on; DKIM verification fed as the message
 * streams, its keys asked at the end of DATA, all at once; then DMARC,
 * whose questions (the _dmarc TXT records, whether a domain exists) go
 * to dns.c like the rest. Each stage ends on its own budget as
 * temperror, so a DNS that never answers costs this session time and
 * nobody else anything. What the results say is mxcheck_verdict.c's.
 *
 * A callback (spf_cb, end_cb) may free the check (the engine ends the
 * transaction): nothing here touches it after calling one.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>
#include <openssl/rand.h>

#include "auth/dkim_verify.h"
#include "auth/dmarc.h"
#include "auth/spf.h"
#include "conf/config.h"
#include "daemon/mxcheck.h"
#include "daemon/mxcheck_int.h"
#include "daemon/spf_lookup.h"
#include "dns/dns.h"
#include "dns/dns_answer.h"
#include "lib/log.h"
#include "lib/netaddr.h"

#define TXT_RECORDS	8		/* records of one answer kept */
#define TXT_MAX		16384		/* octets of one record kept */

/* --- TXT answers --------------------------------------------------------- */

/* One answer's TXT records, each one's strings joined (RFC 7208 3.3,
 * RFC 6376 3.6.2.2, RFC 7489 6.1); more or longer ones are cut. */
struct txt_set {
	char	*rec[TXT_RECORDS];
	size_t	 len[TXT_RECORDS];
	size_t	 n;
	bool	 failed;		/* out of memory */
};

static void
txt_rr(void *arg, unsigned type, const void *data, size_t len)
{
	struct txt_set *t = arg;
	const unsigned char *p = data;
	size_t i = 0, k, take, n = 0;
	char *r;

	(void)type;
	if (t->n >= TXT_RECORDS)
		return;
	if ((r = malloc(len + 1)) == NULL) {
		t->failed = true;
		return;
	}
	while (i < len) {
		k = p[i++];
		if (k > len - i)
			k = len - i;
		take = k < TXT_MAX - n ? k : TXT_MAX - n;
		memcpy(r + n, p + i, take);
		n += take;
		i += k;
	}
	r[n] = '\0';
	t->rec[t->n] = r;
	t->len[t->n++] = n;
}

static void
txt_free(struct txt_set *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->rec[i]);
}

/* txt_read - the TXT records of an answer; -1: unreadable (temporary) */
static int
txt_read(struct txt_set *t, const unsigned char *msg, size_t len)
{
	memset(t, 0, sizeof(*t));
	if (msg != NULL && dns_answer_each(msg, len, DNS_TYPE_TXT, txt_rr,
	    t) == -1)
		t->failed = true;
	return t->failed ? -1 : 0;
}

/* --- the end ----------------------------------------------------------- */

/* advance - go on as far as what is done allows; the end callback may
 * free m */
static void dmarc_start(struct mxcheck *);

static void
advance(struct mxcheck *m)
{
	struct smtp_check_result r;
	mxcheck_cb *cb;

	if (!m->ended || !m->spf_done || !m->dkim_done)
		return;
	if (m->run_dmarc && !m->dmarc_started) {
		dmarc_start(m);
		return;		/* it comes back here */
	}
	if (m->run_dmarc && !m->dmarc_done)
		return;
	cb = m->end_cb;
	if (cb == NULL)
		return;
	m->end_cb = NULL;
	mxcheck_verdict(m, &r);
	cb(m->end_arg, &r);
}

/* --- SPF --------------------------------------------------------------- */

static void
on_spf(void *arg, const struct spf *spf)
{
	struct mxcheck *m = arg;
	struct smtp_check_result r;
	const char *why = NULL;
	mxcheck_cb *cb;

	m->spf = NULL;			/* spf_lookup frees itself */
	m->spf_done = true;
	if (spf == NULL) {
		m->spf_result = SPF_TEMPERROR;
		why = "out of memory";
	} else {
		m->spf_result = spf_result(spf);
		m->spf_helo = spf_identity(spf) == SPF_ID_HELO;
		snprintf(m->spf_domain, sizeof(m->spf_domain), "%s",
		    spf_domain(spf) ? spf_domain(spf) : "");
		why = m->spf_result == SPF_FAIL ? spf_explanation(spf) :
		    spf_problem(spf);
	}
	snprintf(m->spf_why, sizeof(m->spf_why), "%s", why ? why : "");
	if (m->spf_cb != NULL && m->starting) {
		/* Never inside mxcheck_new: from the loop, at once. */
		ev_timer_start(m->p.loop, &m->spf_later);
		return;
	}
	if ((cb = m->spf_cb) != NULL) {
		m->spf_cb = NULL;
		mxcheck_spf_verdict(m, &r);
		cb(m->spf_arg, &r);
		return;		/* m may be gone; the end is later */
	}
	advance(m);
}

static void
on_spf_later(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct mxcheck *m = w->data;
	struct smtp_check_result r;
	mxcheck_cb *cb = m->spf_cb;

	(void)loop;
	(void)revents;
	m->spf_cb = NULL;
	mxcheck_spf_verdict(m, &r);
	cb(m->spf_arg, &r);
}

static void
spf_start(struct mxcheck *m)
{
	const struct sockaddr *sa = m->p.client;
	struct spf_params sp;
	struct spf_limits lim;

	memset(&sp, 0, sizeof(sp));
	spf_limits_from(m->p.cfg, &lim);
	if (sa->sa_family == AF_INET6) {
		sp.family = AF_INET6;
		sp.ip = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	} else {
		sp.family = AF_INET;
		sp.ip = (const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
	}
	sp.mail_from = m->sender;
	sp.helo = m->helo;
	sp.receiver = m->p.cfg->hostname;
	sp.now = (unsigned long long)time(NULL);
	sp.limits = &lim;
	/* The callback may run before this returns. */
	m->spf = spf_lookup_start(m->p.loop, m->p.dns, &sp,
	    (double)m->p.cfg->spf_timeout, on_spf, m);
}

/* --- DKIM -------------------------------------------------------------- */

static void
dkim_finish(struct mxcheck *m)
{
	ev_timer_stop(m->p.loop, &m->dkim_timer);
	m->dkim_done = true;
	advance(m);
}

static void
on_key(void *arg, enum dns_result result, const unsigned char *msg,
    size_t len)
{
	struct mx_key *k = arg;
	struct mxcheck *m = k->m;
	struct txt_set t;

	k->req = NULL;
	if (result == DNS_TEMPFAIL || txt_read(&t, msg, len) == -1)
		dkim_verify_answer(m->dkim, k->i, DKIM_DNS_TEMPFAIL, NULL,
		    NULL, 0);
	else
		dkim_verify_answer(m->dkim, k->i, result == DNS_NOT_FOUND &&
		    t.n == 0 ? DKIM_DNS_NXDOMAIN : DKIM_DNS_OK,
		    (const char *const *)t.rec, t.len, t.n);
	if (result != DNS_TEMPFAIL)
		txt_free(&t);
	if (--m->keys_out == 0 && !m->keys_starting)
		dkim_finish(m);
}

static void
on_dkim_budget(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct mxcheck *m = w->data;
	size_t i;

	(void)loop;
	(void)revents;
	for (i = 0; i < DKIM_MAX_SIGNATURES; i++)
		if (m->keys[i].req != NULL) {
			dns_cancel(m->keys[i].req);
			m->keys[i].req = NULL;
			dkim_verify_answer(m->dkim, i, DKIM_DNS_TEMPFAIL, NULL,
			    NULL, 0);
		}
	m->keys_out = 0;
	log_info("s=%lx DKIM key lookups out of time (dkim_timeout)",
	    m->p.sid);
	dkim_finish(m);
}

/* dkim_keys - ask every signature's key at once */
static void
dkim_keys(struct mxcheck *m)
{
	const char *name;
	size_t i, n;

	if (dkim_verify_end(m->dkim) == -1) {
		m->dkim_unreadable = true;
		m->dkim_done = true;
		return;
	}
	n = dkim_verify_count(m->dkim);
	if (n > DKIM_MAX_SIGNATURES)
		n = DKIM_MAX_SIGNATURES;
	ev_timer_start(m->p.loop, &m->dkim_timer);
	m->keys_starting = true;
	for (i = 0; i < n; i++) {
		if ((name = dkim_verify_query(m->dkim, i)) == NULL)
			continue;
		m->keys[i].m = m;
		m->keys[i].i = i;
		m->keys_out++;
		m->keys[i].req = dns_query(m->p.dns, name, DNS_TYPE_TXT,
		    on_key, &m->keys[i]);
	}
	m->keys_starting = false;
	if (m->keys_out == 0) {
		ev_timer_stop(m->p.loop, &m->dkim_timer);
		m->dkim_done = true;
	}
}

/* --- DMARC ------------------------------------------------------------- */

static void dmarc_next(struct mxcheck *);

static void
dmarc_finish(struct mxcheck *m)
{
	ev_timer_stop(m->p.loop, &m->dmarc_timer);
	m->outcome = dmarc_evaluate(m->dmarc);
	m->dmarc_done = true;
	advance(m);
}

/* dmarc_answered - one answer is fed: go on, unless inside dmarc_next */
static void
dmarc_answered(struct mxcheck *m)
{
	m->dmarc_req = NULL;
	if (m->dmarc_stepping)
		m->dmarc_fed = true;
	else
		dmarc_next(m);
}

static void
on_dmarc_txt(void *arg, enum dns_result result, const unsigned char *msg,
    size_t len)
{
	struct mxcheck *m = arg;
	struct txt_set t;

	if (result == DNS_TEMPFAIL || txt_read(&t, msg, len) == -1) {
		dmarc_answer_txt(m->dmarc, DMARC_DNS_TEMPFAIL, NULL, NULL, 0);
	} else {
		dmarc_answer_txt(m->dmarc, result == DNS_NOT_FOUND && t.n == 0 ?
		    DMARC_DNS_NXDOMAIN : DMARC_DNS_OK,
		    (const char *const *)t.rec, t.len, t.n);
	}
	if (result != DNS_TEMPFAIL)
		txt_free(&t);
	dmarc_answered(m);
}

static void
on_dmarc_exists(void *arg, enum dns_result result)
{
	struct mxcheck *m = arg;

	dmarc_answer_exists(m->dmarc, result == DNS_FOUND ? DMARC_DNS_OK :
	    result == DNS_NOT_FOUND ? DMARC_DNS_NXDOMAIN : DMARC_DNS_TEMPFAIL);
	dmarc_answered(m);
}

/* dmarc_next - ask until a question is out or the check is done */
static void
dmarc_next(struct mxcheck *m)
{
	struct dmarc_query q;

	while (dmarc_step(m->dmarc, &q)) {
		m->dmarc_fed = false;
		m->dmarc_stepping = true;
		if (q.type == DMARC_Q_TXT)
			m->dmarc_req = dns_query(m->p.dns, q.name,
			    DNS_TYPE_TXT, on_dmarc_txt, m);
		else
			m->dmarc_req = dns_domain_exists(m->p.dns, q.name,
			    on_dmarc_exists, m);
		m->dmarc_stepping = false;
		if (!m->dmarc_fed)
			return;		/* answered later, from the loop */
		m->dmarc_req = NULL;
	}
	dmarc_finish(m);
}

static void
on_dmarc_budget(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct mxcheck *m = w->data;

	(void)loop;
	(void)revents;
	dns_cancel(m->dmarc_req);
	m->dmarc_req = NULL;
	dmarc_abort(m->dmarc, "out of time (dmarc_timeout)");
	dmarc_finish(m);
}

static enum dmarc_auth
dmarc_auth_of_spf(enum spf_result r)
{
	return r == SPF_PASS ? DMARC_AUTH_PASS : r == SPF_TEMPERROR ?
	    DMARC_AUTH_TEMPERROR : DMARC_AUTH_FAIL;
}

static void
dmarc_start(struct mxcheck *m)
{
	struct dmarc_params dp;
	const struct dkim_result *d;
	unsigned char rnd[2] = { 0, 0 };
	size_t i;

	m->dmarc_started = true;
	/* pct= sampling wants a fair draw; a failed one samples in. */
	(void)RAND_bytes(rnd, sizeof(rnd));
	dp.psl = m->p.psl;
	dp.from = m->from;
	dp.sample = (unsigned)((rnd[0] << 8 | rnd[1]) % 100);
	if ((m->dmarc = dmarc_new(&dp)) == NULL) {
		log_warn("s=%lx DMARC: out of memory; not checked", m->p.sid);
		m->run_dmarc = false;
		advance(m);
		return;
	}
	if (m->spf_domain[0] != '\0')
		dmarc_spf(m->dmarc, dmarc_auth_of_spf(m->spf_result),
		    m->spf_domain);
	for (i = 0; m->dkim != NULL && !m->dkim_unreadable &&
	    i < dkim_verify_count(m->dkim); i++) {
		d = dkim_verify_result(m->dkim, i);
		dmarc_dkim(m->dmarc, d->status == DKIM_PASS ? DMARC_AUTH_PASS :
		    d->status == DKIM_TEMPERROR ? DMARC_AUTH_TEMPERROR :
		    DMARC_AUTH_FAIL, d->domain);
	}
	ev_timer_start(m->p.loop, &m->dmarc_timer);
	dmarc_next(m);
}

/* --- the transaction --------------------------------------------------- */

struct mxcheck *
mxcheck_new(const struct mxcheck_params *p, const char *sender,
    const char *helo, mxcheck_cb *spf_cb, void *arg,
    enum smtp_check_start *start)
{
	const struct config *cfg = p->cfg;
	struct dkim_verify_opts o;
	struct mxcheck *m;

	*start = SMTP_CHECK_NONE;
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		log_warn("s=%lx checks: out of memory; mail not checked",
		    p->sid);
		return NULL;
	}
	m->p = *p;
	m->spf_pol = mxcheck_policy(cfg->spf_policy);
	m->dkim_pol = mxcheck_policy(cfg->dkim_policy);
	m->dmarc_pol = p->psl != NULL ? mxcheck_policy(cfg->dmarc_policy) :
	    MX_OFF;
	/* DMARC needs both results, recorded or not. */
	m->run_dmarc = m->dmarc_pol != MX_OFF;
	m->run_spf = m->spf_pol != MX_OFF || m->run_dmarc;
	m->run_dkim = m->dkim_pol != MX_OFF || m->run_dmarc;
	if (!m->run_spf && !m->run_dkim) {
		free(m);
		return NULL;
	}
	snprintf(m->sender, sizeof(m->sender), "%s", sender);
	snprintf(m->helo, sizeof(m->helo), "%s", helo);
	netaddr_format(p->client, m->ip, sizeof(m->ip));
	buf_init(&m->fields, SMTP_CHECK_ROOM);
	ev_timer_init(&m->dkim_timer, on_dkim_budget,
	    (double)cfg->dkim_timeout, 0.);
	m->dkim_timer.data = m;
	ev_timer_init(&m->dmarc_timer, on_dmarc_budget,
	    (double)cfg->dmarc_timeout, 0.);
	m->dmarc_timer.data = m;
	ev_timer_init(&m->spf_later, on_spf_later, 0., 0.);
	m->spf_later.data = m;
	if (m->run_dkim) {
		dkim_verify_defaults(&o, (uint64_t)time(NULL));
		/* l= shorter than the body: what follows the signed part
		 * is anyone's (appended to a message they received), so
		 * such a signature is no pass and aligns nothing (RFC
		 * 6376 8.2). */
		o.partial_body_policy = 1;
		if ((m->dkim = dkim_verify_new(&o)) == NULL)
			log_warn("s=%lx DKIM: out of memory; not checked",
			    p->sid);
	}
	if (!m->run_spf) {
		m->spf_done = true;
		*start = SMTP_CHECK_RUNNING;
		return m;
	}
	if (m->spf_pol == MX_ENFORCE) {
		m->spf_cb = spf_cb;
		m->spf_arg = arg;
		*start = SMTP_CHECK_WAIT;
	} else {
		*start = SMTP_CHECK_RUNNING;
	}
	m->starting = true;
	spf_start(m);
	m->starting = false;
	return m;
}

void
mxcheck_data(struct mxcheck *m, const char *data, size_t len)
{
	if (m == NULL || m->dkim == NULL || m->dkim_unreadable)
		return;
	if (dkim_verify_feed(m->dkim, data, len) == -1)
		m->dkim_unreadable = true;
}

void
mxcheck_end(struct mxcheck *m, const struct dmarc_from *from,
    mxcheck_cb *cb, void *arg)
{
	m->ended = true;
	m->from = from;
	m->end_cb = cb;
	m->end_arg = arg;
	if (m->dkim != NULL && !m->dkim_unreadable)
		dkim_keys(m);
	else
		m->dkim_done = true;
	advance(m);
}

void
mxcheck_free(struct mxcheck *m)
{
	size_t i;

	if (m == NULL)
		return;
	spf_lookup_cancel(m->spf);
	for (i = 0; i < DKIM_MAX_SIGNATURES; i++)
		dns_cancel(m->keys[i].req);
	dns_cancel(m->dmarc_req);
	ev_timer_stop(m->p.loop, &m->dkim_timer);
	ev_timer_stop(m->p.loop, &m->dmarc_timer);
	ev_timer_stop(m->p.loop, &m->spf_later);
	dkim_verify_free(m->dkim);
	dmarc_free(m->dmarc);
	buf_free(&m->fields);
	free(m);
}
