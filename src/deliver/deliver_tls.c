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
#include "deliver/sts.h"
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

/* tlsrpt_sts - a host under the domain's MTA-STS policy (enforce or
 * testing; DANE not deciding it): the session, or the host left out as
 * not in the policy (validation-failure), counted under "sts" with the
 * policy's lines and mx patterns; a policy that could not be had (and
 * none cached) counts as its failure (sts-policy-fetch-error, ...,
 * RFC 8460 4.3.2.2). False when no MTA-STS policy is in play. */
static bool
tlsrpt_sts(const struct config *cfg, const char *domain, const char *host,
    const struct sts_state *sts, bool skipped,
    const struct smtp_client_tls *t)
{
	const struct mtasts_policy *p = &sts->c.policy;
	char text[4096], mx[1024], *line, *save;
	struct tlsrpt_session s;
	size_t i, n = 0;

	if (!sts->have && sts->failure == TLSRPT_SUCCESS)
		return false;
	if (sts->have && p->mode == MTASTS_NONE)
		return false;
	memset(&s, 0, sizeof(s));
	s.domain = domain;
	s.policy = TLSRPT_STS;
	s.receiving_mx = host;
	if (!sts->have) {
		s.result = sts->failure;
		s.reason = sts->detail;
		tlsrpt_note(cfg, &s);
		return true;
	}
	if (mtasts_policy_format(p, text, sizeof(text)) < 0)
		text[0] = '\0';
	for (line = strtok_r(text, "\n", &save); line != NULL &&
	    s.npstrings < TLSRPT_PSTRINGS_MAX; line = strtok_r(NULL, "\n",
	    &save))
		s.pstrings[s.npstrings++] = line;
	mx[0] = '\0';
	for (i = 0; i < p->nmx && n < sizeof(mx); i++)
		n += (size_t)snprintf(mx + n, sizeof(mx) - n, "%s%s",
		    i ? " " : "", p->mx[i]);
	s.mx_host = mx;
	if (skipped || !mtasts_mx_match(p, host)) {
		s.result = TLSRPT_VALIDATION_FAILURE;
		s.reason = "MX host not in the MTA-STS policy";
	} else {
		if (!t->used && t->result == TLSRPT_SUCCESS)
			return true;	/* not reached: no TLS session */
		s.result = t->result;
		s.receiving_ip = t->peer_ip;
		s.reason = t->result == TLSRPT_SUCCESS ? NULL : t->detail;
	}
	tlsrpt_note(cfg, &s);
	return true;
}

/* tlsrpt_attempt - TLS-RPT (RFC 8460) counts each session with an MX
 * host under the policy that applied (DANE's, else MTA-STS's), and a
 * DANE failure that kept the host from being tried (its TLSA lookup
 * failed: dnssec-invalid); not the smarthost's, which no recipient
 * domain's policy governs */
static void
tlsrpt_attempt(const struct config *cfg, const char *domain,
    const char *host, const struct dane_plan *plan,
    const struct sts_state *sts, bool sts_skipped,
    const struct smtp_client_tls *t)
{
	struct tlsrpt_session s;
	bool tlsa = plan->policy == TLSRPT_TLSA;

	/* Sessions under an MTA-STS policy: deliver_sts.c counts them. */
	if (domain == NULL || !cfg->tls_reporting ||
	    plan->policy == TLSRPT_STS)
		return;
	if (plan->verdict == DANE_NONE && sts != NULL &&
	    tlsrpt_sts(cfg, domain, host, sts, sts_skipped, t))
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
	if (t->used)
		snprintf(out, len, "tls=%s cipher=%s auth=%s", t->version,
		    t->cipher, tls_auth_word(t->auth, policy));
	else if (t->result != TLSRPT_SUCCESS)
		snprintf(out, len, "tls=no tls_failure=%s",
		    tlsrpt_result_name(t->result));
	else
		snprintf(out, len, "tls=no");
}

void
deliver_tls_attempt(const struct config *cfg, const char *domain,
    const struct qentry *e, const char *host, const struct dane_plan *plan,
    const struct sts_state *sts, bool sts_skipped,
    const struct smtp_client_tls *t, const struct smtp_client_reply *sess)
{
	char	 field[DELIVER_TLS_FIELD];

	tlsrpt_attempt(cfg, domain, host, plan, sts, sts_skipped, t);

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
