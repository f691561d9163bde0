/*
 * milter_session - the milters of one SMTP session walked through the
 * stages: at connect (each milter connected and negotiated as the
 * session starts, all at once, then asked in order), HELO, MAIL, RCPT
 * and DATA as the engine reaches them, the end of message through
 * milter_eom.c. A stage asks the milters in configured order and the
 * first that refuses decides, as Postfix does; accept takes a milter
 * out for the message (or, at connect and HELO, for the session);
 * discard drops the message at its end. The verdict goes back to the
 * session from the loop (a zero timer), never inside a call of ours,
 * so the session may end in it.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config_milter.h"
#include "daemon/milter_int.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "smtp/smtp_reply.h"

static const char *const stage_names[] = {
	[MF_S_CONNECT] = "CONNECT", [MF_S_HELO] = "HELO",
	[MF_S_MAIL] = "MAIL", [MF_S_RCPT] = "RCPT", [MF_S_DATA] = "DATA",
	[MF_S_END] = "END-OF-MESSAGE", [MF_S_NONE] = "idle",
};

/* Per stage before END: the step a milter may leave out, the one it
 * does not answer, and the macro stage. */
static const struct {
	uint32_t	 no, nr;
	enum milter_stage macros;
	char		 cmd;
} steps[] = {
	[MF_S_CONNECT] = { MILTER_P_NOCONNECT, MILTER_P_NR_CONN,
	    MILTER_M_CONNECT, MILTER_C_CONNECT },
	[MF_S_HELO] = { MILTER_P_NOHELO, MILTER_P_NR_HELO, MILTER_M_HELO,
	    MILTER_C_HELO },
	[MF_S_MAIL] = { MILTER_P_NOMAIL, MILTER_P_NR_MAIL, MILTER_M_MAIL,
	    MILTER_C_MAIL },
	[MF_S_RCPT] = { MILTER_P_NORCPT, MILTER_P_NR_RCPT, MILTER_M_RCPT,
	    MILTER_C_RCPT },
	[MF_S_DATA] = { MILTER_P_NODATA, MILTER_P_NR_DATA, MILTER_M_DATA,
	    MILTER_C_DATA },
};

bool
milters_apply(const struct config *cfg, enum listen_role role)
{
	return cfg->nmilters > 0 &&
	    (role == ROLE_MX || cfg->milter_submission);
}

/* --- the verdict ------------------------------------------------------ */

/* on_answer - the walk's verdict, to the session; nothing after it */
static void
on_answer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct milters			*set = w->data;
	struct smtp_filter_verdict	 v;
	bool				 connect = set->answer_connect;

	(void)loop;
	(void)revents;
	memset(&v, 0, sizeof(v));
	v.action = set->answer;
	v.reply = set->refusal;
	v.summary = set->summary;
	if (connect)
		set->host->connect_done(set->ctx, set->refusal);
	else
		set->host->filter_done(set->ctx, &v);
}

/* finish - the walk is over: the end of message's state goes, the
 * verdict is sent from the loop */
static void
finish(struct milters *set, enum smtp_filter_action a)
{
	set->answer_connect = set->stage == MF_S_CONNECT;
	if (set->stage == MF_S_END) {
		/* The transaction is over with its end, whatever the verdict:
		 * a milter that saw no EOM forgets it. */
		for (size_t i = 0; i < set->nf; i++) {
			struct mfilter *mf = &set->f[i];

			if (mf->ready && mf->in_msg && !mf->saw_eom &&
			    milter_put_cmd(&mf->out, MILTER_C_ABORT) == 0)
				mf_send(mf, false, mf_timeout(mf,
				    MILTER_TIMEOUT_COMMAND));
			mf->in_msg = mf->off_msg = mf->saw_eom = false;
		}
		set->discard_msg = false;
		mf_eom_free(set->eom);
		set->eom = NULL;
		set->spool = NULL;
		mf_env_free(set);
	}
	set->stage = MF_S_NONE;
	set->answer = a;
	ev_timer_stop(set->p.loop, &set->answer_timer);
	ev_timer_set(&set->answer_timer, 0.0, 0.0);
	ev_timer_start(set->p.loop, &set->answer_timer);
}

static void
milters_refuse(struct milters *set, const char *reply, const char *who)
{
	free(set->refusal);
	if ((set->refusal = strdup(reply)) == NULL)
		set->refusal = NULL;
	snprintf(set->summary, sizeof(set->summary), "milter=%s", who);
	finish(set, set->refusal != NULL ? SMTP_FILTER_REFUSE :
	    SMTP_FILTER_CONTINUE);
}

static void
milters_discard(struct milters *set, const char *who)
{
	snprintf(set->summary, sizeof(set->summary), "milter=%s", who);
	finish(set, SMTP_FILTER_DISCARD);
}

/* --- the walk ----------------------------------------------------------- */

static void	walk(struct milters *);
static void	eom_outcome(struct mfilter *, enum mf_eom_result,
		    const struct milter_reply *);

static void
milters_next(struct milters *set)
{
	set->f[set->cur].kicked = false;
	set->cur++;
	walk(set);
}

/* put_step - the stage's macros and command for mf */
static int
put_step(struct milters *set, struct mfilter *mf)
{
	char	 name[NETADDR_STRLEN + 2];

	if (milters_put_macros(mf, steps[set->stage].macros,
	    steps[set->stage].cmd) == -1)
		return -1;
	switch (set->stage) {
	case MF_S_CONNECT:
		snprintf(name, sizeof(name), "[%s]", set->p.client_addr);
		return milter_put_connect(&mf->out, name, set->p.client);
	case MF_S_HELO:
		return milter_put_helo(&mf->out, set->arg);
	case MF_S_MAIL:
		return milter_put_mail(&mf->out, set->arg, set->params);
	case MF_S_RCPT:
		return milter_put_rcpt(&mf->out, set->arg, set->params);
	default:
		return milter_put_cmd(&mf->out, MILTER_C_DATA);
	}
}

/* walk - ask the milter at set->cur, or the next that wants the stage;
 * the verdict when none is left */
static void
walk(struct milters *set)
{
	struct mfilter	*mf;
	bool		 expect;

	for (; set->cur < set->nf; set->cur++) {
		mf = &set->f[set->cur];
		if (mf->off || (mf->off_msg && set->stage >= MF_S_MAIL))
			continue;
		if (mf->failed != -1) {
			milters_refuse(set, mf->failed == MILTER_ACTION_REJECT ?
			    R_MILTER_REJECT : R_MILTER_TEMPFAIL,
			    mf->spec->name);
			return;
		}
		if (!mf->ready)
			return;		/* milters_idle when it is */
		if (set->stage == MF_S_END) {
			mf->kicked = true;
			eom_outcome(mf, mf_eom_start(mf), NULL);
			return;
		}
		if (set->stage == MF_S_MAIL)
			mf->in_msg = true;
		if (mf->protocol & steps[set->stage].no)
			continue;
		if (put_step(set, mf) == -1) {
			mf_fail(mf, "out of memory");
			return;
		}
		expect = !(mf->protocol & steps[set->stage].nr);
		mf->kicked = true;
		mf_send(mf, expect, mf_timeout(mf, MILTER_TIMEOUT_COMMAND));
		return;		/* on with milters_reply or milters_idle */
	}
	snprintf(set->summary, sizeof(set->summary), "milters");
	if (set->stage == MF_S_END && (set->discard_msg ||
	    set->discard_session)) {
		finish(set, SMTP_FILTER_DISCARD);
		return;
	}
	finish(set, SMTP_FILTER_CONTINUE);
}

static void
milters_idle(struct mfilter *mf)
{
	struct milters *set = mf->set;

	if (set->stage == MF_S_NONE || set->opening || &set->f[set->cur] != mf)
		return;
	if (set->stage == MF_S_END && mf->kicked) {
		eom_outcome(mf, mf_eom_pump(mf), NULL);
		return;
	}
	if (!mf->kicked) {
		walk(set);		/* it was being negotiated */
		return;
	}
	if (!mf->waiting)
		milters_next(set);	/* a step it does not answer */
}

static void
milters_failed(struct mfilter *mf, const char *why)
{
	struct milters *set = mf->set;

	(void)why;
	if (set->stage == MF_S_NONE || set->opening || &set->f[set->cur] != mf)
		return;
	mf->kicked = false;
	if (set->stage == MF_S_END) {
		mf_eom_undo(set);
		mf_eom_free(set->eom);
		set->eom = NULL;
	}
	walk(set);		/* its default action */
}

/* verdict_log - one line for a verdict other than continue */
static void
verdict_log(struct mfilter *mf, const char *what)
{
	struct milters *set = mf->set;

	log_info("s=%lx milter=%s: %s at %s%s%s", set->p.sid, mf->spec->name,
	    what, stage_names[set->stage], set->arg && set->stage != MF_S_DATA ?
	    " " : "", set->arg && set->stage != MF_S_DATA ? set->arg : "");
}

/* milters_verdict - a final reply at any stage; true if the walk went
 * on or ended (false: not a verdict) */
static bool
milters_verdict(struct mfilter *mf, const struct milter_reply *r)
{
	struct milters	*set = mf->set;
	char		 line[600];

	switch (r->cmd) {
	case MILTER_R_CONTINUE:
		milters_next(set);
		return true;
	case MILTER_R_ACCEPT:
		verdict_log(mf, "accept");
		if (set->stage <= MF_S_HELO)
			mf->off = true;
		else
			mf->off_msg = true;
		milters_next(set);
		return true;
	case MILTER_R_DISCARD:
		verdict_log(mf, "discard");
		if (set->stage <= MF_S_HELO)
			set->discard_session = true;
		else
			set->discard_msg = true;
		if (set->stage == MF_S_END) {
			milters_discard(set, mf->spec->name);
			return true;
		}
		milters_next(set);
		return true;
	case MILTER_R_REJECT:
		verdict_log(mf, "reject: " R_MILTER_REJECT);
		milters_refuse(set, R_MILTER_REJECT, mf->spec->name);
		return true;
	case MILTER_R_TEMPFAIL:
	case MILTER_R_CONN_FAIL:
	case MILTER_R_SHUTDOWN:
		verdict_log(mf, "tempfail: " R_MILTER_TEMPFAIL);
		milters_refuse(set, R_MILTER_TEMPFAIL, mf->spec->name);
		return true;
	case MILTER_R_REPLYCODE:
		snprintf(line, sizeof(line), "reply: %s", r->text);
		for (char *c = line; *c != '\0'; c++)
			if (*c == '\r' || *c == '\n')
				*c = ' ';
		verdict_log(mf, line);
		milters_refuse(set, r->text, mf->spec->name);
		return true;
	default:
		return false;
	}
}

/* eom_outcome - what the end of message at mf came to */
static void
eom_outcome(struct mfilter *mf, enum mf_eom_result res,
    const struct milter_reply *r)
{
	struct milters *set = mf->set;

	switch (res) {
	case MF_EOM_WAIT:
	case MF_EOM_GONE:
		return;
	case MF_EOM_NEXT:
		mf_eom_free(set->eom);
		set->eom = NULL;
		milters_next(set);
		return;
	case MF_EOM_ERROR:
		milters_refuse(set, R_LOCAL_ERROR, mf->spec->name);
		return;
	case MF_EOM_DISCARD:
		milters_discard(set, mf->spec->name);
		return;
	case MF_EOM_VERDICT:
		(void)milters_verdict(mf, r);
		return;
	}
}

static void
milters_reply(struct mfilter *mf, const struct milter_reply *r)
{
	struct milters *set = mf->set;

	if (set->stage == MF_S_NONE || &set->f[set->cur] != mf) {
		/* The walk that asked was given up (an abort): forget it. */
		return;
	}
	if (set->stage == MF_S_END) {
		eom_outcome(mf, mf_eom_reply(mf, r), r);
		return;
	}
	if (r->cmd == MILTER_R_PROGRESS) {
		mf_progress(mf, mf_timeout(mf, MILTER_TIMEOUT_COMMAND));
		return;
	}
	if (!milters_verdict(mf, r))
		mf_fail(mf, "protocol error: reply '%c' at %s", r->cmd,
		    stage_names[set->stage]);
}

static const struct mf_ops session_ops = {
	.reply = milters_reply,
	.idle = milters_idle,
	.failed = milters_failed,
};

/* --- the session --------------------------------------------------------- */

static void
on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct milters *set = w->data;

	(void)loop;
	(void)revents;
	set->opening = true;
	for (size_t i = 0; i < set->nf; i++)
		(void)mf_open(&set->f[i]);
	set->opening = false;
	walk(set);
}

struct milters *
milters_new(const struct milters_params *p, const struct milters_host *host,
    void *ctx)
{
	struct milters	*set;
	unsigned	 port = 0;

	if ((set = calloc(1, sizeof(*set))) == NULL)
		return NULL;
	set->p = *p;
	set->host = host;
	set->ctx = ctx;
	set->nf = p->cfg->nmilters;
	if ((set->f = calloc(set->nf, sizeof(*set->f))) == NULL) {
		free(set);
		return NULL;
	}
	set->ops = &session_ops;
	for (size_t i = 0; i < set->nf; i++) {
		set->f[i].set = set;
		set->f[i].spec = &p->cfg->milters[i];
		set->f[i].fd = -1;
		set->f[i].failed = -1;
		buf_init(&set->f[i].out, MF_OUT_MAX);
		milter_dec_init(&set->f[i].dec);
	}
	if (p->client->sa_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)p->client)->sin_port);
	else if (p->client->sa_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)
		    p->client)->sin6_port);
	snprintf(set->client_port, sizeof(set->client_port), "%u", port);
	set->stage = MF_S_CONNECT;
	ev_init(&set->answer_timer, on_answer);
	set->answer_timer.data = set;
	ev_timer_init(&set->kick, on_kick, 0.0, 0.0);
	set->kick.data = set;
	ev_timer_start(p->loop, &set->kick);
	return set;
}

void
milters_free(struct milters *set)
{
	if (set == NULL)
		return;
	ev_timer_stop(set->p.loop, &set->kick);
	ev_timer_stop(set->p.loop, &set->answer_timer);
	mf_eom_free(set->eom);
	for (size_t i = 0; i < set->nf; i++) {
		mf_close(&set->f[i], true);
		for (int m = 0; m < MILTER_M_COUNT; m++)
			free(set->f[i].macros[m]);
	}
	mf_env_free(set);
	free(set->f);
	free(set->arg);
	free(set->params);
	free(set->sender);
	free(set->rcpt);
	free(set->refusal);
	free(set);
}

/* set_copy - *dst becomes a copy of src (NULL stays NULL); -1: memory */
static int
set_copy(char **dst, const char *src)
{
	free(*dst);
	*dst = NULL;
	return src != NULL && (*dst = strdup(src)) == NULL ? -1 : 0;
}

void
milters_filter(struct milters *set, enum smtp_filter_stage stage,
    const char *arg, const char *params, struct spool *spool)
{
	static const enum mf_stage of[] = {
		[SMTP_FILTER_HELO] = MF_S_HELO, [SMTP_FILTER_MAIL] = MF_S_MAIL,
		[SMTP_FILTER_RCPT] = MF_S_RCPT, [SMTP_FILTER_DATA] = MF_S_DATA,
		[SMTP_FILTER_END] = MF_S_END,
	};

	set->stage = of[stage];
	set->cur = 0;
	free(set->refusal);
	set->refusal = NULL;
	if (set_copy(&set->arg, arg) == -1 ||
	    set_copy(&set->params, params) == -1 ||
	    (stage == SMTP_FILTER_MAIL && set_copy(&set->sender, arg) == -1) ||
	    (stage == SMTP_FILTER_RCPT && set_copy(&set->rcpt, arg) == -1)) {
		log_warn("s=%lx milters: out of memory", set->p.sid);
		milters_refuse(set, R_LOCAL_ERROR, "(none)");
		return;
	}
	if (stage == SMTP_FILTER_END) {
		set->spool = spool;
		if (set->discard_msg || set->discard_session) {
			/* Dropped anyway: no milter reads it (as Postfix). */
			snprintf(set->summary, sizeof(set->summary),
			    "milters");
			finish(set, SMTP_FILTER_DISCARD);
			return;
		}
		if (!set->have_env) {
			log_warn("s=%lx milters: no envelope at the end of "
			    "the message", set->p.sid);
			milters_refuse(set, R_LOCAL_ERROR, "(none)");
			return;
		}
	}
	walk(set);
}

void
milters_abort(struct milters *set)
{
	if (set->stage != MF_S_NONE && set->stage != MF_S_CONNECT) {
		/* A walk given up: a late reply is forgotten. */
		mf_eom_free(set->eom);
		set->eom = NULL;
		set->stage = MF_S_NONE;
		ev_timer_stop(set->p.loop, &set->answer_timer);
	}
	for (size_t i = 0; i < set->nf; i++) {
		struct mfilter *mf = &set->f[i];

		if (mf->ready && mf->in_msg && !mf->off &&
		    milter_put_cmd(&mf->out, MILTER_C_ABORT) == 0)
			mf_send(mf, mf->waiting, mf_timeout(mf,
			    MILTER_TIMEOUT_COMMAND));
		mf->in_msg = mf->off_msg = mf->saw_eom = false;
		mf->kicked = false;
	}
	set->discard_msg = false;
	set->spool = NULL;
	mf_env_free(set);
}

int
milters_envelope(struct milters *set, const struct envelope *env)
{
	return mf_env_copy(set, env);
}

void
milters_tls_optional(struct milters *set)
{
	set->env.tls_optional = true;
}
