/*
 * deliver_tls - TLS of the outbound sessions: the fields of the
 * delivery log line, so that grep answers "was this sent safely" (the
 * version, the cipher, how the server was authenticated); and the
 * point every attempt at a host passes, with its DANE plan and what
 * became of TLS.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "deliver/deliver_int.h"
#include "deliver/tlsrpt_out.h"
#include "lib/log.h"
#include "queue/qentry.h"
#include "deliver/smtp_client.h"
#include "tlspol/tlsrpt.h"

/* tls_auth_word - dane, sts (a CA and the name, as an MTA-STS policy
 * asked), ca (a CA and the name: the smarthost), none */
static const char *
tls_auth_word(enum client_peer_auth auth, enum tlsrpt_policy policy)
{
	switch (auth) {
	case CLIENT_AUTH_DANE:
		return "dane";
	case CLIENT_AUTH_CA:
		return policy == TLSRPT_STS ? "sts" : "ca";
	default:
		return "none";
	}
}

/* tlsrpt_attempt - TLS-RPT (RFC 8460) counts each session with an MX
 * host under the policy that applied, and a DANE failure that kept the
 * host from being tried (its TLSA lookup failed: dnssec-invalid); not
 * the smarthost's, which no recipient domain's policy governs */
static void
tlsrpt_attempt(const struct config *cfg, const char *domain,
    const char *host, const struct dane_plan *plan,
    const struct smtp_client_tls *t)
{
	struct tlsrpt_session s;
	bool tlsa = plan->policy == TLSRPT_TLSA;

	/* Sessions under an MTA-STS policy: deliver_sts.c counts them. */
	if (domain == NULL || !cfg->tls_reporting ||
	    plan->policy == TLSRPT_STS)
		return;
	if (plan->verdict != DANE_DEFER) {
		tlsrpt_note_session(cfg, domain, plan->policy, tlsa ? host :
		    NULL, (const char *const *)plan->records, tlsa ?
		    plan->nrecords : 0, host, t);
		return;
	}
	memset(&s, 0, sizeof(s));
	s.domain = domain;
	s.policy = TLSRPT_TLSA;
	s.mx_host = host;
	s.result = TLSRPT_DNSSEC_INVALID;
	s.receiving_mx = host;
	s.reason = plan->why;
	tlsrpt_note(cfg, &s);
}

void
deliver_tls_field(char *out, size_t len, const struct smtp_client_tls *t,
    enum tlsrpt_policy policy)
{
	if (len == 0)
		return;
	out[0] = '\0';		/* no session: nothing sent, nothing to say */
	if (t->peer_ip[0] == '\0')
		return;
	if (t->used && t->result != TLSRPT_SUCCESS)
		/* a certificate checked, not enforced (MTA-STS testing):
		 * what the check found, in TLS-RPT's words */
		snprintf(out, len, "tls=%s cipher=%s auth=%s tls_failure=%s",
		    t->version, t->cipher, tls_auth_word(t->auth, policy),
		    tlsrpt_result_name(t->result));
	else if (t->used)
		snprintf(out, len, "tls=%s cipher=%s auth=%s", t->version,
		    t->cipher, tls_auth_word(t->auth, policy));
	else if (t->result != TLSRPT_SUCCESS)
		snprintf(out, len, "tls=no tls_failure=%s",
		    tlsrpt_result_name(t->result));
	else
		snprintf(out, len, "tls=no");
	/* the session carried messages before this one (reused) */
	if (t->conn_use > 1)
		snprintf(out + strlen(out), len - strlen(out), " conn_use=%u",
		    t->conn_use);
}

void
deliver_tls_attempt(const struct config *cfg, const char *domain,
    const struct qentry *e, const char *host, const struct dane_plan *plan,
    const struct smtp_client_tls *t, const struct smtp_client_reply *sess)
{
	char	 field[DELIVER_TLS_FIELD];

	/* TLS-Required: No: DANE did not apply to the session (RFC 8689
	 * 5), which says nothing of the TLSA records (an unchecked session
	 * is no success under them); a failed TLSA lookup is one all the
	 * same, as under MTA-STS a failed policy fetch. A session that
	 * carries another message (conn_use) was counted when it was
	 * made: TLS-RPT counts sessions, not messages. */
	if ((!e->tls_optional || e->requiretls ||
	    plan->verdict == DANE_DEFER) && t->conn_use <= 1)
		tlsrpt_attempt(cfg, domain, host, plan, t);

	/* A host DANE applied to that gave no verdict (skipped, TLS or
	 * its match failed): said here, since the outcome's line names
	 * only the last host tried. */
	if (plan->verdict == DANE_NONE || sess->code != 0)
		return;
	deliver_tls_field(field, sizeof(field), t, plan->policy);
	log_info("id=%s relay=%s dane=%s%s%s attempt failed (%s)", e->id,
	    host, dane_verdict_name(plan->verdict), field[0] != '\0' ?
	    " " : "", field, sess->text);
}
