/*
 * resolve - blocking MX and address lookups for the delivery threads.
 *
 * Each call makes a c-ares channel of its own (the configured servers,
 * or resolv.conf's), sends one query at a time and waits for it with
 * poll() on c-ares's sockets, bounded by dns_timeout per query whatever
 * c-ares does. Nothing is shared between threads but c-ares's library
 * state, set up once.
 *
 * What counts as "no such domain" and what as "try later" follows
 * dns.c: NXDOMAIN and a null MX are answers, anything unreadable or
 * unanswered is a failure of the moment. An MX answer's records come
 * from c-ares's parser; whether it is a null MX, and whether it holds
 * any MX at all, from dns_answer.c's.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>

#include <ares.h>

#include "conf/config_value.h"
#include "dns/dns.h"
#include "dns/dns_answer.h"
#include "lib/deadline.h"
#include "lib/idna.h"
#include "lib/metrics.h"
#include "lib/netaddr.h"
#include "dns/resolve.h"

#define RESOLVE_TRIES	2	/* c-ares tries per query, as dns.c */

/* One query's answer, copied out of c-ares's callback. */
struct resolve_answer {
	bool		 done;
	int		 status;	/* ARES_*, as ares_query gives it */
	bool		 ad;		/* the header's AD bit */
	unsigned char	*abuf;
	int		 alen;
};

#define DNS_HDR_LEN		12
#define DNS_HDR_AD		0x20	/* in the fourth byte (RFC 4035 3.2.3) */
#define DNS_RCODE(b)		((b)[3] & 0x0f)
#define DNS_ANCOUNT(b)		((unsigned)(b)[6] << 8 | (b)[7])
#define RESOLVE_EDNS_SIZE	1232	/* the payload we take over UDP: no
					 * fragments (DNS flag day 2020) */

static pthread_once_t	 resolve_once = PTHREAD_ONCE_INIT;
static int		 resolve_init_status;

static void
resolve_library_init(void)
{
	resolve_init_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* resolve_channel - a channel asking cfg's servers */
static int
resolve_channel(const struct config *cfg, ares_channel *ch)
{
	struct ares_options	 opts;
	unsigned		 timeout = cfg->dns_timeout > 0 ?
				    cfg->dns_timeout : 1;
	char			 err[256];

	pthread_once(&resolve_once, resolve_library_init);
	if (resolve_init_status != ARES_SUCCESS)
		return -1;
	/* As dns.c: two tries, the first a third of the time, the second
	 * (doubled by c-ares) the rest. */
	memset(&opts, 0, sizeof(opts));
	opts.tries = RESOLVE_TRIES;
	opts.timeout = (int)(timeout * 1000 / 3);
	if (ares_init_options(ch, &opts, ARES_OPT_TRIES |
	    ARES_OPT_TIMEOUTMS) != ARES_SUCCESS)
		return -1;
	if (cfg->dns_servers.n > 0 && dns_channel_servers(*ch,
	    cfg->dns_servers.v, cfg->dns_servers.n, err, sizeof(err)) == -1) {
		ares_destroy(*ch);
		return -1;
	}
	return 0;
}

/* resolve_cb - keep the answer; its status as ares_query would give
 * it (ares_send leaves the rcode to us) */
static void
resolve_cb(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct resolve_answer *a = arg;

	(void)timeouts;
	a->done = true;
	a->status = status;
	if (abuf == NULL || alen < DNS_HDR_LEN)
		return;
	if (status == ARES_SUCCESS)
		switch (DNS_RCODE(abuf)) {
		case 0:
			a->status = DNS_ANCOUNT(abuf) > 0 ? ARES_SUCCESS :
			    ARES_ENODATA;
			break;
		case 3:
			a->status = ARES_ENOTFOUND;
			break;
		default:		/* FORMERR, SERVFAIL, REFUSED... */
			a->status = ARES_ESERVFAIL;
			break;
		}
	a->ad = (abuf[3] & DNS_HDR_AD) != 0;
	if ((a->abuf = malloc((size_t)alen)) != NULL) {
		memcpy(a->abuf, abuf, (size_t)alen);
		a->alen = alen;
	}
}

/* resolve_wait - drive c-ares until the answer or the deadline */
static void
resolve_wait(ares_channel ch, struct resolve_answer *a, unsigned timeout)
{
	struct timespec	 deadline;
	ares_socket_t	 socks[ARES_GETSOCK_MAXNUM];
	struct pollfd	 pfd[ARES_GETSOCK_MAXNUM];
	struct timeval	 tv, maxtv, *t;
	int		 bits, ms, n;
	nfds_t		 nfd;

	deadline_in(&deadline, (unsigned long)timeout * 1000);
	while (!a->done) {
		if ((ms = deadline_left(&deadline)) == 0) {
			ares_cancel(ch);	/* its callback: ECANCELLED */
			break;
		}
		maxtv.tv_sec = ms / 1000;
		maxtv.tv_usec = (ms % 1000) * 1000;
		t = ares_timeout(ch, &maxtv, &tv);
		bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
		nfd = 0;
		for (unsigned i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			/* ARES_GETSOCK_WRITABLE would shift an int into
			 * its sign bit for the last socket. */
			short ev = (short)(((unsigned)bits & 1u << i ? POLLIN :
			    0) | ((unsigned)bits & 1u << (i +
			    ARES_GETSOCK_MAXNUM) ? POLLOUT : 0));

			if (ev == 0)
				continue;
			pfd[nfd].fd = socks[i];
			pfd[nfd].events = ev;
			pfd[nfd].revents = 0;
			nfd++;
		}
		n = poll(pfd, nfd, (int)(t->tv_sec * 1000 +
		    (t->tv_usec + 999) / 1000));
		if (n == -1 && errno != EINTR)
			break;
		if (n <= 0) {
			/* c-ares's own timeouts: retransmit, or give up */
			ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
			continue;
		}
		for (nfds_t i = 0; i < nfd; i++)
			if (pfd[i].revents != 0)
				ares_process_fd(ch, pfd[i].revents &
				    (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd :
				    ARES_SOCKET_BAD, pfd[i].revents & POLLOUT ?
				    pfd[i].fd : ARES_SOCKET_BAD);
	}
	if (!a->done)		/* poll failed: never leave c-ares our a */
		ares_cancel(ch);
}

/* resolve_status - what c-ares's status means for us; NODATA is OK
 * with nothing in it */
static int
resolve_status(const struct resolve_answer *a)
{
	if (a->status == ARES_SUCCESS || a->status == ARES_ENODATA)
		return a->abuf != NULL ? RESOLVE_OK : RESOLVE_TEMP;
	if (a->status == ARES_ENOTFOUND)
		return RESOLVE_NONE;
	return RESOLVE_TEMP;
}

/* resolve_query - one question, its answer in a (free a->abuf). With
 * dnssec, the query has the AD bit (RFC 6840 5.7: "tell me whether you
 * validated it") and EDNS0, and a->ad is the answer's; else a->ad is
 * false whatever the server said. */
static void
resolve_query(const struct config *cfg, const char *name, int type,
    struct resolve_answer *a)
{
	ares_channel	 ch;
	unsigned char	*q;
	int		 qlen;

	memset(a, 0, sizeof(*a));
	if (resolve_channel(cfg, &ch) == -1) {
		a->done = true;
		a->status = ARES_ENOMEM;
		return;
	}
	if (ares_create_query(name, DNS_CLASS_IN, type, 0, 1, &q, &qlen,
	    cfg->dnssec ? RESOLVE_EDNS_SIZE : 0) != ARES_SUCCESS) {
		ares_destroy(ch);
		a->done = true;
		a->status = ARES_EBADNAME;
		return;
	}
	if (cfg->dnssec)
		q[3] |= DNS_HDR_AD;
	METRICS_INC(dns_queries);
	ares_send(ch, q, qlen, resolve_cb, a);
	ares_free_string(q);
	resolve_wait(ch, a, cfg->dns_timeout > 0 ? cfg->dns_timeout : 1);
	ares_destroy(ch);	/* a query left calls back with EDESTRUCTION */
	if (!cfg->dnssec)
		a->ad = false;
	if (resolve_status(a) == RESOLVE_TEMP)
		METRICS_INC(dns_failures);	/* no answer (NXDOMAIN is one) */
}

/* --- addresses ------------------------------------------------------------ */

/* resolve_cname_cb - the last CNAME target of an answer: where its
 * chain ended (resolvers give the chain in order) */
static void
resolve_cname_cb(void *arg, unsigned type, const void *data, size_t len)
{
	char	*out = arg;

	(void)type;
	if (len < 256) {
		memcpy(out, data, len);
		out[len] = '\0';
	}
}

/* resolve_family - the A or AAAA records of host appended to out;
 * in *sec whether the answer was secure and where a CNAME chain ended */
static int
resolve_family(const struct config *cfg, const char *host, int family,
    struct sockaddr_storage *out, size_t max, size_t *n,
    struct resolve_sec *sec)
{
	struct resolve_answer	 a;
	struct ares_addrttl	 v4[32];
	struct ares_addr6ttl	 v6[32];
	int			 rc, count = 32, prc;

	resolve_query(cfg, host, family == AF_INET ? DNS_TYPE_A :
	    DNS_TYPE_AAAA, &a);
	sec->secure = a.ad;
	rc = resolve_status(&a);
	if (a.abuf != NULL && sec->cname[0] == '\0' &&
	    dns_answer_each(a.abuf, (size_t)a.alen, DNS_TYPE_CNAME,
	    resolve_cname_cb, sec->cname) == -1)
		sec->cname[0] = '\0';
	if (rc != RESOLVE_OK || a.status != ARES_SUCCESS)
		goto done;
	if (family == AF_INET)
		prc = ares_parse_a_reply(a.abuf, a.alen, NULL, v4, &count);
	else
		prc = ares_parse_aaaa_reply(a.abuf, a.alen, NULL, v6, &count);
	if (prc == ARES_ENODATA)
		count = 0;		/* a CNAME without the type at its end */
	else if (prc != ARES_SUCCESS) {
		rc = RESOLVE_TEMP;
		goto done;
	}
	for (int i = 0; i < count && *n < max; i++, (*n)++) {
		memset(&out[*n], 0, sizeof(out[*n]));
		if (family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&out[*n];

			sin->sin_family = AF_INET;
			sin->sin_addr = v4[i].ipaddr;
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out[*n];

			s6->sin6_family = AF_INET6;
			memcpy(&s6->sin6_addr, &v6[i].ip6addr,
			    sizeof(s6->sin6_addr));
		}
	}
done:
	free(a.abuf);
	return rc;
}

int
resolve_addrs_sec(const struct config *cfg, const char *host,
    struct sockaddr_storage *out, size_t max, size_t *n,
    struct resolve_sec *sec)
{
	struct resolve_sec	 s4, s6, dummy;
	int			 rc4, rc6;

	if (sec == NULL)
		sec = &dummy;
	memset(sec, 0, sizeof(*sec));
	memset(&s4, 0, sizeof(s4));
	memset(&s6, 0, sizeof(s6));
	*n = 0;
	if (max == 0)
		return RESOLVE_TEMP;
	if (netaddr_from_text(host, out) == 0) {
		*n = 1;
		return RESOLVE_OK;
	}
	if ((rc4 = resolve_family(cfg, host, AF_INET, out, max, n, &s4)) ==
	    RESOLVE_NONE) {
		sec->secure = s4.secure;	/* NXDOMAIN: no AAAA either */
		return RESOLVE_NONE;
	}
	memcpy(s6.cname, s4.cname, sizeof(s6.cname));
	rc6 = resolve_family(cfg, host, AF_INET6, out, max, n, &s6);
	/*
	 * Secure when every answer we read is: either may be the address
	 * we connect to, or the denial that there is none. A lookup that
	 * failed gave neither and is left out, as Postfix judges each
	 * address by its own answer: else an attacker who makes one
	 * family's lookup fail (a forged answer, dropped packets) would
	 * turn DANE off for the validated addresses of the other.
	 */
	sec->secure = (rc4 == RESOLVE_TEMP || s4.secure) &&
	    (rc6 == RESOLVE_TEMP || s6.secure) &&
	    (rc4 != RESOLVE_TEMP || rc6 != RESOLVE_TEMP);
	memcpy(sec->cname, s6.cname, sizeof(sec->cname));
	/* Some address is enough; none, and a failure, is a failure. */
	if (*n > 0)
		return RESOLVE_OK;
	if (rc4 == RESOLVE_TEMP || rc6 == RESOLVE_TEMP)
		return RESOLVE_TEMP;
	return RESOLVE_NONE;
}

int
resolve_addrs(const struct config *cfg, const char *host,
    struct sockaddr_storage *out, size_t max, size_t *n)
{
	return resolve_addrs_sec(cfg, host, out, max, n, NULL);
}

/* --- MX ------------------------------------------------------------------ */

/* An MX record and the random number that orders it among its equals. */
struct resolve_mx {
	unsigned	 pref;
	uint32_t	 tie;
	const char	*host;
};

static int
resolve_mx_cmp(const void *a, const void *b)
{
	const struct resolve_mx *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return x->tie < y->tie ? -1 : x->tie > y->tie;
}

/* resolve_mx_list - the records of an answer holding some, all of them
 * sorted before the best `max` are kept: cut in answer order, a long
 * list could lose its best hosts, or this server's own record, and the
 * loop guard's cut with it. */
static int
resolve_mx_list(const struct resolve_answer *a, struct mx_host *out,
    size_t max, size_t *n)
{
	struct ares_mx_reply	*list, *m;
	struct resolve_mx	*mx;
	uint32_t		*ties;
	size_t			 k = 0, len, count = 0;

	*n = 0;
	if (ares_parse_mx_reply(a->abuf, a->alen, &list) != ARES_SUCCESS)
		return RESOLVE_TEMP;
	for (m = list; m != NULL; m = m->next)
		count++;	/* bounded by the answer's size */
	mx = calloc(count + 1, sizeof(*mx));
	ties = calloc(count + 1, sizeof(*ties));
	if (mx == NULL || ties == NULL) {
		free(mx);
		free(ties);
		ares_free_data(list);
		return RESOLVE_TEMP;
	}
	if (getrandom(ties, count * sizeof(*ties), 0) !=
	    (ssize_t)(count * sizeof(*ties)))
		for (size_t i = 0; i < count; i++)
			ties[i] = (uint32_t)rand();
	for (m = list; m != NULL; m = m->next) {
		/* A name we could not connect to is left out. */
		if ((len = strlen(m->host)) == 0 || len >=
		    sizeof(out[0].name))
			continue;
		mx[k].pref = m->priority;
		mx[k].tie = ties[k];
		mx[k].host = m->host;
		k++;
	}
	qsort(mx, k, sizeof(mx[0]), resolve_mx_cmp);
	for (*n = 0; *n < k && *n < max; (*n)++) {
		out[*n].pref = mx[*n].pref;
		snprintf(out[*n].name, sizeof(out[*n].name), "%s",
		    mx[*n].host);
	}
	free(mx);
	free(ties);
	ares_free_data(list);
	return *n > 0 ? RESOLVE_OK : RESOLVE_TEMP;
}

int
resolve_mx_sec(const struct config *cfg, const char *domain,
    struct mx_host *out, size_t max, size_t *n, struct resolve_sec *sec)
{
	struct resolve_answer	 a;
	struct resolve_sec	 dummy, asec;
	struct dns_answer	 da;
	struct sockaddr_storage	 addr;
	char			 name[CV_DOMAIN_MAX + 1], err[CV_QBUF + 64];
	char			 alabel[256];
	const char		*why;
	size_t			 naddr;
	int			 rc;

	if (sec == NULL)
		sec = &dummy;
	memset(sec, 0, sizeof(*sec));
	*n = 0;
	if (max == 0)
		return RESOLVE_TEMP;
	/* A UTF-8 domain (SMTPUTF8) is asked for by its A-labels. */
	if (idna_to_dns(domain, alabel, sizeof(alabel), &why) == -1)
		return RESOLVE_BADNAME;
	/* Only a host name can have MX records (as dns.c decides). */
	if (cv_domain_norm(alabel, name, sizeof(name), err, sizeof(err)) == -1)
		return RESOLVE_NONE;
	resolve_query(cfg, name, DNS_TYPE_MX, &a);
	sec->secure = a.ad;
	if ((rc = resolve_status(&a)) != RESOLVE_OK)
		goto done;
	if (dns_answer_parse(a.abuf, (size_t)a.alen, DNS_TYPE_MX,
	    &da) == -1) {
		rc = RESOLVE_TEMP;
		goto done;
	}
	if (da.null_mx > 0) {
		rc = RESOLVE_NONE;	/* RFC 7505: no mail at all */
		goto done;
	}
	if (da.found > 0) {
		rc = resolve_mx_list(&a, out, max, n);
		goto done;
	}
	/* No MX: RFC 5321 5.1, the domain itself, if it has an address;
	 * secure when the denial of MX and the address are. */
	if ((rc = resolve_addrs_sec(cfg, name, &addr, 1, &naddr, &asec)) ==
	    RESOLVE_OK) {
		out[0].pref = 0;
		snprintf(out[0].name, sizeof(out[0].name), "%s", name);
		*n = 1;
	}
	sec->secure = sec->secure && asec.secure;
done:
	free(a.abuf);
	return rc;
}

int
resolve_mx(const struct config *cfg, const char *domain, struct mx_host *out,
    size_t max, size_t *n)
{
	return resolve_mx_sec(cfg, domain, out, max, n, NULL);
}

/* --- TLSA and TXT ------------------------------------------------------------ */

int
resolve_tlsa(const struct config *cfg, const char *host, unsigned port,
    struct dns_tlsa_set *out, bool *secure)
{
	struct resolve_answer	 a;
	char			 name[CV_DOMAIN_MAX + 1], err[CV_QBUF + 64];
	char			 qname[300];
	bool			 dummy;
	int			 rc;

	if (secure == NULL)
		secure = &dummy;
	*secure = false;
	memset(out, 0, sizeof(*out));
	if (cv_domain_norm(host, name, sizeof(name), err, sizeof(err)) == -1)
		return RESOLVE_NONE;	/* no host name: no TLSA */
	if ((size_t)snprintf(qname, sizeof(qname), "_%u._tcp.%s", port,
	    name) > CV_DOMAIN_MAX)
		return RESOLVE_TEMP;	/* cannot be asked: never clear text */
	resolve_query(cfg, qname, DNS_TYPE_TLSA, &a);
	*secure = a.ad;
	if ((rc = resolve_status(&a)) == RESOLVE_OK &&
	    dns_tlsa_set_read(a.abuf, (size_t)a.alen, out) == -1)
		rc = RESOLVE_TEMP;
	if (rc == RESOLVE_OK && out->n + out->malformed == 0)
		rc = RESOLVE_NONE;
	if (rc == RESOLVE_TEMP)
		*secure = false;
	free(a.abuf);
	return rc;
}

int
resolve_txt(const struct config *cfg, const char *name,
    struct dns_txt_set *out, bool *secure)
{
	struct resolve_answer	 a;
	bool			 dummy;
	int			 rc;

	if (secure == NULL)
		secure = &dummy;
	*secure = false;
	memset(out, 0, sizeof(*out));
	if (strlen(name) > CV_DOMAIN_MAX + 1)
		return RESOLVE_NONE;	/* no record can be there */
	resolve_query(cfg, name, DNS_TYPE_TXT, &a);
	*secure = a.ad;
	if ((rc = resolve_status(&a)) == RESOLVE_OK &&
	    dns_txt_set_read(a.abuf, (size_t)a.alen, out) == -1)
		rc = RESOLVE_TEMP;
	if (rc == RESOLVE_OK && out->n == 0)
		rc = RESOLVE_NONE;
	if (rc == RESOLVE_TEMP)
		*secure = false;
	free(a.abuf);
	return rc;
}
