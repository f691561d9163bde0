/*
 * smtp_filter - the engine's side of the host's filters (milters:
 * daemon/milter*.c). A command that passed the engine's own checks asks
 * them (smtp_filter_ask: the session waits in S_FILTER, input kept,
 * until smtp_filter_done, smtp.c, hands the verdict to the command);
 * a refusal goes to the client as a proper reply, made safe here, with
 * the log line the engine's own refusals have; so does a discarded
 * message's. Without filters (io->filter NULL) nothing here runs but
 * the one test in smtp_filter_ask.
 */
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "lib/metrics.h"
#include "smtp/smtp.h"
#include "smtp/smtp_filter.h"
#include "smtp/smtp_reply.h"
#include "smtp/smtp_session.h"

int
smtp_filter_reply(const char *in, char *out, size_t outlen)
{
	const char *p = in, *end, *text;
	size_t o = 0, last = 0, lines = 0, n, tlen, i;

	if (in == NULL)
		return -1;
	for (;;) {
		end = strstr(p, "\r\n");
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n < 3 || (p[0] != '4' && p[0] != '5') ||
		    p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9' ||
		    (lines > 0 && memcmp(p, out + last, 3) != 0) ||
		    (n > 3 && p[3] != ' ' && p[3] != '-') ||
		    (n > 4 && p[4] >= '0' && p[4] <= '9' && p[4] != p[0]))
			return -1;
		text = p + (n > 3 ? 4 : 3);
		tlen = n - (size_t)(text - p);
		if (tlen > SMTP_REPLY_LINE_MAX - 6)	/* "NNN " and CRLF */
			tlen = SMTP_REPLY_LINE_MAX - 6;
		if (o + tlen + 6 > outlen)
			return -1;
		last = o;
		memcpy(out + o, p, 3);
		out[o + 3] = '-';
		o += 4;
		for (i = 0; i < tlen; i++) {
			unsigned char c = (unsigned char)text[i];

			out[o++] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
		}
		out[o++] = '\r';
		out[o++] = '\n';
		if (end == NULL || end[2] == '\0' ||
		    ++lines == SMTP_FILTER_LINES)
			break;
		p = end + 2;
	}
	out[last + 3] = ' ';
	return (int)o;
}

bool
smtp_filter_ask(struct smtp_session *s, enum smtp_filter_stage st,
    const char *arg, const char *params)
{
	if (s->io->filter == NULL)
		return false;
	/* Set first: the verdict may come before filter returns. */
	if (st == SMTP_FILTER_MAIL)
		s->tx->filtered = true;
	s->filter_stage = st;
	s->state = S_FILTER;
	s->io->filter(s->ctx, st, arg, params != NULL ? params : "");
	return true;
}

/* filter_log - the refusal's (or discard's) one line, as the engine's
 * own refusals say it, naming the filter that decided */
static void
filter_log(struct smtp_session *s, enum smtp_filter_stage st,
    const char *verb, const char *text, size_t len,
    const struct smtp_filter_verdict *v)
{
	struct smtp_tx *tx = s->tx;
	const char *sum = v->summary != NULL ? v->summary : "";
	char esc[1024], fesc[256], what[ADDR_PATH_MAX * 2 + HELO_MAX + 64];
	const char *cmd = "END-OF-MESSAGE";

	switch (st) {
	case SMTP_FILTER_HELO:
		cmd = s->esmtp ? "EHLO" : "HELO";
		snprintf(what, sizeof(what), "helo=<%s>", s->helo);
		break;
	case SMTP_FILTER_MAIL:
		cmd = "MAIL";
		snprintf(what, sizeof(what), "from=<%s> helo=<%s>",
		    tx->sender, s->helo);
		break;
	case SMTP_FILTER_RCPT:
		cmd = "RCPT";
		snprintf(what, sizeof(what), "from=<%s> to=<%s> helo=<%s>",
		    tx->sender, tx->rcpts[tx->nrcpts], s->helo);
		break;
	case SMTP_FILTER_DATA:
		cmd = "DATA";
		/* FALLTHROUGH */
	case SMTP_FILTER_END:
		snprintf(what, sizeof(what), "from=<%s> nrcpt=%zu helo=<%s>",
		    tx->sender, tx->nrcpts, s->helo);
		break;
	}
	log_escape(esc, sizeof(esc), text, len);
	log_escape(fesc, sizeof(fesc), sum, strlen(sum));
	log_info("s=%lx%s%s %s: %s from [%s]: %s; %s filter=<%s>", s->sid,
	    st == SMTP_FILTER_END ? " id=" : "",
	    st == SMTP_FILTER_END ? tx->env.id : "", verb, cmd, s->addr_text,
	    esc, what, fesc);
}

bool
smtp_filter_refuse(struct smtp_session *s, enum smtp_filter_stage st,
    const struct smtp_filter_verdict *v)
{
	char out[SMTP_FILTER_REPLY_MAX], esc[1024];
	const char *r = v->reply != NULL ? v->reply : "";
	int n;

	if (v->action != SMTP_FILTER_REFUSE ||
	    (n = smtp_filter_reply(v->reply, out, sizeof(out))) < 0) {
		/* Never the host's bytes raw to the client. */
		log_escape(esc, sizeof(esc), r, strlen(r));
		log_warn("s=%lx filter reply malformed, 451 instead: <%s>",
		    s->sid, esc);
		n = snprintf(out, sizeof(out), "%s\r\n", R_LOCAL_ERROR);
	}
	filter_log(s, st, "reject", out, (size_t)n - 2, v);
	s->errors++;		/* one reply, one error, as smtp_reply counts */
	METRICS_INC(refusals[MR_MILTER]);	/* ... and smtp_refuse */
	s->io->send(s->ctx, out, (size_t)n);
	return memcmp(out, "421", 3) == 0;
}

void
smtp_filter_discard(struct smtp_session *s, const struct smtp_filter_verdict *v)
{
	static const char text[] = "discarded by the filters";

	filter_log(s, SMTP_FILTER_END, "discard", text, sizeof(text) - 1, v);
	/* Told it was queued, as Postfix does: a refusal would teach the
	 * sender what the filters look for. */
	smtp_reply(s, "%s%s", R_QUEUED, s->tx->env.id);
}
