/*
 * doctor - `sallyport --selftest --dns`: does the world see this server
 * as it should? In process, against the configuration, every question
 * asked of the configured dns_servers (dns_timeout each): one check per
 * local domain, DKIM key, public address or the hostname, each PASS,
 * WARN, FAIL or ERROR, and for every one that is not PASS the exact fix
 * (the record to publish, and where).
 *
 * The runner (doctor_main.c) owns the loop, the resolver and the job
 * table; each job is a function of that table that asks DNS through the
 * doc_* helpers of doctor.c (which wait on the loop) and adds its
 * checks. A job never fails the run: what it cannot find out is an
 * ERROR check.
 *
 *	doctor_main.c	the command: configuration, resolver, job table
 *	doctor.c	what jobs share: addresses, DNS helpers, checks
 *	doctor_report.c	the report, as text and JSON
 *	doctor_addr.c	MX, PTR and forward-confirmed reverse DNS, DNSBLs,
 *			--probe-outbound
 *	doctor_auth.c	SPF, DKIM keys, DMARC
 *	doctor_tls.c	MTA-STS, TLSA, the certificate
 */
#ifndef SALLYPORT_DOCTOR_H
#define SALLYPORT_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "conf/config.h"
#include "dns/dns.h"
#include "dns/dns_rdata.h"
#include "lib/netaddr.h"
#include "tlspol/tlsrpt.h"

enum doc_verdict {
	DOC_PASS,	/* as it should be */
	DOC_WARN,	/* works, but something should change */
	DOC_FAIL,	/* the world sees it wrong: mail is lost or refused */
	DOC_ERROR,	/* could not tell (no DNS answer, a timeout) */
};

/* One line of the report. */
struct doc_check {
	char		*name;		/* the job: "mx", "ptr", "spf", ... */
	char		*subject;	/* a domain, the hostname, an address,
					 * SELECTOR._domainkey.DOMAIN */
	enum doc_verdict verdict;
	char		*detail;	/* what was found, in words */
	char		*fix;		/* NULL, or what to do: lines, each
					 * "publish: RECORD (in the zone of
					 * Z)" or words */
};

/* One of our public addresses, and where it came from. */
struct doc_addr {
	struct sockaddr_storage ss;
	char		 text[NETADDR_STRLEN];
};

struct spf;
struct spf_params;
struct spf_limits;
struct spf_lookup;
struct ev_loop;

struct dnsbl;

/* What the layers above the self-test lend it: the daemon's SPF check
 * on the event loop (daemon/spf_lookup.h), with its types. */
typedef void doc_spf_cb(void *arg, const struct spf *);
typedef void doc_dnsbl_cb(void *arg, const char *reply);
struct doctor_hooks {
	struct spf_lookup *(*spf_start)(struct ev_loop *, struct dns *,
			    const struct spf_params *, double budget,
			    doc_spf_cb *, void *arg);
	void		 (*spf_cancel)(struct spf_lookup *);
	void		 (*spf_limits)(const struct config *,
			    struct spf_limits *);
	/* the queue runner's MTA-STS policy fetch (deliver/sts.h) */
	enum tlsrpt_result (*sts_fetch)(const struct config *,
			    const char *domain, char *body, size_t max,
			    size_t *len, char *why, size_t whylen);
	/* for the self-test's feature lines (selftest_features.c): the
	 * daemon's DNSBL verdict at connect (daemon/dnsbl.h), and what
	 * its SPF and DMARC policies make of a forged sender
	 * (daemon/mxcheck.h) */
	struct dnsbl	*(*dnsbl_start)(struct ev_loop *, struct dns *,
			    const struct config *, const struct sockaddr *,
			    const char *addr_text, unsigned long sid,
			    doc_dnsbl_cb *, void *arg);
	void		 (*dnsbl_cancel)(struct dnsbl *);
	void		 (*mx_forged)(const struct config *, const char *ip,
			    const char *domain, char *spf_reply, size_t spflen,
			    char *dmarc_reply, size_t dmarclen);
};

struct doctor {
	const struct config *cfg;
	struct ev_loop	*loop;
	struct dns	*dns;
	const struct doctor_hooks *hooks;
	struct doc_addr	*addrs;		/* our public addresses */
	size_t		 naddrs;
	const char	*addrs_from;	/* "public_addresses", "the listeners",
					 * or NULL: none known */
	const char	*probe_domain;	/* --probe-outbound DOMAIN, or NULL */
	struct doc_check *checks;
	size_t		 nchecks, cap;
	double		 elapsed;	/* seconds */
};

/* --- the runner (doctor.c) --------------------------------------------- */

/* The command (selftest.h's struct selftest_cli, with dns set; in
 * doctor_main.c): load the configuration, run, print; the exit
 * status. */
struct selftest_cli;
int	doctor_command(const struct selftest_cli *);

/* Run every job against cfg with dns (doctor_main.c); 0, or -1 with a
 * message (out of memory: exit 2). */
int	doctor_run(struct doctor *, char *err, size_t errlen);
/* Our public addresses into d->addrs (a WARN check when there are
 * none); -1 without memory. */
int	doc_find_addresses(struct doctor *);
void	doctor_free(struct doctor *);
/* 0: no FAIL and no ERROR (WARN allowed); 1: a FAIL; 2: an ERROR and
 * no FAIL (could not tell). */
int	doctor_exit_code(const struct doctor *);
const char *doc_verdict_name(enum doc_verdict);

/* A new check of job `name` about `subject`, PASS with no detail and no
 * fix until set; NULL without memory. */
struct doc_check *doc_add(struct doctor *, const char *name,
	    const char *subject);
/* Set the verdict and the detail (printf format). */
void	doc_set(struct doc_check *, enum doc_verdict, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Add a line to the fix (printf format). */
void	doc_fix(struct doc_check *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* --- DNS, waiting on the loop ------------------------------------------ */

/* One answer as received: r, and the message (NULL on DNS_TEMPFAIL)
 * for dns_answer_each and dns_*_set_read. */
struct doc_answer {
	enum dns_result	 r;
	unsigned char	*msg;
	size_t		 len;
};

/* Ask name/type (DNS_TYPE_*) and wait for the answer. */
void	doc_query(struct doctor *, const char *name, unsigned type,
	    struct doc_answer *);
void	doc_answer_free(struct doc_answer *);

#define DOC_NAMES_MAX	16	/* names kept of an MX or PTR answer */
#define DOC_ADDRS_MAX	16	/* addresses kept of a host */

/* The names of an MX or PTR answer (without the final dot; a null MX
 * is ""), at most DOC_NAMES_MAX; *n set. */
enum dns_result doc_names(struct doctor *, const char *name, unsigned type,
	    char out[][256], size_t *n);
/* The A and AAAA of host, at most DOC_ADDRS_MAX: FOUND when there is
 * one, NOT_FOUND when neither has any, TEMPFAIL when either failed and
 * the other had none. */
enum dns_result doc_host_addrs(struct doctor *, const char *host,
	    struct sockaddr_storage *out, size_t *n);
/* The TXT records of name (free with dns_txt_set_free). */
enum dns_result doc_txt(struct doctor *, const char *name,
	    struct dns_txt_set *);
/* Text from DNS (len bytes) fit to print: bytes outside printable
 * ASCII as \xNN, cut with "..." past outlen. */
void	doc_printable(const char *in, size_t len, char *out, size_t outlen);
/* The address as an SPF mechanism: "ip4:192.0.2.1", "ip6:2001:db8::1". */
void	doc_spf_mech(const struct doc_addr *, char *out, size_t outlen);
/* Is sa one of our public addresses? */
bool	doc_is_ours(const struct doctor *, const struct sockaddr *);
/* Run the loop once; false when nothing is left to wait for. */
bool	doc_wait(struct doctor *);

/* --- the jobs ----------------------------------------------------------- */

void	doc_job_mx(struct doctor *);		/* doctor_addr.c */
void	doc_job_ptr(struct doctor *);
void	doc_job_dnsbl(struct doctor *);
void	doc_job_probe(struct doctor *);
void	doc_job_spf(struct doctor *);		/* doctor_auth.c */
void	doc_job_dkim(struct doctor *);
void	doc_job_dmarc(struct doctor *);
void	doc_job_mta_sts(struct doctor *);	/* doctor_tls.c */
void	doc_job_tlsa(struct doctor *);
void	doc_job_cert(struct doctor *);

/* --- the report (doctor_report.c) -------------------------------------- */

void	doctor_print_text(const struct doctor *, FILE *);
void	doctor_print_json(const struct doctor *, FILE *);

#endif
