/*
 * dns - asynchronous DNS lookups with c-ares on the libev loop.
 *
 * c-ares does the protocol; libev does the waiting. c-ares tells us
 * through its socket-state callback which sockets it wants watched and
 * for what, and we keep one ev_io per socket; one ev_timer follows
 * ares_timeout() for its retransmissions. Nothing here blocks: no
 * getaddrinfo, no blocking read of a socket.
 *
 * Timing: dns_timeout bounds a whole lookup (MX, then A, then AAAA), by
 * a timer of its own per lookup, whatever c-ares does. c-ares itself
 * tries each query twice with a first wait of a third of that; as
 * c-ares 1.18 doubles the wait for the second round, one server that
 * never answers uses exactly the whole time.
 *
 * Lifetime of a request: it is freed once its asker is done with it
 * (answered or cancelled) and c-ares has given it back (its query
 * callback ran, with ARES_EDESTRUCTION at worst). Between the two it
 * waits with cb == NULL, and whatever c-ares then says is dropped.
 *
 * dns_free must not be called from a dns_cb: ares_destroy may not run
 * inside c-ares's own callbacks.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <ares.h>
#include <ev.h>

#include "conf/config_value.h"
#include "dns/dns.h"
#include "dns/dns_answer.h"
#include "dns/dns_cache.h"
#include "lib/metrics.h"
#include "lib/netaddr.h"

#define DNS_CACHE_SIZE	10000	/* names whose answer we keep */
#define DNS_TRIES	2	/* c-ares tries per query */

/* One socket c-ares asked us to watch. */
struct dns_sock {
	ev_io		 io;
	struct dns	*dns;
	struct dns_sock	*next;
};

struct dns {
	struct ev_loop	*loop;
	ares_channel	 channel;
	ev_timer	 timer;		/* c-ares's next timeout */
	struct dns_sock	*socks;
	double		 timeout;	/* seconds for a whole lookup */
	struct dns_cache *cache;
};

/* The record types asked in turn: MX, and when there is none the
 * addresses of RFC 5321 5.1's implicit MX. */
static const unsigned dns_steps[] = { DNS_TYPE_MX, DNS_TYPE_A, DNS_TYPE_AAAA };
#define DNS_NSTEPS	(sizeof(dns_steps) / sizeof(dns_steps[0]))

struct dns_req {
	struct dns	*dns;
	dns_cb		*cb;		/* NULL once answered or cancelled */
	dns_msg_cb	*msg_cb;	/* dns_query's, in place of cb */
	void		*arg;
	unsigned	 qtype;		/* dns_query's type; 0: dns_steps */
	ev_timer	 deadline;	/* the whole lookup */
	size_t		 step;		/* in dns_steps */
	uint32_t	 neg_ttl;	/* smallest negative TTL so far */
	bool		 in_ares;	/* c-ares holds a pointer to us */
	bool		 starting;	/* inside dns_domain_exists */
	char		 name[CV_DOMAIN_MAX + 1];
};

/* What one answer means for the lookup. */
enum dns_verdict {
	DNS_V_FOUND,
	DNS_V_NOT_FOUND,
	DNS_V_NEXT,		/* no record of this type: ask the next */
	DNS_V_TEMPFAIL,
};

static void dns_send(struct dns_req *);

/* dns_wanted - has the asker still to be answered? */
static bool
dns_wanted(const struct dns_req *r)
{
	return r->cb != NULL || r->msg_cb != NULL;
}

const char *
dns_result_name(enum dns_result r)
{
	switch (r) {
	case DNS_FOUND:
		return "found";
	case DNS_NOT_FOUND:
		return "not-found";
	case DNS_TEMPFAIL:
		return "tempfail";
	}
	return "unknown";
}

/* --- c-ares on libev -------------------------------------------------- */

/* dns_timer_update - wake up when c-ares next has a timeout to handle */
static void
dns_timer_update(struct dns *d)
{
	struct timeval	 tv, *t;

	ev_timer_stop(d->loop, &d->timer);
	if ((t = ares_timeout(d->channel, NULL, &tv)) == NULL)
		return;
	ev_timer_set(&d->timer, (double)t->tv_sec + t->tv_usec / 1e6, 0.);
	ev_timer_start(d->loop, &d->timer);
}

static void
dns_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dns	*d = w->data;

	(void)loop;
	(void)revents;
	ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_timer_update(d);
}

static void
dns_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dns_sock	*s = w->data;
	struct dns	*d = s->dns;
	int		 fd = w->fd;

	(void)loop;
	/* c-ares may close the socket, and so free s, in here. */
	ares_process_fd(d->channel,
	    (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	dns_timer_update(d);
}

/* dns_sock_state_cb - c-ares wants fd watched for these events, or
 * (neither) is closing it */
static void
dns_sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns	 *d = data;
	struct dns_sock	**pp, *s;

	for (pp = &d->socks; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->io.fd == fd)
			break;
	s = *pp;
	if (!readable && !writable) {
		if (s != NULL) {
			ev_io_stop(d->loop, &s->io);
			*pp = s->next;
			free(s);
		}
		return;
	}
	if (s == NULL) {
		/* Without memory the socket goes unwatched: its queries
		 * time out and their lookups fail as TEMPFAIL. */
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return;
		s->dns = d;
		s->next = d->socks;
		d->socks = s;
		ev_io_init(&s->io, dns_io_cb, fd, 0);
		s->io.data = s;
	}
	ev_io_stop(d->loop, &s->io);
	ev_io_set(&s->io, fd, (readable ? EV_READ : 0) |
	    (writable ? EV_WRITE : 0));
	ev_io_start(d->loop, &s->io);
}

/* dns_channel_servers - our list instead of resolv.conf's. Built as
 * nodes rather than the CSV form, whose parser in c-ares 1.18 guesses
 * at colons; our strings are already checked, canonical ones. */
int
dns_channel_servers(ares_channel channel, char *const *servers, size_t n,
    char *err, size_t errlen)
{
	struct ares_addr_port_node *nodes;
	struct netaddr_port	    np;
	char			    msg[128];
	int			    rc;

	if ((nodes = calloc(n, sizeof(*nodes))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (netaddr_port_parse(servers[i], 0, &np, msg,
		    sizeof(msg)) == -1) {
			snprintf(err, errlen, "DNS server: %s", msg);
			free(nodes);
			return -1;
		}
		nodes[i].next = i + 1 < n ? &nodes[i + 1] : NULL;
		nodes[i].family = np.family;
		if (np.family == AF_INET)
			memcpy(&nodes[i].addr.addr4, np.addr, 4);
		else
			memcpy(&nodes[i].addr.addr6, np.addr, 16);
		/* 0 stands for c-ares's default, 53. */
		nodes[i].udp_port = nodes[i].tcp_port = (int)np.port;
	}
	rc = ares_set_servers_ports(channel, nodes);
	free(nodes);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "DNS servers: %s", ares_strerror(rc));
		return -1;
	}
	return 0;
}

struct dns *
dns_new(struct ev_loop *loop, char *const *servers, size_t nservers,
    unsigned timeout, char *err, size_t errlen)
{
	struct dns		*d;
	struct ares_options	 opts;
	int			 rc;

	if (timeout == 0) {
		snprintf(err, errlen, "DNS timeout must be at least 1s");
		return NULL;
	}
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->cache = dns_cache_new(DNS_CACHE_SIZE)) == NULL) {
		free(d);
		ares_library_cleanup();
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->loop = loop;
	d->timeout = timeout;
	ev_timer_init(&d->timer, dns_timer_cb, 0., 0.);
	d->timer.data = d;

	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = dns_sock_state_cb;
	opts.sock_state_cb_data = d;
	opts.tries = DNS_TRIES;
	opts.timeout = (int)(timeout * 1000 / 3);
	rc = ares_init_options(&d->channel, &opts, ARES_OPT_SOCK_STATE_CB |
	    ARES_OPT_TRIES | ARES_OPT_TIMEOUTMS);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		dns_cache_free(d->cache);
		free(d);
		ares_library_cleanup();
		return NULL;
	}
	if (nservers > 0 && dns_channel_servers(d->channel, servers, nservers,
	    err, errlen) == -1) {
		dns_free(d);
		return NULL;
	}
	return d;
}

void
dns_free(struct dns *d)
{
	struct dns_sock	*s;

	if (d == NULL)
		return;
	/* Every query still out comes back with ARES_EDESTRUCTION, which
	 * frees its request without a word to the asker. */
	ares_destroy(d->channel);
	ev_timer_stop(d->loop, &d->timer);
	/* c-ares reports its sockets closed as it destroys them; this is
	 * only in case one was left. */
	while ((s = d->socks) != NULL) {
		ev_io_stop(d->loop, &s->io);
		d->socks = s->next;
		free(s);
	}
	dns_cache_free(d->cache);
	free(d);
	ares_library_cleanup();
}

/* --- lookups ------------------------------------------------------------- */

/* dns_req_release - free the request if nobody holds it any more */
static void
dns_req_release(struct dns_req *r)
{
	if (!dns_wanted(r) && !r->in_ares && !r->starting)
		free(r);
}

/* dns_msg_key - the cache's key for a dns_query question: its type and
 * name (lower case), apart from dns_domain_exists's host names */
#define DNS_KEY_SIZE	(CV_DOMAIN_MAX + 16)
static void
dns_msg_key(unsigned type, const char *name, char key[DNS_KEY_SIZE])
{
	size_t n = (size_t)snprintf(key, DNS_KEY_SIZE, "\001%u\001", type);

	for (; *name != '\0' && n + 1 < DNS_KEY_SIZE; name++)
		key[n++] = (char)tolower((unsigned char)*name);
	key[n] = '\0';
}

/* dns_finish - answer the asker, once; keep the answer if it may be.
 * msg (len bytes): the message, for a dns_query. */
static void
dns_finish(struct dns_req *r, enum dns_result result, uint32_t ttl,
    const unsigned char *msg, size_t len)
{
	struct dns	*d = r->dns;
	dns_cb		*cb = r->cb;
	dns_msg_cb	*msg_cb = r->msg_cb;

	ev_timer_stop(d->loop, &r->deadline);
	r->cb = NULL;
	r->msg_cb = NULL;
	if (msg_cb != NULL) {
		if (result != DNS_TEMPFAIL && msg != NULL) {
			char key[DNS_KEY_SIZE];

			dns_msg_key(r->qtype, r->name, key);
			dns_cache_put_msg(d->cache, key, result, msg, len, ttl,
			    ev_now(d->loop));
		}
		msg_cb(r->arg, result, result == DNS_TEMPFAIL ? NULL : msg,
		    result == DNS_TEMPFAIL ? 0 : len);
	} else {
		if (result != DNS_TEMPFAIL)
			dns_cache_put(d->cache, r->name, result, ttl,
			    ev_now(d->loop));
		cb(r->arg, result);
	}
	dns_req_release(r);
}

/* dns_verdict - what c-ares's status and the raw answer say. A message
 * we cannot read is a failure of the moment, never a "no". */
static enum dns_verdict
dns_verdict(struct dns_req *r, int status, const unsigned char *abuf,
    int alen, uint32_t *ttl)
{
	struct dns_answer a;

	if (status != ARES_SUCCESS && status != ARES_ENODATA &&
	    status != ARES_ENOTFOUND)
		return DNS_V_TEMPFAIL;	/* SERVFAIL, REFUSED, timeout, ... */
	if (abuf == NULL || alen <= 0 || dns_answer_parse(abuf, (size_t)alen,
	    r->qtype ? r->qtype : dns_steps[r->step], &a) == -1)
		return DNS_V_TEMPFAIL;
	if (a.neg_ttl < r->neg_ttl)
		r->neg_ttl = a.neg_ttl;
	if (status == ARES_ENOTFOUND) {
		*ttl = r->neg_ttl;	/* NXDOMAIN: no other type either */
		return DNS_V_NOT_FOUND;
	}
	if (a.found > 0) {
		*ttl = a.ttl;
		return DNS_V_FOUND;
	}
	if (a.null_mx > 0 && r->qtype == 0) {
		/* RFC 7505: the domain takes no mail, so none can be
		 * returned to it; its addresses do not change that. */
		*ttl = a.ttl;
		return DNS_V_NOT_FOUND;
	}
	/* NODATA, or only a CNAME chain without the type at its end. */
	*ttl = r->neg_ttl;
	return r->qtype == 0 && r->step + 1 < DNS_NSTEPS ? DNS_V_NEXT :
	    DNS_V_NOT_FOUND;
}

/* dns_failed - a query without an answer (timeout, SERVFAIL, REFUSED,
 * no server reachable), for the metrics: NXDOMAIN and NODATA are
 * answers; a query dropped by dns_free is neither */
static bool
dns_failed(int status)
{
	switch (status) {
	case ARES_SUCCESS:
	case ARES_ENODATA:
	case ARES_ENOTFOUND:
	case ARES_EBADNAME:
	case ARES_EDESTRUCTION:
	case ARES_ECANCELLED:
		return false;
	default:
		return true;
	}
}

static void
dns_answer_cb(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct dns_req	*r = arg;
	uint32_t	 ttl = 0;

	(void)timeouts;
	r->in_ares = false;
	if (dns_failed(status))
		METRICS_INC(dns_failures);
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
		/* dns_free: nobody is told. */
		ev_timer_stop(r->dns->loop, &r->deadline);
		free(r);
		return;
	}
	if (!dns_wanted(r)) {
		dns_req_release(r);	/* too late, or cancelled */
		return;
	}
	if (status == ARES_EBADNAME) {
		/* A name c-ares cannot ask: there is no such name. */
		dns_finish(r, DNS_NOT_FOUND, 0, NULL, 0);
		return;
	}
	switch (dns_verdict(r, status, abuf, alen, &ttl)) {
	case DNS_V_FOUND:
		dns_finish(r, DNS_FOUND, ttl, abuf, (size_t)alen);
		break;
	case DNS_V_NOT_FOUND:
		dns_finish(r, DNS_NOT_FOUND, ttl, abuf, (size_t)alen);
		break;
	case DNS_V_NEXT:
		r->step++;
		dns_send(r);
		break;
	case DNS_V_TEMPFAIL:
		dns_finish(r, DNS_TEMPFAIL, 0, NULL, 0);
		break;
	}
}

/* dns_send - ask c-ares for the current step. Its callback may run
 * before ares_query returns (no server it could reach), and may free
 * r: nothing here touches r after the call. */
static void
dns_send(struct dns_req *r)
{
	struct dns	*d = r->dns;

	r->in_ares = true;
	METRICS_INC(dns_queries);
	ares_query(d->channel, r->name, DNS_CLASS_IN,
	    (int)(r->qtype ? r->qtype : dns_steps[r->step]), dns_answer_cb, r);
	dns_timer_update(d);
}

static void
dns_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dns_req	*r = w->data;

	(void)loop;
	(void)revents;
	/* c-ares keeps its query until its own timeout; r waits for it. */
	dns_finish(r, DNS_TEMPFAIL, 0, NULL, 0);
}

/* dns_start - send a new request's first query */
static struct dns_req *
dns_start(struct dns *d, struct dns_req *r, void *arg)
{
	r->dns = d;
	r->arg = arg;
	r->neg_ttl = UINT32_MAX;
	ev_timer_init(&r->deadline, dns_deadline_cb, d->timeout, 0.);
	r->deadline.data = r;
	ev_timer_start(d->loop, &r->deadline);

	r->starting = true;
	dns_send(r);
	r->starting = false;
	if (!dns_wanted(r)) {
		/* Answered already: the asker has no handle to keep. */
		dns_req_release(r);
		return NULL;
	}
	return r;
}

struct dns_req *
dns_domain_exists(struct dns *d, const char *domain, dns_cb *cb, void *arg)
{
	struct dns_req	*r;
	char		 name[CV_DOMAIN_MAX + 1], err[CV_QBUF + 64];
	enum dns_result	 cached;

	/* Only a host name can have MX, A or AAAA records: anything else
	 * (too long, an address, "_", UTF-8) is not asked for. The name
	 * check is the one the configuration uses for host names. */
	if (cv_domain_norm(domain, name, sizeof(name), err,
	    sizeof(err)) == -1) {
		cb(arg, DNS_NOT_FOUND);
		return NULL;
	}
	if (dns_cache_get(d->cache, name, ev_now(d->loop), &cached)) {
		cb(arg, cached);
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		cb(arg, DNS_TEMPFAIL);
		return NULL;
	}
	r->cb = cb;
	memcpy(r->name, name, sizeof(name));
	return dns_start(d, r, arg);
}

struct dns_req *
dns_query(struct dns *d, const char *name, unsigned type, dns_msg_cb *cb,
    void *arg)
{
	struct dns_req		*r;
	size_t			 len = strlen(name), msglen;
	char			 key[DNS_KEY_SIZE];
	const unsigned char	*msg;
	enum dns_result		 cached;

	if (len > 0 && name[len - 1] == '.')
		len--;		/* the same name, and it fits r->name */
	if (len == 0 || len > CV_DOMAIN_MAX) {
		cb(arg, DNS_NOT_FOUND, NULL, 0);
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		cb(arg, DNS_TEMPFAIL, NULL, 0);
		return NULL;
	}
	r->msg_cb = cb;
	r->qtype = type;
	memcpy(r->name, name, len);
	r->name[len] = '\0';
	dns_msg_key(type, r->name, key);
	if (dns_cache_get_msg(d->cache, key, ev_now(d->loop), &cached, &msg,
	    &msglen)) {
		free(r);
		cb(arg, cached, msg, msglen);
		return NULL;
	}
	return dns_start(d, r, arg);
}

void
dns_cancel(struct dns_req *r)
{
	/* Already answered: this is the asker's own callback cancelling. */
	if (r == NULL || !dns_wanted(r))
		return;
	r->cb = NULL;
	r->msg_cb = NULL;
	ev_timer_stop(r->dns->loop, &r->deadline);
	dns_req_release(r);
}
