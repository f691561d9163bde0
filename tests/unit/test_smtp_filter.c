/*
 * test_smtp_filter - the engine's side of the host's filters (milters):
 * each stage asked at its place, the verdicts (at once or later),
 * refusals as the client reads them and as the log says them, a
 * discarded message, the filters told when a transaction they saw ends,
 * stale verdicts, pipelined commands and a shutdown while a stage
 * waits. The host is smtp_fake's with a filter of the test's own.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "smtp/smtp.h"
#include "smtp/smtp_filter.h"
#include "smtp_fake.h"

#define NSTAGES	5
#define SUMMARY	"test-milter"

/* The filter: what it was asked, and what it answers. */
static struct {
	int		 asked[NSTAGES];
	int		 asks;			/* all stages */
	enum smtp_filter_stage last;
	char		 arg[600], params[600];
	bool		 later[NSTAGES];	/* leave the answer to the test */
	enum smtp_filter_action act[NSTAGES];	/* else answer this */
	const char	*reply[NSTAGES];
	int		 aborts;		/* filter_abort calls */
	int		 spool_aborts_at_abort;	/* fk.aborts then */
	/* the queue when END was asked */
	int		 prepends_at_end, commits_at_end;
	size_t		 msg_at_end;
	/* checks of mail from others */
	enum smtp_check_start check;
	int		 cancels;
} ff;

static void
verdict(enum smtp_filter_action act, const char *reply)
{
	struct smtp_filter_verdict v = { act, reply, SUMMARY };

	smtp_filter_done(s, &v);
}

static void
f_filter(void *ctx, enum smtp_filter_stage st, const char *arg,
    const char *params)
{
	(void)ctx;
	cr_assert_not_null(arg);
	cr_assert_not_null(params);
	ff.asked[st]++;
	ff.asks++;
	ff.last = st;
	snprintf(ff.arg, sizeof(ff.arg), "%s", arg);
	snprintf(ff.params, sizeof(ff.params), "%s", params);
	if (st == SMTP_FILTER_END) {
		ff.prepends_at_end = fk.prepends;
		ff.commits_at_end = fk.commits;
		ff.msg_at_end = fk.msg.len;
	}
	if (!ff.later[st])
		verdict(ff.act[st], ff.reply[st]);
}

static void
f_filter_abort(void *ctx)
{
	(void)ctx;
	ff.aborts++;
	ff.spool_aborts_at_abort = fk.aborts;
}

static enum smtp_check_start
f_check_mail(void *ctx, const char *sender, const char *helo)
{
	(void)ctx;
	(void)sender;
	(void)helo;
	return ff.check;
}

static void
f_check_data(void *ctx, const char *data, size_t len)
{
	(void)ctx;
	(void)data;
	(void)len;
}

/* The checks accept, with a field for the top of the message. */
static void
f_check_end(void *ctx, const struct dmarc_from *from)
{
	static const char ar[] = "Authentication-Results: mail.example.test; "
	    "spf=pass\r\n";
	struct smtp_check_result r = { SMTP_CHECK_ACCEPT, NULL, ar,
	    sizeof(ar) - 1, "spf=pass" };

	(void)ctx;
	(void)from;
	smtp_check_done(s, &r);
}

static void
f_check_cancel(void *ctx)
{
	(void)ctx;
	ff.cancels++;
}

static struct smtp_io filter_io;

/* fstart_as - a session whose host has the filter (filters false: the
 * same host without), with a certificate (tls_offer) and possibly
 * inside TLS from the start */
static void
fstart_as(const char *extra, bool filters, bool tls_offer, bool implicit_tls)
{
	memset(&ff, 0, sizeof(ff));
	filter_io = fake_io;
	filter_io.filter = f_filter;
	filter_io.filter_abort = f_filter_abort;
	filter_io.check_mail = f_check_mail;
	filter_io.check_data = f_check_data;
	filter_io.check_end = f_check_end;
	filter_io.check_cancel = f_check_cancel;
	if (!filters)
		filter_io.filter = NULL;
	fake_next_io = &filter_io;
	start_as("192.0.2.1", extra, ROLE_MX, tls_offer, implicit_tls);
	say("");
}

static void
fstart(const char *extra, bool filters)
{
	fstart_as(extra, filters, false, false);
}

/* later - the filters answer the stage that waits; the replies */
static char *
later(enum smtp_filter_action act, const char *reply)
{
	verdict(act, reply);
	return say("");
}

/* --- the log, read back ------------------------------------------------ */

static int log_fd = -1, saved_stderr = -1;
static char log_path[] = "/tmp/test_smtp_filter.XXXXXX";

static void
log_capture(void)
{
	cr_assert_geq(log_fd = mkstemp(log_path), 0);
	unlink(log_path);
	fflush(stderr);
	saved_stderr = dup(2);
	dup2(log_fd, 2);
	log_open("test", 1);
	log_set_quiet(0);
}

/* logged - what the engine logged so far */
static const char *
logged(void)
{
	static char text[16384];
	ssize_t n;

	fflush(stderr);
	cr_assert_geq(n = pread(log_fd, text, sizeof(text) - 1, 0), 0);
	text[n] = '\0';
	return text;
}

static void
fini(void)
{
	if (saved_stderr != -1) {
		fflush(stderr);
		dup2(saved_stderr, 2);
		close(saved_stderr);
		close(log_fd);
		saved_stderr = log_fd = -1;
	}
	finish();
}

TestSuite(smtp_filter, .fini = fini);

/* A transaction up to the 354, the filters answering at once. */
static void
up_to_data(void)
{
	cr_assert_str_eq(say("EHLO client.example\r\n"),
	    "250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n"
	    "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org>\r\n"), "250 2.1.0 Ok\r\n");
	cr_assert_str_eq(say("RCPT TO:<u@example.test>\r\n"), "250 2.1.5 Ok\r\n");
	cr_assert_str_eq(say("DATA\r\n"),
	    "354 End data with <CR><LF>.<CR><LF>\r\n");
}

/* --- stages ------------------------------------------------------------- */

/* transcript - the dialogue sent at once, the commit done when asked,
 * the rest offered again: every reply */
static const char *
transcript(const char *dialogue)
{
	static char got[8192];
	size_t used = smtp_input(s, dialogue, strlen(dialogue));

	snprintf(got, sizeof(got), "%s", say(""));
	if (fk.committing)
		strcat(got, commit(0));
	strcat(got, say(dialogue + used));
	return got;
}

/* Filters that take everything: the session is the one without them,
 * byte for byte, and each stage was asked once, where it belongs. */
Test(smtp_filter, continue_everywhere_changes_nothing)
{
	static const char dialogue[] =
	    "EHLO client.example\r\n"
	    "MAIL FROM:<Sender@Example.ORG> SIZE=100  BODY=8BITMIME\r\n"
	    "RCPT TO:<user@example.test>\r\nRCPT TO:<other@example.test>\r\n"
	    "DATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n";
	char without[4096], msg[4096];

	fstart(NULL, false);
	snprintf(without, sizeof(without), "%s", transcript(dialogue));
	cr_assert_eq(fk.commits, 1);
	snprintf(msg, sizeof(msg), "%.*s", (int)fk.msg.len, fk.msg.data);
	cr_assert_eq(ff.asks, 0);
	finish();

	fstart(NULL, true);
	cr_assert_str_eq(transcript(dialogue), without);
	cr_assert_eq(fk.commits, 1);
	cr_assert_eq(fk.msg.len, strlen(msg));
	cr_assert_eq(memcmp(fk.msg.data, msg, fk.msg.len), 0);
	cr_assert_eq(ff.asks, 6);
	cr_assert_eq(ff.asked[SMTP_FILTER_HELO], 1);
	cr_assert_eq(ff.asked[SMTP_FILTER_MAIL], 1);
	cr_assert_eq(ff.asked[SMTP_FILTER_RCPT], 2);
	cr_assert_eq(ff.asked[SMTP_FILTER_DATA], 1);
	cr_assert_eq(ff.asked[SMTP_FILTER_END], 1);
	cr_assert_eq(ff.aborts, 0, "a committed message is not aborted");
	cr_assert_eq(smtp_errors(s), 0);
}

Test(smtp_filter, each_stage_sees_its_arguments)
{
	fstart(NULL, true);
	for (int i = 0; i < NSTAGES; i++)
		ff.later[i] = true;
	cr_assert_str_eq(say("EHLO client.example\r\n"), "");
	cr_assert_eq(ff.last, SMTP_FILTER_HELO);
	cr_assert_str_eq(ff.arg, "client.example");
	cr_assert_str_eq(ff.params, "");
	cr_assert(smtp_waiting(s));
	cr_assert_eq(strncmp(later(SMTP_FILTER_CONTINUE, NULL),
	    "250-mail.example.test\r\n", 23), 0);
	cr_assert_not(smtp_waiting(s));

	cr_assert_str_eq(say("MAIL FROM:<Sender@Example.ORG>  SIZE=100 "
	    "BODY=8BITMIME\r\n"), "");
	cr_assert_eq(ff.last, SMTP_FILTER_MAIL);
	cr_assert_str_eq(ff.arg, "Sender@example.org", "as queued");
	cr_assert_str_eq(ff.params, "SIZE=100 BODY=8BITMIME", "as sent");
	cr_assert_str_eq(later(SMTP_FILTER_CONTINUE, NULL), "250 2.1.0 Ok\r\n");

	cr_assert_str_eq(say("RCPT TO:<postmaster>\r\n"), "");
	cr_assert_eq(ff.last, SMTP_FILTER_RCPT);
	cr_assert_str_eq(ff.arg, "postmaster@mail.example.test", "as queued");
	cr_assert_str_eq(ff.params, "");
	cr_assert_str_eq(later(SMTP_FILTER_CONTINUE, NULL), "250 2.1.5 Ok\r\n");

	cr_assert_str_eq(say("DATA\r\n"), "");
	cr_assert_eq(ff.last, SMTP_FILTER_DATA);
	cr_assert_eq(fk.opens, 0, "the spool opens after the filters");
	cr_assert_str_eq(later(SMTP_FILTER_CONTINUE, NULL),
	    "354 End data with <CR><LF>.<CR><LF>\r\n");
	cr_assert_eq(fk.opens, 1);

	cr_assert_str_eq(say("Subject: hi\r\n\r\nbody\r\n.\r\n"), "");
	cr_assert_eq(ff.last, SMTP_FILTER_END);
	cr_assert_str_eq(ff.arg, "TESTID0000000001", "END names the queue id");
	cr_assert_eq(ff.commits_at_end, 0);
	cr_assert_eq(ff.msg_at_end, fk.msg.len, "the message is complete");
	cr_assert(smtp_waiting(s));
	cr_assert_str_eq(later(SMTP_FILTER_CONTINUE, NULL), "");
	cr_assert_eq(fk.commits, 1);
	cr_assert_str_eq(commit(0), "250 2.0.0 Ok: queued as TESTID0000000001\r\n");

	cr_assert_str_eq(say("MAIL FROM:<>\r\n"), "");
	cr_assert_str_eq(ff.arg, "", "the null sender");
	cr_assert_str_eq(ff.params, "");
}

/* --- refusals ----------------------------------------------------------- */

#define REJECT	"550 5.7.1 Command rejected"

/* answered - a command (or the message) sent, and its reply, whether
 * the filters answer at once or later */
static const char *
answered(const char *cmd, enum smtp_filter_stage st)
{
	static char got[8192];
	int before = ff.asked[st];

	snprintf(got, sizeof(got), "%s", say(cmd));
	if (ff.later[st] && ff.asked[st] > before) {
		cr_assert_str_eq(got, "", "no reply before the filters'");
		cr_assert(smtp_waiting(s));
		snprintf(got, sizeof(got), "%s",
		    later(ff.act[st], ff.reply[st]));
	}
	return got;
}

/* refuse_at - the filters refuse at `st` (at once or later): the reply,
 * and what the client may do next */
static void
refuse_at(enum smtp_filter_stage st, bool at_once)
{
	fstart(NULL, true);
	ff.act[st] = SMTP_FILTER_REFUSE;
	ff.reply[st] = REJECT;
	ff.later[st] = !at_once;
	if (st == SMTP_FILTER_HELO) {
		cr_assert_str_eq(answered("EHLO c\r\n", st), REJECT "\r\n");
		cr_assert_eq(smtp_errors(s), 1, "one error for the tarpit");
		cr_assert_str_eq(say("MAIL FROM:<a@example.org>\r\n"),
		    "503 5.5.1 Error: send HELO/EHLO first\r\n",
		    "refused: not greeted");
		ff.act[st] = SMTP_FILTER_CONTINUE;
		cr_assert_str_eq(answered("HELO c\r\n", st),
		    "250 mail.example.test\r\n", "it may try again");
		cr_assert_str_eq(say("MAIL FROM:<a@example.org>\r\n"),
		    "250 2.1.0 Ok\r\n");
		return;
	}
	say("EHLO c\r\n");
	if (st == SMTP_FILTER_MAIL) {
		cr_assert_str_eq(answered("MAIL FROM:<a@example.org>\r\n", st),
		    REJECT "\r\n");
		cr_assert_eq(smtp_errors(s), 1, "one error for the tarpit");
		cr_assert_eq(ff.aborts, 1, "the filters forget it");
		cr_assert_str_eq(say("RCPT TO:<u@example.test>\r\n"),
		    "503 5.5.1 Error: need MAIL command\r\n", "no transaction");
		ff.act[st] = SMTP_FILTER_CONTINUE;
		cr_assert_str_eq(answered("MAIL FROM:<b@example.org>\r\n", st),
		    "250 2.1.0 Ok\r\n");
		return;
	}
	say("MAIL FROM:<a@example.org>\r\n");
	if (st == SMTP_FILTER_RCPT) {
		cr_assert_str_eq(answered("RCPT TO:<u@example.test>\r\n", st),
		    REJECT "\r\n");
		cr_assert_eq(smtp_errors(s), 1, "one error for the tarpit");
		ff.act[st] = SMTP_FILTER_CONTINUE;
		cr_assert_str_eq(answered("RCPT TO:<v@example.test>\r\n", st),
		    "250 2.1.5 Ok\r\n");
		say("DATA\r\nhi\r\n.\r\n");
		commit(0);
		cr_assert_eq(fk.nrcpts, 1, "the refused recipient is not queued");
		cr_assert_str_eq(fk.rcpts[0], "v@example.test");
		cr_assert_eq(ff.aborts, 0);
		return;
	}
	say("RCPT TO:<u@example.test>\r\n");
	if (st == SMTP_FILTER_DATA) {
		cr_assert_str_eq(answered("DATA\r\n", st), REJECT "\r\n");
		cr_assert_eq(smtp_errors(s), 1, "one error for the tarpit");
		cr_assert_eq(fk.opens, 0);
		cr_assert_eq(ff.aborts, 0, "the transaction stays");
		ff.act[st] = SMTP_FILTER_CONTINUE;
		cr_assert_str_eq(answered("DATA\r\n", st),
		    "354 End data with <CR><LF>.<CR><LF>\r\n");
		say("hi\r\n.\r\n");
		cr_assert_str_eq(commit(0),
		    "250 2.0.0 Ok: queued as TESTID0000000001\r\n");
		return;
	}
	say("DATA\r\n");
	cr_assert_str_eq(answered("hi\r\n.\r\n", st), REJECT "\r\n");
	cr_assert_eq(smtp_errors(s), 1, "one error for the tarpit");
	cr_assert_eq(fk.commits, 0);
	cr_assert_eq(fk.aborts, 1, "the spool is dropped");
	cr_assert_eq(ff.aborts, 0, "END was answered: nothing to abort");
	cr_assert_str_eq(say("RCPT TO:<u@example.test>\r\n"),
	    "503 5.5.1 Error: need MAIL command\r\n", "the message is gone");
}

Test(smtp_filter, refused_at_each_stage_at_once_or_later)
{
	for (int at_once = 0; at_once < 2; at_once++)
		for (int st = 0; st < NSTAGES; st++) {
			refuse_at((enum smtp_filter_stage)st, at_once);
			finish();
		}
}

Test(smtp_filter, refusals_are_logged_as_the_engines_own)
{
	fstart(NULL, true);
	log_capture();
	ff.act[SMTP_FILTER_RCPT] = SMTP_FILTER_REFUSE;
	ff.reply[SMTP_FILTER_RCPT] = "550-5.7.1 No\r\n550 5.7.1 thanks";
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
	say("RCPT TO:<u@example.test>\r\n");
	cr_assert(strstr(logged(), "s=1 reject: RCPT from [192.0.2.1]: "
	    "550-5.7.1 No\\r\\n550 5.7.1 thanks; from=<a@example.org> "
	    "to=<u@example.test> helo=<c> filter=<" SUMMARY ">\n") != NULL,
	    "%s", logged());
	ff.act[SMTP_FILTER_END] = SMTP_FILTER_REFUSE;
	ff.reply[SMTP_FILTER_END] = "554 5.7.1 Spam";
	ff.act[SMTP_FILTER_RCPT] = SMTP_FILTER_CONTINUE;
	say("RCPT TO:<v@example.test>\r\nDATA\r\nhi\r\n.\r\n");
	cr_assert(strstr(logged(), "s=1 id=TESTID0000000001 reject: "
	    "END-OF-MESSAGE from [192.0.2.1]: 554 5.7.1 Spam; "
	    "from=<a@example.org> nrcpt=1 helo=<c> filter=<" SUMMARY ">\n")
	    != NULL, "%s", logged());
}

/* --- replies as the client reads them ------------------------------------ */

Test(smtp_filter, multiline_reply_byte_for_byte)
{
	fstart(NULL, true);
	ff.act[SMTP_FILTER_MAIL] = SMTP_FILTER_REFUSE;
	ff.reply[SMTP_FILTER_MAIL] = "451-4.7.1 Greylisted\r\n"
	    "451-4.7.1 come back\r\n451 4.7.1 in five minutes";
	say("EHLO c\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org>\r\n"),
	    "451-4.7.1 Greylisted\r\n451-4.7.1 come back\r\n"
	    "451 4.7.1 in five minutes\r\n");
	cr_assert_eq(smtp_errors(s), 1, "one reply, one error for the tarpit");
}

Test(smtp_filter, malformed_reply_never_reaches_the_client)
{
	static const char *const bad[] = {
		NULL, "", "250 2.0.0 fine", "550-5.7.1 a\r\n451 4.7.1 b",
		"55 short", "550x", "550 4.7.1 class differs", "5a0 x",
		"550 a\r\n\r\n550 b", "600 6.0.0 x",
	};

	fstart(NULL, true);
	log_capture();
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
	ff.act[SMTP_FILTER_RCPT] = SMTP_FILTER_REFUSE;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ff.reply[SMTP_FILTER_RCPT] = bad[i];
		cr_assert_str_eq(say("RCPT TO:<u@example.test>\r\n"),
		    "451 4.3.0 Local error in processing\r\n", "%s",
		    bad[i] ? bad[i] : "NULL");
	}
	cr_assert(strstr(logged(), "s=1 filter reply malformed, 451 instead: "
	    "<250 2.0.0 fine>\n") != NULL, "%s", logged());
	cr_assert(strstr(logged(), "s=1 reject: RCPT from [192.0.2.1]: "
	    "451 4.3.0 Local error in processing; from=<a@example.org> "
	    "to=<u@example.test> helo=<c> filter=<" SUMMARY ">\n") != NULL,
	    "%s", logged());
	/* An action the engine does not know is no verdict either. */
	ff.act[SMTP_FILTER_RCPT] = (enum smtp_filter_action)42;
	ff.reply[SMTP_FILTER_RCPT] = REJECT;
	cr_assert_str_eq(say("RCPT TO:<u@example.test>\r\n"),
	    "451 4.3.0 Local error in processing\r\n");
}

/* reply - smtp_filter_reply's output as a string, or "malformed" */
static const char *
reply(const char *in)
{
	static char out[SMTP_FILTER_REPLY_MAX + 1];
	int n = smtp_filter_reply(in, out, sizeof(out) - 1);

	if (n < 0)
		return "malformed";
	out[n] = '\0';
	return out;
}

Test(smtp_filter, replies_made_proper)
{
	char in[64 * 40], want[SMTP_FILTER_REPLY_MAX + 1], line[700];
	const char *got;

	cr_assert_str_eq(reply("550 5.7.1 a\r\n550 5.7.1 b\r\n"),
	    "550-5.7.1 a\r\n550 5.7.1 b\r\n", "continuation marks set");
	cr_assert_str_eq(reply("550-5.7.1 last"), "550 5.7.1 last\r\n");
	cr_assert_str_eq(reply("421"), "421 \r\n");
	cr_assert_str_eq(reply("550 caf\xc3\xa9\tx\ry\nz\x1b"),
	    "550 caf??\x3fx?y?z?\r\n", "what is not printable becomes ?");
	/* A line past 512 octets is cut there. */
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	memcpy(line, "554 ", 4);
	got = reply(line);
	cr_assert_eq(strlen(got), SMTP_REPLY_LINE_MAX);
	cr_assert_eq(memcmp(got + SMTP_REPLY_LINE_MAX - 3, "x\r\n", 3), 0);
	/* Past 32 lines the rest is dropped, the 32nd the last. */
	in[0] = want[0] = '\0';
	for (int i = 0; i < 40; i++) {
		snprintf(line, sizeof(line), "%s550-line %d", i ? "\r\n" : "", i);
		strcat(in, line);
		if (i < SMTP_FILTER_LINES) {
			snprintf(line, sizeof(line), "550%cline %d\r\n",
			    i == SMTP_FILTER_LINES - 1 ? ' ' : '-', i);
			strcat(want, line);
		}
	}
	cr_assert_str_eq(reply(in), want);
	cr_assert_eq(smtp_filter_reply("550 x", line, 6), -1,
	    "no room: malformed rather than cut");
	cr_assert_str_eq(reply("\r\n550 x"), "malformed");
	cr_assert_str_eq(reply("550 5.7.1 a\r\n551 5.7.1 b"), "malformed");
}

/* --- discard ----------------------------------------------------------- */

Test(smtp_filter, discard_at_end_is_told_queued_and_dropped)
{
	for (int at_once = 0; at_once < 2; at_once++) {
		fstart(NULL, true);
		if (!at_once)
			log_capture();
		ff.act[SMTP_FILTER_END] = SMTP_FILTER_DISCARD;
		ff.later[SMTP_FILTER_END] = !at_once;
		up_to_data();
		cr_assert_str_eq(answered("hi\r\n.\r\n", SMTP_FILTER_END),
		    "250 2.0.0 Ok: queued as TESTID0000000001\r\n");
		cr_assert_eq(fk.commits, 0, "nothing queued");
		cr_assert_eq(fk.aborts, 1, "the spool dropped");
		cr_assert_eq(ff.aborts, 0);
		cr_assert_eq(smtp_errors(s), 0);
		cr_assert_str_eq(say("RCPT TO:<u@example.test>\r\n"),
		    "503 5.5.1 Error: need MAIL command\r\n");
		if (!at_once)
			cr_assert(strstr(logged(), "s=1 id=TESTID0000000001 "
			    "discard: END-OF-MESSAGE from [192.0.2.1]: discarded "
			    "by the filters; from=<a@example.org> nrcpt=1 "
			    "helo=<client.example> filter=<" SUMMARY ">\n") !=
			    NULL, "%s", logged());
		finish();
	}
}

/* Before END a discard goes on as CONTINUE: the host drops at END. */
Test(smtp_filter, discard_before_end_goes_on)
{
	fstart(NULL, true);
	for (int st = 0; st < SMTP_FILTER_END; st++)
		ff.act[st] = SMTP_FILTER_DISCARD;
	up_to_data();
	say("hi\r\n.\r\n");
	cr_assert_str_eq(commit(0), "250 2.0.0 Ok: queued as TESTID0000000001\r\n");
	cr_assert_eq(fk.nrcpts, 1);
}

/* --- the filters told when a transaction they saw ends ------------------ */

/* aborted_by - a transaction the filters took at MAIL, then `end` */
static void
aborted_by(const char *end, int want)
{
	fstart(NULL, true);
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.test>\r\n");
	cr_assert_eq(ff.aborts, 0);
	say(end);
	cr_assert_eq(ff.aborts, want, "after %s", end);
	finish();
}

Test(smtp_filter, abort_when_the_transaction_ends_before_end)
{
	aborted_by("RSET\r\n", 1);
	aborted_by("EHLO again\r\n", 1);
	aborted_by("HELO again\r\n", 1);
	aborted_by("QUIT\r\n", 1);
	aborted_by("DATA\r\nbare\nLF\r\n.\r\n", 1);	/* the engine refuses */
	aborted_by("NOOP\r\n", 0);
	aborted_by("RCPT TO:<v@example.test>\r\n", 0);

	/* STARTTLS, the client gone, a shutdown, a timeout */
	fstart_as(NULL, true, true, false);
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
	cr_assert_str_eq(say("STARTTLS\r\n"), "220 2.0.0 Ready to start TLS\r\n");
	cr_assert_eq(ff.aborts, 1, "STARTTLS");
	finish();

	fstart(NULL, true);
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
	smtp_shutdown(s);
	cr_assert_eq(ff.aborts, 1, "shutdown");
	finish();

	fstart(NULL, true);
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
	smtp_timeout(s);
	cr_assert_eq(ff.aborts, 1, "timeout");
	finish();

	fstart(NULL, true);
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
	smtp_free(s);
	s = NULL;
	cr_assert_eq(ff.aborts, 1, "the session freed");
}

Test(smtp_filter, no_abort_after_end_nor_without_mail)
{
	fstart(NULL, true);
	say("EHLO c\r\nRSET\r\n");
	cr_assert_eq(ff.aborts, 0, "no transaction");
	up_to_data();
	say("hi\r\n.\r\n");
	commit(-1);		/* even when the commit fails */
	say("RSET\r\nQUIT\r\n");
	cr_assert_eq(ff.aborts, 0);
	finish();

	/* Without the hook, a filtered transaction ends quietly. */
	fstart(NULL, true);
	filter_io.filter_abort = NULL;
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRSET\r\n");
	cr_assert_eq(ff.aborts, 0);
}

/* The session freed while END waits: the filters told first (they may
 * be reading the spool), then the spool dropped. */
Test(smtp_filter, free_while_end_waits)
{
	fstart(NULL, true);
	ff.later[SMTP_FILTER_END] = true;
	up_to_data();
	say("hi\r\n.\r\n");
	cr_assert(smtp_waiting(s));
	smtp_free(s);
	s = NULL;
	cr_assert_eq(ff.aborts, 1);
	cr_assert_eq(ff.spool_aborts_at_abort, 0, "the filters first");
	cr_assert_eq(fk.aborts, 1);
	cr_assert_eq(fk.commits, 0);
}

/* --- stale verdicts -------------------------------------------------------- */

Test(smtp_filter, stale_verdicts_are_ignored)
{
	fstart(NULL, true);
	ff.later[SMTP_FILTER_MAIL] = true;
	say("EHLO c\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org>\r\n"), "");
	smtp_timeout(s);
	cr_assert_str_eq(say(""), "421 4.4.2 Timeout exceeded, closing connection\r\n");
	cr_assert_eq(ff.aborts, 1);
	cr_assert_str_eq(later(SMTP_FILTER_CONTINUE, NULL), "",
	    "the transaction is gone");
	cr_assert_str_eq(later(SMTP_FILTER_REFUSE, REJECT), "");
	cr_assert(smtp_closing(s));
	finish();

	/* Answered twice: the second is no one's. */
	fstart(NULL, true);
	ff.later[SMTP_FILTER_RCPT] = true;
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
	cr_assert_str_eq(say("RCPT TO:<u@example.test>\r\n"), "");
	cr_assert_str_eq(later(SMTP_FILTER_CONTINUE, NULL), "250 2.1.5 Ok\r\n");
	cr_assert_str_eq(later(SMTP_FILTER_REFUSE, REJECT), "");
	cr_assert_str_eq(later(SMTP_FILTER_CONTINUE, NULL), "");
	say("DATA\r\nhi\r\n.\r\n");
	commit(0);
	cr_assert_eq(fk.nrcpts, 1);
	cr_assert_eq(smtp_errors(s), 0);
}

/* --- waits --------------------------------------------------------------- */

/* Commands pipelined behind a stage wait for its verdict: a refused
 * EHLO leaves the MAIL behind it un-greeted. */
Test(smtp_filter, pipelined_commands_wait_for_the_verdict)
{
	static const char helo[] = "EHLO c\r\nMAIL FROM:<a@example.org>\r\n";
	static const char rest[] = "RCPT TO:<u@example.test>\r\nDATA\r\n";
	static const char mail[] = "MAIL FROM:<a@example.org>\r\n";
	char all[256];
	size_t used;

	fstart(NULL, true);
	ff.later[SMTP_FILTER_HELO] = true;
	used = smtp_input(s, helo, sizeof(helo) - 1);
	cr_assert_eq(used, strlen("EHLO c\r\n"));
	cr_assert_str_eq(say(""), "");
	cr_assert_eq(ff.asked[SMTP_FILTER_MAIL], 0);
	cr_assert_str_eq(later(SMTP_FILTER_REFUSE, "554 5.7.1 Go away"),
	    "554 5.7.1 Go away\r\n");
	cr_assert_str_eq(say(helo + used),
	    "503 5.5.1 Error: send HELO/EHLO first\r\n");

	ff.later[SMTP_FILTER_HELO] = false;
	ff.later[SMTP_FILTER_MAIL] = true;
	say("EHLO c\r\n");
	snprintf(all, sizeof(all), "%s%s", mail, rest);
	used = smtp_input(s, all, strlen(all));
	cr_assert_eq(used, strlen(mail));
	cr_assert(smtp_waiting(s));
	cr_assert_eq(ff.asked[SMTP_FILTER_RCPT], 0);
	cr_assert_str_eq(later(SMTP_FILTER_CONTINUE, NULL), "250 2.1.0 Ok\r\n");
	cr_assert_not(smtp_waiting(s));
	cr_assert_str_eq(say(all + used),
	    "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
}

/* A shutdown while a stage waits: 421 after its verdict, as for the
 * other waits; a message in progress is finished first. */
Test(smtp_filter, shutdown_while_waiting)
{
	fstart(NULL, true);
	ff.later[SMTP_FILTER_MAIL] = true;
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
	smtp_shutdown(s);
	cr_assert_str_eq(say(""), "");
	cr_assert_not(smtp_closing(s));
	cr_assert_str_eq(later(SMTP_FILTER_CONTINUE, NULL), "250 2.1.0 Ok\r\n"
	    "421 4.3.2 Service shutting down, closing connection\r\n");
	cr_assert(smtp_closing(s));
	cr_assert_eq(ff.aborts, 1, "the transaction ended before END");
	finish();

	fstart(NULL, true);
	ff.later[SMTP_FILTER_DATA] = true;
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.test>\r\n"
	    "DATA\r\n");
	smtp_shutdown(s);
	cr_assert_str_eq(later(SMTP_FILTER_CONTINUE, NULL),
	    "354 End data with <CR><LF>.<CR><LF>\r\n");
	cr_assert_not(smtp_closing(s), "the message may come");
	ff.later[SMTP_FILTER_END] = true;
	cr_assert_str_eq(say("hi\r\n.\r\n"), "");
	cr_assert_str_eq(later(SMTP_FILTER_CONTINUE, NULL), "");
	cr_assert_str_eq(commit(0), "250 2.0.0 Ok: queued as TESTID0000000001\r\n"
	    "421 4.3.2 Service shutting down, closing connection\r\n");
	cr_assert_eq(ff.aborts, 0);
}

/* Refusals count toward max_errors also when the verdict comes later. */
Test(smtp_filter, late_refusals_count_toward_max_errors)
{
	fstart("max_errors = 2\n", true);
	ff.later[SMTP_FILTER_RCPT] = true;
	say("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<u@example.test>\r\n");
	cr_assert_str_eq(later(SMTP_FILTER_REFUSE, REJECT), REJECT "\r\n");
	say("RCPT TO:<v@example.test>\r\n");
	cr_assert_str_eq(later(SMTP_FILTER_REFUSE, REJECT), REJECT "\r\n"
	    "421 4.7.0 Too many errors, closing connection\r\n");
	cr_assert(smtp_closing(s));
	cr_assert_eq(ff.aborts, 1);
}

/* --- where the stages sit among the engine's own waits ------------------- */

/* MAIL's stage comes once the DNS lookup and the SPF wait passed; a
 * sender they refuse never reaches the filters. */
Test(smtp_filter, mail_stage_after_lookup_and_spf)
{
	struct smtp_check_result pass = { SMTP_CHECK_ACCEPT, NULL, NULL, 0,
	    "spf=pass" };
	struct smtp_check_result fail = { SMTP_CHECK_REFUSE,
	    "550 5.7.23 SPF check failed: no", NULL, 0, "spf=fail" };

	fstart(NULL, true);
	fk.lookup_pending = true;
	ff.check = SMTP_CHECK_WAIT;
	say("EHLO c\r\n");
	cr_assert_str_eq(say("MAIL FROM:<a@example.org> SIZE=10\r\n"), "");
	cr_assert_eq(fk.lookups, 1);
	smtp_lookup_done(s, DNS_FOUND);
	cr_assert_str_eq(say(""), "", "SPF next");
	cr_assert_eq(ff.asked[SMTP_FILTER_MAIL], 0);
	smtp_spf_done(s, &pass);
	cr_assert_eq(ff.asked[SMTP_FILTER_MAIL], 1);
	cr_assert_str_eq(ff.params, "SIZE=10", "kept across the waits");
	cr_assert_str_eq(say(""), "250 2.1.0 Ok\r\n");

	say("RSET\r\n");
	cr_assert_eq(ff.aborts, 1);
	say("MAIL FROM:<b@example.org>\r\n");
	smtp_lookup_done(s, DNS_FOUND);
	smtp_spf_done(s, &fail);
	cr_assert_str_eq(say(""), "550 5.7.23 SPF check failed: no\r\n");
	cr_assert_eq(ff.asked[SMTP_FILTER_MAIL], 1, "not asked again");
	cr_assert_eq(ff.aborts, 1, "the filters never saw it");
	cr_assert_eq(ff.cancels, 2);
}

/* END's stage comes once the checks' fields are on the message, before
 * the commit. */
Test(smtp_filter, end_stage_after_the_checks_fields)
{
	fstart(NULL, true);
	ff.check = SMTP_CHECK_RUNNING;
	up_to_data();
	cr_assert_gt(fk.room, 0);
	say("hi\r\n.\r\n");
	cr_assert_eq(ff.asked[SMTP_FILTER_END], 1);
	cr_assert_eq(ff.prepends_at_end, 1);
	cr_assert_eq(ff.commits_at_end, 0);
	cr_assert_str_eq(commit(0), "250 2.0.0 Ok: queued as TESTID0000000001\r\n");
}

/* --- who the client is, for the filters' macros --------------------------- */

Test(smtp_filter, auth_user_and_mechanism)
{
	fstart_as(NULL, true, true, true);
	fk.mechs = "PLAIN LOGIN";
	say("EHLO c\r\n");
	cr_assert_null(smtp_auth_user(s));
	cr_assert_null(smtp_auth_mech(s));
	say("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
	smtp_auth_done(s, SASL_STATUS_BADAUTH, NULL, 0, NULL);
	cr_assert_null(smtp_auth_user(s), "a failed exchange is no one");
	cr_assert_null(smtp_auth_mech(s));
	say("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
	smtp_auth_done(s, SASL_STATUS_OK, NULL, 0, "alice");
	cr_assert_str_eq(smtp_auth_user(s), "alice");
	cr_assert_str_eq(smtp_auth_mech(s), "PLAIN");
}
