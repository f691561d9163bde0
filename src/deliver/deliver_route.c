/*
 * deliver_route - one entry's delivery: where each pending recipient
 * goes, what came back, and what that means for the entry.
 *
 * Local recipients (local_domains) go to deliver_local.c: the alias
 * table, then local_delivery (Maildir, or LMTP in one transaction for
 * all); alias targets outside are queued again as a new entry
 * (committed before the original recipient is marked sent, so nothing
 * is lost in between). Other recipients go to deliver_remote.c: the
 * smarthost, or their domain's MX hosts in preference order. 2xx:
 * sent; 5xx: bounced with one DSN per attempt; anything else: deferred,
 * retried with a doubling delay between retry_min and retry_max,
 * bounced as expired after queue_lifetime. With local_delivery = qmail-queue:PATH, every
 * pending recipient goes to qmail-queue in one hand-off instead.
 */
#include <errno.h>
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
#include "queue/qentry.h"
#include "deliver/qmailq.h"
#include "queue/queue.h"
#include "deliver/smtp_client.h"
#include "smtp/policy.h"

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
	char local[256], domain[256];
	size_t i, n = 0;
	int code = 451;
	bool nomem = rcpts == NULL;

	sender = e->sender[0] == '\0' ? strdup("") : qmail_form(e->sender);
	nomem |= sender == NULL;
	for (i = 0; !nomem && i < e->nrcpts; i++) {
		if (e->state[i] != RCPT_PENDING)
			continue;
		/* qmail-send would relay a remote copy without REQUIRETLS,
		 * perhaps without TLS (RFC 8689 4.2.1): not handed over. */
		split(e->rcpts[i], local, sizeof(local), domain,
		    sizeof(domain));
		if (e->requiretls && !policy_local_domain(cfg, domain)) {
			set_outcome(&outs[i], 550, "qmail-queue", "550 %s "
			    "REQUIRETLS support required, but qmail-queue "
			    "cannot carry it to %s", CLIENT_REQUIRETLS_STATUS,
			    domain);
			continue;
		}
		if ((rcpts[n++] = qmail_form(e->rcpts[i])) == NULL)
			nomem = true;
	}
	if (!nomem && n == 0)
		goto out;	/* every one refused above */
	if (!nomem && rewind_body(fd, e) == -1)
		snprintf(text, sizeof(text), "451 4.3.0 cannot read queue file");
	else if (!nomem)
		code = qmailq_hand_off(cfg->local_delivery + 12, sender,
		    rcpts, n, fd, e->body_size, cfg->delivery_timeout, text,
		    sizeof(text));
	for (i = 0; i < e->nrcpts; i++)
		if (e->state[i] == RCPT_PENDING && !outs[i].tried)
			set_outcome(&outs[i], code, "qmail-queue", "%s", text);
out:
	for (i = 0; rcpts != NULL && i < n; i++)
		free(rcpts[i]);
	free(rcpts);
	free(sender);
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

	if (qentry_remove_delivered(cfg->queue_dir, e->id, err,
	    sizeof(err)) == 0) {
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

	if ((e = qentry_load_body(dir, id, &fd, err, sizeof(err))) == NULL) {
		if (errno == ENOENT)
			return 0;	/* deleted, or finished elsewhere */
		log_err("id=%s %s", id, err);
		return now + cfg->retry_max;
	}
	outs = calloc(e->nrcpts, sizeof(*outs));
	idx = calloc(e->nrcpts, sizeof(*idx));
	if (outs == NULL || idx == NULL) {
		log_err("id=%s out of memory", id);
		free(outs);
		free(idx);
		close(fd);
		qentry_free(e);
		return now + cfg->retry_min;
	}

	/* qmail-queue takes them all; else the local recipients (one LMTP
	 * transaction for all), then the rest grouped by destination. */
	for (i = 0; i < e->nrcpts; i++)
		outs[i].dest = MDC_LOCAL;	/* deliver_remote's: below */
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
		for (j = 0; j < n; j++) {
			outs[idx[j]].dest = cfg->smarthost ? MDC_SMARTHOST :
			    MDC_MX;
			settle(cfg, e, idx[j], &outs[idx[j]], now);
		}
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
