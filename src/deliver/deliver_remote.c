/*
 * deliver_remote - an entry's recipients that share one destination
 * outside: to the smarthost, or to their domain's MX hosts in
 * preference order (each host's addresses in turn), through the SMTP
 * client, within delivery_per_destination connections a destination.
 * A name that does not resolve now, or our own configuration error,
 * is never a reason to bounce: only a server's 5xx, a domain without
 * mail servers, or a loop back to ourselves is.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "deliver/deliver_int.h"
#include "dns/resolve.h"
#include "lib/netaddr.h"
#include "queue/qentry.h"
#include "deliver/smtp_client.h"
#include "deliver/sts.h"

#define MAX_MX		DELIVER_MAX_MX

/* --- per-destination limits -------------------------------------------- */

/* One slot per destination ("smarthost", a domain, "local"): a
 * delivery waits until fewer than delivery_per_destination use it. Each
 * destination has its own condition variable and a finished delivery
 * wakes one waiter of its own destination: with a smarthost, most of
 * delivery_concurrency threads wait on one destination, and waking them
 * all for every message put each back to sleep at once. */
struct dest {
	char		 key[256];
	unsigned	 active;
	unsigned	 waiting;
	unsigned	 limit;		/* the latest delivery's configuration */
	pthread_cond_t	 cond;
};

#define NDESTS	256			/* more keys than threads never needed */
static pthread_mutex_t dest_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t dest_once = PTHREAD_ONCE_INIT;
static struct dest dests[NDESTS];

static void
dest_init(void)
{
	for (size_t i = 0; i < NDESTS; i++)
		pthread_cond_init(&dests[i].cond, NULL);
}

/* dest_find - key's slot (in use while any delivery holds or awaits
 * it), or a free one taken for key; NULL when all are in use */
static struct dest *
dest_find(const char *key)
{
	struct dest *free_slot = NULL;

	for (size_t i = 0; i < NDESTS; i++) {
		struct dest *d = &dests[i];

		if (d->active + d->waiting > 0) {
			if (strcmp(d->key, key) == 0)
				return d;
		} else if (free_slot == NULL)
			free_slot = d;
	}
	if (free_slot != NULL)
		snprintf(free_slot->key, sizeof(free_slot->key), "%s", key);
	return free_slot;
}

/* dest_acquire - a place among key's deliveries, waited for; NULL:
 * every slot is in use, no limit kept (give it to dest_release all
 * the same) */
static struct dest *
dest_acquire(const char *key, unsigned limit)
{
	struct dest *d;

	pthread_once(&dest_once, dest_init);
	pthread_mutex_lock(&dest_lock);
	if ((d = dest_find(key)) != NULL) {	/* else: no limit kept */
		/* A reload's limit counts at once for those waiting too:
		 * a higher one lets more of them go. */
		if (limit > d->limit && d->waiting > 0)
			pthread_cond_broadcast(&d->cond);
		d->limit = limit;
		while (d->active >= d->limit) {
			d->waiting++;
			pthread_cond_wait(&d->cond, &dest_lock);
			d->waiting--;
		}
		d->active++;
	}
	pthread_mutex_unlock(&dest_lock);
	return d;
}

static void
dest_release(struct dest *d)
{
	if (d == NULL)
		return;
	pthread_mutex_lock(&dest_lock);
	d->active--;
	if (d->waiting > 0 && d->active < d->limit)
		pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&dest_lock);
}

/* --- remote delivery ---------------------------------------------------------- */

/* read_auth - "user password" from smarthost_auth_file */
static bool
read_auth(const char *path, char *user, size_t ulen, char *pass, size_t plen)
{
	char line[1024], *sp;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return false;
	if (fgets(line, sizeof(line), f) == NULL) {
		fclose(f);
		return false;
	}
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	if ((sp = strpbrk(line, " \t:")) == NULL)
		return false;
	*sp++ = '\0';
	while (*sp == ' ' || *sp == '\t')
		sp++;
	if (strlen(line) >= ulen || strlen(sp) >= plen) {
		explicit_bzero(line, sizeof(line));
		return false;
	}
	memcpy(user, line, strlen(line) + 1);
	memcpy(pass, sp, strlen(sp) + 1);
	explicit_bzero(line, sizeof(line));
	return *user != '\0';
}

/* try_target - one host: its lookup failed, it is ourselves, or send
 * to each of its addresses until one answers. No verdict (code 0) lets
 * the caller try the next host: a name that does not resolve now is
 * never a reason to bounce, nor is our own configuration error. */
static void
try_target(struct smtp_client_opts *opts, const struct mx_target *t,
    const struct qentry *e, int fd, char **rcpts, size_t n,
    struct smtp_client_reply *sess, struct smtp_client_reply *reps)
{
	char ip[NETADDR_STRLEN];
	size_t a;

	sess->code = 0;
	if (opts->tls_out != NULL)	/* no session with this host yet */
		memset(opts->tls_out, 0, sizeof(*opts->tls_out));
	if (t->rc == DELIVER_LOOPS)
		snprintf(sess->text, sizeof(sess->text), "451 4.4.6 mail for "
		    "smarthost %s loops back to myself", t->mx.name);
	else if (t->rc != RESOLVE_OK)
		snprintf(sess->text, sizeof(sess->text), "451 4.4.3 %s: %s",
		    t->mx.name, t->rc == RESOLVE_NONE ? "host not found" :
		    "DNS failure");
	else
		snprintf(sess->text, sizeof(sess->text), "451 4.4.4 %s: no "
		    "address", t->mx.name);
	for (a = 0; t->rc == RESOLVE_OK && a < t->naddr; a++) {
		netaddr_format((const struct sockaddr *)&t->addrs[a], ip,
		    sizeof(ip));
		opts->host = ip;
		if (rewind_body(fd, e) == -1)
			return;
		smtp_client_send(opts, e->sender, rcpts, n, fd, e->body_size,
		    sess, reps);
		if (sess->code != 0)
			return;		/* a verdict: no other address */
	}
}

/* smarthost_dane - smarthost_tls = dane: the smarthost's usable TLSA
 * records (validated, RFC 7672) into opts; anything less defers every
 * recipient with the reason, as the admin asked for DANE: -1 */
static int
smarthost_dane(const struct config *cfg, struct mx_target *t,
    const char *port, const char *relay, struct dane_plan *plan,
    struct smtp_client_opts *opts, const size_t *idx, size_t n,
    struct outcome *outs)
{
	struct sockaddr_storage ss;
	char why[sizeof(plan->why) + sizeof(plan->tlsa_name) + 80];

	if (t->rc != RESOLVE_OK)
		return 0;	/* try_target says why: no address, a loop */
	t->mx_secure = true;	/* named by the admin, not by an MX */
	(void)dane_plan_host(cfg, t, (unsigned)strtoul(port, NULL, 10), plan);
	if (plan->verdict == DANE_VERIFY) {
		opts->tlsa = plan->tlsa;
		opts->ntlsa = plan->ntlsa;
		/* SNI, and the names a DANE-TA chain may end in (RFC 7672
		 * 3.2.2, 8.1): the TLSA base domain, and the name given */
		opts->verify_name = plan->base;
		opts->dane_mx_name = t->mx.name;
		return 0;
	}
	if (netaddr_from_text(t->mx.name, &ss) == 0)
		snprintf(why, sizeof(why), "%s is an address: no name to look "
		    "TLSA records up for", t->mx.name);
	else if (plan->verdict == DANE_ENCRYPT)
		snprintf(why, sizeof(why), "no usable TLSA records at %s",
		    plan->tlsa_name);
	else if (plan->looked_up && plan->verdict == DANE_NONE)
		snprintf(why, sizeof(why), "%s at %s", plan->why,
		    plan->tlsa_name);
	else
		snprintf(why, sizeof(why), "%s", plan->why);
	for (size_t k = 0; k < n; k++)
		set_outcome(&outs[idx[k]], 451, relay, "451 4.7.5 "
		    "smarthost_tls = dane: %s", why);
	return -1;
}

/* host_tls - TLS to MX host t as DNSSEC and its TLSA records say (RFC
 * 7672 2.2): opportunistic, DANE, or mandatory and unauthenticated,
 * into opts; -1 when the host is not to be tried now (its TLSA lookup
 * failed: perhaps an attacker hiding them), the reason in sess */
static int
host_tls(const struct config *cfg, const struct qentry *e,
    const struct mx_target *t, struct dane_plan *plan,
    struct smtp_client_opts *opts, struct smtp_client_reply *sess)
{
	dane_plan_free(plan);
	(void)dane_plan_host(cfg, t, 25, plan);
	opts->tls = plan->tls;
	opts->tlsa = plan->tlsa;
	opts->ntlsa = plan->ntlsa;
	opts->verify_name = plan->verdict == DANE_VERIFY ? plan->base :
	    t->mx.name;
	opts->dane_mx_name = plan->verdict == DANE_VERIFY ? t->mx.name : NULL;
	/* TLS-Required: No: not even a failed lookup holds it back */
	if (deliver_reqtls_optional(e, opts) || plan->verdict != DANE_DEFER)
		return 0;
	sess->code = 0;
	snprintf(sess->text, sizeof(sess->text), "451 4.7.5 %s: %s",
	    t->mx.name, plan->why);
	return -1;
}

/* deliver_remote - recipients idx[0..n) sharing one destination */
void
deliver_remote(const struct config *cfg, const struct qentry *e, int fd,
    const size_t *idx, size_t n, struct outcome *outs)
{
	struct smtp_client_opts opts;
	struct smtp_client_tls tls;
	struct dane_plan plan;
	struct smtp_client_reply sess, *reps = calloc(n, sizeof(*reps));
	struct mx_target *mx = calloc(MAX_MX, sizeof(*mx));
	struct sts_state *sts = calloc(1, sizeof(*sts));
	enum deliver_sts_host sts_host = STS_HOST_AS_IS;
	char **rcpts = calloc(n, sizeof(*rcpts)), user[256], pass[256];
	char host[256], port[8], local[256], domain[256], relay[300], err[256];
	const char *key;
	struct dest *slot;
	size_t k, nmx = 0;
	struct smtp_client_reply temp;	/* REQUIRETLS: a deferral */
	bool heard = false;		/* sess is a server's reply */
	bool temp_heard = false, have_temp = false;
	unsigned hops;
	size_t group_end = 0;
	int rc, self;

	memset(&plan, 0, sizeof(plan));	/* freed at the end, whatever */
	if (reps == NULL || rcpts == NULL || mx == NULL || sts == NULL) {
		for (k = 0; k < n; k++)
			set_outcome(&outs[idx[k]], 451, "none", "451 4.3.0 out "
			    "of memory");
		goto done;
	}
	/* Past max_hops the next hop would see a loop: say so ourselves,
	 * without sending it round once more (RFC 5321 6.3). */
	if (deliver_hops(e, fd, &hops) == 0 && hops > cfg->max_hops) {
		for (k = 0; k < n; k++)
			set_outcome(&outs[idx[k]], 554, "none", "554 5.4.6 Too "
			    "many hops (%u Received: header fields, max_hops "
			    "%u)", hops, cfg->max_hops);
		goto done;
	}
	for (k = 0; k < n; k++)
		rcpts[k] = e->rcpts[idx[k]];
	memset(&opts, 0, sizeof(opts));
	memset(&tls, 0, sizeof(tls));
	opts.tls_out = &tls;
	opts.helo = cfg->hostname;
	opts.timeout = cfg->delivery_timeout;
	opts.port = "25";
	opts.reuse = true;	/* within delivery_reuse_* */
	content_opts(cfg, e, &opts);
	split(rcpts[0], local, sizeof(local), domain, sizeof(domain));
	key = cfg->smarthost ? "smarthost" : domain;
	slot = dest_acquire(key, cfg->delivery_per_destination);
	if (cfg->smarthost) {
		const char *sh = cfg->smarthost, *close_b, *colon;

		/* "[host]:port", "host:port" or "host" */
		if (*sh == '[' && (close_b = strchr(sh, ']')) != NULL) {
			snprintf(host, sizeof(host), "%.*s",
			    (int)(close_b - sh - 1), sh + 1);
			colon = close_b[1] == ':' ? close_b + 1 : NULL;
		} else {
			colon = strrchr(sh, ':');
			snprintf(host, sizeof(host), "%.*s", (int)(colon ?
			    (size_t)(colon - sh) : strlen(sh)), sh);
		}
		snprintf(port, sizeof(port), "%s", colon ? colon + 1 : "25");
		opts.port = port;
		opts.tls = strcmp(cfg->smarthost_tls, "none") == 0 ?
		    CLIENT_TLS_NONE : strcmp(cfg->smarthost_tls,
		    "opportunistic") == 0 ? CLIENT_TLS_OPPORTUNISTIC :
		    strcmp(cfg->smarthost_tls, "dane") == 0 ? CLIENT_TLS_DANE :
		    CLIENT_TLS_REQUIRED;
		opts.ca_file = cfg->smarthost_ca_file;
		opts.verify_name = host;
		if (cfg->smarthost_auth_file) {
			if (!read_auth(cfg->smarthost_auth_file, user,
			    sizeof(user), pass, sizeof(pass))) {
				snprintf(err, sizeof(err), "%s: %s",
				    cfg->smarthost_auth_file, strerror(errno));
				for (k = 0; k < n; k++)
					set_outcome(&outs[idx[k]], 451, host,
					    "451 4.7.0 smarthost_auth_file "
					    "unreadable (%s)", err);
				goto out;
			}
			opts.auth_user = user;
			opts.auth_pass = pass;
		}
		snprintf(relay, sizeof(relay), "%s:%s", host, port);
		deliver_smarthost_target(cfg, host, (unsigned)strtoul(port,
		    NULL, 10), &mx[0]);
		if (opts.tls == CLIENT_TLS_DANE && smarthost_dane(cfg, &mx[0],
		    port, relay, &plan, &opts, idx, n, outs) == -1)
			goto out;
		/* RFC 8689 names DANE and MTA-STS; a smarthost the admin
		 * pinned (its certificate verified for the name configured)
		 * is the same trust, chosen by the operator. */
		snprintf(err, sizeof(err), "is not authenticated "
		    "(smarthost_tls = %s, not required or dane)",
		    cfg->smarthost_tls);
		if (deliver_reqtls_require(e, opts.tls == CLIENT_TLS_DANE ||
		    opts.tls == CLIENT_TLS_REQUIRED, "the smarthost", err,
		    &sess) == -1) {
			for (k = 0; k < n; k++)
				set_reply(&outs[idx[k]], &sess, relay);
			goto out;
		}
		opts.requiretls = e->requiretls;
		rc = RESOLVE_OK;
		nmx = 1;
	} else {
		opts.tls = CLIENT_TLS_OPPORTUNISTIC;
		opts.requiretls = e->requiretls;
		opts.reuse_tag = domain;
		rc = deliver_mx_list(cfg, domain, mx, MAX_MX, &nmx);
		sess.code = rc == RESOLVE_NONE || rc == RESOLVE_BADNAME ? 550 : 0;
		snprintf(sess.text, sizeof(sess.text), "%s %s",
		    sess.code ? "550 5.1.2" : "451 4.4.3",
		    rc == RESOLVE_BADNAME ? "recipient domain is not a valid "
		    "internationalized domain name (IDNA2008)" :
		    rc == RESOLVE_NONE ? "no mail server for the domain" :
		    "DNS failure looking up MX");
		snprintf(relay, sizeof(relay), "%s", domain);
		if (rc == RESOLVE_OK)
			deliver_sts_policy(cfg, e->id, domain, sts);
	}
	for (k = 0; rc == RESOLVE_OK && k < nmx; k++) {
		if (!cfg->smarthost && k == group_end &&
		    (self = deliver_mx_group(cfg, mx, k, nmx,
		    &group_end)) != 0) {
			/* As Postfix says it: we are the best MX, or the
			 * only ones left; hosts tried before keep their
			 * verdict (a deferral). */
			if (self == -1) {
				sess.code = 0;
				snprintf(sess.text, sizeof(sess.text), "451 "
				    "4.3.0 own addresses unknown (getifaddrs)");
			} else if (k == 0) {
				sess.code = 554;
				snprintf(sess.text, sizeof(sess.text), "554 "
				    "5.4.6 mail for %s loops back to myself",
				    domain);
				snprintf(relay, sizeof(relay), "%s", domain);
			}
			break;
		}
		if (!cfg->smarthost) {
			snprintf(relay, sizeof(relay), "%s", mx[k].mx.name);
			if (host_tls(cfg, e, &mx[k], &plan, &opts, &sess) ==
			    -1) {
				/* never in clear: the next host, or wait */
				memset(&tls, 0, sizeof(tls));
				heard = false;
				deliver_tls_attempt(cfg, domain, e, relay,
				    &plan, &tls, &sess);
				if (!have_temp && sess.code == 0) {
					temp = sess;	/* see below */
					temp_heard = false;
					have_temp = true;
				}
				continue;
			}
			/* MTA-STS where DANE left the host opportunistic
			 * (and the message did not say TLS-Required: No) */
			sts_host = e->tls_optional && !e->requiretls ?
			    STS_HOST_AS_IS : deliver_sts_host(cfg, e->id, sts,
			    domain, mx[k].mx.name, e->requiretls, &opts, &sess);
			/* REQUIRETLS: authenticated by DANE or MTA-STS, or
			 * not used (RFC 8689 4.2.1) */
			if (sts_host != STS_HOST_SKIP &&
			    deliver_reqtls_require(e, opts.tls ==
			    CLIENT_TLS_DANE || sts_host == STS_HOST_ENFORCED,
			    mx[k].mx.name, "is not authenticated by DANE or "
			    "MTA-STS", &sess) == -1) {
				memset(&tls, 0, sizeof(tls)); /* none */
				heard = false;
				continue;
			}
		}
		if (sts_host != STS_HOST_SKIP)
			try_target(&opts, &mx[k], e, fd, rcpts, n, &sess, reps);
		else
			memset(&tls, 0, sizeof(tls));	/* no session */
		deliver_sts_done(sts, domain, sts_host, &opts, &sess);
		if (sts_host != STS_HOST_AS_IS)
			plan.policy = deliver_sts_report(cfg, sts, domain,
			    mx[k].mx.name, sts_host, &tls, &sess);
		heard = sess.code != 0;
		deliver_tls_attempt(cfg, cfg->smarthost ? NULL : domain, e,
		    relay, &plan, &tls, &sess);
		if (deliver_reqtls_refused(e, &sess))
			continue;	/* not this host (RFC 8689 4.2.1) */
		if (e->requiretls && sess.code / 100 != 2 &&
		    sess.code / 100 != 5 && !have_temp) {
			/* a host that may yet qualify: a deferral, not a
			 * bounce, if no other does */
			temp = sess;
			temp_heard = heard;
			have_temp = true;
		}
		/* A verdict ends the walk; a 4xx or no answer from this
		 * host leaves the next one to try. */
		if (sess.code / 100 == 2 || sess.code / 100 == 5)
			break;
	}
	if (have_temp && deliver_reqtls_refused(e, &sess)) {
		sess = temp;
		heard = temp_heard;
		memset(reps, 0, n * sizeof(*reps));
	}
	for (k = 0; k < n; k++) {
		struct smtp_client_reply *rp = &reps[k];

		/* A code from smtp_client is the server's unless marked
		 * ours (SMTPUTF8, 8BITMIME); others of ours (no answer, a
		 * DNS verdict) are made here. */
		if ((sess.code == 250 && rp->code / 100 == 2) ||
		    rp->code >= 400)
			set_reply(&outs[idx[k]], rp, relay);
		else if (heard)
			set_reply(&outs[idx[k]], &sess, relay);
		else
			set_outcome(&outs[idx[k]], sess.code, relay, "%s",
			    sess.text);
		/* the session that gave the verdict: the last one */
		deliver_tls_field(outs[idx[k]].tls, sizeof(outs[idx[k]].tls),
		    &tls, plan.policy);
	}
out:
	dest_release(slot);
done:
	explicit_bzero(pass, sizeof(pass));
	dane_plan_free(&plan);
	free(reps);
	free(rcpts);
	free(mx);
	free(sts);
}
