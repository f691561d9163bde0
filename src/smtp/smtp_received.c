/*
 * smtp_received - the trace field we prepend to every message (RFC 5321
 * 4.4): who handed it to us, how (the "with" protocol of RFC 3848 and
 * RFC 6531, and TLS), and when.
 */
#include <stdio.h>
#include <time.h>

#include "smtp/smtp_session.h"

/* smtp_proto_name - the "with" of Received (RFC 3848, RFC 6531) */
const char *
smtp_proto_name(const struct smtp_session *s)
{
	static const char *const names[3][4] = {
		{ "SMTP", "SMTPS", "SMTPA", "SMTPSA" },
		{ "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA" },
		{ "UTF8SMTP", "UTF8SMTPS", "UTF8SMTPA", "UTF8SMTPSA" },
	};
	int kind = !s->esmtp ? 0 : s->tx && s->tx->smtputf8 ? 2 : 1;

	return names[kind][(s->tls ? 1 : 0) + (s->authenticated ? 2 : 0)];
}

/* received_date - the date of Received for t, formatted once per
 * second and thread: localtime and strftime cost as much as the rest
 * of the field */
static const char *
received_date(time_t t)
{
	static _Thread_local time_t last = (time_t)-1;
	static _Thread_local char date[64];
	struct tm tm;

	if (t != last) {
		if (localtime_r(&t, &tm) == NULL ||
		    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z",
		    &tm) == 0) {
			last = (time_t)-1;	/* the buffer is not that date */
			return "";
		}
		last = t;
	}
	return date;
}

/* smtp_received - the Received: header we prepend (RFC 5321 4.4) */
int
smtp_received(struct smtp_session *s, char *out, size_t outlen)
{
	const struct smtp_tx *tx = s->tx;
	const char *date = received_date(tx->env.arrival);
	char using[128] = "";
	int n;

	if (s->tls)
		snprintf(using, sizeof(using), "\t(using %s with cipher %s "
		    "(%d bits))\r\n", s->tls_version, s->tls_cipher,
		    s->tls_bits);
	if (s->client.role == ROLE_LOCAL)
		/* No HELO name or address: the kernel's word on the user
		 * (Postfix says "from userid UID" for its sendmail). */
		n = snprintf(out, outlen,
		    "Received: from local user %s\r\n"
		    "\tby %s (sallyport) with %s id %s%s%s%s;\r\n"
		    "\t%s\r\n",
		    s->local_user, s->cfg->hostname, tx->env.proto, tx->env.id,
		    tx->nrcpts == 1 ? "\r\n\tfor <" : "",
		    tx->nrcpts == 1 ? tx->rcpts[0] : "",
		    tx->nrcpts == 1 ? ">" : "", date);
	else if (tx->nrcpts == 1)
		n = snprintf(out, outlen,
		    "Received: from %s ([%s])\r\n%s"
		    "\tby %s (sallyport) with %s id %s\r\n"
		    "\tfor <%s>; %s\r\n",
		    s->helo, s->addr_text, using, s->cfg->hostname,
		    tx->env.proto, tx->env.id, tx->rcpts[0], date);
	else
		n = snprintf(out, outlen,
		    "Received: from %s ([%s])\r\n%s"
		    "\tby %s (sallyport) with %s id %s;\r\n"
		    "\t%s\r\n",
		    s->helo, s->addr_text, using, s->cfg->hostname,
		    tx->env.proto, tx->env.id, date);
	return n < 0 || (size_t)n >= outlen ? -1 : n;
}
