/*
 * conn_hooks - what the SMTP engine asks of the world, for one
 * connection: spool files and their commit, sender domain lookups,
 * STARTTLS, and SASL exchanges. Each answer goes back to the engine
 * and then to the connection (c->process: conn.c, which owns the
 * connection and these hooks), unless it arrived inside the call that
 * asked (a cached DNS answer), where the engine goes on by itself. The
 * checks of mail from others (SPF, DKIM, DMARC) are mxcheck.c's. A
 * connection is freed here, by conn_close or once its commit is back.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queue/committer.h"
#include "daemon/conn_int.h"
#include "daemon/dnsbl.h"
#include "daemon/milter_client.h"
#include "daemon/mxcheck.h"
#include "dns/dns.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/netaddr.h"
#include "queue/loginlimit.h"
#include "queue/queue.h"
#include "sec/sasl.h"
#include "daemon/server.h"
#include "smtp/policy.h"
#include "smtp/smtp.h"
#include "smtp/smtp_reply.h"
#include "sec/tls.h"

static void
io_send(void *ctx, const char *data, size_t len)
{
	struct conn *c = ctx;

	/* Past the maximum the client is not reading its replies: the
	 * flush notices and closes. */
	if (buf_append(&c->out, data, len) == -1)
		c->out.max = 0;
}

/* --- queue ---------------------------------------------------------------- */

#define SPACE_CACHE	1.0		/* seconds a statvfs answer is reused */
#define SPACE_PLENTY	(256ULL << 20)	/* ... when this much more than needed */

/* io_space_ok - queue_min_free octets must stay free once a message of
 * `size` (as declared) is in; a failed statvfs does not refuse mail:
 * the writes would still fail with 451. With plenty of room the last
 * answer stands for a second: two system calls less per message. */
static bool
io_space_ok(void *ctx, uint64_t size)
{
	struct conn *c = ctx;
	struct server *srv = c->srv;
	uint64_t min_free = c->cfg->cfg->queue_min_free, avail, need;
	ev_tstamp now = ev_now(srv->loop);
	char err[512];

	if (min_free == 0)
		return true;
	need = size > UINT64_MAX - min_free ? UINT64_MAX : min_free + size;
	if (now - srv->space_at < SPACE_CACHE &&
	    srv->space_avail > need && srv->space_avail - need >= SPACE_PLENTY)
		return true;
	if (queue_free_space(srv->queue, &avail, err, sizeof(err)) == -1) {
		log_warn("s=%lx %s", c->sid, err);
		return true;
	}
	srv->space_avail = avail;
	srv->space_at = now;
	if (avail >= need)
		return true;
	log_warn("s=%lx queue %s: %" PRIu64 " octets free, %" PRIu64
	    " wanted (queue_min_free + SIZE): 452", c->sid,
	    queue_dir(c->srv->queue), avail, need);
	return false;
}

static int
io_spool_open(void *ctx, struct envelope *env)
{
	struct conn *c = ctx;
	char err[512];

	if ((c->spool = queue_spool_create(c->srv->queue, env, err,
	    sizeof(err))) == NULL) {
		int e = errno;

		log_err("s=%lx %s", c->sid, err);
		return e == ENOSPC || e == EDQUOT ? SMTP_SPOOL_NO_SPACE : -1;
	}
	/* The milters may change the envelope at the end. */
	if (c->milters != NULL && milters_envelope(c->milters, env) == -1) {
		log_err("s=%lx id=%s milters: out of memory", c->sid,
		    spool_id(c->spool));
		spool_free(c->spool);
		c->spool = NULL;
		return -1;
	}
	return 0;
}

static int
io_spool_write(void *ctx, const char *data, size_t len)
{
	struct conn *c = ctx;

	if (spool_write(c->spool, data, len) == -1) {
		log_err("s=%lx id=%s spool write: %s", c->sid,
		    spool_id(c->spool), strerror(errno));
		return -1;
	}
	return 0;
}

static int
io_spool_prepend(void *ctx, const char *fields, size_t len)
{
	struct conn *c = ctx;

	if (spool_prepend(c->spool, fields, len) == -1) {
		log_err("s=%lx id=%s spool prepend: %s", c->sid,
		    spool_id(c->spool), strerror(errno));
		return -1;
	}
	return 0;
}

static int
io_spool_tls_optional(void *ctx)
{
	struct conn *c = ctx;

	if (spool_tls_optional(c->spool) == -1) {
		log_err("s=%lx id=%s spool tlsrequired: %s", c->sid,
		    spool_id(c->spool), strerror(errno));
		return -1;
	}
	if (c->milters != NULL)
		milters_tls_optional(c->milters);
	return 0;
}

static void
on_committed(void *arg, int status)
{
	struct conn *c = arg;

	c->committing = false;
	/* Committed, so it will be delivered, but nobody heard the 250:
	 * said here, for the engine's `accepted` line is never written. */
	if (status == 0 && c->closed)
		log_info("s=%lx id=%s queued after the client left (it saw "
		    "no 250 and may send it again)", c->sid,
		    spool_id(c->spool));
	c->spool = NULL;		/* the committer's, which frees it */
	if (c->closed) {
		conn_destroy(c);	/* the free conn_close deferred */
		return;
	}
	smtp_commit_done(c->smtp, status);
	c->process(c);
}

static void
io_spool_commit(void *ctx)
{
	struct conn *c = ctx;

	c->committing = true;
	committer_submit(c->srv->committer, c->spool, on_committed, c);
}

static void
io_spool_abort(void *ctx)
{
	struct conn *c = ctx;

	spool_free(c->spool);
	c->spool = NULL;
}

/* --- DNS -------------------------------------------------------------------- */

static void
on_lookup(void *arg, enum dns_result r)
{
	struct conn *c = arg;

	c->lookup = NULL;
	smtp_lookup_done(c->smtp, r);
	if (!c->looking_up)
		c->process(c);
}

static void
io_domain_lookup(void *ctx, const char *domain)
{
	struct conn *c = ctx;

	c->looking_up = true;
	c->lookup = dns_domain_exists(c->srv->dns, domain, on_lookup, c);
	c->looking_up = false;
}

/* --- DNS blocklists ------------------------------------------------------------ */

bool
conn_first_pending(const struct conn *c)
{
	return c->dnsbl != NULL || c->milter_pending;
}

/* The DNSBL's refusal first: it is known to be about the client. Asked
 * once the verdicts are in, by whichever hands them to the engine
 * (conn_greet, or first_verdict after the greeting): one refusal of
 * the session, however many of its commands are then refused. */
const char *
conn_first_reply(struct conn *c)
{
	if (conn_first_pending(c))
		return NULL;
	if (c->dnsbl_reply == NULL && c->milter_reply == NULL)
		return NULL;
	c->denied = true;
	METRICS_INC(refusals[c->dnsbl_reply != NULL ? MR_DNSBL : MR_MILTER]);
	return c->dnsbl_reply != NULL ? c->dnsbl_reply : c->milter_reply;
}

/* first_verdict - one of the verdicts the first command waits for came
 * in; with both, the session goes on */
static void
first_verdict(struct conn *c, char **keep, const char *reply,
    const char *what)
{
	if (reply != NULL && (*keep = strdup(reply)) == NULL)
		log_warn("s=%lx %s: out of memory; verdict on [%s] lost",
		    c->sid, what, c->addr_text);
	if (c->smtp == NULL || conn_first_pending(c))
		return;		/* conn_greet hands it over */
	smtp_dnsbl_done(c->smtp, conn_first_reply(c));
	c->process(c);
}

static void
on_dnsbl(void *arg, const char *reply)
{
	struct conn *c = arg;

	c->dnsbl = NULL;
	first_verdict(c, &c->dnsbl_reply, reply, "dnsbl");
}

/* conn_dnsbl_start - on mx listeners only, and never for mynetworks:
 * submission and trusted clients are not refused by DNSBLs (Postfix
 * runs postscreen on port 25 only); nor for a load balancer's own
 * connection, which is no client */
void
conn_dnsbl_start(struct conn *c)
{
	const struct config *cfg = c->cfg->cfg;

	if (c->role != ROLE_MX || cfg->dnsbl.n == 0 || c->proxy_local ||
	    policy_trusted(cfg, (const struct sockaddr *)&c->peer))
		return;
	c->dnsbl = dnsbl_start(c->srv->loop, c->srv->dns, cfg,
	    (const struct sockaddr *)&c->peer, c->addr_text, c->sid,
	    on_dnsbl, c);
}

/* --- milters ---------------------------------------------------------------- */

static void
on_milter_connect(void *ctx, const char *reply)
{
	struct conn *c = ctx;

	c->milter_pending = false;
	first_verdict(c, &c->milter_reply, reply, "milter");
}

static void
on_milter_filter(void *ctx, const struct smtp_filter_verdict *v)
{
	struct conn *c = ctx;

	smtp_filter_done(c->smtp, v);
	c->process(c);
}

/* milter_macro - the macros the session knows */
static const char *
milter_macro(void *ctx, const char *name, char *buf, size_t len)
{
	struct conn *c = ctx;

	if (strcmp(name, "{auth_authen}") == 0)
		return c->smtp ? smtp_auth_user(c->smtp) : NULL;
	if (strcmp(name, "{auth_type}") == 0)
		return c->smtp ? smtp_auth_mech(c->smtp) : NULL;
	if (c->tls == NULL || c->handshaking)
		return NULL;
	if (strcmp(name, "{tls_version}") == 0)
		return tls_conn_version(c->tls);
	if (strcmp(name, "{cipher}") == 0)
		return tls_conn_cipher(c->tls);
	if (strcmp(name, "{cipher_bits}") == 0) {
		snprintf(buf, len, "%d", tls_conn_bits(c->tls));
		return buf;
	}
	return NULL;
}

static const struct milters_host milter_host = {
	.connect_done = on_milter_connect,
	.filter_done = on_milter_filter,
	.macro = milter_macro,
};

/* conn_milter_start - on mx listeners, and on submission ones with
 * milter_submission; the session keeps its generation's milters */
void
conn_milter_start(struct conn *c)
{
	struct milters_params p;

	if (!milters_apply(c->cfg->cfg, c->role))
		return;
	p.loop = c->srv->loop;
	p.cfg = c->cfg->cfg;
	p.queue_dir = queue_dir(c->srv->queue);
	p.sid = c->sid;
	p.role = c->role;
	p.client = (const struct sockaddr *)&c->peer;
	p.client_addr = c->addr_text;
	p.local = (const struct sockaddr *)&c->local;
	if ((c->milters = milters_new(&p, &milter_host, c)) == NULL) {
		log_warn("s=%lx milters: out of memory; [%s] refused",
		    c->sid, c->addr_text);
		c->milter_reply = strdup(R_MILTER_TEMPFAIL);
		return;
	}
	c->milter_pending = true;
}

static void
io_filter(void *ctx, enum smtp_filter_stage stage, const char *arg,
    const char *params)
{
	struct conn *c = ctx;
	struct smtp_filter_verdict v = { SMTP_FILTER_CONTINUE, NULL, NULL };

	if (c->milters == NULL) {
		smtp_filter_done(c->smtp, &v);
		return;
	}
	milters_filter(c->milters, stage, arg, params, c->spool);
}

static void
io_filter_abort(void *ctx)
{
	struct conn *c = ctx;

	if (c->milters != NULL)
		milters_abort(c->milters);
}

/* --- checks of mail from others ------------------------------------------- */

static void
on_spf_checked(void *arg, const struct smtp_check_result *r)
{
	struct conn *c = arg;

	/* Always from the loop (mxcheck_new never answers inside). */
	smtp_spf_done(c->smtp, r);
	c->process(c);
}

static enum smtp_check_start
io_check_mail(void *ctx, const char *sender, const char *helo)
{
	struct conn *c = ctx;
	struct mxcheck_params p;
	enum smtp_check_start st;

	mxcheck_free(c->mx);
	p.loop = c->srv->loop;
	p.dns = c->srv->dns;
	p.cfg = c->cfg->cfg;
	p.psl = c->srv->psl;
	p.client = (const struct sockaddr *)&c->peer;
	p.sid = c->sid;
	c->mx = mxcheck_new(&p, sender, helo, on_spf_checked, c, &st);
	return st;
}

static void
io_check_data(void *ctx, const char *data, size_t len)
{
	struct conn *c = ctx;

	mxcheck_data(c->mx, data, len);
}

static void
on_checked(void *arg, const struct smtp_check_result *r)
{
	struct conn *c = arg;

	smtp_check_done(c->smtp, r);
	if (!c->in_check_call)
		c->process(c);
}

static void
io_check_end(void *ctx, const struct dmarc_from *from)
{
	struct conn *c = ctx;
	struct smtp_check_result r = { SMTP_CHECK_ACCEPT, NULL, NULL, 0,
	    "not checked" };

	if (c->mx == NULL) {
		smtp_check_done(c->smtp, &r);
		return;
	}
	c->in_check_call = true;
	mxcheck_end(c->mx, from, on_checked, c);
	c->in_check_call = false;
}

static void
io_check_cancel(void *ctx)
{
	struct conn *c = ctx;

	mxcheck_free(c->mx);
	c->mx = NULL;
}

/* --- STARTTLS ----------------------------------------------------------------- */

static void
io_starttls(void *ctx)
{
	struct conn *c = ctx;

	/* conn_process starts the handshake once the 220 is written. */
	c->starttls_pending = true;
}

/* --- SASL ----------------------------------------------------------------------- */

/* sasl_endpoint - "IP;port", as Cyrus wants the two ends */
static void
sasl_endpoint(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
	char ip[NETADDR_STRLEN];
	unsigned port = 0;

	netaddr_format((const struct sockaddr *)ss, ip, sizeof(ip));
	if (ss->ss_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	else if (ss->ss_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	snprintf(out, outlen, "%s;%u", ip, port);
}

static const char *
io_auth_mechanisms(void *ctx)
{
	struct conn *c = ctx;
	char local[NETADDR_STRLEN + 8], remote[NETADDR_STRLEN + 8];

	if (c->srv->sasl == NULL || c->tls == NULL)
		return NULL;
	if (c->sasl == NULL) {
		sasl_endpoint(&c->local, local, sizeof(local));
		sasl_endpoint(&c->peer, remote, sizeof(remote));
		c->sasl = sasl_session_new(c->srv->sasl, c->cfg->cfg->hostname,
		    local, remote, (unsigned)tls_conn_bits(c->tls));
		if (c->sasl == NULL)
			return NULL;
	}
	return sasl_session_mechanisms(c->sasl);
}

static void
auth_answer(struct conn *c, enum sasl_status st, const char *challenge,
    size_t len, const char *user)
{
	smtp_auth_done(c->smtp, st, challenge, len, user);
	if (!c->in_sasl_call)
		c->process(c);
}

static void
on_auth_delay(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	(void)revents;
	auth_answer(c, SASL_STATUS_BADAUTH, NULL, 0, NULL);
}

/* on_sasl - SASL answered; a failure waits longer each time, which makes
 * guessing passwords slow without slowing anyone else down */
static void
on_sasl(void *arg, enum sasl_status st, const char *challenge, size_t len,
    const char *user)
{
	struct conn *c = arg;
	unsigned delay;

	/* Counted when the backend (Cyrus or Dovecot) says so: a client
	 * that hangs up during the delay failed all the same. */
	if (st == SASL_STATUS_OK)
		METRICS_INC(auth_success);
	if (st == SASL_STATUS_BADAUTH) {
		METRICS_INC(auth_failure);
		c->auth_failures++;
		server_auth_failed(c->srv, (struct sockaddr *)&c->peer);
		delay = c->auth_failures < AUTH_DELAY_MAX ? c->auth_failures :
		    AUTH_DELAY_MAX;
		ev_init(&c->auth_delay, on_auth_delay);
		c->auth_delay.data = c;
		ev_timer_set(&c->auth_delay, delay, 0.0);
		ev_timer_start(c->srv->loop, &c->auth_delay);
		return;
	}
	auth_answer(c, st, challenge, len, user);
}

static void
io_auth_start(void *ctx, const char *mech, const char *initial, size_t len,
    bool has_initial)
{
	struct conn *c = ctx;

	c->in_sasl_call = true;
	if (c->sasl == NULL)
		on_sasl(c, SASL_STATUS_TEMP, NULL, 0, NULL);
	else
		sasl_session_start(c->sasl, mech, initial, len, has_initial,
		    on_sasl, c);
	c->in_sasl_call = false;
}

static void
io_auth_step(void *ctx, const char *resp, size_t len)
{
	struct conn *c = ctx;

	c->in_sasl_call = true;
	sasl_session_step(c->sasl, resp, len, on_sasl, c);
	c->in_sasl_call = false;
}

static bool
io_auth_allowed(void *ctx)
{
	struct conn *c = ctx;

	return server_auth_allowed(c->srv, (struct sockaddr *)&c->peer);
}

static void
io_auth_reset(void *ctx)
{
	struct conn *c = ctx;

	if (c->sasl)
		sasl_session_reset(c->sasl);
}

/* io_login_limit - login_max_*_per_day, counted under the queue
 * directory for every worker (queue/loginlimit.c); a counter that
 * cannot be read or written does not stop mail: one line says so. */
static bool
io_login_limit(void *ctx, enum smtp_limit_ask ask, const char *user,
    const char *rcpt)
{
	static const enum loginlimit_ask asks[] = {
		[SMTP_LIMIT_MAIL] = LOGINLIMIT_MAIL,
		[SMTP_LIMIT_RCPT] = LOGINLIMIT_RCPT,
		[SMTP_LIMIT_SENT] = LOGINLIMIT_SENT,
	};
	struct conn *c = ctx;
	const struct config *cfg = c->cfg->cfg;
	char err[512], esc[600];
	unsigned count;
	int r;

	r = loginlimit_ask(queue_dir(c->srv->queue), user, asks[ask], rcpt,
	    cfg->login_max_messages_per_day,
	    cfg->login_max_recipients_per_day, time(NULL), &count, err,
	    sizeof(err));
	if (r == -1)
		log_warn("s=%lx %s", c->sid, err);
	if (r != 1)
		return false;
	log_escape(esc, sizeof(esc), user, strlen(user));
	log_warn("s=%lx limit: login %s reached %s (%u today); client [%s] "
	    "told 450", c->sid, esc, ask == SMTP_LIMIT_RCPT ?
	    "login_max_recipients_per_day" : "login_max_messages_per_day",
	    count, c->addr_text);
	return true;
}

const struct smtp_io conn_smtp_io = {
	.send = io_send,
	.space_ok = io_space_ok,
	.spool_open = io_spool_open,
	.spool_write = io_spool_write,
	.spool_prepend = io_spool_prepend,
	.spool_tls_optional = io_spool_tls_optional,
	.spool_commit = io_spool_commit,
	.spool_abort = io_spool_abort,
	.domain_lookup = io_domain_lookup,
	.check_mail = io_check_mail,
	.check_data = io_check_data,
	.check_end = io_check_end,
	.check_cancel = io_check_cancel,
	.starttls = io_starttls,
	.auth_mechanisms = io_auth_mechanisms,
	.auth_start = io_auth_start,
	.auth_step = io_auth_step,
	.auth_reset = io_auth_reset,
	.auth_allowed = io_auth_allowed,
	.filter = io_filter,
	.filter_abort = io_filter_abort,
	.login_limit = io_login_limit,
};

void
conn_hooks_close(struct conn *c)
{
	ev_timer_stop(c->srv->loop, &c->auth_delay);
	if (c->lookup) {
		dns_cancel(c->lookup);
		c->lookup = NULL;
	}
	mxcheck_free(c->mx);
	c->mx = NULL;
	dnsbl_cancel(c->dnsbl);
	c->dnsbl = NULL;
	milters_free(c->milters);
	c->milters = NULL;
	if (c->sasl) {
		sasl_session_free(c->sasl);
		c->sasl = NULL;
	}
}

void
conn_destroy(struct conn *c)
{
	smtp_free(c->smtp);
	free(c->dnsbl_reply);
	free(c->milter_reply);
	spool_free(c->spool);
	free(c->in);
	tls_conn_free(c->tls);
	if (c->tlsctx)
		tls_ctx_unref(c->tlsctx);
	buf_free(&c->out);
	cfg_ref_put(c->cfg);
	free(c);
}
