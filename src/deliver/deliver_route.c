/*
 * deliver_route - one entry's delivery: where each pending recipient
 * goes, what came back, and what that means for the entry.
 *
 * Local recipients (local_domains) go to deliver_local.c: the alias
 * table, then local_delivery (Maildir, or LMTP in one transaction for
 * all); alias targets outside are queued again as a new entry
 * (committed before the original recipient is marked sent, so nothing
 * is lost in between). Other recipients go to the smarthost, or to their domain's
 * MX hosts in preference order. 2xx: sent; 5xx: bounced with one DSN
 * per attempt; anything else: deferred, retried with a doubling delay
 * between retry_min and retry_max, bounced as expired after
 * queue_lifetime. With local_delivery = qmail-queue:PATH, every
 * pending recipient goes to qmail-queue in one hand-off instead.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "smtp/address.h"
#include "deliver/deliver_int.h"
#include "deliver/dsn.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "queue/qentry.h"
#include "deliver/qmailq.h"
#include "queue/queue.h"
#include "dns/resolve.h"
#include "deliver/smtp_client.h"

#define MAX_MX		DELIVER_MAX_MX

/* --- per-destination limits -------------------------------------------- */

/* One slot per destination ("smarthost", a domain, "local"): a
 * delivery waits until fewer than delivery_per_destination use it. */
struct dest {
	char		 key[256];
	unsigned	 active;
};

static pthread_mutex_t dest_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dest_cond = PTHREAD_COND_INITIALIZER;
static struct dest dests[256];		/* more keys than threads never needed */

static struct dest *
dest_find(const char *key, bool create)
{
	size_t i;
	struct dest *free_slot = NULL;

	for (i = 0; i < sizeof(dests) / sizeof(dests[0]); i++) {
		if (dests[i].active > 0 && strcmp(dests[i].key, key) == 0)
			return &dests[i];
		if (dests[i].active == 0 && free_slot == NULL)
			free_slot = &dests[i];
	}
	if (create && free_slot)
		snprintf(free_slot->key, sizeof(free_slot->key), "%s", key);
	return create ? free_slot : NULL;
}

static void
dest_acquire(const char *key, unsigned limit)
{
	struct dest *d;

	pthread_mutex_lock(&dest_lock);
	while ((d = dest_find(key, false)) != NULL && d->active >= limit)
		pthread_cond_wait(&dest_cond, &dest_lock);
	if (d == NULL)
		d = dest_find(key, true);
	if (d)
		d->active++;
	pthread_mutex_unlock(&dest_lock);
}

static void
dest_release(const char *key)
{
	struct dest *d;

	pthread_mutex_lock(&dest_lock);
	if ((d = dest_find(key, false)) != NULL)
		d->active--;
	pthread_cond_broadcast(&dest_cond);
	pthread_mutex_unlock(&dest_lock);
}

/* --- the DSN's words --------------------------------------------------------- */

/* reply_code - the enhanced code ("5.1.1") of a text that opens with
 * "NNN X.Y.Z ", its length (0: none) in *skip with the space after it */
static bool
reply_code(const char *t, char *out, size_t outlen, size_t *skip)
{
	unsigned a, b, c;
	int n = 0;

	*skip = 0;
	if (strlen(t) < 4 || t[0] < '2' || t[0] > '5' || t[3] != ' ' ||
	    sscanf(t + 4, "%1u.%3u.%3u%n", &a, &b, &c, &n) != 3 ||
	    (t[4 + n] != ' ' && t[4 + n] != '\0'))
		return false;
	snprintf(out, outlen, "%u.%u.%u", a, b, c);
	*skip = 4 + (size_t)n + (t[4 + n] == ' ');
	return true;
}

/* dsn_status - the Status: of a failure. An expired one keeps the
 * last attempt's own code when it had one (a 4.X.X: RFC 3463 says
 * X.4.7 only when no better code is known, and Postfix does the same),
 * else 4.4.7; any other takes its reply's code, or its class's. */
static void
dsn_status(const struct outcome *o, char *out, size_t outlen)
{
	size_t skip;

	if (reply_code(o->text, out, outlen, &skip))
		return;
	if (o->expired)
		snprintf(out, outlen, "4.4.7");
	else
		snprintf(out, outlen, "%d.0.0", o->code / 100);
}

/* dsn_diagnostic - the Diagnostic-Code: of a failure (RFC 3464 2.3.6).
 * "smtp;" only for what a server replied; a reason made here, whatever
 * its form, is "X-Sallyport;" in words, as Postfix says "X-Postfix;". */
static void
dsn_diagnostic(const struct outcome *o, char *out, size_t outlen)
{
	char status[16];
	size_t skip;

	if (o->remote) {
		snprintf(out, outlen, "smtp; %s", o->text);
		return;
	}
	(void)reply_code(o->text, status, sizeof(status), &skip);
	snprintf(out, outlen, "X-Sallyport; %s%s", o->expired ? "delivery "
	    "time expired; last error: " : "", o->text + skip);
}

/* --- qmail-queue -------------------------------------------------------------- */

/* qmail_form - an address as qmail-queue takes it: the local part
 * unquoted ("user evil"@x is handed over as user evil@x), as
 * qmail-smtpd strips quotes and backslashes before it queues, so that
 * qmail-send looks the same name up; qmail-remote quotes it again on
 * the way out. A copy that does not parse is handed over as it is.
 * NULL when out of memory. */
static char *
qmail_form(const char *addr)
{
	struct address a;
	const char *err;
	size_t len;
	char *out;

	if (address_parse(addr, strlen(addr), &a, &err) != (int)strlen(addr))
		return strdup(addr);
	if (a.flags & ADDR_F_NODOMAIN)
		return strdup(a.local);
	len = strlen(a.local) + 1 + strlen(a.domain) + 1;
	if ((out = malloc(len)) != NULL)
		snprintf(out, len, "%s@%s", a.local, a.domain);
	return out;
}

/* deliver_qmail - every pending recipient, local or remote, in one
 * hand-off to qmail-queue (qmail expands aliases and routes itself) */
static void
deliver_qmail(const struct config *cfg, const struct qentry *e, int fd,
    struct outcome *outs)
{
	char **rcpts = calloc(e->nrcpts, sizeof(*rcpts)), *sender;
	char text[CLIENT_TEXT_MAX] = "451 4.3.0 out of memory";
	size_t i, n = 0;
	int code = 451;
	bool nomem = rcpts == NULL;

	sender = e->sender[0] == '\0' ? strdup("") : qmail_form(e->sender);
	nomem |= sender == NULL;
	for (i = 0; !nomem && i < e->nrcpts; i++)
		if (e->state[i] == RCPT_PENDING &&
		    (rcpts[n++] = qmail_form(e->rcpts[i])) == NULL)
			nomem = true;
	if (!nomem && rewind_body(fd, e) == -1)
		snprintf(text, sizeof(text), "451 4.3.0 cannot read queue file");
	else if (!nomem)
		code = qmailq_hand_off(cfg->local_delivery + 12, sender,
		    rcpts, n, fd, e->body_size, cfg->delivery_timeout, text,
		    sizeof(text));
	for (i = 0; i < e->nrcpts; i++)
		if (e->state[i] == RCPT_PENDING)
			set_outcome(&outs[i], code, "qmail-queue", "%s", text);
	for (i = 0; rcpts != NULL && i < n; i++)
		free(rcpts[i]);
	free(rcpts);
	free(sender);
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

/* deliver_remote - recipients idx[0..n) sharing one destination */
static void
deliver_remote(const struct config *cfg, const struct qentry *e, int fd,
    const size_t *idx, size_t n, struct outcome *outs)
{
	struct smtp_client_opts opts;
	struct smtp_client_reply sess, *reps = calloc(n, sizeof(*reps));
	struct mx_target *mx = calloc(MAX_MX, sizeof(*mx));
	char **rcpts = calloc(n, sizeof(*rcpts)), user[256], pass[256];
	char host[256], port[8], local[256], domain[256], relay[300], err[256];
	const char *key;
	size_t k, nmx = 0;
	bool heard = false;		/* sess is a server's reply */
	unsigned hops;
	size_t group_end = 0;
	int rc, self;

	if (reps == NULL || rcpts == NULL || mx == NULL) {
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
	opts.helo = cfg->hostname;
	opts.timeout = cfg->delivery_timeout;
	opts.port = "25";
	content_opts(cfg, e, &opts);
	split(rcpts[0], local, sizeof(local), domain, sizeof(domain));
	key = cfg->smarthost ? "smarthost" : domain;
	dest_acquire(key, cfg->delivery_per_destination);
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
		rc = RESOLVE_OK;
		nmx = 1;
	} else {
		opts.tls = CLIENT_TLS_OPPORTUNISTIC;
		rc = deliver_mx_list(cfg, domain, mx, MAX_MX, &nmx);
		sess.code = rc == RESOLVE_NONE || rc == RESOLVE_BADNAME ? 550 : 0;
		snprintf(sess.text, sizeof(sess.text), "%s %s",
		    sess.code ? "550 5.1.2" : "451 4.4.3",
		    rc == RESOLVE_BADNAME ? "recipient domain is not a valid "
		    "internationalized domain name (IDNA2008)" :
		    rc == RESOLVE_NONE ? "no mail server for the domain" :
		    "DNS failure looking up MX");
		snprintf(relay, sizeof(relay), "%s", domain);
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
			opts.verify_name = mx[k].mx.name;
			snprintf(relay, sizeof(relay), "%s", mx[k].mx.name);
		}
		try_target(&opts, &mx[k], e, fd, rcpts, n, &sess, reps);
		heard = sess.code != 0;
		/* A verdict ends the walk; a 4xx or no answer from this
		 * host leaves the next one to try. */
		if (sess.code / 100 == 2 || sess.code / 100 == 5)
			break;
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
	}
out:
	dest_release(key);
done:
	explicit_bzero(pass, sizeof(pass));
	free(reps);
	free(rcpts);
	free(mx);
}

/* --- the entry ------------------------------------------------------------------ */

static unsigned
backoff(const struct config *cfg, unsigned attempts)
{
	unsigned long d = cfg->retry_min;

	while (attempts-- > 1 && d < cfg->retry_max)
		d *= 2;
	return d > cfg->retry_max ? cfg->retry_max : (unsigned)d;
}

/* bounce - one DSN for the permanent failures, then mark them */
static void
bounce(const struct deliver_ctx *dc, const struct config *cfg, struct qentry *e, int fd,
    struct outcome *outs)
{
	struct dsn_failure *f = calloc(e->nrcpts, sizeof(*f));
	char (*status)[16] = calloc(e->nrcpts, sizeof(*status));
	char (*diag)[CLIENT_TEXT_MAX + 64] = calloc(e->nrcpts, sizeof(*diag));
	char id[QUEUE_ID_LEN + 1] = "", err[512] = "out of memory";
	size_t i, n = 0;

	if (f == NULL || status == NULL || diag == NULL) {
		for (i = 0; i < e->nrcpts; i++)
			if (outs[i].tried && outs[i].code / 100 == 5)
				outs[i].code = 451;	/* retry, not lose */
		log_err("id=%s cannot queue a DSN: %s", e->id, err);
		goto out;
	}

	for (i = 0; i < e->nrcpts; i++) {
		if (!outs[i].tried || outs[i].code / 100 != 5)
			continue;
		dsn_status(&outs[i], status[n], sizeof(status[n]));
		dsn_diagnostic(&outs[i], diag[n], sizeof(diag[n]));
		f[n].rcpt = i;
		f[n].status = status[n];
		f[n].diagnostic = diag[n];
		f[n].remote_mta = NULL;
		n++;
	}
	if (n == 0)
		goto out;
	if (rewind_body(fd, e) == -1 ||
	    dsn_queue(dc->queue, cfg->hostname, e, fd, f, n, id, err,
	    sizeof(err)) == -1) {
		/* No DSN, no bounce: retry later rather than lose the news. */
		log_err("id=%s cannot queue a DSN: %s", e->id, err);
		for (i = 0; i < n; i++)
			outs[f[i].rcpt].code = 451;
		goto out;
	}
	if (id[0]) {
		log_info("id=%s sender non-delivery notification: %s", e->id,
		    id);
		dc->queued(dc->owner, id);
	} else if (e->sender == NULL || e->sender[0] == '\0') {
		/* A bounce that bounced: never a DSN for a DSN (RFC 5321
		 * 6.1), so the news ends here, in the log. */
		log_info("id=%s non-delivery notification dropped: null "
		    "sender, %zu recipient%s failed", e->id, n,
		    n == 1 ? "" : "s");
	}
out:
	free(f);
	free(status);
	free(diag);
}

/* finish - remove a finished entry; when that fails, the successes it
 * was to record are written after all and the removal tried again at
 * the returned time (0: gone) */
static time_t
finish(const struct config *cfg, struct qentry *e, struct outcome *outs,
    time_t now)
{
	char err[512];
	size_t i;
	int saved;

	if (qentry_remove(cfg->queue_dir, e->id, err, sizeof(err)) == 0) {
		log_info("id=%s removed: every recipient done", e->id);
		return 0;
	}
	saved = errno;
	log_err("id=%s %s", e->id, err);
	if (saved == ENOENT)
		return 0;		/* deleted meanwhile */
	for (i = 0; i < e->nrcpts; i++) {
		if (!outs[i].noted)
			continue;
		e->state[i] = RCPT_PENDING;	/* undo qentry_note_sent */
		if (qentry_record(cfg->queue_dir, e, i, "sent", outs[i].text,
		    err, sizeof(err)) == -1)
			log_err("id=%s %s", e->id, err);
	}
	return now + cfg->retry_min;
}

time_t
deliver_entry(const struct deliver_ctx *dc, const struct config *cfg,
    const char *id)
{
	const char *dir = cfg->queue_dir;
	struct qentry *e;
	struct outcome *outs;
	size_t *idx, i, j, n;
	char err[512], local[256], domain[256], d2[256];
	time_t now = time(NULL), next;
	int fd;

	if ((e = qentry_load(dir, id, err, sizeof(err))) == NULL) {
		if (errno == ENOENT)
			return 0;	/* deleted, or finished elsewhere */
		log_err("id=%s %s", id, err);
		return now + cfg->retry_max;
	}
	if ((fd = qentry_open_body(dir, e)) == -1 ||
	    (outs = calloc(e->nrcpts, sizeof(*outs))) == NULL ||
	    (idx = calloc(e->nrcpts, sizeof(*idx))) == NULL) {
		log_err("id=%s cannot read its message: %s", id,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		qentry_free(e);
		return now + cfg->retry_min;
	}

	/* qmail-queue takes them all; else the local recipients (one LMTP
	 * transaction for all), then the rest grouped by destination. */
	if (config_qmail_queue(cfg)) {
		deliver_qmail(cfg, e, fd, outs);
		for (i = 0; i < e->nrcpts; i++)
			settle(cfg, e, i, &outs[i], now);
	}
	deliver_local(dc, cfg, e, fd, outs, now);
	for (i = 0; i < e->nrcpts; i++) {
		if (e->state[i] != RCPT_PENDING || outs[i].tried)
			continue;
		split(e->rcpts[i], local, sizeof(local), domain, sizeof(domain));
		for (n = 0, j = i; j < e->nrcpts; j++) {
			if (e->state[j] != RCPT_PENDING || outs[j].tried)
				continue;
			split(e->rcpts[j], local, sizeof(local), d2, sizeof(d2));
			if (cfg->smarthost || strcasecmp(d2, domain) == 0)
				idx[n++] = j;
		}
		deliver_remote(cfg, e, fd, idx, n, outs);
		for (j = 0; j < n; j++)
			settle(cfg, e, idx[j], &outs[idx[j]], now);
	}

	/* The permanent failures: one DSN first, then "bounced" (or, when
	 * the DSN could not be queued, "deferred" for another try). */
	bounce(dc, cfg, e, fd, outs);
	for (i = 0; i < e->nrcpts; i++)
		if (outs[i].tried && !outs[i].recorded)
			record(dir, e, i, &outs[i], now);
	close(fd);
	free(idx);
	if (qentry_done(e)) {
		next = finish(cfg, e, outs, now);
		free(outs);
		qentry_free(e);
		return next;
	}
	free(outs);
	next = now + backoff(cfg, e->attempts + 1);
	if (qentry_schedule(dir, e, next, err, sizeof(err)) == -1)
		log_err("id=%s %s", id, err);
	qentry_free(e);
	return next;
}
