/*
 * tlsrpt_out - TLS-RPT (RFC 8460) on the delivery side: every outbound
 * session to an MX host, and every policy failure that prevented one,
 * is recorded as one line of QUEUE_DIR/tlsrpt/YYYY-MM-DD (the UTC day);
 * once a day the runner turns the past days' files into reports, one
 * per policy domain that publishes an _smtp._tls record, mailed
 * through our own queue to its mailto: addresses.
 */
#ifndef SALLYPORT_TLSRPT_OUT_H
#define SALLYPORT_TLSRPT_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "conf/config.h"
#include "deliver/smtp_client.h"
#include "tlspol/tlsrpt_report.h"

struct deliver_ctx;

#define TLSRPT_DIR	"tlsrpt"	/* under queue_dir */

/* Append s to its day's file (s->when, 0: now), when tls_reporting is
 * on and s->domain is a domain name (A-labels are recorded for a UTF-8
 * one). A line is one write(2) of a whole line under a shared lock,
 * so threads and processes never tear one; errors are logged, never
 * the delivery's concern. */
void	tlsrpt_note(const struct config *, struct tlsrpt_session *s);

/* What the SMTP client told of one session (tls: its tls_out) under
 * the policy that applied: policy type and strings, the policy's
 * mx-host (policy_mx), the MX host tried (mx_name). */
void	tlsrpt_note_session(const struct config *, const char *domain,
	    enum tlsrpt_policy, const char *policy_mx,
	    const char *const *pstrings, size_t npstrings,
	    const char *mx_name, const struct smtp_client_tls *tls);

/* A daily run is due: a file of a day before today's (UTC) or one left
 * taken by a run that did not finish, and now at least delay seconds
 * into today. */
bool	tlsrpt_due(const char *queue_dir, time_t now, unsigned delay);

/* Report: the files of past days (with all, today's too: the
 * trigger), one report per domain that asks for them. Blocks on DNS
 * and disk: run on a thread of its own. */
void	tlsrpt_run(const struct deliver_ctx *, const struct config *,
	    time_t now, bool all);

#endif
