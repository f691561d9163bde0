/*
 * dnsbl - the DNS blocklist verdict on a client, from the event loop:
 * the client's address looked up in every dnsbl zone at once through
 * the daemon's asynchronous resolver (and its cache), the weights of
 * the zones that list it added up, bounded by dnsbl_timeout.
 */
#ifndef SALLYPORT_DNSBL_H
#define SALLYPORT_DNSBL_H

#include <sys/socket.h>

struct config;
struct dns;
struct dnsbl;
struct ev_loop;

/* The verdict: NULL when the client may go on, else the whole reply
 * line it gets ("554 5.7.1 ..."), valid during the call. */
typedef void dnsbl_cb(void *arg, const char *reply);

/* Start the lookups for `client` (its text form addr_text; sid for log
 * lines). cb runs exactly once unless dnsbl_cancel is called: from the
 * loop, or before this returns when the verdict is known at once (all
 * answers cached), in which case NULL is returned. cfg must outlive the
 * check. */
struct dnsbl	*dnsbl_start(struct ev_loop *, struct dns *,
		    const struct config *, const struct sockaddr *client,
		    const char *addr_text, unsigned long sid, dnsbl_cb *,
		    void *arg);
/* The asker is gone: cb will not run. NULL does nothing. */
void		 dnsbl_cancel(struct dnsbl *);

#endif
