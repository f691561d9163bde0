/*
 * ownaddr - the addresses of this server, so that the queue runner
 * never delivers to itself (RFC 5321 5.1 and 6.3).
 *
 * Ours are, as Postfix's inet_interfaces and proxy_interfaces: every
 * address on an interface, every address of a listen line, and the
 * own_addresses key (NAT, a load balancer in front); and every address
 * Linux delivers to this host though no interface lists it: all of
 * 127.0.0.0/8 and ::1 (lo carries only 127.0.0.1), 0.0.0.0/8 and ::,
 * also IPv4-mapped. A listen line on 0.0.0.0 or :: is a wildcard like
 * `*`. mx_allow_loopback = yes, a laboratory setting, leaves out the
 * loopback addresses that no interface, listen line or own_addresses
 * names, unless a wildcard listen line takes them all.
 */
#ifndef SALLYPORT_OWNADDR_H
#define SALLYPORT_OWNADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "conf/config.h"
#include "lib/netaddr.h"

struct ownaddr {
	struct cidr		*v;	/* single addresses: /32 or /128 */
	size_t			 n, cap;
	const struct cidr	*extra;	/* own_addresses, owned by the config */
	size_t			 nextra;
	bool			 loopback;	/* all of 127/8 and ::1 */
};

/* 0.0.0.0/8 or :: (also IPv4-mapped): connected to, the local host */
bool	ownaddr_unspecified(const struct sockaddr *);
/* 127.0.0.0/8 or ::1 (also IPv4-mapped) */
bool	ownaddr_loopback(const struct sockaddr *);

/* The interfaces' addresses (as of the last second at most: see
 * ownaddr.c), the listen lines' and own_addresses.
 * 0, or -1 with a message in err (then *o holds nothing). */
int	ownaddr_load(struct ownaddr *, const struct config *, char *err,
	    size_t errlen);
/* Add one address; 0, or -1 when out of memory. */
int	ownaddr_add(struct ownaddr *, const struct sockaddr *);
bool	ownaddr_is_own(const struct ownaddr *, const struct sockaddr *);
void	ownaddr_free(struct ownaddr *);

/* Would a connection to `sa` port `port` reach one of our own
 * listeners? The same address and port as a listen line, or a wildcard
 * listen line on that port and one of our addresses. */
bool	ownaddr_is_listener(const struct ownaddr *, const struct config *,
	    const struct sockaddr *, unsigned port);

/* The smarthost is this server's own listener: a message for err
 * ("... is this server") and true. A smarthost given by name is only
 * known when it resolves: the runner checks it again then. */
bool	ownaddr_smarthost_loops(const struct config *, char *err,
	    size_t errlen);

#endif
