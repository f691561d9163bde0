/*
 * smtp_check - the engine's side of the checks of mail from others
 * (SPF, DKIM, DMARC; the host runs them: daemon/mxcheck.c). Which
 * transactions are checked (mx listeners; neither authenticated nor
 * trusted clients, whose mail is ours to sign, not to judge), the
 * message on its way to the spool through the header filter
 * (smtp_hdrs: a forged Authentication-Results of ours dropped, also
 * from authenticated clients, which are not checked; "TLS-Required:
 * No" noted in every message and kept with the entry), the
 * results' fields put on the message and their log line. The waits for
 * the host (S_SPF at MAIL, S_CHECK at the end of DATA) are smtp_cmd.c's
 * and smtp.c's, beside the other waits.
 */
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "smtp/smtp.h"
#include "smtp/smtp_hdrs.h"
#include "smtp/smtp_session.h"

bool
smtp_check_mail(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	enum smtp_check_start st;

	if (s->io->check_mail == NULL || s->client.role != ROLE_MX ||
	    s->authenticated || s->client.trusted)
		return false;
	/* Set first: an answer inside the call may end the transaction,
	 * and the host is told of that like any other end. */
	tx->checking = true;
	s->state = S_SPF;
	st = s->io->check_mail(s->ctx, tx->sender, s->helo);
	if (st == SMTP_CHECK_WAIT)
		return true;	/* smtp_spf_done replies, maybe already has */
	tx->checking = st != SMTP_CHECK_NONE;
	s->state = S_CMD;
	return false;
}

/* spool_out - the header filter's output */
static void
spool_out(void *arg, const char *data, size_t len)
{
	struct smtp_session *s = arg;
	struct smtp_tx *tx = s->tx;

	if (len > 0 && !tx->spool_failed &&
	    !(tx->data.flags & DATA_F_REFUSE) &&
	    s->io->spool_write(s->ctx, data, len) == -1)
		tx->spool_failed = true;
}

void
smtp_check_data(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;

	/* Only our own hosts may hand us a result of ours (RFC 8601 5): a
	 * mynetworks client may be one handing our mail back (a content
	 * filter), kept. From anyone else, checked or not (an
	 * authenticated user's mail client, an mx client with every check
	 * off), such a field is forged to make a local recipient trust it,
	 * and goes; from a local user (sallyport-sendmail) too, who is
	 * trusted to send but is no filter of ours. */
	smtp_hdrs_init(&tx->hdrs, s->client.trusted &&
	    s->client.role != ROLE_LOCAL ? NULL :
	    s->cfg->hostname, spool_out, s);
	tx->hdrs_on = true;
}

void
smtp_check_write(struct smtp_session *s, const char *data, size_t len)
{
	struct smtp_tx *tx = s->tx;

	if (!tx->hdrs_on) {
		spool_out(s, data, len);
		return;
	}
	if (tx->checking && len > 0 && !(tx->data.flags & DATA_F_REFUSE))
		s->io->check_data(s->ctx, data, len);
	smtp_hdrs_feed(&tx->hdrs, data, len);
}

bool
smtp_check_end(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;

	if (!tx->hdrs_on)
		return false;
	smtp_hdrs_end(&tx->hdrs);
	if (tx->hdrs.dropped > 0)
		log_info("s=%lx id=%s dropped %u Authentication-Results "
		    "field%s claiming %s", s->sid, tx->env.id,
		    tx->hdrs.dropped, tx->hdrs.dropped == 1 ? "" : "s",
		    s->cfg->hostname);
	/* RFC 8689 5: REQUIRETLS on MAIL wins over the field. */
	if (tx->hdrs.tls_required_no && !tx->requiretls && !tx->spool_failed &&
	    !(tx->data.flags & DATA_F_REFUSE) &&
	    s->io->spool_tls_optional != NULL) {
		if (s->io->spool_tls_optional(s->ctx) == -1)
			tx->spool_failed = true;
		else
			log_info("s=%lx id=%s TLS-Required: No: DANE and "
			    "MTA-STS failures are ignored for this message",
			    s->sid, tx->env.id);
	}
	if (tx->spool_failed || !tx->checking)
		return false;	/* 451 all the same, or nothing to ask */
	/* The answer may come before check_end returns. */
	s->state = S_CHECK;
	s->io->check_end(s->ctx, &tx->hdrs.from);
	return true;
}

void
smtp_check_log(struct smtp_session *s, const struct smtp_check_result *r,
    const char *when)
{
	struct smtp_tx *tx = s->tx;
	const char *sum = r->summary ? r->summary : "";
	char esc[2048];

	/* Domains a peer chose (d=, the SPF domain): escaped like any. */
	log_escape(esc, sizeof(esc), sum, strlen(sum));
	log_info("s=%lx id=%s checks: %s; from=<%s> client=[%s] helo=<%s>%s%s",
	    s->sid, tx->env.id[0] ? tx->env.id : "-", esc, tx->sender,
	    s->addr_text, s->helo,
	    r->verdict == SMTP_CHECK_REFUSE ? " refused at " : "",
	    r->verdict == SMTP_CHECK_REFUSE ? when : "");
}

int
smtp_check_prepend(struct smtp_session *s, const struct smtp_check_result *r)
{
	if (r->fields == NULL || r->fields_len == 0)
		return 0;
	if (s->io->spool_prepend == NULL ||
	    s->io->spool_prepend(s->ctx, r->fields, r->fields_len) == -1)
		return -1;
	return 0;
}
