/*
 * config - sallyport.conf parsed into an immutable snapshot.
 *
 * The file is `key = value` lines with `#` comments; lists are separated
 * by commas or blanks; `listen` may repeat. Every key is described once,
 * in the table in config_keys.c (type, default, bounds). A reload builds a new
 * struct config and swaps it in whole; nobody edits a loaded one.
 */
#ifndef SALLYPORT_CONFIG_H
#define SALLYPORT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "lib/netaddr.h"

struct alias_table;
struct rcpt_table;
struct sender_map;

enum listen_role {
	ROLE_MX,		/* port 25: mail for our domains from anyone */
	ROLE_SUBMISSION,	/* port 587: clients submitting mail */
	ROLE_SUBMISSIONS,	/* port 465: submission over implicit TLS */
	ROLE_LOCAL,		/* local_socket: sallyport-sendmail, a
				 * trusted local client (never a `listen`
				 * line's role) */
	ROLE_METRICS,		/* `/metrics` over HTTP (OpenMetrics text),
				 * never SMTP */
};

struct listen_spec {
	char		*host;		/* NULL for "*" (all addresses) */
	char		*port;		/* numeric port, as text */
	enum listen_role role;
	/* "proxy": every connection starts with a PROXY v1/v2 header
	 * from an address in proxy_trusted (SMTP roles only). */
	bool		 proxy;
};

struct strlist {
	char	**v;
	size_t	  n;
};

/* SHA-256 of a configuration file's bytes, as hex with its NUL. */
#define CONFIG_DIGEST_HEX	65

/* One dkim_sign line: a key our mail from domain is signed with. */
struct dkim_sign_key {
	char		*domain;	/* lower case, no trailing dot */
	char		*selector;	/* lower case */
	char		*keyfile;
	struct evp_pkey_st *pkey;	/* EVP_PKEY: RSA >= 2048 or Ed25519 */
	unsigned	 line;		/* of the configuration file */
};

/* What a milter's failure (down, slow, broken) does to the session. */
enum milter_action {
	MILTER_ACTION_ACCEPT,		/* skip that milter from then on */
	MILTER_ACTION_TEMPFAIL,		/* 451 4.7.1 to what it would see */
	MILTER_ACTION_REJECT,		/* 550 5.7.1 to what it would see */
};

/* The milter timeouts, per step (milter_timeout_*). */
enum milter_step_timeout {
	MILTER_TIMEOUT_CONNECT,		/* connect and negotiation */
	MILTER_TIMEOUT_COMMAND,		/* any other command's reply */
	MILTER_TIMEOUT_EOM,		/* the end of message's replies */
	MILTER_TIMEOUT_COUNT
};

/* One milter line: "NAME unix:PATH|inet:HOST:PORT [option=value ...]".
 * The options left out take the global keys' values (conf_finish). */
struct milter_spec {
	char		*name;
	char		*socket;	/* canonical: "unix:/path",
					 * "inet:127.0.0.1:8891",
					 * "inet:[::1]:8891" */
	struct sockaddr_storage addr;	/* where to connect */
	socklen_t	 addrlen;
	unsigned	 timeout[MILTER_TIMEOUT_COUNT];	/* seconds */
	enum milter_action default_action;
	unsigned	 set;		/* options given on the line: bit
					 * MILTER_TIMEOUT_*, and 1 <<
					 * MILTER_TIMEOUT_COUNT for the action */
	unsigned	 line;		/* of the configuration file */
};

struct config {
	char		*path;		/* file it was read from */
	char		 digest[CONFIG_DIGEST_HEX];	/* of the bytes parsed
					 * (config_load); "" from memory */
	char		*hostname;	/* FQDN for the greeting and Received */
	struct listen_spec *listen;
	size_t		 nlisten;
	struct cidr	*mynetworks;
	size_t		 nmynetworks;
	struct cidr	*proxy_trusted;	/* who may send a PROXY header */
	size_t		 nproxy_trusted;
	struct cidr	*public_addresses;	/* where the world sees us:
					 * single addresses (--selftest
					 * --dns); empty: the listeners' */
	size_t		 npublic_addresses;
	unsigned	 proxy_timeout;	/* seconds for the whole header */
	unsigned	 metrics_connections;	/* scrapes open at once */
	unsigned	 metrics_timeout;	/* seconds for one scrape */
	struct cidr	*client_deny;	/* refused at the greeting */
	size_t		 nclient_deny;
	struct strlist	 local_domains;	/* lower case, no trailing dot */
	struct strlist	 relay_domains;
	char		*queue_dir;
	char		*local_socket;	/* sallyport-sendmail's; NULL: none */
	char		*user;		/* drop privileges to this user; NULL: stay */
	char		*group;		/* NULL: the user's primary group */
	bool		 run_as_root;	/* root without `user` is allowed */
	uint64_t	 queue_min_free;	/* bytes kept free; 0: no check */
	char		*queue_commit;	/* "journal", "files": doc/queue.md */
	uint64_t	 queue_journal_size;	/* bytes, each worker's */
	uint64_t	 max_message_size;	/* bytes */
	unsigned	 max_recipients;
	unsigned	 max_hops;	/* Received: fields, then 554 5.4.6 */
	unsigned	 max_connections;
	unsigned	 workers;	/* 0: one per two online CPUs */
	uint64_t	 log_buffer_size; /* a process's log ring; 0: none */
	unsigned	 max_errors;		/* bad commands before 421 */
	unsigned	 command_timeout;	/* seconds */
	unsigned	 data_timeout;		/* seconds */
	unsigned	 shutdown_timeout;	/* seconds */
	/* Hardening: limits on what one client may take. */
	unsigned	 max_connections_per_ip;
	unsigned	 ipv6_client_prefix;	/* bits: IPv6 clients count by it */
	unsigned	 soft_error_limit;	/* then each error reply waits 1s */
	unsigned	 command_deadline;	/* seconds for one whole command line */
	unsigned	 min_data_rate;		/* bytes/s over DATA after 30s; 0: off */
	unsigned	 greet_pause;		/* seconds before the 220; 0: off */
	struct strlist	 dnsbl;			/* ZONE[=FILTER][*WEIGHT] */
	unsigned	 dnsbl_threshold;	/* score that refuses a client */
	unsigned	 dnsbl_timeout;		/* seconds the verdict may take */
	char		*dnsbl_reply;		/* text after 554 5.7.1; NULL:
						 * Postfix's */
	/* Milters (daemon/milter*.c), in the order they run. */
	struct milter_spec *milters;
	size_t		 nmilters;
	unsigned	 milter_timeout[MILTER_TIMEOUT_COUNT];	/* seconds:
					 * milter_timeout_connect, _command, _eom */
	char		*milter_default_action;	/* "accept", "tempfail",
						 * "reject" */
	bool		 milter_submission;	/* also on submission listeners */
	unsigned	 max_auth_failures_per_ip;	/* per auth_failure_window */
	unsigned	 auth_failure_window;	/* seconds */
	/* Policy switches for clients neither trusted nor authenticated. */
	bool		 allow_untrusted_routing;	/* %, !, @, source routes */
	bool		 reject_unqualified_sender;	/* 553: no domain */
	bool		 reject_non_fqdn_sender;	/* 553: localhost, one label */
	bool		 reject_unknown_sender_domain;	/* 501: no MX/A/AAAA */
	char		*bare_newline;		/* "reject", "normalize" */
	char		*bare_newline_clients;	/* "trusted", "all" */
	struct strlist	 dns_servers;	/* "IP" or "IP:port"; empty: resolv.conf */
	unsigned	 dns_timeout;	/* seconds, per lookup */
	bool		 dnssec;	/* dns_servers validate: trust their AD bit */
	/* SPF checks: the limits of RFC 7208 4.6.4, and time. */
	unsigned	 spf_timeout;		/* seconds for one whole check */
	unsigned	 spf_max_lookups;	/* terms that ask DNS */
	unsigned	 spf_max_void_lookups;	/* of them, answered empty */
	unsigned	 spf_max_names;		/* MX or PTR names of one term */
	uint64_t	 spf_max_record_size;	/* bytes of one SPF record */
	/* Checks of mail from others on mx listeners (daemon/mxcheck.c):
	 * "off", "header" (record in Authentication-Results), "enforce". */
	char		*spf_policy;
	char		*dkim_policy;		/* "off" or "header" */
	char		*dmarc_policy;
	unsigned	 dkim_timeout;		/* seconds for the key lookups */
	unsigned	 dmarc_timeout;		/* seconds for the policy lookups */
	/* TLS: no certificate means no STARTTLS (and no submission). */
	char		*tls_cert;	/* PEM, full chain; NULL: none */
	char		*tls_key;	/* PEM private key; NULL: in tls_cert */
	char		*tls_ca_file;	/* client certificates; NULL: none */
	struct strlist	 tls_protocols;	/* "TLSv1.2", "TLSv1.3" */
	char		*tls_ciphers;	/* OpenSSL list for TLS 1.2 */
	unsigned	 tls_handshake_timeout;	/* seconds */
	/* SMTP AUTH through Cyrus SASL. */
	struct strlist	 sasl_mechanisms;	/* empty: all the backend has */
	char		*sasl_pwcheck_method;	/* "auxprop" or "saslauthd" */
	char		*sasl_sasldb_path;	/* for auxprop (sasldb) */
	char		*sasl_saslauthd_path;	/* saslauthd's socket directory */
	char		*sasl_backend;		/* "cyrus" or "dovecot" */
	char		*sasl_dovecot_path;	/* Dovecot's auth-client socket */
	unsigned	 max_auth_failures;	/* then 421 */
	unsigned	 auth_timeout;		/* seconds a SASL answer may take */
	unsigned	 auth_threads;		/* SASL threads, stuck ones too */
	bool		 sender_login_check;	/* MAIL FROM must be the user's */
	char		*sender_login_map;	/* login -> addresses; NULL: none */
	unsigned	 login_max_messages_per_day;	/* 0: no limit */
	unsigned	 login_max_recipients_per_day;	/* distinct; 0: none */
	struct sender_map *sender_map;		/* that file, loaded with the config */
	struct strlist	 srs_secrets;		/* the first signs; empty: no SRS */
	char		*srs_secret_file;	/* more secrets, one a line */
	char		*srs_domain;		/* SRS addresses' domain */
	/* Delivery. */
	bool		 delivery;		/* run the queue runner */
	char		*local_delivery;	/* "maildir:TEMPLATE", "lmtp:unix:PATH",
						 * "lmtp:HOST:PORT" */
	char		*aliases;		/* alias file; NULL: none */
	struct strlist	 mailbox_users;		/* local parts with a mailbox */
	char		*catchall;		/* user for unknown local parts */
	struct alias_table *alias_table;	/* aliases, loaded with the config */
	char		*recipients;		/* recipient table file; NULL: none */
	char		*recipient_delimiter;	/* e.g. "+"; NULL: none */
	struct rcpt_table *rcpt_table;		/* recipients, with alias_table */
	struct cidr	*own_addresses;		/* ours, not on an interface */
	size_t		 nown_addresses;
	bool		 mx_allow_loopback;	/* lab: 127/8 MX hosts */
	char		*smarthost;		/* "[HOST]:PORT"/"HOST:PORT"; NULL: MX */
	char		*smarthost_tls;		/* "required", "opportunistic", "none",
						 * "dane" */
	char		*mime_8bit_downgrade;	/* "convert", "bounce": 8-bit mail
						 * for a next hop without 8BITMIME */
	char		*smarthost_ca_file;	/* NULL: the system store */
	char		*smarthost_auth_file;	/* "user password" line; NULL: no AUTH */
	unsigned	 queue_lifetime;	/* seconds, then bounce */
	unsigned	 retry_min, retry_max;	/* seconds, backoff bounds */
	unsigned	 delivery_concurrency;	/* connections overall */
	unsigned	 delivery_per_destination;
	unsigned	 delivery_timeout;	/* seconds per network step */
	unsigned	 delivery_reuse_time;	/* seconds a session waits idle
						 * for the next message; 0: none */
	unsigned	 delivery_reuse_limit;	/* messages per session */
	/* DKIM signing of mail from authenticated and trusted clients. */
	struct dkim_sign_key *dkim_sign;	/* in the file's order */
	size_t		 ndkim_sign;
	bool		 dkim_sign_subdomains;	/* a parent's key signs for
						 * its subdomains */
	uint64_t	 dkim_sign_max_header;	/* bytes of header kept to
						 * sign; larger: unsigned */
	/* TLS-RPT (RFC 8460): outbound sessions recorded, reports sent. */
	bool		 tls_reporting;
	char		*tls_report_org;	/* NULL: hostname */
	char		*tls_report_contact;	/* NULL: postmaster@hostname */
	char		*tls_report_from;	/* NULL: postmaster@hostname */
	unsigned	 tls_report_max_domains;	/* reported a day */
	unsigned	 tls_report_max_entries;	/* policies of a domain,
						 * failure details of one */
	unsigned	 tls_report_max_recipients;	/* rua addresses used */
	/* MTA-STS (RFC 8461) for delivery to MX hosts. */
	bool		 mta_sts;		/* look for policies, apply them */
	char		*mta_sts_ca_file;	/* NULL: the system store */
	uint64_t	 mta_sts_max_size;	/* bytes of a policy */
	unsigned	 mta_sts_timeout;	/* seconds for one policy fetch */
};

/* Parse a file. On success returns the config; on failure returns NULL
 * and sets *errors to a malloc'd text of "file:line: message\n" lines
 * (also set, possibly empty, on success when warnings were found: NULL
 * when there is nothing to say). */
struct config	*config_load(const char *path, char **errors);
/* config_load for a command line: its errors and warnings written to
 * stderr as they are. */
struct config	*config_load_tell(const char *path);
/* config_load reading only the keys of `only` (a NULL-ended list),
 * the others left at their defaults, without the checks across keys
 * or the files other keys name (DKIM keys, aliases): for a program run
 * by any user that needs a few values (sallyport-sendmail). */
struct config	*config_load_keys(const char *path, const char *const *only,
		    char **errors);
/* Same for text in memory; `name` stands for the file in messages. */
struct config	*config_parse(const char *text, const char *name, char **errors);
void		 config_free(struct config *);
/* The effective configuration, every key, in the file's own syntax. */
void		 config_print(const struct config *, FILE *);

const char	*config_role_name(enum listen_role);
/* A listen line as the logs name it, "[::1]:25 mx" or "*:587
 * submission", with " proxy" after it if proxy. */
void		 config_listen_name(const struct listen_spec *, bool proxy,
		    char *out, size_t outlen);
/* True when delivery hands off to qmail-queue, a program that is
 * set-user-ID (qmailq) in a real qmail: the process running it must be
 * free to gain that user (no PR_SET_NO_NEW_PRIVS). */
bool		 config_qmail_queue(const struct config *);
/* The keys mail from domain (lower case) is signed with: its own, else,
 * with dkim_sign_subdomains, those of its nearest parent that has any.
 * Up to max in out; returns how many. */
size_t		 config_dkim_keys(const struct config *, const char *domain,
		    const struct dkim_sign_key **out, size_t max);

#endif
