/*
 * spf_lookup - an SPF check (auth/spf.h) run on the event loop: its DNS
 * questions asked through c-ares (dns/dns.h), its answers fed back.
 *
 * One per check: the SMTP session starts one for MAIL FROM and keeps
 * the handle until the callback runs or it cancels; sallyport
 * --spf-check runs one alone.
 */
#ifndef SALLYPORT_SPF_LOOKUP_H
#define SALLYPORT_SPF_LOOKUP_H

#include "auth/spf.h"

struct config;
struct dns;
struct ev_loop;
struct spf_lookup;

/* The limits of a check as the configuration sets them (spf_max_*). */
void	spf_limits_from(const struct config *, struct spf_limits *);

/* The check is done: read spf (result, domain, explanation) during the
 * call; it is freed after. NULL: no memory for the check (take it as
 * a temperror). */
typedef void spf_lookup_cb(void *arg, const struct spf *spf);

/* Start a check. budget: seconds for the whole check (0: none beyond
 * each lookup's dns_timeout), after which it ends as temperror. cb runs
 * exactly once unless cancelled: later from the loop, or before this
 * returns (then NULL is returned) when no lookup was needed, or without
 * memory. */
struct spf_lookup	*spf_lookup_start(struct ev_loop *, struct dns *,
			    const struct spf_params *, double budget,
			    spf_lookup_cb *cb, void *arg);
/* The asker is gone: no callback. NULL does nothing. */
void			 spf_lookup_cancel(struct spf_lookup *);

#endif
