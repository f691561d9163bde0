/*
 * deliver_reqtls - what a message itself asks of TLS on its way out
 * (RFC 8689), applied to each next hop: REQUIRETLS on MAIL (the entry's
 * requiretls) lets it go only to a host authenticated by DANE or under
 * an MTA-STS policy (or the smarthost the admin pinned), inside TLS, and
 * the client then wants REQUIRETLS offered there (smtp_client); a
 * "TLS-Required: No" header (the entry's tls_optional) makes DANE's and
 * MTA-STS's requirements void for it: opportunistic TLS, as to a host
 * with neither.
 */
#include <stdio.h>
#include <string.h>

#include "deliver/deliver_int.h"
#include "queue/qentry.h"
#include "deliver/smtp_client.h"

int
deliver_reqtls_require(const struct qentry *e, bool authenticated,
    const char *host, const char *why, struct smtp_client_reply *sess)
{
	if (!e->requiretls || authenticated)
		return 0;
	sess->code = 550;
	sess->ours = true;
	snprintf(sess->text, sizeof(sess->text), "550 %s REQUIRETLS support "
	    "required, but %s %s", CLIENT_REQUIRETLS_STATUS, host, why);
	return -1;
}

bool
deliver_reqtls_optional(const struct qentry *e, struct smtp_client_opts *opts)
{
	if (!e->tls_optional || e->requiretls)
		return false;
	/* RFC 8689 5: the sender would rather it went than waited for a
	 * policy; TLS is still tried, never required. */
	opts->tls = CLIENT_TLS_OPPORTUNISTIC;
	opts->tlsa = NULL;
	opts->ntlsa = 0;
	return true;
}

bool
deliver_reqtls_refused(const struct qentry *e,
    const struct smtp_client_reply *sess)
{
	size_t n = strlen(CLIENT_REQUIRETLS_STATUS);

	return e->requiretls && sess->ours && sess->code == 550 &&
	    strncmp(sess->text + 4, CLIENT_REQUIRETLS_STATUS, n) == 0 &&
	    sess->text[4 + n] == ' ';
}
