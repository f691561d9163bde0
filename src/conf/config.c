/*
 * config - sallyport.conf parsed into an immutable snapshot.
 *
 * Every key is one row of conf_keys[] below: its type, where it lives
 * in struct config, its default as file text, and its bounds. The
 * defaults go through the same setters as the file, so a default can
 * never be something the file could not say, and config_print walks
 * the same table, so its output always parses back.
 *
 * Parsing never stops at the first mistake: every error is collected
 * as "file:line: message" so that one run shows them all. Nothing here
 * logs and nothing here resolves names (the hostname default comes
 * from gethostname(), listen addresses must be numeric). What a valid
 * value of each kind looks like is config_value.c's business; this
 * file knows keys, lines and struct config.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "conf/aliases.h"
#include "conf/config.h"
#include "conf/config_value.h"
#include "conf/ownaddr.h"

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR	"/var"
#endif
#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc"
#endif

#define CONF_FILE_MAX	(1024 * 1024)	/* a config file is small */
#define CONF_ERRORS_MAX	100		/* then we stop reading */
#define CONF_ERR_LEN	256		/* one message, without "file:line: " */

enum conf_type {
	CONF_STRING,		/* a user name */
	CONF_PATH,		/* absolute path */
	CONF_HOSTNAME,		/* one domain name */
	CONF_CIPHERS,		/* an OpenSSL cipher list */
	CONF_PWCHECK,		/* auxprop or saslauthd */
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
	CONF_LISTEN,		/* ADDRESS:PORT [ROLE], one per line */
	CONF_BARE_NL,		/* reject or normalize */
	CONF_BARE_NL_CLIENTS,	/* trusted or all */
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

/* Where a key's value lives in struct config. */
#define CONF_AT(field)	offsetof(struct config, field)

static const struct conf_key conf_keys[] = {
	{ "hostname", CONF_HOSTNAME, CONF_AT(hostname), NULL, 0, 0, 0,
	    CONF_F_SYSNAME },
	/* Without tls_cert, the mx listener alone (conf_check_tls). */
	{ "listen", CONF_LISTEN, CONF_AT(listen), "*:25 mx, *:587 submission",
	    0, 0, CONF_AT(nlisten), CONF_F_REPEAT },
	{ "mynetworks", CONF_CIDRS, CONF_AT(mynetworks), "127.0.0.0/8 ::1/128",
	    0, 0, CONF_AT(nmynetworks), CONF_F_EMPTY },
	{ "client_deny", CONF_CIDRS, CONF_AT(client_deny), "", 0, 0,
	    CONF_AT(nclient_deny), CONF_F_EMPTY },
	{ "local_domains", CONF_DOMAINS, CONF_AT(local_domains), NULL, 0, 0, 0,
	    CONF_F_EMPTY | CONF_F_HOSTNAME },
	{ "relay_domains", CONF_DOMAINS, CONF_AT(relay_domains), "", 0, 0, 0,
	    CONF_F_EMPTY },
	{ "queue_dir", CONF_PATH, CONF_AT(queue_dir),
	    LOCALSTATEDIR "/spool/sallyport", 0, 0, 0, 0 },
	/* Root must be left (user) or stayed in knowingly (run_as_root). */
	{ "user", CONF_STRING, CONF_AT(user), "", 0, 0, 0, CONF_F_EMPTY },
	{ "group", CONF_STRING, CONF_AT(group), "", 0, 0, 0, CONF_F_EMPTY },
	{ "run_as_root", CONF_BOOL, CONF_AT(run_as_root), "no", 0, 0, 0, 0 },
	/* Free space kept on queue_dir's file system; 0: no check. */
	{ "queue_min_free", CONF_SIZE, CONF_AT(queue_min_free), "100M",
	    0, 1ULL << 50, 0, 0 },
	{ "max_message_size", CONF_SIZE, CONF_AT(max_message_size), "25M",
	    1024, 4ULL << 30, 0, 0 },
	{ "max_recipients", CONF_UINT, CONF_AT(max_recipients), "100",
	    1, 100000, 0, 0 },
	/* As Postfix's hopcount_limit: more Received: fields is a loop. */
	{ "max_hops", CONF_UINT, CONF_AT(max_hops), "50", 1, 1000, 0, 0 },
	{ "max_connections", CONF_UINT, CONF_AT(max_connections), "1000",
	    1, 1000000, 0, 0 },
	/* Event loops (processes) sharing the listeners; 0: one per core. */
	{ "workers", CONF_UINT, CONF_AT(workers), "0", 0, 64, 0, 0 },
	{ "max_errors", CONF_UINT, CONF_AT(max_errors), "20", 1, 10000, 0, 0 },
	{ "command_timeout", CONF_DURATION, CONF_AT(command_timeout), "5m",
	    1, 3600, 0, 0 },
	{ "data_timeout", CONF_DURATION, CONF_AT(data_timeout), "10m",
	    1, 3600, 0, 0 },
	{ "shutdown_timeout", CONF_DURATION, CONF_AT(shutdown_timeout), "10s",
	    0, 3600, 0, 0 },
	{ "max_connections_per_ip", CONF_UINT, CONF_AT(max_connections_per_ip),
	    "20", 1, 100000, 0, 0 },
	/* An IPv6 client counts by its /64 (one site, RFC 6177). */
	{ "ipv6_client_prefix", CONF_UINT, CONF_AT(ipv6_client_prefix), "64",
	    16, 128, 0, 0 },
	{ "soft_error_limit", CONF_UINT, CONF_AT(soft_error_limit), "10",
	    1, 10000, 0, 0 },
	{ "command_deadline", CONF_DURATION, CONF_AT(command_deadline), "1m",
	    1, 3600, 0, 0 },
	{ "min_data_rate", CONF_UINT, CONF_AT(min_data_rate), "256",
	    0, 1000000000, 0, 0 },
	{ "greet_pause", CONF_DURATION, CONF_AT(greet_pause), "0s",
	    0, 10, 0, 0 },
	{ "max_auth_failures_per_ip", CONF_UINT,
	    CONF_AT(max_auth_failures_per_ip), "10", 1, 100000, 0, 0 },
	{ "auth_failure_window", CONF_DURATION, CONF_AT(auth_failure_window),
	    "1h", 1, 86400, 0, 0 },
	{ "allow_untrusted_routing", CONF_BOOL,
	    CONF_AT(allow_untrusted_routing), "no", 0, 0, 0, 0 },
	{ "reject_unqualified_sender", CONF_BOOL,
	    CONF_AT(reject_unqualified_sender), "yes", 0, 0, 0, 0 },
	{ "reject_non_fqdn_sender", CONF_BOOL,
	    CONF_AT(reject_non_fqdn_sender), "yes", 0, 0, 0, 0 },
	{ "reject_unknown_sender_domain", CONF_BOOL,
	    CONF_AT(reject_unknown_sender_domain), "yes", 0, 0, 0, 0 },
	/* Bare LF in DATA: refused, as RFC 5321 says, unless normalize;
	 * then only for the clients bare_newline_clients names. */
	{ "bare_newline", CONF_BARE_NL, CONF_AT(bare_newline), "reject",
	    0, 0, 0, 0 },
	{ "bare_newline_clients", CONF_BARE_NL_CLIENTS,
	    CONF_AT(bare_newline_clients), "trusted", 0, 0, 0, 0 },
	{ "dns_servers", CONF_SERVERS, CONF_AT(dns_servers), "", 0, 0, 0,
	    CONF_F_EMPTY },
	{ "dns_timeout", CONF_DURATION, CONF_AT(dns_timeout), "5s",
	    1, 60, 0, 0 },
	{ "tls_cert", CONF_PATH, CONF_AT(tls_cert), "", 0, 0, 0,
	    CONF_F_EMPTY },
	{ "tls_key", CONF_PATH, CONF_AT(tls_key), "", 0, 0, 0, CONF_F_EMPTY },
	{ "tls_ca_file", CONF_PATH, CONF_AT(tls_ca_file), "", 0, 0, 0,
	    CONF_F_EMPTY },
	{ "tls_protocols", CONF_PROTOCOLS, CONF_AT(tls_protocols),
	    "TLSv1.2 TLSv1.3", 0, 0, 0, 0 },
	/* Mozilla's "intermediate" list for TLS 1.2; TLS 1.3 suites are
	 * OpenSSL's default, all good. */
	{ "tls_ciphers", CONF_CIPHERS, CONF_AT(tls_ciphers),
	    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
	    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
	    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"
	    "DHE-RSA-CHACHA20-POLY1305", 0, 0, 0, 0 },
	{ "tls_handshake_timeout", CONF_DURATION,
	    CONF_AT(tls_handshake_timeout), "30s", 1, 300, 0, 0 },
	{ "sasl_mechanisms", CONF_MECHS, CONF_AT(sasl_mechanisms), "",
	    0, 0, 0, CONF_F_EMPTY },
	{ "sasl_pwcheck_method", CONF_PWCHECK, CONF_AT(sasl_pwcheck_method),
	    "auxprop", 0, 0, 0, 0 },
	{ "sasl_sasldb_path", CONF_PATH, CONF_AT(sasl_sasldb_path),
	    SYSCONFDIR "/sallyport/sasldb2", 0, 0, 0, 0 },
	{ "sasl_saslauthd_path", CONF_PATH, CONF_AT(sasl_saslauthd_path),
	    "/var/run/saslauthd", 0, 0, 0, 0 },
	{ "max_auth_failures", CONF_UINT, CONF_AT(max_auth_failures), "3",
	    1, 100, 0, 0 },
	{ "auth_timeout", CONF_DURATION, CONF_AT(auth_timeout), "30s", 1, 300,
	    0, 0 },
	{ "auth_threads", CONF_UINT, CONF_AT(auth_threads), "4", 1, 64, 0, 0 },
	{ "sender_login_check", CONF_BOOL, CONF_AT(sender_login_check), "no",
	    0, 0, 0, 0 },
	/* Delivery. The recipient table (aliases, mailbox_users,
	 * catchall) is loaded by conf_finish once all three are known. */
	{ "delivery", CONF_BOOL, CONF_AT(delivery), "yes", 0, 0, 0, 0 },
	{ "local_delivery", CONF_DELIVERY, CONF_AT(local_delivery),
	    "maildir:" LOCALSTATEDIR "/mail/%d/%u/Maildir", 0, 0, 0, 0 },
	{ "aliases", CONF_PATH, CONF_AT(aliases), "", 0, 0, 0, CONF_F_EMPTY },
	{ "mailbox_users", CONF_LOCALPARTS, CONF_AT(mailbox_users), "",
	    0, 0, 0, CONF_F_EMPTY },
	{ "catchall", CONF_LOCALPART, CONF_AT(catchall), "", 0, 0, 0,
	    CONF_F_EMPTY },
	/* Ours though on no interface (NAT, a load balancer in front). */
	{ "own_addresses", CONF_CIDRS, CONF_AT(own_addresses), "", 0, 0,
	    CONF_AT(nown_addresses), CONF_F_EMPTY },
	/* Laboratory only: MX hosts on 127.0.0.0/8 that are not ours. */
	{ "mx_allow_loopback", CONF_BOOL, CONF_AT(mx_allow_loopback), "no",
	    0, 0, 0, 0 },
	{ "smarthost", CONF_SMARTHOST, CONF_AT(smarthost), "", 0, 0, 0,
	    CONF_F_EMPTY },
	{ "smarthost_tls", CONF_TLSMODE, CONF_AT(smarthost_tls), "required",
	    0, 0, 0, 0 },
	{ "mime_8bit_downgrade", CONF_DOWNGRADE, CONF_AT(mime_8bit_downgrade),
	    "convert", 0, 0, 0, 0 },
	{ "smarthost_ca_file", CONF_PATH, CONF_AT(smarthost_ca_file), "",
	    0, 0, 0, CONF_F_EMPTY },
	{ "smarthost_auth_file", CONF_PATH, CONF_AT(smarthost_auth_file), "",
	    0, 0, 0, CONF_F_EMPTY },
	{ "queue_lifetime", CONF_DURATION, CONF_AT(queue_lifetime), "5d",
	    3600, 30 * 86400, 0, 0 },
	{ "retry_min", CONF_DURATION, CONF_AT(retry_min), "5m", 1, 86400,
	    0, 0 },
	{ "retry_max", CONF_DURATION, CONF_AT(retry_max), "4h", 60,
	    7 * 86400, 0, 0 },
	{ "delivery_concurrency", CONF_UINT, CONF_AT(delivery_concurrency),
	    "20", 1, 1000, 0, 0 },
	{ "delivery_per_destination", CONF_UINT,
	    CONF_AT(delivery_per_destination), "5", 1, 1000, 0, 0 },
	{ "delivery_timeout", CONF_DURATION, CONF_AT(delivery_timeout), "5m",
	    1, 3600, 0, 0 },
};

#define CONF_NKEYS	(sizeof(conf_keys) / sizeof(conf_keys[0]))

/* One parse: where we are, what was set where, what went wrong. */
struct conf_parse {
	struct config	*cfg;
	const char	*name;		/* file name for messages */
	unsigned	 lineno;	/* 0: not from a line (defaults) */
	unsigned	 seen[CONF_NKEYS];	/* line first set, 0: never */
	unsigned	 role_line[ROLE_SUBMISSIONS + 1];	/* first
					 * listener of each role */
	char		*text;		/* collected messages */
	size_t		 len, cap;
	unsigned	 nerrors;
	bool		 nomem;
};

/* --- messages ---------------------------------------------------------- */

/* conf_addtext - append to the message text; remember a failure */
static void
conf_addtext(struct conf_parse *p, const char *s)
{
	size_t	 n = strlen(s);

	if (p->nomem)
		return;
	if (p->len + n + 1 > p->cap) {
		size_t	 cap = p->cap ? p->cap : 256;
		char	*t;

		while (cap < p->len + n + 1)
			cap *= 2;
		if ((t = realloc(p->text, cap)) == NULL) {
			p->nomem = true;
			return;
		}
		p->text = t;
		p->cap = cap;
	}
	memcpy(p->text + p->len, s, n + 1);
	p->len += n;
}

static void conf_vmsg(struct conf_parse *, const char *, const char *,
    va_list) __attribute__((format(printf, 3, 0)));

/* conf_vmsg - one "file:line: [kind]message" line */
static void
conf_vmsg(struct conf_parse *p, const char *kind, const char *fmt, va_list ap)
{
	char	 where[32];
	char	 msg[CONF_ERR_LEN];

	if (p->lineno > 0)
		snprintf(where, sizeof(where), ":%u: ", p->lineno);
	else
		snprintf(where, sizeof(where), ": ");
	/* Messages quote at most CV_QUOTE_MAX bytes of input, which
	 * keeps them well within msg. */
	vsnprintf(msg, sizeof(msg), fmt, ap);
	conf_addtext(p, p->name);
	conf_addtext(p, where);
	conf_addtext(p, kind);
	conf_addtext(p, msg);
	conf_addtext(p, "\n");
}

static void conf_error(struct conf_parse *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static void conf_warn(struct conf_parse *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
conf_error(struct conf_parse *p, const char *fmt, ...)
{
	va_list	 ap;

	p->nerrors++;
	va_start(ap, fmt);
	conf_vmsg(p, "", fmt, ap);
	va_end(ap);
}

static void
conf_warn(struct conf_parse *p, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	conf_vmsg(p, "warning: ", fmt, ap);
	va_end(ap);
}

/* conf_field - where a key's value lives in cfg */
static void *
conf_field(struct config *cfg, size_t off)
{
	return (char *)cfg + off;
}

/* --- setters: parse `val` into the key's field, replacing it whole ---- */

typedef int conf_set_fn(struct conf_parse *, const struct conf_key *,
    const char *, char *, size_t);
typedef void conf_print_fn(const struct config *, const struct conf_key *,
    FILE *);
typedef void conf_free_fn(struct config *, const struct conf_key *);
/* A value, or one list item, checked and made canonical (config_value). */
typedef int conf_norm_fn(const char *, char *, size_t, char *, size_t);

static conf_norm_fn *conf_norm_of(enum conf_type);

/* conf_set_string - one word through the type's norm; empty is NULL */
static int
conf_set_string(struct conf_parse *p, const struct conf_key *k,
    const char *val, char *err, size_t errlen)
{
	char	**field = conf_field(p->cfg, k->off);
	char	  word[CV_LINE_MAX + 1], *s = NULL;

	if (val[0] != '\0') {
		if (conf_norm_of(k->type)(val, word, sizeof(word), err,
		    errlen) == -1)
			return -1;
		if ((s = strdup(word)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	free(*field);
	*field = s;
	return 0;
}

/* conf_units_of - the units a numeric type accepts */
static enum cv_units
conf_units_of(enum conf_type type)
{
	if (type == CONF_SIZE)
		return CV_UNITS_SIZE;
	if (type == CONF_DURATION)
		return CV_UNITS_TIME;
	return CV_UNITS_PLAIN;
}

/* conf_set_number - sizes are uint64_t fields, other numbers unsigned */
static int
conf_set_number(struct conf_parse *p, const struct conf_key *k,
    const char *val, char *err, size_t errlen)
{
	void		*field = conf_field(p->cfg, k->off);
	uint64_t	 v;

	if (cv_number_parse(val, conf_units_of(k->type), k->min, k->max, &v,
	    err, errlen) == -1)
		return -1;
	if (k->type == CONF_SIZE)
		*(uint64_t *)field = v;
	else
		*(unsigned *)field = (unsigned)v;  /* bounds keep it small */
	return 0;
}

static int
conf_set_cidrs(struct conf_parse *p, const struct conf_key *k,
    const char *val, char *err, size_t errlen)
{
	struct cidr	**field = conf_field(p->cfg, k->off);
	size_t		 *nfield = conf_field(p->cfg, k->off_n);
	struct cidr	 *v;
	size_t		  n;

	if (cv_cidrs_parse(val, &v, &n, err, errlen) == -1)
		return -1;
	free(*field);
	*field = v;
	*nfield = n;
	return 0;
}

static void
conf_strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
conf_set_bool(struct conf_parse *p, const struct conf_key *k,
    const char *val, char *err, size_t errlen)
{
	return cv_bool_parse(val, conf_field(p->cfg, k->off), err, errlen);
}

/* conf_set_strlist - a list, each item made canonical; one listed
 * twice is only a warning: the list means the same with it once */
static int
conf_set_strlist(struct conf_parse *p, const struct conf_key *k,
    const char *val, char *err, size_t errlen)
{
	struct strlist	*field = conf_field(p->cfg, k->off);
	struct strlist	 l = { NULL, 0 };
	char		 item[CV_LINE_MAX + 1], name[CV_LINE_MAX + 1];
	char		 q[CV_QBUF], **t;
	conf_norm_fn	*norm = conf_norm_of(k->type);

	while ((val = cv_next_item(val, item, sizeof(item))) != NULL) {
		if (norm(item, name, sizeof(name), err, errlen) == -1)
			goto fail;
		for (size_t i = 0; i < l.n; i++)
			if (strcmp(l.v[i], name) == 0) {
				conf_warn(p, "%s: %s is listed twice",
				    k->name, cv_quote(name, q, sizeof(q)));
				goto next;
			}
		if ((t = reallocarray(l.v, l.n + 1, sizeof(*l.v))) == NULL)
			goto nomem;
		l.v = t;
		if ((l.v[l.n] = strdup(name)) == NULL)
			goto nomem;
		l.n++;
next:		;
	}
	conf_strlist_free(field);
	*field = l;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	conf_strlist_free(&l);
	return -1;
}

/* conf_set_listen - add one listener; unlike other keys, each line
 * adds to the list, so a repeat is caught here */
static int
conf_set_listen(struct conf_parse *p, const struct conf_key *k,
    const char *val, char *err, size_t errlen)
{
	struct listen_spec **field = conf_field(p->cfg, k->off);
	size_t		  *nfield = conf_field(p->cfg, k->off_n);
	struct listen_spec ls, *t;
	struct cv_listen   l;
	const char	  *hostp;

	if (cv_listen_parse(val, &l, err, errlen) == -1)
		return -1;
	hostp = l.host[0] != '\0' ? l.host : NULL;
	for (size_t i = 0; i < *nfield; i++) {
		const struct listen_spec *o = &(*field)[i];

		if (strcmp(o->port, l.port) == 0 && (o->host == hostp ||
		    (o->host != NULL && hostp != NULL &&
		    strcmp(o->host, hostp) == 0))) {
			snprintf(err, errlen, "%s%s%s:%s is listed twice",
			    l.family == AF_INET6 ? "[" : "",
			    hostp ? hostp : "*",
			    l.family == AF_INET6 ? "]" : "", l.port);
			return -1;
		}
	}

	if (p->role_line[l.role] == 0)
		p->role_line[l.role] = p->lineno;
	ls.role = l.role;
	ls.host = hostp != NULL ? strdup(hostp) : NULL;
	ls.port = strdup(l.port);
	t = reallocarray(*field, *nfield + 1, sizeof(**field));
	if ((hostp != NULL && ls.host == NULL) || ls.port == NULL ||
	    t == NULL) {
		free(ls.host);
		free(ls.port);
		if (t != NULL)
			*field = t;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*field = t;
	t[(*nfield)++] = ls;
	return 0;
}

/* --- printers: one or more whole "key = value" lines ----------------- */

static void
conf_print_string(const struct config *cfg, const struct conf_key *k,
    FILE *fp)
{
	char *const *field = (const void *)((const char *)cfg + k->off);

	if (*field != NULL)
		fprintf(fp, "%s = %s\n", k->name, *field);
	else
		fprintf(fp, "%s =\n", k->name);
}

static void
conf_print_number(const struct config *cfg, const struct conf_key *k,
    FILE *fp)
{
	const void	*field = (const char *)cfg + k->off;
	uint64_t	 v;
	char		 out[32];

	if (k->type == CONF_SIZE)
		v = *(const uint64_t *)field;
	else
		v = *(const unsigned *)field;
	cv_number_format(v, conf_units_of(k->type), out, sizeof(out));
	fprintf(fp, "%s = %s\n", k->name, out);
}

static void
conf_print_bool(const struct config *cfg, const struct conf_key *k, FILE *fp)
{
	const bool *field = (const void *)((const char *)cfg + k->off);

	fprintf(fp, "%s = %s\n", k->name, cv_bool_name(*field));
}

static void
conf_print_cidrs(const struct config *cfg, const struct conf_key *k, FILE *fp)
{
	const struct cidr *v = *(struct cidr *const *)
	    (const void *)((const char *)cfg + k->off);
	size_t		 n = *(const size_t *)(const void *)
	    ((const char *)cfg + k->off_n);
	char		 buf[CIDR_STRLEN];

	fprintf(fp, "%s =", k->name);
	for (size_t i = 0; i < n; i++) {
		cidr_format(&v[i], buf, sizeof(buf));
		fprintf(fp, " %s", buf);
	}
	fputc('\n', fp);
}

static void
conf_print_strlist(const struct config *cfg, const struct conf_key *k,
    FILE *fp)
{
	const struct strlist *l = (const void *)((const char *)cfg + k->off);

	fprintf(fp, "%s =", k->name);
	for (size_t i = 0; i < l->n; i++)
		fprintf(fp, " %s", l->v[i]);
	fputc('\n', fp);
}

static void
conf_print_listen(const struct config *cfg, const struct conf_key *k,
    FILE *fp)
{
	for (size_t i = 0; i < cfg->nlisten; i++) {
		const struct listen_spec *l = &cfg->listen[i];
		bool v6 = l->host != NULL && strchr(l->host, ':') != NULL;

		fprintf(fp, "%s = %s%s%s:%s %s\n", k->name, v6 ? "[" : "",
		    l->host != NULL ? l->host : "*", v6 ? "]" : "", l->port,
		    config_role_name(l->role));
	}
}

/* --- freers ----------------------------------------------------------- */

static void
conf_free_ptr(struct config *cfg, const struct conf_key *k)
{
	void	**field = conf_field(cfg, k->off);

	free(*field);
	*field = NULL;
	if (k->off_n != 0)
		*(size_t *)conf_field(cfg, k->off_n) = 0;
}

static void
conf_free_none(struct config *cfg, const struct conf_key *k)
{
	(void)cfg;
	(void)k;
}

static void
conf_free_strlist(struct config *cfg, const struct conf_key *k)
{
	conf_strlist_free(conf_field(cfg, k->off));
}

static void
conf_free_listen(struct config *cfg, const struct conf_key *k)
{
	for (size_t i = 0; i < cfg->nlisten; i++) {
		free(cfg->listen[i].host);
		free(cfg->listen[i].port);
	}
	conf_free_ptr(cfg, k);
}

/* What each type does, indexed by enum conf_type. `expect` ends the
 * message for a missing value; `norm` checks a word or list item. */
static const struct {
	conf_set_fn	*set;
	conf_print_fn	*print;
	conf_free_fn	*free;
	conf_norm_fn	*norm;
	const char	*expect;
} conf_types[] = {
	[CONF_STRING] = { conf_set_string, conf_print_string, conf_free_ptr,
	    cv_user_norm, "a name" },
	[CONF_PATH] = { conf_set_string, conf_print_string, conf_free_ptr,
	    cv_path_norm, "an absolute path" },
	[CONF_HOSTNAME] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_domain_norm, "a domain name" },
	[CONF_CIPHERS] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_ciphers_norm, "a cipher list" },
	[CONF_PWCHECK] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_pwcheck_norm, "auxprop or saslauthd" },
	[CONF_LOCALPART] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_localpart_norm, "a local part" },
	[CONF_DELIVERY] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_local_delivery_norm, "maildir:TEMPLATE, "
	    "lmtp:unix:PATH or lmtp:ADDRESS:PORT" },
	[CONF_SMARTHOST] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_smarthost_norm, "HOST:PORT or [HOST]:PORT" },
	[CONF_TLSMODE] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_smarthost_tls_norm, "required, opportunistic "
	    "or none" },
	[CONF_DOWNGRADE] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_mime_8bit_downgrade_norm, "convert or bounce" },
	[CONF_UINT] = { conf_set_number, conf_print_number, conf_free_none,
	    NULL, "a number" },
	[CONF_BOOL] = { conf_set_bool, conf_print_bool, conf_free_none,
	    NULL, "yes or no" },
	[CONF_SIZE] = { conf_set_number, conf_print_number, conf_free_none,
	    NULL, "a size such as 25M" },
	[CONF_DURATION] = { conf_set_number, conf_print_number,
	    conf_free_none, NULL, "a duration such as 5m" },
	[CONF_CIDRS] = { conf_set_cidrs, conf_print_cidrs, conf_free_ptr,
	    NULL, "networks" },
	[CONF_DOMAINS] = { conf_set_strlist, conf_print_strlist,
	    conf_free_strlist, cv_maildomain_norm, "domains" },
	[CONF_SERVERS] = { conf_set_strlist, conf_print_strlist,
	    conf_free_strlist, cv_server_norm, "servers" },
	[CONF_PROTOCOLS] = { conf_set_strlist, conf_print_strlist,
	    conf_free_strlist, cv_tls_protocol_norm, "TLSv1.2 and/or "
	    "TLSv1.3" },
	[CONF_MECHS] = { conf_set_strlist, conf_print_strlist,
	    conf_free_strlist, cv_sasl_mech_norm, "mechanism names" },
	[CONF_LOCALPARTS] = { conf_set_strlist, conf_print_strlist,
	    conf_free_strlist, cv_localpart_norm, "local parts" },
	[CONF_LISTEN] = { conf_set_listen, conf_print_listen,
	    conf_free_listen, NULL, "ADDRESS:PORT [ROLE]" },
	[CONF_BARE_NL] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_bare_newline_norm, "reject or normalize" },
	[CONF_BARE_NL_CLIENTS] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_bare_newline_clients_norm, "trusted or all" },
};

static conf_norm_fn *
conf_norm_of(enum conf_type type)
{
	return conf_types[type].norm;
}

/* --- the parse ---------------------------------------------------------- */

/* conf_set - run the key's setter on one value and report its error */
static void
conf_set(struct conf_parse *p, const struct conf_key *k, const char *val)
{
	char	 err[CONF_ERR_LEN];

	if (val[0] == '\0' && !(k->flags & CONF_F_EMPTY)) {
		conf_error(p, "%s: value missing (expected %s)", k->name,
		    conf_types[k->type].expect);
		return;
	}
	if (conf_types[k->type].set(p, k, val, err, sizeof(err)) == -1)
		conf_error(p, "%s: %s", k->name, err);
}

/* conf_sysname - the system's host name: the hostname default */
static void
conf_sysname(char *out, size_t outlen)
{
	if (gethostname(out, outlen) == -1)
		out[0] = '\0';
	out[outlen - 1] = '\0';
}

/* conf_defaults - every key's default, before the file is read. A
 * system name that is no domain name is not an error yet: the file may
 * set hostname (conf_finish checks). */
static void
conf_defaults(struct conf_parse *p, const char *sysname)
{
	char	 item[CV_LINE_MAX + 1], err[CONF_ERR_LEN];

	for (size_t i = 0; i < CONF_NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];
		const char *d = k->def;

		if ((k->flags & CONF_F_SYSNAME) && sysname[0] != '\0') {
			(void)conf_types[k->type].set(p, k, sysname, err,
			    sizeof(err));
			continue;
		}
		if (d == NULL)
			continue;
		if (!(k->flags & CONF_F_REPEAT)) {
			conf_set(p, k, d);
			continue;
		}
		/* A repeating key's default stands for several lines. */
		while (*d != '\0') {
			size_t n = strcspn(d, ",");

			memcpy(item, d, n);
			item[n] = '\0';
			conf_set(p, k, item);
			d += n + (d[n] == ',');
		}
	}
}

/* conf_key_index - a key's row in conf_keys[]; CONF_NKEYS if none */
static size_t
conf_key_index(const char *name)
{
	size_t	 i;

	for (i = 0; i < CONF_NKEYS; i++)
		if (strcmp(name, conf_keys[i].name) == 0)
			break;
	return i;
}

/* conf_line - one line: blank, comment or "key = value" */
static void
conf_line(struct conf_parse *p, char *line)
{
	char			*s = line, *eq, *end, *val;
	const struct conf_key	*k;
	size_t			 i;
	char			 q[CV_QBUF];

	while (cv_isblank(*s))
		s++;
	if (*s == '\0' || *s == '#')
		return;
	if ((eq = strchr(s, '=')) == NULL) {
		conf_error(p, "missing '=' (expected key = value)");
		return;
	}
	for (end = eq; end > s && cv_isblank(end[-1]); end--)
		;
	*end = '\0';
	if (*s == '\0') {
		conf_error(p, "missing key before '='");
		return;
	}
	/* A '#' starts a comment at the value's start or after a blank;
	 * elsewhere it belongs to the value (a path may hold one). */
	val = eq + 1;
	while (cv_isblank(*val))
		val++;
	for (end = val; *end != '\0'; end++)
		if (*end == '#' && (end == val || cv_isblank(end[-1])))
			break;
	while (end > val && cv_isblank(end[-1]))
		end--;
	*end = '\0';

	if ((i = conf_key_index(s)) == CONF_NKEYS) {
		conf_error(p, "unknown key %s", cv_quote(s, q, sizeof(q)));
		return;
	}
	k = &conf_keys[i];
	if (p->seen[i] != 0 && !(k->flags & CONF_F_REPEAT)) {
		conf_error(p, "duplicate key '%s' (first set at line %u)",
		    k->name, p->seen[i]);
		return;
	}
	if (p->seen[i] == 0) {
		p->seen[i] = p->lineno;
		/* The first line of a repeating key replaces the default
		 * rather than adding to it. */
		if (k->flags & CONF_F_REPEAT)
			conf_types[k->type].free(p->cfg, k);
	}
	conf_set(p, k, val);
}

/* conf_drop_submission - the default listeners without the ones that
 * need TLS, which could not work */
static void
conf_drop_submission(struct config *cfg)
{
	size_t	 n = 0;

	for (size_t i = 0; i < cfg->nlisten; i++) {
		if (cfg->listen[i].role == ROLE_MX) {
			cfg->listen[n++] = cfg->listen[i];
			continue;
		}
		free(cfg->listen[i].host);
		free(cfg->listen[i].port);
	}
	cfg->nlisten = n;
}

/* conf_check_tls - what needs a certificate has one. Only the paths
 * are checked here: tls.c reads the files when the server starts. */
static void
conf_check_tls(struct conf_parse *p)
{
	struct config	*cfg = p->cfg;
	bool		 said[ROLE_SUBMISSIONS + 1] = { false };

	if (cfg->tls_cert != NULL)
		return;
	if (p->seen[conf_key_index("listen")] == 0)
		conf_drop_submission(cfg);
	if (cfg->tls_key != NULL) {
		p->lineno = p->seen[conf_key_index("tls_key")];
		conf_error(p, "tls_key: set without tls_cert");
	}
	if (cfg->tls_ca_file != NULL) {
		p->lineno = p->seen[conf_key_index("tls_ca_file")];
		conf_warn(p, "tls_ca_file: ignored without tls_cert");
	}
	/* One error per role, at its first listener. */
	for (size_t i = 0; i < cfg->nlisten; i++) {
		enum listen_role role = cfg->listen[i].role;

		if (role == ROLE_MX || said[role])
			continue;
		said[role] = true;
		p->lineno = p->role_line[role];
		conf_error(p, "listen: role %s needs tls_cert (%s)",
		    config_role_name(role), role == ROLE_SUBMISSION ?
		    "STARTTLS is required before AUTH" :
		    "it speaks TLS from the first byte");
	}
	p->lineno = 0;
}

/* conf_check_retry - the backoff grows from retry_min to retry_max */
static void
conf_check_retry(struct conf_parse *p)
{
	char	 lo[32], hi[32];

	if (p->cfg->retry_max >= p->cfg->retry_min)
		return;
	cv_number_format(p->cfg->retry_min, CV_UNITS_TIME, lo, sizeof(lo));
	cv_number_format(p->cfg->retry_max, CV_UNITS_TIME, hi, sizeof(hi));
	p->lineno = p->seen[conf_key_index("retry_max")];
	if (p->lineno == 0)
		p->lineno = p->seen[conf_key_index("retry_min")];
	conf_error(p, "retry_max: %s is below retry_min %s", hi, lo);
	p->lineno = 0;
}

/* conf_check_smarthost - a smarthost that is our own listener would
 * take every message back in, for ever (ownaddr.c) */
static void
conf_check_smarthost(struct conf_parse *p)
{
	char	 err[CONF_ERR_LEN];

	if (!ownaddr_smarthost_loops(p->cfg, err, sizeof(err)))
		return;
	p->lineno = p->seen[conf_key_index("smarthost")];
	conf_error(p, "smarthost: %s", err);
	p->lineno = 0;
}

/* conf_load_aliases - the recipient table, from the three keys that
 * make it. Its messages carry the alias file's own "file:line: " and
 * count as errors of the configuration, so that --check-config shows
 * them and a reload with a broken alias file is refused. */
static void
conf_load_aliases(struct conf_parse *p)
{
	struct config	*cfg = p->cfg;
	char		*errs = NULL;

	cfg->alias_table = alias_table_load(cfg->aliases, cfg->mailbox_users.v,
	    cfg->mailbox_users.n, cfg->catchall, &errs);
	if (errs != NULL) {
		for (const char *c = errs; *c != '\0'; c++)
			p->nerrors += *c == '\n';
		conf_addtext(p, errs);
		free(errs);
	}
	if (cfg->alias_table == NULL && p->nerrors == 0) {
		p->nerrors++;
		conf_addtext(p, "out of memory\n");
	}
}

/* conf_finish - defaults that depend on the file, and checks across
 * keys */
static void
conf_finish(struct conf_parse *p, const char *sysname)
{
	char	 q[CV_QBUF];

	p->lineno = 0;
	if (p->cfg->hostname == NULL)
		conf_error(p, "hostname: not set, and the system's host name "
		    "%s is not a domain name", cv_quote(sysname, q,
		    sizeof(q)));
	else if (strchr(p->cfg->hostname, '.') == NULL)
		conf_warn(p, "hostname: %s is not a fully qualified domain "
		    "name, which the greeting should give (RFC 5321 4.1.1.1)",
		    cv_quote(p->cfg->hostname, q, sizeof(q)));
	for (size_t i = 0; i < CONF_NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];

		if ((k->flags & CONF_F_HOSTNAME) && p->seen[i] == 0 &&
		    p->cfg->hostname != NULL)
			conf_set(p, k, p->cfg->hostname);
	}
	conf_check_tls(p);
	conf_check_retry(p);
	conf_check_smarthost(p);
	conf_load_aliases(p);
}

/* conf_report - hand the messages to the caller, or free them */
static void
conf_report(struct conf_parse *p, char **errors)
{
	if (p->nomem) {
		/* The text itself could not grow: say what we can. */
		free(p->text);
		p->text = NULL;
		p->len = p->cap = 0;
		p->nomem = false;
		p->nerrors++;
		conf_addtext(p, "out of memory\n");
	}
	if (errors != NULL)
		*errors = p->text;
	else
		free(p->text);
	p->text = NULL;
}

struct config *
config_parse(const char *text, const char *name, char **errors)
{
	struct conf_parse p;
	struct config	*cfg;
	char		 line[CV_LINE_MAX + 1], sysname[256];
	const char	*s = text;

	memset(&p, 0, sizeof(p));
	p.name = name;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
	    (cfg->path = strdup(name)) == NULL) {
		free(cfg);
		p.nomem = true;
		conf_report(&p, errors);
		return NULL;
	}
	p.cfg = cfg;
	conf_sysname(sysname, sizeof(sysname));
	conf_defaults(&p, sysname);

	while (*s != '\0' && p.nerrors < CONF_ERRORS_MAX) {
		size_t	 len = strcspn(s, "\n");
		bool	 ok = true;

		p.lineno++;
		if (len > 0 && s[len - 1] == '\r')
			len--;		/* CRLF files are common enough */
		if (len > CV_LINE_MAX) {
			conf_error(&p, "line too long (more than %d bytes)",
			    CV_LINE_MAX);
			ok = false;
		}
		for (size_t i = 0; ok && i < len; i++) {
			unsigned char c = (unsigned char)s[i];

			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				conf_error(&p, "control character 0x%02x "
				    "in line", c);
				ok = false;
			}
		}
		if (ok) {
			memcpy(line, s, len);
			line[len] = '\0';
			conf_line(&p, line);
		}
		s += strcspn(s, "\n");
		if (*s == '\n')
			s++;
	}
	if (*s != '\0')
		conf_error(&p, "too many errors, stopped reading at line %u",
		    p.lineno);
	else
		conf_finish(&p, sysname);

	if (p.nerrors > 0 || p.nomem) {
		config_free(cfg);
		cfg = NULL;
	}
	conf_report(&p, errors);
	return cfg;
}

/* conf_digest - SHA-256 of len bytes at data, as hex into out; 0, or
 * -1 (libcrypto could not, out of memory) */
static int
conf_digest(const char *data, size_t len, char out[CONFIG_DIGEST_HEX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen, i;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen * 2 + 1 != CONFIG_DIGEST_HEX)
		return -1;
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * mdlen] = '\0';
	return 0;
}

struct config *
config_load(const char *path, char **errors)
{
	struct conf_parse p;
	FILE		*fp;
	char		*data;
	size_t		 len;
	struct config	*cfg;

	memset(&p, 0, sizeof(p));
	p.name = path;
	if ((data = malloc(CONF_FILE_MAX + 1)) == NULL) {
		p.nomem = true;
		goto fail;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		conf_error(&p, "cannot open: %s", strerror(errno));
		goto fail;
	}
	/* One byte more than allowed tells a file at the limit from one
	 * past it. */
	len = fread(data, 1, CONF_FILE_MAX + 1, fp);
	if (ferror(fp)) {
		conf_error(&p, "cannot read: %s", strerror(errno));
		fclose(fp);
		goto fail;
	}
	fclose(fp);
	if (len > CONF_FILE_MAX) {
		conf_error(&p, "file too large (more than %d bytes)",
		    CONF_FILE_MAX);
		goto fail;
	}
	data[len] = '\0';
	if (strlen(data) != len) {
		/* config_parse sees C strings: a NUL would end the file
		 * early and silently. */
		p.lineno = 1;
		for (const char *c = data; *c != '\0'; c++)
			p.lineno += *c == '\n';
		conf_error(&p, "NUL byte in line");
		goto fail;
	}
	cfg = config_parse(data, path, errors);
	/* Which bytes these were: the processes that read the file after
	 * the master tell an edit in between from the file it took. */
	if (cfg != NULL && conf_digest(data, len, cfg->digest) == -1) {
		config_free(cfg);
		cfg = NULL;
		if (errors != NULL) {
			free(*errors);
			*errors = strdup("out of memory (SHA-256 of the "
			    "file)\n");
		}
	}
	free(data);
	return cfg;
fail:
	free(data);
	conf_report(&p, errors);
	return NULL;
}
void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < CONF_NKEYS; i++)
		conf_types[conf_keys[i].type].free(cfg, &conf_keys[i]);
	alias_table_free(cfg->alias_table);
	free(cfg->path);
	free(cfg);
}

void
config_print(const struct config *cfg, FILE *fp)
{
	for (size_t i = 0; i < CONF_NKEYS; i++)
		conf_types[conf_keys[i].type].print(cfg, &conf_keys[i], fp);
}

bool
config_qmail_queue(const struct config *cfg)
{
	return cfg->local_delivery != NULL &&
	    strncmp(cfg->local_delivery, "qmail-queue:", 12) == 0;
}

const char *
config_role_name(enum listen_role role)
{
	return cv_role_name(role);
}
