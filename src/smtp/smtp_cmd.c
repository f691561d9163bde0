/*
 * smtp_cmd - the engine's commands of the mail dialogue: HELO and EHLO,
 * MAIL (with its DNS check of the sender's domain), RCPT, DATA (up to the
 * 354; the message itself is smtp.c's input), RSET, NOOP, QUIT, VRFY,
 * HELP, a web client on the wrong port, and an unknown command. smtp.c's
 * command table calls them once its flags are checked; STARTTLS and AUTH
 * are smtp_auth.c's. Each checks first, changes the session after, and
 * replies through smtp_reply(). HELO/EHLO, MAIL, RCPT and DATA ask the
 * host's filters last, when it has some, and go on in
 * smtp_cmd_filtered once they answer.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smtp/address.h"
#include "lib/log.h"
#include "smtp/policy.h"
#include "smtp/smtp.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_params.h"
#include "smtp/smtp_reply.h"
#include "smtp/smtp_session.h"

/* reject_log - the one log line of a refused command */
static void
reject_log(struct smtp_session *s, const char *cmd, const char *text,
    const char *arg, size_t arglen)
{
	char esc[SMTP_CMD_MAX * 2];

	log_escape(esc, sizeof(esc), arg, arglen);
	log_info("s=%lx reject: %s from [%s]: %s; arg=<%s> helo=<%s>",
	    s->sid, cmd, s->addr_text, text, esc, s->helo);
}

/* reject - refuse a command it cannot take (syntax), with its log line */
static void
reject(struct smtp_session *s, const char *cmd, const char *text,
    const char *arg, size_t arglen)
{
	reject_log(s, cmd, text, arg, arglen);
	smtp_reply(s, "%s", text);
}

/* refuse - refuse a command by policy, with its log line, counted
 * under the reason */
static void
refuse(struct smtp_session *s, enum metrics_refusal why, const char *cmd,
    const char *text, const char *arg, size_t arglen)
{
	reject_log(s, cmd, text, arg, arglen);
	smtp_refuse(s, why, "%s", text);
}

/* params_of - a command's parameters as sent, after the address */
static const char *
params_of(const char *rest, size_t *len)
{
	while (*len > 0 && *rest == ' ') {
		rest++;
		(*len)--;
	}
	return rest;
}

/* helo_common - shared by HELO and EHLO: check and remember the name */
static bool
helo_common(struct smtp_session *s, const char *arg, size_t len)
{
	size_t i, n = 0;

	while (n < len && arg[n] != ' ')
		n++;
	if (n == 0 || n > HELO_MAX) {
		smtp_reply(s, "%s", R_HELO_SYNTAX);
		return false;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)arg[i] < 0x21 || arg[i] == 0x7f) {
			smtp_reply(s, "%s", R_HELO_SYNTAX);
			return false;
		}
	smtp_tx_free(s);
	memcpy(s->helo, arg, n);
	s->helo[n] = '\0';
	s->greeted = true;
	return true;
}

/* helo_reply - HELO's 250, or EHLO's lines: what this session offers */
static void
helo_reply(struct smtp_session *s)
{
	const char *mechs;
	char out[1024];
	int n;

	if (!s->esmtp) {
		smtp_reply(s, "250 %s", s->cfg->hostname);
		return;
	}
	mechs = smtp_auth_mechs(s);
	n = snprintf(out, sizeof(out),
	    "250-%s\r\n"
	    "250-PIPELINING\r\n"
	    "250-SIZE %" PRIu64 "\r\n"
	    "250-8BITMIME\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "%s%s%s%s%s"
	    "250 SMTPUTF8\r\n",
	    s->cfg->hostname, s->cfg->max_message_size,
	    s->tls_offer && !s->tls ? "250-STARTTLS\r\n" : "",
	    /* RFC 8689 3: only where the client can use it, inside TLS
	     * (any listener: a submission client's promise is kept on
	     * the way out as an MX neighbour's is) */
	    s->tls ? "250-REQUIRETLS\r\n" : "",
	    mechs ? "250-AUTH " : "", mechs ? mechs : "", mechs ? "\r\n" : "");
	if (n > 0 && (size_t)n < sizeof(out))
		s->io->send(s->ctx, out, (size_t)n);
}

void
smtp_cmd_ehlo(struct smtp_session *s, const char *arg, size_t len)
{
	if (!helo_common(s, arg, len))
		return;
	s->esmtp = true;
	if (!smtp_filter_ask(s, SMTP_FILTER_HELO, s->helo, NULL))
		helo_reply(s);
}

void
smtp_cmd_helo(struct smtp_session *s, const char *arg, size_t len)
{
	if (!helo_common(s, arg, len))
		return;
	s->esmtp = false;
	if (!smtp_filter_ask(s, SMTP_FILTER_HELO, s->helo, NULL))
		helo_reply(s);
}

void
smtp_cmd_mail(struct smtp_session *s, const char *arg, size_t len)
{
	const char *full = arg, *err, *why;
	struct esmtp_mail_params mp;
	char lookup[ADDR_DOMAIN_MAX + 1];
	size_t fulllen = len;
	struct address a;
	struct smtp_tx *tx;
	int used;

	if (s->tx) {
		smtp_reply(s, "%s", R_NESTED_MAIL);
		return;
	}
	if ((why = policy_mail(&s->client)) != NULL) {
		refuse(s, MR_OTHER, "MAIL", why, full, fulllen);
		return;
	}
	if (!esmtp_skip_prefix(&arg, &len, "FROM:")) {
		smtp_reply(s, "%s", R_MAIL_SYNTAX);
		return;
	}
	if ((used = address_parse(arg, len, &a, &err)) < 0 ||
	    ((size_t)used < len && arg[used] != ' ')) {
		reject(s, "MAIL", R_BAD_SENDER, full, fulllen);
		return;
	}
	if ((tx = calloc(1, sizeof(*tx))) == NULL) {
		smtp_reply(s, "%s", R_LOCAL_ERROR);
		return;
	}
	if ((why = esmtp_mail_params(arg + used, len - (size_t)used,
	    s->esmtp, s->tls, s->cfg->max_message_size, &mp)) != NULL) {
		free(tx);
		/* A client asking for TLS it does not have: worth a line */
		if (strcmp(why, R_REQUIRETLS_NEEDS_TLS) == 0)
			refuse(s, MR_TLS_REQUIRED, "MAIL", why, full, fulllen);
		else if (strcmp(why, R_SIZE_EXCEEDED) == 0)
			smtp_refuse(s, MR_LIMIT, "%s", why);
		else
			smtp_reply(s, "%s", why);
		return;
	}
	/* RFC 6531 3.4: a UTF-8 address only in an SMTPUTF8 transaction,
	 * or a next hop that never offered SMTPUTF8 gets it from us. */
	if ((a.flags & ADDR_F_UTF8) && !mp.smtputf8) {
		free(tx);
		reject(s, "MAIL", R_UTF8_NEEDS_SMTPUTF8, full, fulllen);
		return;
	}
	tx->smtputf8 = mp.smtputf8;
	tx->requiretls = mp.requiretls;
	tx->body = mp.body;
	tx->size_declared = mp.size;
	if (address_format(&a, tx->sender, sizeof(tx->sender)) == -1) {
		free(tx);
		reject(s, "MAIL", R_BAD_SENDER, full, fulllen);
		return;
	}
	if (s->authenticated && (s->cfg->sender_login_check ||
	    s->cfg->sender_map != NULL) &&
	    !policy_sender_login(s->cfg, s->user, &a)) {
		smtp_sender_not_owned(s, "MAIL", tx->sender);
		free(tx);
		return;
	}
	if (smtp_login_limited(s, SMTP_LIMIT_MAIL, NULL)) {
		free(tx);
		return;
	}
	if (policy_sender(s->cfg, &s->client, &a, lookup, sizeof(lookup),
	    &why) == -1) {
		free(tx);
		refuse(s, MR_SENDER, "MAIL", why, full, fulllen);
		return;
	}
	/* Refuse now rather than take a message the disk cannot hold. */
	if (!s->io->space_ok(s->ctx, mp.size)) {
		free(tx);
		reject(s, "MAIL", R_NO_SPACE, full, fulllen);
		return;
	}
	s->tx = tx;
	/* For the filters, asked once the checks and waits are done. */
	if (s->io->filter != NULL) {
		size_t plen = len - (size_t)used;
		const char *p = params_of(arg + used, &plen);

		if ((tx->mail_params = strndup(p, plen)) == NULL) {
			smtp_tx_free(s);
			smtp_reply(s, "%s", R_LOCAL_ERROR);
			return;
		}
	}
	if (lookup[0] != '\0') {
		/* The answer may come before domain_lookup returns. */
		s->state = S_LOOKUP;
		s->io->domain_lookup(s->ctx, lookup);
		return;
	}
	if (!smtp_check_mail(s) && !smtp_filter_ask(s, SMTP_FILTER_MAIL,
	    tx->sender, tx->mail_params))
		smtp_reply(s, "%s", R_SENDER_OK);
}

/* mail_answered - MAIL's reply after a wait: the refusal, or 250 (the
 * filters' turn first, when the host has some); a shutdown that waited
 * for it follows */
static void
mail_answered(struct smtp_session *s, const char *refusal)
{
	if (refusal == NULL && smtp_filter_ask(s, SMTP_FILTER_MAIL,
	    s->tx->sender, s->tx->mail_params))
		return;		/* smtp_filter_done goes on */
	if (refusal != NULL) {
		/* The reply first: it may be the host's text, freed with
		 * the transaction's checks. The sender's domain does not
		 * exist, or its SPF record disowns the client. */
		smtp_refuse(s, MR_SENDER, "%s", refusal);
		smtp_tx_free(s);
	} else {
		smtp_reply(s, "%s", R_SENDER_OK);
	}
	if (s->shutdown_pending) {
		smtp_tx_free(s);
		smtp_close_with(s, R_SHUTDOWN);
	}
}

void
smtp_lookup_done(struct smtp_session *s, enum dns_result r)
{
	const char *why;

	if (s->state != S_LOOKUP)
		return;
	s->state = S_CMD;
	if ((why = policy_sender_dns(r)) != NULL)
		log_info("s=%lx reject: MAIL from [%s]: %s; from=<%s> dns=%s "
		    "helo=<%s>", s->sid, s->addr_text, why, s->tx->sender,
		    dns_result_name(r), s->helo);
	else if (smtp_check_mail(s))
		return;		/* smtp_spf_done goes on */
	mail_answered(s, why);
}

void
smtp_spf_done(struct smtp_session *s, const struct smtp_check_result *r)
{
	if (s->state != S_SPF || s->tx == NULL)
		return;
	s->state = S_CMD;
	if (r->verdict == SMTP_CHECK_REFUSE)
		smtp_check_log(s, r, "MAIL");
	mail_answered(s, r->verdict == SMTP_CHECK_REFUSE ? r->reply : NULL);
}

/* rcpt_filter - the filters' turn on a recipient the engine took: it
 * waits in rcpts[nrcpts], counted once they take it */
static void
rcpt_filter(struct smtp_session *s, const char *rest, size_t len)
{
	char params[SMTP_CMD_MAX];
	const char *p = params_of(rest, &len);

	snprintf(params, sizeof(params), "%.*s", (int)len, p);
	s->tx->rcpt_held = true;
	smtp_filter_ask(s, SMTP_FILTER_RCPT, s->tx->rcpts[s->tx->nrcpts],
	    params);
}

void
smtp_cmd_rcpt(struct smtp_session *s, const char *arg, size_t len)
{
	const char *full = arg, *err, *why;
	size_t fulllen = len;
	struct smtp_tx *tx = s->tx;
	char rcpt[ADDR_PATH_MAX + 1], **v;
	struct address a, rev;
	int used;

	if (tx == NULL) {
		smtp_reply(s, "%s", R_NEED_MAIL);
		return;
	}
	if (!esmtp_skip_prefix(&arg, &len, "TO:")) {
		smtp_reply(s, "%s", R_RCPT_SYNTAX);
		return;
	}
	if ((used = address_parse(arg, len, &a, &err)) < 0 ||
	    ((size_t)used < len && arg[used] != ' ') ||
	    (a.flags & ADDR_F_NULL) ||
	    address_format(&a, rcpt, sizeof(rcpt)) == -1) {
		reject(s, "RCPT", R_BAD_ADDRESS, full, fulllen);
		return;
	}
	if ((why = esmtp_rcpt_params(arg + used, len - (size_t)used,
	    s->esmtp)) != NULL) {
		smtp_reply(s, "%s", why);
		return;
	}
	if ((a.flags & ADDR_F_UTF8) && !tx->smtputf8) {
		reject(s, "RCPT", R_UTF8_NEEDS_SMTPUTF8, full, fulllen);
		return;
	}
	if (tx->nrcpts >= s->cfg->max_recipients) {
		smtp_refuse(s, MR_LIMIT, "%s", R_TOO_MANY_RCPTS);
		return;
	}
	switch (policy_srs_rcpt(s->cfg, &a, &rev, &why)) {
	case -1:
		log_info("s=%lx reject: RCPT from [%s]: %s; from=<%s> to=<%s> "
		    "helo=<%s>", s->sid, s->addr_text, why, tx->sender, rcpt,
		    s->helo);
		smtp_refuse(s, MR_RECIPIENT, R_SRS_REFUSED, rcpt, why);
		return;
	case 1:
		/* The queue holds the sender it stands for. */
		log_info("s=%lx SRS: to=<%s> reversed", s->sid, rcpt);
		a = rev;
		break;
	default:
		if (policy_rcpt(s->cfg, &s->client, &a, &why) == -1) {
			log_info("s=%lx reject: RCPT from [%s]: %s; from=<%s> "
			    "to=<%s> helo=<%s>", s->sid, s->addr_text, why,
			    tx->sender, rcpt, s->helo);
			/* Relaying denied, or no such recipient here */
			smtp_refuse(s, strcmp(why, R_RELAY_DENIED) == 0 ?
			    MR_RELAY : MR_RECIPIENT, "%s", why);
			return;
		}
	}
	if (policy_rcpt_qualify(s->cfg, &a) == -1 ||
	    address_format(&a, rcpt, sizeof(rcpt)) == -1) {
		smtp_reply(s, "%s", R_LOCAL_ERROR);
		return;
	}
	if (smtp_login_limited(s, SMTP_LIMIT_RCPT, rcpt))
		return;
	if ((v = realloc(tx->rcpts, (tx->nrcpts + 1) * sizeof(*v))) == NULL) {
		smtp_reply(s, "%s", R_LOCAL_ERROR);
		return;
	}
	tx->rcpts = v;
	if ((v[tx->nrcpts] = strdup(rcpt)) == NULL) {
		smtp_reply(s, "%s", R_LOCAL_ERROR);
		return;
	}
	if (s->io->filter != NULL) {
		rcpt_filter(s, arg + used, len - (size_t)used);
		return;
	}
	tx->nrcpts++;
	smtp_reply(s, "%s", R_RCPT_OK);
}

/* data_go - DATA was taken: the spool opens, and the 354 */
static void
data_go(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	char hdr[2048];
	size_t room;
	int n, rc;

	tx->env.arrival = time(NULL);
	tx->env.client = s->addr_text;
	tx->env.helo = s->helo;
	tx->env.proto = smtp_proto_name(s);
	tx->env.auth_user = s->authenticated ? s->user : NULL;
	tx->env.sender = tx->sender;
	tx->env.rcpts = tx->rcpts;
	tx->env.nrcpts = tx->nrcpts;
	tx->env.smtputf8 = tx->smtputf8;
	tx->env.requiretls = tx->requiretls;
	tx->env.body = tx->body;
	/* Room for the checks' results, known at the end of DATA. */
	tx->env.prepend_room = tx->checking ? SMTP_CHECK_ROOM : 0;
	/* Mail from our own users is signed: room for the signatures too. */
	smtp_sign_free(tx->sign);
	tx->sign = NULL;
	if (s->io->spool_prepend != NULL) {
		tx->sign = smtp_sign_start(s->cfg, s->authenticated ||
		    s->client.trusted, &room);
		tx->env.prepend_room += room;
		if (tx->env.prepend_room > QUEUE_PREPEND_MAX)
			tx->env.prepend_room = QUEUE_PREPEND_MAX;
	}
	if ((rc = s->io->spool_open(s->ctx, &tx->env)) != 0) {
		smtp_reply(s, "%s", rc == SMTP_SPOOL_NO_SPACE ? R_NO_SPACE :
		    R_QUEUE_FAILED);
		return;
	}
	tx->spooling = true;
	if ((n = smtp_received(s, hdr, sizeof(hdr))) < 0 ||
	    s->io->spool_write(s->ctx, hdr, (size_t)n) == -1)
		tx->spool_failed = true;
	smtp_data_init(&tx->data, s->cfg->max_message_size);
	if (policy_bare_newline(s->cfg, &s->client))
		smtp_data_normalize_lf(&tx->data);
	if (!s->line_crlf)
		smtp_data_after_bare_lf(&tx->data);
	hops_init(&tx->hops);
	smtp_check_data(s);
	s->state = S_DATA;
	smtp_reply(s, "%s", R_DATA_GO);
}

void
smtp_cmd_data(struct smtp_session *s, const char *arg, size_t len)
{
	struct smtp_tx *tx = s->tx;

	(void)arg;
	(void)len;
	if (tx == NULL) {
		smtp_reply(s, "%s", R_NEED_MAIL);
		return;
	}
	if (tx->nrcpts == 0) {
		smtp_reply(s, "%s", R_NO_VALID_RCPTS);
		return;
	}
	if (!s->io->space_ok(s->ctx, tx->size_declared)) {
		reject(s, "DATA", R_NO_SPACE, "", 0);
		return;
	}
	if (!smtp_filter_ask(s, SMTP_FILTER_DATA, "", NULL))
		data_go(s);
}

void
smtp_cmd_filtered(struct smtp_session *s, enum smtp_filter_stage st, bool go)
{
	struct smtp_tx *tx = s->tx;

	switch (st) {
	case SMTP_FILTER_HELO:
		if (go) {
			helo_reply(s);
		} else {
			/* As before any HELO: it may try again (Postfix). */
			s->greeted = false;
			s->helo[0] = '\0';
		}
		break;
	case SMTP_FILTER_MAIL:
		if (go)
			smtp_reply(s, "%s", R_SENDER_OK);
		else
			smtp_tx_free(s);	/* the filters are told */
		break;
	case SMTP_FILTER_RCPT:
		tx->rcpt_held = false;
		if (go) {
			tx->nrcpts++;
			smtp_reply(s, "%s", R_RCPT_OK);
		} else {
			free(tx->rcpts[tx->nrcpts]);
			tx->rcpts[tx->nrcpts] = NULL;
		}
		break;
	case SMTP_FILTER_DATA:
		if (go)
			data_go(s);	/* refused: the transaction stays */
		break;
	case SMTP_FILTER_END:
		break;		/* smtp.c's own */
	}
}

void
smtp_cmd_rset(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_tx_free(s);
	smtp_reply(s, "%s", R_RESET_OK);
}

void
smtp_cmd_noop(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_reply(s, "%s", R_NOOP);
}

void
smtp_cmd_quit(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_tx_free(s);
	smtp_close_with(s, R_BYE);
}

void
smtp_cmd_vrfy(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	smtp_reply(s, "%s", len ? R_VRFY : R_SYNTAX);
}

void
smtp_cmd_help(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_reply(s, "%s", R_HELP);
}

void
smtp_cmd_http(struct smtp_session *s, const char *arg, size_t len)
{
	reject(s, "HTTP", R_PROTOCOL, arg, len);
	smtp_tx_free(s);
	s->state = S_CLOSED;
}

void
smtp_cmd_unknown(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	smtp_reply(s, "%s", R_UNKNOWN);
}
