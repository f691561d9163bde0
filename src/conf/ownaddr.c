/*
 * ownaddr - this server's own addresses, and the loop checks built on
 * them: MX hosts that are ourselves, a smarthost that is ourselves.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/config_addr.h"
#include "conf/config_value.h"
#include "conf/ownaddr.h"

/* v4 - the IPv4 address of sa, also when IPv4-mapped; false if none */
static bool
v4(const struct sockaddr *sa, uint32_t *a)
{
	const struct in6_addr *a6;

	if (sa->sa_family == AF_INET) {
		*a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
		return true;
	}
	if (sa->sa_family != AF_INET6)
		return false;
	a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (!IN6_IS_ADDR_V4MAPPED(a6))
		return false;
	*a = (uint32_t)a6->s6_addr[12] << 24 | (uint32_t)a6->s6_addr[13] << 16 |
	    (uint32_t)a6->s6_addr[14] << 8 | a6->s6_addr[15];
	return true;
}

bool
ownaddr_unspecified(const struct sockaddr *sa)
{
	uint32_t a;

	if (v4(sa, &a))
		return a >> 24 == 0;		/* 0.0.0.0/8 */
	return sa->sa_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(
	    &((const struct sockaddr_in6 *)sa)->sin6_addr);
}

bool
ownaddr_loopback(const struct sockaddr *sa)
{
	uint32_t a;

	if (v4(sa, &a))
		return a >> 24 == 127;		/* 127.0.0.0/8 */
	return sa->sa_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(
	    &((const struct sockaddr_in6 *)sa)->sin6_addr);
}

/* wildcard - a listen line's host that takes every local address */
static bool
wildcard(const struct listen_spec *l)
{
	struct sockaddr_storage ss;

	return l->host == NULL || (netaddr_from_text(l->host, &ss) == 0 &&
	    ownaddr_unspecified((struct sockaddr *)&ss));
}

/* host_cidr - one address as a network of one */
static int
host_cidr(const struct sockaddr *sa, struct cidr *c)
{
	memset(c, 0, sizeof(*c));
	if (sa->sa_family == AF_INET) {
		c->family = AF_INET;
		memcpy(c->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		c->prefix = 32;
	} else if (sa->sa_family == AF_INET6) {
		c->family = AF_INET6;
		memcpy(c->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr,
		    16);
		c->prefix = 128;
	} else {
		return -1;
	}
	return 0;
}

int
ownaddr_add(struct ownaddr *o, const struct sockaddr *sa)
{
	struct cidr c, *v;

	if (host_cidr(sa, &c) == -1 || ownaddr_is_own(o, sa))
		return 0;	/* not IP, or known already */
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;

		if ((v = reallocarray(o->v, cap, sizeof(*v))) == NULL)
			return -1;
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n++] = c;
	return 0;
}

/* The interfaces' addresses, asked of the kernel (a netlink dump of
 * every link and address) at most once a second: the queue runner
 * looks for loops before every delivery. An address added to an
 * interface is ours a second later at the latest (the hop count ends a
 * loop in the meantime), and one removed stays ours as long. */
static pthread_mutex_t if_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sockaddr_storage *if_addrs;
static size_t if_n;
static struct timespec if_at;
static bool if_valid;

/* if_refresh - the interfaces' IP addresses into if_addrs; lock held */
static int
if_refresh(char *err, size_t errlen)
{
	struct ifaddrs *ifs, *ifa;
	struct sockaddr_storage *v;
	size_t n = 0, i = 0;

	if (getifaddrs(&ifs) == -1) {
		snprintf(err, errlen, "getifaddrs: %s", strerror(errno));
		return -1;
	}
	for (ifa = ifs; ifa != NULL; ifa = ifa->ifa_next)
		n++;
	if ((v = calloc(n ? n : 1, sizeof(*v))) == NULL) {
		freeifaddrs(ifs);
		snprintf(err, errlen, "own addresses: out of memory");
		return -1;
	}
	for (ifa = ifs; ifa != NULL; ifa = ifa->ifa_next) {
		const struct sockaddr *sa = ifa->ifa_addr;

		if (sa == NULL)
			continue;
		if (sa->sa_family == AF_INET)
			memcpy(&v[i++], sa, sizeof(struct sockaddr_in));
		else if (sa->sa_family == AF_INET6)
			memcpy(&v[i++], sa, sizeof(struct sockaddr_in6));
	}
	freeifaddrs(ifs);
	free(if_addrs);
	if_addrs = v;
	if_n = i;
	return 0;
}

int
ownaddr_load(struct ownaddr *o, const struct config *cfg, char *err,
    size_t errlen)
{
	struct sockaddr_storage ss;
	struct timespec now;
	int rc = 0;

	memset(o, 0, sizeof(*o));
	o->extra = cfg->own_addresses;
	o->nextra = cfg->nown_addresses;
	/* Linux delivers all of 127.0.0.0/8 here, though lo carries only
	 * 127.0.0.1; mx_allow_loopback (a laboratory setting) leaves out
	 * the loopback addresses no listener of ours takes. */
	o->loopback = !cfg->mx_allow_loopback;
	pthread_mutex_lock(&if_lock);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!if_valid || now.tv_sec - if_at.tv_sec >= 1) {
		if (if_refresh(err, errlen) == -1) {
			if_valid = false;
			pthread_mutex_unlock(&if_lock);
			return -1;
		}
		if_at = now;
		if_valid = true;
	}
	for (size_t i = 0; i < if_n && rc == 0; i++)
		rc = ownaddr_add(o, (const struct sockaddr *)&if_addrs[i]);
	pthread_mutex_unlock(&if_lock);
	for (size_t i = 0; i < cfg->nlisten && rc == 0; i++) {
		const struct listen_spec *l = &cfg->listen[i];

		/* The metrics listener takes no mail: no MX host is it. */
		if (l->role == ROLE_METRICS)
			continue;
		if (wildcard(l))
			o->loopback = true;	/* takes 127.x.y.z too */
		else if (netaddr_from_text(l->host, &ss) == 0)
			rc = ownaddr_add(o, (struct sockaddr *)&ss);
	}
	if (rc == -1) {
		snprintf(err, errlen, "own addresses: out of memory");
		ownaddr_free(o);
	}
	return rc;
}

bool
ownaddr_is_own(const struct ownaddr *o, const struct sockaddr *sa)
{
	return ownaddr_unspecified(sa) ||
	    (o->loopback && ownaddr_loopback(sa)) ||
	    cidr_match_any(o->v, o->n, sa) ||
	    cidr_match_any(o->extra, o->nextra, sa);
}

void
ownaddr_free(struct ownaddr *o)
{
	free(o->v);
	memset(o, 0, sizeof(*o));
}

bool
ownaddr_is_listener(const struct ownaddr *o, const struct config *cfg,
    const struct sockaddr *sa, unsigned port)
{
	struct sockaddr_storage ss;
	struct cidr c;

	for (size_t i = 0; i < cfg->nlisten; i++) {
		const struct listen_spec *l = &cfg->listen[i];

		if (l->role == ROLE_METRICS ||
		    strtoul(l->port, NULL, 10) != port)
			continue;
		/* a connection to 0.0.0.0 or :: reaches the local host */
		if (ownaddr_unspecified(sa))
			return true;
		if (wildcard(l)) {
			if (ownaddr_is_own(o, sa) || ownaddr_loopback(sa))
				return true;
		} else if (netaddr_from_text(l->host, &ss) == 0 &&
		    host_cidr((struct sockaddr *)&ss, &c) == 0 &&
		    cidr_match(&c, sa)) {
			return true;
		}
	}
	return false;
}

bool
ownaddr_smarthost_loops(const struct config *cfg, char *err, size_t errlen)
{
	struct cv_smarthost sh;
	struct sockaddr_storage ss;
	struct ownaddr o;
	char lerr[128];
	bool loops;

	if (cfg->smarthost == NULL ||
	    cv_smarthost_parse(cfg->smarthost, &sh, lerr, sizeof(lerr)) == -1 ||
	    sh.family == AF_UNSPEC || netaddr_from_text(sh.host, &ss) == -1)
		return false;	/* a name: checked when it resolves */
	if (ownaddr_load(&o, cfg, lerr, sizeof(lerr)) == -1)
		memset(&o, 0, sizeof(o));	/* the listen lines still tell */
	loops = ownaddr_is_listener(&o, cfg, (struct sockaddr *)&ss, sh.port);
	ownaddr_free(&o);
	if (loops)
		snprintf(err, errlen, "%s is this server's own listener: mail "
		    "would loop back to itself", cfg->smarthost);
	return loops;
}
