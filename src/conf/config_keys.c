/*
 * config_keys - the table of sallyport.conf's keys: every key's name,
 * type, place in struct config, default as file text and bounds.
 *
 * This table is the single source for keys: config.c sets the defaults
 * and reads the file through it, config_print walks it, and
 * doc/sallyport.conf.5 and etc/sallyport.conf.sample follow it. The
 * defaults are file text, so a default can never be something the file
 * could not say.
 */
#include <stddef.h>
#include <string.h>

#include "conf/config_keys.h"

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR	"/var"
#endif
#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc"
#endif

/* Where a key's value lives in struct config. */
#define CONF_AT(field)	offsetof(struct config, field)

const struct conf_key conf_keys[] = {
	{ "hostname", CONF_HOSTNAME, CONF_AT(hostname), NULL, 0, 0, 0,
	    CONF_F_SYSNAME },
	/* Without tls_cert, the mx listener alone (conf_check_tls). */
	{ "listen", CONF_LISTEN, CONF_AT(listen), "*:25 mx, *:587 submission",
	    0, 0, CONF_AT(nlisten), CONF_F_REPEAT },
	{ "mynetworks", CONF_CIDRS, CONF_AT(mynetworks), "127.0.0.0/8 ::1/128",
	    0, 0, CONF_AT(nmynetworks), CONF_F_EMPTY },
	/* PROXY protocol (listen ... proxy): the load balancers that may
	 * speak for a client, and how long the header may take. */
	{ "proxy_trusted", CONF_CIDRS, CONF_AT(proxy_trusted), "", 0, 0,
	    CONF_AT(nproxy_trusted), CONF_F_EMPTY },
	/* The addresses the world connects to and sees our mail come
	 * from (sallyport --selftest --dns); empty: the listeners'. */
	{ "public_addresses", CONF_CIDRS, CONF_AT(public_addresses), "", 0,
	    0, CONF_AT(npublic_addresses), CONF_F_EMPTY },
	{ "proxy_timeout", CONF_DURATION, CONF_AT(proxy_timeout), "5s",
	    1, 300, 0, 0 },
	/* The metrics listener (listen ... metrics): scrapes at once, and
	 * the time one may take (daemon/metrics_http.c). */
	{ "metrics_connections", CONF_UINT, CONF_AT(metrics_connections), "16",
	    1, 64, 0, 0 },
	{ "metrics_timeout", CONF_DURATION, CONF_AT(metrics_timeout), "10s",
	    1, 300, 0, 0 },
	{ "client_deny", CONF_CIDRS, CONF_AT(client_deny), "", 0, 0,
	    CONF_AT(nclient_deny), CONF_F_EMPTY },
	{ "local_domains", CONF_DOMAINS, CONF_AT(local_domains), NULL, 0, 0, 0,
	    CONF_F_EMPTY | CONF_F_HOSTNAME },
	{ "relay_domains", CONF_DOMAINS, CONF_AT(relay_domains), "", 0, 0, 0,
	    CONF_F_EMPTY },
	{ "queue_dir", CONF_PATH, CONF_AT(queue_dir),
	    LOCALSTATEDIR "/spool/sallyport", 0, 0, 0, 0 },
	/* sallyport-sendmail's socket (doc/sallyport-sendmail.8); empty:
	 * no local submission. */
	{ "local_socket", CONF_PATH, CONF_AT(local_socket),
	    "/run/sallyport/sendmail.sock", 0, 0, 0, CONF_F_EMPTY },
	/* Root must be left (user) or stayed in knowingly (run_as_root). */
	{ "user", CONF_STRING, CONF_AT(user), "", 0, 0, 0, CONF_F_EMPTY },
	{ "group", CONF_STRING, CONF_AT(group), "", 0, 0, 0, CONF_F_EMPTY },
	{ "run_as_root", CONF_BOOL, CONF_AT(run_as_root), "no", 0, 0, 0, 0 },
	/* Free space kept on queue_dir's file system; 0: no check. */
	{ "queue_min_free", CONF_SIZE, CONF_AT(queue_min_free), "100M",
	    0, 1ULL << 50, 0, 0 },
	/* How an accepted message is made durable (queue/committer.h);
	 * the journal's bounds are queue/journal.h's JOURNAL_SIZE_MIN and
	 * _MAX, which test_committer compares with these. */
	{ "queue_commit", CONF_COMMIT, CONF_AT(queue_commit), "journal", 0, 0,
	    0, 0 },
	{ "queue_journal_size", CONF_SIZE, CONF_AT(queue_journal_size), "32M",
	    1ULL << 20, 4ULL << 30, 0, 0 },
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
	/* The lines a worker or the runner logs wait here for its log
	 * thread; 0: each thread writes its own (lib/log.c). */
	{ "log_buffer_size", CONF_SIZE, CONF_AT(log_buffer_size), "1M",
	    0, 256ULL << 20, 0, 0 },
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
	/* DNS blocklists at connect, on mx listeners (doc/filtering.md),
	 * as Postfix's postscreen_dnsbl_*: none by default. */
	{ "dnsbl", CONF_DNSBL, CONF_AT(dnsbl), "", 0, 0, 0, CONF_F_EMPTY },
	{ "dnsbl_threshold", CONF_UINT, CONF_AT(dnsbl_threshold), "1",
	    1, 100000, 0, 0 },
	{ "dnsbl_timeout", CONF_DURATION, CONF_AT(dnsbl_timeout), "10s",
	    1, 60, 0, 0 },
	{ "dnsbl_reply", CONF_TEXT, CONF_AT(dnsbl_reply), "", 0, 0, 0,
	    CONF_F_EMPTY },
	/* Milters (doc/filtering.md): none by default; the timeouts and
	 * the default action are Postfix's milter_* defaults. */
	{ "milter", CONF_MILTER, CONF_AT(milters), "", 0, 0,
	    CONF_AT(nmilters), CONF_F_REPEAT | CONF_F_EMPTY },
	{ "milter_timeout_connect", CONF_DURATION,
	    CONF_AT(milter_timeout[MILTER_TIMEOUT_CONNECT]), "30s", 1, 3600,
	    0, 0 },
	{ "milter_timeout_command", CONF_DURATION,
	    CONF_AT(milter_timeout[MILTER_TIMEOUT_COMMAND]), "30s", 1, 3600,
	    0, 0 },
	{ "milter_timeout_eom", CONF_DURATION,
	    CONF_AT(milter_timeout[MILTER_TIMEOUT_EOM]), "100s", 1, 3600,
	    0, 0 },
	{ "milter_default_action", CONF_MILTER_ACTION,
	    CONF_AT(milter_default_action), "tempfail", 0, 0, 0, 0 },
	{ "milter_submission", CONF_BOOL, CONF_AT(milter_submission), "no",
	    0, 0, 0, 0 },
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
	/* Trust the AD bit of dns_servers' answers (DANE, RFC 7672). */
	{ "dnssec", CONF_BOOL, CONF_AT(dnssec), "no", 0, 0, 0, 0 },
	/* SPF (RFC 7208 4.6.4): the RFC's limits are the highest allowed. */
	{ "spf_timeout", CONF_DURATION, CONF_AT(spf_timeout), "20s",
	    1, 300, 0, 0 },
	{ "spf_max_lookups", CONF_UINT, CONF_AT(spf_max_lookups), "10",
	    1, 10, 0, 0 },
	{ "spf_max_void_lookups", CONF_UINT, CONF_AT(spf_max_void_lookups),
	    "2", 0, 10, 0, 0 },
	{ "spf_max_names", CONF_UINT, CONF_AT(spf_max_names), "10",
	    1, 10, 0, 0 },
	{ "spf_max_record_size", CONF_SIZE, CONF_AT(spf_max_record_size),
	    "4k", 512, 65535, 0, 0 },
	/* Checks of incoming mail on mx listeners (doc/authentication.md):
	 * recorded in Authentication-Results by default, refusing nothing. */
	{ "spf_policy", CONF_AUTH_POLICY, CONF_AT(spf_policy), "header",
	    0, 0, 0, 0 },
	{ "dkim_policy", CONF_DKIM_POLICY, CONF_AT(dkim_policy), "header",
	    0, 0, 0, 0 },
	{ "dmarc_policy", CONF_AUTH_POLICY, CONF_AT(dmarc_policy), "header",
	    0, 0, 0, 0 },
	{ "dkim_timeout", CONF_DURATION, CONF_AT(dkim_timeout), "20s",
	    1, 300, 0, 0 },
	{ "dmarc_timeout", CONF_DURATION, CONF_AT(dmarc_timeout), "20s",
	    1, 300, 0, 0 },
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
	/* Who checks passwords: Cyrus SASL (the sasl_pwcheck_method), or
	 * Dovecot's auth service as Postfix's smtpd_sasl_type = dovecot. */
	{ "sasl_backend", CONF_SASLBACKEND, CONF_AT(sasl_backend), "cyrus",
	    0, 0, 0, 0 },
	{ "sasl_dovecot_path", CONF_PATH, CONF_AT(sasl_dovecot_path),
	    "/run/dovecot/auth-client", 0, 0, 0, 0 },
	{ "max_auth_failures", CONF_UINT, CONF_AT(max_auth_failures), "3",
	    1, 100, 0, 0 },
	{ "auth_timeout", CONF_DURATION, CONF_AT(auth_timeout), "30s", 1, 300,
	    0, 0 },
	{ "auth_threads", CONF_UINT, CONF_AT(auth_threads), "4", 1, 64, 0, 0 },
	{ "sender_login_check", CONF_BOOL, CONF_AT(sender_login_check), "no",
	    0, 0, 0, 0 },
	{ "login_max_messages_per_day", CONF_UINT,
	    CONF_AT(login_max_messages_per_day), "0", 0, 1000000, 0, 0 },
	{ "login_max_recipients_per_day", CONF_UINT,
	    CONF_AT(login_max_recipients_per_day), "0", 0, 100000, 0, 0 },
	/* Loaded by conf_finish (conf_load_sender_map). */
	{ "sender_login_map", CONF_PATH, CONF_AT(sender_login_map), "", 0, 0,
	    0, CONF_F_EMPTY },
	/* SRS for forwards to other domains (auth/srs.h): off without a
	 * secret; srs_secret_file's lines come after srs_secret's. */
	{ "srs_secret", CONF_SECRETS, CONF_AT(srs_secrets), "", 0, 0, 0,
	    CONF_F_REPEAT | CONF_F_EMPTY },
	{ "srs_secret_file", CONF_PATH, CONF_AT(srs_secret_file), "", 0, 0,
	    0, CONF_F_EMPTY },
	{ "srs_domain", CONF_HOSTNAME, CONF_AT(srs_domain), NULL, 0, 0, 0,
	    CONF_F_HOSTNAME },
	/* Delivery. The recipient table (aliases, mailbox_users,
	 * catchall, recipients, recipient_delimiter) is loaded by
	 * conf_finish once all are known. */
	{ "delivery", CONF_BOOL, CONF_AT(delivery), "yes", 0, 0, 0, 0 },
	{ "local_delivery", CONF_DELIVERY, CONF_AT(local_delivery),
	    "maildir:" LOCALSTATEDIR "/mail/%d/%u/Maildir", 0, 0, 0, 0 },
	{ "aliases", CONF_PATH, CONF_AT(aliases), "", 0, 0, 0, CONF_F_EMPTY },
	{ "mailbox_users", CONF_LOCALPARTS, CONF_AT(mailbox_users), "",
	    0, 0, 0, CONF_F_EMPTY },
	{ "catchall", CONF_LOCALPART, CONF_AT(catchall), "", 0, 0, 0,
	    CONF_F_EMPTY },
	{ "recipients", CONF_PATH, CONF_AT(recipients), "", 0, 0, 0,
	    CONF_F_EMPTY },
	{ "recipient_delimiter", CONF_DELIMITER, CONF_AT(recipient_delimiter),
	    "", 0, 0, 0, CONF_F_EMPTY },
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
	{ "delivery_reuse_time", CONF_DURATION, CONF_AT(delivery_reuse_time),
	    "2s", 0, 300, 0, 0 },
	{ "delivery_reuse_limit", CONF_UINT, CONF_AT(delivery_reuse_limit),
	    "100", 1, 100000, 0, 0 },
	/* DKIM signing: keys are loaded and checked with the file. */
	{ "dkim_sign", CONF_DKIM_SIGN, CONF_AT(dkim_sign), "", 0, 0,
	    CONF_AT(ndkim_sign), CONF_F_REPEAT | CONF_F_EMPTY },
	{ "dkim_sign_subdomains", CONF_BOOL, CONF_AT(dkim_sign_subdomains),
	    "no", 0, 0, 0, 0 },
	/* The header is held in memory while a message is signed. */
	{ "dkim_sign_max_header", CONF_SIZE, CONF_AT(dkim_sign_max_header),
	    "256k", 1024, 16ULL << 20, 0, 0 },
	/* TLS-RPT (RFC 8460): off, as Postfix's smtp_tlsrpt_enable; the
	 * names' empty defaults are the hostname, postmaster@hostname. */
	{ "tls_reporting", CONF_BOOL, CONF_AT(tls_reporting), "no", 0, 0, 0,
	    0 },
	{ "tls_report_org", CONF_HOSTNAME, CONF_AT(tls_report_org), "", 0, 0,
	    0, CONF_F_EMPTY },
	{ "tls_report_contact", CONF_ADDRESS, CONF_AT(tls_report_contact), "",
	    0, 0, 0, CONF_F_EMPTY },
	{ "tls_report_from", CONF_ADDRESS, CONF_AT(tls_report_from), "", 0, 0,
	    0, CONF_F_EMPTY },
	{ "tls_report_max_domains", CONF_UINT, CONF_AT(tls_report_max_domains),
	    "1000", 1, 1000000, 0, 0 },
	{ "tls_report_max_entries", CONF_UINT, CONF_AT(tls_report_max_entries),
	    "100", 1, 10000, 0, 0 },
	{ "tls_report_max_recipients", CONF_UINT,
	    CONF_AT(tls_report_max_recipients), "5", 1, 16, 0, 0 },
	/* MTA-STS: the policy fetch bounded as RFC 8461 3.3 asks; the
	 * timeout is postfix-mta-sts-resolver's. */
	{ "mta_sts", CONF_BOOL, CONF_AT(mta_sts), "yes", 0, 0, 0, 0 },
	{ "mta_sts_ca_file", CONF_PATH, CONF_AT(mta_sts_ca_file), "",
	    0, 0, 0, CONF_F_EMPTY },
	{ "mta_sts_max_size", CONF_SIZE, CONF_AT(mta_sts_max_size), "64k",
	    1024, 1 << 20, 0, 0 },
	{ "mta_sts_timeout", CONF_DURATION, CONF_AT(mta_sts_timeout), "4s",
	    1, 300, 0, 0 },
};

const size_t conf_nkeys = sizeof(conf_keys) / sizeof(conf_keys[0]);

/* A parse keeps one line number per key (struct conf_parse). */
_Static_assert(sizeof(conf_keys) / sizeof(conf_keys[0]) <= CONF_KEYS_MAX,
    "conf_keys[] has more rows than CONF_KEYS_MAX");

/* conf_key_index - a key's row in conf_keys[]; conf_nkeys if none */
size_t
conf_key_index(const char *name)
{
	size_t	 i;

	for (i = 0; i < conf_nkeys; i++)
		if (strcmp(name, conf_keys[i].name) == 0)
			break;
	return i;
}
