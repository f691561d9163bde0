/*
 * deliver_int - shared by the queue runner's files, top down: deliver.c
 * (the schedule and threads) with deliver_conf.c (the configuration
 * they run under; deliver_runner.h is the state those two share),
 * deliver_route.c (one entry's delivery:
 * where each recipient goes, the DSN, the entry's end),
 * deliver_local.c (its recipients in our own domains) and
 * deliver_remote.c (those elsewhere, by SMTP), and at the
 * bottom deliver_outcome.c (a recipient's outcome and its record) and
 * deliver_loop.c (the guards against mail loops). A file calls only
 * those below it.
 */
#ifndef SALLYPORT_DELIVER_INT_H
#define SALLYPORT_DELIVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

#include "conf/config.h"
#include "lib/metrics.h"
#include "queue/qentry.h"
#include "dns/resolve.h"
#include "deliver/smtp_client.h"
#include "tlspol/tlsrpt.h"

struct runner;
struct queue;
struct qentry;

#define DELIVER_TLS_FIELD	160

/* What happened to one recipient in this attempt. */
struct outcome {
	bool	 tried;
	bool	 recorded;		/* written to the state file */
	bool	 noted;			/* ... or left to the entry's removal */
	bool	 remote;		/* text is the reply of the server at relay */
	bool	 expired;		/* a failure made final by queue_lifetime;
					 * text is the last attempt's */
	int	 code;			/* 2xx, 4xx, 5xx; 0: no verdict */
	enum metrics_dest_class dest;	/* where it was to go (deliver_entry
					 * sets it), for the metrics */
	char	 text[CLIENT_TEXT_MAX];
	char	 relay[300];
	char	 tls[DELIVER_TLS_FIELD];	/* "tls=TLSv1.3 cipher=... auth=dane",
					 * "tls=no", or "" (no SMTP session) */
};

/* What one delivery needs of the runner that started it: the queue a
 * new entry (a DSN, an alias's forward) is committed to, and whom to
 * tell of that entry, so that it is due at once: queued(owner, id). The
 * runner owns the schedule; a delivery only reports to it. */
struct deliver_ctx {
	struct queue	*queue;
	void		(*queued)(void *owner, const char *id);
	void		*owner;
};

/* deliver_tls.c */
/* The delivery log line's TLS fields for session t under policy: "tls=
 * TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 auth=dane" (auth dane, sts, ca
 * or none; then tls_failure= when the certificate was checked and not
 * enforced, and failed), "tls=no" (with tls_failure=RFC 8460's result
 * when TLS was tried and failed), "" when no session was made. */
void		 deliver_tls_field(char *out, size_t len,
		    const struct smtp_client_tls *t, enum tlsrpt_policy policy);
struct dane_plan;
/* After each attempt at one host (an MX host of the recipients'
 * domain, or the smarthost: domain NULL) for entry e: the DANE plan it
 * was tried under (all zero when none was made), what became of TLS
 * (t->peer_ip "" when no session was made: the host was skipped or not
 * reached) and the session's outcome. The one place where every
 * outbound TLS session passes: TLS-RPT counts them here. */
void		 deliver_tls_attempt(const struct config *, const char *domain,
		    const struct qentry *e, const char *host,
		    const struct dane_plan *plan,
		    const struct smtp_client_tls *t,
		    const struct smtp_client_reply *sess);

/* deliver_reqtls.c: the message's own request (RFC 8689) */
/* REQUIRETLS: -1 with our verdict in sess (550 5.7.30 "... host why")
 * unless the next hop is `authenticated` as RFC 8689 4.2.1 counts it (a
 * usable TLSA record matched; a certificate verified for the MX name
 * under an MTA-STS policy, testing mode included; the smarthost pinned
 * by smarthost_tls = required or dane); 0 otherwise (and for a message
 * without REQUIRETLS). */
int		 deliver_reqtls_require(const struct qentry *e,
		    bool authenticated, const char *host, const char *why,
		    struct smtp_client_reply *sess);
/* TLS-Required: No (and no REQUIRETLS): opts made opportunistic, as to
 * a host with neither DANE nor MTA-STS, whatever they said or failed to
 * say (RFC 8689 5); true. false for any other message, opts untouched.
 * The MX walk asks it where DANE chose the host's mode, and gives such
 * a message no MTA-STS policy. */
bool		 deliver_reqtls_optional(const struct qentry *e,
		    struct smtp_client_opts *opts);
/* Is sess our refusal of a host for a REQUIRETLS message (here or by
 * the client)? That host is not used; the walk goes on to the next. */
bool		 deliver_reqtls_refused(const struct qentry *e,
		    const struct smtp_client_reply *sess);

/* deliver_outcome.c */
/* A verdict made here (remote false): tried, code, relay and text. */
void		 set_outcome(struct outcome *, int code, const char *relay,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A verdict that is a server's own reply (remote true), or one the
 * client made itself (rep->ours: remote false). */
void		 set_reply(struct outcome *, const struct smtp_client_reply *,
		    const char *relay);
/* "local@domain" into its parts (the last @ splits). */
void		 split(const char *addr, char *local, size_t llen, char *domain,
		    size_t dlen);
/* The body file back at the message's first byte: 0, or -1. */
int		 rewind_body(int fd, const struct qentry *);
/* What the message needs of the next hop (SMTPUTF8, 8BITMIME) and
 * what to do with 8-bit content when it lacks 8BITMIME, into opts. */
void		 content_opts(const struct config *, const struct qentry *,
		    struct smtp_client_opts *);

/* Record recipient i's outcome as soon as it is known: a success or
 * a temporary failure at once, a permanent one after its DSN (then by
 * record); past queue_lifetime a temporary failure becomes final. */
void		 settle(const struct config *, struct qentry *, size_t i,
		    struct outcome *, time_t now);
/* Write outcome o of recipient i to the state file under dir, log it
 * and count it (sallyport_deliveries_total: once per recipient and
 * attempt). The entry's last success is only noted (o->noted): the
 * entry's removal, which follows, records it. */
void		 record(const char *dir, struct qentry *, size_t i,
		    struct outcome *o, time_t now);

/* deliver_local.c: every pending recipient in one of our domains gets
 * its outcome in outs[] (indexed like e->rcpts), each settled as soon
 * as it is known. */
void		 deliver_local(const struct deliver_ctx *, const struct config *,
		    struct qentry *, int fd, struct outcome *outs, time_t now);

/* deliver_remote.c: recipients idx[0..n) of e, sharing one destination
 * (the smarthost, or one domain), get their outcomes in outs[]
 * (indexed like e->rcpts); the caller settles them. */
void		 deliver_remote(const struct config *, const struct qentry *,
		    int fd, const size_t *idx, size_t n, struct outcome *outs);

/* deliver_sts.c: MTA-STS (RFC 8461) in the MX walk. */
struct sts_state;
enum deliver_sts_host {
	STS_HOST_AS_IS,		/* no policy for it: as without MTA-STS */
	STS_HOST_SKIP,		/* not in the enforced policy: not tried */
	STS_HOST_ENFORCED,	/* TLS, the certificate valid for its name */
	STS_HOST_TESTING,	/* a testing policy: as without one, reported */
};
/* The policy of domain for this delivery (sts.h), its fetch or failure
 * logged. */
void		 deliver_sts_policy(const struct config *, const char *qid,
		    const char *domain, struct sts_state *);
/* What the policy asks of MX host mx: opts set for ENFORCED, and for
 * TESTING (the certificate checked, not enforced); *sess the
 * deferral (451 4.7.5, no verdict) for SKIP. For a REQUIRETLS message
 * (requiretls) a policy in testing mode is applied as enforce (RFC 8689
 * 4.2.1). */
enum deliver_sts_host deliver_sts_host(const struct config *,
		    const char *qid, const struct sts_state *,
		    const char *domain, const char *mx, bool requiretls,
		    struct smtp_client_opts *, struct smtp_client_reply *sess);
/* After a host's session: for ENFORCED and TESTING, opts back as they
 * were; for ENFORCED, a failure of TLS worded as the policy's deferral. */
void		 deliver_sts_done(const struct sts_state *, const char *domain,
		    enum deliver_sts_host h, struct smtp_client_opts *,
		    struct smtp_client_reply *sess);
/* After a host the policy concerned (h not AS_IS): its session (t, or
 * its skipping) counted for TLS reporting under the policy; returns
 * TLSRPT_STS, the policy the host was tried under. */
enum tlsrpt_policy deliver_sts_report(const struct config *,
		    const struct sts_state *, const char *domain,
		    const char *mx, enum deliver_sts_host h,
		    const struct smtp_client_tls *t,
		    const struct smtp_client_reply *sess);

/* A configuration shared by the threads that started under it. */
struct rcfg {
	struct config	*cfg;
	int		 refs;		/* guarded by the runner's lock */
};

struct rcfg	*rcfg_get(struct runner *);
void		 rcfg_put(struct runner *, struct rcfg *);

/* Deliver what is pending in entry `id`; returns when to try again, or
 * 0 when the entry is finished (removed) or gone. */
time_t		 deliver_entry(const struct deliver_ctx *,
		    const struct config *, const char *id);


/* deliver_loop.c: the loop guards. */
/* How many of the MX hosts mx[0..n) (lowest preference first) may be
 * tried, given which are ourselves (self[i]): as Postfix does, only
 * those with a preference strictly below our own lowest one, so that a
 * backup MX never hands mail to itself or to a host that would pass it
 * back. The hosts to try are always a prefix of the list. */
size_t		 deliver_mx_cut(const struct mx_host *mx, const bool *self,
		    size_t n);
#define DELIVER_MAX_MX		16
#define DELIVER_MAX_ADDRS	8

/* One MX host to try, with its addresses. */
struct mx_target {
	struct mx_host		 mx;
	int			 rc;	/* of its address lookup, RESOLVE_* */
	struct sockaddr_storage	 addrs[DELIVER_MAX_ADDRS];
	size_t			 naddr;
	bool			 mx_secure;	/* the MX lookup naming it was
						 * DNSSEC-secure (dnssec = yes) */
	struct resolve_sec	 sec;	/* of its address lookup: secure,
					 * where its CNAME chain ended */
};

/* The hop count of entry e's message: the Received: fields of its
 * stored header section, ours included, so the number the next hop
 * will count. 0, or -1 when the file cannot be read. */
int		 deliver_hops(const struct qentry *e, int fd, unsigned *count);
/* The MX hosts of `domain` (RESOLVE_*) in preference order, names
 * only: addresses are looked up a preference group at a time, as the
 * walk reaches it (deliver_mx_group), so that a slow name server for
 * hosts far down the list does not hold the first connection. A
 * preference group cut by `max` is left out (we might be in its cut-off
 * part), unless it is the whole list. */
int		 deliver_mx_list(const struct config *, const char *domain,
		    struct mx_target *, size_t max, size_t *n);
/* Look up the addresses of t[i] and the hosts after it that share its
 * preference (up to *end): 1 when one of them is this server, then the
 * walk stops at i, as Postfix cuts an MX list at its own preference; 0
 * when none is; -1 when our own addresses cannot be known now. */
int		 deliver_mx_group(const struct config *, struct mx_target *t,
		    size_t i, size_t n, size_t *end);
/* The smarthost as the one host to try: its addresses, or rc
 * DELIVER_LOOPS when one is our own listener (a name the configuration
 * check could not see through). */
#define DELIVER_LOOPS		(-16)	/* beside RESOLVE_*, none of which it
					 * equals */
void		 deliver_smarthost_target(const struct config *,
		    const char *host, unsigned port, struct mx_target *);

/* dane.c: the DANE decision for one MX host (RFC 7672 2.2), made
 * from DNS alone, before connecting. */
enum dane_verdict {
	DANE_NONE,		/* no DANE: opportunistic TLS as before */
	DANE_VERIFY,		/* usable TLSA records: TLS, and the server
				 * must match one (CLIENT_TLS_DANE) */
	DANE_ENCRYPT,		/* TLSA records, none usable: TLS is
				 * mandatory, unauthenticated
				 * (CLIENT_TLS_ENCRYPT) */
	DANE_DEFER,		/* the TLSA lookup of a secure host failed
				 * (a bogus answer, a timeout): the host is
				 * not to be used now, never in clear text */
};

struct dane_plan {
	enum dane_verdict	 verdict;
	enum client_tls		 tls;		/* OPPORTUNISTIC, DANE, ENCRYPT;
						 * NONE for DANE_DEFER */
	enum tlsrpt_policy	 policy;	/* TLSRPT_TLSA when TLSA records
						 * were found, else NO_POLICY */
	char			 why[400];	/* the reason, in words */
	bool			 mx_secure;	/* what DNSSEC said of the MX */
	bool			 addr_secure;	/* ... and of the addresses */
	bool			 looked_up;	/* TLSA were asked for */
	int			 tlsa_rc;	/* the last lookup's RESOLVE_* */
	bool			 tlsa_secure;	/* ... and whether it was secure */
	char			 tlsa_name[300]; /* where: "_25._tcp.HOST" */
	char			 base[256];	/* the TLSA base domain (RFC 7672
						 * 2.2.2: the CNAME-expanded host
						 * or the MX host): the name a
						 * DANE-TA certificate must have */
	struct client_tlsa	*tlsa;		/* the usable records */
	size_t			 ntlsa;
	char			**records;	/* every record of the RRset in
						 * presentation form ("3 1 1
						 * AB.."), for TLS-RPT's
						 * policy-string */
	size_t			 nrecords;
	struct dns_tlsa_set	 set;		/* owns the records' data */
};

/* The plan for host t (its addresses looked up by deliver_mx_group or
 * deliver_smarthost_target) on `port`: DANE only with dnssec = yes, a
 * secure MX lookup (t->mx_secure; a caller without one, such as a
 * smarthost named by the administrator, sets it) and secure addresses.
 * 0, or -1 when out of memory (then DANE_DEFER). Free with
 * dane_plan_free. */
int		 dane_plan_host(const struct config *, const struct mx_target *t,
		    unsigned port, struct dane_plan *);
void		 dane_plan_free(struct dane_plan *);
/* "dane", "encrypt", "opportunistic", "defer" */
const char	*dane_verdict_name(enum dane_verdict);

#endif
