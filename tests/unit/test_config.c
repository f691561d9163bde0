/*
 * test_config - sallyport.conf parsing: every key, the defaults, every
 * kind of mistake (all reported at once, with their lines), the printed
 * form parsing back, and the sample file shipped with the sources.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "conf/aliases.h"
#include "conf/config.h"

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR	"/var"
#endif
#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc"
#endif

/* Mozilla's intermediate TLS 1.2 list: the tls_ciphers default. */
#define MOZILLA_INTERMEDIATE \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:" \
    "DHE-RSA-CHACHA20-POLY1305"

/*
 * The hostname default comes from gethostname(). This definition takes
 * the place of the C library's for the code under test, so that the
 * tests do not depend on the name of the machine they run on and can
 * try a system name that is no domain name. Each Criterion test runs
 * in its own process, so a test may change it freely.
 */
static const char *sysname = "MX.Test-Host.Example";

int
gethostname(char *name, size_t len)
{
	if (strlen(sysname) >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(name, sysname);
	return 0;
}

/* ok - parse text that must be clean: no error, no warning */
static struct config *
ok(const char *text)
{
	char		*errors = NULL;
	struct config	*cfg = config_parse(text, "t.conf", &errors);

	cr_assert_not_null(cfg, "parse failed:\n%s", errors ? errors : "");
	cr_assert_null(errors, "unexpected messages:\n%s", errors);
	return cfg;
}

/* fails - parse text that must fail; returns the messages */
static char *
fails(const char *text)
{
	char		*errors = NULL;
	struct config	*cfg = config_parse(text, "t.conf", &errors);

	cr_assert_null(cfg, "parse of \"%s\" succeeded", text);
	cr_assert_not_null(errors);
	cr_assert_gt(strlen(errors), 0);
	cr_assert_eq(errors[strlen(errors) - 1], '\n');
	return errors;
}

/* fails_with - the one error of text is exactly `want` (with its
 * "t.conf:line: " and newline) */
static void
fails_with(const char *text, const char *want)
{
	char	*errors = fails(text);

	cr_assert_str_eq(errors, want, "for \"%s\"", text);
	free(errors);
}

/* fails_like - the errors of text contain `want` */
static void
fails_like(const char *text, const char *want)
{
	char	*errors = fails(text);

	cr_assert(strstr(errors, want) != NULL, "for \"%s\" got:\n%swanted "
	    "\"%s\"", text, errors, want);
	free(errors);
}

static char *
print(const struct config *cfg)
{
	char	*out = NULL;
	size_t	 len = 0;
	FILE	*fp = open_memstream(&out, &len);

	cr_assert_not_null(fp);
	config_print(cfg, fp);
	fclose(fp);
	return out;
}

static bool
trusted(const struct config *cfg, const char *addr)
{
	struct sockaddr_storage	 ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		cr_assert_eq(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		cr_assert_eq(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
	}
	return cidr_match_any(cfg->mynetworks, cfg->nmynetworks,
	    (struct sockaddr *)&ss);
}

static const char full[] =
    "# every key, none at its default\n"
    "hostname = MX1.Example.ORG.\n"
    "listen = 192.0.2.1:25 mx\n"
    "listen = [2001:db8::1]:2525 mx\n"
    "listen = *:587\n"
    "listen = 127.0.0.1:10025 submission\n"
    "mynetworks = 10.0.0.0/8, 192.168.1.7 2001:db8::/32\n"
    "local_domains = example.org, Mail.Example.ORG. [192.0.2.1] "
    "[IPv6:2001:DB8:0:0::1]\n"
    "relay_domains = example.net\n"
    "queue_dir = /srv/mail/queue\n"
    "user = _sallyport\n"
    "max_message_size = 10m\n"
    "max_recipients = 50\n"
    "max_connections = 200\n"
    "max_errors = 5\n"
    "command_timeout = 2m\n"
    "data_timeout = 1h\n"
    "shutdown_timeout = 30\n"
    "allow_untrusted_routing = yes\n"
    "reject_unqualified_sender = off\n"
    "reject_non_fqdn_sender = FALSE\n"
    "reject_unknown_sender_domain = 0\n"
    "dns_servers = 127.0.0.1:05353, [0::1]:5353 192.0.2.53 "
    "[2001:DB8::53]\n"
    "dns_timeout = 1m\n"
    "tls_cert = /etc/ssl/mx1/fullchain.pem\n"
    "tls_key = /etc/ssl/private/mx1.key\n"
    "tls_ca_file = /etc/ssl/certs/ca-certificates.crt\n"
    "tls_protocols = tlsv1.3\n"
    "tls_ciphers = HIGH:!aNULL:!MD5:@STRENGTH\n"
    "tls_handshake_timeout = 10\n"
    "sasl_mechanisms = plain, Login scram-sha-256\n"
    "sasl_pwcheck_method = SASLauthd\n"
    "sasl_sasldb_path = /srv/sasl/sasldb2\n"
    "sasl_saslauthd_path = /run/saslauthd\n"
    "sasl_backend = Dovecot\n"
    "sasl_dovecot_path = /var/spool/postfix/private/auth\n"
    "max_auth_failures = 5\n"
    "sender_login_check = yes\n"
    "local_delivery = lmtp:[::1]:24\n"
    "aliases = /dev/null\n"
    "mailbox_users = Alice, bob.smith+tag\n"
    "catchall = Alice\n"
    "smarthost = [Relay.Example.NET]:587\n"
    "smarthost_tls = Opportunistic\n"
    "smarthost_ca_file = /etc/ssl/relay-ca.pem\n"
    "smarthost_auth_file = /etc/sallyport/relay-auth\n"
    "queue_lifetime = 2d\n"
    "retry_min = 1m\n"
    "retry_max = 2h\n"
    "delivery_concurrency = 50\n"
    "delivery_per_destination = 2\n"
    "delivery_timeout = 10m\n";

static void
check_full(const struct config *cfg)
{
	cr_assert_str_eq(cfg->hostname, "mx1.example.org");
	cr_assert_eq(cfg->nlisten, 4);
	cr_assert_str_eq(cfg->listen[0].host, "192.0.2.1");
	cr_assert_str_eq(cfg->listen[0].port, "25");
	cr_assert_eq(cfg->listen[0].role, ROLE_MX);
	cr_assert_str_eq(cfg->listen[1].host, "2001:db8::1");
	cr_assert_str_eq(cfg->listen[1].port, "2525");
	cr_assert_eq(cfg->listen[1].role, ROLE_MX);
	cr_assert_null(cfg->listen[2].host);
	cr_assert_str_eq(cfg->listen[2].port, "587");
	cr_assert_eq(cfg->listen[2].role, ROLE_SUBMISSION);
	cr_assert_str_eq(cfg->listen[3].host, "127.0.0.1");
	cr_assert_str_eq(cfg->listen[3].port, "10025");
	cr_assert_eq(cfg->listen[3].role, ROLE_SUBMISSION);

	cr_assert_eq(cfg->nmynetworks, 3);
	cr_assert_eq(cfg->mynetworks[0].family, AF_INET);
	cr_assert_eq(cfg->mynetworks[0].prefix, 8);
	cr_assert_eq(cfg->mynetworks[1].prefix, 32);
	cr_assert_eq(cfg->mynetworks[2].family, AF_INET6);
	cr_assert_eq(cfg->mynetworks[2].prefix, 32);
	cr_assert(trusted(cfg, "10.20.30.40"));
	cr_assert(trusted(cfg, "::ffff:192.168.1.7"));
	cr_assert(trusted(cfg, "2001:db8:1::25"));
	cr_assert_not(trusted(cfg, "127.0.0.1"), "default replaced");

	cr_assert_eq(cfg->local_domains.n, 4);
	cr_assert_str_eq(cfg->local_domains.v[0], "example.org");
	cr_assert_str_eq(cfg->local_domains.v[1], "mail.example.org");
	cr_assert_str_eq(cfg->local_domains.v[2], "[192.0.2.1]");
	cr_assert_str_eq(cfg->local_domains.v[3], "[IPv6:2001:db8::1]");
	cr_assert_eq(cfg->relay_domains.n, 1);
	cr_assert_str_eq(cfg->relay_domains.v[0], "example.net");
	cr_assert_str_eq(cfg->queue_dir, "/srv/mail/queue");
	cr_assert_str_eq(cfg->user, "_sallyport");
	cr_assert_eq(cfg->max_message_size, 10 * 1024 * 1024);
	cr_assert_eq(cfg->max_recipients, 50);
	cr_assert_eq(cfg->max_connections, 200);
	cr_assert_eq(cfg->max_errors, 5);
	cr_assert_eq(cfg->command_timeout, 120);
	cr_assert_eq(cfg->data_timeout, 3600);
	cr_assert_eq(cfg->shutdown_timeout, 30);
	cr_assert(cfg->allow_untrusted_routing);
	cr_assert_not(cfg->reject_unqualified_sender);
	cr_assert_not(cfg->reject_non_fqdn_sender);
	cr_assert_not(cfg->reject_unknown_sender_domain);
	cr_assert_eq(cfg->dns_servers.n, 4);
	cr_assert_str_eq(cfg->dns_servers.v[0], "127.0.0.1:5353");
	cr_assert_str_eq(cfg->dns_servers.v[1], "[::1]:5353");
	cr_assert_str_eq(cfg->dns_servers.v[2], "192.0.2.53");
	cr_assert_str_eq(cfg->dns_servers.v[3], "[2001:db8::53]");
	cr_assert_eq(cfg->dns_timeout, 60);

	cr_assert_str_eq(cfg->tls_cert, "/etc/ssl/mx1/fullchain.pem");
	cr_assert_str_eq(cfg->tls_key, "/etc/ssl/private/mx1.key");
	cr_assert_str_eq(cfg->tls_ca_file,
	    "/etc/ssl/certs/ca-certificates.crt");
	cr_assert_eq(cfg->tls_protocols.n, 1);
	cr_assert_str_eq(cfg->tls_protocols.v[0], "TLSv1.3");
	cr_assert_str_eq(cfg->tls_ciphers, "HIGH:!aNULL:!MD5:@STRENGTH");
	cr_assert_eq(cfg->tls_handshake_timeout, 10);
	cr_assert_eq(cfg->sasl_mechanisms.n, 3);
	cr_assert_str_eq(cfg->sasl_mechanisms.v[0], "PLAIN");
	cr_assert_str_eq(cfg->sasl_mechanisms.v[1], "LOGIN");
	cr_assert_str_eq(cfg->sasl_mechanisms.v[2], "SCRAM-SHA-256");
	cr_assert_str_eq(cfg->sasl_pwcheck_method, "saslauthd");
	cr_assert_str_eq(cfg->sasl_sasldb_path, "/srv/sasl/sasldb2");
	cr_assert_str_eq(cfg->sasl_saslauthd_path, "/run/saslauthd");
	cr_assert_str_eq(cfg->sasl_backend, "dovecot");
	cr_assert_str_eq(cfg->sasl_dovecot_path,
	    "/var/spool/postfix/private/auth");
	cr_assert_eq(cfg->max_auth_failures, 5);
	cr_assert(cfg->sender_login_check);

	cr_assert_str_eq(cfg->local_delivery, "lmtp:[::1]:24");
	cr_assert_str_eq(cfg->aliases, "/dev/null");
	cr_assert_eq(cfg->mailbox_users.n, 2);
	cr_assert_str_eq(cfg->mailbox_users.v[0], "alice");
	cr_assert_str_eq(cfg->mailbox_users.v[1], "bob.smith+tag");
	cr_assert_str_eq(cfg->catchall, "alice");
	cr_assert_not_null(cfg->alias_table);
	cr_assert_str_eq(cfg->smarthost, "[relay.example.net]:587");
	cr_assert_str_eq(cfg->smarthost_tls, "opportunistic");
	cr_assert_str_eq(cfg->smarthost_ca_file, "/etc/ssl/relay-ca.pem");
	cr_assert_str_eq(cfg->smarthost_auth_file,
	    "/etc/sallyport/relay-auth");
	cr_assert_eq(cfg->queue_lifetime, 2 * 86400);
	cr_assert_eq(cfg->retry_min, 60);
	cr_assert_eq(cfg->retry_max, 7200);
	cr_assert_eq(cfg->delivery_concurrency, 50);
	cr_assert_eq(cfg->delivery_per_destination, 2);
	cr_assert_eq(cfg->delivery_timeout, 600);
}

Test(config, every_key)
{
	struct config *cfg = ok(full);

	cr_assert_str_eq(cfg->path, "t.conf");
	check_full(cfg);
	config_free(cfg);
}

Test(config, defaults)
{
	struct config	*cfg = ok("");
	const char	*sys = "mx.test-host.example";

	cr_assert_str_eq(cfg->hostname, sys, "the system's name, lower case");

	/* Submission needs a certificate: without one, the default has
	 * the mx listener alone. */
	cr_assert_eq(cfg->nlisten, 1);
	cr_assert_null(cfg->listen[0].host);
	cr_assert_str_eq(cfg->listen[0].port, "25");
	cr_assert_eq(cfg->listen[0].role, ROLE_MX);

	cr_assert_eq(cfg->nmynetworks, 2);
	cr_assert(trusted(cfg, "127.0.0.1"));
	cr_assert(trusted(cfg, "127.255.0.9"));
	cr_assert(trusted(cfg, "::1"));
	cr_assert(trusted(cfg, "::ffff:127.0.0.1"));
	cr_assert_not(trusted(cfg, "10.0.0.1"));
	cr_assert_not(trusted(cfg, "::2"));

	cr_assert_eq(cfg->local_domains.n, 1);
	cr_assert_str_eq(cfg->local_domains.v[0], sys);
	cr_assert_eq(cfg->relay_domains.n, 0);
	cr_assert_str_eq(cfg->queue_dir, LOCALSTATEDIR "/spool/sallyport");
	cr_assert_null(cfg->user);
	cr_assert_eq(cfg->max_message_size, 25 * 1024 * 1024);
	cr_assert_eq(cfg->max_recipients, 100);
	cr_assert_eq(cfg->max_connections, 1000);
	cr_assert_eq(cfg->max_errors, 20);
	cr_assert_eq(cfg->command_timeout, 300);
	cr_assert_eq(cfg->data_timeout, 600);
	cr_assert_eq(cfg->shutdown_timeout, 10);
	cr_assert_not(cfg->allow_untrusted_routing);
	cr_assert(cfg->reject_unqualified_sender);
	cr_assert(cfg->reject_non_fqdn_sender);
	cr_assert(cfg->reject_unknown_sender_domain);
	cr_assert_eq(cfg->dns_servers.n, 0, "resolv.conf");
	cr_assert_eq(cfg->dns_timeout, 5);

	cr_assert_null(cfg->tls_cert, "no TLS");
	cr_assert_null(cfg->tls_key);
	cr_assert_null(cfg->tls_ca_file);
	cr_assert_eq(cfg->tls_protocols.n, 2);
	cr_assert_str_eq(cfg->tls_protocols.v[0], "TLSv1.2");
	cr_assert_str_eq(cfg->tls_protocols.v[1], "TLSv1.3");
	cr_assert_str_eq(cfg->tls_ciphers, MOZILLA_INTERMEDIATE);
	cr_assert_eq(cfg->tls_handshake_timeout, 30);
	cr_assert_eq(cfg->sasl_mechanisms.n, 0, "whatever SASL offers");
	cr_assert_str_eq(cfg->sasl_pwcheck_method, "auxprop");
	cr_assert_str_eq(cfg->sasl_sasldb_path,
	    SYSCONFDIR "/sallyport/sasldb2");
	cr_assert_str_eq(cfg->sasl_saslauthd_path, "/var/run/saslauthd");
	cr_assert_str_eq(cfg->sasl_backend, "cyrus");
	cr_assert_str_eq(cfg->sasl_dovecot_path, "/run/dovecot/auth-client");
	cr_assert_eq(cfg->max_auth_failures, 3);
	cr_assert_not(cfg->sender_login_check);

	cr_assert_str_eq(cfg->local_delivery,
	    "maildir:" LOCALSTATEDIR "/mail/%d/%u/Maildir");
	cr_assert_null(cfg->aliases);
	cr_assert_eq(cfg->mailbox_users.n, 0);
	cr_assert_null(cfg->catchall);
	cr_assert_not_null(cfg->alias_table, "an open table");
	cr_assert_null(cfg->smarthost, "straight to the MX");
	cr_assert_str_eq(cfg->smarthost_tls, "required");
	cr_assert_str_eq(cfg->mime_8bit_downgrade, "convert");
	cr_assert_null(cfg->smarthost_ca_file);
	cr_assert_null(cfg->smarthost_auth_file);
	cr_assert_eq(cfg->queue_lifetime, 5 * 86400);
	cr_assert_eq(cfg->retry_min, 300);
	cr_assert_eq(cfg->retry_max, 4 * 3600);
	cr_assert_eq(cfg->delivery_concurrency, 20);
	cr_assert_eq(cfg->delivery_per_destination, 5);
	cr_assert_eq(cfg->delivery_timeout, 300);
	config_free(cfg);
}

Test(config, system_name_with_final_dot)
{
	struct config	*cfg;

	sysname = "Host.Example.";
	cfg = ok("");
	cr_assert_str_eq(cfg->hostname, "host.example");
	config_free(cfg);
}

Test(config, system_name_that_is_no_domain)
{
	struct config	*cfg;

	/* Fine as long as the file names the host... */
	sysname = "build_01";
	cfg = ok("hostname = mx.example\n");
	cr_assert_str_eq(cfg->hostname, "mx.example");
	cr_assert_str_eq(cfg->local_domains.v[0], "mx.example");
	config_free(cfg);

	/* ...and an error, not a silent fallback, when it does not. */
	fails_with("max_errors = 3\n", "t.conf: hostname: not set, and the "
	    "system's host name \"build_01\" is not a domain name\n");
	sysname = "";
	fails_like("", "system's host name \"\" is not a domain name");
}

Test(config, local_domains_follow_the_file_hostname)
{
	struct config *cfg = ok("local_domains =\n");

	cr_assert_eq(cfg->local_domains.n, 0, "an empty list stays empty");
	config_free(cfg);

	/* Set after local_domains would have been defaulted: the default
	 * must still be the final hostname. */
	cfg = ok("max_errors = 3\nhostname = Relay.Example.COM\n");
	cr_assert_eq(cfg->local_domains.n, 1);
	cr_assert_str_eq(cfg->local_domains.v[0], "relay.example.com");
	config_free(cfg);
}

Test(config, empty_lists)
{
	struct config *cfg = ok("mynetworks =\nrelay_domains =   # none\n"
	    "user =\n");

	cr_assert_eq(cfg->nmynetworks, 0);
	cr_assert_not(trusted(cfg, "127.0.0.1"), "nobody trusted");
	cr_assert_eq(cfg->relay_domains.n, 0);
	cr_assert_null(cfg->user);
	config_free(cfg);
}

Test(config, comments_and_blanks)
{
	struct config *cfg = ok(
	    "\n"
	    "   \t\n"
	    "# a comment\n"
	    "   # an indented comment = with an equals sign\n"
	    "\tmax_recipients\t=\t7\t\n"
	    "max_errors=3\t# no blanks needed around '='\n"
	    "queue_dir = /var/q#1   # the first # is part of the path\n"
	    "hostname = mx.example.org     \n"
	    "relay_domains = a.example,b.example , c.example\td.example,,\n"
	    "user = # no user\r\n"
	    "command_timeout = 90");	/* no final newline */

	cr_assert_eq(cfg->max_recipients, 7);
	cr_assert_str_eq(cfg->queue_dir, "/var/q#1");
	cr_assert_str_eq(cfg->hostname, "mx.example.org");
	cr_assert_eq(cfg->relay_domains.n, 4);
	cr_assert_str_eq(cfg->relay_domains.v[1], "b.example");
	cr_assert_str_eq(cfg->relay_domains.v[2], "c.example");
	cr_assert_str_eq(cfg->relay_domains.v[3], "d.example");
	cr_assert_null(cfg->user);
	cr_assert_eq(cfg->command_timeout, 90);
	config_free(cfg);
}

Test(config, hash_glued_to_a_number_is_not_a_comment)
{
	/* Only a '#' after a blank starts a comment, so "3#x" is a bad
	 * number, not 3. */
	fails_with("max_errors = 3#x\n",
	    "t.conf:1: max_errors: \"3#x\" is not a number\n");
}

Test(config, crlf_lines)
{
	struct config *cfg = ok("max_errors = 4\r\nhostname = a.example\r\n");

	cr_assert_eq(cfg->max_errors, 4);
	cr_assert_str_eq(cfg->hostname, "a.example");
	config_free(cfg);
}

Test(config, listen_repeats_and_replaces_the_default)
{
	struct config *cfg = ok("listen = 127.0.0.1:2525 mx\n");

	cr_assert_eq(cfg->nlisten, 1, "the default listeners are gone");
	cr_assert_str_eq(cfg->listen[0].host, "127.0.0.1");
	cr_assert_str_eq(cfg->listen[0].port, "2525");
	config_free(cfg);

	cfg = ok("listen = *:25\nmax_errors = 2\nlisten = [::1]:587\n"
	    "listen = [::]:0025 mx\nlisten = 0.0.0.0:26 submission\n"
	    "tls_cert = /etc/ssl/c.pem\n");
	cr_assert_eq(cfg->nlisten, 4);
	cr_assert_eq(cfg->listen[0].role, ROLE_MX);
	cr_assert_str_eq(cfg->listen[1].host, "::1");
	cr_assert_eq(cfg->listen[1].role, ROLE_SUBMISSION);
	cr_assert_str_eq(cfg->listen[2].host, "::");
	cr_assert_str_eq(cfg->listen[2].port, "25", "leading zeros dropped");
	cr_assert_str_eq(cfg->listen[3].host, "0.0.0.0");
	cr_assert_eq(cfg->listen[3].role, ROLE_SUBMISSION);
	config_free(cfg);
}

Test(config, listen_proxy)
{
	struct config	*cfg = ok("listen = 127.0.0.1:2525 mx proxy\n"
			    "listen = [::1]:25 proxy\nlisten = *:26 mx\n"
			    "proxy_trusted = 127.0.0.9 10.0.0.0/8 ::1\n"
			    "proxy_timeout = 30s\n");
	char		*out = print(cfg);

	cr_assert_eq(cfg->nlisten, 3);
	cr_assert(cfg->listen[0].proxy);
	cr_assert_eq(cfg->listen[0].role, ROLE_MX);
	cr_assert(cfg->listen[1].proxy, "the word alone on a standard port");
	cr_assert_eq(cfg->listen[1].role, ROLE_MX);
	cr_assert(!cfg->listen[2].proxy);
	cr_assert_eq(cfg->nproxy_trusted, 3);
	cr_assert_eq(cfg->proxy_timeout, 30);
	cr_assert(strstr(out, "listen = 127.0.0.1:2525 mx proxy\n") != NULL,
	    "%s", out);
	cr_assert(strstr(out, "listen = [::1]:25 mx proxy\n") != NULL);
	cr_assert(strstr(out, "listen = *:26 mx\n") != NULL);
	cr_assert(strstr(out, "proxy_trusted = 127.0.0.9/32 10.0.0.0/8 "
	    "::1/128\n") != NULL, "%s", out);
	cr_assert(strstr(out, "proxy_timeout = 30s\n") != NULL);
	config_free(cfg);
	/* What -n prints reads back as the same. */
	cfg = ok(out);
	cr_assert(cfg->listen[0].proxy && cfg->listen[1].proxy &&
	    !cfg->listen[2].proxy);
	config_free(cfg);
	free(out);

	cfg = ok("");
	cr_assert_eq(cfg->nproxy_trusted, 0, "nobody by default");
	cr_assert_eq(cfg->proxy_timeout, 5);
	for (size_t i = 0; i < cfg->nlisten; i++)
		cr_assert(!cfg->listen[i].proxy);
	config_free(cfg);
}

Test(config, listen_proxy_mistakes)
{
	char	*errors = NULL;
	struct config *cfg;

	/* A proxy listener with nobody to believe: the listen line's. */
	fails_with("max_errors = 3\nlisten = *:25 mx proxy\n",
	    "t.conf:2: listen: proxy needs proxy_trusted (the addresses of "
	    "the load balancers that send the PROXY header)\n");
	fails_with("proxy_trusted =\nlisten = *:26 mx\n"
	    "listen = *:27 mx proxy\nlisten = *:28 mx proxy\n",
	    "t.conf:3: listen: proxy needs proxy_trusted (the addresses of "
	    "the load balancers that send the PROXY header)\n");
	fails_with("listen = *:25 mx PROXY\n",
	    "t.conf:1: listen: unknown option \"PROXY\" (expected proxy)\n");
	fails_like("listen = *:2525 proxy\nproxy_trusted = 127.0.0.1\n",
	    "t.conf:1: listen: role required");
	fails_like("listen = *:25 proxy mx\nproxy_trusted = 127.0.0.1\n",
	    "unknown option \"mx\"");
	fails_like("proxy_trusted = 127.0.0.1/8\n", "t.conf:1: proxy_trusted: "
	    "\"127.0.0.1/8\" has host bits set");
	fails_like("proxy_timeout = 0\n", "t.conf:1: proxy_timeout: ");
	fails_like("proxy_timeout = 301s\n", "above the maximum 5m");
	fails_with("listen = *:25 mx proxy\nlisten = *:25 mx\n"
	    "proxy_trusted = 127.0.0.1\n",
	    "t.conf:2: listen: *:25 is listed twice\n");

	/* Set without a proxy listener: said, not refused. */
	cfg = config_parse("proxy_trusted = 192.0.2.1\n", "t.conf", &errors);
	cr_assert_not_null(cfg);
	cr_assert_not_null(errors);
	cr_assert(strstr(errors, "t.conf:1: warning: proxy_trusted: no listen "
	    "line has the proxy option") != NULL, "%s", errors);
	free(errors);
	config_free(cfg);
}

Test(config, sizes_and_durations)
{
	struct config *cfg = ok("max_message_size = 1k\n"
	    "command_timeout = 1s\ndata_timeout = 60M\n"
	    "shutdown_timeout = 0\n");

	cr_assert_eq(cfg->max_message_size, 1024);
	cr_assert_eq(cfg->command_timeout, 1);
	cr_assert_eq(cfg->data_timeout, 3600);
	cr_assert_eq(cfg->shutdown_timeout, 0);
	config_free(cfg);

	cfg = ok("max_message_size = 4G\ncommand_timeout = 1H\n");
	cr_assert_eq(cfg->max_message_size, 4ULL << 30);
	cr_assert_eq(cfg->command_timeout, 3600);
	config_free(cfg);

	cfg = ok("max_message_size = 10240\nmax_recipients = 100000\n");
	cr_assert_eq(cfg->max_message_size, 10240);
	cr_assert_eq(cfg->max_recipients, 100000);
	config_free(cfg);
}

Test(config, unknown_key)
{
	fails_with("max_recipient = 5\n",
	    "t.conf:1: unknown key \"max_recipient\"\n");
	fails_with("Hostname = a.example\n",
	    "t.conf:1: unknown key \"Hostname\"\n");
}

Test(config, missing_equals)
{
	fails_with("\nmax_recipients 5\n",
	    "t.conf:2: missing '=' (expected key = value)\n");
	fails_with(" = 5\n", "t.conf:1: missing key before '='\n");
}

Test(config, missing_value)
{
	fails_with("max_recipients =\n",
	    "t.conf:1: max_recipients: value missing (expected a number)\n");
	fails_with("hostname = # later\n", "t.conf:1: hostname: value "
	    "missing (expected a domain name)\n");
	fails_like("listen =\n", "listen: value missing");
}

Test(config, duplicate_key)
{
	fails_with("max_errors = 5\n# x\nmax_errors = 5\n",
	    "t.conf:3: duplicate key 'max_errors' (first set at line 1)\n");
	fails_with("mynetworks =\nmynetworks = 10.0.0.0/8\n",
	    "t.conf:2: duplicate key 'mynetworks' (first set at line 1)\n");
}

Test(config, bad_number)
{
	fails_with("max_recipients = abc\n",
	    "t.conf:1: max_recipients: \"abc\" is not a number\n");
	fails_like("max_recipients = -1\n", "\"-1\" is not a number");
	fails_like("max_recipients = +1\n", "\"+1\" is not a number");
	fails_like("max_recipients = 12x\n", "\"12x\" is not a number");
	fails_like("max_recipients = 1k\n", "\"1k\" is not a number");
	fails_like("max_recipients = 1 2\n", "\"1 2\" is not a number");
	fails_like("command_timeout = soon\n", "\"soon\" is not a number");
}

Test(config, out_of_bounds)
{
	fails_with("max_recipients = 0\n",
	    "t.conf:1: max_recipients: 0 is below the minimum 1\n");
	fails_with("max_recipients = 100001\n",
	    "t.conf:1: max_recipients: 100001 is above the maximum 100000\n");
	fails_like("max_connections = 1000001\n", "above the maximum 1000000");
	fails_like("max_errors = 0\n", "below the minimum 1");
	fails_with("max_message_size = 1023\n", "t.conf:1: "
	    "max_message_size: 1023 is below the minimum 1K\n");
	fails_with("max_message_size = 5g\n", "t.conf:1: "
	    "max_message_size: 5g is above the maximum 4G\n");
	fails_like("max_message_size = 4194305k\n", "above the maximum 4G");
	fails_with("command_timeout = 0\n", "t.conf:1: "
	    "command_timeout: 0 is below the minimum 1s\n");
	fails_with("data_timeout = 61m\n", "t.conf:1: "
	    "data_timeout: 61m is above the maximum 1h\n");
	fails_like("shutdown_timeout = 3601\n", "above the maximum 1h");
	/* Past unsigned: must not wrap to a small value. */
	fails_like("max_recipients = 4294967297\n", "above the maximum");
}

Test(config, bad_size_suffix)
{
	fails_with("max_message_size = 25MB\n", "t.conf:1: "
	    "max_message_size: \"25MB\" has an unknown unit "
	    "(expected K, M or G)\n");
	fails_like("max_message_size = 25t\n", "unknown unit");
	fails_like("max_message_size = 25 M\n", "unknown unit");
	fails_like("max_message_size = M\n", "\"M\" is not a number");
	fails_like("command_timeout = 5w\n", "unknown unit (expected s, m, "
	    "h or d)");
}

Test(config, size_overflow)
{
	fails_with("max_message_size = 99999999999999999999\n",
	    "t.conf:1: max_message_size: 99999999999999999999 is above the "
	    "maximum 4G\n");
	/* Fits in 64 bits, overflows once scaled. */
	fails_like("max_message_size = 18014398509481984k\n",
	    "above the maximum 4G");
	fails_like("max_message_size = 17179869184g\n", "above the maximum");
	fails_like("data_timeout = 99999999999999999999999h\n",
	    "above the maximum 1h");
}

Test(config, bad_cidr)
{
	fails_with("mynetworks = 127.0.0.0/8 10.0.0.1/8\n", "t.conf:1: "
	    "mynetworks: \"10.0.0.1/8\" has host bits set beyond the "
	    "prefix\n");
	fails_like("mynetworks = 10.0.0.0/33\n", "prefix length above 32");
	fails_like("mynetworks = localhost\n",
	    "\"localhost\" is not an IPv4 address");
	fails_like("mynetworks = ::1/129\n", "above 128");
}

Test(config, bad_listen_address)
{
	fails_with("listen = 192.0.2.300:25 mx\n", "t.conf:1: listen: "
	    "numeric address required, not \"192.0.2.300\"\n");
	fails_like("listen = ::1:25\n", "IPv6 address needs brackets");
	fails_like("listen = [::1]25\n", "is not [IPv6]:PORT");
	fails_like("listen = [10.0.0.1]:25\n", "numeric address required");
	fails_like("listen = [*]:25\n", "numeric address required");
	fails_like("listen = 127.0.0.1\n", "has no port");
	fails_like("listen = *:0\n", "port \"0\" is not a number in 1..65535");
	fails_like("listen = *:65536\n", "not a number in 1..65535");
	fails_like("listen = *:99999999999999999999\n", "1..65535");
	fails_like("listen = *:smtp\n", "port \"smtp\"");
	fails_like("listen = *:\n", "port \"\"");
	fails_like("listen = *:25 mx extra\n", "unknown option \"extra\" "
	    "(expected proxy)");
	fails_like("listen = *:25 mx proxy extra\n",
	    "is not ADDRESS:PORT [ROLE] [proxy]");
	fails_like("listen = *:25, *:587\n", "is not ADDRESS:PORT [ROLE]");
	fails_with("listen = *:25\nlisten = *:025 mx\n",
	    "t.conf:2: listen: *:25 is listed twice\n");
	fails_like("listen = [::1]:25\nlisten = [0::1]:25\n",
	    "[::1]:25 is listed twice");
}

Test(config, hostname_listen)
{
	fails_with("listen = mail.example.org:25 mx\n", "t.conf:1: listen: "
	    "numeric address required, not \"mail.example.org\"\n");
	fails_like("listen = localhost:587\n", "numeric address required");
}

Test(config, bad_role)
{
	fails_with("listen = *:25 smtp\n", "t.conf:1: listen: unknown role "
	    "\"smtp\" (expected mx, submission, submissions or metrics)\n");
	fails_like("listen = *:25 MX\n", "unknown role \"MX\"");
}

Test(config, role_required_on_other_ports)
{
	fails_with("listen = *:2525\n", "t.conf:1: listen: role required "
	    "(mx, submission, submissions or metrics)\n");
	/* No port is the metrics role's by default. */
	fails_like("listen = 127.0.0.1:9225\n", "role required");
}

Test(config, metrics_listener)
{
	struct config *cfg = ok("listen = *:25 mx\n"
	    "listen = 127.0.0.1:9225 metrics\n");
	char *out;

	cr_assert_eq(cfg->nlisten, 2);
	cr_assert_eq(cfg->listen[1].role, ROLE_METRICS);
	cr_assert_str_eq(cfg->listen[1].host, "127.0.0.1");
	cr_assert_str_eq(cfg->listen[1].port, "9225");
	cr_assert(!cfg->listen[1].proxy);
	out = print(cfg);
	cr_assert(strstr(out, "listen = 127.0.0.1:9225 metrics\n") != NULL,
	    "%s", out);
	free(out);
	config_free(cfg);
	config_free(ok("listen = [::1]:9225 metrics\n"));
	/* HTTP: no PROXY header before it. */
	fails_with("listen = 127.0.0.1:9225 metrics proxy\n", "t.conf:1: "
	    "listen: role metrics takes no proxy option (only mx, submission "
	    "and submissions do)\n");
	/* Without tls_cert: a metrics listener needs none. */
	config_free(ok("listen = *:25 mx\nlisten = 127.0.0.2:80 metrics\n"));
	/* Its limits. */
	cfg = ok("");
	cr_assert_eq(cfg->metrics_connections, 16);
	cr_assert_eq(cfg->metrics_timeout, 10);
	config_free(cfg);
	cfg = ok("metrics_connections = 64\nmetrics_timeout = 1m\n");
	cr_assert_eq(cfg->metrics_connections, 64);
	cr_assert_eq(cfg->metrics_timeout, 60);
	out = print(cfg);
	cr_assert(strstr(out, "metrics_connections = 64\nmetrics_timeout = "
	    "1m\n") != NULL, "%s", out);
	free(out);
	config_free(cfg);
	fails_like("metrics_connections = 65\n", "above the maximum 64");
	fails_like("metrics_connections = 0\n", "metrics_connections: ");
	fails_like("metrics_timeout = 0\n", "metrics_timeout: ");
}

Test(config, one_metrics_listener)
{
	fails_with("listen = 127.0.0.1:9225 metrics\nlisten = *:25 mx\n"
	    "listen = [::1]:9225 metrics\n", "t.conf:3: listen: a second "
	    "metrics listener (the first is on line 1): one serves every "
	    "counter\n");
}

Test(config, bad_hostname)
{
	fails_with("hostname = mail_1.example.org\n", "t.conf:1: hostname: "
	    "\"mail_1.example.org\" is not a domain name (only letters, "
	    "digits, '-' and '.')\n");
	fails_like("hostname = a..example\n", "empty label");
	fails_like("hostname = .example\n", "empty label");
	fails_like("hostname = example..\n", "empty label");
	fails_like("hostname = .\n", "(empty)");
	fails_like("hostname = -a.example\n", "starts with '-'");
	fails_like("hostname = a-.example\n", "ends with '-'");
	fails_like("hostname = 192.0.2.1\n", "needs brackets");
	fails_like("hostname = a b\n", "only letters");
	fails_like("hostname = [192.0.2.1]\n", "only letters");

	char	 text[400];
	char	 label[70];

	memset(label, 'a', 64);
	label[64] = '\0';
	snprintf(text, sizeof(text), "hostname = %s.example\n", label);
	fails_like(text, "label longer than 63 bytes");
	label[63] = '\0';
	snprintf(text, sizeof(text), "hostname = %s.example\n", label);
	config_free(ok(text));

	/* 4 labels of 63 plus 3 dots is 255: too long; 253 is fine. */
	snprintf(text, sizeof(text), "hostname = %s.%s.%s.%s\n", label, label,
	    label, label);
	fails_like(text, "longer than 253 bytes");
	snprintf(text, sizeof(text), "hostname = %s.%s.%s.%.61s.\n", label,
	    label, label, label);
	config_free(ok(text));
}

Test(config, bad_domain)
{
	fails_with("local_domains = example.org exa!mple.org\n", "t.conf:1: "
	    "local_domains: \"exa!mple.org\" is not a domain name (only "
	    "letters, digits, '-' and '.')\n");
	fails_like("relay_domains = 10.0.0.1\n", "needs brackets");
	fails_like("local_domains = [192.0.2.256]\n",
	    "is not an address literal");
	fails_like("local_domains = [::1]\n", "is not an address literal");
	fails_like("local_domains = [IPv6:::1\n", "is not an address literal");
	fails_like("local_domains = [IPv6:]\n", "is not an address literal");
	fails_like("local_domains = [IPv6:192.0.2.1]\n", "address literal");
	fails_like("local_domains = [\n", "address literal");
}

/* warns - parse text that must succeed with exactly the warning `want` */
static struct config *
warns(const char *text, const char *want)
{
	char		*errors = NULL;
	struct config	*cfg = config_parse(text, "t.conf", &errors);

	cr_assert_not_null(cfg, "a warning is not an error: %s", errors);
	cr_assert_str_eq(errors, want);
	free(errors);
	return cfg;
}

Test(config, duplicate_domain_is_a_warning)
{
	struct config *cfg = warns("hostname = a.example\n"
	    "local_domains = x.example X.Example. y.example\n",
	    "t.conf:2: warning: local_domains: \"x.example\" is listed "
	    "twice\n");

	cr_assert_eq(cfg->local_domains.n, 2);
	cr_assert_str_eq(cfg->local_domains.v[1], "y.example");
	config_free(cfg);
}

Test(config, single_label_hostname_is_a_warning)
{
	struct config *cfg = warns("hostname = mailhost\n",
	    "t.conf: warning: hostname: \"mailhost\" is not a fully qualified "
	    "domain name, which the greeting should give (RFC 5321 4.1.1.1)\n");

	cr_assert_str_eq(cfg->hostname, "mailhost");
	config_free(cfg);
}

/* bool_is - the value a spelling gives to a switch */
static bool
bool_is(const char *spelling)
{
	char		 text[64];
	struct config	*cfg;
	bool		 v;

	snprintf(text, sizeof(text), "allow_untrusted_routing = %s\n",
	    spelling);
	cfg = ok(text);
	v = cfg->allow_untrusted_routing;
	config_free(cfg);
	return v;
}

Test(config, metrics_listener_off_loopback_is_a_warning)
{
	config_free(warns("listen = *:25 mx\nlisten = *:9225 metrics\n",
	    "t.conf:2: warning: listen: metrics on *:9225 is not a loopback "
	    "address: whoever reaches it reads the counters (traffic, "
	    "refusals, the queue) without logging in; listen on 127.0.0.1 or "
	    "[::1], or filter the port\n"));
	config_free(warns("listen = [2001:db8::1]:9225 metrics\n",
	    "t.conf:1: warning: listen: metrics on [2001:db8::1]:9225 is not "
	    "a loopback address: whoever reaches it reads the counters "
	    "(traffic, refusals, the queue) without logging in; listen on "
	    "127.0.0.1 or [::1], or filter the port\n"));
}

Test(config, bool_spellings)
{
	static const char *const yes[] = { "yes", "YES", "Yes", "true",
	    "True", "on", "ON", "1" };
	static const char *const no[] = { "no", "NO", "No", "false", "FALSE",
	    "off", "Off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		cr_assert(bool_is(yes[i]), "%s", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		cr_assert_not(bool_is(no[i]), "%s", no[i]);
}

Test(config, bad_bool)
{
	fails_with("reject_non_fqdn_sender = maybe\n", "t.conf:1: "
	    "reject_non_fqdn_sender: \"maybe\" is not yes or no\n");
	fails_like("reject_unqualified_sender = y\n", "\"y\" is not yes or no");
	fails_like("reject_unqualified_sender = 2\n", "\"2\" is not yes");
	fails_like("reject_unqualified_sender = yes no\n", "\"yes no\" is not");
	fails_like("allow_untrusted_routing = yess\n", "is not yes or no");
	fails_with("reject_unknown_sender_domain =\n", "t.conf:1: "
	    "reject_unknown_sender_domain: value missing (expected yes or "
	    "no)\n");
}

Test(config, dns_servers)
{
	struct config *cfg = ok("dns_servers = 10.0.0.1,[fe80::1]:53 "
	    "127.0.0.1:65535\n");

	cr_assert_eq(cfg->dns_servers.n, 3);
	cr_assert_str_eq(cfg->dns_servers.v[0], "10.0.0.1");
	cr_assert_str_eq(cfg->dns_servers.v[1], "[fe80::1]:53");
	cr_assert_str_eq(cfg->dns_servers.v[2], "127.0.0.1:65535");
	config_free(cfg);

	cfg = ok("dns_servers =   # resolv.conf\n");
	cr_assert_eq(cfg->dns_servers.n, 0);
	config_free(cfg);

	cfg = ok("dns_timeout = 1\n");
	cr_assert_eq(cfg->dns_timeout, 1);
	config_free(cfg);
}

Test(config, bad_dns_servers)
{
	fails_with("dns_servers = 127.0.0.1 ns1.example.org\n", "t.conf:1: "
	    "dns_servers: numeric address required, not "
	    "\"ns1.example.org\"\n");
	fails_like("dns_servers = localhost:53\n", "numeric address required");
	fails_like("dns_servers = 192.0.2.300\n", "numeric address required");
	fails_like("dns_servers = ::1\n", "IPv6 address needs brackets");
	fails_like("dns_servers = 2001:db8::1:53\n", "needs brackets");
	fails_like("dns_servers = [::1\n", "is not [IPv6] or [IPv6]:PORT");
	fails_like("dns_servers = [::1]53\n", "is not [IPv6] or [IPv6]:PORT");
	fails_like("dns_servers = [127.0.0.1]\n", "numeric address required");
	fails_like("dns_servers = *\n", "numeric address required");
	fails_like("dns_servers = 127.0.0.1:0\n",
	    "port \"0\" is not a number in 1..65535");
	fails_like("dns_servers = 127.0.0.1:65536\n", "1..65535");
	fails_like("dns_servers = 127.0.0.1:\n", "port \"\"");
	fails_like("dns_servers = [::1]:domain\n", "port \"domain\"");
	fails_like("dns_timeout = 0\n", "below the minimum 1s");
	fails_like("dns_timeout = 61\n", "above the maximum 1m");
}

Test(config, dnssec_resolver_must_be_on_this_machine)
{
	config_free(ok("dnssec = yes\ndns_servers = 127.0.0.1 [::1]:5353 "
	    "127.0.0.53:53\n"));
	config_free(warns("dnssec = yes\n", "t.conf:1: warning: dnssec: yes "
	    "without dns_servers trusts the AD bit of whatever "
	    "/etc/resolv.conf names; name a validating resolver on this "
	    "machine (dns_servers = 127.0.0.1)\n"));
	config_free(warns("dns_servers = 127.0.0.1 192.0.2.53\ndnssec = yes\n",
	    "t.conf:2: warning: dnssec: dns_servers \"192.0.2.53\" is not on "
	    "this machine: anyone on the way to it can set the AD bit of a "
	    "forged answer; run a validating resolver here "
	    "(doc/delivery.md)\n"));
	/* without dnssec, any resolver: nothing is trusted */
	config_free(ok("dns_servers = 192.0.2.53\n"));
	config_free(warns("smarthost = relay.example.org\nsmarthost_tls = "
	    "dane\n", "t.conf:2: warning: smarthost_tls: dane without "
	    "dnssec = yes trusts no TLSA record: all mail for the smarthost "
	    "waits\n"));
}

Test(config, duplicate_dns_server_is_a_warning)
{
	struct config *cfg = warns("dns_servers = [::1]:53 [0:0::1]:053\n",
	    "t.conf:1: warning: dns_servers: \"[::1]:53\" is listed twice\n");

	cr_assert_eq(cfg->dns_servers.n, 1);
	config_free(cfg);
}

Test(config, relative_queue_dir)
{
	fails_with("queue_dir = var/spool/sallyport\n", "t.conf:1: "
	    "queue_dir: \"var/spool/sallyport\" is not an absolute path\n");
	fails_like("queue_dir = ./q\n", "not an absolute path");
}

Test(config, bad_user)
{
	fails_like("user = mail nobody\n", "\"mail nobody\" is not a valid");
	fails_like("user = -x\n", "is not a valid name");
	fails_like("user = a:b\n", "is not a valid name");
}

Test(config, over_long_line)
{
	size_t	 n = 5000;
	char	*text = malloc(n + 64), *errors;

	cr_assert_not_null(text);
	strcpy(text, "max_errors = 3\nrelay_domains = ");
	memset(text + strlen(text), 'a', n);
	strcpy(text + strlen("max_errors = 3\nrelay_domains = ") + n,
	    "\nmax_recipients = 0\n");
	errors = fails(text);
	cr_assert_str_eq(errors, "t.conf:2: line too long (more than 4096 "
	    "bytes)\nt.conf:3: max_recipients: 0 is below the minimum 1\n");
	free(errors);
	free(text);

	/* 4096 bytes exactly is still a line. */
	text = malloc(4200);
	cr_assert_not_null(text);
	memset(text, ' ', 4096);
	memcpy(text, "user = x", 8);
	strcpy(text + 4096, "\n");
	config_free(ok(text));
	free(text);
}

Test(config, long_values_are_quoted_with_a_mark)
{
	char	 text[300];
	char	*errors;

	snprintf(text, sizeof(text), "max_recipients = %0200d\n", 7);
	text[17] = 'x';
	errors = fails(text);
	cr_assert(strstr(errors, "...\" is not a number") != NULL, "%s",
	    errors);
	cr_assert_lt(strlen(errors), 120);
	free(errors);
}

Test(config, control_character)
{
	fails_with("max_errors = 3\nuser = a\001b\n",
	    "t.conf:2: control character 0x01 in line\n");
}

Test(config, many_errors_together)
{
	char *errors = fails(
	    "# line 1\n"
	    "hostname = ok.example\n"
	    "bogus = 1\n"			/* 3 */
	    "max_recipients = lots\n"		/* 4 */
	    "\n"
	    "max_errors = 5\n"
	    "max_errors = 6\n"			/* 7 */
	    "listen = www.example.org:25\n"	/* 8 */
	    "mynetworks = 10.0.0.1/8\n"		/* 9 */
	    "queue_dir = spool\n"		/* 10 */
	    "just some words\n"			/* 11 */
	    "max_message_size = 1x\n");		/* 12 */

	cr_assert_str_eq(errors,
	    "t.conf:3: unknown key \"bogus\"\n"
	    "t.conf:4: max_recipients: \"lots\" is not a number\n"
	    "t.conf:7: duplicate key 'max_errors' (first set at line 6)\n"
	    "t.conf:8: listen: numeric address required, not "
	    "\"www.example.org\"\n"
	    "t.conf:9: mynetworks: \"10.0.0.1/8\" has host bits set beyond "
	    "the prefix\n"
	    "t.conf:10: queue_dir: \"spool\" is not an absolute path\n"
	    "t.conf:11: missing '=' (expected key = value)\n"
	    "t.conf:12: max_message_size: \"1x\" has an unknown unit "
	    "(expected K, M or G)\n");
	free(errors);
}

Test(config, too_many_errors_stop)
{
	size_t	 n = 150, len = 0;
	char	*text = malloc(n * 8 + 1), *errors, *last;
	int	 lines = 0;

	cr_assert_not_null(text);
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "bad\n");
	errors = fails(text);
	for (char *c = errors; *c; c++)
		lines += *c == '\n';
	cr_assert_eq(lines, 101, "100 errors and a note");
	last = strstr(errors, "t.conf:100: too many errors");
	cr_assert_not_null(last, "%s", errors);
	free(errors);
	free(text);
}

Test(config, errors_may_be_ignored)
{
	cr_assert_null(config_parse("bogus = 1\n", "t.conf", NULL));
	cr_assert_null(config_load("/nonexistent/sallyport.conf", NULL));
}

Test(config, print_parse_round_trip)
{
	struct config	*a = ok(full), *b;
	char		*one = print(a), *two;

	cr_assert(strstr(one, "hostname = mx1.example.org\n") != NULL, "%s",
	    one);
	cr_assert(strstr(one, "listen = 192.0.2.1:25 mx\n"
	    "listen = [2001:db8::1]:2525 mx\nlisten = *:587 submission\n")
	    != NULL, "%s", one);
	cr_assert(strstr(one, "mynetworks = 10.0.0.0/8 192.168.1.7/32 "
	    "2001:db8::/32\n") != NULL, "%s", one);
	cr_assert(strstr(one, "max_message_size = 10M\n") != NULL, "%s", one);
	cr_assert(strstr(one, "command_timeout = 2m\n") != NULL, "%s", one);
	cr_assert(strstr(one, "shutdown_timeout = 30s\n") != NULL, "%s", one);
	cr_assert(strstr(one, "\nallow_untrusted_routing = yes\n"
	    "reject_unqualified_sender = no\nreject_non_fqdn_sender = no\n"
	    "reject_unknown_sender_domain = no\n") != NULL, "%s", one);
	cr_assert(strstr(one, "\ndns_servers = 127.0.0.1:5353 [::1]:5353 "
	    "192.0.2.53 [2001:db8::53]\ndns_timeout = 1m\n") != NULL, "%s",
	    one);
	cr_assert(strstr(one, "\ntls_protocols = TLSv1.3\n") != NULL, "%s",
	    one);
	cr_assert(strstr(one, "\ntls_handshake_timeout = 10s\n"
	    "sasl_mechanisms = PLAIN LOGIN SCRAM-SHA-256\n"
	    "sasl_pwcheck_method = saslauthd\n") != NULL, "%s", one);

	b = ok(one);
	check_full(b);
	two = print(b);
	cr_assert_str_eq(one, two);
	free(one);
	free(two);
	config_free(a);
	config_free(b);
}

Test(config, print_defaults_round_trip)
{
	struct config	*a = ok(""), *b;
	char		*one = print(a), *two;

	cr_assert(strstr(one, "\nuser =\n") != NULL, "%s", one);
	cr_assert(strstr(one, "\nrelay_domains =\n") != NULL, "%s", one);
	cr_assert(strstr(one, "\nlisten = *:25 mx\nmynetworks =") != NULL,
	    "%s", one);
	cr_assert(strstr(one, "\nmynetworks = 127.0.0.0/8 ::1/128\n") != NULL,
	    "%s", one);
	cr_assert(strstr(one, "\nmax_message_size = 25M\n") != NULL, "%s", one);
	cr_assert(strstr(one, "\nmax_recipients = 100\n") != NULL, "%s", one);
	cr_assert(strstr(one, "\ncommand_timeout = 5m\n") != NULL, "%s", one);
	cr_assert(strstr(one, "\ndata_timeout = 10m\n") != NULL, "%s", one);
	cr_assert(strstr(one, "\nshutdown_timeout = 10s\n") != NULL, "%s", one);
	cr_assert(strstr(one, "\nallow_untrusted_routing = no\n") != NULL,
	    "%s", one);
	cr_assert(strstr(one, "\nreject_unknown_sender_domain = yes\n") !=
	    NULL, "%s", one);
	cr_assert(strstr(one, "\ndns_servers =\ndns_timeout = 5s\n") != NULL,
	    "%s", one);
	cr_assert(strstr(one, "\ntls_cert =\ntls_key =\ntls_ca_file =\n"
	    "tls_protocols = TLSv1.2 TLSv1.3\ntls_ciphers = "
	    MOZILLA_INTERMEDIATE "\ntls_handshake_timeout = 30s\n"
	    "sasl_mechanisms =\nsasl_pwcheck_method = auxprop\n"
	    "sasl_sasldb_path = " SYSCONFDIR "/sallyport/sasldb2\n"
	    "sasl_saslauthd_path = /var/run/saslauthd\n"
	    "sasl_backend = cyrus\n"
	    "sasl_dovecot_path = /run/dovecot/auth-client\n"
	    "max_auth_failures = 3\nauth_timeout = 30s\nauth_threads = 4\n"
	    "sender_login_check = no\n") != NULL,
	    "%s", one);

	b = ok(one);
	two = print(b);
	cr_assert_str_eq(one, two);
	free(one);
	free(two);
	config_free(a);
	config_free(b);
}

Test(config, print_odd_values_round_trip)
{
	struct config	*a = ok("max_message_size = 1025\n"
	    "shutdown_timeout = 0\nmynetworks =\ndata_timeout = 61s\n"
	    "listen = [::]:25 mx\n"), *b;
	char		*one = print(a), *two;

	cr_assert(strstr(one, "max_message_size = 1025\n") != NULL, "%s", one);
	cr_assert(strstr(one, "shutdown_timeout = 0s\n") != NULL, "%s", one);
	cr_assert(strstr(one, "data_timeout = 61s\n") != NULL, "%s", one);
	cr_assert(strstr(one, "\nmynetworks =\n") != NULL, "%s", one);
	cr_assert(strstr(one, "\nlisten = [::]:25 mx\n") != NULL, "%s", one);
	b = ok(one);
	two = print(b);
	cr_assert_str_eq(one, two);
	free(one);
	free(two);
	config_free(a);
	config_free(b);
}

/* --- delivery --------------------------------------------------------- */

/* delivery_value - the canonical text of key for value */
static void
delivery_value(const char *line, const char *key, const char *want)
{
	struct config	*cfg = ok(line);
	char		*out = print(cfg), look[512];

	snprintf(look, sizeof(look), "\n%s = %s\n", key, want);
	cr_assert(strstr(out, look) != NULL, "for \"%s\" wanted \"%s\" "
	    "in:\n%s", line, look + 1, out);
	free(out);
	config_free(cfg);
}

Test(config, local_delivery)
{
	delivery_value("local_delivery = Maildir:/home/%u/Maildir\n",
	    "local_delivery", "maildir:/home/%u/Maildir");
	delivery_value("local_delivery = maildir:/srv/%d/%%/%u\n",
	    "local_delivery", "maildir:/srv/%d/%%/%u");
	delivery_value("local_delivery = lmtp:unix:/run/dovecot/lmtp\n",
	    "local_delivery", "lmtp:unix:/run/dovecot/lmtp");
	delivery_value("local_delivery = lmtp:127.0.0.1:0024\n",
	    "local_delivery", "lmtp:127.0.0.1:24");
	delivery_value("local_delivery = QMAIL-Queue:/var/qmail/bin/qmail-queue"
	    "\n", "local_delivery", "qmail-queue:/var/qmail/bin/qmail-queue");
	delivery_value("local_delivery = LMTP:[0::1]:24\n", "local_delivery",
	    "lmtp:[::1]:24");

	fails_with("local_delivery = maildir:Maildir\n", "t.conf:1: "
	    "local_delivery: \"Maildir\" is not an absolute path\n");
	fails_with("local_delivery = maildir:/var/mail/%s\n", "t.conf:1: "
	    "local_delivery: \"/var/mail/%s\": '%' must be followed by u "
	    "(user), d (domain) or % (itself)\n");
	fails_like("local_delivery = maildir:/var/mail/%\n", "'%' must be");
	fails_like("local_delivery = lmtp:unix:run/lmtp\n",
	    "\"run/lmtp\" is not an absolute path");
	fails_like("local_delivery = lmtp:localhost:24\n", "numeric");
	fails_like("local_delivery = lmtp:127.0.0.1\n", "local_delivery: ");
	fails_like("local_delivery = qmail-queue:bin/qmail-queue\n",
	    "\"bin/qmail-queue\" is not an absolute path");
	fails_with("local_delivery = mbox:/var/mail/%u\n", "t.conf:1: "
	    "local_delivery: \"mbox:/var/mail/%u\" is not maildir:TEMPLATE, "
	    "lmtp:unix:PATH, lmtp:ADDRESS:PORT or qmail-queue:PATH\n");
}

Test(config, smarthost)
{
	delivery_value("smarthost = Relay.Example.ORG\n", "smarthost",
	    "relay.example.org:25");
	delivery_value("smarthost = relay.example.org:587\n", "smarthost",
	    "relay.example.org:587");
	delivery_value("smarthost = [relay.example.org]\n", "smarthost",
	    "[relay.example.org]:25");
	delivery_value("smarthost = [192.0.2.1]:2525\n", "smarthost",
	    "192.0.2.1:2525");
	delivery_value("smarthost = 192.0.2.1\n", "smarthost",
	    "192.0.2.1:25");
	delivery_value("smarthost = [2001:DB8::1]:587\n", "smarthost",
	    "[2001:db8::1]:587");
	delivery_value("smarthost_tls = NONE\n", "smarthost_tls", "none");
	delivery_value("smarthost_tls = DANE\n", "smarthost_tls", "dane");
	delivery_value("mime_8bit_downgrade = Bounce\n",
	    "mime_8bit_downgrade", "bounce");
	fails_with("mime_8bit_downgrade = drop\n", "t.conf:1: "
	    "mime_8bit_downgrade: \"drop\" is not an 8-bit downgrade mode "
	    "(expected convert or bounce)\n");

	fails_like("smarthost = 2001:db8::1\n", "is not HOST, HOST:PORT, "
	    "[HOST]:PORT or [IPv6]:PORT");
	fails_like("smarthost = relay.example.org:0\n", "is not HOST");
	fails_like("smarthost = relay.example.org:65536\n", "is not HOST");
	fails_like("smarthost = [relay.example.org:25\n", "is not HOST");
	fails_like("smarthost = [relay.example.org]x\n", "is not HOST");
	fails_like("smarthost = relay_host:25\n", "is not a domain name");
	fails_with("smarthost_tls = maybe\n", "t.conf:1: smarthost_tls: "
	    "\"maybe\" is not a TLS mode (expected required, opportunistic, "
	    "none or dane)\n");
	fails_like("smarthost_auth_file = relay-auth\n",
	    "not an absolute path");
	fails_like("smarthost_ca_file = ca.pem\n", "not an absolute path");
}

Test(config, delivery_numbers)
{
	struct config *cfg = ok("queue_lifetime = 1h\nretry_min = 1s\n"
	    "retry_max = 1m\ndelivery_timeout = 1h\n");

	cr_assert_eq(cfg->queue_lifetime, 3600);
	cr_assert_eq(cfg->retry_min, 1);
	cr_assert_eq(cfg->retry_max, 60);
	cr_assert_eq(cfg->delivery_timeout, 3600);
	config_free(cfg);
	cfg = ok("retry_min = 2h\nretry_max = 2h\n");
	config_free(cfg);

	fails_like("queue_lifetime = 31d\n", "above the maximum 30d");
	fails_like("queue_lifetime = 59m\n", "below the minimum 1h");
	fails_like("retry_min = 2d\n", "above the maximum 1d");
	fails_like("retry_max = 8d\n", "above the maximum 7d");
	fails_like("delivery_concurrency = 0\n", "below the minimum 1");
	fails_like("delivery_per_destination = 1001\n",
	    "above the maximum 1000");
	fails_like("delivery_timeout = 0\n", "below the minimum 1s");
	fails_with("retry_min = 5h\n", "t.conf:1: retry_max: 4h is below "
	    "retry_min 5h\n");
	fails_with("retry_max = 10m\nretry_min = 1h\n", "t.conf:1: retry_max: "
	    "10m is below retry_min 1h\n");
}

Test(config, mailbox_users_and_catchall)
{
	struct config *cfg = ok("mailbox_users = Alice bob, c.d-e_f+g\n"
	    "catchall = Bob\n");

	cr_assert_eq(cfg->mailbox_users.n, 3);
	cr_assert_str_eq(cfg->mailbox_users.v[0], "alice");
	cr_assert_str_eq(cfg->mailbox_users.v[2], "c.d-e_f+g");
	cr_assert_str_eq(cfg->catchall, "bob");
	config_free(cfg);

	fails_with("mailbox_users = alice, a/b\n", "t.conf:1: mailbox_users: "
	    "\"a/b\" is not a local part (only letters, digits, '.', '-', "
	    "'_' and '+')\n");
	fails_like("mailbox_users = ..\n", "a '.' at either end or two in a "
	    "row");
	fails_like("mailbox_users = a..b\n", "two in a row");
	fails_like("mailbox_users = "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "\n", "1 to 64 bytes");
	fails_like("catchall = \"bob\"\n", "is not a local part");
}

/* with_aliases - a config naming an aliases file with `text` */
static struct config *
with_aliases(const char *text, const char *extra, char *apath,
    char **errors)
{
	char	 conf[1024];
	int	 fd;

	strcpy(apath, "/tmp/sallyport-test-aliases.XXXXXX");
	fd = mkstemp(apath);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	snprintf(conf, sizeof(conf), "max_errors = 7\naliases = %s\n%s",
	    apath, extra);
	return config_parse(conf, "t.conf", errors);
}

Test(config, aliases_file_is_loaded)
{
	char		 apath[64], *errors = NULL;
	struct config	*cfg = with_aliases("info: alice, x@example.org\n",
			    "mailbox_users = alice\n", apath, &errors);
	char		*v[4];

	unlink(apath);
	cr_assert_not_null(cfg, "%s", errors);
	cr_assert_null(errors, "%s", errors);
	cr_assert_eq(alias_table_expand(cfg->alias_table, "info", v, 4), 2);
	cr_assert_str_eq(v[0], "alice");
	cr_assert_str_eq(v[1], "x@example.org");
	free(v[0]);
	free(v[1]);
	cr_assert_not(alias_table_known(cfg->alias_table, "bob"));
	config_free(cfg);
}

Test(config, aliases_file_errors_are_config_errors)
{
	char		 apath[64], *errors = NULL, want[512];
	struct config	*cfg = with_aliases("info: alice\nbroken\n",
			    "max_recipients = none\n", apath, &errors);

	unlink(apath);
	cr_assert_null(cfg);
	snprintf(want, sizeof(want), "t.conf:3: max_recipients: \"none\" is "
	    "not a number\n%s:2: missing ':' (expected name: targets)\n",
	    apath);
	cr_assert_str_eq(errors, want);
	free(errors);

	/* A target that is no mailbox user, once the file is whole. */
	cfg = with_aliases("info: alice\n", "", apath, &errors);
	unlink(apath);
	cr_assert_null(cfg);
	snprintf(want, sizeof(want), "%s:1: info: target \"alice\" is "
	    "neither an alias nor in mailbox_users\n", apath);
	cr_assert_str_eq(errors, want);
	free(errors);

	fails_with("aliases = /nonexistent/aliases\n", "/nonexistent/aliases: "
	    "cannot open: No such file or directory\n");
	fails_like("aliases = aliases\n", "not an absolute path");
}

/* --- TLS and SASL ---------------------------------------------------- */

Test(config, default_listeners_follow_tls_cert)
{
	struct config	*cfg = ok("tls_cert = /etc/sallyport/c.pem\n"), *b;
	char		*one, *two;

	cr_assert_eq(cfg->nlisten, 2, "the whole default pair");
	cr_assert_null(cfg->listen[0].host);
	cr_assert_str_eq(cfg->listen[0].port, "25");
	cr_assert_eq(cfg->listen[0].role, ROLE_MX);
	cr_assert_null(cfg->listen[1].host);
	cr_assert_str_eq(cfg->listen[1].port, "587");
	cr_assert_eq(cfg->listen[1].role, ROLE_SUBMISSION);
	config_free(cfg);

	/* Printed, the defaults of either kind parse back the same. */
	cfg = ok("");
	one = print(cfg);
	b = ok(one);
	two = print(b);
	cr_assert_str_eq(one, two);
	cr_assert_eq(b->nlisten, 1);
	free(one);
	free(two);
	config_free(b);
	config_free(cfg);
}

Test(config, submission_needs_a_certificate)
{
	struct config	*cfg;

	fails_with("max_errors = 3\nlisten = *:25\nlisten = *:587\n",
	    "t.conf:3: listen: role submission needs tls_cert (STARTTLS is "
	    "required before AUTH)\n");
	fails_with("listen = *:465 submissions\n", "t.conf:1: listen: role "
	    "submissions needs tls_cert (it speaks TLS from the first "
	    "byte)\n");
	/* One error per role, at its first listener. */
	fails_with("listen = [::1]:465\nlisten = *:25\n"
	    "listen = 127.0.0.1:587\nlisten = 127.0.0.1:465\n"
	    "listen = [::1]:587\n",
	    "t.conf:1: listen: role submissions needs tls_cert (it speaks "
	    "TLS from the first byte)\n"
	    "t.conf:3: listen: role submission needs tls_cert (STARTTLS is "
	    "required before AUTH)\n");
	fails_like("tls_cert =\nlisten = *:587\n", "needs tls_cert");

	/* The certificate may come before or after the listeners. */
	cfg = ok("listen = *:465\nlisten = *:587\n"
	    "tls_cert = /etc/sallyport/c.pem\n");
	cr_assert_eq(cfg->nlisten, 2);
	cr_assert_eq(cfg->listen[0].role, ROLE_SUBMISSIONS);
	cr_assert_eq(cfg->listen[1].role, ROLE_SUBMISSION);
	cr_assert_null(cfg->tls_key, "the key is in the certificate file");
	config_free(cfg);

	/* An MX alone needs none. */
	config_free(ok("listen = *:25 mx\nlisten = *:2525 mx\n"));
}

Test(config, tls_files)
{
	struct config	*cfg = ok("tls_cert = /c.pem\ntls_key = /k.pem\n"
	    "tls_ca_file = /ca.pem\n");

	cr_assert_str_eq(cfg->tls_cert, "/c.pem");
	cr_assert_str_eq(cfg->tls_key, "/k.pem");
	cr_assert_str_eq(cfg->tls_ca_file, "/ca.pem");
	config_free(cfg);

	/* Only named, never opened here: a missing file is tls.c's to
	 * report when the server starts. */
	config_free(ok("tls_cert = /nonexistent/c.pem\n"));

	fails_with("tls_cert = certs/c.pem\n", "t.conf:1: tls_cert: "
	    "\"certs/c.pem\" is not an absolute path\n");
	fails_like("tls_cert = /c.pem\ntls_key = k.pem\n",
	    "tls_key: \"k.pem\" is not an absolute path");
	fails_like("tls_cert = /c.pem\ntls_ca_file = ./ca\n",
	    "tls_ca_file: \"./ca\" is not an absolute path");
	fails_with("max_errors = 3\ntls_key = /k.pem\n",
	    "t.conf:2: tls_key: set without tls_cert\n");
	fails_with("tls_cert =\ntls_key = /k.pem\n",
	    "t.conf:2: tls_key: set without tls_cert\n");
	config_free(warns("tls_ca_file = /ca.pem\n", "t.conf:1: warning: "
	    "tls_ca_file: ignored without tls_cert\n"));
}

/* protocols_are - the tls_protocols a value gives, space separated */
static void
protocols_are(const char *val, const char *want)
{
	char		 text[128], got[64] = "";
	struct config	*cfg;

	snprintf(text, sizeof(text), "tls_protocols = %s\n", val);
	cfg = ok(text);
	for (size_t i = 0; i < cfg->tls_protocols.n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
		    i > 0 ? " " : "", cfg->tls_protocols.v[i]);
	cr_assert_str_eq(got, want, "for \"%s\"", val);
	config_free(cfg);
}

Test(config, tls_protocols)
{
	protocols_are("TLSv1.2", "TLSv1.2");
	protocols_are("tlsv1.3", "TLSv1.3");
	protocols_are("TLSV1.3, tlsv1.2", "TLSv1.3 TLSv1.2");
	config_free(warns("tls_protocols = TLSv1.3 tlsv1.3\n", "t.conf:1: "
	    "warning: tls_protocols: \"TLSv1.3\" is listed twice\n"));
}

Test(config, bad_tls_protocols)
{
	fails_with("tls_protocols = TLSv1.1 TLSv1.2\n", "t.conf:1: "
	    "tls_protocols: TLSv1.1 is obsolete (RFC 8996): use TLSv1.2 or "
	    "TLSv1.3\n");
	fails_like("tls_protocols = tlsv1\n",
	    "TLSv1 is obsolete (RFC 8996)");
	fails_like("tls_protocols = TLSv1.0\n", "obsolete (RFC 8996)");
	fails_like("tls_protocols = SSLv3\n", "SSLv3 is obsolete (RFC 7568)");
	fails_with("tls_protocols = TLSv1.4\n", "t.conf:1: tls_protocols: "
	    "\"TLSv1.4\" is not a TLS version (expected TLSv1.2 or "
	    "TLSv1.3)\n");
	fails_like("tls_protocols = TLS1.2\n", "is not a TLS version");
	fails_like("tls_protocols = all\n", "is not a TLS version");
	fails_with("tls_protocols =\n", "t.conf:1: tls_protocols: value "
	    "missing (expected TLSv1.2 and/or TLSv1.3)\n");
}

Test(config, tls_ciphers)
{
	struct config	*cfg = ok("tls_ciphers = ECDHE+AESGCM:-SHA1:"
	    "@SECLEVEL=2:TLS_AES_128_GCM_SHA256\n");

	cr_assert_str_eq(cfg->tls_ciphers,
	    "ECDHE+AESGCM:-SHA1:@SECLEVEL=2:TLS_AES_128_GCM_SHA256");
	config_free(cfg);

	fails_with("tls_ciphers = HIGH !aNULL\n", "t.conf:1: tls_ciphers: "
	    "\"HIGH !aNULL\" is not a cipher list (names such as "
	    "ECDHE-RSA-AES128-GCM-SHA256 joined by ':')\n");
	fails_like("tls_ciphers = HIGH,MEDIUM\n", "is not a cipher list");
	fails_like("tls_ciphers = HIGH;MEDIUM\n", "is not a cipher list");
	fails_like("tls_ciphers =\n", "value missing (expected a cipher "
	    "list)");
}

Test(config, tls_handshake_timeout)
{
	struct config	*cfg = ok("tls_handshake_timeout = 5m\n");

	cr_assert_eq(cfg->tls_handshake_timeout, 300);
	config_free(cfg);
	cfg = ok("tls_handshake_timeout = 1\n");
	cr_assert_eq(cfg->tls_handshake_timeout, 1);
	config_free(cfg);

	fails_with("tls_handshake_timeout = 0\n", "t.conf:1: "
	    "tls_handshake_timeout: 0 is below the minimum 1s\n");
	fails_with("tls_handshake_timeout = 301s\n", "t.conf:1: "
	    "tls_handshake_timeout: 301s is above the maximum 5m\n");
}

Test(config, sasl_mechanisms)
{
	struct config	*cfg = ok("sasl_mechanisms = cram-md5,"
	    "ABCDEFGHIJ_0123456-X\n");

	cr_assert_eq(cfg->sasl_mechanisms.n, 2);
	cr_assert_str_eq(cfg->sasl_mechanisms.v[0], "CRAM-MD5");
	cr_assert_str_eq(cfg->sasl_mechanisms.v[1], "ABCDEFGHIJ_0123456-X",
	    "20 characters");
	config_free(cfg);

	config_free(warns("sasl_mechanisms = PLAIN plain\n", "t.conf:1: "
	    "warning: sasl_mechanisms: \"PLAIN\" is listed twice\n"));
	fails_with("sasl_mechanisms = PLAIN PL@IN\n", "t.conf:1: "
	    "sasl_mechanisms: \"PL@IN\" is not a SASL mechanism name (1 to "
	    "20 letters, digits, '-' or '_')\n");
	fails_like("sasl_mechanisms = ABCDEFGHIJ_0123456-XY\n",
	    "is not a SASL mechanism name");
	fails_like("sasl_mechanisms = DIGEST.MD5\n",
	    "is not a SASL mechanism name");
}

Test(config, sasl_backend)
{
	struct config	*cfg = ok("sasl_pwcheck_method = AuxProp\n"
	    "sasl_sasldb_path = /var/lib/sallyport/sasldb2\n"
	    "sasl_saslauthd_path = /run/saslauthd\n");

	cr_assert_str_eq(cfg->sasl_pwcheck_method, "auxprop");
	cr_assert_str_eq(cfg->sasl_sasldb_path, "/var/lib/sallyport/sasldb2");
	cr_assert_str_eq(cfg->sasl_saslauthd_path, "/run/saslauthd");
	config_free(cfg);

	fails_with("sasl_pwcheck_method = pam\n", "t.conf:1: "
	    "sasl_pwcheck_method: \"pam\" is not a password check method "
	    "(expected auxprop or saslauthd)\n");
	fails_like("sasl_pwcheck_method = auxprop saslauthd\n",
	    "is not a password check method");
	fails_with("sasl_pwcheck_method =\n", "t.conf:1: sasl_pwcheck_method: "
	    "value missing (expected auxprop or saslauthd)\n");
	fails_like("sasl_sasldb_path = sasldb2\n", "not an absolute path");
	fails_like("sasl_sasldb_path =\n", "value missing");
	fails_like("sasl_saslauthd_path = run/saslauthd\n",
	    "not an absolute path");

	cfg = ok("sasl_backend = DOVECOT\n"
	    "sasl_dovecot_path = /var/spool/postfix/private/auth\n");
	cr_assert_str_eq(cfg->sasl_backend, "dovecot");
	cr_assert_str_eq(cfg->sasl_dovecot_path,
	    "/var/spool/postfix/private/auth");
	config_free(cfg);
	fails_with("sasl_backend = saslauthd\n", "t.conf:1: sasl_backend: "
	    "\"saslauthd\" is not a SASL backend (expected cyrus or "
	    "dovecot)\n");
	fails_like("sasl_dovecot_path = auth-client\n",
	    "not an absolute path");
}

Test(config, auth_limits)
{
	struct config	*cfg = ok("max_auth_failures = 100\n"
	    "sender_login_check = on\n");

	cr_assert_eq(cfg->max_auth_failures, 100);
	cr_assert(cfg->sender_login_check);
	config_free(cfg);

	fails_with("max_auth_failures = 0\n", "t.conf:1: max_auth_failures: "
	    "0 is below the minimum 1\n");
	fails_like("max_auth_failures = 101\n", "above the maximum 100");
	fails_like("sender_login_check = maybe\n", "is not yes or no");
}

Test(config, role_names)
{
	cr_assert_str_eq(config_role_name(ROLE_MX), "mx");
	cr_assert_str_eq(config_role_name(ROLE_SUBMISSION), "submission");
	cr_assert_str_eq(config_role_name(ROLE_SUBMISSIONS), "submissions");
	cr_assert_str_eq(config_role_name(ROLE_METRICS), "metrics");
}

Test(config_load, missing_file)
{
	char	*errors = NULL;
	char	 want[256];

	cr_assert_null(config_load("/nonexistent/dir/sallyport.conf",
	    &errors));
	snprintf(want, sizeof(want), "/nonexistent/dir/sallyport.conf: "
	    "cannot open: %s\n", strerror(ENOENT));
	cr_assert_str_eq(errors, want);
	free(errors);
}

Test(config_load, directory)
{
	char	*errors = NULL;

	cr_assert_null(config_load("/", &errors));
	cr_assert_not_null(errors);
	cr_assert(strncmp(errors, "/: cannot ", 10) == 0, "%s", errors);
	free(errors);
}

/* write_temp - a temporary file holding `len` bytes of text */
static void
write_temp(char *path, const char *text, size_t len)
{
	int	 fd;

	strcpy(path, "/tmp/test_config.XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
}

Test(config_load, real_file)
{
	char		 path[64], *errors = NULL;
	struct config	*cfg;

	write_temp(path, full, strlen(full));
	cfg = config_load(path, &errors);
	unlink(path);
	cr_assert_not_null(cfg, "%s", errors ? errors : "");
	cr_assert_null(errors);
	cr_assert_str_eq(cfg->path, path);
	check_full(cfg);
	config_free(cfg);

	static const char bad[] = "max_errors = 1\n\nmax_errors = 2\n";

	write_temp(path, bad, strlen(bad));
	cfg = config_load(path, &errors);
	unlink(path);
	cr_assert_null(cfg);
	char want[128];

	snprintf(want, sizeof(want), "%s:3: duplicate key 'max_errors' "
	    "(first set at line 1)\n", path);
	cr_assert_str_eq(errors, want);
	free(errors);
}

Test(config_load, nul_byte)
{
	static const char text[] = "max_errors = 1\nuser = a\0b\n";
	char		 path[64], *errors = NULL, want[128];

	write_temp(path, text, sizeof(text) - 1);
	cr_assert_null(config_load(path, &errors));
	unlink(path);
	snprintf(want, sizeof(want), "%s:2: NUL byte in line\n", path);
	cr_assert_str_eq(errors, want);
	free(errors);
}

/* read_srcfile - a file of the source tree, or skip the test when the
 * tree is unknown (SALLYPORT_SRCDIR is set by "make check") */
static char *
read_srcfile(const char *rel, char *path, size_t pathlen)
{
	const char	*srcdir = getenv("SALLYPORT_SRCDIR");
	char		*text = NULL;
	size_t		 len = 0;
	FILE		*in, *out;
	int		 c;

	if (srcdir == NULL)
		cr_skip_test("SALLYPORT_SRCDIR is not set");
	snprintf(path, pathlen, "%s/%s", srcdir, rel);
	in = fopen(path, "r");
	cr_assert_not_null(in, "%s: %s", path, strerror(errno));
	out = open_memstream(&text, &len);
	cr_assert_not_null(out);
	while ((c = getc(in)) != EOF)
		putc(c, out);
	fclose(in);
	fclose(out);
	return text;
}

static void
check_sample_defaults(const struct config *cfg)
{
	cr_assert_eq(cfg->max_message_size, 25 * 1024 * 1024);
	cr_assert_eq(cfg->max_recipients, 100);
	cr_assert_eq(cfg->max_connections, 1000);
	cr_assert_eq(cfg->max_errors, 20);
	cr_assert_eq(cfg->command_timeout, 300);
	cr_assert_eq(cfg->data_timeout, 600);
	cr_assert_eq(cfg->shutdown_timeout, 10);
	cr_assert_eq(cfg->nmynetworks, 2);
	cr_assert(trusted(cfg, "127.0.0.1"));
	cr_assert(trusted(cfg, "::1"));
	cr_assert_eq(cfg->relay_domains.n, 0);
	cr_assert_not(cfg->allow_untrusted_routing);
	cr_assert(cfg->reject_unqualified_sender);
	cr_assert(cfg->reject_non_fqdn_sender);
	cr_assert(cfg->reject_unknown_sender_domain);
	cr_assert_eq(cfg->dns_servers.n, 0);
	cr_assert_eq(cfg->dns_timeout, 5);
	/* The sample sets a certificate, as its submission listener
	 * needs one: certbot's paths. */
	cr_assert_str_eq(cfg->tls_cert,
	    "/etc/letsencrypt/live/mail.example.org/fullchain.pem");
	cr_assert_str_eq(cfg->tls_key,
	    "/etc/letsencrypt/live/mail.example.org/privkey.pem");
	cr_assert_null(cfg->tls_ca_file);
	cr_assert_eq(cfg->tls_protocols.n, 2);
	cr_assert_str_eq(cfg->tls_ciphers, MOZILLA_INTERMEDIATE);
	cr_assert_eq(cfg->tls_handshake_timeout, 30);
	cr_assert_eq(cfg->sasl_mechanisms.n, 0);
	cr_assert_str_eq(cfg->sasl_pwcheck_method, "auxprop");
	cr_assert_str_eq(cfg->sasl_saslauthd_path, "/var/run/saslauthd");
	cr_assert_eq(cfg->max_auth_failures, 3);
	cr_assert_not(cfg->sender_login_check);
}

Test(config_load, sample_file_parses_cleanly)
{
	char		 path[4096], *errors = NULL;
	char		*text = read_srcfile("etc/sallyport.conf.sample", path,
			    sizeof(path));
	struct config	*cfg;

	free(text);
	cfg = config_load(path, &errors);
	cr_assert_not_null(cfg, "%s", errors ? errors : "");
	cr_assert_null(errors, "%s", errors);
	check_sample_defaults(cfg);
	cr_assert_eq(cfg->nlisten, 2);
	cr_assert_eq(cfg->listen[0].role, ROLE_MX);
	cr_assert_eq(cfg->listen[1].role, ROLE_SUBMISSION);
	config_free(cfg);
}

/*
 * The sample shows each key commented out as "#key = default", but for
 * the certificate and key, which it sets. With the commented
 * lines switched on, the file must still parse, keep the defaults, and
 * name every key of the table: this keeps the sample in step with
 * config_keys.c.
 */
Test(config_load, sample_file_shows_every_key_and_its_default)
{
	char		 path[4096], *errors = NULL, *line, *save;
	char		*text = read_srcfile("etc/sallyport.conf.sample", path,
			    sizeof(path));
	struct config	*cfg, *def = ok("");
	char		*printed = print(def);

	for (char *c = text; (c = strstr(c, "\n#")) != NULL; c++)
		if (c[2] >= 'a' && c[2] <= 'z')
			c[1] = ' ';
	cfg = config_parse(text, path, &errors);
	cr_assert_not_null(cfg, "%s", errors ? errors : "");
	cr_assert_null(errors, "%s", errors);
	check_sample_defaults(cfg);
	cr_assert_str_eq(cfg->queue_dir, "/var/spool/sallyport");
	cr_assert_eq(cfg->listen[0].role, ROLE_MX);
	cr_assert_str_eq(cfg->listen[0].port, "25");
	cr_assert_eq(cfg->listen[1].role, ROLE_SUBMISSION);
	cr_assert_str_eq(cfg->listen[1].port, "587");
	cr_assert_eq(cfg->listen[2].role, ROLE_SUBMISSIONS);
	cr_assert_str_eq(cfg->listen[2].port, "465");
	cr_assert_eq(cfg->nlisten, 5);
	cr_assert_str_eq(cfg->sasl_sasldb_path, "/etc/sallyport/sasldb2");

	for (line = strtok_r(printed, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char want[64], set[64];
		int n = (int)strcspn(line, " ");

		/* "\n key =" once commented out, "\nkey =" if set */
		snprintf(want, sizeof(want), "\n %.*s =", n, line);
		snprintf(set, sizeof(set), "\n%.*s =", n, line);
		cr_assert(strstr(text, want) != NULL ||
		    strstr(text, set) != NULL, "the sample lacks "
		    "\"#%s\"", want + 2);
	}
	free(text);
	free(printed);
	config_free(cfg);
	config_free(def);
}

/* The man page describes every key of the table, as ".B key" under
 * .TP. */
Test(config_load, man_page_describes_every_key)
{
	char		 path[4096], *line, *save;
	char		*text = read_srcfile("doc/sallyport.conf.5", path,
			    sizeof(path));
	struct config	*def = ok("");
	char		*printed = print(def);

	for (line = strtok_r(printed, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char want[64];

		snprintf(want, sizeof(want), ".TP\n.B %.*s\n",
		    (int)strcspn(line, " "), line);
		cr_assert(strstr(text, want) != NULL, "%s lacks \"%s\"",
		    path, want);
	}
	free(text);
	free(printed);
	config_free(def);
}

/* A smarthost that is our own listener would take each message back in
 * for ever; one on another port, or another address, is fine. */
Test(config, smarthost_that_is_ourselves)
{
	struct config *cfg;

	fails_with("listen = 127.0.0.1:2525 mx\n# comment\n"
	    "smarthost = [127.0.0.1]:2525\n", "t.conf:3: smarthost: "
	    "127.0.0.1:2525 is this server's own listener: mail would loop "
	    "back to itself\n");
	fails_like("listen = *:2526 mx\nsmarthost = 127.0.0.1:2526\n",
	    "t.conf:2: smarthost: 127.0.0.1:2526 is this server's own "
	    "listener");
	fails_like("listen = *:2527 mx\nown_addresses = 198.51.100.7\n"
	    "smarthost = [198.51.100.7]:2527\n", "t.conf:3: smarthost: ");
	cfg = ok("listen = 127.0.0.1:2525 mx\nsmarthost = [127.0.0.1]:2526\n");
	config_free(cfg);
	/* a wildcard takes all of 127.0.0.0/8, and 0.0.0.0, [::] are
	 * wildcards like * */
	fails_like("listen = *:2525 mx\nsmarthost = [127.23.4.5]:2525\n",
	    "t.conf:2: smarthost: 127.23.4.5:2525 is this server's own ");
	fails_like("listen = 0.0.0.0:2528 mx\nsmarthost = [127.0.0.1]:2528\n",
	    "t.conf:2: smarthost: 127.0.0.1:2528 is this server's own ");
	fails_like("listen = [::]:2529 mx\nsmarthost = [127.0.0.1]:2529\n",
	    "t.conf:2: smarthost: 127.0.0.1:2529 is this server's own ");
	cfg = ok("listen = *:2525 mx\nsmarthost = [127.23.4.5]:2526\n");
	config_free(cfg);
}

Test(config, max_hops)
{
	struct config *cfg = ok("max_hops = 20\n");

	cr_assert_eq(cfg->max_hops, 20);
	config_free(cfg);
	cfg = ok("");
	cr_assert_eq(cfg->max_hops, 50, "as Postfix's hopcount_limit");
	config_free(cfg);
	fails_like("max_hops = 0\n", "max_hops: ");
}

Test(config, dnsbl)
{
	struct config *cfg = ok("dnsbl = ZEN.Example.=127.0.0.[2..11]*3, "
	    "wl.example*-2 plain.example\ndnsbl_threshold = 3\n"
	    "dnsbl_timeout = 5s\ndnsbl_reply = Listed; see https://x.example/\n");

	cr_assert_eq(cfg->dnsbl.n, 3);
	cr_assert_str_eq(cfg->dnsbl.v[0], "zen.example=127.0.0.[2..11]*3");
	cr_assert_str_eq(cfg->dnsbl.v[1], "wl.example*-2");
	cr_assert_str_eq(cfg->dnsbl.v[2], "plain.example");
	cr_assert_eq(cfg->dnsbl_threshold, 3);
	cr_assert_eq(cfg->dnsbl_timeout, 5);
	cr_assert_str_eq(cfg->dnsbl_reply, "Listed; see https://x.example/");
	config_free(cfg);
	cfg = ok("");
	cr_assert_eq(cfg->dnsbl.n, 0);
	cr_assert_eq(cfg->dnsbl_threshold, 1, "Postfix's default");
	cr_assert_null(cfg->dnsbl_reply);
	config_free(cfg);

	fails_like("dnsbl = bl.example=127.0.0\n", "is not an address");
	fails_like("dnsbl = bl.example=127.0.0.[3..2]\n", "is not an address");
	fails_like("dnsbl = bl.example=127.0.0.256\n", "is not an address");
	fails_like("dnsbl = bl.example=127.0.0.[2\n", "is not an address");
	fails_like("dnsbl = bl.example=\n", "filter after = is empty");
	fails_like("dnsbl = bl.example*\n", "is not a whole number");
	fails_like("dnsbl = bl.example*10001\n", "is not a whole number");
	fails_like("dnsbl = bl.example*2x\n", "is not a whole number");
	fails_like("dnsbl = =127.0.0.2\n", "needs a zone name");
	fails_like("dnsbl = bad..example\n", "dnsbl");
	fails_like("dnsbl_threshold = 0\n", "dnsbl_threshold");
	fails_like("dnsbl_timeout = 61s\n", "dnsbl_timeout");
	fails_like("dnsbl_reply = caf\xc3\xa9\n", "printable ASCII");
	/* A list asked through a resolver elsewhere answers error codes. */
	config_free(warns("dnsbl = bl.example\ndns_servers = 127.0.0.1 "
	    "192.0.2.53\n", "t.conf:2: warning: dns_servers: \"192.0.2.53\" "
	    "is not on this machine, and DNS blocklists refuse queries from "
	    "shared resolvers (they answer 127.255.255.x): run a resolver "
	    "here for dnsbl (doc/filtering.md)\n"));
	config_free(ok("dnsbl = bl.example\ndns_servers = [::1]:5353\n"));
}

Test(config, milter)
{
	struct config *b;
	char *one, *two;
	struct config *cfg = ok("milter = dkim unix:/run/opendkim/dkim.sock\n"
	    "milter = rspamd inet:localhost:11332 timeout_eom=20s "
	    "default_action=ACCEPT\n"
	    "milter = six inet:[::1]:8891 timeout_connect=2s\n"
	    "milter_timeout_command = 10s\nmilter_default_action = reject\n"
	    "milter_submission = yes\n");

	cr_assert_eq(cfg->nmilters, 3);
	cr_assert_str_eq(cfg->milters[0].name, "dkim");
	cr_assert_str_eq(cfg->milters[0].socket,
	    "unix:/run/opendkim/dkim.sock");
	cr_assert_eq(cfg->milters[0].addr.ss_family, AF_UNIX);
	/* What a line leaves out is the global keys', set after it. */
	cr_assert_eq(cfg->milters[0].timeout[MILTER_TIMEOUT_CONNECT], 30);
	cr_assert_eq(cfg->milters[0].timeout[MILTER_TIMEOUT_COMMAND], 10);
	cr_assert_eq(cfg->milters[0].timeout[MILTER_TIMEOUT_EOM], 100);
	cr_assert_eq(cfg->milters[0].default_action, MILTER_ACTION_REJECT);
	/* localhost is the loopback address; its options are its own. */
	cr_assert_str_eq(cfg->milters[1].socket, "inet:127.0.0.1:11332");
	cr_assert_eq(cfg->milters[1].addr.ss_family, AF_INET);
	cr_assert_eq(cfg->milters[1].timeout[MILTER_TIMEOUT_EOM], 20);
	cr_assert_eq(cfg->milters[1].default_action, MILTER_ACTION_ACCEPT);
	cr_assert_str_eq(cfg->milters[2].socket, "inet:[::1]:8891");
	cr_assert_eq(cfg->milters[2].addr.ss_family, AF_INET6);
	cr_assert_eq(cfg->milters[2].timeout[MILTER_TIMEOUT_CONNECT], 2);
	cr_assert(cfg->milter_submission);
	/* Printed: the options given, and only those; it parses back. */
	one = print(cfg);
	cr_assert(strstr(one, "milter = rspamd inet:127.0.0.1:11332 "
	    "timeout_eom=20s default_action=accept\n") != NULL, "%s", one);
	cr_assert(strstr(one, "milter = dkim unix:/run/opendkim/dkim.sock\n")
	    != NULL, "%s", one);
	b = ok(one);
	two = print(b);
	cr_assert_str_eq(one, two);
	cr_assert_eq(b->milters[1].timeout[MILTER_TIMEOUT_EOM], 20);
	free(one);
	free(two);
	config_free(b);
	config_free(cfg);
	cfg = ok("");
	cr_assert_eq(cfg->nmilters, 0);
	cr_assert_eq(cfg->milter_timeout[MILTER_TIMEOUT_CONNECT], 30,
	    "Postfix's default");
	cr_assert_eq(cfg->milter_timeout[MILTER_TIMEOUT_EOM], 100);
	cr_assert_str_eq(cfg->milter_default_action, "tempfail");
	cr_assert(!cfg->milter_submission);
	config_free(cfg);

	fails_like("milter = a unix:/a\nmilter = A inet:127.0.0.1:1\n",
	    "name A is taken (line 1)");
	fails_like("milter = a inet:mail.example:11332\n", "numeric address");
	fails_like("milter = a inet:127.0.0.1\n", "numeric address");
	fails_like("milter = a tcp:127.0.0.1:1\n", "is not unix:PATH");
	fails_like("milter = a unix:relative\n", "absolute path");
	fails_like("milter = a\n", "expected NAME");
	fails_like("milter = a/b unix:/x\n", "letters, digits");
	fails_like("milter = a unix:/x timeout_eom=0\n", "timeout_eom");
	fails_like("milter = a unix:/x speed=fast\n", "option \"speed=fast\"");
	fails_like("milter = a unix:/x default_action=bounce\n",
	    "is not accept, tempfail or reject");
	fails_like("milter_default_action = discard\n",
	    "is not accept, tempfail or reject");
	fails_like("milter_timeout_eom = 2h\n", "milter_timeout_eom");
}
