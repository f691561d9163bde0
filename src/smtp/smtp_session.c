/*
 * smtp_session - the engine's primitives, under its commands: one reply
 * line out (counting the client's errors; a refusal also counted under
 * its reason for the metrics), the last reply of a session,
 * and the end of a mail transaction. smtp.c (input and dispatch),
 * smtp_cmd.c and smtp_auth.c (the commands) all use them; they use
 * nothing of the engine's own.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/metrics.h"
#include "smtp/smtp.h"
#include "smtp/smtp_session.h"

/* vreply - send one reply line; 4xx and 5xx count as client errors */
static void
vreply(struct smtp_session *s, const char *fmt, va_list ap)
{
	char line[SMTP_CMD_MAX + 64];
	const char *text;
	size_t len;
	int n;

	if (strcmp(fmt, "%s") == 0) {
		/* Most replies are one of the named constants: copy it
		 * rather than have printf parse it (the engine's hot path). */
		text = va_arg(ap, const char *);
		len = strlen(text);
		if (len > sizeof(line) - 3)
			len = sizeof(line) - 3;
		memcpy(line, text, len);
		n = (int)len;
	} else
		n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	if (line[0] == '4' || line[0] == '5')
		s->errors++;
	line[n++] = '\r';
	line[n++] = '\n';
	s->io->send(s->ctx, line, (size_t)n);
}

void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreply(s, fmt, ap);
	va_end(ap);
}

/* refuse - a verdict on the client or its mail: the reply, counted
 * under its reason (sallyport_refusals_total) */
void
smtp_refuse(struct smtp_session *s, enum metrics_refusal why,
    const char *fmt, ...)
{
	va_list ap;

	METRICS_INC(refusals[why]);
	va_start(ap, fmt);
	vreply(s, fmt, ap);
	va_end(ap);
}

/* close_with - last reply of the session */
void
smtp_close_with(struct smtp_session *s, const char *text)
{
	smtp_reply(s, "%s", text);
	s->state = S_CLOSED;
}

/* tx_free - end the transaction: the spool file is dropped, not kept */
void
smtp_tx_free(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	size_t i;

	if (tx == NULL)
		return;
	/* The filters first: they may be reading the spool. A verdict
	 * still awaited is stale from now on (smtp_filter_done). */
	if (s->state == S_FILTER)
		s->state = S_CMD;
	if (tx->filtered && s->io->filter_abort != NULL)
		s->io->filter_abort(s->ctx);
	if (tx->spooling)
		s->io->spool_abort(s->ctx);
	if (tx->checking && s->io->check_cancel != NULL)
		s->io->check_cancel(s->ctx);
	if (tx->hdrs_on)
		smtp_hdrs_free(&tx->hdrs);
	for (i = 0; i < tx->nrcpts; i++)
		free(tx->rcpts[i]);
	if (tx->rcpt_held)
		free(tx->rcpts[tx->nrcpts]);
	free(tx->rcpts);
	free(tx->mail_params);
	smtp_sign_free(tx->sign);
	free(tx);
	s->tx = NULL;
}
