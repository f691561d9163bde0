/*
 * test_policy - relay decisions from client facts and parsed recipients.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp/address.h"
#include "conf/config.h"
#include "smtp/policy.h"

static struct config *cfg;

static void
setup(void)
{
	char *errors = NULL;

	cfg = config_parse("hostname = mail.example.test\n"
	    "listen = 127.0.0.1:25 mx\n"
	    "local_domains = example.test [192.0.2.25] [IPv6:2001:DB8:0::25] lan localhost\n"
	    "relay_domains = relay.example\n"
	    "mynetworks = 10.0.0.0/8, 2001:db8::/32\n"
	    "queue_dir = /nonexistent\n", "t.conf", &errors);
	cr_assert_not_null(cfg, "%s", errors ? errors : "");
	free(errors);
}

static void
teardown(void)
{
	config_free(cfg);
}

TestSuite(policy, .init = setup, .fini = teardown);

static int
decide(bool trusted, bool auth, const char *rcpt, const char **reply)
{
	struct policy_client c = { .trusted = trusted, .authenticated = auth, .role = ROLE_MX };
	struct address a;
	const char *err;

	cr_assert_geq(address_parse(rcpt, strlen(rcpt), &a, &err), 0, "%s", rcpt);
	*reply = NULL;
	return policy_rcpt(cfg, &c, &a, reply);
}

Test(policy, trusted_networks)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

	inet_pton(AF_INET, "10.9.8.7", &sin.sin_addr);
	cr_assert(policy_trusted(cfg, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "11.0.0.1", &sin.sin_addr);
	cr_assert_not(policy_trusted(cfg, (struct sockaddr *)&sin));
	inet_pton(AF_INET6, "::ffff:10.1.1.1", &sin6.sin6_addr);
	cr_assert(policy_trusted(cfg, (struct sockaddr *)&sin6), "mapped IPv4");
	inet_pton(AF_INET6, "2001:db8:1::5", &sin6.sin6_addr);
	cr_assert(policy_trusted(cfg, (struct sockaddr *)&sin6));
	inet_pton(AF_INET6, "2001:db9::5", &sin6.sin6_addr);
	cr_assert_not(policy_trusted(cfg, (struct sockaddr *)&sin6));
}

Test(policy, denied_clients)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct config *c;
	char *errors = NULL;

	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	cr_assert_not(policy_client_denied(cfg, (struct sockaddr *)&sin),
	    "nobody is denied by default");
	c = config_parse("hostname = mail.example.test\n"
	    "listen = 127.0.0.1:25 mx\n"
	    "client_deny = 192.0.2.0/25 198.51.100.5 2001:db8:bad::/48\n",
	    "t.conf", &errors);
	cr_assert_not_null(c, "%s", errors ? errors : "");
	free(errors);
	cr_assert(policy_client_denied(c, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "192.0.2.200", &sin.sin_addr);
	cr_assert_not(policy_client_denied(c, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "198.51.100.5", &sin.sin_addr);
	cr_assert(policy_client_denied(c, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "198.51.100.6", &sin.sin_addr);
	cr_assert_not(policy_client_denied(c, (struct sockaddr *)&sin));
	inet_pton(AF_INET6, "::ffff:192.0.2.1", &sin6.sin6_addr);
	cr_assert(policy_client_denied(c, (struct sockaddr *)&sin6),
	    "mapped IPv4");
	inet_pton(AF_INET6, "2001:db8:bad:1::1", &sin6.sin6_addr);
	cr_assert(policy_client_denied(c, (struct sockaddr *)&sin6));
	inet_pton(AF_INET6, "2001:db8:bae::1", &sin6.sin6_addr);
	cr_assert_not(policy_client_denied(c, (struct sockaddr *)&sin6));
	config_free(c);
}

Test(policy, untrusted_client_gets_only_our_domains)
{
	const char *r;

	cr_assert_eq(decide(false, false, "<u@example.test>", &r), 0);
	cr_assert_eq(decide(false, false, "<u@EXAMPLE.test.>", &r), 0);
	cr_assert_eq(decide(false, false, "<u@relay.example>", &r), 0);
	cr_assert_eq(decide(false, false, "<postmaster>", &r), 0);
	cr_assert_eq(decide(false, false, "<u@[192.0.2.25]>", &r), 0,
	    "a literal listed in brackets is ours");
	cr_assert_eq(decide(false, false, "<u@example.org>", &r), -1);
	cr_assert_str_eq(r, "550 5.7.1 Relaying denied");
	cr_assert_eq(decide(false, false, "<u@[192.0.2.26]>", &r), -1);
	cr_assert_eq(decide(false, false, "<u@[IPv6:2001:db8::0:25]>", &r), 0,
	    "another spelling of a listed IPv6 literal is still ours");
	cr_assert_eq(decide(false, false, "<u@[IPv6:2001:db8::26]>", &r), -1);
	cr_assert_eq(decide(false, false, "<u@sub.example.test>", &r), -1,
	    "subdomains are not implied");
}

Test(policy, routing_tricks_are_refused_for_untrusted_clients)
{
	static const char *const tricks[] = {
		"<u%example.org@example.test>",
		"<example.org!u@example.test>",
		"<\"u@example.org\"@example.test>",
		"<@example.test:u@example.test>",
		"\"u@example.org\"",
		"example.org!u",
	};
	size_t i;
	const char *r;

	for (i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
		cr_assert_eq(decide(false, false, tricks[i], &r), -1, "%s", tricks[i]);
		cr_assert_eq(strncmp(r, "550 5.7.1 ", 10), 0, "%s: %s", tricks[i], r);
	}
}

Test(policy, trusted_or_authenticated_may_relay)
{
	const char *r;

	cr_assert_eq(decide(true, false, "<u@example.org>", &r), 0);
	cr_assert_eq(decide(false, true, "<u@example.org>", &r), 0);
	cr_assert_eq(decide(true, false, "<u%example.org@relay.example>", &r),
	    0);
	/* In a local domain the local part must still be a mailbox: a
	 * routing trick is refused in the session, never bounced later. */
	cr_assert_eq(decide(true, false, "<u%example.org@example.test>", &r),
	    -1);
	cr_assert_str_eq(r, "550 5.1.1 User unknown");
}

/* With no table, what the runner would deliver (a local part that can
 * be a mailbox name) and nothing else, from any client. */
Test(policy, no_table_means_every_mailbox_name)
{
	static const char *const yes[] = { "<anyone@example.test>",
	    "<a=b@example.test>", "<O'Brien@lan>", "<\"plain\"@example.test>" };
	static const char *const no[] = { "<\"user evil\"@example.test>",
	    "<\"a,b\"@example.test>", "<\"a/b\"@example.test>",
	    "<\".x\"@example.test>", "<jos\xc3\xa9@example.test>",
	    "<\"odd one\"@lan>" };
	const char *r;

	for (int trusted = 0; trusted < 2; trusted++) {
		for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
			cr_assert_eq(decide(trusted, false, yes[i], &r), 0,
			    "%s: %s", yes[i], r);
		for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
			cr_assert_eq(decide(trusted, false, no[i], &r), -1,
			    "%s", no[i]);
			cr_assert_str_eq(r, "550 5.1.1 User unknown");
		}
	}
	cr_assert(policy_local_user(cfg, "a=b", "example.test"));
	cr_assert_not(policy_local_user(cfg, "user evil", "example.test"));
}

/* Handed to qmail-queue with no table, every local part goes on:
 * qmail decides, as it did behind qmail-smtpd. */
Test(policy, qmail_queue_takes_every_local_part)
{
	struct config	*c;
	char		*errors = NULL;

	c = config_parse("hostname = mail.example.test\n"
	    "listen = 127.0.0.1:25 mx\nlocal_domains = example.test\n"
	    "local_delivery = qmail-queue:/var/qmail/bin/qmail-queue\n",
	    "t.conf", &errors);
	cr_assert_not_null(c, "%s", errors ? errors : "");
	cr_assert(policy_local_user(c, "user evil", "example.test"));
	cr_assert(policy_local_user(c, "jos\xc3\xa9", "example.test"));
	config_free(c);
}

/* The bare postmaster is this host's: qualified with hostname, and that
 * address is delivered here although hostname is not a local domain. */
Test(policy, bare_postmaster_is_ours)
{
	struct address	 a;
	const char	*err;
	char		 out[ADDR_PATH_MAX + 1];

	cr_assert_gt(address_parse("<PostMaster>", 12, &a, &err), 0);
	cr_assert_eq(policy_rcpt_qualify(cfg, &a), 0);
	cr_assert_eq(address_format(&a, out, sizeof(out)), 28);
	cr_assert_str_eq(out, "postmaster@mail.example.test");
	cr_assert_gt(address_parse("<Bob@Example.ORG>", 17, &a, &err), 0);
	cr_assert_eq(policy_rcpt_qualify(cfg, &a), 0);
	cr_assert_str_eq(a.local, "Bob", "other addresses are left alone");
	cr_assert_str_eq(a.domain, "example.org");

	cr_assert_not(policy_local_domain(cfg, "mail.example.test"));
	cr_assert(policy_local_rcpt(cfg, "postmaster", "mail.example.test"));
	cr_assert(policy_local_rcpt(cfg, "PostMaster", "MAIL.example.test."));
	cr_assert(policy_local_rcpt(cfg, "bob", "example.test"));
	cr_assert_not(policy_local_rcpt(cfg, "bob", "mail.example.test"),
	    "only the postmaster of hostname");
	cr_assert_not(policy_local_rcpt(cfg, "postmaster", "example.org"));
}

/* Domains in the configuration are ASCII (A-labels); an SMTPUTF8
 * recipient may name the same domain in UTF-8 (U-labels). It is the
 * same domain, as for Postfix: ours, relayed for, or neither alike. */
Test(policy, utf8_domains_match_their_a_labels)
{
	struct config	*c;
	struct policy_client pc = { .role = ROLE_MX };
	struct address	 a;
	const char	*err, *r = NULL;
	char		*errors = NULL;
	static const char rcpt[] = "<u@B\xc3\xbc" "cher.example>";

	c = config_parse("hostname = mail.xn--caf-dma.test\n"
	    "listen = 127.0.0.1:25 mx\n"
	    "local_domains = xn--bcher-kva.example\n"
	    "relay_domains = xn--mnchen-3ya.example\n"
	    "queue_dir = /nonexistent\n", "t.conf", &errors);
	cr_assert_not_null(c, "%s", errors ? errors : "");
	free(errors);
	cr_assert(policy_local_domain(c, "b\xc3\xbc" "cher.example"));
	cr_assert(policy_local_domain(c, "xn--bcher-kva.example"));
	cr_assert(policy_relay_domain(c, "m\xc3\xbc" "nchen.example."));
	cr_assert_not(policy_local_domain(c, "b\xc3\xa4" "cher.example"));
	cr_assert_not(policy_local_domain(c, "b\xc3\xbc" "cher.example.org"));
	cr_assert_not(policy_local_domain(c, "\xe2\x98\x83\xe2\x80\x8d.example"),
	    "no valid A-label form, nobody's domain");
	cr_assert(policy_local_rcpt(c, "postmaster", "mail.caf\xc3\xa9.test"));
	cr_assert(policy_local_rcpt(c, "anyone", "b\xc3\xbc" "cher.example"));

	cr_assert_gt(address_parse(rcpt, strlen(rcpt), &a, &err), 0, "%s", err);
	cr_assert_eq(policy_rcpt(c, &pc, &a, &r), 0, "%s", r ? r : "");
	config_free(c);
}

Test(policy, recipient_without_domain)
{
	const char *r;

	cr_assert_eq(decide(true, false, "<root>", &r), -1);
	cr_assert_str_eq(r, "550 5.1.3 Recipient address must have a domain");
	cr_assert_eq(decide(false, false, "<PostMaster>", &r), 0);
}

/* The name policy_sender would have DNS look up; "" for none */
static char looked_up[256];

static int
sender(bool trusted, const char *from, bool *lookup, const char **reply)
{
	struct policy_client c = { .trusted = trusted, .role = ROLE_MX };
	struct address a;
	const char *err;
	int rc;

	cr_assert_geq(address_parse(from, strlen(from), &a, &err), 0, "%s", from);
	*reply = NULL;
	rc = policy_sender(cfg, &c, &a, looked_up, sizeof(looked_up), reply);
	*lookup = looked_up[0] != '\0';
	return rc;
}

Test(policy, sender_checks)
{
	const char *r;
	bool lookup;

	cr_assert_eq(sender(false, "<>", &lookup, &r), 0);
	cr_assert_not(lookup, "the null sender is never looked up");
	cr_assert_eq(sender(false, "<relaytest>", &lookup, &r), -1);
	cr_assert_str_eq(r, "553 5.5.4 Domain name required");
	cr_assert_eq(sender(false, "relaytest@localhost", &lookup, &r), -1);
	cr_assert_str_eq(r, "553 5.5.4 Real domain name required");
	cr_assert_eq(sender(false, "<a@mailhost>", &lookup, &r), -1);
	cr_assert_str_eq(r, "553 5.5.4 Real domain name required");
	cr_assert_eq(sender(false, "<a@lan>", &lookup, &r), 0,
	    "a single label that is one of our domains");
	cr_assert_not(lookup);
	cr_assert_eq(sender(false, "<a@localhost>", &lookup, &r), -1,
	    "localhost even when listed");
	cr_assert_eq(sender(false, "<a@example.org>", &lookup, &r), 0);
	cr_assert(lookup, "a foreign domain must be looked up");
	cr_assert_eq(sender(false, "<a@Example.Test>", &lookup, &r), 0);
	cr_assert_not(lookup, "our own domain is not looked up");
	cr_assert_eq(sender(false, "<a@[192.0.2.99]>", &lookup, &r), 0);
	cr_assert_not(lookup, "a literal is not looked up");
	cr_assert_eq(sender(false, "<a@example.org>", &lookup, &r), 0);
	cr_assert_str_eq(looked_up, "example.org");
	/* A UTF-8 domain is looked up by its IDNA2008 A-labels
	 * (RFC 5891; the same names as in RFC 3492's examples). */
	cr_assert_eq(sender(false, "<a@b\xc3\xbc" "cher.example>", &lookup, &r), 0);
	cr_assert(lookup, "a UTF-8 domain is looked up too");
	cr_assert_str_eq(looked_up, "xn--bcher-kva.example");
	cr_assert_eq(sender(false, "<a@B\xc3\x9c" "CHER.example>", &lookup, &r), 0);
	cr_assert_str_eq(looked_up, "xn--bcher-kva.example",
	    "upper case maps to the same A-label");
	cr_assert_eq(sender(false, "<a@stra\xc3\x9f" "e.example>", &lookup, &r), 0);
	cr_assert_str_eq(looked_up, "xn--strae-oqa.example",
	    "non-transitional: sharp s is kept, as IDNA2008 wants");
	/* Not IDNA: a disallowed code point (U+2665 BLACK HEART SUIT), a
	 * combining mark opening a label */
	cr_assert_eq(sender(false, "<a@i\xe2\x99\xa5" "mail.example>", &lookup, &r), -1);
	cr_assert_not(lookup);
	cr_assert_str_eq(r, "553 5.1.7 Sender domain is not a valid "
	    "internationalized domain name (IDNA2008)");
	cr_assert_eq(sender(false, "<a@\xcc\x81x.example>", &lookup, &r), -1);
	cr_assert_eq(sender(true, "root@localhost", &lookup, &r), 0);
	cr_assert_not(lookup, "trusted clients are not checked");
}

Test(policy, sender_dns_verdicts)
{
	cr_assert_null(policy_sender_dns(DNS_FOUND));
	cr_assert_str_eq(policy_sender_dns(DNS_NOT_FOUND),
	    "501 5.1.8 Sender domain must exist");
	cr_assert_eq(strncmp(policy_sender_dns(DNS_TEMPFAIL), "451 4.1.8 ", 10), 0,
	    "a DNS failure is never a permanent refusal");
}

/* --- the recipient table ---------------------------------------------- */

static char aliases_path[64];

/* users_setup - local users: alice and bob have mailboxes, info is an
 * alias; example.test and lan are ours, relay.example is relayed */
static void
users_setup(void)
{
	static const char aliases[] = "info: alice, bob\n"
	    "bob: bob, bob@elsewhere.example\n";
	char	 text[512], *errors = NULL;
	int	 fd;

	strcpy(aliases_path, "/tmp/sallyport-test-policy.XXXXXX");
	fd = mkstemp(aliases_path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, aliases, sizeof(aliases) - 1),
	    (ssize_t)sizeof(aliases) - 1);
	close(fd);
	snprintf(text, sizeof(text), "hostname = mail.example.test\n"
	    "local_domains = example.test lan\n"
	    "relay_domains = relay.example\n"
	    "mynetworks = 10.0.0.0/8\n"
	    "mailbox_users = alice bob\n"
	    "aliases = %s\n", aliases_path);
	cfg = config_parse(text, "t.conf", &errors);
	cr_assert_not_null(cfg, "%s", errors ? errors : "");
	free(errors);
}

static void
users_teardown(void)
{
	unlink(aliases_path);
	config_free(cfg);
}

TestSuite(policy_users, .init = users_setup, .fini = users_teardown);

Test(policy_users, unknown_local_users_are_refused_from_anyone)
{
	const char *r;

	for (int trusted = 0; trusted < 2; trusted++)
		for (int auth = 0; auth < 2; auth++) {
			cr_assert_eq(decide(trusted, auth, "<nobody@example.test>",
			    &r), -1);
			cr_assert_str_eq(r, "550 5.1.1 User unknown");
			cr_assert_eq(decide(trusted, auth, "<Nobody@LAN>", &r),
			    -1);
			cr_assert_str_eq(r, "550 5.1.1 User unknown");
		}
}

Test(policy_users, known_local_users_are_accepted)
{
	const char *r;

	cr_assert_eq(decide(false, false, "<alice@example.test>", &r), 0,
	    "a mailbox user");
	cr_assert_eq(decide(false, false, "<ALICE@example.test>", &r), 0);
	cr_assert_eq(decide(false, false, "<info@example.test>", &r), 0,
	    "an alias");
	cr_assert_eq(decide(false, false, "<bob@lan>", &r), 0);
	cr_assert_eq(decide(false, false, "<postmaster@example.test>", &r), 0,
	    "postmaster always");
	cr_assert_eq(decide(false, false, "<postmaster>", &r), 0);
}

Test(policy_users, relay_checks_come_first)
{
	const char *r;

	cr_assert_eq(decide(false, false, "<nobody@example.org>", &r), -1);
	cr_assert_str_eq(r, "550 5.7.1 Relaying denied");
	cr_assert_eq(decide(false, false, "<u%example.org@example.test>", &r),
	    -1);
	cr_assert_eq(strncmp(r, "550 5.7.1 ", 10), 0, "%s", r);
	cr_assert_eq(decide(false, false, "<nobody@relay.example>", &r), 0,
	    "relayed domains are not ours to know");
	cr_assert_eq(decide(true, false, "<nobody@example.org>", &r), 0);
}

Test(policy_users, catchall_knows_everyone)
{
	const char *r;
	char	*errors = NULL;

	config_free(cfg);
	cfg = config_parse("hostname = mail.example.test\n"
	    "local_domains = example.test\nmailbox_users = alice\n"
	    "catchall = alice\n", "t.conf", &errors);
	cr_assert_not_null(cfg, "%s", errors ? errors : "");
	cr_assert_eq(decide(false, false, "<anyone@example.test>", &r), 0);
}
