/*
 * config_addr - the values of sallyport.conf that name a place
 * (config_addr.c): DNS servers, network lists, listen lines, local
 * delivery targets and the smarthost. Like config_value.h's parsers,
 * each returns 0, or -1 with a message in err that quotes the bad value
 * and leaves out the key's name; the *_norm ones write the canonical
 * text to out.
 */
#ifndef SALLYPORT_CONFIG_ADDR_H
#define SALLYPORT_CONFIG_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"
#include "conf/config_value.h"
#include "lib/netaddr.h"

/* One "ADDRESS:PORT [ROLE] [proxy]" listener, checked and canonical. */
struct cv_listen {
	int		 family;	/* AF_INET or AF_INET6, as written */
	char		 host[NETADDR_STRLEN];	/* "" for "*" */
	char		 port[8];	/* decimal, no leading zeros */
	enum listen_role role;
	bool		 proxy;		/* the option word `proxy` */
};

/* A smarthost, as cv_smarthost_parse reads "HOST:PORT", "[HOST]:PORT"
 * or "[IPv6]:PORT". */
struct cv_smarthost {
	char		 host[CV_DOMAIN_MAX + 1];	/* a name, lower
					 * case, or an address without
					 * brackets */
	int		 family;	/* AF_INET, AF_INET6; AF_UNSPEC: name */
	unsigned	 port;		/* 25 when left out */
	bool		 mx;		/* a name without brackets: deliver
					 * to its MX hosts */
};

/* cv_server_norm - a DNS server "IP", "IP:PORT", "[IPv6]" or
 * "[IPv6]:PORT", numeric, in canonical text (NETADDR_PORT_STRLEN) */
int	cv_server_norm(const char *in, char *out, size_t outlen, char *err,
	    size_t errlen);
/* cv_cidrs_parse - a list of networks into a new array (NULL if empty) */
int	cv_cidrs_parse(const char *val, struct cidr **out, size_t *nout,
	    char *err, size_t errlen);
/* cv_listen_parse - one "ADDRESS:PORT [ROLE] [proxy]" with a numeric
 * address; `proxy` on an SMTP role only */
int	cv_listen_parse(const char *val, struct cv_listen *out, char *err,
	    size_t errlen);
/* cv_role_name - a role as the file spells it */
const char	*cv_role_name(enum listen_role);

/* cv_local_delivery_norm - "maildir:/abs/template" (%u, %d, %% only),
 * "lmtp:unix:/abs/path", "lmtp:ADDRESS:PORT" (numeric) or
 * "qmail-queue:/abs/path" */
int	cv_local_delivery_norm(const char *in, char *out, size_t outlen,
	    char *err, size_t errlen);
/* cv_smarthost_parse - a smarthost, names unresolved; the port is 25
 * when left out. Also reads the canonical form cv_smarthost_norm
 * writes, for the delivery side. */
int	cv_smarthost_parse(const char *in, struct cv_smarthost *out,
	    char *err, size_t errlen);
/* cv_smarthost_norm - canonical "HOST:PORT", "[HOST]:PORT" or
 * "[IPv6]:PORT", the port always written */
int	cv_smarthost_norm(const char *in, char *out, size_t outlen,
	    char *err, size_t errlen);

#endif
