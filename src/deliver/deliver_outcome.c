/*
 * deliver_outcome - what happened to one recipient in an attempt, and
 * its record: the verdict set from our own words or a server's reply,
 * then written to the entry's state file and the log as soon as it is
 * known. Shared by the routing (deliver_route.c) and the deliveries
 * below it (deliver_local.c), with the small helpers both need.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/config.h"
#include "deliver/deliver_int.h"
#include "lib/log.h"
#include "queue/qentry.h"
#include "deliver/smtp_client.h"

void
set_outcome(struct outcome *o, int code, const char *relay, const char *fmt,
    ...)
{
	va_list ap;

	o->tried = true;
	o->remote = false;
	o->expired = false;
	o->code = code;
	o->tls[0] = '\0';
	snprintf(o->relay, sizeof(o->relay), "%s", relay);
	va_start(ap, fmt);
	vsnprintf(o->text, sizeof(o->text), fmt, ap);
	va_end(ap);
}

void
set_reply(struct outcome *o, const struct smtp_client_reply *rep,
    const char *relay)
{
	set_outcome(o, rep->code, relay, "%s", rep->text);
	o->remote = !rep->ours;
}

/* split - "local@domain" into its parts (the last @ splits) */
void
split(const char *addr, char *local, size_t llen, char *domain, size_t dlen)
{
	const char *at = strrchr(addr, '@');
	size_t n = at ? (size_t)(at - addr) : strlen(addr);

	snprintf(local, llen, "%.*s", (int)(n < llen ? n : llen - 1), addr);
	snprintf(domain, dlen, "%s", at ? at + 1 : "");
}

int
rewind_body(int fd, const struct qentry *e)
{
	return lseek(fd, e->body_offset, SEEK_SET) == (off_t)-1 ? -1 : 0;
}

void
content_opts(const struct config *cfg, const struct qentry *e,
    struct smtp_client_opts *opts)
{
	opts->smtputf8 = e->smtputf8;
	opts->body_8bitmime = e->body == MAIL_BODY_8BITMIME;
	opts->no_downgrade = strcmp(cfg->mime_8bit_downgrade, "bounce") == 0;
}

/* outcome_text - the words for the log and the state file */
static void
outcome_text(const struct outcome *o, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s%s", o->expired ? "delivery time expired; "
	    "last error: " : "", o->text);
}

/* only_pending - is recipient i the entry's last one not yet final? */
static bool
only_pending(const struct qentry *e, size_t i)
{
	size_t j;

	for (j = 0; j < e->nrcpts; j++)
		if (j != i && e->state[j] == RCPT_PENDING)
			return false;
	return true;
}

/* record - write one outcome to the state file, and log it; the last
 * success of an entry is not written: the entry's removal, which
 * follows at once, records it (deliver_entry) */
void
record(const char *dir, struct qentry *e, size_t i, struct outcome *o,
    time_t now)
{
	const char *what = o->code / 100 == 2 ? "sent" :
	    o->code / 100 == 5 ? "bounced" : "deferred";
	enum metrics_delivery_outcome m = o->code / 100 == 2 ? MDO_SENT :
	    o->code / 100 == 5 ? MDO_BOUNCED : MDO_DEFERRED;
	char err[512], text[CLIENT_TEXT_MAX + 64];

	outcome_text(o, text, sizeof(text));
	if (o->code / 100 == 2 && only_pending(e, i)) {
		qentry_note_sent(e, i);
		o->noted = true;
	} else if (qentry_record(dir, e, i, what, text, err,
	    sizeof(err)) == -1)
		log_err("id=%s %s", e->id, err);
	o->recorded = true;
	METRICS_INC(deliveries[m][o->dest]);
	log_info("id=%s to=<%s> relay=%s%s%s delay=%lds status=%s (%s)",
	    e->id, e->rcpts[i], o->relay, o->tls[0] != '\0' ? " " : "",
	    o->tls, (long)(now - e->arrival), what, text);
}

/* settle - as soon as a destination has answered: a success or a
 * temporary failure is written at once (a crash or a stop later must
 * not send it again); a permanent one waits for its DSN. Past
 * queue_lifetime a temporary failure becomes permanent. */
void
settle(const struct config *cfg, struct qentry *e, size_t i,
    struct outcome *o, time_t now)
{
	if (!o->tried || o->recorded)
		return;
	if (now - e->arrival >= (time_t)cfg->queue_lifetime &&
	    o->code / 100 != 2 && o->code / 100 != 5) {
		/* Final now, with the last attempt's words (and whether a
		 * server said them) kept for the DSN. */
		o->expired = true;
		o->code = 554;
	}
	if (o->code / 100 != 5)
		record(cfg->queue_dir, e, i, o, now);
}
