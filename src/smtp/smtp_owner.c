/*
 * smtp_owner - whose addresses a logged-in user may send from: the
 * refusal at MAIL (sender_login_check or sender_login_map, asked by
 * smtp_cmd.c through policy_sender_login) and, with sender_login_map,
 * the From: field at the end of DATA, so that a user cannot put
 * another's address where the recipient reads it while the envelope
 * is the user's own.
 *
 * Every address of the From: field must be the user's (a message with
 * several authors is refused if one is not). A message without From:
 * claims no author and goes on (the envelope was checked); a From:
 * that cannot be read, or several From: fields, cannot be judged and
 * are refused: the check is for authenticated users only, whose mail
 * programs write a plain From:.
 *
 * And how much a login may send in a day (login_max_messages_per_day,
 * login_max_recipients_per_day): asked of the host, which keeps the
 * counts (queue/loginlimit.c), at MAIL, at each RCPT and once a
 * message is queued.
 */
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "smtp/policy.h"
#include "smtp/smtp.h"
#include "smtp/smtp_hdrs.h"
#include "smtp/smtp_reply.h"
#include "smtp/smtp_session.h"

void
smtp_sender_not_owned(struct smtp_session *s, const char *where,
    const char *addr)
{
	char a[(ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2) * 4], u[sizeof(s->user) * 2];

	/* Both are the client's bytes: escaped in the reply as in the log. */
	log_escape(a, sizeof(a), addr, strlen(addr));
	log_escape(u, sizeof(u), s->user, strlen(s->user));
	log_info("s=%lx reject: %s from [%s]: <%s> not owned by user %s; "
	    "helo=<%s>", s->sid, where, s->addr_text, a, u, s->helo);
	smtp_refuse(s, MR_SENDER, R_SENDER_NOT_OWNED, a, u);
}

/* from_refusal - the From: addresses against the map: 1 refused (and
 * answered), 0 all the user's */
static int
from_refusal(struct smtp_session *s, const struct dmarc_from *f)
{
	const char *p, *at;

	switch (f->status) {
	case DMARC_FROM_MISSING:
		return 0;
	case DMARC_FROM_OK:
	case DMARC_FROM_DOMAINS:
		if (!f->addrs_cut)
			break;
		/* FALLTHROUGH */
	default:
		log_info("s=%lx reject: DATA from [%s]: %s, user %s; "
		    "from=<%s> helo=<%s>", s->sid, s->addr_text,
		    f->addrs_cut ? "From: has too many addresses" :
		    dmarc_from_problem(f), s->user, s->tx->sender, s->helo);
		smtp_refuse(s, MR_SENDER, R_FROM_UNREADABLE, f->addrs_cut ?
		    "From: has too many addresses" : dmarc_from_problem(f));
		return 1;
	}
	for (p = f->addrs; p < f->addrs + f->addrs_len; p += strlen(p) + 1) {
		char local[ADDR_LOCAL_MAX + 1];
		size_t n;

		at = strrchr(p, '@');
		n = (size_t)(at - p);
		if (n < sizeof(local)) {
			memcpy(local, p, n);
			local[n] = '\0';
			if (policy_from_login(s->cfg, s->user, local, at + 1))
				continue;
		}
		smtp_sender_not_owned(s, "DATA (From:)", p);
		return 1;
	}
	return 0;
}

bool
smtp_login_limited(struct smtp_session *s, enum smtp_limit_ask ask,
    const char *rcpt)
{
	if (!s->authenticated || s->io->login_limit == NULL ||
	    !s->io->login_limit(s->ctx, ask, s->user, rcpt))
		return false;
	if (ask != SMTP_LIMIT_SENT)
		smtp_refuse(s, MR_LIMIT, "%s", R_LOGIN_LIMIT);
	return true;
}

bool
smtp_owner_end(struct smtp_session *s)
{
	if (!s->authenticated || s->cfg->sender_map == NULL ||
	    !s->tx->hdrs_on)
		return false;
	return from_refusal(s, &s->tx->hdrs.from) == 1;
}
