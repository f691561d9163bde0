/*
 * tlsrpt_report - from sessions to RFC 8460 reports, without I/O.
 *
 * A session (or a policy failure that prevented one) is kept as one
 * text line (tlsrpt_line_format, tlsrpt_line_parse): the delivery side
 * appends it to the day's file. The lines of a day are added to an
 * aggregate (tlsrpt_agg_add): per policy domain, its policies (type,
 * policy strings, MX host), their success and failure counts and the
 * failure details. tlsrpt_report_json then writes one domain's report
 * as RFC 8460 4.4's JSON.
 *
 * Names, texts and addresses come from remote servers and DNS: every
 * string is escaped in the line (%XX) and in the JSON (RFC 8259, with
 * bytes that are not UTF-8 replaced by U+FFFD), and everything is
 * bounded: the line by TLSRPT_LINE_MAX, the aggregate by the domain,
 * policy and detail limits given to tlsrpt_agg_new (sessions past them
 * are counted, never stored).
 */
#ifndef SALLYPORT_TLSRPT_REPORT_H
#define SALLYPORT_TLSRPT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "tlspol/tlsrpt.h"

#define TLSRPT_LINE_MAX		4000	/* one record line, '\n' included */
#define TLSRPT_PSTRINGS_MAX	16	/* policy strings kept per session */
#define TLSRPT_DOMAIN_MAX	253
#define TLSRPT_TEXT_MAX		255	/* a failure's reason, a host name */
#define TLSRPT_PSTRING_MAX	1024	/* one policy string */

/* One session, or a policy failure without a session. A NULL or empty
 * string is "not known" (left out of the report). */
struct tlsrpt_session {
	time_t			 when;
	const char		*domain;	/* the policy domain: the
						 * recipient's domain */
	enum tlsrpt_policy	 policy;
	const char		*mx_host;	/* the policy's "mx-host": tlsa,
						 * the MX host; sts, the
						 * policy's mx patterns,
						 * blank separated */
	const char		*pstrings[TLSRPT_PSTRINGS_MAX];
	size_t			 npstrings;	/* the "policy-string" lines:
						 * TLSA records as text, the
						 * STS policy's lines */
	enum tlsrpt_result	 result;
	const char		*sending_ip;	/* our address */
	const char		*receiving_mx;	/* the MX host's name */
	const char		*receiving_ip;	/* its address */
	const char		*reason;	/* "failure-reason-code": the
						 * failure in words */
};

/* The line for s, '\n' ended, in buf (at least TLSRPT_LINE_MAX bytes):
 * its length, or 0 when s has no domain. Fields too long are cut;
 * policy strings that do not fit are left out. */
size_t	tlsrpt_line_format(const struct tlsrpt_session *s, char *buf,
	    size_t buflen);
/* Read a line (without its '\n') in place: s's strings point into it.
 * 0, or -1 when it is not such a line (a line torn by a crash, another
 * version's). */
int	tlsrpt_line_parse(char *line, struct tlsrpt_session *s);

struct tlsrpt_agg;

/* An empty aggregate: at most max_domains domains, max_policies
 * policies in a domain, max_details failure details in a policy. */
struct tlsrpt_agg *tlsrpt_agg_new(size_t max_domains, size_t max_policies,
	    size_t max_details);
void	tlsrpt_agg_free(struct tlsrpt_agg *);
/* Count session s. 0; 1 when a limit kept it out (counted in
 * tlsrpt_agg_dropped); -1 out of memory. The domain is compared without
 * case and reported in lower case. */
int	tlsrpt_agg_add(struct tlsrpt_agg *, const struct tlsrpt_session *s);
/* The domains, in the order they were first seen. */
size_t	tlsrpt_agg_ndomains(const struct tlsrpt_agg *);
const char *tlsrpt_agg_domain(const struct tlsrpt_agg *, size_t i);
/* Sessions left out by the limits. */
unsigned long tlsrpt_agg_dropped(const struct tlsrpt_agg *);
/* The earliest and latest session times seen (0 when none). */
void	tlsrpt_agg_span(const struct tlsrpt_agg *, time_t *first,
	    time_t *last);

/* What the report says of itself (RFC 8460 4.4). */
struct tlsrpt_meta {
	const char	*org;		/* "organization-name" */
	const char	*contact;	/* "contact-info" */
	const char	*report_id;	/* "report-id" */
	time_t		 start, end;	/* "date-range" */
};

/* Domain i's report as JSON (one line, '\n' ended), malloc'd, *len its
 * length; NULL with errno ENOBUFS when it would pass 16 MiB (it never
 * will be smaller), else out of memory. Deterministic: the same
 * sessions in the same order give the same bytes. */
char	*tlsrpt_report_json(const struct tlsrpt_agg *, size_t domain,
	    const struct tlsrpt_meta *, size_t *len);

/* RFC 3339 UTC, "2026-12-01T00:00:00Z"; out holds 21 bytes. */
void	tlsrpt_datetime(time_t, char out[21]);

/* The enum for an RFC name; -1 when unknown. */
int	tlsrpt_policy_from_name(const char *);
int	tlsrpt_result_from_name(const char *);

#endif
