/*
 * test_selftest - the self-test's probes against the sample
 * configuration (etc/sallyport.conf.sample, found through
 * SALLYPORT_SRCDIR), its verdicts, placeholders and output.
 *
 * The resolver here is a fake: names under .invalid do not exist,
 * anything else is a temporary failure, so a lookup the self-test
 * should have answered itself shows up as a 451.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/config.h"
#include "lib/log.h"
#include "selftest/selftest.h"

static struct config *cfg;
static struct selftest st;
static unsigned lookups;		/* calls to the fake resolver */
static enum dns_result dns_answer;	/* its answer outside .invalid */

static enum dns_result
fake_dns(void *arg, const char *domain)
{
	size_t n = strlen(domain);

	(void)arg;
	lookups++;
	if (n > 8 && strcasecmp(domain + n - 8, ".invalid") == 0)
		return DNS_NOT_FOUND;
	return dns_answer;
}

/* sample - the sample configuration with `extra` lines after it */
static struct config *
sample(const char *extra)
{
	const char *top = getenv("SALLYPORT_SRCDIR");
	char path[4096], *text, *errors = NULL;
	struct config *c;
	size_t n, len;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/etc/sallyport.conf.sample",
	    top ? top : "../..");
	fp = fopen(path, "r");
	cr_assert_not_null(fp, "%s: set SALLYPORT_SRCDIR to the source tree",
	    path);
	len = 1 << 20;
	text = calloc(1, len);
	cr_assert_not_null(text);
	n = fread(text, 1, len - 4096, fp);
	fclose(fp);
	snprintf(text + n, len - n, "\n%s\n", extra ? extra : "");
	c = config_parse(text, "sallyport.conf.sample", &errors);
	cr_assert_not_null(c, "config: %s", errors ? errors : "?");
	free(errors);
	free(text);
	return c;
}

/* run - the in-process self-test against the sample plus `extra` */
static void
run(const char *extra)
{
	struct st_local_opts o = { .resolve = fake_dns };
	char err[256];

	log_set_quiet(1);
	lookups = 0;
	dns_answer = DNS_TEMPFAIL;
	cfg = sample(extra);
	cr_assert_eq(selftest_local(cfg, &o, &st, err, sizeof(err)), 0,
	    "%s", err);
}

static void
done(void)
{
	selftest_free(&st);
	config_free(cfg);
	cfg = NULL;
}

/* --- each probe, exactly --------------------------------------------------- */

/* With an FQDN for the hostname (the sample's default is this machine's
 * name, which may have no dot), every probe reaches its RCPT. */
#define FQDN	"hostname = mail.example.org"

struct expect {
	const char	*sent[4];	/* MAIL, then the RCPTs */
	const char	*reply[4];
	enum st_verdict	 verdict;
};

#define RELAY_DENIED	"550 5.7.1 Relaying denied"
#define SENDER_OK	"250 2.1.0 Ok"

static const struct expect expected[ST_NPROBES] = {
	{ { "MAIL FROM:<ksch@mail.example.org>",
	    "RCPT TO:<probe@external.example>" },
	  { SENDER_OK, RELAY_DENIED }, ST_PASS },
	{ { "mail from: ksch@tester.example", "RCPT TO:ksch@tester.example" },
	  { SENDER_OK, RELAY_DENIED }, ST_PASS },
	{ { "mail from: spamtest@spam.mail.tester.invalid" },
	  { "501 5.1.8 Sender domain must exist" }, ST_PASS },
	{ { "mail from: relaytest@localhost" },
	  { "553 5.5.4 Real domain name required" }, ST_PASS },
	{ { "MAIL FROM:<relaytest>" },
	  { "553 5.5.4 Domain name required" }, ST_PASS },
	{ { "MAIL FROM:<>", "RCPT TO:probe@external.example" },
	  { SENDER_OK, RELAY_DENIED }, ST_PASS },
	{ { "mail from: root@mail.example.org",
	    "RCPT TO:probe@external.example" },
	  { SENDER_OK, RELAY_DENIED }, ST_PASS },
	{ { "mail from: spamtest@[192.0.2.1]",
	    "RCPT TO:probe@external.example" },
	  { SENDER_OK, RELAY_DENIED }, ST_PASS },
	{ { "mail from: ksch@tester.example",
	    "RCPT TO:probe%external.example@mail.example.org" },
	  { SENDER_OK, "550 5.7.1 Source routing and %, ! or @ in the local "
	    "part are not allowed" }, ST_PASS },
	{ { "mail from: ksch@mail.example.org",
	    "RCPT TO:ksch%tester.example@[192.0.2.1]" },
	  { SENDER_OK, RELAY_DENIED }, ST_PASS },
	{ { "mail from: ksch@mail.example.org",
	    "RCPT TO:\"probe@external.example\"",
	    "RCPT TO:\"ksch@tester.example\"" },
	  { SENDER_OK, RELAY_DENIED, RELAY_DENIED }, ST_PASS },
	{ { "mail from: ksch@mail.example.org",
	    "RCPT TO:\"probe%external.example\"",
	    "RCPT TO:\"ksch%tester.example\"" },
	  { SENDER_OK, RELAY_DENIED, RELAY_DENIED }, ST_PASS },
	{ { "mail from: ksch@[192.0.2.1]",
	    "RCPT TO:\"probe@external.example@mail.example.org\"" },
	  { SENDER_OK, RELAY_DENIED }, ST_PASS },
	{ { "mail from: ksch@mail.example.org",
	    "RCPT TO:\"probe@external.example\"@[192.0.2.1]" },
	  { SENDER_OK, RELAY_DENIED }, ST_PASS },
	{ { "mail from: ksch@mail.example.org",
	    "RCPT TO:probe@external.example@[192.0.2.1]" },
	  { SENDER_OK, "501 5.1.3 Bad address syntax" }, ST_PASS },
	{ { "mail from: ksch@[192.0.2.1]",
	    "RCPT TO:@mail.example.org:root@tester.example" },
	  { SENDER_OK, RELAY_DENIED }, ST_PASS },
	{ { "mail from: ksch@mail.example.org",
	    "RCPT TO:@[203.0.113.7]:root@tester.example" },
	  { SENDER_OK, RELAY_DENIED }, ST_PASS },
	{ { "mail from: ksch@[192.0.2.2]", "RCPT TO:<tester.example!root>",
	    "RCPT TO:tester.example!nobody", "RCPT TO:tester.example!root" },
	  { SENDER_OK, RELAY_DENIED, RELAY_DENIED, RELAY_DENIED }, ST_PASS },
	{ { "mail from: ksch@mail.example.org",
	    "RCPT TO:tester.example!nobody@[192.0.2.2]" },
	  { SENDER_OK, RELAY_DENIED }, ST_PASS },
	{ { "mail from: postmaster@mail.example.org",
	    "RCPT TO:root@tester.example" },
	  { SENDER_OK, RELAY_DENIED }, ST_PASS },
};

/* replace - s with every "mail.example.org" replaced by `host` */
static const char *
replace(const char *s, const char *host, char *out, size_t outlen)
{
	const char *from = "mail.example.org", *p;
	size_t o = 0;

	while ((p = strstr(s, from)) != NULL) {
		o += (size_t)snprintf(out + o, outlen - o, "%.*s%s",
		    (int)(p - s), s, host);
		s = p + strlen(from);
	}
	snprintf(out + o, outlen - o, "%s", s);
	return out;
}

/* probe_lines - the MAIL and RCPT exchanges of row n, in order */
static size_t
probe_lines(int n, const struct st_exchange **v)
{
	const struct st_transcript *t = &st.rows[n].t;
	size_t k = 0;

	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].kind == ST_MAIL || t->v[i].kind == ST_RCPT)
			v[k++] = &t->v[i];
	return k;
}

ParameterizedTestParameters(probe, against_sample)
{
	static int numbers[ST_NPROBES];

	for (int i = 0; i < ST_NPROBES; i++)
		numbers[i] = i;
	return cr_make_param_array(int, numbers, ST_NPROBES);
}

ParameterizedTest(int *np, probe, against_sample)
{
	const struct expect *e = &expected[*np];
	const struct st_exchange *v[8];
	const struct st_transcript *t;
	char want[600];
	size_t k;

	/* The sample exactly as shipped: the machine's own hostname. */
	run(NULL);
	cr_assert_eq(st.rows[*np].probe->number, *np);
	cr_expect_eq(st.rows[*np].verdict, ST_PASS, "probe %d: %s (%s)", *np,
	    st_verdict_name(st.rows[*np].verdict), st.rows[*np].note);
	k = probe_lines(*np, v);
	for (size_t i = 0; i < k; i++)
		cr_expect_str_eq(v[i]->sent, replace(e->sent[i], cfg->hostname,
		    want, sizeof(want)));
	done();

	/* The same with an FQDN: every reply, exactly. */
	run(FQDN);
	k = probe_lines(*np, v);
	for (size_t i = 0; i < 4; i++) {
		if (e->sent[i] == NULL) {
			cr_expect_eq(k, i, "probe %d sent %zu lines", *np, k);
			break;
		}
		cr_assert_lt(i, k, "probe %d: line %zu missing", *np, i);
		cr_expect_str_eq(v[i]->sent, e->sent[i]);
		cr_expect_str_eq(v[i]->reply, e->reply[i], "probe %d: %s -> %s",
		    *np, v[i]->sent, v[i]->reply);
	}
	cr_expect_eq(st.rows[*np].verdict, e->verdict);
	/* Every session: greeting, EHLO, ..., RSET, QUIT; never DATA. */
	t = &st.rows[*np].t;
	cr_assert_geq(t->n, 5);
	cr_expect_eq(t->v[0].kind, ST_GREETING);
	cr_expect_str_eq(t->v[1].sent, "EHLO tester");
	cr_expect_str_eq(t->v[t->n - 2].sent, "RSET");
	cr_expect_str_eq(t->v[t->n - 1].sent, "QUIT");
	cr_expect_eq(t->v[t->n - 1].code, 221);
	for (size_t i = 0; i < t->n; i++)
		cr_expect(t->v[i].sent == NULL ||
		    strncasecmp(t->v[i].sent, "DATA", 4) != 0);
	done();
}

/* --- the whole run ---------------------------------------------------------- */

Test(selftest, sample_as_shipped_is_not_an_open_relay)
{
	struct st_counts c;

	run(NULL);
	st_count(&st, &c);
	cr_expect_eq(c.pass, ST_NPROBES);
	cr_expect_eq(c.fail + c.weak + c.error + c.cfail, 0);
	cr_expect_eq(st_exit_code(&st), 0);
	cr_expect_str_eq(st.client, "203.0.113.7");
	cr_expect_str_eq(st.p.server_ip, "192.0.2.1");
	cr_expect_str_eq(st.p.other_ip, "192.0.2.2");
	cr_expect_str_eq(st.p.server_host, cfg->hostname);
	cr_expect_eq(st.listener->role, ROLE_MX);
	/* Checks: the local domain, bounces, 127.0.0.1 relays, IPv6, the
	 * submission listener (no AUTH in clear, no MAIL without it; no
	 * relaying before AUTH, and without --auth-user the two checks of
	 * a logged-in user are not applicable), and the probes from IPv6
	 * answered as from IPv4, no wide network, SMTPUTF8, loops. */
	cr_assert_eq(st.nchecks, 12);
	cr_expect_eq(st.checks[11].verdict, ST_PASS, "%s", st.checks[11].note);
	cr_expect_eq(st.checks[10].verdict, ST_PASS, "%s", st.checks[10].note);
	cr_expect(strncmp(st.checks[10].name, "SMTPUTF8: ", 10) == 0);
	cr_expect_eq(st.checks[9].verdict, ST_PASS, "%s", st.checks[9].note);
	cr_expect(strncmp(st.checks[9].name, "mynetworks and proxy_trusted "
	    "hold no network wider", 47) == 0, "%s", st.checks[9].name);
	cr_assert_eq(st.nruns, 1);
	cr_expect_eq(st.checks[8].verdict, ST_PASS, "%s", st.checks[8].note);
	cr_expect_eq(st.checks[0].verdict, ST_PASS, "%s", st.checks[0].note);
	cr_expect_eq(st.checks[1].verdict, ST_PASS);
	cr_expect(strstr(st.checks[2].name, "127.0.0.1") != NULL);
	cr_expect_eq(st.checks[2].verdict, ST_PASS);
	cr_expect(strstr(st.checks[3].name, "2001:db8::7") != NULL);
	cr_expect_eq(st.checks[3].verdict, ST_PASS);
	cr_expect_str_eq(st.checks[4].name, "submission listener *:587: AUTH "
	    "only after TLS, MAIL without AUTH refused");
	cr_expect_eq(st.checks[4].verdict, ST_PASS, "%s", st.checks[4].note);
	cr_expect_str_eq(st.checks[5].name, "submission listener *:587: no "
	    "relaying before AUTH");
	cr_expect_eq(st.checks[5].verdict, ST_PASS, "%s", st.checks[5].note);
	cr_expect_str_eq(st.checks[5].listener, "*:587 submission");
	for (size_t i = 6; i < 8; i++) {
		cr_expect_eq(st.checks[i].verdict, ST_NA);
		cr_expect_eq(st.checks[i].t.n, 0);
		cr_expect(strstr(st.checks[i].note, "--auth-user USER "
		    "--auth-pass-file FILE") != NULL, "%s", st.checks[i].note);
	}
	done();
}

/* exchange - the i-th exchange of a transcript that was sent, or NULL */
static const struct st_exchange *
sent_at(const struct st_transcript *t, const char *prefix, size_t nth)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].sent && strncmp(t->v[i].sent, prefix,
		    strlen(prefix)) == 0 && nth-- == 0)
			return &t->v[i];
	return NULL;
}

Test(selftest, submission_in_clear_and_inside_tls)
{
	const struct st_transcript *t;
	const struct st_exchange *x;

	run(FQDN);
	t = &st.checks[4].t;
	/* In clear: STARTTLS offered, AUTH neither offered nor taken. */
	x = sent_at(t, "EHLO", 0);
	cr_assert_not_null(x);
	cr_expect_not(x->tls);
	cr_expect_not_null(st_ehlo_has(x->reply, "STARTTLS"));
	cr_expect_null(st_ehlo_has(x->reply, "AUTH"));
	x = sent_at(t, "AUTH PLAIN ", 0);
	cr_assert_not_null(x);
	cr_expect_str_eq(x->reply, "538 5.7.11 Encryption required for "
	    "requested authentication mechanism");
	x = sent_at(t, "MAIL FROM:", 0);
	cr_expect_str_eq(x->reply, "530 5.7.0 Authentication required");
	/* After STARTTLS, answered as if by a handshake: AUTH offered (the
	 * configured mechanisms, or PLAIN LOGIN: no SASL is started),
	 * still no MAIL without it. */
	x = sent_at(t, "STARTTLS", 0);
	cr_assert_not_null(x);
	cr_expect_not(x->tls);
	cr_expect_str_eq(x->reply, "220 2.0.0 Ready to start TLS");
	x = sent_at(t, "EHLO", 2);
	cr_assert_not_null(x);
	cr_expect(x->tls);
	cr_expect_null(st_ehlo_has(x->reply, "STARTTLS"));
	cr_expect(strncmp(st_ehlo_has(x->reply, "AUTH"), "AUTH PLAIN LOGIN\n",
	    17) == 0, "%s", x->reply);
	x = sent_at(t, "MAIL FROM:", 1);
	cr_expect(x->tls);
	cr_expect_eq(x->code, 530);
	cr_expect(strstr(st.checks[4].note, "before TLS EHLO offers STARTTLS "
	    "and no AUTH") != NULL, "%s", st.checks[4].note);
	done();
	/* Configured mechanisms are what EHLO offers inside TLS. */
	run(FQDN "\nsasl_mechanisms = CRAM-MD5 PLAIN");
	x = sent_at(&st.checks[4].t, "EHLO", 2);
	cr_expect(strncmp(st_ehlo_has(x->reply, "AUTH"), "AUTH CRAM-MD5 PLAIN"
	    "\n", 20) == 0, "%s", x->reply);
	done();
}

Test(selftest, submissions_listener_starts_in_tls)
{
	const struct st_exchange *x;
	const struct st_check *c = NULL;

	run(FQDN "\nlisten = *:25 mx\nlisten = *:465 submissions\n"
	    "listen = [2001:db8::25]:587 submission");
	cr_assert_eq(st.nchecks, 16);
	cr_expect_str_eq(st.checks[4].name, "submissions listener *:465: AUTH "
	    "offered inside TLS, MAIL without AUTH refused");
	cr_expect_str_eq(st.checks[8].name, "submission listener "
	    "[2001:db8::25]:587: AUTH only after TLS, MAIL without AUTH "
	    "refused");
	c = &st.checks[4];
	cr_expect_eq(c->verdict, ST_PASS, "%s", c->note);
	cr_expect_eq(st.checks[8].verdict, ST_PASS, "%s", st.checks[8].note);
	/* No relaying before AUTH, inside TLS from the greeting. */
	cr_expect_eq(st.checks[5].verdict, ST_PASS, "%s", st.checks[5].note);
	cr_expect(st.checks[5].t.v[0].tls);
	cr_expect_null(sent_at(&st.checks[5].t, "STARTTLS", 0));
	/* One session, inside TLS from the greeting on. */
	cr_expect_null(sent_at(&c->t, "AUTH", 0));
	cr_expect_null(sent_at(&c->t, "EHLO", 1));
	cr_expect(c->t.v[0].tls);
	x = sent_at(&c->t, "MAIL FROM:", 0);
	cr_expect_eq(x->code, 530);
	cr_expect(strncmp(c->note, "inside TLS EHLO offers AUTH ", 28) == 0,
	    "%s", c->note);
	done();
	/* Only submission listeners: the probes too run inside TLS, and
	 * every MAIL is refused for want of AUTH. */
	run(FQDN "\nlisten = *:465 submissions");
	cr_expect_eq(st.listener->role, ROLE_SUBMISSIONS);
	cr_expect(st.rows[0].t.v[0].tls);
	cr_expect_eq(st.rows[0].t.v[2].code, 530);
	cr_expect_eq(st.rows[0].verdict, ST_PASS);
	/* Bounces and a trusted relay are the MX's business. */
	cr_expect_eq(st.checks[1].verdict, ST_NA);
	cr_expect_eq(st.checks[2].verdict, ST_NA);
	cr_expect(strstr(st.checks[2].note, "no mx listener") != NULL);
	cr_expect_eq(st_exit_code(&st), 0);
	done();
}

Test(selftest, no_certificate_no_auth)
{
	struct st_local_opts o = { .resolve = fake_dns };
	char err[256], *errors = NULL;

	cfg = config_parse(FQDN "\nlisten = *:25 mx\n", "nocert.conf", &errors);
	cr_assert_not_null(cfg, "%s", errors);
	cr_assert_eq(selftest_local(cfg, &o, &st, err, sizeof(err)), 0,
	    "%s", err);
	cr_expect(strstr(st.policy, "There is no certificate (tls_cert), so "
	    "no listener offers STARTTLS or AUTH") != NULL, "%s", st.policy);
	for (size_t i = 0; i < st.nchecks; i++)
		cr_expect(strstr(st.checks[i].name, "submission") == NULL);
	cr_expect_null(st_ehlo_has(st.rows[0].t.v[1].reply, "STARTTLS"));
	done();
}

Test(selftest, prober_domains_are_not_asked_of_dns)
{
	run(FQDN);
	/* Only BAD_DOMAIN goes to the resolver, once a run (IPv4, IPv6):
	 * tester.example (probes 1 and 8) is answered by the self-test,
	 * SERVER_HOST is local. */
	cr_expect_eq(lookups, 2);
	cr_expect(strstr(st.rows[1].t.v[2].dns, "answered by the self-test"));
	cr_expect(strstr(st.rows[2].t.v[2].dns, "does not exist (DNS)"));
	done();
}

Test(selftest, dns_decides_probe_2)
{
	struct st_local_opts o = { .resolve = NULL };
	char err[256];

	/* No resolver: a temporary failure, so 451 and WEAK. */
	cfg = sample(FQDN);
	cr_assert_eq(selftest_local(cfg, &o, &st, err, sizeof(err)), 0);
	cr_expect_eq(st.rows[2].t.v[2].code, 451);
	cr_expect_eq(st.rows[2].verdict, ST_WEAK);
	cr_expect_eq(st_exit_code(&st), 0, "WEAK is not a relay");
	done();
	/* The check switched off: the sender is accepted, WEAK, noted. */
	run(FQDN "\nreject_unknown_sender_domain = no");
	cr_expect_eq(st.rows[2].t.v[2].code, 250);
	cr_expect_eq(st.rows[2].verdict, ST_WEAK);
	cr_expect(strstr(st.rows[2].note, "sender check is off") != NULL);
	done();
}

Test(selftest, open_relay_fails_and_names_the_probes)
{
	/* Not 8 (x%y@SERVER_HOST): the host's own domain has no mailbox
	 * of such a name, so even a trusted client gets 550 5.1.1. */
	static const int relayed[] = { 0, 1, 5, 6, 7, 9, 13, 15, 16, 18,
	    19 };
	struct st_counts c;
	size_t k = 0;

	run(FQDN "\nmynetworks = 0.0.0.0/0");
	cr_expect(strstr(st.client_note, "trusted") != NULL);
	for (int i = 0; i < ST_NPROBES; i++) {
		bool want = k < sizeof(relayed) / sizeof(relayed[0]) &&
		    relayed[k] == i;

		cr_expect_eq(st.rows[i].verdict == ST_FAIL, want,
		    "probe %d: %s %s", i, st_verdict_name(st.rows[i].verdict),
		    st.rows[i].note);
		k += want;
	}
	/* A trusted client skips the sender checks. */
	for (int i = 2; i <= 4; i++)
		cr_expect_eq(st.rows[i].verdict, ST_WEAK);
	st_count(&st, &c);
	cr_expect_eq(c.fail, 11);
	cr_expect_eq(st_exit_code(&st), 1);
	done();
}

Test(selftest, ipv6_wide_open_fails_a_check)
{
	run(FQDN "\nmynetworks = 127.0.0.0/8 ::/0");
	cr_expect_eq(st_exit_code(&st), 1);
	for (size_t i = 0; i < st.nchecks; i++)
		if (strncmp(st.checks[i].name, "mynetworks and ", 15) == 0) {
			/* ::/0 is wider than a /16 of global IPv6. */
			cr_expect_eq(st.checks[i].verdict, ST_FAIL);
			cr_expect(strstr(st.checks[i].note, "mynetworks ::/0"),
			    "%s", st.checks[i].note);
		} else if (strstr(st.checks[i].name, "IPv6")) {
			cr_expect_eq(st.checks[i].verdict, ST_FAIL);
			cr_expect(strstr(st.checks[i].note, "every IPv6"));
		}
	done();
}

Test(selftest, refusing_our_own_domains_fails)
{
	run(FQDN "\nlocal_domains =\nrelay_domains =");
	cr_expect_eq(st_exit_code(&st), 1);
	cr_expect_eq(st.checks[0].verdict, ST_FAIL);
	done();
	/* A relay domain is checked like a local one. */
	run(FQDN "\nrelay_domains = relay.example");
	cr_expect_eq(st.checks[1].verdict, ST_PASS, "%s", st.checks[1].name);
	cr_expect(strstr(st.checks[1].name, "relay domain relay.example"));
	cr_expect_eq(st_exit_code(&st), 0);
	done();
}

Test(selftest, concrete_and_ipv6_listeners)
{
	run(FQDN "\nlisten = [2001:db8::25]:25 mx");
	cr_expect_str_eq(st.p.server_ip, "2001:db8::25");
	cr_expect_str_eq(st.p.other_ip, "192.0.2.2");
	cr_expect_str_eq(st.rows[7].t.v[2].sent,
	    "mail from: spamtest@[IPv6:2001:db8::25]");
	cr_expect_eq(st_exit_code(&st), 0);
	done();
	run(FQDN "\nlisten = *:25 mx\nlisten = 10.1.2.254:587 submission");
	cr_expect_str_eq(st.p.server_ip, "10.1.2.254");
	cr_expect_str_eq(st.p.other_ip, "10.1.2.1");
	cr_expect(strstr(st.p.server_ip_note, "wildcard") != NULL);
	done();
}

/* --- placeholders ------------------------------------------------------------ */

static const struct st_places places = {
	.server_host = "mx.example.org", .server_ip = "192.0.2.1",
	.other_ip = "192.0.2.2", .tester_domain = "tester.example",
	.tester_ip = "2001:db8::7", .external_local = "probe",
	.external_domain = "external.example", .bad_domain = "x.invalid",
};

Test(placeholders, expand)
{
	char out[128];

	cr_assert_eq(st_expand(&places, "@[{TESTER_IP}]:root@{TESTER_DOMAIN}",
	    out, sizeof(out)), 0);
	cr_expect_str_eq(out, "@[IPv6:2001:db8::7]:root@tester.example");
	cr_assert_eq(st_expand(&places, "\"{EXTERNAL_RCPT}\"@[{SERVER_IP}]",
	    out, sizeof(out)), 0);
	cr_expect_str_eq(out, "\"probe@external.example\"@[192.0.2.1]");
	cr_expect_eq(st_expand(&places, "{NOPE}", out, sizeof(out)), -1);
	cr_expect_eq(st_expand(&places, "{SERVER_HOST}", out, 8), -1);
	/* Every template of the table expands. */
	for (int i = 0; i < ST_NPROBES; i++) {
		cr_expect_eq(st_expand(&places, st_probes[i].mail, out,
		    sizeof(out)), 0);
		for (int r = 0; r < ST_MAX_RCPTS && st_probes[i].rcpt[r]; r++)
			cr_expect_eq(st_expand(&places, st_probes[i].rcpt[r],
			    out, sizeof(out)), 0);
	}
}

Test(placeholders, other_ip)
{
	char out[NETADDR_STRLEN];

	st_other_ip("172.16.4.140", out, sizeof(out));
	cr_expect_str_eq(out, "172.16.4.141");
	st_other_ip("10.0.0.254", out, sizeof(out));
	cr_expect_str_eq(out, "10.0.0.1");
	st_other_ip("10.0.0.255", out, sizeof(out));
	cr_expect_str_eq(out, "10.0.0.1");
	st_other_ip("::1", out, sizeof(out));
	cr_expect_str_eq(out, "192.0.2.2");
}

Test(placeholders, domains_never_ours)
{
	struct st_places p;
	char err[256];

	cfg = sample(FQDN "\nlocal_domains = tester.example, external.example"
	    "\nrelay_domains = tester.example.com");
	cr_assert_eq(st_pick_domains(cfg, NULL, &p, err, sizeof(err)), 0);
	cr_expect_str_eq(p.tester_domain, "tester.example.net");
	cr_expect_str_eq(p.external_domain, "external.example.com");
	cr_expect_str_eq(p.ehlo, "tester");
	cr_expect_str_eq(p.bad_domain, "spam.mail.tester.invalid");
	cr_expect_eq(st_pick_domains(cfg, "tester.example", &p, err,
	    sizeof(err)), -1);
	cr_expect_eq(st_pick_domains(cfg, "bad domain", &p, err,
	    sizeof(err)), -1);
	cr_expect_eq(st_pick_domains(cfg, "probe.example.net", &p, err,
	    sizeof(err)), 0);
	cr_expect_str_eq(p.ehlo, "probe");
	config_free(cfg);
}

Test(placeholders, names_checked)
{
	struct st_local_opts o = { .server_name = "bad name",
	    .resolve = fake_dns };
	char err[256], longname[300];

	cfg = sample(FQDN);
	cr_expect_eq(selftest_local(cfg, &o, &st, err, sizeof(err)), -1);
	cr_expect(strstr(err, "not a domain name") != NULL, "%s", err);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	o.server_name = longname;
	cr_expect_eq(selftest_local(cfg, &o, &st, err, sizeof(err)), -1);
	o.server_name = "other.example.org";
	cr_assert_eq(selftest_local(cfg, &o, &st, err, sizeof(err)), 0);
	cr_expect_str_eq(st.p.server_host, "other.example.org");
	cr_expect_str_eq(st.rows[19].t.v[2].sent,
	    "mail from: postmaster@other.example.org");
	cr_expect(st_domain_name("a-b.example", 11));
	cr_expect_not(st_domain_name("-a.example", 9));
	cr_expect_not(st_domain_name("a\x1b.example", 10));
	done();
}

Test(placeholders, clients)
{
	struct sockaddr_storage ss;
	char text[NETADDR_STRLEN];
	bool via;

	cfg = sample("mynetworks = 203.0.113.0/24 10.0.0.0/8");
	cr_expect(st_pick_client(cfg, AF_INET, &ss, text, sizeof(text), &via));
	cr_expect_str_eq(text, "198.51.100.7");
	cr_expect(st_trusted_client(cfg, &ss, text, sizeof(text)));
	cr_expect_str_eq(text, "203.0.113.1");
	config_free(cfg);
	cfg = sample("mynetworks = 0.0.0.0/0 ::1/128");
	cr_expect_not(st_pick_client(cfg, AF_INET, &ss, text, sizeof(text), &via));
	cr_expect_str_eq(text, "203.0.113.7");
	cr_expect(st_pick_client(cfg, AF_INET6, &ss, text, sizeof(text), &via));
	cr_expect_str_eq(text, "2001:db8::7");
	config_free(cfg);
	/* A stranger in proxy_trusted names a client of mynetworks. */
	cfg = sample("mynetworks = 10.0.0.0/8\nproxy_trusted = 0.0.0.0/0\n"
	    "listen = 127.0.0.1:2525 mx proxy");
	cr_expect_not(st_pick_client(cfg, AF_INET, &ss, text, sizeof(text),
	    &via));
	cr_expect(via);
	cr_expect_str_eq(text, "10.0.0.1");
	cr_expect(st_pick_client(cfg, AF_INET6, &ss, text, sizeof(text), &via));
	cr_expect_not(via);
	config_free(cfg);
	cfg = sample("mynetworks = 10.0.0.0/8\nproxy_trusted = 0.0.0.0/0");
	cr_expect(st_pick_client(cfg, AF_INET, &ss, text, sizeof(text), &via),
	    "no proxy listener: proxy_trusted trusts nobody");
	config_free(cfg);
	cfg = sample("mynetworks = 10.0.0.0/8\nproxy_trusted = 0.0.0.0/0\n"
	    "listen = 127.0.0.1:25 mx\nlisten = 127.0.0.1:587 submission proxy");
	cr_expect(st_pick_client(cfg, AF_INET, &ss, text, sizeof(text), &via),
	    "a submission proxy listener: MAIL needs AUTH there anyway");
	config_free(cfg);
	cfg = sample("mynetworks = ::1/128 192.168.1.7");
	cr_expect(st_trusted_client(cfg, &ss, text, sizeof(text)));
	cr_expect_str_eq(text, "::1");
	config_free(cfg);
	cfg = sample("mynetworks =");
	cr_expect_not(st_trusted_client(cfg, &ss, text, sizeof(text)));
	config_free(cfg);
}

/* --- remote mode's pieces ------------------------------------------------------ */

Test(remote, split_target)
{
	char h[64], p[8];

	cr_assert_eq(st_split_target("mx.example.org", h, sizeof(h), p,
	    sizeof(p)), 0);
	cr_expect_str_eq(h, "mx.example.org");
	cr_expect_str_eq(p, "25");
	cr_assert_eq(st_split_target("127.0.0.1:2525", h, sizeof(h), p,
	    sizeof(p)), 0);
	cr_expect_str_eq(h, "127.0.0.1");
	cr_expect_str_eq(p, "2525");
	cr_assert_eq(st_split_target("[::1]:2525", h, sizeof(h), p,
	    sizeof(p)), 0);
	cr_expect_str_eq(h, "::1");
	cr_expect_str_eq(p, "2525");
	cr_assert_eq(st_split_target("2001:db8::25", h, sizeof(h), p,
	    sizeof(p)), 0);
	cr_expect_str_eq(h, "2001:db8::25");
	cr_expect_str_eq(p, "25");
	cr_expect_eq(st_split_target("host:0", h, sizeof(h), p, sizeof(p)), -1);
	cr_expect_eq(st_split_target("host:65536", h, sizeof(h), p,
	    sizeof(p)), -1);
	cr_expect_eq(st_split_target("host:", h, sizeof(h), p, sizeof(p)), -1);
	cr_expect_eq(st_split_target("[::1", h, sizeof(h), p, sizeof(p)), -1);
	cr_expect_eq(st_split_target(":25", h, sizeof(h), p, sizeof(p)), -1);
}

Test(remote, parse_reply)
{
	char *text = NULL;
	int code = 0;
	const char multi[] = "250-mx.example.org\r\n250-PIPELINING\r\n"
	    "250 SMTPUTF8\r\n220 next";

	cr_assert_eq(st_parse_reply(multi, strlen(multi), &code, &text),
	    (long)strlen(multi) - 8);
	cr_expect_eq(code, 250);
	cr_expect_str_eq(text, "250-mx.example.org\n250-PIPELINING\n"
	    "250 SMTPUTF8");
	free(text);
	cr_expect_eq(st_parse_reply("250-a\r\n250 b", 12, &code, &text), 0);
	cr_expect_eq(st_parse_reply("250-a\r\n", 7, &code, &text), 0);
	cr_expect_eq(st_parse_reply("25", 2, &code, &text), 0);
	cr_expect_eq(st_parse_reply("250\r\n", 5, &code, &text), 5);
	free(text);
	cr_expect_eq(st_parse_reply("hello\r\n", 7, &code, &text), -1);
	cr_expect_eq(st_parse_reply("250-a\r\n550 b\r\n", 14, &code, &text),
	    -1);
	cr_expect_eq(st_parse_reply("250xa\r\n", 7, &code, &text), -1);
	cr_expect_eq(st_parse_reply("650 a\r\n", 7, &code, &text), -1);
}

Test(remote, ehlo_keywords)
{
	const char *ehlo = "250-mx.example.org\n250-AUTHX\n250-auth=LOGIN\n"
	    "250-AUTH PLAIN LOGIN\n250 STARTTLS";

	cr_expect_str_eq(st_ehlo_has(ehlo, "STARTTLS"), "STARTTLS");
	cr_expect_str_eq(st_ehlo_has(ehlo, "AUTH"), "auth=LOGIN\n"
	    "250-AUTH PLAIN LOGIN\n250 STARTTLS");
	cr_expect_null(st_ehlo_has(ehlo, "SIZE"));
	cr_expect_null(st_ehlo_has("250 mx.example.org", "STARTTLS"));
}

/* --- verdicts -------------------------------------------------------------------- */


static void
add(struct st_transcript *t, enum st_kind kind, const char *sent, int code)
{
	struct st_exchange *x = st_transcript_add(t, kind, sent);

	cr_assert_not_null(x);
	x->code = code;
	if (code)
		x->reply = strdup("reply");
	else
		x->error = "connection closed by the server";
}

/* judge - verdict of probe 0 over MAIL code and RCPT codes */
static enum st_verdict
judge(int mail, int rcpt1, int rcpt2, bool *reached, char *note)
{
	struct st_transcript t = { 0 };
	enum st_verdict v;

	add(&t, ST_GREETING, NULL, 220);
	add(&t, ST_EHLO, "EHLO tester", 250);
	add(&t, ST_MAIL, "MAIL FROM:<a@b.example>", mail);
	add(&t, ST_RCPT, "RCPT TO:<c@d.example>", rcpt1);
	add(&t, ST_RCPT, "RCPT TO:<e@f.example>", rcpt2);
	v = st_judge(&st_probes[0], &t, reached, note, ST_NOTE_MAX);
	st_transcript_free(&t);
	return v;
}

/* submission - the verdict of a submission check over EHLO replies and
 * AUTH and MAIL codes: in clear (unless ehlo_clear is NULL), then
 * inside TLS */
static enum st_verdict
submission(const char *ehlo_clear, int auth, int mail, bool asked,
    const char *ehlo_tls, int mail_tls, char *note)
{
	struct st_check c;
	size_t tls_from = 0;

	memset(&c, 0, sizeof(c));
	if (ehlo_clear) {
		add(&c.t, ST_GREETING, NULL, 220);
		add(&c.t, ST_EHLO, "EHLO tester", 250);
		free(c.t.v[1].reply);
		c.t.v[1].reply = strdup(ehlo_clear);
		add(&c.t, ST_AUTH, "AUTH PLAIN AHByb2JlAHByb2Jl", auth);
		add(&c.t, ST_MAIL, "MAIL FROM:<a@b.example>", mail);
		tls_from = c.t.n;
	}
	add(&c.t, ST_GREETING, NULL, 220);
	add(&c.t, ST_EHLO, "EHLO tester", 250);
	free(c.t.v[c.t.n - 1].reply);
	c.t.v[c.t.n - 1].reply = strdup(ehlo_tls);
	add(&c.t, ST_MAIL, "MAIL FROM:<a@b.example>", mail_tls);
	st_judge_submission(&c, tls_from, asked);
	snprintf(note, ST_NOTE_MAX, "%s", c.note);
	st_transcript_free(&c.t);
	return c.verdict;
}

Test(verdicts, submission_rules)
{
	const char *clear = "250-mx.example.org\n250-STARTTLS\n250 SIZE 10";
	const char *tls = "250-mx.example.org\n250-AUTH PLAIN\n250 SIZE 10";
	char note[ST_NOTE_MAX];

	cr_expect_eq(submission(clear, 538, 530, false, tls, 530, note),
	    ST_PASS);
	cr_expect_str_eq(note, "before TLS EHLO offers STARTTLS and no AUTH; "
	    "inside TLS EHLO offers AUTH PLAIN; MAIL needs AUTH");
	cr_expect_eq(submission(NULL, 0, 0, false, tls, 530, note), ST_PASS);
	cr_expect_str_eq(note, "inside TLS EHLO offers AUTH PLAIN; MAIL needs "
	    "AUTH");
	/* AUTH offered in clear, or taken in clear, or SASL asked. */
	cr_expect_eq(submission("250-x\n250-STARTTLS\n250 AUTH PLAIN", 538,
	    530, false, tls, 530, note), ST_FAIL);
	cr_expect(strstr(note, "AUTH offered before TLS") != NULL, "%s", note);
	cr_expect_eq(submission(clear, 334, 530, false, tls, 530, note),
	    ST_FAIL);
	cr_expect_str_eq(note, "AUTH before TLS was not refused: reply");
	cr_expect_eq(submission(clear, 454, 530, true, tls, 530, note),
	    ST_FAIL);
	/* No STARTTLS: nobody could ever log in. */
	cr_expect_eq(submission("250-x\n250 SIZE 10", 538, 530, false, tls,
	    530, note), ST_FAIL);
	cr_expect(strstr(note, "STARTTLS not offered") != NULL);
	/* MAIL accepted without AUTH, in clear or inside TLS; a 4xx is not
	 * a refusal either. */
	cr_expect_eq(submission(clear, 538, 250, false, tls, 530, note),
	    ST_FAIL);
	cr_expect_str_eq(note, "MAIL without AUTH was not refused: reply");
	cr_expect_eq(submission(clear, 538, 530, false, tls, 250, note),
	    ST_FAIL);
	cr_expect_eq(submission(NULL, 0, 0, false, tls, 451, note), ST_FAIL);
	/* AUTH not offered inside TLS; no reply at all. */
	cr_expect_eq(submission(NULL, 0, 0, false, "250-x\n250 SIZE 1", 530,
	    note), ST_FAIL);
	cr_expect(strstr(note, "AUTH not offered inside TLS") != NULL);
	cr_expect_eq(submission(clear, 0, 530, false, tls, 530, note),
	    ST_FAIL);
	cr_expect_str_eq(note, "AUTH before TLS was not refused: connection "
	    "closed by the server");
}

Test(verdicts, rcpt_rules)
{
	char note[ST_NOTE_MAX];
	bool reached;

	cr_expect_eq(judge(250, 550, 550, &reached, note), ST_PASS);
	cr_expect(reached);
	cr_expect_eq(judge(250, 550, 250, &reached, note), ST_FAIL);
	cr_expect(strstr(note, "RCPT TO:<e@f.example> accepted"));
	cr_expect_eq(judge(250, 251, 550, &reached, note), ST_FAIL);
	cr_expect_eq(judge(250, 450, 550, &reached, note), ST_WEAK);
	cr_expect_eq(judge(451, 503, 503, &reached, note), ST_WEAK);
	cr_expect_eq(judge(553, 503, 503, &reached, note), ST_PASS);
	cr_expect_not(reached);
	cr_expect(strstr(note, "relay not reached"));
	/* Closed after a 421: that reply speaks for the rest. */
	cr_expect_eq(judge(250, 421, 0, &reached, note), ST_WEAK);
	/* Closed without a word: nothing can be said. */
	cr_expect_eq(judge(250, 0, 0, &reached, note), ST_ERROR);
	cr_expect(strstr(note, "connection closed"));
}

Test(verdicts, sender_probes)
{
	struct st_transcript t = { 0 };
	char note[ST_NOTE_MAX];
	bool reached;

	add(&t, ST_MAIL, "MAIL FROM:<relaytest>", 250);
	cr_expect_eq(st_judge(&st_probes[4], &t, &reached, note, sizeof(note)),
	    ST_WEAK);
	cr_expect(strstr(note, "sender check is off"));
	t.v[0].code = 553;
	cr_expect_eq(st_judge(&st_probes[4], &t, &reached, note, sizeof(note)),
	    ST_PASS);
	t.v[0].code = 451;
	cr_expect_eq(st_judge(&st_probes[4], &t, &reached, note, sizeof(note)),
	    ST_WEAK);
	st_transcript_free(&t);
}

/* --- output ----------------------------------------------------------------------- */

/* output - text or JSON of the current result, as a string */
static char *
output(bool json)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	cr_assert_not_null(fp);
	if (json)
		selftest_print_json(&st, fp);
	else
		selftest_print_text(&st, fp);
	fclose(fp);
	return text;
}

Test(output, text_and_json)
{
	char *text, *json;

	run(FQDN);
	text = output(false);
	cr_expect(strncmp(text, "Policy of sallyport.conf.sample: clients in "
	    "127.0.0.0/8 and ::1/128 may relay", 60) == 0, "%.200s", text);
	cr_expect(strstr(text, "\n 14  *:25 mx   unquoted double-@ with the    "
	    "mail from: ksch@mail.example.org") != NULL);
	cr_expect(strstr(text, "\nbaseline and 19 probes: 20 PASS, 0 WEAK, 0 "
	    "FAIL; checks: 10 PASS, 0 FAIL, 2 N/A: not an open relay; run "
	    "took ") != NULL, "%s", text);
	json = output(true);
	cr_expect(strstr(json, "\"mode\": \"in-process\"") != NULL);
	cr_expect(strstr(json, "\"sent\": \"RCPT TO:\\\"probe@external."
	    "example\\\"\"") != NULL);
	cr_expect(strstr(json, "\"exit\": 0\n}\n") != NULL);
	/* Each row names its listener and client; the IPv6 run follows. */
	cr_expect(strstr(json, "\"listener\": \"*:25 mx\",\n      \"client\": "
	    "\"203.0.113.7\"") != NULL);
	cr_expect(strstr(json, "\"runs\": [\n    {\n      \"title\": \"Probes as "
	    "untrusted IPv6 client 2001:db8::7") != NULL);
	cr_expect(strstr(json, "\"client\": \"2001:db8::7\"") != NULL);
	free(text);
	free(json);
	done();
}

Test(output, network_bytes_are_escaped)
{
	struct st_exchange *x;
	char *text, *json;

	run(FQDN);
	/* A hostile server's reply: terminal escapes, quotes, 8-bit. */
	x = &st.rows[0].t.v[3];
	free(x->reply);
	x->reply = strdup("550 \x1b[2J\"x\\y\" \xe9\r");
	text = output(false);
	json = output(true);
	cr_expect(strchr(text, '\x1b') == NULL);
	cr_expect(strstr(text, "550 \\x1b[2J\"x\\\\y\" \\xe9\\x0d") != NULL);
	cr_expect(strchr(json, '\x1b') == NULL);
	cr_expect(strstr(json, "\"550 \\u001b[2J\\\"x\\\\y\\\" \\u00e9\\r\"")
	    != NULL, "%s", json);
	free(text);
	free(json);
	done();
}

Test(output, failed_check_names_in_the_summary_are_escaped)
{
	char *text;

	run(FQDN);
	/* A name carries what was typed (--auth-user, a target): a
	 * newline and a terminal escape in it, in the failed check that
	 * the summary line names. */
	snprintf(st.checks[0].name, sizeof(st.checks[0].name),
	    "user bob\n  PASS  all is fine \x1b[2J relays");
	st.checks[0].verdict = ST_FAIL;
	text = output(false);
	cr_expect(strchr(text, '\x1b') == NULL, "%s", text);
	cr_expect(strstr(text, "\n  PASS  all is fine") == NULL, "%s", text);
	cr_expect(strstr(text, "check failed: user bob\\x0a  PASS  all is "
	    "fine \\x1b[2J relays") != NULL, "%s", text);
	st.checks[0].verdict = ST_ERROR;
	free(text);
	text = output(false);
	cr_expect(strchr(text, '\x1b') == NULL, "%s", text);
	cr_expect(strstr(text, "incomplete: user bob\\x0a") != NULL, "%s",
	    text);
	free(text);
	done();
}

Test(selftest, metrics_listener_is_not_probed)
{
	char *out;

	/* First and concrete, yet neither the target nor the address. */
	run(FQDN "\nlisten = 10.9.9.9:9225 metrics\nlisten = *:25 mx\n"
	    "listen = *:587 submission");
	cr_expect_eq(st.listener->role, ROLE_MX);
	cr_expect_str_neq(st.p.server_ip, "10.9.9.9");
	cr_expect(strstr(st.policy, "9225") == NULL, "%s", st.policy);
	for (size_t i = 0; i < st.nchecks; i++)
		cr_expect(strstr(st.checks[i].name, "metrics") == NULL, "%s",
		    st.checks[i].name);
	out = output(true);
	cr_expect(strstr(out, "9225") == NULL, "%s", out);
	cr_expect(strstr(out, "\"listeners\": [\n      {") != NULL, "%s", out);
	free(out);
	out = output(false);
	cr_expect(strstr(out, "9225") == NULL, "%s", out);
	free(out);
	cr_expect_eq(st_exit_code(&st), 0);
	done();
}

Test(selftest, only_a_metrics_listener_is_nothing_to_probe)
{
	struct st_local_opts o = { .resolve = fake_dns };
	char err[256], *errors = NULL;

	cfg = config_parse(FQDN "\nlisten = 127.0.0.1:9225 metrics\n",
	    "m.conf", &errors);
	cr_assert_not_null(cfg, "%s", errors);
	cr_expect_eq(selftest_local(cfg, &o, &st, err, sizeof(err)), -1);
	cr_expect_str_eq(err, "no listener to probe");
	config_free(cfg);
	cfg = NULL;
}

/* --- the other viewpoints -------------------------------------------------- */

/* check_named - the check whose name holds `part` */
static const struct st_check *
check_named(const char *part)
{
	for (size_t i = 0; i < st.nchecks; i++)
		if (strstr(st.checks[i].name, part))
			return &st.checks[i];
	cr_assert_fail("no check \"%s\"", part);
	return NULL;
}

Test(views, every_mx_listener_and_proxy_listener_is_probed)
{
	const struct st_check *c;

	run(FQDN "\nlisten = 192.0.2.25:25 mx\nlisten = 192.0.2.25:2525 mx\n"
	    "listen = 192.0.2.25:2526 mx proxy\nproxy_trusted = 10.0.0.0/24");
	cr_expect_eq(st_exit_code(&st), 0);
	/* IPv6, the second mx listener, the proxy listener. */
	cr_assert_eq(st.nruns, 3);
	cr_expect_str_eq(st.rows[0].listener, "192.0.2.25:25 mx");
	cr_expect_str_eq(st.runs[1].rows[7].listener, "192.0.2.25:2525 mx");
	cr_expect_str_eq(st.runs[2].rows[19].listener,
	    "192.0.2.25:2526 mx proxy");
	/* The proxied client is the one the header names. */
	cr_expect_str_eq(st.runs[2].client, "203.0.113.7");
	cr_expect(strstr(st.runs[2].via, "from proxy 10.0.0.1: PROXY TCP4 "
	    "203.0.113.7 192.0.2.25 40000 2526") != NULL, "%s", st.runs[2].via);
	for (size_t k = 0; k < st.nruns; k++)
		for (size_t i = 0; i < ST_NPROBES; i++)
			cr_expect_neq(st.runs[k].rows[i].verdict, ST_FAIL);
	c = check_named("a header naming mynetworks client 127.0.0.1 from "
	    "203.0.113.7");
	cr_expect_eq(c->verdict, ST_PASS, "%s", c->note);
	cr_expect(strstr(c->note, "closed (not in proxy_trusted)") != NULL);
	c = check_named("listener 192.0.2.25:2525 mx: the probes");
	cr_expect_eq(c->verdict, ST_PASS, "%s", c->note);
	done();
}

Test(views, proxy_trusted_wide_open_fails)
{
	const struct st_check *c;

	run(FQDN "\nlisten = 192.0.2.25:25 mx proxy\n"
	    "proxy_trusted = 0.0.0.0/0");
	cr_expect_eq(st_exit_code(&st), 1);
	c = check_named("a header naming mynetworks client");
	cr_expect_eq(c->verdict, ST_FAIL);
	cr_expect(strstr(c->note, "believed") != NULL, "%s", c->note);
	/* Outside clients named by a proxy are still refused. */
	c = check_named("naming outside client 203.0.113.7");
	cr_expect_eq(c->verdict, ST_PASS, "%s", c->note);
	done();
}

Test(views, no_mynetworks_nothing_to_claim)
{
	run(FQDN "\nmynetworks =\nlisten = 192.0.2.25:25 mx proxy\n"
	    "proxy_trusted = 10.0.0.0/24");
	cr_expect_eq(check_named("a header naming a mynetworks client")->verdict,
	    ST_NA);
	done();
}

/* rows_of - twenty rows of one verdict, each with a MAIL of `code` */
static void
rows_of(struct st_row *rows, enum st_verdict v, int code)
{
	memset(rows, 0, sizeof(struct st_row) * ST_NPROBES);
	for (size_t i = 0; i < ST_NPROBES; i++) {
		rows[i].probe = &st_probes[i];
		rows[i].verdict = v;
		add(&rows[i].t, ST_MAIL, "MAIL FROM:<>", code);
	}
}

static void
rows_free(struct st_row *rows)
{
	for (size_t i = 0; i < ST_NPROBES; i++)
		st_transcript_free(&rows[i].t);
}

Test(views, compare_names_the_probes_that_differ)
{
	static struct st_row a[ST_NPROBES], b[ST_NPROBES];
	struct st_check c;

	rows_of(a, ST_PASS, 550);
	rows_of(b, ST_PASS, 550);
	memset(&c, 0, sizeof(c));
	st_compare_runs(&c, "IPv4", a, "IPv6", b);
	cr_expect_eq(c.verdict, ST_PASS);
	cr_expect_str_eq(c.note, "");

	b[7].verdict = ST_FAIL;
	b[12].t.v[0].code = 450;
	b[12].verdict = ST_PASS;
	memset(&c, 0, sizeof(c));
	st_compare_runs(&c, "IPv4", a, "IPv6", b);
	cr_expect_eq(c.verdict, ST_FAIL);
	cr_expect_str_eq(c.note, "would relay: probes 7; answers differ from "
	    "IPv4's (IPv4 -> IPv6): probe 7 PASS -> FAIL, probe 12 PASS -> "
	    "PASS (other reply codes)");
	rows_free(a);
	rows_free(b);
}

Test(features, dnsbl_and_enforcement_lines_only_when_configured)
{
	run(FQDN);
	for (size_t i = 0; i < st.nchecks; i++)
		cr_expect(strncmp(st.checks[i].name, "DNSBL", 5) != 0 &&
		    strncmp(st.checks[i].name, "SPF/DMARC", 9) != 0, "%s",
		    st.checks[i].name);
	done();
	run(FQDN "\ndnsbl = zen.example\nspf_policy = enforce");
	cr_expect_eq(check_named("DNSBL: ")->verdict, ST_NA);
	cr_expect_eq(check_named("SPF/DMARC enforcement")->verdict, ST_NA);
	cr_expect(strstr(check_named("DNSBL: ")->note, "not checked in "
	    "process") != NULL);
	cr_expect_eq(st_exit_code(&st), 0);
	done();
}

Test(features, a_loop_is_refused_at_the_end_of_data)
{
	const struct st_check *c;
	const struct st_exchange *body = NULL;

	run(FQDN "\nmax_hops = 3");
	c = check_named("loops: a message with 4 Received fields (max_hops 3)");
	cr_expect_eq(c->verdict, ST_PASS, "%s", c->note);
	for (size_t i = 0; i < c->t.n; i++)
		if (c->t.v[i].kind == ST_BODY)
			body = &c->t.v[i];
	cr_assert_not_null(body);
	/* The transcript keeps a summary, not the message. */
	cr_expect_str_eq(body->sent, "(a message with 4 Received fields, "
	    "then \".\")");
	cr_expect_eq(body->code, 554);
	cr_expect(strstr(body->reply, "Too many hops") != NULL, "%s",
	    body->reply);
	done();
}

Test(features, a_loop_refused_for_its_size_is_not_a_pass)
{
	const struct st_check *c;

	/* 101 Received fields do not fit 1 KiB: refused for the size before
	 * the hops are counted, which says nothing of loops. */
	run(FQDN "\nmax_hops = 100\nmax_message_size = 1k");
	c = check_named("loops: a message with 101 Received fields");
	cr_expect_eq(c->verdict, ST_NA, "%s", c->note);
	cr_expect(strstr(c->note, "552 5.3.4") != NULL, "%s", c->note);
	cr_expect(strstr(c->note, "max_message_size") != NULL, "%s", c->note);
	cr_expect_eq(st_exit_code(&st), 0);
	done();
}
