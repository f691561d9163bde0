/*
 * test_smtp_metrics - what the engine counts for /metrics: each refusal
 * once under its reason, a syntax error or a failure of ours not at
 * all; a message answered 250 after its commit, with its octets, under
 * its `listen` line. The counts go to this process's own slot
 * (lib/metrics.h's metrics_self, private until metrics_attach).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "lib/metrics.h"
#include "smtp/smtp.h"
#include "smtp_fake.h"

TestSuite(smtp_metrics, .init = NULL, .fini = finish);

static struct metrics_slot before;

/* mark - the counts as they are now, for refused() and the others */
static void
mark(void)
{
	memcpy(&before, metrics_self, sizeof(before));
}

/* refused - how many refusals of reason r since mark() */
static uint64_t
refused(enum metrics_refusal r)
{
	return metrics_self->refusals[r] - before.refusals[r];
}

/* refused_total - every reason's since mark() */
static uint64_t
refused_total(void)
{
	uint64_t n = 0;
	int r;

	for (r = 0; r < MR_COUNT; r++)
		n += refused((enum metrics_refusal)r);
	return n;
}

Test(smtp_metrics, relay_and_unknown_recipient)
{
	start("192.0.2.1", "mailbox_users = alice\n");
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
	mark();
	cr_assert_str_eq(say("RCPT TO:<x@example.org>\r\n"),
	    "550 5.7.1 Relaying denied\r\n");
	cr_assert_str_eq(say("RCPT TO:<x@example.org>\r\n"),
	    "550 5.7.1 Relaying denied\r\n");
	cr_assert_eq(refused(MR_RELAY), 2);
	cr_assert_str_eq(say("RCPT TO:<nobody@example.test>\r\n"),
	    "550 5.1.1 User unknown\r\n");
	cr_assert_eq(refused(MR_RECIPIENT), 1);
	cr_assert_eq(refused_total(), 3);
}

Test(smtp_metrics, syntax_and_sequence_errors_are_no_refusals)
{
	start("192.0.2.1", NULL);
	say("");
	mark();
	say("MAIL FROM:<a@example.org>\r\n");	/* 503: HELO first */
	say("EHLO c\r\nRCPT TO:<a@example.test>\r\n");	/* 503 */
	say("MAIL FROM:a@\r\n");		/* 501 */
	say("FOO\r\n");				/* 500 */
	cr_assert_eq(refused_total(), 0);
}

Test(smtp_metrics, limits)
{
	char line[80];
	int i;

	start("192.0.2.1", "max_recipients = 1\nmax_message_size = 1K\n");
	say("EHLO c\r\n");
	mark();
	cr_assert_str_eq(say("MAIL FROM:<a@example.org> SIZE=2000\r\n"),
	    "552 5.3.4 Message size exceeds fixed limit\r\n");
	say("MAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.test>\r\n");
	cr_assert_str_eq(say("RCPT TO:<v@example.test>\r\n"),
	    "452 4.5.3 Too many recipients\r\n");
	say("DATA\r\n");
	memset(line, 'x', 70);
	memcpy(line + 70, "\r\n", 3);
	for (i = 0; i < 20; i++)
		say(line);
	cr_assert_str_eq(say(".\r\n"),
	    "552 5.3.4 Message size exceeds fixed limit\r\n");
	cr_assert_eq(refused(MR_LIMIT), 3);
	cr_assert_eq(refused_total(), 3);
}

Test(smtp_metrics, too_many_errors_is_a_limit)
{
	start("192.0.2.1", "max_errors = 2\n");
	say("");
	mark();
	say("FOO\r\n");
	cr_assert_str_eq(say("BAR\r\n"), "500 5.5.2 Error: command not "
	    "recognized\r\n421 4.7.0 Too many errors, closing connection\r\n");
	cr_assert(smtp_closing(s));
	cr_assert_eq(refused(MR_LIMIT), 1);
	cr_assert_eq(refused_total(), 1);
}

Test(smtp_metrics, denied_client)
{
	mark();
	start("203.0.113.9", "client_deny = 203.0.113.9\n");
	cr_assert_str_eq(say(""), "554 5.7.1 Access denied\r\n");
	cr_assert_eq(refused(MR_OTHER), 1);
	cr_assert_eq(refused_total(), 1);
}

#define SUBMISSION_CONF	"listen = 127.0.0.1:5587 submission\n" \
	"tls_cert = /etc/ssl/certs/x.pem\n"

Test(smtp_metrics, auth_before_tls_and_bad_credentials)
{
	start_as("192.0.2.1", SUBMISSION_CONF "max_auth_failures = 2\n",
	    ROLE_SUBMISSION, true, false);
	fk.mechs = "PLAIN";
	say("EHLO c\r\n");
	mark();
	cr_assert_str_eq(say("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
	    "538 5.7.11 Encryption required for requested authentication "
	    "mechanism\r\n");
	cr_assert_eq(refused(MR_TLS_REQUIRED), 1);
	say("STARTTLS\r\n");
	smtp_tls_done(s, true, "TLSv1.3", "TLS_AES_256_GCM_SHA384", 256);
	say("EHLO c\r\n");
	say("AUTH PLAIN AGFsaWNlAHdyb25n\r\n");
	smtp_auth_done(s, SASL_STATUS_BADAUTH, NULL, 0, NULL);
	cr_assert_str_eq(say(""),
	    "535 5.7.8 Authentication credentials invalid\r\n");
	cr_assert_eq(refused(MR_AUTH_FAILED), 1);
	say("AUTH PLAIN AGFsaWNlAHdyb25n\r\n");
	smtp_auth_done(s, SASL_STATUS_BADAUTH, NULL, 0, NULL);
	say("");
	cr_assert(smtp_closing(s));
	cr_assert_eq(refused(MR_AUTH_FAILED), 2);
	cr_assert_eq(refused(MR_LIMIT), 1, "the 421 after the last 535");
	cr_assert_eq(refused_total(), 4);
}

Test(smtp_metrics, message_and_octets_under_their_listener)
{
	static const char msg[] = "Subject: hi\r\n\r\nhello\r\n";

	fake_next_listener = 3;
	start("192.0.2.1", NULL);
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.test>\r\n"
	    "DATA\r\n");
	mark();
	say(msg);
	say(".\r\n");
	cr_assert_eq(metrics_self->messages[3], before.messages[3],
	    "nothing before the commit is done");
	cr_assert_str_eq(commit(0), "250 2.0.0 Ok: queued as "
	    "TESTID0000000001\r\n");
	cr_assert_eq(metrics_self->messages[3] - before.messages[3], 1);
	cr_assert_eq(metrics_self->message_bytes[3] - before.message_bytes[3],
	    sizeof(msg) - 1);

	/* A failed commit (451) is no message; nor a refused one. */
	say("MAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.test>\r\n"
	    "DATA\r\nx\r\n.\r\n");
	cr_assert_str_eq(commit(-1), "451 4.3.0 Error: queue file write "
	    "error\r\n");
	cr_assert_eq(metrics_self->messages[3] - before.messages[3], 1);
	cr_assert_eq(refused_total(), 0, "a failure of ours is no refusal");
}

Test(smtp_metrics, listener_past_the_last_counts_as_the_last)
{
	fake_next_listener = METRICS_LISTENERS + 5;
	start("192.0.2.1", NULL);
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.test>\r\n"
	    "DATA\r\nx\r\n.\r\n");
	mark();
	commit(0);
	cr_assert_eq(metrics_self->messages[METRICS_LISTENERS - 1] -
	    before.messages[METRICS_LISTENERS - 1], 1);
}
