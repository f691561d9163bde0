/*
 * test_smtp - the SMTP engine fed byte strings, with an in-memory spool.
 * Each test reads like a session: what the client sends, what it gets.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "lib/buf.h"
#include "conf/config.h"
#include "lib/log.h"
#include "smtp/smtp.h"
#include "smtp_fake.h"
#include "scratch.h"

TestSuite(smtp, .init = NULL, .fini = finish);

Test(smtp, greeting_and_ehlo)
{
	start("192.0.2.1", NULL);
	cr_assert_str_eq(say(""), "220 mail.example.test ESMTP sallyport\r\n");
	cr_assert_str_eq(say("EHLO client.example\r\n"),
	    "250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n"
	    "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n");
	cr_assert_str_eq(say("HELO client.example\r\n"),
	    "250 mail.example.test\r\n");
}

Test(smtp, ehlo_needs_a_name)
{
	start("192.0.2.1", NULL);
	say("");
	cr_assert_str_eq(say("EHLO\r\n"), "501 5.5.4 Syntax: EHLO hostname\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org>\r\n"),
	    "503 5.5.1 Error: send HELO/EHLO first\r\n");
}

Test(smtp, sequence_errors)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\n");
	cr_assert_str_eq(say("RCPT TO:<u@example.test>\r\n"),
	    "503 5.5.1 Error: need MAIL command\r\n");
	cr_assert_str_eq(say("DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org>\r\n"), "250 2.1.0 Ok\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org>\r\n"),
	    "503 5.5.1 Error: nested MAIL command\r\n");
	cr_assert_str_eq(say("DATA\r\n"), "554 5.5.1 Error: no valid recipients\r\n");
	cr_assert_str_eq(say("RSET\r\n"), "250 2.0.0 Ok\r\n");
	cr_assert_str_eq(say("RCPT TO:<u@example.test>\r\n"),
	    "503 5.5.1 Error: need MAIL command\r\n", "RSET ends the transaction");
}

Test(smtp, small_commands)
{
	start("192.0.2.1", NULL);
	say("");
	cr_assert_str_eq(say("NOOP\r\n"), "250 2.0.0 Ok\r\n");
	cr_assert_str_eq(say("noop with args\r\n"), "250 2.0.0 Ok\r\n");
	cr_assert_str_eq(say("VRFY root\r\n"), "252 2.5.0 Cannot VRFY user, but "
	    "will accept message and attempt delivery\r\n");
	cr_assert_str_eq(say("VRFY\r\n"),
	    "501 5.5.4 Syntax error in parameters or arguments\r\n");
	cr_assert_eq(strncmp(say("HELP\r\n"), "214 2.0.0 ", 10), 0);
	cr_assert_str_eq(say("RSET x\r\n"),
	    "501 5.5.4 Syntax: command takes no arguments\r\n");
	cr_assert_str_eq(say("XYZZY\r\n"), "500 5.5.2 Error: command not recognized\r\n");
	cr_assert_str_eq(say("MAILFROM:<a@b>\r\n"),
	    "500 5.5.2 Error: command not recognized\r\n");
	cr_assert_not(smtp_closing(s));
	cr_assert_str_eq(say("QUIT\r\n"), "221 2.0.0 Bye\r\n");
	cr_assert(smtp_closing(s));
}

Test(smtp, whole_transaction_and_queue_contents)
{
	start("192.0.2.1", NULL);
	say("");
	say("EHLO client.example\r\n");
	cr_assert_str_eq(say("MAIL FROM:<Sender@Example.ORG>\r\n"), "250 2.1.0 Ok\r\n");
	cr_assert_str_eq(say("RCPT TO:<user@example.test>\r\n"), "250 2.1.5 Ok\r\n");
	cr_assert_str_eq(say("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
	cr_assert_str_eq(say("Subject: hi\r\n\r\n..leading dot\r\n.\r\n"), "");
	cr_assert_eq(fk.commits, 1);
	cr_assert(smtp_waiting(s));
	cr_assert_str_eq(commit(0), "250 2.0.0 Ok: queued as TESTID0000000001\r\n");
	cr_assert_str_eq(fk.sender, "Sender@example.org");
	cr_assert_eq(fk.nrcpts, 1);
	cr_assert_str_eq(fk.rcpts[0], "user@example.test");
	cr_assert_str_eq(body(), "Subject: hi\r\n\r\n.leading dot\r\n");
	cr_assert(strstr(fk.msg.data, "Received: from client.example ([192.0.2.1])\r\n"
	    "\tby mail.example.test (sallyport) with ESMTP id TESTID0000000001\r\n"
	    "\tfor <user@example.test>; ") == fk.msg.data);
	cr_assert_eq(fk.aborts, 0);
}

static char dkim_key[64];	/* the key file of dkim_config */

/* dkim_config - "dkim_sign = example.test s1 KEY" with a new Ed25519
 * key in a file of mode 0600 (dkim_key; the test removes it) */
static const char *
dkim_config(void)
{
	static char line[512];
	char *path = dkim_key;
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	FILE *fp;
	int fd;

	cr_assert_not_null(k);
	snprintf(dkim_key, sizeof(dkim_key), "/tmp/test_smtp_dkim.XXXXXX");
	cr_assert_neq(fd = mkstemp(path), -1);
	cr_assert_not_null(fp = fdopen(fd, "w"));
	cr_assert(PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL));
	fclose(fp);
	EVP_PKEY_free(k);
	snprintf(line, sizeof(line), "dkim_sign = example.test s1 %s\n", path);
	return line;
}

static void
dkim_transaction(const char *from)
{
	char msg[256];

	say("");
	say("EHLO client.example\r\n");
	say("MAIL FROM:<a@example.test>\r\n");
	say("RCPT TO:<user@example.test>\r\n");
	cr_assert_str_eq(say("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
	snprintf(msg, sizeof(msg), "%sSubject: hi\r\n\r\nbody\r\n.\r\n", from);
	cr_assert_str_eq(say(msg), "");
	cr_assert_eq(fk.commits, 1);
	cr_assert_str_eq(commit(0), "250 2.0.0 Ok: queued as TESTID0000000001\r\n");
}

/* A trusted client's mail from a domain with a key: room is reserved at
 * DATA, and the signature goes in front before the commit. */
Test(smtp, dkim_signs_trusted_mail_before_the_commit)
{
	const char *line = dkim_config();

	start("10.1.2.3", line);
	dkim_transaction("From: Ann <ann@Example.TEST>\r\n");
	cr_assert_gt(fk.room, 0);
	cr_assert_eq(fk.prepends, 1);
	cr_assert_eq(fk.commits_at_prepend, 0);
	cr_assert(strncmp(fk.fields.data, "DKIM-Signature: v=1; "
	    "a=ed25519-sha256; c=relaxed/relaxed; d=example.test;", 58) == 0,
	    "%.*s", (int)fk.fields.len, fk.fields.data);
	cr_assert(fk.fields.len > 2 && memcmp(fk.fields.data +
	    fk.fields.len - 2, "\r\n", 2) == 0);
	unlink(dkim_key);	/* the session is freed by the suite's fini */
}

/* Not ours: a stranger's mail, a domain without a key, no From. */
Test(smtp, dkim_leaves_other_mail_alone)
{
	static const char *const froms[] = {
		"From: x@other.test\r\n", "", "From: a@example.test\r\n"
		    "From: b@example.test\r\n",
	};
	const char *line = dkim_config();

	start("192.0.2.1", line);
	dkim_transaction("From: ann@example.test\r\n");
	cr_assert_eq(fk.room, 0);
	cr_assert_eq(fk.prepends, 0);
	finish();
	for (size_t i = 0; i < sizeof(froms) / sizeof(froms[0]); i++) {
		start("10.1.2.3", line);
		dkim_transaction(froms[i]);
		cr_assert_eq(fk.prepends, 0, "%s", froms[i]);
		if (i + 1 < sizeof(froms) / sizeof(froms[0]))
			finish();	/* the last by the suite's fini */
	}
	unlink(dkim_key);
}

Test(smtp, pipelined_transaction_in_one_packet_waits_for_the_commit)
{
	static const char all[] =
	    "EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.test>\r\n"
	    "RCPT TO:<v@example.test>\r\nDATA\r\nhello\r\n.\r\nQUIT\r\n";
	size_t used;

	start("192.0.2.1", NULL);
	say("");
	used = smtp_input(s, all, sizeof(all) - 1);
	cr_assert_eq(used, sizeof(all) - 1 - strlen("QUIT\r\n"),
	    "input after the final dot waits for the commit");
	buf_reset(&fk.out);
	cr_assert_str_eq(commit(0), "250 2.0.0 Ok: queued as TESTID0000000001\r\n");
	cr_assert_str_eq(say("QUIT\r\n"), "221 2.0.0 Bye\r\n");
	cr_assert_eq(fk.nrcpts, 2);
	cr_assert(strstr(fk.msg.data, "\tfor <") == NULL,
	    "no `for` with two recipients");
}

Test(smtp, byte_by_byte_input_gives_the_same_session)
{
	static const char all[] =
	    "ehlo c\r\nmail from: <a@example.org>\r\nrcpt to:<u@example.test>\r\n"
	    "data\r\nx\r\n..y\r\n.\r\n";
	char replies[1024] = "";
	size_t i;

	start("192.0.2.1", NULL);
	say("");
	for (i = 0; i < sizeof(all) - 1; i++)
		strcat(replies, say_n(all + i, 1));
	cr_assert_str_eq(replies, "250-mail.example.test\r\n250-PIPELINING\r\n"
	    "250-SIZE 26214400\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n"
	    "250 SMTPUTF8\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n");
	commit(0);
	cr_assert_str_eq(body(), "x\r\n.y\r\n");
}

Test(smtp, null_sender_and_bare_addresses)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\n");
	cr_assert_str_eq(say("MAIL FROM:<>\r\n"), "250 2.1.0 Ok\r\n");
	cr_assert_str_eq(say("RCPT TO: user@example.test\r\n"), "250 2.1.5 Ok\r\n");
	cr_assert_str_eq(say("RCPT TO:<postmaster>\r\n"), "250 2.1.5 Ok\r\n");
	cr_assert_str_eq(say("RCPT TO:<>\r\n"), "501 5.1.3 Bad address syntax\r\n");
	say("DATA\r\n");
	say("x\r\n.\r\n");
	commit(0);
	cr_assert_str_eq(fk.sender, "");
	cr_assert_str_eq(fk.rcpts[1], "postmaster@mail.example.test",
	    "the bare postmaster is this host's (RFC 5321 4.5.1)");
}

/* What the runner would not deliver is refused here, with 5.1.1: no
 * 250 followed by a bounce to a sender who may be forged. */
Test(smtp, undeliverable_local_parts_refused_in_session)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
	cr_assert_str_eq(say("RCPT TO:<a=b@example.test>\r\n"),
	    "250 2.1.5 Ok\r\n");
	cr_assert_str_eq(say("RCPT TO:<\"user evil\"@example.test>\r\n"),
	    "550 5.1.1 User unknown\r\n");
	cr_assert_str_eq(say("RCPT TO:<\"a,b\"@example.test>\r\n"),
	    "550 5.1.1 User unknown\r\n");
	cr_assert_str_eq(say("RCPT TO:<PostMaster>\r\n"), "250 2.1.5 Ok\r\n");
	say("DATA\r\nx\r\n.\r\n");
	commit(0);
	cr_assert_eq(fk.nrcpts, 2);
	cr_assert_str_eq(fk.rcpts[0], "a=b@example.test");
	cr_assert_str_eq(fk.rcpts[1], "postmaster@mail.example.test");
}

Test(smtp, bad_addresses)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@b\r\n"), "501 5.1.7 Bad sender address syntax\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@b>x\r\n"), "501 5.1.7 Bad sender address syntax\r\n");
	cr_assert_str_eq(say("MAIL TO:<a@b>\r\n"), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
	say("MAIL FROM:<a@example.org>\r\n");
	cr_assert_str_eq(say("RCPT FROM:<u@example.test>\r\n"),
	    "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
	cr_assert_str_eq(say("RCPT TO:<a@b@example.test>\r\n"),
	    "501 5.1.3 Bad address syntax\r\n");
}

Test(smtp, mail_parameters)
{
	start("192.0.2.1", "max_message_size = 1k\n");
	say("EHLO c\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org> SIZE=1025\r\n"),
	    "552 5.3.4 Message size exceeds fixed limit\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org> SIZE=99999999999999999999\r\n"),
	    "501 5.5.4 Bad SIZE parameter\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org> SIZE=\r\n"),
	    "501 5.5.4 Bad SIZE parameter\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org> BODY=9BIT\r\n"),
	    "501 5.5.4 Bad BODY parameter\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org> FOO=1\r\n"),
	    "555 5.5.4 Unsupported parameter\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org> AUTH=a+0Ab\r\n"),
	    "501 5.5.4 Bad AUTH parameter\r\n", "xtext hiding a line break");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org> AUTH=a+0\r\n"),
	    "501 5.5.4 Bad AUTH parameter\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org> AUTH=\r\n"),
	    "501 5.5.4 Bad AUTH parameter\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org> SIZE=1024 BODY=8BITMIME SMTPUTF8 AUTH=a+2Bb@example.org\r\n"),
	    "250 2.1.0 Ok\r\n");
	cr_assert_str_eq(say("RCPT TO:<u@example.test> NOTIFY=NEVER\r\n"),
	    "555 5.5.4 Unsupported parameter\r\n");
	cr_assert_str_eq(say("RCPT TO:<u@example.test>\r\n"), "250 2.1.5 Ok\r\n");
	say("DATA\r\n");
	say("x\r\n.\r\n");
	commit(0);
	cr_assert(strstr(fk.msg.data, " with UTF8SMTP id ") != NULL);
}

/* RFC 6531 3.4: a UTF-8 address needs SMTPUTF8 on MAIL, else 553 5.6.7;
 * with it the address, SMTPUTF8 and BODY= reach the queue. */
Test(smtp, utf8_address_needs_smtputf8)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\n");
	cr_assert_str_eq(say("MAIL FROM:<j\xc3\xb6rg@example.org>\r\n"),
	    "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter on MAIL\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@b\xc3\xbc" "cher.example> BODY=8BITMIME\r\n"),
	    "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter on MAIL\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org>\r\n"), "250 2.1.0 Ok\r\n");
	cr_assert_str_eq(say("RCPT TO:<j\xc3\xb6rg@example.test>\r\n"),
	    "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter on MAIL\r\n");
	cr_assert_str_eq(say("RCPT TO:<u@example.test>\r\n"), "250 2.1.5 Ok\r\n");
	say("DATA\r\nx\r\n.\r\n");
	commit(0);
	cr_assert_not(fk.smtputf8);
	cr_assert_eq(fk.body, MAIL_BODY_NONE);

	/* SMTPUTF8 means UTF-8: Latin-1 is a syntax error */
	cr_assert_str_eq(say("MAIL FROM:<j\xf6rg@example.org> SMTPUTF8\r\n"),
	    "501 5.1.7 Bad sender address syntax\r\n");
	cr_assert_str_eq(say("MAIL FROM:<j\xc3\xb6rg@example.org> SMTPUTF8 BODY=8BITMIME\r\n"),
	    "250 2.1.0 Ok\r\n");
	cr_assert_str_eq(say("RCPT TO:<j\xf6rg@relay.example>\r\n"),
	    "501 5.1.3 Bad address syntax\r\n");
	cr_assert_str_eq(say("RCPT TO:<j\xc3\xb6rg@relay.example>\r\n"),
	    "250 2.1.5 Ok\r\n");
	say("DATA\r\nx\r\n.\r\n");
	commit(0);
	cr_assert_str_eq(fk.sender, "j\xc3\xb6rg@example.org");
	cr_assert_str_eq(fk.rcpts[0], "j\xc3\xb6rg@relay.example");
	cr_assert(fk.smtputf8);
	cr_assert_eq(fk.body, MAIL_BODY_8BITMIME);

	cr_assert_str_eq(say("MAIL FROM:<a@example.org> BODY=7BIT\r\n"),
	    "250 2.1.0 Ok\r\n");
	say("RCPT TO:<u@example.test>\r\nDATA\r\nx\r\n.\r\n");
	commit(0);
	cr_assert_not(fk.smtputf8);
	cr_assert_eq(fk.body, MAIL_BODY_7BIT);
}

/* A UTF-8 sender domain is looked up by its A-labels, one that is not
 * IDNA is refused without a lookup. */
Test(smtp, utf8_sender_domain_is_looked_up_as_idna)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\n");
	fk.answer = DNS_NOT_FOUND;
	cr_assert_str_eq(say("MAIL FROM:<a@b\xc3\xbc" "cher.example> SMTPUTF8\r\n"),
	    "501 5.1.8 Sender domain must exist\r\n");
	cr_assert_str_eq(fk.looked_up, "xn--bcher-kva.example");
	cr_assert_eq(fk.lookups, 1);
	fk.answer = DNS_FOUND;
	cr_assert_str_eq(say("MAIL FROM:<a@i\xe2\x99\xa5.example> SMTPUTF8\r\n"),
	    "553 5.1.7 Sender domain is not a valid internationalized domain name (IDNA2008)\r\n");
	cr_assert_eq(fk.lookups, 1);
	cr_assert_str_eq(say("MAIL FROM:<a@b\xc3\xbc" "cher.example> SMTPUTF8\r\n"),
	    "250 2.1.0 Ok\r\n");
}

Test(smtp, parameters_need_ehlo)
{
	start("192.0.2.1", NULL);
	say("HELO c\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org> SIZE=10\r\n"),
	    "555 5.5.4 Unsupported parameter\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org>\r\n"), "250 2.1.0 Ok\r\n");
	say("RCPT TO:<u@example.test>\r\nDATA\r\nx\r\n.\r\n");
	commit(0);
	cr_assert(strstr(fk.msg.data, " with SMTP id ") != NULL);
}

Test(smtp, relay_is_denied_to_untrusted_clients)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
	cr_assert_str_eq(say("RCPT TO:<x@example.org>\r\n"), "550 5.7.1 Relaying denied\r\n");
	cr_assert_str_eq(say("RCPT TO:<x@relay.example>\r\n"), "250 2.1.5 Ok\r\n");
	cr_assert_str_eq(say("RCPT TO:<x@EXAMPLE.TEST.>\r\n"), "250 2.1.5 Ok\r\n");
	cr_assert_eq(strncmp(say("RCPT TO:<x%example.org@example.test>\r\n"),
	    "550 5.7.1 ", 10), 0);
	cr_assert_eq(strncmp(say("RCPT TO:<@example.test:x@example.org>\r\n"),
	    "550 5.7.1 ", 10), 0);
}

Test(smtp, denied_client_gets_554_instead_of_the_greeting)
{
	start("203.0.113.9", "client_deny = 198.51.100.0/24, 203.0.113.9\n");
	cr_assert_str_eq(say(""), "554 5.7.1 Access denied\r\n");
	cr_assert(smtp_closing(s));
	cr_assert_str_eq(say("EHLO c\r\n"), "", "nothing after the 554");
	smtp_free(s);
	config_free(cfg);
	buf_free(&fk.out);
	buf_free(&fk.msg);

	start("203.0.113.10", "client_deny = 198.51.100.0/24, 203.0.113.9\n");
	cr_assert_str_eq(say(""), "220 mail.example.test ESMTP sallyport\r\n");
	cr_assert_not(smtp_closing(s));
}

#define BLOCKED_LINE	"554 5.7.1 Service unavailable; client [203.0.113.9] " \
			"blocked using bl.example"
#define BLOCKED		BLOCKED_LINE "\r\n"

Test(smtp, dnsbl_verdict_awaited_then_every_command_but_quit_refused)
{
	dnsbl_pending = true;
	start("203.0.113.9", NULL);
	cr_assert_str_eq(say(""), "220 mail.example.test ESMTP sallyport\r\n",
	    "the greeting does not wait");
	/* the first command waits for the verdict */
	cr_assert_eq(smtp_input(s, "EHLO c\r\nMAIL FROM:<a@b.example>\r\n"
	    "QUIT\r\n", 39), 0);
	cr_assert(smtp_waiting(s));
	cr_assert_eq(fk.out.len, 0);
	smtp_dnsbl_done(s, BLOCKED_LINE);
	cr_assert_not(smtp_waiting(s));
	cr_assert_str_eq(say("EHLO c\r\nMAIL FROM:<a@b.example>\r\nQUIT\r\n"),
	    BLOCKED BLOCKED "221 2.0.0 Bye\r\n");
	finish();

	/* not listed: a normal session */
	dnsbl_pending = true;
	start("203.0.113.9", NULL);
	(void)say("");
	cr_assert_eq(smtp_input(s, "EHLO c\r\n", 8), 0);
	smtp_dnsbl_done(s, NULL);
	cr_assert_str_eq(say("NOOP\r\n"), "250 2.0.0 Ok\r\n");
	finish();
}

Test(smtp, trusted_clients_may_relay)
{
	start("10.1.2.3", NULL);
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
	cr_assert_str_eq(say("RCPT TO:<x@example.org>\r\n"), "250 2.1.5 Ok\r\n");
}

Test(smtp, unknown_local_users_are_refused_at_rcpt)
{
	static const char aliases[] = "info: alice, bob@elsewhere.example\n";
	char	 path[] = "/tmp/sallyport-test-smtp.XXXXXX", extra[256];
	int	 fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, aliases, sizeof(aliases) - 1),
	    (ssize_t)sizeof(aliases) - 1);
	close(fd);
	snprintf(extra, sizeof(extra), "mailbox_users = alice\naliases = %s\n",
	    path);
	start("192.0.2.1", extra);
	unlink(path);
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
	cr_assert_str_eq(say("RCPT TO:<nobody@example.test>\r\n"),
	    "550 5.1.1 User unknown\r\n");
	cr_assert_str_eq(say("RCPT TO:<Info@example.test>\r\n"),
	    "250 2.1.5 Ok\r\n", "an alias");
	cr_assert_str_eq(say("RCPT TO:<alice@example.test>\r\n"),
	    "250 2.1.5 Ok\r\n", "a mailbox user");
	cr_assert_str_eq(say("RCPT TO:<postmaster@example.test>\r\n"),
	    "250 2.1.5 Ok\r\n");
	cr_assert_str_eq(say("DATA\r\n"),
	    "354 End data with <CR><LF>.<CR><LF>\r\n");
}

Test(smtp, too_many_recipients)
{
	start("192.0.2.1", "max_recipients = 2\n");
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
	cr_assert_str_eq(say("RCPT TO:<a@example.test>\r\n"), "250 2.1.5 Ok\r\n");
	cr_assert_str_eq(say("RCPT TO:<b@example.test>\r\n"), "250 2.1.5 Ok\r\n");
	cr_assert_str_eq(say("RCPT TO:<c@example.test>\r\n"), "452 4.5.3 Too many recipients\r\n");
}

Test(smtp, bare_lf_in_data_is_refused_and_the_session_goes_on)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n");
	cr_assert_str_eq(say("a\nb\r\n.\r\n"),
	    "554 5.5.2 Bare CR or LF in message data is not allowed\r\n");
	cr_assert_eq(fk.commits, 0);
	cr_assert_eq(fk.aborts, 1);
	cr_assert_str_eq(say("MAIL FROM:<a@example.org>\r\n"), "250 2.1.0 Ok\r\n");
}

Test(smtp, smuggled_transaction_is_never_executed)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n");
	cr_assert_str_eq(say("x\n.\nMAIL FROM:<evil@example.org>\r\n"
	    "RCPT TO:<v@example.test>\r\nDATA\r\nsmuggled\r\n.\r\n"),
	    "554 5.5.2 Bare CR or LF in message data is not allowed\r\n");
	cr_assert_eq(fk.commits, 0);
}

/* "<CRLF>NUL.<CRLF>" and "<CRLF>.NUL<CRLF>" end nothing, and a message
 * with a NUL is refused at its real end: nothing is queued, and the
 * transaction after it, in the same write, goes through. */
Test(smtp, nul_in_data_is_refused_and_the_session_goes_on)
{
	static const char *const forms[] = { "\r\n\0.\r\n", "\r\n.\0\r\n" };
	static const char next[] = "MAIL FROM:<evil@example.org>\r\n"
	    "RCPT TO:<v@example.test>\r\nDATA\r\nsmuggled\r\n.\r\n"
	    "MAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.test>\r\n"
	    "DATA\r\nfine\r\n.\r\n";
	size_t i;

	for (i = 0; i < 2; i++) {
		char in[512];
		size_t len = 0;

		start("192.0.2.1", NULL);
		say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n"
		    "RCPT TO:<u@example.test>\r\nDATA\r\n");
		memcpy(in, "x", 1);
		len = 1;
		memcpy(in + len, forms[i], 6);
		len += 6;
		memcpy(in + len, next, sizeof(next) - 1);
		len += sizeof(next) - 1;
		cr_assert_str_eq(say_n(in, len),
		    "554 5.6.0 NUL character in message data is not allowed\r\n"
		    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		    "354 End data with <CR><LF>.<CR><LF>\r\n", "form %zu", i);
		cr_assert_eq(fk.aborts, 1, "form %zu", i);
		cr_assert_eq(fk.commits, 1, "form %zu", i);
		cr_assert_str_eq(fk.sender, "a@example.org");
		cr_assert_str_eq(body(), "fine\r\n");
		cr_assert_str_eq(commit(0), "250 2.0.0 Ok: queued as "
		    "TESTID0000000002\r\n");
		finish();
	}
	start("192.0.2.1", NULL);	/* for the suite's fini */
}

/* bare_newline = normalize: for mynetworks (10.0.0.0/8 here) and
 * logged-in clients a bare LF ends a line and is stored as CRLF; others
 * are refused as before, unless bare_newline_clients = all. */
Test(smtp, bare_newline_normalize_for_trusted_clients)
{
	static const struct {
		const char *client, *extra;
		bool normalized;
	} cases[] = {
		{ "10.0.0.1", NULL, false },
		{ "10.0.0.1", "bare_newline = normalize\n", true },
		{ "192.0.2.1", "bare_newline = normalize\n", false },
		{ "192.0.2.1", "bare_newline = Normalize\n"
		    "bare_newline_clients = all\n", true },
		{ "10.0.0.1", "bare_newline = reject\n"
		    "bare_newline_clients = all\n", false },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		start(cases[i].client, cases[i].extra);
		say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n"
		    "RCPT TO:<u@example.test>\r\nDATA\n");
		/* The dot after a bare LF ends nothing, whatever the mode. */
		cr_assert_str_eq(say("Subject: lf\n\n.\r\nline\n.\nMAIL "
		    "FROM:<evil@example.org>\r\n"), "", "case %zu", i);
		if (cases[i].normalized) {
			cr_assert_str_eq(say("end\r\n.\r\n"), "", "case %zu", i);
			cr_assert_eq(fk.commits, 1, "case %zu", i);
			cr_assert_str_eq(body(), "Subject: lf\r\n\r\n\r\n"
			    "line\r\n\r\nMAIL FROM:<evil@example.org>\r\n"
			    "end\r\n", "case %zu", i);
			cr_assert_str_eq(commit(0), "250 2.0.0 Ok: queued as "
			    "TESTID0000000001\r\n");
		} else {
			cr_assert_str_eq(say("end\r\n.\r\n"), "554 5.5.2 Bare "
			    "CR or LF in message data is not allowed\r\n",
			    "case %zu", i);
			cr_assert_eq(fk.commits, 0, "case %zu", i);
		}
		cr_assert_str_eq(say("NOOP\r\n"), "250 2.0.0 Ok\r\n");
		finish();
	}
	start("192.0.2.1", NULL);	/* for the suite's fini */
}

Test(smtp, long_data_line_is_refused)
{
	char line[1100];

	start("192.0.2.1", NULL);
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n");
	memset(line, 'x', 999);
	strcpy(line + 999, "\r\n.\r\n");
	cr_assert_str_eq(say(line), "554 5.5.6 Message line longer than 1000 octets\r\n");
	cr_assert_eq(fk.commits, 0);
}

Test(smtp, size_limit_is_enforced_after_the_dot)
{
	char big[3000];

	start("192.0.2.1", "max_message_size = 2k\n");
	say("EHLO c\r\nMAIL FROM:<a@example.org> SIZE=100\r\n"
	    "RCPT TO:<u@example.test>\r\nDATA\r\n");
	memset(big, 'x', sizeof(big));
	cr_assert_str_eq(say_n(big, 500), "");
	cr_assert_str_eq(say("\r\n"), "");
	cr_assert_str_eq(say_n(big, 500), "");
	cr_assert_str_eq(say("\r\n"), "");
	cr_assert_str_eq(say_n(big, 500), "");
	cr_assert_str_eq(say("\r\n"), "");
	cr_assert_str_eq(say_n(big, 600), "");
	cr_assert_str_eq(say("\r\n.\r\n"), "552 5.3.4 Message size exceeds fixed limit\r\n");
	cr_assert_eq(fk.commits, 0);
	cr_assert_lt(fk.msg.len, 2048 + 200, "spooling stopped at the limit");
	cr_assert_str_eq(say("NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

Test(smtp, command_line_limit)
{
	char line[600];

	start("192.0.2.1", NULL);
	say("");
	memset(line, 'A', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + 508, "\r\n", 2);
	cr_assert_str_eq(say_n(line, 510), "250 2.0.0 Ok\r\n", "510 octets with CRLF");
	memcpy(line + 508, "AAA\r\n", 5);
	cr_assert_str_eq(say_n(line, 513), "500 5.5.6 Line too long\r\n",
	    "513 octets with CRLF");
	cr_assert(smtp_closing(s));
}

Test(smtp, nul_and_bare_cr_in_commands)
{
	start("192.0.2.1", NULL);
	say("");
	cr_assert_str_eq(say_n("NOOP\0x\r\n", 8), "500 5.5.2 NUL character in command\r\n");
	cr_assert_str_eq(say("EHLO a\rMAIL FROM:<a@b>\r\n"),
	    "500 5.5.2 Error: command not recognized\r\n");
	cr_assert_str_eq(say("NOOP\n"), "250 2.0.0 Ok\r\n", "bare LF ends a command");
}

Test(smtp, too_many_errors)
{
	int i;

	start("192.0.2.1", "max_errors = 3\n");
	say("");
	for (i = 0; i < 2; i++)
		cr_assert_str_eq(say("BOGUS\r\n"), "500 5.5.2 Error: command not recognized\r\n");
	cr_assert_str_eq(say("BOGUS\r\n"), "500 5.5.2 Error: command not recognized\r\n"
	    "421 4.7.0 Too many errors, closing connection\r\n");
	cr_assert(smtp_closing(s));
}

Test(smtp, http_request_is_hung_up_on)
{
	start("192.0.2.1", NULL);
	say("");
	cr_assert_str_eq(say("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "554 5.5.1 Protocol error\r\n");
	cr_assert(smtp_closing(s));
}

Test(smtp, timeout_and_shutdown)
{
	start("192.0.2.1", NULL);
	say("");
	smtp_timeout(s);
	cr_assert_str_eq(say(""), "421 4.4.2 Timeout exceeded, closing connection\r\n");
	cr_assert(smtp_closing(s));
	smtp_free(s);

	s = smtp_new(cfg, &(struct smtp_peer){ .addr_text = "192.0.2.1", .session_id = 2 },
	    &fake_io, NULL);
	say("EHLO c\r\n");
	smtp_shutdown(s);
	cr_assert_str_eq(say(""), "421 4.3.2 Service shutting down, closing connection\r\n");
	cr_assert(smtp_closing(s));
}

Test(smtp, shutdown_waits_for_the_transaction_in_progress)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n");
	smtp_shutdown(s);
	cr_assert_not(smtp_closing(s));
	say("x\r\n.\r\n");
	cr_assert_str_eq(commit(0), "250 2.0.0 Ok: queued as TESTID0000000001\r\n"
	    "421 4.3.2 Service shutting down, closing connection\r\n");
	cr_assert(smtp_closing(s));
}

Test(smtp, queue_failures_give_451)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.test>\r\n");
	fk.fail_open = true;
	cr_assert_str_eq(say("DATA\r\n"), "451 4.3.0 Error: queue file write error\r\n");
	fk.fail_open = false;
	cr_assert_str_eq(say("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
	cr_assert_str_eq(say("x\r\n.\r\n"), "");
	cr_assert_str_eq(commit(-1), "451 4.3.0 Error: queue file write error\r\n");

	say("MAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n");
	fk.fail_write = true;
	cr_assert_str_eq(say("x\r\n.\r\n"), "451 4.3.0 Error: queue file write error\r\n");
	cr_assert_eq(fk.commits, 1, "a failed write is never committed");
}

Test(smtp, full_disk_gives_452_at_mail_and_at_data)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\n");
	fk.disk_full = true;
	cr_assert_str_eq(say("MAIL FROM:<a@example.org> SIZE=5000\r\n"),
	    "452 4.3.1 Insufficient system storage\r\n");
	cr_assert_eq(fk.space_asked, 5000, "the declared SIZE is asked for");
	cr_assert_str_eq(say("RCPT TO:<u@example.test>\r\n"),
	    "503 5.5.1 Error: need MAIL command\r\n", "no transaction began");
	fk.disk_full = false;
	cr_assert_str_eq(say("MAIL FROM:<a@example.org>\r\n"), "250 2.1.0 Ok\r\n");
	cr_assert_eq(fk.space_asked, 0, "no SIZE: 0");
	say("RCPT TO:<u@example.test>\r\n");
	/* The disk filled up between MAIL and DATA. */
	fk.disk_full = true;
	cr_assert_str_eq(say("DATA\r\n"),
	    "452 4.3.1 Insufficient system storage\r\n");
	cr_assert_eq(fk.opens, 0, "no spool file is started");
	fk.disk_full = false;
	/* Or the spool file could not be made for lack of space. */
	fk.fail_open = true;
	fk.open_result = SMTP_SPOOL_NO_SPACE;
	cr_assert_str_eq(say("DATA\r\n"),
	    "452 4.3.1 Insufficient system storage\r\n");
	fk.fail_open = false;
	cr_assert_str_eq(say("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
	cr_assert_str_eq(say("x\r\n.\r\n"), "");
	cr_assert_str_eq(commit(0), "250 2.0.0 Ok: queued as TESTID0000000002\r\n");
}

Test(smtp, declared_size_is_checked_again_at_data)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\nMAIL FROM:<a@example.org> SIZE=123456\r\n"
	    "RCPT TO:<u@example.test>\r\n");
	fk.space_asked = 0;
	cr_assert_str_eq(say("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
	cr_assert_eq(fk.space_asked, 123456);
	cr_assert_eq(fk.space_checks, 2);
}

Test(smtp, every_reply_has_an_enhanced_code)
{
	static const char *const cmds[] = {
		"NOOP\r\n", "MAIL FROM:<a@b>\r\n", "EHLO c\r\n",
		"RCPT TO:<a@b>\r\n", "MAIL FROM:<a@example.org>\r\n",
		"RCPT TO:<x@example.org>\r\n", "RCPT TO:<u@example.test>\r\n",
		"VRFY x\r\n", "HELP\r\n", "BOGUS\r\n", "RSET\r\n", "DATA\r\n",
		"QUIT\r\n",
	};
	size_t i;

	start("192.0.2.1", NULL);
	say("");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const char *r = say(cmds[i]), *line;

		if (strncmp(cmds[i], "EHLO", 4) == 0)
			continue;
		for (line = r; *line; line = strstr(line, "\r\n") + 2) {
			cr_assert(line[3] == ' ' || line[3] == '-');
			cr_assert(line[4] >= '2' && line[4] <= '5' && line[5] == '.',
			    "no enhanced code after %s: %s", cmds[i], line);
		}
	}
}

/* --- sender checks (untrusted clients) ----------------------------------- */

Test(smtp, sender_needs_a_domain_and_a_real_one)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\n");
	cr_assert_str_eq(say("MAIL FROM:<relaytest>\r\n"),
	    "553 5.5.4 Domain name required\r\n");
	cr_assert_str_eq(say("MAIL FROM:<relaytest@localhost>\r\n"),
	    "553 5.5.4 Real domain name required\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@localhost.localdomain.>\r\n"),
	    "553 5.5.4 Real domain name required\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@intranet>\r\n"),
	    "553 5.5.4 Real domain name required\r\n");
	cr_assert_eq(fk.lookups, 0, "refused before any DNS lookup");
}

Test(smtp, sender_domain_must_exist)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\n");
	fk.answer = DNS_NOT_FOUND;
	cr_assert_str_eq(say("MAIL FROM:<spam@Bad.Example.INVALID.>\r\n"),
	    "501 5.1.8 Sender domain must exist\r\n");
	cr_assert_str_eq(fk.looked_up, "bad.example.invalid");
	fk.answer = DNS_TEMPFAIL;
	cr_assert_str_eq(say("MAIL FROM:<a@slow.example>\r\n"),
	    "451 4.1.8 Sender domain could not be verified, try again later\r\n");
	fk.answer = DNS_FOUND;
	cr_assert_str_eq(say("MAIL FROM:<a@good.example>\r\n"), "250 2.1.0 Ok\r\n");
	cr_assert_eq(fk.lookups, 3);
}

Test(smtp, senders_that_are_never_looked_up)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\n");
	fk.answer = DNS_NOT_FOUND;
	cr_assert_str_eq(say("MAIL FROM:<>\r\n"), "250 2.1.0 Ok\r\n");
	say("RSET\r\n");
	cr_assert_str_eq(say("MAIL FROM:<me@example.test>\r\n"), "250 2.1.0 Ok\r\n");
	say("RSET\r\n");
	cr_assert_str_eq(say("MAIL FROM:<me@[192.0.2.9]>\r\n"), "250 2.1.0 Ok\r\n");
	cr_assert_eq(fk.lookups, 0);
}

Test(smtp, trusted_clients_skip_sender_checks)
{
	start("10.1.2.3", NULL);
	say("EHLO c\r\n");
	fk.answer = DNS_NOT_FOUND;
	cr_assert_str_eq(say("MAIL FROM:<root@localhost>\r\n"), "250 2.1.0 Ok\r\n");
	say("RSET\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@gone.example>\r\n"), "250 2.1.0 Ok\r\n");
	cr_assert_eq(fk.lookups, 0);
}

Test(smtp, sender_check_switches)
{
	start("192.0.2.1", "reject_unqualified_sender = no\n"
	    "reject_non_fqdn_sender = no\nreject_unknown_sender_domain = no\n");
	say("EHLO c\r\n");
	fk.answer = DNS_NOT_FOUND;
	cr_assert_str_eq(say("MAIL FROM:<relaytest>\r\n"), "250 2.1.0 Ok\r\n");
	say("RSET\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@localhost>\r\n"), "250 2.1.0 Ok\r\n");
	say("RSET\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@gone.example>\r\n"), "250 2.1.0 Ok\r\n");
	cr_assert_eq(fk.lookups, 0);
}

Test(smtp, pipelined_commands_wait_for_the_lookup)
{
	static const char all[] = "MAIL FROM:<a@slow.example>\r\n"
	    "RCPT TO:<u@example.test>\r\n";
	size_t used;

	start("192.0.2.1", NULL);
	say("EHLO c\r\n");
	fk.lookup_pending = true;
	used = smtp_input(s, all, sizeof(all) - 1);
	cr_assert_eq(used, strlen("MAIL FROM:<a@slow.example>\r\n"));
	cr_assert(smtp_waiting(s));
	cr_assert_eq(fk.out.len, 0, "no reply before DNS answers");
	smtp_lookup_done(s, DNS_FOUND);
	cr_assert_not(smtp_waiting(s));
	cr_assert_str_eq(say("RCPT TO:<u@example.test>\r\n"),
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
}

Test(smtp, shutdown_during_a_lookup)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\n");
	fk.lookup_pending = true;
	say("MAIL FROM:<a@slow.example>\r\n");
	smtp_shutdown(s);
	cr_assert_not(smtp_closing(s));
	smtp_lookup_done(s, DNS_FOUND);
	cr_assert_str_eq(say(""), "250 2.1.0 Ok\r\n"
	    "421 4.3.2 Service shutting down, closing connection\r\n");
	cr_assert(smtp_closing(s));
}

Test(smtp, allow_untrusted_routing)
{
	start("192.0.2.1", "allow_untrusted_routing = yes\n");
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
	cr_assert_str_eq(say("RCPT TO:<x%example.org@relay.example>\r\n"),
	    "250 2.1.5 Ok\r\n");
	cr_assert_str_eq(say("RCPT TO:<x%example.org@example.test>\r\n"),
	    "550 5.1.1 User unknown\r\n", "no mailbox has such a name");
	cr_assert_str_eq(say("RCPT TO:<x%example.test@example.org>\r\n"),
	    "550 5.7.1 Relaying denied\r\n", "the final domain still decides");
	cr_assert_str_eq(say("RCPT TO:example.org!x\r\n"),
	    "550 5.7.1 Relaying denied\r\n");
}

/* --- STARTTLS and AUTH ---------------------------------------------------- */

#define SUBMISSION_CONF	"listen = 127.0.0.1:5587 submission\n" \
	"tls_cert = /etc/ssl/certs/x.pem\n"

/* tls - go through STARTTLS as the host would */
static void
tls(void)
{
	cr_assert_str_eq(say("STARTTLS\r\n"), "220 2.0.0 Ready to start TLS\r\n");
	cr_assert_eq(fk.starttls, 1);
	cr_assert(smtp_waiting(s));
	smtp_tls_done(s, true, "TLSv1.3", "TLS_AES_256_GCM_SHA384", 256);
	cr_assert_not(smtp_waiting(s));
}

Test(smtp, starttls_offered_and_session_starts_over)
{
	static const char inject[] = "STARTTLS\r\nRSET\r\n";
	size_t used;

	start_as("192.0.2.1", NULL, ROLE_MX, true, false);
	fk.mechs = "PLAIN LOGIN";
	say("");
	cr_assert(strstr(say("EHLO c\r\n"), "250-STARTTLS\r\n") != NULL);
	say("MAIL FROM:<a@example.org>\r\n");
	used = smtp_input(s, inject, sizeof(inject) - 1);
	cr_assert_eq(used, strlen("STARTTLS\r\n"),
	    "nothing after STARTTLS is read by the engine");
	cr_assert_str_eq(say(""), "220 2.0.0 Ready to start TLS\r\n");
	smtp_tls_done(s, true, "TLSv1.3", "TLS_AES_256_GCM_SHA384", 256);
	cr_assert_str_eq(say(""), "", "the smuggled RSET is never answered");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org>\r\n"),
	    "503 5.5.1 Error: send HELO/EHLO first\r\n", "EHLO state is gone");
	cr_assert_str_eq(say("EHLO c\r\n"), "250-mail.example.test\r\n"
	    "250-PIPELINING\r\n250-SIZE 26214400\r\n250-8BITMIME\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n250-REQUIRETLS\r\n"
	    "250-AUTH PLAIN LOGIN\r\n250 SMTPUTF8\r\n");
	cr_assert_str_eq(say("RCPT TO:<u@example.test>\r\n"),
	    "503 5.5.1 Error: need MAIL command\r\n", "the envelope is gone");
	cr_assert_str_eq(say("STARTTLS\r\n"), "554 5.5.1 TLS already active\r\n");
}

Test(smtp, starttls_errors)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\n");
	cr_assert_str_eq(say("STARTTLS\r\n"), "454 4.7.0 TLS not available\r\n");
	smtp_free(s);
	s = NULL;
	config_free(cfg);
	buf_free(&fk.out);
	buf_free(&fk.msg);
	start_as("192.0.2.1", NULL, ROLE_MX, true, false);
	say("EHLO c\r\n");
	cr_assert_str_eq(say("STARTTLS now\r\n"), "501 5.5.4 Syntax: STARTTLS\r\n");
	say("STARTTLS\r\n");
	smtp_tls_done(s, false, NULL, NULL, 0);
	cr_assert(smtp_closing(s), "a failed handshake ends the session");
}

Test(smtp, no_auth_before_tls)
{
	start_as("192.0.2.1", SUBMISSION_CONF, ROLE_SUBMISSION, true, false);
	fk.mechs = "PLAIN LOGIN";
	say("");
	cr_assert(strstr(say("EHLO c\r\n"), "AUTH") == NULL, "AUTH not offered");
	cr_assert_str_eq(say("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
	    "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org>\r\n"),
	    "530 5.7.0 Authentication required\r\n");
	cr_assert_eq(fk.auth_starts, 0);
}

Test(smtp, auth_plain_then_mail_on_submission)
{
	start_as("192.0.2.1", SUBMISSION_CONF, ROLE_SUBMISSION, true, false);
	fk.mechs = "PLAIN LOGIN";
	say("EHLO c\r\n");
	tls();
	say("EHLO c\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org>\r\n"),
	    "530 5.7.0 Authentication required\r\n");
	cr_assert_str_eq(say("AUTH plain AGFsaWNlAHNlY3JldA==\r\n"), "");
	cr_assert_str_eq(fk.auth_mech, "PLAIN");
	cr_assert(fk.auth_initial);
	cr_assert_eq(fk.auth_len, 13);
	cr_assert_arr_eq(fk.auth_data, "\0alice\0secret", 13);
	smtp_auth_done(s, SASL_STATUS_OK, NULL, 0, "alice");
	cr_assert_str_eq(say(""), "235 2.7.0 Authentication successful\r\n");
	cr_assert_str_eq(say("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
	    "503 5.5.1 Already authenticated\r\n");
	fk.answer = DNS_NOT_FOUND;
	cr_assert_str_eq(say("MAIL FROM:<a@gone.example> AUTH=<>\r\n"),
	    "250 2.1.0 Ok\r\n", "authenticated: no sender lookup");
	cr_assert_str_eq(say("RCPT TO:<x@example.org>\r\n"), "250 2.1.5 Ok\r\n",
	    "authenticated clients may relay");
	say("DATA\r\nhi\r\n.\r\n");
	commit(0);
	cr_assert(strstr(fk.msg.data, "\t(using TLSv1.3 with cipher "
	    "TLS_AES_256_GCM_SHA384 (256 bits))\r\n\tby mail.example.test "
	    "(sallyport) with ESMTPSA id ") != NULL, "%s", fk.msg.data);
}

Test(smtp, auth_login_exchange_and_cancel)
{
	start_as("192.0.2.1", NULL, ROLE_MX, true, true);
	fk.mechs = "PLAIN LOGIN";
	say("EHLO c\r\n");
	cr_assert_str_eq(say("AUTH LOGIN\r\n"), "");
	cr_assert_not(fk.auth_initial);
	smtp_auth_done(s, SASL_STATUS_CONTINUE, "Username:", 9, NULL);
	cr_assert_str_eq(say(""), "334 VXNlcm5hbWU6\r\n");
	cr_assert_str_eq(say("YWxpY2U=\r\n"), "");
	cr_assert_eq(fk.auth_steps, 1);
	cr_assert_arr_eq(fk.auth_data, "alice", 5);
	smtp_auth_done(s, SASL_STATUS_CONTINUE, "Password:", 9, NULL);
	cr_assert_str_eq(say(""), "334 UGFzc3dvcmQ6\r\n");
	cr_assert_str_eq(say("*\r\n"), "501 5.0.0 Authentication cancelled\r\n");
	cr_assert_eq(fk.auth_resets, 1);
	cr_assert_str_eq(say("AUTH LOGIN\r\n"), "");
	smtp_auth_done(s, SASL_STATUS_CONTINUE, "Username:", 9, NULL);
	say("");
	cr_assert_str_eq(say("not base64!\r\n"), "501 5.5.2 Cannot decode response\r\n");
	cr_assert_str_eq(say("AUTH PLAIN not-base64\r\n"),
	    "501 5.5.2 Cannot decode response\r\n");
	cr_assert_str_eq(say("AUTH CRAM-MD5\r\n"),
	    "504 5.5.4 Unrecognized authentication mechanism\r\n");
	cr_assert_str_eq(say("AUTH\r\n"),
	    "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n");
	cr_assert_str_eq(say("AUTH PLAIN =\r\n"), "");
	cr_assert(fk.auth_initial);
	cr_assert_eq(fk.auth_len, 0, "= is the empty initial response");
}

Test(smtp, auth_failures_end_the_session)
{
	int i;

	start_as("192.0.2.1", "max_auth_failures = 2\n", ROLE_MX, true, true);
	fk.mechs = "PLAIN";
	say("EHLO c\r\n");
	for (i = 0; i < 2; i++) {
		cr_assert_str_eq(say("AUTH PLAIN AGFsaWNlAHdyb25n\r\n"), "");
		smtp_auth_done(s, SASL_STATUS_BADAUTH, NULL, 0, NULL);
		cr_assert_str_eq(say(""), i == 0 ?
		    "535 5.7.8 Authentication credentials invalid\r\n" :
		    "535 5.7.8 Authentication credentials invalid\r\n"
		    "421 4.7.0 Too many authentication failures, closing connection\r\n");
	}
	cr_assert(smtp_closing(s));
	cr_assert_eq(fk.auth_resets, 2);
}

Test(smtp, auth_temp_failure_and_transaction)
{
	start_as("192.0.2.1", NULL, ROLE_MX, true, true);
	fk.mechs = "PLAIN";
	say("EHLO c\r\n");
	say("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
	smtp_auth_done(s, SASL_STATUS_TEMP, NULL, 0, NULL);
	cr_assert_str_eq(say(""), "454 4.7.0 Temporary authentication failure\r\n");
	say("MAIL FROM:<a@example.org>\r\n");
	cr_assert_str_eq(say("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
	    "503 5.5.1 AUTH not allowed during a mail transaction\r\n");
}

Test(smtp, auth_lines_may_be_long_but_not_endless)
{
	static char line[SMTP_AUTH_MAX + 64];

	start_as("192.0.2.1", NULL, ROLE_MX, true, true);
	fk.mechs = "PLAIN";
	say("EHLO c\r\n");
	memcpy(line, "AUTH PLAIN ", 11);
	memset(line + 11, 'A', 1000);
	memcpy(line + 1011, "\r\n", 3);
	cr_assert_str_eq(say(line), "", "a 1 KB initial response is fine");
	cr_assert_eq(fk.auth_len, 750);
	smtp_auth_done(s, SASL_STATUS_CONTINUE, "", 0, NULL);
	cr_assert_str_eq(say(""), "334 \r\n");
	memset(line, 'A', SMTP_AUTH_MAX + 8);
	memcpy(line + SMTP_AUTH_MAX + 8, "\r\n", 3);
	cr_assert_str_eq(say(line),
	    "500 5.5.6 Authentication exchange line is too long\r\n");
	cr_assert(smtp_closing(s));
	cr_assert_eq(fk.auth_resets, 1);
}

Test(smtp, sender_login_check)
{
	start_as("192.0.2.1", "sender_login_check = yes\n", ROLE_MX, true, true);
	fk.mechs = "PLAIN";
	say("EHLO c\r\n");
	say("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
	smtp_auth_done(s, SASL_STATUS_OK, NULL, 0, "alice");
	say("");
	cr_assert_str_eq(say("MAIL FROM:<bob@example.test>\r\n"),
	    "553 5.7.1 <bob@example.test>: Sender address rejected: not owned by user alice\r\n");
	cr_assert_str_eq(say("MAIL FROM:<Alice@Example.Test>\r\n"), "250 2.1.0 Ok\r\n");
	say("RSET\r\n");
	cr_assert_str_eq(say("MAIL FROM:<>\r\n"), "250 2.1.0 Ok\r\n");
}

/* sender_login_map: the map decides at MAIL (also over
 * sender_login_check) and again for each From: address at the end of
 * DATA, where a refusal queues nothing. */
Test(smtp, sender_login_map_at_mail_and_from)
{
	char conf[256], map[64];

	scratch_file(map, sizeof(map), "smap",
	    "alice: alice@example.test info@example.test\n"
	    "boss: @example.test\n");
	snprintf(conf, sizeof(conf), "sender_login_check = yes\n"
	    "sender_login_map = %s\n", map);
	start_as("192.0.2.1", conf, ROLE_MX, true, true);
	unlink(map);
	fk.mechs = "PLAIN";
	say("EHLO c\r\n");
	say("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
	smtp_auth_done(s, SASL_STATUS_OK, NULL, 0, "alice");
	say("");
	cr_assert_str_eq(say("MAIL FROM:<boss@example.test>\r\n"),
	    "553 5.7.1 <boss@example.test>: Sender address rejected: not "
	    "owned by user alice\r\n");
	cr_assert_str_eq(say("MAIL FROM:<Info@Example.Test>\r\n"),
	    "250 2.1.0 Ok\r\n");
	say("RCPT TO:<user@example.test>\r\n");
	say("DATA\r\n");
	cr_assert_str_eq(say("From: Boss <boss@example.test>\r\n"
	    "Subject: x\r\n\r\nhi\r\n.\r\n"),
	    "553 5.7.1 <boss@example.test>: Sender address rejected: not "
	    "owned by user alice\r\n");
	cr_assert_eq(fk.commits, 0, "nothing queued");
	say("MAIL FROM:<alice@example.test>\r\n");
	say("RCPT TO:<user@example.test>\r\n");
	say("DATA\r\n");
	cr_assert_str_eq(say("From: alice@example.test, info@example.test\r\n"
	    "From: boss@example.test\r\n\r\nhi\r\n.\r\n"),
	    "553 5.7.1 Sender address rejected: several From: fields\r\n");
	say("MAIL FROM:<alice@example.test>\r\n");
	say("RCPT TO:<user@example.test>\r\n");
	say("DATA\r\n");
	cr_assert_str_eq(say("From: Info <info@example.test>, "
	    "alice@example.test\r\n\r\nhi\r\n.\r\n"), "");
	cr_assert_eq(fk.commits, 1);
	cr_assert_str_eq(commit(0), "250 2.0.0 Ok: queued as "
	    "TESTID0000000003\r\n");
	cr_assert_str_eq(say("MAIL FROM:<>\r\n"), "250 2.1.0 Ok\r\n",
	    "the null sender, as Postfix");
}

Test(smtp, auth_refused_for_the_address_without_asking_sasl)
{
	start_as("192.0.2.1", NULL, ROLE_MX, true, true);
	fk.mechs = "PLAIN";
	say("EHLO c\r\n");
	fk.auth_blocked = true;
	cr_assert_str_eq(say("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
	    "454 4.7.0 Too many authentication failures from your address, "
	    "try later\r\n");
	cr_assert_eq(fk.auth_starts, 0);
	fk.auth_blocked = false;
	cr_assert_str_eq(say("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"), "");
	cr_assert_eq(fk.auth_starts, 1);
}

Test(smtp, line_pending_while_a_command_line_is_partial)
{
	start("192.0.2.1", NULL);
	say("");
	cr_assert_not(smtp_line_pending(s));
	say("EH");
	cr_assert(smtp_line_pending(s));
	say("LO c\r");
	cr_assert(smtp_line_pending(s));
	say("\nNO");
	cr_assert(smtp_line_pending(s), "the next line has begun");
	say("OP\r\n");
	cr_assert_not(smtp_line_pending(s));
	say("MAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.test>\r\n"
	    "DATA\r\nSubj");
	cr_assert(smtp_in_data(s));
	cr_assert_not(smtp_line_pending(s), "message data is not a command");
}

Test(smtp, errors_are_counted_for_the_host)
{
	start("192.0.2.1", NULL);
	say("");
	cr_assert_eq(smtp_errors(s), 0);
	say("EHLO c\r\nNOOP\r\n");
	cr_assert_eq(smtp_errors(s), 0);
	say("BOGUS\r\nRCPT TO:<u@example.test>\r\n");
	cr_assert_eq(smtp_errors(s), 2);
}

/* Found by fuzz_smtp: "DATA" ended by a bare LF must not let ".\r\n"
 * right after it end the message: only <CRLF>.<CRLF> does. */
Test(smtp, data_command_with_bare_lf_does_not_start_a_line)
{
	start("192.0.2.1", NULL);
	say("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster>\r\n");
	cr_assert_str_eq(say("DATA\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
	cr_assert_str_eq(say(".\r\nQUIT\r\n"), "");
	cr_assert_eq(fk.commits, 0, "the dot right after DATA<LF> ended nothing");
	cr_assert_str_eq(say("\r\n.\r\n"), "");
	cr_assert_eq(fk.commits, 1, "a real CRLF.CRLF ends it");
}

/* hop_message - `n` Received: fields, a header, a body with more */
static const char *
hop_message(unsigned n)
{
	static char m[4096];
	size_t o = 0;

	for (unsigned i = 0; i < n; i++)
		o += (size_t)snprintf(m + o, sizeof(m) - o, "Received: from "
		    "h%u by h%u; Tue, 1 Dec 2026 10:00:00 +0000\r\n", i, i + 1);
	snprintf(m + o, sizeof(m) - o, "Subject: loop\r\n\r\nReceived: in "
	    "the body does not count\r\n.\r\n");
	return m;
}

/* RFC 5321 6.3: more Received: fields than max_hops is a loop; the
 * fields may arrive split anywhere. */
Test(smtp, too_many_hops_refused_after_the_data)
{
	const char *m = hop_message(4);

	start("192.0.2.1", "max_hops = 3\n");
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n");
	for (size_t i = 0; m[i + 1] != '\0'; i++)
		cr_assert_str_eq(say_n(m + i, 1), "");
	cr_assert_str_eq(say_n(m + strlen(m) - 1, 1),
	    "554 5.4.6 Too many hops\r\n");
	cr_assert_eq(fk.commits, 0);
	cr_assert_eq(fk.aborts, 1);
	cr_assert_str_eq(say("MAIL FROM:<a@example.org>\r\n"), "250 2.1.0 Ok\r\n");
}

Test(smtp, max_hops_received_fields_are_accepted)
{
	start("192.0.2.1", "max_hops = 3\n");
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n");
	cr_assert_str_eq(say(hop_message(3)), "");
	cr_assert_eq(fk.commits, 1);
	cr_assert_str_eq(commit(0), "250 2.0.0 Ok: queued as TESTID0000000001\r\n");
}

/* RFC 8689 3: REQUIRETLS is offered inside TLS only, on every listener
 * role; MAIL may carry it there, without a value, and the envelope keeps
 * it. Outside TLS it is refused with 5.7.10 naming REQUIRETLS. */
Test(smtp, requiretls_offered_and_taken_inside_tls_only)
{
	static const enum listen_role roles[] = { ROLE_MX, ROLE_SUBMISSION };
	size_t i;

	for (i = 0; i < 2; i++) {
		start_as("192.0.2.1", i ? SUBMISSION_CONF : NULL, roles[i],
		    true, false);
		say("");
		cr_assert_null(strstr(say("EHLO c\r\n"), "REQUIRETLS"),
		    "not offered in clear");
		/* (submission wants AUTH first, which wants TLS) */
		if (roles[i] == ROLE_MX)
			cr_assert_str_eq(say("MAIL FROM:<a@example.org> "
			    "REQUIRETLS\r\n"), "530 5.7.10 REQUIRETLS needs a "
			    "TLS session: STARTTLS first\r\n");
		say("STARTTLS\r\n");
		smtp_tls_done(s, true, "TLSv1.3", "TLS_AES_256_GCM_SHA384", 256);
		cr_assert_not_null(strstr(say("EHLO c\r\n"),
		    "\r\n250-REQUIRETLS\r\n"), "offered inside TLS");
		finish();
	}
	/* implicit TLS (submissions) */
	start_as("192.0.2.1", SUBMISSION_CONF, ROLE_SUBMISSION, true, true);
	say("");
	cr_assert_not_null(strstr(say("EHLO c\r\n"), "\r\n250-REQUIRETLS\r\n"));
}

Test(smtp, requiretls_parameter_syntax_and_envelope)
{
	start_as("192.0.2.1", NULL, ROLE_MX, true, true);
	say("");
	say("EHLO c\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org> REQUIRETLS=YES\r\n"),
	    "501 5.5.4 Bad REQUIRETLS parameter: it takes no value\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org> REQUIRETLS=\r\n"),
	    "501 5.5.4 Bad REQUIRETLS parameter: it takes no value\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org> REQUIRETLS "
	    "REQUIRETLS\r\n"), "555 5.5.4 Unsupported parameter\r\n",
	    "given twice");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org> REQUIRETLSX\r\n"),
	    "555 5.5.4 Unsupported parameter\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org> SMTPUTF8 requiretls "
	    "BODY=8BITMIME\r\n"), "250 2.1.0 Ok\r\n", "any case, any place");
	say("RCPT TO:<u@example.test>\r\n");
	say("DATA\r\n");
	/* the header is ignored when MAIL had REQUIRETLS (RFC 8689 5) */
	say("TLS-Required: No\r\nSubject: x\r\n\r\nbody\r\n.\r\n");
	cr_assert(fk.requiretls, "REQUIRETLS reaches the envelope");
	cr_assert_eq(fk.tls_optionals, 0);
	cr_assert_str_eq(commit(0), "250 2.0.0 Ok: queued as TESTID0000000001\r\n");
	/* the next transaction starts without it */
	say("MAIL FROM:<a@example.org>\r\n");
	say("RCPT TO:<u@example.test>\r\n");
	say("DATA\r\n");
	say("Subject: y\r\n\r\nbody\r\n.\r\n");
	cr_assert_not(fk.requiretls);
	cr_assert_eq(fk.tls_optionals, 0, "no TLS-Required field");
}

/* RFC 8689 5: "TLS-Required: No" in the header is kept with the entry,
 * before the commit, from every kind of client (a trusted one's header
 * is not filtered, but still read); a field that only looks like it is
 * not taken. */
Test(smtp, tls_required_no_marks_the_entry)
{
	static const struct {
		const char	*client, *hdr;
		int		 marked;
	} cases[] = {
		{ "192.0.2.1", "TLS-Required: No\r\n", 1 },
		{ "192.0.2.1", "tls-required:no\r\n", 1 },
		{ "192.0.2.1", "TLS-Required:\r\n No \r\n", 1 },
		{ "10.1.2.3", "TLS-Required: No\r\n", 1 },	/* mynetworks */
		{ "192.0.2.1", "TLS-Required: Yes\r\n", 0 },
		{ "192.0.2.1", "TLS-Required: Nope\r\n", 0 },
		{ "192.0.2.1", "X-TLS-Required: No\r\n", 0 },
		{ "192.0.2.1", "Subject: x\r\n TLS-Required: No\r\n", 0 },
	};
	char msg[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		start(cases[i].client, NULL);
		say("EHLO c\r\n");
		say("MAIL FROM:<a@example.org>\r\n");
		say("RCPT TO:<u@example.test>\r\n");
		say("DATA\r\n");
		snprintf(msg, sizeof(msg), "From: a@example.org\r\n%s"
		    "\r\nTLS-Required: No\r\n.\r\n", cases[i].hdr);
		say(msg);
		cr_assert_eq(fk.tls_optionals, cases[i].marked, "case %zu", i);
		if (cases[i].marked)
			cr_assert_eq(fk.commits_at_tls_optional, 0,
			    "marked before the commit");
		cr_assert(fk.committing, "case %zu: the message is taken", i);
		cr_assert_not_null(strstr(fk.msg.data, cases[i].hdr),
		    "the field stays in the message");
		finish();
	}
	start("192.0.2.1", NULL);
}
