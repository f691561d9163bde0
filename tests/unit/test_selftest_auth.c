/*
 * test_selftest_auth - the submission listeners' checks of the
 * self-test (selftest_auth.c): verdicts over made-up transcripts, the
 * password file, the AUTH PLAIN line, and that no freed block holds
 * the password or its base64.
 */
#include <criterion/criterion.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "selftest/selftest.h"
#include "tests/unit/scratch.h"

/* --- freed memory, searched ------------------------------------------- */

void	*__real_realloc(void *, size_t);
void	 __real_free(void *);
void	*__wrap_realloc(void *, size_t);
void	 __wrap_free(void *);

static const char	*needles[2];
static int		 leaks;

static void
search(void *p)
{
	for (size_t i = 0; i < 2; i++)
		if (needles[i] != NULL && p != NULL && memmem(p,
		    malloc_usable_size(p), needles[i], strlen(needles[i])))
			leaks++;
}

void *
__wrap_realloc(void *p, size_t n)
{
	search(p);
	return __real_realloc(p, n);
}

void
__wrap_free(void *p)
{
	search(p);
	__real_free(p);
}

/* --- transcripts -------------------------------------------------------- */

static struct st_check c;

static void
add(enum st_kind kind, const char *sent, int code)
{
	struct st_exchange *x = st_transcript_add(&c.t, kind, sent);

	cr_assert_not_null(x);
	x->code = code;
	if (code)
		x->reply = strdup(code == 235 ? "235 2.7.0 Authentication "
		    "successful" : code == 535 ? "535 5.7.8 Authentication "
		    "credentials invalid" : "reply");
	else
		x->error = "connection closed by the server";
}

/* session - greeting, EHLO, STARTTLS (when starttls) and EHLO again,
 * then AUTH (auth: its code; 0 none) */
static void
session(bool starttls, int auth)
{
	st_transcript_free(&c.t);
	memset(&c, 0, sizeof(c));
	add(ST_GREETING, NULL, 220);
	add(ST_EHLO, "EHLO tester", 250);
	if (starttls) {
		add(ST_STARTTLS, "STARTTLS", 220);
		add(ST_EHLO, "EHLO tester", 250);
	}
	if (auth)
		add(ST_AUTH, "AUTH PLAIN ********", auth);
}

static void
done(void)
{
	st_transcript_free(&c.t);
}

Test(verdicts, no_relaying_before_auth, .fini = done)
{
	session(true, 0);
	add(ST_MAIL, "MAIL FROM:<alice@example.test>", 530);
	add(ST_RCPT, "RCPT TO:<probe@external.example>", 503);
	st_judge_before_auth(&c);
	cr_expect_eq(c.verdict, ST_PASS, "%s", c.note);
	cr_expect(strncmp(c.note, "MAIL refused: ", 14) == 0, "%s", c.note);

	session(true, 0);
	add(ST_MAIL, "MAIL FROM:<alice@example.test>", 250);
	add(ST_RCPT, "RCPT TO:<probe@external.example>", 550);
	st_judge_before_auth(&c);
	cr_expect_eq(c.verdict, ST_PASS, "%s", c.note);

	session(false, 0);
	add(ST_MAIL, "MAIL FROM:<alice@example.test>", 250);
	add(ST_RCPT, "RCPT TO:<probe@external.example>", 250);
	st_judge_before_auth(&c);
	cr_expect_eq(c.verdict, ST_FAIL);
	cr_expect(strncmp(c.note, "relayed without AUTH", 20) == 0);

	session(true, 0);
	add(ST_MAIL, "MAIL FROM:<alice@example.test>", 250);
	add(ST_RCPT, "RCPT TO:<probe@external.example>", 450);
	st_judge_before_auth(&c);
	cr_expect_eq(c.verdict, ST_WEAK);

	/* STARTTLS refused: nothing inside TLS was tested. */
	st_transcript_free(&c.t);
	memset(&c, 0, sizeof(c));
	add(ST_GREETING, NULL, 220);
	add(ST_EHLO, "EHLO tester", 250);
	add(ST_STARTTLS, "STARTTLS", 454);
	st_judge_before_auth(&c);
	cr_expect_eq(c.verdict, ST_ERROR);
	cr_expect(strncmp(c.note, "STARTTLS refused", 16) == 0, "%s", c.note);
}

Test(verdicts, relaying_after_auth, .fini = done)
{
	session(true, 235);
	add(ST_MAIL, "MAIL FROM:<alice@example.test>", 250);
	add(ST_RCPT, "RCPT TO:<probe@external.example>", 250);
	st_judge_auth_relay(&c);
	cr_expect_eq(c.verdict, ST_PASS, "%s", c.note);

	/* A wrong password is an ERROR that says so: the self-test could
	 * not log in, which says nothing of the server. */
	session(true, 535);
	add(ST_MAIL, "MAIL FROM:<alice@example.test>", 530);
	add(ST_RCPT, "RCPT TO:<probe@external.example>", 503);
	st_judge_auth_relay(&c);
	cr_expect_eq(c.verdict, ST_ERROR);
	cr_expect_str_eq(c.note, "authentication failed (check --auth-user "
	    "and the password file): 535 5.7.8 Authentication credentials "
	    "invalid");

	session(true, 235);
	add(ST_MAIL, "MAIL FROM:<alice@example.test>", 250);
	add(ST_RCPT, "RCPT TO:<probe@external.example>", 554);
	st_judge_auth_relay(&c);
	cr_expect_eq(c.verdict, ST_FAIL);
	cr_expect(strncmp(c.note, "a logged-in user cannot relay", 29) == 0);

	/* The sender taken for the login's own was not: not the server's
	 * fault, nor a pass. */
	session(true, 235);
	add(ST_MAIL, "MAIL FROM:<alice@example.test>", 553);
	add(ST_RCPT, "RCPT TO:<probe@external.example>", 503);
	st_judge_auth_relay(&c);
	cr_expect_eq(c.verdict, ST_ERROR);

	/* Implicit TLS: no STARTTLS at all. */
	session(false, 235);
	add(ST_MAIL, "MAIL FROM:<>", 250);
	add(ST_RCPT, "RCPT TO:<probe@external.example>", 250);
	st_judge_auth_relay(&c);
	cr_expect_eq(c.verdict, ST_PASS);
}

Test(verdicts, sender_login_check, .fini = done)
{
	session(true, 235);
	add(ST_MAIL, "MAIL FROM:<ksch@example.test>", 553);
	st_judge_sender_login(&c, 1);
	cr_expect_eq(c.verdict, ST_PASS);

	session(true, 235);
	add(ST_MAIL, "MAIL FROM:<ksch@example.test>", 250);
	st_judge_sender_login(&c, 1);
	cr_expect_eq(c.verdict, ST_FAIL);

	/* Off by configuration: weak, and the note says it is the
	 * configuration. */
	session(true, 235);
	add(ST_MAIL, "MAIL FROM:<ksch@example.test>", 250);
	st_judge_sender_login(&c, 0);
	cr_expect_eq(c.verdict, ST_WEAK);
	cr_expect(strstr(c.note, "sender_login_check is off") != NULL, "%s",
	    c.note);
	cr_expect(strstr(c.note, "(by configuration)") != NULL);

	session(true, 235);
	add(ST_MAIL, "MAIL FROM:<ksch@example.test>", 250);
	st_judge_sender_login(&c, -1);
	cr_expect_eq(c.verdict, ST_WEAK);
	cr_expect(strstr(c.note, "a remote audit cannot tell") != NULL);

	/* Not logged in: the relay check has said so already. */
	session(true, 535);
	add(ST_MAIL, "MAIL FROM:<ksch@example.test>", 530);
	st_judge_sender_login(&c, 1);
	cr_expect_eq(c.verdict, ST_NA);
}

/* --- credentials -------------------------------------------------------- */

Test(creds, auth_plain_line)
{
	struct buf line;

	buf_init_secret(&line, ST_LINE_MAX);
	cr_assert_eq(st_creds_line(&line, "alice@example.test", "wonderland",
	    10), 0);
	cr_expect_str_eq(line.data, "AUTH PLAIN "
	    "AGFsaWNlQGV4YW1wbGUudGVzdAB3b25kZXJsYW5k");
	cr_expect_eq(line.len, strlen(line.data));
	/* Too long for one command line: refused, nothing kept. */
	{
		char big[400];

		memset(big, 'x', sizeof(big));
		cr_expect_eq(st_creds_line(&line, "u", big, sizeof(big)), -1);
		cr_expect_eq(line.len, 0);
	}
	buf_free(&line);
}

/* password - st_read_password on a file holding text, made with mode */
static int
password(const char *text, mode_t mode, struct buf *pass, char *warn,
    char *err)
{
	char path[256];
	int rc;

	scratch_file(path, sizeof(path), "pass", text);
	cr_assert_eq(chmod(path, mode), 0);
	rc = st_read_password(path, pass, warn, 256, err, 256);
	cr_assert_eq(unlink(path), 0);
	return rc;
}

Test(creds, password_file)
{
	char warn[256], err[256];
	struct buf pass;

	buf_init_secret(&pass, 512);
	cr_assert_eq(password("wonderland\n", 0600, &pass, warn, err), 0,
	    "%s", err);
	cr_expect_eq(pass.len, 10);
	cr_expect(memcmp(pass.data, "wonderland", 10) == 0);
	cr_expect_str_eq(warn, "");
	/* The first line only; CRLF too; no newline at all. */
	cr_assert_eq(password("pa ss\r\nsecond line\n", 0400, &pass, warn,
	    err), 0);
	cr_expect_eq(pass.len, 5);
	cr_expect(memcmp(pass.data, "pa ss", 5) == 0);
	cr_assert_eq(password("last", 0600, &pass, warn, err), 0);
	cr_expect_eq(pass.len, 4);
	/* Readable by the group: a warning. By others: refused. */
	cr_assert_eq(password("wonderland\n", 0640, &pass, warn, err), 0);
	cr_expect(strstr(warn, "its group may read it (mode 640)") != NULL,
	    "%s", warn);
	cr_expect_eq(password("wonderland\n", 0644, &pass, warn, err), -1);
	cr_expect(strstr(err, "others may read or write it (mode 644)") !=
	    NULL, "%s", err);
	cr_expect_eq(password("\nwonderland\n", 0600, &pass, warn, err), -1);
	cr_expect(strstr(err, "the first line is empty") != NULL, "%s", err);
	cr_expect_eq(st_read_password("/nonexistent/pass", &pass, warn, 256,
	    err, 256), -1);
	buf_free(&pass);
}

/* --- in process, without a SASL backend ------------------------------- */

static const char conf_text[] =
    "hostname = mail.example.org\n"
    "local_domains = example.org\n"
    "listen = 192.0.2.25:25 mx\n"
    "listen = 192.0.2.25:587 submission\n"
    "listen = 192.0.2.25:465 submissions\n"
    "tls_cert = /nonexistent/cert.pem\n"
    "tls_key = /nonexistent/key.pem\n";

static enum dns_result
fake_dns(void *arg, const char *domain)
{
	(void)arg;
	(void)domain;
	return DNS_FOUND;
}

Test(local, no_backend_means_no_login_and_no_leak)
{
	struct st_local_opts o = { .resolve = fake_dns };
	struct st_creds creds;
	struct selftest st;
	struct config *cfg;
	struct buf line, pass;
	char err[256], warn[256], *errors = NULL, path[256];

	log_set_quiet(1);
	cfg = config_parse(conf_text, "auth.conf", &errors);
	cr_assert_not_null(cfg, "%s", errors ? errors : "?");
	/* A password whose base64 is long and plain to find. */
	needles[0] = "KKKKKKKKKKKKKKKKKKKKKKKKKKKK";
	needles[1] = "S0tLS0tLS0tLS0tLS0tLS0tL";
	leaks = 0;
	buf_init_secret(&pass, 512);
	buf_init_secret(&line, ST_LINE_MAX);
	scratch_file(path, sizeof(path), "pass", "KKKKKKKKKKKKKKKKKKKKKKKKKKKK"
	    "KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK\n");
	cr_assert_eq(chmod(path, 0600), 0);
	cr_assert_eq(st_read_password(path, &pass, warn, sizeof(warn), err,
	    sizeof(err)), 0, "%s", err);
	unlink(path);
	cr_assert_eq(st_creds_line(&line, "u", pass.data, pass.len), 0);
	buf_free(&pass);
	creds.user = "alice@example.org";
	creds.line = &line;
	o.creds = &creds;
	cr_assert_eq(selftest_local(cfg, &o, &st, err, sizeof(err)), 0, "%s",
	    err);
	/* Without a backend the engine's AUTH gets 454: an ERROR that
	 * says so, and the exit status 2. */
	for (size_t i = 0; i < st.nchecks; i++) {
		const struct st_check *k = &st.checks[i];

		if (strstr(k->name, "relays after AUTH")) {
			cr_expect_eq(k->verdict, ST_ERROR, "%s", k->note);
			cr_expect(strstr(k->note, "authentication failed") !=
			    NULL, "%s", k->note);
		}
		/* The transcript never holds the password. */
		for (size_t j = 0; j < k->t.n; j++)
			if (k->t.v[j].kind == ST_AUTH && k->t.v[j].tls)
				cr_expect_str_eq(k->t.v[j].sent,
				    "AUTH PLAIN ********");
	}
	cr_expect_eq(st_exit_code(&st), 2);
	selftest_free(&st);
	buf_free(&line);
	config_free(cfg);
	cr_expect_eq(leaks, 0, "%d freed blocks held the password", leaks);
	needles[0] = needles[1] = NULL;
}

Test(local, no_submission_listener_says_so)
{
	struct st_local_opts o = { .resolve = fake_dns };
	struct st_creds creds;
	struct selftest st;
	struct config *cfg;
	struct buf line;
	char err[256], *errors = NULL;
	bool said = false;

	log_set_quiet(1);
	cfg = config_parse("hostname = mail.example.org\nlocal_domains = "
	    "example.org\nlisten = 192.0.2.25:25 mx\n", "mx.conf", &errors);
	cr_assert_not_null(cfg, "%s", errors ? errors : "?");
	buf_init_secret(&line, ST_LINE_MAX);
	cr_assert_eq(st_creds_line(&line, "u", "p", 1), 0);
	creds.user = "u";
	creds.line = &line;
	o.creds = &creds;
	cr_assert_eq(selftest_local(cfg, &o, &st, err, sizeof(err)), 0, "%s",
	    err);
	for (size_t i = 0; i < st.nchecks; i++)
		if (strstr(st.checks[i].note, "--auth-user has nothing to "
		    "test")) {
			cr_expect_eq(st.checks[i].verdict, ST_NA);
			said = true;
		}
	cr_expect(said);
	cr_expect_eq(st_exit_code(&st), 0);
	selftest_free(&st);
	buf_free(&line);
	config_free(cfg);
}

/* --- where the password goes ----------------------------------------------- */

/* A server whose EHLO says `ehlo`; it notes whether an AUTH arrived. */
struct fake_server {
	const char	*ehlo;
	bool		 auth_seen;
};

static int
fake_open(void *ctx, struct st_exchange *g)
{
	(void)ctx;
	g->code = 220;
	g->reply = strdup("220 fake");
	return 0;
}

static int
fake_command(void *ctx, struct st_exchange *x)
{
	struct fake_server *f = ctx;

	if (x->kind == ST_AUTH)
		f->auth_seen = true;
	x->code = x->kind == ST_EHLO ? 250 : x->kind == ST_AUTH ? 235 :
	    x->kind == ST_QUIT ? 221 : 250;
	x->reply = strdup(x->kind == ST_EHLO ? f->ehlo : "250 ok");
	return 0;
}

static void
fake_close(void *ctx)
{
	(void)ctx;
}

Test(creds, password_only_where_auth_plain_is_offered)
{
	static const struct {
		const char	*ehlo;
		bool		 sent;
	} cases[] = {
		{ "250-fake\n250 SIZE 1000", false },
		{ "250-fake\n250 AUTH LOGIN", false },
		{ "250-fake\n250 AUTH LOGIN PLAINX", false },
		{ "250-fake\n250 AUTH", false },
		{ "250-fake\n250-AUTHX PLAIN\n250 SIZE 1", false },
		{ "250-fake\n250 AUTH LOGIN PLAIN", true },
		{ "250-fake\n250 AUTH plain", true },
		{ "250-fake\n250-AUTH=LOGIN\n250 AUTH LOGIN PLAIN", true },
		{ "250-fake\n250 AUTH=PLAIN", true },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake_server f = { cases[i].ehlo, false };
		struct st_transport tr = { fake_open, fake_command, fake_close,
		    &f };
		struct st_line l[1] = { { ST_AUTH, "AUTH PLAIN c2VjcmV0",
		    "AUTH PLAIN ********" } };
		struct st_transcript t = { 0 };
		const struct st_exchange *a = NULL;

		cr_assert_eq(st_session_lines(&tr, "tester", l, 1, &t), 0);
		for (size_t k = 0; k < t.n; k++)
			if (t.v[k].kind == ST_AUTH)
				a = &t.v[k];
		cr_assert_not_null(a);
		cr_expect_eq(f.auth_seen, cases[i].sent, "%s", cases[i].ehlo);
		cr_expect_str_eq(a->sent, "AUTH PLAIN ********");
		if (!cases[i].sent)
			cr_expect_str_eq(a->error, "not sent: EHLO did not "
			    "offer AUTH PLAIN", "%s", cases[i].ehlo);
		st_transcript_free(&t);
	}
}
