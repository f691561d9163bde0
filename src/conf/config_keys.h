/*
 * config_keys - the table of sallyport.conf's keys (config_keys.c),
 * shared by the parts of config.c's parse: what types a key may have
 * and what one row of the table says.
 */
#ifndef SALLYPORT_CONFIG_KEYS_H
#define SALLYPORT_CONFIG_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"

enum conf_type {
	CONF_STRING,		/* a user name */
	CONF_PATH,		/* absolute path */
	CONF_HOSTNAME,		/* one domain name */
	CONF_CIPHERS,		/* an OpenSSL cipher list */
	CONF_PWCHECK,		/* auxprop or saslauthd */
	CONF_SASLBACKEND,	/* cyrus or dovecot */
	CONF_LOCALPART,		/* one local part (a mailbox name) */
	CONF_DELIVERY,		/* maildir:TEMPLATE or lmtp:... */
	CONF_SMARTHOST,		/* [HOST]:PORT, HOST:PORT */
	CONF_TLSMODE,		/* required, opportunistic or none */
	CONF_DOWNGRADE,		/* convert or bounce */
	CONF_UINT,
	CONF_BOOL,		/* yes or no */
	CONF_SIZE,		/* bytes, suffix k, m or g */
	CONF_DURATION,		/* seconds, suffix s, m, h or d */
	CONF_CIDRS,		/* list of networks */
	CONF_DOMAINS,		/* list of domains or address literals */
	CONF_SERVERS,		/* list of IP[:PORT], numeric */
	CONF_PROTOCOLS,		/* list of TLS versions */
	CONF_MECHS,		/* list of SASL mechanism names */
	CONF_LOCALPARTS,	/* list of local parts */
	CONF_LISTEN,		/* ADDRESS:PORT [ROLE] [proxy], one per line */
	CONF_BARE_NL,		/* reject or normalize */
	CONF_BARE_NL_CLIENTS,	/* trusted or all */
	CONF_DKIM_SIGN,		/* DOMAIN SELECTOR KEYFILE, one per line */
	CONF_AUTH_POLICY,	/* off, header or enforce */
	CONF_DKIM_POLICY,	/* off or header */
	CONF_ADDRESS,		/* one address, local@domain */
	CONF_DNSBL,		/* list of ZONE[=FILTER][*WEIGHT] */
	CONF_TEXT,		/* one line of printable text (a reply) */
	CONF_MILTER,		/* NAME SOCKET [option=value ...], one per line */
	CONF_MILTER_ACTION,	/* accept, tempfail or reject */
	CONF_DELIMITER,		/* recipient_delimiter characters */
	CONF_SECRETS,		/* secrets, one or a list per line, adding up */
	CONF_COMMIT,		/* journal or files */
};

enum {
	CONF_F_REPEAT	= 1 << 0,	/* may repeat; the file's lines
					 * replace the default, then add up */
	CONF_F_EMPTY	= 1 << 1,	/* an empty value is allowed */
	CONF_F_SYSNAME	= 1 << 2,	/* default: the system's host name */
	CONF_F_HOSTNAME	= 1 << 3,	/* default: the final hostname,
					 * applied after the file */
};

struct conf_key {
	const char	*name;
	enum conf_type	 type;
	size_t		 off;		/* the value in struct config */
	const char	*def;		/* default, in file syntax */
	uint64_t	 min, max;	/* numbers: bounds, in base units */
	size_t		 off_n;		/* arrays: their element count */
	unsigned	 flags;
};

/* Rows conf_keys[] may have: a parse sizes its arrays by it. */
#define CONF_KEYS_MAX	128

extern const struct conf_key conf_keys[];
extern const size_t conf_nkeys;	/* rows in conf_keys[] */

/* conf_key_index - a key's row in conf_keys[]; conf_nkeys if none */
size_t	conf_key_index(const char *);

#endif
