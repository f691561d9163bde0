/*
 * config_check - what a configuration file is checked for after its
 * lines are read: the defaults that depend on other keys (hostname),
 * and the checks across keys that `sallyport -n` reports (TLS needed by
 * a listener, the metrics listener's place, the retry backoff, a
 * smarthost that is ourselves, a DNSSEC resolver that is not ours, the
 * recipient table). Only what can be told from the text: tls.c reads
 * the certificate files when the server starts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include "conf/aliases.h"
#include "conf/rcpt_table.h"
#include "conf/sendermap.h"
#include "conf/config_addr.h"
#include "conf/config_check.h"
#include "conf/config_dkim.h"
#include "conf/config_milter.h"
#include "conf/config_types.h"
#include "conf/config_value.h"
#include "conf/ownaddr.h"
#include "lib/netaddr.h"

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
	bool		 said[ROLE_METRICS + 1] = { false };

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

		if (role == ROLE_MX || role == ROLE_METRICS || said[role])
			continue;
		said[role] = true;
		p->lineno = p->role_line[role];
		conf_error(p, "listen: role %s needs tls_cert (%s)",
		    cv_role_name(role), role == ROLE_SUBMISSION ?
		    "STARTTLS is required before AUTH" :
		    "it speaks TLS from the first byte");
	}
	p->lineno = 0;
}

/* conf_check_proxy - a proxy listener believes the header of the
 * addresses in proxy_trusted only: without one, it could serve nobody */
static void
conf_check_proxy(struct conf_parse *p)
{
	if (p->proxy_line != 0 && p->cfg->nproxy_trusted == 0) {
		p->lineno = p->proxy_line;
		conf_error(p, "listen: proxy needs proxy_trusted (the "
		    "addresses of the load balancers that send the PROXY "
		    "header)");
	} else if (p->proxy_line == 0 && p->cfg->nproxy_trusted > 0) {
		p->lineno = p->seen[conf_key_index("proxy_trusted")];
		conf_warn(p, "proxy_trusted: no listen line has the proxy "
		    "option; it is not used");
	}
	p->lineno = 0;
}

/* conf_check_public - public_addresses are addresses, not networks */
static void
conf_check_public(struct conf_parse *p)
{
	const struct config *cfg = p->cfg;
	char net[CIDR_STRLEN];

	for (size_t i = 0; i < cfg->npublic_addresses; i++) {
		const struct cidr *c = &cfg->public_addresses[i];

		if (c->prefix == (c->family == AF_INET ? 32u : 128u))
			continue;
		cidr_format(c, net, sizeof(net));
		p->lineno = p->seen[conf_key_index("public_addresses")];
		conf_error(p, "public_addresses: %s is a network; give each "
		    "address", net);
	}
	p->lineno = 0;
}

/* conf_check_metrics - a metrics listener reachable from off this
 * machine is said: its counters tell of the traffic (clients, refusals,
 * the queue) and it asks nobody to log in. (The proxy option is refused
 * on it as on every role but the SMTP ones: cv_listen_parse.) */
static void
conf_check_metrics(struct conf_parse *p)
{
	const struct config *cfg = p->cfg;
	struct sockaddr_storage ss;

	for (size_t i = 0; i < cfg->nlisten; i++) {
		const struct listen_spec *l = &cfg->listen[i];
		bool v6 = l->host != NULL && strchr(l->host, ':') != NULL;

		if (l->role != ROLE_METRICS)
			continue;
		p->lineno = p->role_line[ROLE_METRICS];
		if (l->host != NULL && netaddr_from_text(l->host, &ss) == 0 &&
		    ownaddr_loopback((struct sockaddr *)&ss))
			continue;
		conf_warn(p, "listen: metrics on %s%s%s:%s is not a loopback "
		    "address: whoever reaches it reads the counters (traffic, "
		    "refusals, the queue) without logging in; listen on "
		    "127.0.0.1 or [::1], or filter the port",
		    v6 ? "[" : "", l->host != NULL ? l->host : "*",
		    v6 ? "]" : "", l->port);
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

/* dns_server_local - a dns_servers entry on this machine (loopback) */
static bool
dns_server_local(const char *server)
{
	static const unsigned char v6_loopback[16] = { [15] = 1 };
	static const unsigned char v4_mapped[12] = { [10] = 0xff, 0xff };
	struct netaddr_port	 a;
	char			 err[CONF_ERR_LEN];

	if (netaddr_port_parse(server, 0, &a, err, sizeof(err)) == -1)
		return false;
	if (a.family == AF_INET)
		return a.addr[0] == 127;
	return memcmp(a.addr, v6_loopback, 16) == 0 ||
	    (memcmp(a.addr, v4_mapped, 12) == 0 && a.addr[12] == 127);
}

/* conf_check_dnssec - dnssec = yes trusts the AD bit of the answers of
 * dns_servers: only a validating resolver on this machine gives one
 * that nobody on the way could have set (RFC 7672 and Postfix say as
 * much); and smarthost_tls = dane trusts no TLSA record without it.
 * Warnings: the configuration stands, but says what is wrong. */
static void
conf_check_dnssec(struct conf_parse *p)
{
	const struct config	*cfg = p->cfg;
	char			 q[CV_QBUF];

	if (cfg->smarthost != NULL && !cfg->dnssec &&
	    strcmp(cfg->smarthost_tls, "dane") == 0) {
		p->lineno = p->seen[conf_key_index("smarthost_tls")];
		conf_warn(p, "smarthost_tls: dane without dnssec = yes trusts "
		    "no TLSA record: all mail for the smarthost waits");
	}
	if (!cfg->dnssec) {
		p->lineno = 0;
		return;
	}
	p->lineno = p->seen[conf_key_index("dnssec")];
	if (cfg->dns_servers.n == 0)
		conf_warn(p, "dnssec: yes without dns_servers trusts the AD "
		    "bit of whatever /etc/resolv.conf names; name a validating "
		    "resolver on this machine (dns_servers = 127.0.0.1)");
	for (size_t i = 0; i < cfg->dns_servers.n; i++)
		if (!dns_server_local(cfg->dns_servers.v[i]))
			conf_warn(p, "dnssec: dns_servers %s is not on this "
			    "machine: anyone on the way to it can set the AD "
			    "bit of a forged answer; run a validating resolver "
			    "here (doc/delivery.md)", cv_quote(
			    cfg->dns_servers.v[i], q, sizeof(q)));
	p->lineno = 0;
}

/* conf_check_dnsbl - the big blocklists answer queries that come
 * through public resolvers with an error code (127.255.255.x), never a
 * listing: dnsbl with a resolver elsewhere checks nothing. A warning,
 * for a named server only (one from /etc/resolv.conf may well be a
 * local cache). */
static void
conf_check_dnsbl(struct conf_parse *p)
{
	const struct config	*cfg = p->cfg;
	char			 q[CV_QBUF];

	if (cfg->dnsbl.n == 0)
		return;
	p->lineno = p->seen[conf_key_index("dns_servers")];
	for (size_t i = 0; i < cfg->dns_servers.n; i++)
		if (!dns_server_local(cfg->dns_servers.v[i]))
			conf_warn(p, "dns_servers: %s is not on this machine, "
			    "and DNS blocklists refuse queries from shared "
			    "resolvers (they answer 127.255.255.x): run a "
			    "resolver here for dnsbl (doc/filtering.md)",
			    cv_quote(cfg->dns_servers.v[i], q, sizeof(q)));
	p->lineno = 0;
}

/* conf_table_errors - a table file's messages, with their own
 * "file:line: ", counted as errors of the configuration, so that
 * --check-config shows them and a reload with a broken file is
 * refused */
static void
conf_table_errors(struct conf_parse *p, char *errs, bool loaded)
{
	if (errs != NULL) {
		for (const char *c = errs; *c != '\0'; c++)
			p->nerrors += *c == '\n';
		conf_addtext(p, errs);
		free(errs);
	}
	if (!loaded && p->nerrors == 0) {
		p->nerrors++;
		conf_addtext(p, "out of memory\n");
	}
}

/* conf_load_aliases - the recipient rules: the shorthand (aliases,
 * mailbox_users, catchall), never open beside a recipients file, then
 * that file with the delimiter. A Maildir template without %d would
 * put user@a and user@b of the file's two domains in one mailbox. */
static void
conf_load_aliases(struct conf_parse *p)
{
	struct config	*cfg = p->cfg;
	char		*errs = NULL;

	cfg->alias_table = alias_table_load(cfg->aliases, cfg->mailbox_users.v,
	    cfg->mailbox_users.n, cfg->catchall, cfg->recipients != NULL,
	    &errs);
	conf_table_errors(p, errs, cfg->alias_table != NULL);
	if (cfg->alias_table == NULL)
		return;
	cfg->rcpt_table = rcpt_table_load(cfg->recipients, &cfg->local_domains,
	    cfg->alias_table, cfg->recipient_delimiter, &errs);
	conf_table_errors(p, errs, cfg->rcpt_table != NULL);
	if (rcpt_table_ndomains(cfg->rcpt_table) > 1 &&
	    strncmp(cfg->local_delivery, "maildir:", 8) == 0 &&
	    strstr(cfg->local_delivery, "%d") == NULL) {
		p->lineno = p->seen[conf_key_index("local_delivery")];
		conf_error(p, "local_delivery: the maildir template has no "
		    "%%d, but recipients names several domains: user@ each "
		    "of them would share one Maildir");
		p->lineno = 0;
	}
}

/* conf_load_sender_map - sender_login_map, its errors with the map's
 * own "file:line: " as the alias file's are; with it, the map alone
 * says who may send as whom and sender_login_check has nothing to add */
static void
conf_load_sender_map(struct conf_parse *p)
{
	struct config	*cfg = p->cfg;
	char		*errs = NULL;

	if (cfg->sender_login_map == NULL)
		return;
	cfg->sender_map = sender_map_load(cfg->sender_login_map, &errs);
	if (errs != NULL) {
		for (const char *c = errs; *c != '\0'; c++)
			p->nerrors += *c == '\n';
		conf_addtext(p, errs);
		free(errs);
	} else if (cfg->sender_map == NULL) {
		p->nerrors++;
		conf_addtext(p, "out of memory\n");
	}
	if (cfg->sender_login_check) {
		p->lineno = p->seen[conf_key_index("sender_login_check")];
		conf_warn(p, "sender_login_check: sender_login_map decides "
		    "who may send as whom; this key adds nothing");
		p->lineno = 0;
	}
}

/* conf_load_srs - srs_secret_file's secrets, one a line (blank lines
 * and # comments skipped), after srs_secret's: a file the admin can
 * keep unreadable to others and rotate by adding a line on top */
static void
conf_load_srs(struct conf_parse *p)
{
	struct strlist	*l = &p->cfg->srs_secrets;
	char		 line[CV_LINE_MAX + 1], *s, *e, **t;
	unsigned	 lineno = 0, at = p->seen[conf_key_index(
			    "srs_secret_file")];
	FILE		*fp;

	if (p->cfg->srs_secret_file == NULL)
		return;
	p->lineno = at;
	if ((fp = fopen(p->cfg->srs_secret_file, "r")) == NULL) {
		conf_error(p, "srs_secret_file: %s: %s",
		    p->cfg->srs_secret_file, strerror(errno));
		p->lineno = 0;
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		for (s = line; *s == ' ' || *s == '\t'; s++)
			;
		for (e = s + strlen(s); e > s && (unsigned char)e[-1] <= ' ';
		    e--)
			;
		*e = '\0';
		if (*s == '\0' || *s == '#')
			continue;
		if (strpbrk(s, " \t") != NULL) {
			conf_error(p, "srs_secret_file: %s:%u: a secret has "
			    "no blanks", p->cfg->srs_secret_file, lineno);
			continue;
		}
		if ((t = reallocarray(l->v, l->n + 1, sizeof(*t))) == NULL ||
		    (t[l->n] = strdup(s)) == NULL) {
			if (t != NULL)
				l->v = t;
			conf_error(p, "out of memory");
			break;
		}
		l->v = t;
		l->n++;
	}
	fclose(fp);
	if (lineno == 0 || l->n == 0)
		conf_error(p, "srs_secret_file: %s: no secret in it",
		    p->cfg->srs_secret_file);
	p->lineno = 0;
}

/* conf_finish - defaults that depend on the file, and checks across
 * keys */
void
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
	for (size_t i = 0; i < conf_nkeys; i++) {
		const struct conf_key *k = &conf_keys[i];

		if ((k->flags & CONF_F_HOSTNAME) && p->seen[i] == 0 &&
		    p->cfg->hostname != NULL)
			conf_set(p, k, p->cfg->hostname);
	}
	conf_check_tls(p);
	conf_check_proxy(p);
	conf_check_public(p);
	conf_check_metrics(p);
	conf_check_retry(p);
	conf_check_smarthost(p);
	conf_check_dnssec(p);
	conf_check_dnsbl(p);
	conf_load_aliases(p);
	conf_load_sender_map(p);
	conf_load_srs(p);
	conf_check_dkim_owner(p);
	conf_milter_finish(p);
}
