/*
 * smtp_auth - STARTTLS (RFC 3207) and AUTH (RFC 4954) in the engine.
 *
 * The engine only speaks the protocol: TLS itself is the host's (the
 * starttls hook), and so is SASL (auth_start/auth_step); their answers
 * come back through smtp_tls_done and smtp_auth_done. Whether AUTH may
 * happen at all is policy's call (policy_auth: never before TLS).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/base64.h"
#include "lib/log.h"
#include "smtp/smtp_reply.h"
#include "smtp/smtp_session.h"

void
smtp_set_tls(struct smtp_session *s, const char *version, const char *cipher,
    int bits)
{
	s->tls = s->client.tls = true;
	snprintf(s->tls_version, sizeof(s->tls_version), "%s",
	    version ? version : "TLS");
	snprintf(s->tls_cipher, sizeof(s->tls_cipher), "%s",
	    cipher ? cipher : "unknown");
	s->tls_bits = bits;
}

/* auth_mechs - what SASL offers now, or NULL when AUTH is not */
const char *
smtp_auth_mechs(struct smtp_session *s)
{
	const char *m;

	if (policy_auth(&s->client) != NULL)
		return NULL;		/* never before TLS */
	m = s->io->auth_mechanisms(s->ctx);
	return m && *m ? m : NULL;
}

void
smtp_cmd_starttls(struct smtp_session *s, const char *arg, size_t len)
{
	(void)arg;
	if (s->tls)
		smtp_reply(s, "%s", R_TLS_ACTIVE);
	else if (len > 0)
		smtp_reply(s, "%s", R_TLS_SYNTAX);
	else if (!s->tls_offer)
		smtp_reply(s, "%s", R_TLS_UNAVAILABLE);
	else {
		smtp_reply(s, "%s", R_TLS_GO);
		smtp_tx_free(s);
		s->state = S_TLS;
		s->io->starttls(s->ctx);
	}
}

/* mech_offered - is `mech` a word of the space separated list? */
static bool
mech_offered(const char *list, const char *mech)
{
	size_t n = strlen(mech);

	while (*list) {
		const char *end = strchr(list, ' ');
		size_t len = end ? (size_t)(end - list) : strlen(list);

		if (len == n && strncasecmp(list, mech, n) == 0)
			return true;
		list += len;
		while (*list == ' ')
			list++;
	}
	return false;
}

/* auth_decode - a client's base64 response; "=" is the empty one */
static long
auth_decode(const char *in, size_t len, char *out)
{
	if (len == 1 && in[0] == '=')
		return 0;
	return base64_decode(in, len, out);
}

void
smtp_cmd_auth(struct smtp_session *s, const char *arg, size_t len)
{
	char resp[SMTP_AUTH_MAX / 4 * 3 + 3];
	const char *mechs, *why, *sp;
	size_t mlen, i;
	long n = 0;

	if (s->authenticated) {
		smtp_reply(s, "%s", R_AUTH_ALREADY);
		return;
	}
	if (s->tx) {
		smtp_reply(s, "%s", R_AUTH_IN_TX);
		return;
	}
	if ((why = policy_auth(&s->client)) != NULL) {
		smtp_refuse(s, MR_TLS_REQUIRED, "%s", why);	/* TLS first */
		return;
	}
	if ((mechs = smtp_auth_mechs(s)) == NULL) {
		smtp_reply(s, "%s", R_AUTH_UNAVAILABLE);
		return;
	}
	sp = memchr(arg, ' ', len);
	mlen = sp ? (size_t)(sp - arg) : len;
	if (mlen == 0 || mlen >= sizeof(s->mech)) {
		smtp_reply(s, "%s", R_AUTH_SYNTAX);
		return;
	}
	for (i = 0; i < mlen; i++) {
		char c = arg[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			smtp_reply(s, "%s", R_AUTH_SYNTAX);
			return;
		}
		s->mech[i] = (char)toupper((unsigned char)c);
	}
	s->mech[mlen] = '\0';
	if (!mech_offered(mechs, s->mech)) {
		smtp_reply(s, "%s", R_AUTH_BADMECH);
		return;
	}
	if (sp) {
		while (*sp == ' ' && sp < arg + len)
			sp++;
		if ((n = auth_decode(sp, (size_t)(arg + len - sp), resp)) < 0) {
			explicit_bzero(resp, sizeof(resp));
			smtp_reply(s, "%s", R_AUTH_BASE64);
			return;
		}
	}
	if (s->io->auth_allowed && !s->io->auth_allowed(s->ctx)) {
		explicit_bzero(resp, sizeof(resp));
		log_info("s=%lx reject: AUTH from [%s]: too many failures from "
		    "this address", s->sid, s->addr_text);
		smtp_refuse(s, MR_LIMIT, "%s", R_AUTH_IP_LIMIT);
		return;
	}
	s->state = S_AUTH_WAIT;
	/* The backend takes its copy: a password stays on no stack. */
	s->io->auth_start(s->ctx, s->mech, resp, (size_t)n, sp != NULL);
	explicit_bzero(resp, sizeof(resp));
}

/* auth_line - the client's answer to a 334 challenge */
void
smtp_auth_line(struct smtp_session *s, const char *line, size_t len)
{
	char resp[SMTP_AUTH_MAX / 4 * 3 + 3];
	long n;

	if (len == 1 && line[0] == '*') {
		s->io->auth_reset(s->ctx);
		s->state = S_CMD;
		smtp_reply(s, "%s", R_AUTH_CANCELLED);
		return;
	}
	if ((n = auth_decode(line, len, resp)) < 0) {
		explicit_bzero(resp, sizeof(resp));
		s->io->auth_reset(s->ctx);
		s->state = S_CMD;
		smtp_reply(s, "%s", R_AUTH_BASE64);
		return;
	}
	s->state = S_AUTH_WAIT;
	s->io->auth_step(s->ctx, resp, (size_t)n);
	explicit_bzero(resp, sizeof(resp));
}

void
smtp_auth_done(struct smtp_session *s, enum sasl_status st,
    const char *challenge, size_t len, const char *user)
{
	char *line;
	size_t n;

	if (s->state != S_AUTH_WAIT)
		return;
	s->state = S_CMD;
	switch (st) {
	case SASL_STATUS_OK:
		s->authenticated = s->client.authenticated = true;
		snprintf(s->user, sizeof(s->user), "%s", user ? user : "");
		log_info("s=%lx authenticated from [%s]: user=<%s> "
		    "mechanism=%s", s->sid, s->addr_text, s->user, s->mech);
		smtp_reply(s, "%s", R_AUTH_OK);
		break;
	case SASL_STATUS_CONTINUE:
		if (len > SMTP_AUTH_MAX / 4 * 3 ||
		    (line = malloc(BASE64_ENCODED_LEN(len) + 8)) == NULL) {
			s->io->auth_reset(s->ctx);
			smtp_reply(s, "%s", R_AUTH_TEMP);
			break;
		}
		memcpy(line, "334 ", 4);
		n = base64_encode(challenge, len, line + 4);
		memcpy(line + 4 + n, "\r\n", 2);
		s->io->send(s->ctx, line, n + 6);
		free(line);
		s->state = S_AUTH_LINE;
		break;
	case SASL_STATUS_BADAUTH:
		s->auth_failures++;
		log_info("s=%lx auth failed from [%s]: mechanism=%s",
		    s->sid, s->addr_text, s->mech);
		s->io->auth_reset(s->ctx);
		smtp_refuse(s, MR_AUTH_FAILED, "%s", R_AUTH_BAD);
		if (s->auth_failures >= s->cfg->max_auth_failures) {
			smtp_refuse(s, MR_LIMIT, "%s", R_AUTH_TOO_MANY);
			s->state = S_CLOSED;
		}
		break;
	case SASL_STATUS_BADMECH:
		s->io->auth_reset(s->ctx);
		smtp_reply(s, "%s", R_AUTH_BADMECH);
		break;
	case SASL_STATUS_BADPROT:
		s->io->auth_reset(s->ctx);
		smtp_reply(s, "%s", R_AUTH_BASE64);
		break;
	case SASL_STATUS_TEMP:
		log_warn("s=%lx authentication backend failed for [%s]",
		    s->sid, s->addr_text);
		s->io->auth_reset(s->ctx);
		smtp_reply(s, "%s", R_AUTH_TEMP);
		break;
	}
	if (s->shutdown_pending && s->state != S_CLOSED) {
		if (s->state == S_AUTH_LINE)
			s->io->auth_reset(s->ctx);
		smtp_close_with(s, R_SHUTDOWN);
	}
}

void
smtp_tls_done(struct smtp_session *s, bool ok, const char *version,
    const char *cipher, int bits)
{
	if (s->state != S_TLS)
		return;
	if (!ok) {
		s->state = S_CLOSED;
		return;
	}
	/* RFC 3207 4.2: forget everything learnt before TLS. */
	smtp_set_tls(s, version, cipher, bits);
	smtp_tx_free(s);
	s->greeted = s->esmtp = false;
	s->helo[0] = '\0';
	s->state = S_CMD;
	if (s->shutdown_pending)
		smtp_close_with(s, R_SHUTDOWN);
}


const char *
smtp_auth_user(const struct smtp_session *s)
{
	return s->authenticated ? s->user : NULL;
}

const char *
smtp_auth_mech(const struct smtp_session *s)
{
	return s->authenticated ? s->mech : NULL;
}
