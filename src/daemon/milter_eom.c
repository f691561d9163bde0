/*
 * milter_eom - the end of a message at one milter: the spooled message
 * read back (spool_pread) and cut by milter_msg into header fields, the
 * end of the header and body chunks, streamed as the socket takes them
 * (a chunk at a time: never the whole message in memory), what the
 * milter left out of OPTNEG left out here (NOHDRS, NOEOH, NOBODY, its
 * SKIP, the steps it does not answer); then its changes collected until
 * its verdict: header edits (milter_edits), recipients added and
 * deleted, the sender changed, the body replaced (into an unlinked
 * temporary file in the queue's tmp/, as it arrives), quarantine. A
 * change it did not negotiate is a broken milter. Once it has said
 * continue or accept, what it changed is written into the spool
 * (milter_apply.c) before the next milter sees the message.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/milter_int.h"
#include "lib/log.h"

struct mf_eom {
	struct milter_msg *msg;
	struct milter_edits *edits;
	uint64_t	 off;		/* next octet of the spool to read */
	bool		 eof;		/* the whole spool was fed */
	bool		 skip;		/* the milter wants no more body */
	bool		 sent_eom;
	int		 body_fd;	/* the replaced body; -1: none */
	char		 body_last;	/* its last octet written */
	uint64_t	 body_size;	/* its octets from the milter */
	bool		 changed;	/* anything to write */
	unsigned	 hdr_add, hdr_chg, hdr_del, rcpt_add, rcpt_del;
	bool		 from_changed, body_replaced;
	char		*quarantine;
	struct milters	*saved;		/* the envelope before its changes */
};

void
mf_eom_free(struct mf_eom *e)
{
	if (e == NULL)
		return;
	milter_msg_free(e->msg);
	milter_edits_free(e->edits);
	if (e->body_fd != -1)
		close(e->body_fd);
	free(e->quarantine);
	mf_env_drop(e->saved);
	free(e);
}

void
mf_eom_undo(struct milters *set)
{
	struct mf_eom *e = set->eom;

	if (e == NULL || e->saved == NULL)
		return;
	if (mf_env_restore(set, e->saved) == -1)
		log_warn("s=%lx milters: out of memory", set->p.sid);
	e->saved = NULL;
}

enum mf_eom_result
mf_eom_start(struct mfilter *mf)
{
	struct milters	*set = mf->set;
	struct mf_eom	*e;
	bool		 leadspc = mf->protocol & MILTER_P_HDR_LEADSPC;

	mf_eom_free(set->eom);
	if ((e = set->eom = calloc(1, sizeof(*e))) == NULL ||
	    (e->msg = milter_msg_new(leadspc)) == NULL ||
	    (e->edits = milter_edits_new(leadspc)) == NULL) {
		mf_eom_free(e);
		set->eom = NULL;
		log_warn("s=%lx milter=%s: out of memory", set->p.sid,
		    mf->spec->name);
		return MF_EOM_ERROR;
	}
	e->body_fd = -1;
	return mf_eom_pump(mf);
}

/* eom_feed - the next piece of the spool into the cutter; -1 on a read
 * error (logged) */
static int
eom_feed(struct mfilter *mf, struct mf_eom *e)
{
	struct milters	*set = mf->set;
	char		 buf[MF_READ];
	ssize_t		 n;

	n = spool_pread(set->spool, buf, sizeof(buf), e->off);
	if (n == -1) {
		log_err("s=%lx id=%s milter=%s: spool read: %s", set->p.sid,
		    spool_id(set->spool), mf->spec->name, strerror(errno));
		return -1;
	}
	if (n == 0) {
		milter_msg_eof(e->msg);
		e->eof = true;
		return 0;
	}
	e->off += (uint64_t)n;
	if (milter_msg_feed(e->msg, buf, (size_t)n) == -1) {
		log_warn("s=%lx milter=%s: out of memory", set->p.sid,
		    mf->spec->name);
		return -1;
	}
	return 0;
}

enum mf_eom_result
mf_eom_pump(struct mfilter *mf)
{
	struct milters		*set = mf->set;
	struct mf_eom		*e = set->eom;
	struct milter_event	 ev;
	unsigned		 t = mf_timeout(mf, MILTER_TIMEOUT_EOM);
	uint32_t		 pr = mf->protocol;
	int			 st;

again:
	while (e != NULL && !mf->waiting && !e->sent_eom &&
	    mf->out.len < MF_OUT_LOW) {
		milter_msg_next(e->msg, &ev);
		st = 0;
		switch (ev.ev) {
		case MILTER_EV_NEED:
			if (e->eof)
				return MF_EOM_WAIT;
			if (eom_feed(mf, e) == -1)
				return MF_EOM_ERROR;
			continue;
		case MILTER_EV_HEADER:
			if (pr & MILTER_P_NOHDRS)
				continue;
			st = milter_put_header(&mf->out, ev.name, ev.value);
			if (st == 0 && !(pr & MILTER_P_NR_HDR)) {
				mf_send(mf, true, t);
				return mf->fd == -1 ? MF_EOM_GONE :
				    MF_EOM_WAIT;
			}
			break;
		case MILTER_EV_EOH:
			if (pr & MILTER_P_NOEOH)
				continue;
			if ((st = milters_put_macros(mf, MILTER_M_EOH,
			    MILTER_C_EOH)) == 0)
				st = milter_put_cmd(&mf->out, MILTER_C_EOH);
			if (st == 0 && !(pr & MILTER_P_NR_EOH)) {
				mf_send(mf, true, t);
				return mf->fd == -1 ? MF_EOM_GONE :
				    MF_EOM_WAIT;
			}
			break;
		case MILTER_EV_BODY:
			if ((pr & MILTER_P_NOBODY) || e->skip)
				continue;
			st = milter_put_body(&mf->out, ev.data, ev.len);
			if (st == 0 && !(pr & MILTER_P_NR_BODY)) {
				mf_send(mf, true, t);
				return mf->fd == -1 ? MF_EOM_GONE :
				    MF_EOM_WAIT;
			}
			break;
		case MILTER_EV_END:
			if ((st = milters_put_macros(mf, MILTER_M_EOM,
			    MILTER_C_EOM)) == 0)
				st = milter_put_cmd(&mf->out, MILTER_C_EOM);
			if (st == 0) {
				e->sent_eom = true;
				mf_send(mf, true, t);
				return mf->fd == -1 ? MF_EOM_GONE :
				    MF_EOM_WAIT;
			}
			break;
		}
		if (st == -1) {
			mf_fail(mf, "out of memory");
			return MF_EOM_GONE;
		}
	}
	/* Packets nobody answers: out as the socket takes them, and on
	 * while it takes them all; else the rest when it drains
	 * (ops->idle). */
	if (e == NULL || mf->waiting || e->sent_eom)
		return MF_EOM_WAIT;
	if (mf_write(mf) == -1)
		return MF_EOM_GONE;
	if (mf_drained(mf))
		goto again;
	/* A milter that stops reading has the step's deadline too, not
	 * only one that stops answering. */
	mf_progress(mf, t);
	return MF_EOM_WAIT;
}

/* body_put - a chunk of the new body into the temporary file, bare LFs
 * made CRLF as the queue keeps lines; -1 with errno */
static int
body_put(struct milters *set, struct mf_eom *e, const char *data,
    size_t len)
{
	char	 out[2 * MF_READ], path[4096];
	size_t	 n = 0;

	if (e->body_fd == -1) {
		snprintf(path, sizeof(path), "%s/tmp/%s.milter",
		    set->p.queue_dir, spool_id(set->spool));
		e->body_fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
		if (e->body_fd == -1)
			return -1;
		/* Nothing to clean up after a crash: only the descriptor
		 * keeps it. */
		unlink(path);
		e->body_last = '\n';
	}
	while (len > 0) {
		size_t take = len < MF_READ ? len : MF_READ;

		n = 0;
		for (size_t i = 0; i < take; i++) {
			if (data[i] == '\n' && e->body_last != '\r')
				out[n++] = '\r';
			out[n++] = e->body_last = data[i];
		}
		for (size_t done = 0; done < n; ) {
			ssize_t w = write(e->body_fd, out + done, n - done);

			if (w == -1 && errno == EINTR)
				continue;
			if (w == -1)
				return -1;
			done += (size_t)w;
		}
		data += take;
		len -= take;
	}
	return 0;
}

/* eom_change - one change asked at the end of the message */
static enum mf_eom_result
eom_change(struct mfilter *mf, struct mf_eom *e, const struct milter_reply *r)
{
	struct milters	*set = mf->set;
	const char	*err = NULL;
	char		 ebuf[256];
	uint32_t	 need;

	switch (r->cmd) {
	case MILTER_R_ADDHEADER: case MILTER_R_INSHEADER:
		need = MILTER_F_ADDHDRS; break;
	case MILTER_R_CHGHEADER:	need = MILTER_F_CHGHDRS; break;
	case MILTER_R_ADDRCPT:		need = MILTER_F_ADDRCPT; break;
	case MILTER_R_ADDRCPT_PAR:	need = MILTER_F_ADDRCPT_PAR; break;
	case MILTER_R_DELRCPT:		need = MILTER_F_DELRCPT; break;
	case MILTER_R_CHGFROM:		need = MILTER_F_CHGFROM; break;
	case MILTER_R_REPLBODY:		need = MILTER_F_CHGBODY; break;
	case MILTER_R_QUARANTINE:	need = MILTER_F_QUARANTINE; break;
	default:
		mf_fail(mf, "protocol error: reply '%c' at END-OF-MESSAGE",
		    r->cmd);
		return MF_EOM_GONE;
	}
	if (!(mf->actions & need)) {
		mf_fail(mf, "asked for action '%c' it did not negotiate",
		    r->cmd);
		return MF_EOM_GONE;
	}
	if (!e->sent_eom) {
		mf_fail(mf, "protocol error: change '%c' before the end of "
		    "the message", r->cmd);
		return MF_EOM_GONE;
	}
	e->changed = true;
	/* The envelope is changed in place: kept as it was first, for a
	 * milter that fails before its verdict. */
	if (r->cmd != MILTER_R_ADDHEADER && r->cmd != MILTER_R_INSHEADER &&
	    r->cmd != MILTER_R_CHGHEADER && r->cmd != MILTER_R_REPLBODY &&
	    e->saved == NULL && (e->saved = mf_env_save(set)) == NULL) {
		mf_fail(mf, "out of memory");
		return MF_EOM_GONE;
	}
	switch (r->cmd) {
	case MILTER_R_ADDHEADER:
	case MILTER_R_INSHEADER:
	case MILTER_R_CHGHEADER:
		if (milter_edits_add(e->edits, r, &err) == -1) {
			mf_fail(mf, "header change refused: %s", err);
			return MF_EOM_GONE;
		}
		if (r->cmd != MILTER_R_CHGHEADER)
			e->hdr_add++;
		else if (r->value == NULL || r->value[0] == '\0')
			e->hdr_del++;
		else
			e->hdr_chg++;
		return MF_EOM_WAIT;
	case MILTER_R_ADDRCPT:
	case MILTER_R_ADDRCPT_PAR:
		/* A message's recipients are bounded as the client's are. */
		if (set->nrcpts >= set->p.cfg->max_recipients) {
			mf_fail(mf, "more recipients than max_recipients (%u)",
			    set->p.cfg->max_recipients);
			return MF_EOM_GONE;
		}
		if (mf_env_addrcpt(set, r->addr, ebuf, sizeof(ebuf)) == -1) {
			mf_fail(mf, "recipient to add: %s", ebuf);
			return MF_EOM_GONE;
		}
		e->rcpt_add++;
		return MF_EOM_WAIT;
	case MILTER_R_DELRCPT:
		e->rcpt_del += (unsigned)mf_env_delrcpt(set, r->addr);
		return MF_EOM_WAIT;
	case MILTER_R_CHGFROM:
		if (mf_env_sender(set, r->addr, ebuf, sizeof(ebuf)) == -1) {
			mf_fail(mf, "new sender: %s", ebuf);
			return MF_EOM_GONE;
		}
		e->from_changed = true;
		return MF_EOM_WAIT;
	case MILTER_R_REPLBODY:
		/* The new body is bounded as the client's message is. */
		e->body_size += r->len;
		if (e->body_size > set->p.cfg->max_message_size) {
			mf_fail(mf, "a new body larger than max_message_size "
			    "(%" PRIu64 ")", set->p.cfg->max_message_size);
			return MF_EOM_GONE;
		}
		if (body_put(set, e, r->data, r->len) == -1) {
			log_err("s=%lx milter=%s: the new body in %s/tmp: %s",
			    set->p.sid, mf->spec->name, set->p.queue_dir,
			    strerror(errno));
			return MF_EOM_ERROR;
		}
		e->body_replaced = true;
		return MF_EOM_WAIT;
	default:	/* MILTER_R_QUARANTINE */
		free(e->quarantine);
		e->quarantine = strdup(r->reason ? r->reason : "");
		if (e->quarantine == NULL || mf_env_hold(set,
		    e->quarantine) == -1) {
			mf_fail(mf, "out of memory");
			return MF_EOM_GONE;
		}
		return MF_EOM_WAIT;
	}
}

/* eom_summary - the one line saying what a milter changed */
static void
eom_summary(struct mfilter *mf, struct mf_eom *e)
{
	char	 line[512];
	size_t	 n = 0;

#define ADD(...) do { if (n < sizeof(line)) n += (size_t)snprintf( \
	line + n, sizeof(line) - n, __VA_ARGS__); } while (0)
	if (e->hdr_add)
		ADD(", +%u header field%s", e->hdr_add, e->hdr_add > 1 ?
		    "s" : "");
	if (e->hdr_chg)
		ADD(", %u header field%s changed", e->hdr_chg,
		    e->hdr_chg > 1 ? "s" : "");
	if (e->hdr_del)
		ADD(", -%u header field%s", e->hdr_del, e->hdr_del > 1 ?
		    "s" : "");
	if (e->body_replaced)
		ADD(", body replaced");
	if (e->from_changed)
		ADD(", sender changed");
	if (e->rcpt_add || e->rcpt_del)
		ADD(", rcpt +%u -%u", e->rcpt_add, e->rcpt_del);
	if (e->quarantine)
		ADD(", quarantined: %s", mf->set->env.hold);
#undef ADD
	if (n > 2)
		log_info("s=%lx id=%s milter=%s: %s", mf->set->p.sid,
		    spool_id(mf->set->spool), mf->spec->name, line + 2);
}

/* eom_done - the milter's verdict is continue or accept: its changes
 * go into the spool, then the next milter */
static enum mf_eom_result
eom_done(struct mfilter *mf, struct mf_eom *e)
{
	struct milters	*set = mf->set;
	char		 err[512];

	mf->saw_eom = true;
	if (e->changed) {
		if (mf_apply(set, e->edits, e->body_fd, err,
		    sizeof(err)) == -1) {
			log_err("s=%lx id=%s milter=%s: the changes not "
			    "written: %s", set->p.sid, spool_id(set->spool),
			    mf->spec->name, err);
			return MF_EOM_ERROR;
		}
		eom_summary(mf, e);
	}
	if (set->nrcpts == 0) {
		log_info("s=%lx milter=%s: every recipient deleted: the "
		    "message is discarded", set->p.sid, mf->spec->name);
		return MF_EOM_DISCARD;
	}
	return MF_EOM_NEXT;
}

enum mf_eom_result
mf_eom_reply(struct mfilter *mf, const struct milter_reply *r)
{
	struct milters	*set = mf->set;
	struct mf_eom	*e = set->eom;

	if (e == NULL)
		return MF_EOM_WAIT;
	switch (r->cmd) {
	case MILTER_R_PROGRESS:
		mf_progress(mf, mf_timeout(mf, MILTER_TIMEOUT_EOM));
		return MF_EOM_WAIT;
	case MILTER_R_SKIP:
		if (e->sent_eom) {
			mf_fail(mf, "protocol error: SKIP after the end of "
			    "the message");
			return MF_EOM_GONE;
		}
		e->skip = true;		/* no more body, then EOM */
		return mf_eom_pump(mf);
	case MILTER_R_CONTINUE:
		return e->sent_eom ? eom_done(mf, e) : mf_eom_pump(mf);
	case MILTER_R_ACCEPT:
		if (e->sent_eom) {
			log_info("s=%lx milter=%s: accept at END-OF-MESSAGE",
			    set->p.sid, mf->spec->name);
			return eom_done(mf, e);
		}
		/* Done with this message before its end: nothing changed. */
		log_info("s=%lx milter=%s: accept before END-OF-MESSAGE",
		    set->p.sid, mf->spec->name);
		mf->off_msg = true;
		return MF_EOM_NEXT;
	case MILTER_R_REJECT:
	case MILTER_R_TEMPFAIL:
	case MILTER_R_REPLYCODE:
	case MILTER_R_DISCARD:
	case MILTER_R_CONN_FAIL:
	case MILTER_R_SHUTDOWN:
		/* The milter that saw the end needs no ABORT. */
		mf->saw_eom = e->sent_eom;
		return MF_EOM_VERDICT;
	default:
		return eom_change(mf, e, r);
	}
}
