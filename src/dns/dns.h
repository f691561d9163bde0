/*
 * dns - asynchronous DNS lookups with c-ares on the libev loop.
 *
 * Nothing here blocks: queries go out on non-blocking sockets watched
 * by the loop, and answers come back through callbacks. Answers
 * (positive and negative) are cached for their TTL, bounded in count.
 */
#ifndef SALLYPORT_DNS_H
#define SALLYPORT_DNS_H

#include <stddef.h>

struct ev_loop;
struct dns;
struct dns_req;

enum dns_result {
	DNS_FOUND,		/* the name has what we asked for */
	DNS_NOT_FOUND,		/* NXDOMAIN, or no such record */
	DNS_TEMPFAIL,		/* timeout, SERVFAIL, no server reachable */
};

typedef void dns_cb(void *arg, enum dns_result);

/* servers: "IP" or "IP:port" ("[IPv6]:port"); none: /etc/resolv.conf.
 * timeout: seconds for a whole lookup. NULL with a message on error. */
struct dns	*dns_new(struct ev_loop *, char *const *servers, size_t nservers,
		    unsigned timeout, char *err, size_t errlen);
/* Pending requests are dropped without their callbacks. Not from
 * within a dns_cb (c-ares may not be destroyed from its callbacks). */
void		 dns_free(struct dns *);

/* Does `domain` have an MX, A or AAAA record (RFC 5321 5.1: a domain
 * mail can be returned to)? cb runs exactly once, unless cancelled:
 * later from the loop, or before this returns when the answer is known
 * at once (a cache hit; a name that is no host name, which is
 * DNS_NOT_FOUND without a query; no server c-ares could send to), in
 * which case the return value is NULL. Otherwise a handle for
 * dns_cancel, valid until cb has returned. A null MX (RFC 7505) is
 * DNS_NOT_FOUND. */
struct dns_req	*dns_domain_exists(struct dns *, const char *domain,
		    dns_cb *cb, void *arg);
/* The answer to dns_query: DNS_FOUND when it holds records of the type
 * asked, DNS_NOT_FOUND for NXDOMAIN or none of the type, DNS_TEMPFAIL;
 * msg and len the message as received, for dns_answer_each (NULL on
 * DNS_TEMPFAIL), valid during the call only. */
typedef void dns_msg_cb(void *arg, enum dns_result, const unsigned char *msg,
    size_t len);

/* One question, `name` and `type` (DNS_TYPE_*), for a caller that wants
 * the records themselves (SPF). The answer (not a failure) is cached for
 * its TTL, the message with it (up to DNS_CACHE_MSG_MAX bytes). cb runs
 * exactly once unless cancelled, as dns_domain_exists's does: NULL is
 * returned when it has run already (a cache hit among others). */
struct dns_req	*dns_query(struct dns *, const char *name, unsigned type,
		    dns_msg_cb *cb, void *arg);
/* The asker is gone: its callback will not run. NULL, or a call from
 * within the request's own cb, does nothing. */
void		 dns_cancel(struct dns_req *);

const char	*dns_result_name(enum dns_result);

/* For other users of c-ares (resolve.c): make `channel` (an
 * ares_channel) ask these servers, in dns_new's form, instead of
 * resolv.conf's. 0, or -1 with a message. */
struct ares_channeldata;
int		 dns_channel_servers(struct ares_channeldata *channel,
		    char *const *servers, size_t nservers, char *err,
		    size_t errlen);

#endif
