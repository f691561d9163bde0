/*
 * deliver_sts - MTA-STS in the MX walk (RFC 8461 4, 5): the policy of
 * the recipient domain, and for each MX host what it asks. Under
 * "enforce" only hosts the policy names are tried, each with TLS and a
 * certificate valid for the MX host's name (the system's CA store, or
 * mta_sts_ca_file); anything else defers (451 4.7.5), never bounces.
 * "testing" delivers as without a policy, checking the certificate as
 * enforce would without acting on it (RFC 8461 5), and logs and
 * reports what enforce would have refused; "none" does nothing. A host whose TLS DANE already
 * decides is left to DANE (RFC 8461 2).
 *
 * TLS reporting (RFC 8460) counts what happened under the policy here:
 * policy type sts, the policy's lines as its policy-string, its mx
 * patterns as mx-host; a failed fetch as sts-policy-fetch-error,
 * sts-policy-invalid or sts-webpki-invalid; a host outside the
 * patterns as validation-failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/deliver_int.h"
#include "deliver/sts.h"
#include "deliver/tlsrpt_out.h"
#include "lib/log.h"

#define STS_TEXT_MAX	(MTASTS_MX_MAX * (MTASTS_NAME_MAX + 8) + 128)

/* sts_note - one result under st's policy for TLS reporting: mx the
 * host tried (NULL for a failed fetch), t its session (or NULL) */
static void
sts_note(const struct config *cfg, const struct sts_state *st,
    const char *domain, const char *mx, enum tlsrpt_result result,
    const char *reason, const struct smtp_client_tls *t)
{
	struct tlsrpt_session s;
	char	*text = NULL, *mxs = NULL, *l, *nl;
	size_t	 i, at = 0;

	if (!cfg->tls_reporting)
		return;
	memset(&s, 0, sizeof(s));
	s.domain = domain;
	s.policy = TLSRPT_STS;
	s.result = result;
	s.reason = result == TLSRPT_SUCCESS ? NULL : reason;
	s.receiving_mx = mx;
	s.receiving_ip = t != NULL && t->peer_ip[0] != '\0' ? t->peer_ip :
	    NULL;
	s.sending_ip = t != NULL && t->local_ip[0] != '\0' ? t->local_ip :
	    NULL;
	if (st->have && (text = malloc(STS_TEXT_MAX)) != NULL &&
	    (mxs = malloc(STS_TEXT_MAX)) != NULL &&
	    mtasts_policy_format(&st->c.policy, text, STS_TEXT_MAX) > 0) {
		for (l = text; *l != '\0' && s.npstrings < TLSRPT_PSTRINGS_MAX;
		    l = nl + 1) {
			if ((nl = strchr(l, '\n')) == NULL)
				break;
			*nl = '\0';
			s.pstrings[s.npstrings++] = l;
		}
		mxs[0] = '\0';
		for (i = 0; i < st->c.policy.nmx; i++)
			at += (size_t)snprintf(mxs + at, STS_TEXT_MAX - at,
			    "%s%s", i > 0 ? " " : "", st->c.policy.mx[i]);
		s.mx_host = mxs;
	}
	tlsrpt_note(cfg, &s);
	free(text);
	free(mxs);
}

void
deliver_sts_policy(const struct config *cfg, const char *qid,
    const char *domain, struct sts_state *st)
{
	sts_policy(cfg, domain, st);
	if (st->failure != TLSRPT_SUCCESS)
		sts_note(cfg, st, domain, NULL, st->failure, st->detail, NULL);
	if (st->failure != TLSRPT_SUCCESS)
		log_warn("id=%s mta-sts domain=%s %s: %s; %s", qid, domain,
		    tlsrpt_result_name(st->failure), st->detail, !st->have ?
		    "no policy applies" : st->expired ? "the expired cached "
		    "policy stays in force" : "the cached policy stays in "
		    "force");
	else if (st->have && strcmp(st->source, "fetched") == 0)
		log_info("id=%s mta-sts domain=%s policy id=%s mode=%s "
		    "max_age=%lu fetched%s%s", qid, domain, st->c.id,
		    mtasts_mode_name(st->c.policy.mode), st->c.policy.max_age,
		    st->detail[0] != '\0' ? ", " : "", st->detail);
}

enum deliver_sts_host
deliver_sts_host(const struct config *cfg, const char *qid,
    const struct sts_state *st, const char *domain, const char *mx,
    bool requiretls, struct smtp_client_opts *opts,
    struct smtp_client_reply *sess)
{
	bool	 match;

	/* No policy, mode none, or DANE (or the smarthost) decides. */
	if (!st->have || st->c.policy.mode == MTASTS_NONE ||
	    opts->tls != CLIENT_TLS_OPPORTUNISTIC)
		return STS_HOST_AS_IS;
	match = mtasts_mx_match(&st->c.policy, mx);
	/* RFC 8689 4.2.1: for a REQUIRETLS message testing is enforce */
	if (st->c.policy.mode == MTASTS_TESTING && !requiretls) {
		if (!match)
			log_info("id=%s mta-sts domain=%s mode=testing: MX "
			    "host %s is not in the policy (id %s); enforce "
			    "would defer", qid, domain, mx, st->c.id);
		else {
			/* validated as under enforce, failures delivered
			 * anyway and reported (RFC 8461 5) */
			opts->verify_report = true;
			opts->verify_name = mx;
			opts->ca_file = cfg->mta_sts_ca_file;
		}
		return STS_HOST_TESTING;
	}
	if (!match) {
		sess->code = 0;
		sess->ours = false;
		snprintf(sess->text, sizeof(sess->text), "451 4.7.5 MX host "
		    "%s is not in the MTA-STS policy of %s (mode %s, id %s)",
		    mx, domain, st->c.policy.mode == MTASTS_TESTING ?
		    "testing, enforced for REQUIRETLS" : "enforce", st->c.id);
		return STS_HOST_SKIP;
	}
	opts->tls = CLIENT_TLS_REQUIRED;
	opts->verify_name = mx;
	opts->ca_file = cfg->mta_sts_ca_file;
	return STS_HOST_ENFORCED;
}

void
deliver_sts_done(const struct sts_state *st, const char *domain,
    enum deliver_sts_host h, struct smtp_client_opts *opts,
    struct smtp_client_reply *sess)
{
	char	 text[CLIENT_TEXT_MAX];

	if (h != STS_HOST_ENFORCED && h != STS_HOST_TESTING)
		return;
	opts->tls = CLIENT_TLS_OPPORTUNISTIC;
	opts->ca_file = NULL;
	opts->verify_report = false;
	if (h == STS_HOST_TESTING)
		return;		/* nothing was enforced */
	/* Our own failure to have TLS as the policy asks (no STARTTLS, a
	 * certificate not valid for the MX host): the policy's deferral.
	 * A success is the delivery log line's auth=sts. */
	if (sess->code == 0 && opts->tls_out != NULL &&
	    opts->tls_out->result != TLSRPT_SUCCESS) {
		int n = snprintf(text, sizeof(text), "451 4.7.5 MTA-STS policy "
		    "of %.253s (mode enforce, id %s): ", domain, st->c.id);

		if (n > 0 && (size_t)n < sizeof(text)) {
			snprintf(text + n, sizeof(text) - (size_t)n, "%.*s",
			    (int)(sizeof(text) - (size_t)n - 1), sess->text);
			memcpy(sess->text, text, sizeof(text));
		}
	}
}

enum tlsrpt_policy
deliver_sts_report(const struct config *cfg, const struct sts_state *st,
    const char *domain, const char *mx, enum deliver_sts_host h,
    const struct smtp_client_tls *t, const struct smtp_client_reply *sess)
{
	if (h == STS_HOST_SKIP)
		sts_note(cfg, st, domain, mx, TLSRPT_VALIDATION_FAILURE,
		    sess->text, NULL);
	else if (h == STS_HOST_TESTING && !mtasts_mx_match(&st->c.policy, mx))
		/* what enforce would have refused (RFC 8460 4.3.2.2) */
		sts_note(cfg, st, domain, mx, TLSRPT_VALIDATION_FAILURE,
		    "MX host not in the MTA-STS policy (mode testing)", t);
	else if ((t->used || t->result != TLSRPT_SUCCESS) &&
	    t->conn_use <= 1)	/* a kept session: counted when made */
		sts_note(cfg, st, domain, mx, t->result, t->detail, t);
	/* a host not reached, or TLS not tried: no TLS session to count */
	return TLSRPT_STS;
}
