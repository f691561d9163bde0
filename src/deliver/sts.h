/*
 * sts - MTA-STS (RFC 8461) for the queue runner: the policy of a
 * destination domain, from the cache under queue_dir or fetched, and
 * what it asks of each MX host. Used by deliver_remote.c for the MX
 * walk, by TLS reporting (the policy type, string and failures) and by
 * `sallyport --tls-policy`.
 *
 * sts.c decides (the _mta-sts TXT record, the cache, refresh, one fetch
 * per domain at a time); sts_cache.c keeps policies on disk;
 * sts_fetch.c gets one over HTTPS. Parsing is tlspol/mtasts.c's.
 */
#ifndef SALLYPORT_STS_H
#define SALLYPORT_STS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "conf/config.h"
#include "tlspol/mtasts.h"
#include "tlspol/tlsrpt.h"

/* A policy with what the cache keeps beside it. */
struct sts_cached {
	struct mtasts_policy	 policy;
	char			 id[MTASTS_ID_MAX + 1];	/* of the TXT record */
	time_t			 fetched;	/* when it was fetched */
};

/* What MTA-STS says of one domain now. */
struct sts_state {
	bool			 have;		/* a policy applies (its mode
						 * may still be none) */
	struct sts_cached	 c;
	bool			 expired;	/* past max_age, kept because no
						 * new one could be fetched */
	const char		*source;	/* "cache", "fetched" */
	enum tlsrpt_result	 failure;	/* SUCCESS, or why no new policy
						 * could be had: STS_POLICY_
						 * FETCH_ERROR, _INVALID,
						 * STS_WEBPKI_INVALID */
	char			 detail[240];	/* the failure, for logs and
						 * reports */
};

/* sts.c: the policy of `domain` (a recipient domain, UTF-8 or not) as
 * RFC 8461 5.1 and 3.3 say to find it: the cached one while it is
 * current and the TXT record's id has not changed, else one fetched;
 * a failed fetch leaves the cached policy in force, expired or not.
 * Nothing applies (have false) without mta_sts, or when neither the
 * cache nor a fetch gives a policy. Blocking, bounded by dns_timeout
 * and mta_sts_timeout; one fetch per domain at a time (the others wait
 * for its result). The policy's lines, TLS-RPT's policy-string, are
 * mtasts_policy_format(&state->c.policy). */
void		 sts_policy(const struct config *, const char *domain,
		    struct sts_state *);
/* The same for `sallyport --tls-policy`: a policy due is fetched, but
 * neither cached nor waited for (a look must not leave files of
 * another user under queue_dir). */
void		 sts_policy_look(const struct config *, const char *domain,
		    struct sts_state *);

/* sts_cache.c: the cached policy of `domain` (an ASCII name checked by
 * the caller) under queue_dir/mta-sts/: 0, or -1 when there is none
 * or it cannot be read. */
int		 sts_cache_read(const struct config *, const char *domain,
		    struct sts_cached *);
/* Keep it, atomically (a temporary file, fsync, rename, the directory
 * synced): 0, or -1 with why. */
int		 sts_cache_write(const struct config *, const char *domain,
		    const struct sts_cached *, char *why, size_t whylen);

/* sts_fetch.c: the policy body of `domain` (ASCII) into body[0..max):
 * TLSRPT_SUCCESS with *len, or the failure (STS_POLICY_FETCH_ERROR:
 * no answer, not 200, too large, too slow; STS_WEBPKI_INVALID: the
 * certificate; STS_POLICY_INVALID: not text/plain) with why. */
enum tlsrpt_result sts_fetch(const struct config *, const char *domain,
		    char *body, size_t max, size_t *len, char *why,
		    size_t whylen);

#endif
