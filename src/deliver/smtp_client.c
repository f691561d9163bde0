/*
 * smtp_client - one message to one SMTP or LMTP server, blocking: the
 * dialogue. The greeting, EHLO (LHLO), STARTTLS and AUTH are here; the
 * message itself (what the server's extensions mean for it, MAIL, RCPT,
 * DATA or the body) is smtp_client_data.c; both speak through
 * smtp_client_io.c (connection, TLS, commands, replies, deadlines).
 *
 * What the server says is kept per recipient: a refusal at RCPT stays
 * with its recipient; a failure after that (DATA refused, the
 * connection lost) goes to every recipient not already refused. Our own
 * failures (no connection, a timeout, TLS) have code 0: temporary.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base64.h"
#include "deliver/smtp_client.h"
#include "deliver/smtp_client_int.h"
#include "sec/tls.h"

/* client_hello - EHLO (LHLO), or HELO when EHLO is refused for good */
static int
client_hello(struct client *c, struct smtp_client_reply *r)
{
	const char	*verb = c->o->lmtp ? "LHLO" : "EHLO";

	if (client_cmd(c, "%s %s", verb, c->o->helo) == -1 ||
	    client_exchange(c, verb, r, &c->caps) == -1)
		return -1;
	if (r->code / 100 == 5 && !c->o->lmtp) {
		if (client_cmd(c, "HELO %s", c->o->helo) == -1 ||
		    client_exchange(c, "HELO", r, &c->caps) == -1)
			return -1;
		memset(&c->caps, 0, sizeof(c->caps));
	}
	return 0;
}

/* client_required - the words for a failure of mandatory TLS */
static const char *
client_required(enum client_tls mode)
{
	return mode == CLIENT_TLS_DANE ? "DANE: TLS required" :
	    mode == CLIENT_TLS_ENCRYPT ? "TLSA records: TLS required" :
	    "TLS required";
}

/* client_starttls - as opts->tls says. A refused STARTTLS leaves us in
 * plain text: fine when opportunistic; in every other mode our own
 * failure, before MAIL (never a fall back to plain text). */
static int
client_starttls(struct client *c, struct smtp_client_reply *r)
{
	struct smtp_client_reply st;
	enum client_tls	 mode = c->o->tls;
	bool		 mandatory = mode != CLIENT_TLS_OPPORTUNISTIC;

	if (c->o->tls_out != NULL)
		c->o->tls_out->offered = c->caps.starttls;
	if (mode == CLIENT_TLS_NONE)
		return 0;
	if (!c->caps.starttls) {
		client_tls_failed(c, TLSRPT_STARTTLS_NOT_SUPPORTED,
		    "STARTTLS not offered");
		if (!mandatory)
			return 0;
		c->step = "EHLO";
		return client_fail(c, "%s but STARTTLS not offered",
		    client_required(mode));
	}
	if (client_cmd(c, "STARTTLS") == -1 ||
	    client_exchange(c, "STARTTLS", &st, NULL) == -1)
		return -1;
	if (st.code != 220) {
		client_tls_failed(c, TLSRPT_STARTTLS_NOT_SUPPORTED,
		    "STARTTLS refused: %s", st.text);
		if (!mandatory)
			return 0;	/* *r still the EHLO's */
		return client_fail(c, "%s but STARTTLS refused: %s",
		    client_required(mode), st.text);
	}
	if (client_handshake(c) == -1)
		return -1;
	return client_hello(c, r);
}

/* client_auth - AUTH PLAIN, or LOGIN when only that is offered. A
 * refusal is our configuration's problem, not the message's: code 0.
 * Both send the password as it is: never outside TLS unless the admin
 * said TLS is not wanted (CLIENT_TLS_NONE, a trusted path). With
 * opportunistic TLS a STARTTLS that is missing or refused may be an
 * attacker's doing, who would then read the password (Postfix's
 * smtp_sasl_security_options = noplaintext does the same). */
static int
client_auth(struct client *c, struct smtp_client_reply *r)
{
	const char	*user = c->o->auth_user;
	const char	*pass = c->o->auth_pass != NULL ? c->o->auth_pass : "";
	size_t		 ul = strlen(user), pl = strlen(pass);
	char		 raw[2 * CLIENT_CRED_MAX + 2];
	char		 b64[BASE64_ENCODED_LEN(sizeof(raw))];
	int		 rc = -1;

	c->step = "AUTH";
	if (c->tls == NULL && c->o->tls != CLIENT_TLS_NONE)
		return client_fail(c, "no TLS (STARTTLS not offered or "
		    "refused): the password is not sent in clear");
	if (ul > CLIENT_CRED_MAX || pl > CLIENT_CRED_MAX)
		return client_fail(c, "user name or password too long");
	if (c->caps.auth_plain) {
		/* RFC 4616: authzid (none), NUL, authcid, NUL, password */
		raw[0] = '\0';
		memcpy(raw + 1, user, ul);
		raw[1 + ul] = '\0';
		memcpy(raw + 2 + ul, pass, pl);
		base64_encode(raw, ul + pl + 2, b64);
		if (client_cmd(c, "AUTH PLAIN %s", b64) == -1 ||
		    client_exchange(c, "AUTH", r, NULL) == -1)
			goto done;
	} else if (c->caps.auth_login) {
		if (client_cmd(c, "AUTH LOGIN") == -1 ||
		    client_exchange(c, "AUTH", r, NULL) == -1)
			goto done;
		if (r->code == 334) {
			base64_encode(user, ul, b64);
			if (client_cmd(c, "%s", b64) == -1 ||
			    client_exchange(c, "AUTH", r, NULL) == -1)
				goto done;
		}
		if (r->code == 334) {
			base64_encode(pass, pl, b64);
			if (client_cmd(c, "%s", b64) == -1 ||
			    client_exchange(c, "AUTH", r, NULL) == -1)
				goto done;
		}
	} else {
		client_fail(c, "AUTH PLAIN or LOGIN not offered");
		goto done;
	}
	if (r->code / 100 == 2)
		rc = 0;
	else if (r->code == 334)	/* a third challenge: not LOGIN */
		client_fail(c, "AUTH failed: unexpected challenge");
	else
		client_fail(c, "AUTH failed: %s", r->text);
done:
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(b64, sizeof(b64));
	explicit_bzero(c->out, sizeof(c->out));
	return rc;
}

/* client_quit - QUIT, its reply awaited briefly and not judged */
static void
client_quit(struct client *c)
{
	struct smtp_client_reply r;

	if (c->timeout > CLIENT_QUIT_TIMEOUT)
		c->timeout = CLIENT_QUIT_TIMEOUT;
	if (client_cmd(c, "QUIT") == 0)
		(void)client_exchange(c, "QUIT", &r, NULL);
}

/* client_transaction - one message on a session ready for MAIL: what
 * the server's extensions mean for it, MAIL, RCPT, DATA */
static void
client_transaction(struct client *c, const char *sender, char *const *rcpts,
    size_t nrcpts, int body_fd, off_t body_len,
    struct smtp_client_reply *session, struct smtp_client_reply *rr)
{
	struct smtp_client_reply data = { 0 };

	c->uses++;
	if (client_content(c, sender, rcpts, nrcpts, body_fd, body_len,
	    session) == -1) {
		*session = c->fail;
		return;
	}
	if (session->code != 0)
		return;
	if (client_envelope(c, sender, body_len, rcpts, nrcpts, session,
	    rr, &data) > 0)
		client_data(c, body_fd, body_len, nrcpts, session, rr, &data);
}

/* client_dialogue - everything up to QUIT */
static void
client_dialogue(struct client *c, const char *sender, char *const *rcpts,
    size_t nrcpts, int body_fd, off_t body_len,
    struct smtp_client_reply *session, struct smtp_client_reply *rr)
{
	bool	 mandatory = c->o->tls != CLIENT_TLS_NONE &&
		    c->o->tls != CLIENT_TLS_OPPORTUNISTIC;

	c->step = "greeting";
	if (client_reply(c, session, NULL) == -1)
		goto fail;
	if (session->code / 100 != 2)
		goto refused;
	if (client_hello(c, session) == -1)
		goto fail;
	if (session->code / 100 != 2)
		goto refused;
	if (client_starttls(c, session) == -1)
		goto fail;
	if (session->code / 100 != 2)
		return;
	/* Only an offer made inside TLS counts (RFC 8689 4.2.1). */
	if (c->o->tls_out != NULL)
		c->o->tls_out->requiretls = c->tls != NULL &&
		    c->caps.requiretls;
	if (c->o->auth_user != NULL && client_auth(c, session) == -1)
		goto fail;
	client_transaction(c, sender, rcpts, nrcpts, body_fd, body_len,
	    session, rr);
	return;
refused:
	/* A refusal before TLS when TLS is mandatory: anyone on the path
	 * could have said it, and mail that only a verified server may
	 * refuse for good must not bounce on it (an attacker may delay
	 * such mail, never have it returned). Our own temporary failure. */
	if (!mandatory || session->code / 100 != 5)
		return;
	(void)client_fail(c, "%s; refused before TLS, not trusted: %s",
	    client_required(c->o->tls), session->text);
fail:
	*session = c->fail;
}

/* client_reset - every recipient not attempted, no verdict, no TLS yet */
static void
client_reset(const struct smtp_client_opts *o, size_t nrcpts,
    struct smtp_client_reply *session, struct smtp_client_reply *rr)
{
	for (size_t i = 0; i < nrcpts; i++) {
		rr[i].code = 0;
		rr[i].ours = false;
		snprintf(rr[i].text, sizeof(rr[i].text), "not attempted");
	}
	session->code = 0;
	session->ours = false;
	session->text[0] = '\0';
	/* Nothing known yet: no TLS, and no TLS failure either (a
	 * connection that fails is none). */
	if (o->tls_out != NULL)
		memset(o->tls_out, 0, sizeof(*o->tls_out));
}

/* client_reused - the message over an idle session of the same terms
 * (smtp_client_reuse.c): true when that gave the outcome; false when
 * the server had closed it before saying a word to this message (the
 * message is not delivered: a new connection takes it), c freed */
static bool
client_reused(struct client *c, const struct smtp_client_opts *o,
    const char *sender, char *const *rcpts, size_t nrcpts, int body_fd,
    off_t body_len, struct smtp_client_reply *session,
    struct smtp_client_reply *rr)
{
	off_t	 at = lseek(body_fd, 0, SEEK_CUR);
	bool	 closing;

	c->o = o;
	c->timeout = o->timeout > 0 ? o->timeout : 1;
	c->fail.code = 0;
	c->fail.ours = false;
	c->fail.text[0] = '\0';
	c->replies = 0;
	c->first_code = 0;
	if (o->tls_out != NULL)
		*o->tls_out = c->tls_info;
	client_transaction(c, sender, rcpts, nrcpts, body_fd, body_len,
	    session, rr);
	/* A 421 as the first word: the server's idle timeout, said as
	 * the message came (no body was sent: that waits for a 354). */
	closing = c->replies == 1 && c->first_code == 421;
	if ((session->code != 0 && !closing) || session->ours ||
	    (c->replies > 0 && !closing) || at == (off_t)-1 ||
	    lseek(body_fd, at, SEEK_SET) == (off_t)-1)
		return true;
	c->lost = true;		/* closed or out of step: no QUIT */
	client_close(c, false);
	client_reset(o, nrcpts, session, rr);
	return false;
}

void
smtp_client_send(const struct smtp_client_opts *o, const char *sender,
    char *const *rcpts, size_t nrcpts, int body_fd, off_t body_len,
    struct smtp_client_reply *session, struct smtp_client_reply *rr)
{
	struct client	*c;
	size_t		 keylen = 0;
	char		*key = NULL;

	client_reset(o, nrcpts, session, rr);
	if (nrcpts == 0) {
		snprintf(session->text, sizeof(session->text),
		    "no recipients");
		return;
	}
	if (o->reuse)
		key = client_reuse_key(o, &keylen);
	if (key != NULL && (c = client_reuse_take(key, keylen)) != NULL &&
	    client_reused(c, o, sender, rcpts, nrcpts, body_fd, body_len,
	    session, rr))
		goto done;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(session->text, sizeof(session->text),
		    "out of memory");
		client_reuse_key_free(key, keylen);
		goto verdicts;
	}
	c->o = o;
	c->fd = -1;
	c->timeout = o->timeout > 0 ? o->timeout : 1;
	if (client_connect(c) == -1) {
		*session = c->fail;
		goto done;
	}
	client_dialogue(c, sender, rcpts, nrcpts, body_fd, body_len, session,
	    rr);
done:
	if (o->tls_out != NULL)
		o->tls_out->conn_use = c->uses;
	/* A session whose message went through and that has nothing
	 * unread may wait for the next message of the same terms. */
	free(c->mime8);
	c->mime8 = NULL;
	if (key != NULL && !c->lost && c->fd != -1 && session->code == 250 &&
	    c->inpos == c->inlen) {
		if (o->tls_out != NULL)
			c->tls_info = *o->tls_out;
		if (client_reuse_park(c, key, keylen))
			c = NULL;
	}
	/* A lost connection, or one out of step (a timeout, a message file
	 * cut short in the middle of DATA), gets no QUIT. */
	if (c != NULL && !c->lost && c->fd != -1)
		client_quit(c);
	client_close(c, false);
	client_reuse_key_free(key, keylen);
verdicts:
	/* A session that failed takes every recipient not refused on its
	 * own, including those accepted at RCPT. */
	if (session->code == 250)
		return;
	for (size_t i = 0; i < nrcpts; i++)
		if (rr[i].code == 0 || rr[i].code / 100 == 2)
			rr[i] = *session;
}
