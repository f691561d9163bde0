/*
 * metrics - the server's counters for `/metrics` (OpenMetrics text).
 *
 * Each process (the master or the only process, each worker, the queue
 * runner) writes into its own slot of one shared mapping, made by the
 * first process before it forks or execs the others; whoever serves
 * the metrics listener sums the slots when it is scraped. A counter is
 * only ever added to, with relaxed atomics (a process's loop and its
 * commit threads share its slot); gauges are set by the one process
 * that owns them. No I/O and no locks on the paths that count.
 */
#ifndef SALLYPORT_METRICS_H
#define SALLYPORT_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Connections and messages are counted per `listen` line (in order),
 * the last index also taking the local socket and any lines past it. */
#define METRICS_LISTENERS	16

/* What became of a connection (sallyport_connections_total). */
enum metrics_conn_outcome {
	MCO_SERVED,		/* a session: greeted and served */
	MCO_BUSY,		/* max_connections */
	MCO_PER_IP,		/* max_connections_per_ip */
	MCO_DENIED,		/* client_deny, or 554 at connect (DNSBL,
				 * a milter) */
	MCO_PROXY_BAD,		/* no valid PROXY header, or an untrusted
				 * sender of one */
	MCO_COUNT
};

/* Why a command was refused (sallyport_refusals_total). */
enum metrics_refusal {
	MR_RELAY,		/* relay access denied */
	MR_DNSBL,		/* listed on a blocklist */
	MR_LIMIT,		/* a rate, size, count or per-login limit */
	MR_TLS_REQUIRED,	/* a command that needs TLS first */
	MR_AUTH_FAILED,		/* 535 */
	MR_SENDER,		/* the sender refused (login check, domain, SPF,
				 * DMARC) */
	MR_RECIPIENT,		/* unknown recipient */
	MR_MILTER,		/* a milter refused */
	MR_OTHER,		/* any other 4xx/5xx policy refusal */
	MR_COUNT
};

enum metrics_tls_version {
	MTV_TLS12, MTV_TLS13, MTV_OTHER, MTV_COUNT
};

enum metrics_delivery_outcome {
	MDO_SENT, MDO_DEFERRED, MDO_BOUNCED, MDO_COUNT
};

enum metrics_dest_class {
	MDC_LOCAL,		/* a mailbox here (Maildir, LMTP, qmail-queue) */
	MDC_SMARTHOST,		/* relayhost */
	MDC_MX,			/* the recipient domain's MX */
	MDC_COUNT
};

/* Upper bounds of the commit latency histogram, in microseconds; the
 * last bucket is +Inf. */
#define METRICS_COMMIT_BOUNDS \
	{ 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, \
	  500000, 1000000, 2500000 }
#define METRICS_COMMIT_BUCKETS	14	/* the bounds above, then +Inf */

struct metrics_slot {
	/* 0: unused; else the pid that last attached (its role comes
	 * from the slot's index: metrics_attach). */
	int32_t		 pid;
	uint32_t	 pad;
	/* Gauges of this process (set to 0 when a process re-attaches). */
	int64_t		 conn_open[METRICS_LISTENERS];
	/* Counters. */
	uint64_t	 conn_total[METRICS_LISTENERS][MCO_COUNT];
	uint64_t	 refusals[MR_COUNT];
	uint64_t	 messages[METRICS_LISTENERS];	/* accepted (250) */
	uint64_t	 message_bytes[METRICS_LISTENERS];
	uint64_t	 tls_sessions[MTV_COUNT];	/* inbound handshakes */
	uint64_t	 auth_success, auth_failure;
	uint64_t	 deliveries[MDO_COUNT][MDC_COUNT];	/* per recipient */
	uint64_t	 commit_bucket[METRICS_COMMIT_BUCKETS];	/* not
					 * cumulative: the renderer sums */
	uint64_t	 commit_count, commit_sum_us;
	uint64_t	 dns_queries, dns_failures;
	uint64_t	 proxy_headers;	/* PROXY headers taken */
	uint64_t	 journal_syncs;	/* group commits: a journal's synced write */
	uint64_t	 journal_writeouts;	/* batches written out of it */
	/* Gauges of the queue runner (its slot only): entries it
	 * schedules (state="active"), and those in hold/ ("held"). */
	int64_t		 queue_entries, queue_held;
	int64_t		 queue_oldest;	/* arrival time (Unix) of the oldest
					 * entry; 0: the queue is empty */
};

/* Slots: 0 the master or only process, 1..METRICS_WORKERS the workers,
 * then the queue runner. */
#define METRICS_WORKERS		64
#define METRICS_SLOT_MASTER	0
#define METRICS_SLOT_WORKER(i)	(1 + (i))
#define METRICS_SLOT_RUNNER	(1 + METRICS_WORKERS)
#define METRICS_SLOTS		(2 + METRICS_WORKERS)

/* This process's slot: a private one until metrics_attach, so that
 * counting is always safe (tools, tests, before start-up). */
extern struct metrics_slot *metrics_self;

#define METRICS_ADD(field, n) \
	((void)__atomic_fetch_add(&metrics_self->field, (n), __ATOMIC_RELAXED))
#define METRICS_INC(field)	METRICS_ADD(field, 1)
#define METRICS_SET(field, v) \
	((void)__atomic_store_n(&metrics_self->field, (v), __ATOMIC_RELAXED))

/* Make the shared mapping (a memfd, close-on-exec; the descriptor is
 * kept for passing to an exec'd process): 0, or -1 with errno. */
int		 metrics_create(void);
/* The descriptor of the mapping (-1: none), and adopting one in an
 * exec'd process: 0, or -1 with errno. */
int		 metrics_fd(void);
int		 metrics_open(int fd);
/* Count into slot `slot` from now on (its gauges zeroed, pid set):
 * its counters carry on from what the slot's last process counted. */
void		 metrics_attach(unsigned slot);
/* The gauges of slot `slot` back to 0: its process is gone (the master,
 * when a worker died: its connections are closed). */
void		 metrics_gauges_reset(unsigned slot);
/* Every slot, for the renderer (NULL before metrics_create/open). */
const struct metrics_slot *metrics_slots(void);
/* One observation of the commit latency, in microseconds. */
void		 metrics_commit_latency(uint64_t us);

#endif
