/*
 * deliver_local - an entry's recipients in our own domains: aliases
 * expanded to mailbox users, each mailbox's copy by local_delivery,
 * alias targets outside queued again as a new entry. "Ours" is a local
 * domain, or postmaster@hostname, where the bare postmaster was queued
 * (policy_local_rcpt).
 *
 * With LMTP, every mailbox of the message goes to the server in one
 * transaction (RFC 2033): one MAIL, one RCPT per mailbox, one DATA, and
 * a reply per accepted mailbox after it. Each mailbox keeps the server's
 * own reply, refusal at RCPT or verdict after DATA, so that mixed
 * outcomes land where they belong and the log shows what the server
 * said. A server that limits recipients answers 452 to the rest, which
 * are retried like any temporary failure. With Maildir, each mailbox is
 * written in turn.
 *
 * A recipient whose aliases lead to several mailboxes takes the worst of
 * their outcomes: a temporary failure retries the recipient (a copy
 * already delivered may come twice), else a permanent one bounces it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* asprintf */
#endif
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/srs.h"
#include "lib/log.h"
#include "smtp/address.h"
#include "conf/rcpt_table.h"
#include "deliver/deliver_int.h"
#include "lib/idna.h"
#include "deliver/maildir.h"
#include "lib/netaddr.h"
#include "smtp/policy.h"
#include "queue/qentry.h"
#include "queue/queue.h"

#define MAX_TARGETS	64	/* alias expansion of one recipient */

/* One mailbox's copy of the message, shared by every recipient whose
 * aliases lead to it (it gets one copy, as with Postfix's duplicate
 * elimination). */
struct mbox {
	char		*addr;		/* "user@domain", the last @ splits */
	char		*folder;	/* Maildir folder to try, or NULL */
	struct outcome	 res;
};

/* A pending local recipient, between expansion and its outcome. */
struct lrcpt {
	size_t		 i;		/* in e->rcpts */
	struct rcpt_dest *targets;	/* from the recipient table */
	long		*mb;		/* each target's mailbox; -1: outside */
	int		 n;
};

struct mboxes {
	struct mbox	*v;
	size_t		 n, cap;
};

/* mbox_add - the index of user@domain's mailbox (with its folder: one
 * copy per folder), added when new; -1 when out of memory. The mailbox is named in lower case: a domain is
 * case-insensitive (RFC 5321 2.4), and so is a local part of ours (the
 * RCPT check and the alias table ignore its case), so User@Example.org
 * and user@example.org are one mailbox and get one copy. A UTF-8
 * domain is named by its A-labels, as local_domains names it, so that
 * its UTF-8 and its xn-- spelling are one mailbox too. */
static long
mbox_add(struct mboxes *m, const char *user, const char *domain,
    const char *folder)
{
	struct mbox *nv;
	char *addr, alabels[256];
	const char *why;
	size_t k;

	if (idna_is_utf8(domain) &&
	    idna_to_dns(domain, alabels, sizeof(alabels), &why) == 0)
		domain = alabels;	/* one without is none of ours */
	if (asprintf(&addr, "%s@%s", user, domain) == -1)
		return -1;
	for (k = 0; addr[k] != '\0'; k++)
		if (addr[k] >= 'A' && addr[k] <= 'Z')
			addr[k] = (char)(addr[k] - 'A' + 'a');
	for (k = 0; k < m->n; k++)
		if (strcmp(m->v[k].addr, addr) == 0 && (m->v[k].folder ==
		    NULL ? folder == NULL : folder != NULL &&
		    strcmp(m->v[k].folder, folder) == 0)) {
			free(addr);
			return (long)k;
		}
	if (m->n == m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 16;

		if ((nv = realloc(m->v, ncap * sizeof(*nv))) == NULL) {
			free(addr);
			return -1;
		}
		m->v = nv;
		m->cap = ncap;
	}
	memset(&m->v[m->n], 0, sizeof(m->v[m->n]));
	if (folder != NULL && (m->v[m->n].folder = strdup(folder)) == NULL) {
		free(addr);
		return -1;
	}
	m->v[m->n].addr = addr;
	return (long)m->n++;
}

static void
mboxes_free(struct mboxes *m)
{
	for (size_t k = 0; k < m->n; k++) {
		free(m->v[k].addr);
		free(m->v[k].folder);
	}
	free(m->v);
}

/* --- the copies ----------------------------------------------------------- */

/* maildir_one - one mailbox's copy into its Maildir */
static void
maildir_one(const char *tpl, const struct qentry *e, int fd,
    struct mbox *mb)
{
	char err[512], user[256], domain[256];
	int rc;

	split(mb->addr, user, sizeof(user), domain, sizeof(domain));
	if (rewind_body(fd, e) == -1) {
		set_outcome(&mb->res, 451, "maildir", "451 4.3.0 cannot read "
		    "queue file");
		return;
	}
	rc = maildir_deliver(tpl, user, domain, mb->folder, e->sender, fd,
	    e->body_size, err, sizeof(err));
	if (rc == 0)
		set_outcome(&mb->res, 250, "maildir", "250 2.0.0 delivered to "
		    "maildir");
	else
		set_outcome(&mb->res, rc == -2 ? 550 : 451, "maildir",
		    "%s %s %s", rc == -2 ? "550" : "451",
		    rc == -2 ? "5.1.1" : "4.3.0", err);
}

/* lmtp_verdict - one mailbox's outcome from the transaction: the
 * server's reply for it (at RCPT, after DATA, or the one that refused
 * the whole transaction: its greeting, LHLO, MAIL or DATA), else, made
 * here and said as ours, why there was none. smtp_client hands a
 * session's refusal to every recipient it did not refuse on its own,
 * so a code of 0 means the server never answered: the message was sent
 * and its reply lost (session 250), or the session failed first. */
static void
lmtp_verdict(struct outcome *o, const char *how,
    const struct smtp_client_reply *sess, const struct smtp_client_reply *rep)
{
	if (rep->code != 0)
		set_reply(o, rep, how);
	else if (sess->code == 250)
		/* Not known to be delivered: RFC 3463 X.4.2, a connection
		 * that could not complete the transaction. */
		set_outcome(o, 451, how, "451 4.4.2 no reply from the LMTP "
		    "server after the data: %s", rep->text);
	else
		set_outcome(o, 451, how, "451 4.4.1 no answer from the LMTP "
		    "server: %s", rep->text);
}

/* lmtp_all - every mailbox in one LMTP transaction (how is
 * lmtp:unix:/path or lmtp:HOST:PORT) */
static void
lmtp_all(const struct config *cfg, const struct qentry *e, int fd,
    struct mbox *mbs, size_t n)
{
	const char *how = cfg->local_delivery;
	struct smtp_client_opts opts;
	struct smtp_client_reply sess, *reps = calloc(n, sizeof(*reps));
	struct netaddr_port np;
	char host[NETADDR_STRLEN], port[8], err[256];
	char **rcpts = calloc(n, sizeof(*rcpts));
	const char *why = NULL;
	size_t k;

	memset(&opts, 0, sizeof(opts));
	opts.lmtp = true;
	opts.helo = cfg->hostname;
	opts.tls = CLIENT_TLS_NONE;
	opts.timeout = cfg->delivery_timeout;
	content_opts(cfg, e, &opts);
	if (reps == NULL || rcpts == NULL)
		why = "451 4.3.0 out of memory";
	else if (strncmp(how, "lmtp:unix:", 10) == 0)
		opts.unix_path = how + 10;
	else if (netaddr_port_parse(how + 5, NETADDR_PORT_NEEDED, &np, err,
	    sizeof(err)) == 0 && inet_ntop(np.family, np.addr, host,
	    sizeof(host)) != NULL) {
		snprintf(port, sizeof(port), "%u", np.port);
		opts.host = host;
		opts.port = port;
	} else
		why = "451 4.3.5 bad local_delivery";
	if (why == NULL && rewind_body(fd, e) == -1)
		why = "451 4.3.0 cannot read queue file";
	if (why != NULL) {
		for (k = 0; k < n; k++)
			set_outcome(&mbs[k].res, 451, how, "%s", why);
		goto out;
	}
	for (k = 0; k < n; k++)
		rcpts[k] = mbs[k].addr;
	smtp_client_send(&opts, e->sender, rcpts, n, fd, e->body_size, &sess,
	    reps);
	for (k = 0; k < n; k++)
		lmtp_verdict(&mbs[k].res, how, &sess, &reps[k]);
out:
	free(reps);
	free(rcpts);
}

/* --- forwarding ------------------------------------------------------------- */

/* forward_sender - the forward's envelope sender: with srs_secret, the
 * original sender in SRS form at srs_domain (SRS1 for another
 * forwarder's SRS0, signed again for an SRS1), so that SPF passes at
 * the next hop and a bounce can find its way back; the null sender
 * stays null. Only the envelope changes: header and body go as they
 * came, and a DKIM signature on them still verifies. */
static const char *
forward_sender(const struct config *cfg, const struct qentry *e, char *buf,
    size_t len)
{
	enum srs_result r;

	if (cfg->srs_secrets.n == 0 || e->sender[0] == '\0')
		return e->sender;
	r = srs_forward((const char *const *)cfg->srs_secrets.v,
	    cfg->srs_secrets.n, cfg->srs_domain, e->sender, time(NULL), buf,
	    len);
	/* A local part past RFC 5321's 64 octets would be refused by our
	 * own RCPT check when the bounce came back: better a forward that
	 * may fail SPF (and bounce to the real sender) than a bounce lost. */
	if (r == SRS_OK && strrchr(buf, '@') - buf > ADDR_LOCAL_MAX)
		r = SRS_TOO_LONG;
	if (r == SRS_OK)
		return buf;
	if (r != SRS_NOT_SRS)
		log_warn("%s: forward keeps sender <%s>: %s", e->id, e->sender,
		    srs_strerror(r));
	return e->sender;
}

/* forward - queue the outside targets of an alias as a new entry */
static int
forward(const struct deliver_ctx *dc, const struct config *cfg,
    const struct qentry *e, int fd, char **targets, size_t n, char *id,
    char *err, size_t errlen)
{
	struct envelope env;
	struct spool *sp;
	char buf[65536], srs[ADDR_PATH_MAX - 1];
	off_t left = e->body_size;
	ssize_t got;

	memset(&env, 0, sizeof(env));
	env.arrival = time(NULL);
	env.client = e->client;
	env.helo = e->helo;
	env.proto = e->proto;
	env.auth_user = e->auth;
	env.sender = forward_sender(cfg, e, srs, sizeof(srs));
	env.rcpts = targets;
	env.nrcpts = n;
	env.smtputf8 = e->smtputf8;
	env.body = e->body;
	/* What the sender asked of TLS goes with every copy (RFC 8689):
	 * a forward is no way round REQUIRETLS. */
	env.requiretls = e->requiretls;
	env.tls_optional = e->tls_optional;
	if (rewind_body(fd, e) == -1 ||
	    (sp = queue_spool_create(dc->queue, &env, err, errlen)) == NULL)
		return -1;
	while (left > 0 && (got = read(fd, buf, left < (off_t)sizeof(buf) ?
	    (size_t)left : sizeof(buf))) > 0) {
		if (spool_write(sp, buf, (size_t)got) == -1)
			break;
		left -= got;
	}
	if (left != 0 || queue_commit(sp, err, errlen) == -1) {
		if (left != 0)
			snprintf(err, errlen, "copy for forwarding failed");
		spool_free(sp);
		return -1;
	}
	memcpy(id, env.id, QUEUE_ID_LEN + 1);
	spool_free(sp);
	return 0;
}

/* --- the recipients ----------------------------------------------------------- */

/* local_rcpt - rcpt_expand's question: delivered here? */
static bool
local_rcpt(const struct config *cfg, const char *local, const char *domain)
{
	return policy_local_rcpt(cfg, local, domain) &&
	    policy_local_user(cfg, local, domain);
}

/* srs_target - an SRS address at a local srs_domain, as our own bounce
 * of a forward has it (the RCPT check reverses those that come over
 * SMTP): one outside target, the address it stands for (1); -3 with
 * *o set when forged, expired or malformed; -1 when it is none */
static int
srs_target(const struct config *cfg, const struct address *a,
    struct rcpt_dest *tv, struct outcome *o)
{
	struct address rev;
	const char *why;
	char buf[ADDR_PATH_MAX + 1];

	switch (policy_srs_rcpt(cfg, a, &rev, &why)) {
	case 1:
		break;
	case -1:
		set_outcome(o, 550, "local", "550 5.7.1 %s", why);
		return -3;
	default:
		return -1;
	}
	memset(tv, 0, sizeof(*tv));
	if (address_format(&rev, buf, sizeof(buf)) == -1 ||
	    (tv->addr = strdup(buf)) == NULL)
		return -2;
	return 1;
}

/* expand - recipient lr->i's targets, each with its mailbox (or -1
 * for an address outside); false when *o already has its outcome. The
 * queue holds the recipient as SMTP writes it (quoted again where
 * needed): the parser unquotes it, and the one predicate of the RCPT
 * check (policy_local_user) is asked again of the same address. A
 * mailbox's folder (an address extension) is a Maildir matter: over
 * LMTP the server gets the mailbox's address. */
static bool
expand(const struct config *cfg, const struct qentry *e, struct lrcpt *lr,
    struct mboxes *m, struct outcome *o)
{
	const char *rcpt = e->rcpts[lr->i], *perr;
	bool maildir = strncmp(cfg->local_delivery, "maildir:", 8) == 0;
	char tl[256], td[256];
	struct rcpt_dest tv[MAX_TARGETS];
	struct address a;
	int k, n = -1;

	if (address_parse(rcpt, strlen(rcpt), &a, &perr) == (int)strlen(rcpt)) {
		if ((n = srs_target(cfg, &a, tv, o)) == -3)
			return false;
		if (n == -1 && policy_local_user(cfg, a.local, a.domain))
			n = rcpt_expand(cfg->rcpt_table, a.local, a.domain,
			    local_rcpt, cfg, tv, MAX_TARGETS);
	}
	if (n == -1) {
		set_outcome(o, 550, "local", "550 5.1.1 User unknown");
		return false;
	}
	if (n == 0) {
		/* A loop of aliases with no mailbox at its end: the admin's
		 * to fix, and the mail waits for it. */
		set_outcome(o, 451, "local", "451 4.3.5 alias expands to no "
		    "mailbox (a loop?)");
		return false;
	}
	if (n > 0 && ((lr->targets = calloc((size_t)n,
	    sizeof(*lr->targets))) == NULL || (lr->mb = calloc((size_t)n,
	    sizeof(*lr->mb))) == NULL)) {
		rcpt_dest_free(tv, (size_t)n);
		n = -2;
	}
	if (n < 0) {
		set_outcome(o, 451, "local", "451 4.3.0 out of memory");
		return false;
	}
	memcpy(lr->targets, tv, (size_t)n * sizeof(*tv));
	lr->n = n;
	for (k = 0; k < n; k++) {
		const struct rcpt_dest *t = &lr->targets[k];

		if (!t->mailbox) {
			lr->mb[k] = -1;		/* forwarded */
			continue;
		}
		split(t->addr, tl, sizeof(tl), td, sizeof(td));
		if ((lr->mb[k] = mbox_add(m, tl, td, maildir ? t->folder :
		    NULL)) < 0) {
			set_outcome(o, 451, "local", "451 4.3.0 out of memory");
			return false;
		}
	}
	return true;
}

static void
lrcpt_free(struct lrcpt *lr)
{
	rcpt_dest_free(lr->targets, lr->n > 0 ? (size_t)lr->n : 0);
	free(lr->targets);
	free(lr->mb);
}

/* take - the verdict of src into dst, leaving dst's bookkeeping */
static void
take(struct outcome *dst, const struct outcome *src)
{
	dst->tried = src->tried;
	dst->remote = src->remote;
	dst->code = src->code;
	memcpy(dst->text, src->text, sizeof(dst->text));
	memcpy(dst->relay, src->relay, sizeof(dst->relay));
}

/* conclude - recipient lr's outcome from its mailboxes, then its
 * outside targets forwarded when the mailboxes went well */
static void
conclude(const struct deliver_ctx *dc, const struct config *cfg,
    const struct qentry *e, int fd,
    const struct lrcpt *lr, const struct mboxes *m, struct outcome *o)
{
	char id[QUEUE_ID_LEN + 1], err[512], **outside;
	size_t nout = 0;
	bool first = true;
	int k;

	set_outcome(o, 250, "local", "250 2.0.0 delivered");
	for (k = 0; k < lr->n; k++) {
		const struct outcome *one;

		if (lr->mb[k] < 0) {
			nout++;
			continue;
		}
		one = &m->v[lr->mb[k]].res;
		/* The first reply stands for a success; the worst decides
		 * a failure (a temporary one retries the recipient). */
		if (first || (one->code / 100 != 2 && (o->code / 100 == 2 ||
		    one->code / 100 == 4)))
			take(o, one);
		first = false;
	}
	if (nout == 0 || o->code / 100 != 2)
		return;
	if ((outside = calloc(nout, sizeof(*outside))) == NULL) {
		set_outcome(o, 451, "local", "451 4.3.0 out of memory");
		return;
	}
	for (k = 0, nout = 0; k < lr->n; k++)
		if (lr->mb[k] < 0)
			outside[nout++] = lr->targets[k].addr;
	if (forward(dc, cfg, e, fd, outside, nout, id, err, sizeof(err)) == -1)
		set_outcome(o, 451, "local", "451 4.3.0 %s", err);
	else {
		set_outcome(o, 250, "local", "250 2.0.0 forwarded as %s", id);
		dc->queued(dc->owner, id);
	}
	free(outside);
}

void
deliver_local(const struct deliver_ctx *dc, const struct config *cfg,
    struct qentry *e, int fd, struct outcome *outs, time_t now)
{
	const char *how = cfg->local_delivery;
	struct lrcpt *lrs = NULL;
	struct mboxes m = { NULL, 0, 0 };
	char local[256], domain[256];
	size_t i, k, n = 0;
	int t;

	for (i = 0; i < e->nrcpts; i++) {
		if (e->state[i] != RCPT_PENDING || outs[i].tried)
			continue;
		split(e->rcpts[i], local, sizeof(local), domain, sizeof(domain));
		if (!policy_local_rcpt(cfg, local, domain))
			continue;
		if (lrs == NULL && (lrs = calloc(e->nrcpts,
		    sizeof(*lrs))) == NULL) {
			set_outcome(&outs[i], 451, "local", "451 4.3.0 out of "
			    "memory");
			continue;
		}
		lrs[n].i = i;
		if (expand(cfg, e, &lrs[n], &m, &outs[i]))
			n++;
		else {
			lrcpt_free(&lrs[n]);
			memset(&lrs[n], 0, sizeof(lrs[n]));
		}
	}
	/* LMTP: one transaction for every mailbox. Maildir: each
	 * recipient's copies just before its outcome is recorded, so that
	 * a crash can repeat one recipient's copies at most, as before. */
	if (strncmp(how, "maildir:", 8) != 0 && m.n > 0)
		lmtp_all(cfg, e, fd, m.v, m.n);
	for (k = 0; k < n; k++) {
		struct lrcpt *lr = &lrs[k];

		for (t = 0; strncmp(how, "maildir:", 8) == 0 && t < lr->n; t++)
			if (lr->mb[t] >= 0 && !m.v[lr->mb[t]].res.tried)
				maildir_one(how + 8, e, fd, &m.v[lr->mb[t]]);
		conclude(dc, cfg, e, fd, lr, &m, &outs[lr->i]);
		settle(cfg, e, lr->i, &outs[lr->i], now);
		lrcpt_free(lr);
	}
	/* Those whose outcome came without a delivery (unknown, ...). */
	for (i = 0; i < e->nrcpts; i++)
		settle(cfg, e, i, &outs[i], now);
	free(lrs);
	mboxes_free(&m);
}
