/*
 * test_sasl_dovecot - the Dovecot backend of sasl.h against a scripted
 * auth server on a unix socket, on a real libev loop.
 *
 * The test plays Dovecot's side of the auth-client protocol byte for
 * byte: what sallyport sends is compared exactly, and each answer is
 * checked to reach the session it belongs to. The real Dovecot is in
 * tests/integration/test_auth_dovecot.py; here are the cases a real one
 * will not produce on demand (a broken line, a reply out of order, a
 * handshake that never ends).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "lib/log.h"
#include "sec/sasl.h"
#include "scratch.h"

#define HELLO	"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\t" \
		"plaintext\nSPID\t77\nCUID\t1\nCOOKIE\t00ff\nDONE\n"
#define AUTH_OF(id, mech)	"AUTH\t" id "\t" mech "\tservice=smtp\t" \
		"nologin\tsecured\tlip=192.0.2.1\trip=198.51.100.7" \
		"\tlport=587\trport=50123"

static char		 dir[64], path[96];
static char		 backend[] = "dovecot";
static struct config	 cfg;
static struct ev_loop	*loop;
static int		 lfd = -1;

static void
setup(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	scratch_make(dir, sizeof(dir), "sasl-dovecot");
	snprintf(path, sizeof(path), "%s/auth-client", dir);
	memset(&cfg, 0, sizeof(cfg));
	cfg.sasl_backend = backend;
	cfg.sasl_dovecot_path = path;
	cfg.auth_timeout = 30;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	cr_assert_neq(lfd = socket(AF_UNIX, SOCK_STREAM, 0), -1);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cr_assert_eq(listen(lfd, 8), 0);
	cr_assert_not_null(loop = ev_loop_new(EVFLAG_AUTO));
	log_set_quiet(1);
}

static void
teardown(void)
{
	ev_loop_destroy(loop);
	close(lfd);
	scratch_remove(dir);
}

TestSuite(sasl_dovecot, .init = setup, .fini = teardown, .timeout = 30);

/* --- the loop and the answers ------------------------------------------ */

struct answer {
	int		 calls;
	enum sasl_status status;
	char		 data[256];
	size_t		 len;
	char		 user[256];
};

static void
on_answer(void *arg, enum sasl_status st, const char *data, size_t len,
    const char *user)
{
	struct answer *a = arg;

	a->calls++;
	a->status = st;
	cr_assert_lt(len, sizeof(a->data));
	memcpy(a->data, data != NULL ? data : "", len);
	a->data[len] = '\0';
	a->len = len;
	snprintf(a->user, sizeof(a->user), "%s", user != NULL ? user : "");
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* wait_answer - run the loop until a has been answered (10 s at most) */
static void
wait_answer(struct answer *a)
{
	double until = now() + 10;

	while (a->calls == 0 && now() < until) {
		ev_run(loop, EVRUN_NOWAIT);
		usleep(2000);
	}
	cr_assert_eq(a->calls, 1, "answered %d times", a->calls);
}

/* --- the scripted Dovecot ----------------------------------------------- */

static int
accept_one(void)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	double until = now() + 10;
	int fd;

	while (poll(&p, 1, 0) == 0 && now() < until) {
		ev_run(loop, EVRUN_NOWAIT);
		usleep(2000);
	}
	cr_assert_neq(fd = accept(lfd, NULL, NULL), -1, "no connection");
	return fd;
}

/* expect - exactly want comes from sallyport next (the loop runs) */
static void
expect(int fd, const char *want)
{
	char got[4096];
	size_t n = 0, len = strlen(want);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	double until = now() + 10;
	ssize_t r;

	cr_assert_lt(len, sizeof(got));
	while (n < len && now() < until) {
		ev_run(loop, EVRUN_NOWAIT);
		if (poll(&p, 1, 2) <= 0)
			continue;
		if ((r = read(fd, got + n, len - n)) <= 0)
			break;
		n += (size_t)r;
	}
	got[n] = '\0';
	cr_assert_str_eq(got, want);
}

/* silent - nothing from sallyport while the loop runs a while */
static void
silent(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int i;

	for (i = 0; i < 50; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		cr_assert_eq(poll(&p, 1, 2), 0, "sallyport sent something");
	}
}

/* closed - sallyport has closed its end */
static void
closed(int fd)
{
	char c;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	double until = now() + 10;

	while (poll(&p, 1, 2) == 0 && now() < until)
		ev_run(loop, EVRUN_NOWAIT);
	cr_assert_eq(read(fd, &c, 1), 0, "the connection is still open");
}

static void
say(int fd, const char *text)
{
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

static char *
handshake(void)
{
	static char want[64];

	snprintf(want, sizeof(want), "VERSION\t1\t2\nCPID\t%ld\n",
	    (long)getpid());
	return want;
}

static struct sasl_server *
server(void)
{
	struct sasl_server *srv;
	char err[256];

	srv = sasl_server_create(loop, &cfg, err, sizeof(err));
	cr_assert_not_null(srv, "%s", err);
	return srv;
}

static struct sasl_session *
session(struct sasl_server *srv, unsigned ssf)
{
	struct sasl_session *s;

	s = sasl_session_new(srv, "mail.example.test", "192.0.2.1;587",
	    "198.51.100.7;50123", ssf);
	cr_assert_not_null(s);
	return s;
}

/* --- tests --------------------------------------------------------------- */

Test(sasl_dovecot, plain_and_login_byte_for_byte)
{
	struct sasl_server *srv = server();
	struct sasl_session *s = session(srv, 256);
	struct answer a = { 0 }, b = { 0 }, c = { 0 };
	int fd = accept_one();

	expect(fd, handshake());
	cr_assert_str_eq(sasl_session_mechanisms(s), "PLAIN LOGIN");
	/* Before Dovecot's DONE the AUTH waits in the session. */
	sasl_session_start(s, "PLAIN", "\0alice\0secret", 13, true,
	    on_answer, &a);
	silent(fd);
	say(fd, HELLO);
	expect(fd, AUTH_OF("1", "PLAIN") "\tresp=AGFsaWNlAHNlY3JldA==\n");
	cr_assert_eq(a.calls, 0);
	say(fd, "OK\t1\tuser=alice@example.org\n");
	wait_answer(&a);
	cr_assert_eq(a.status, SASL_STATUS_OK);
	cr_assert_str_eq(a.user, "alice@example.org");

	/* LOGIN: Dovecot's challenges come back decoded. */
	sasl_session_start(s, "login", NULL, 0, false, on_answer, &b);
	expect(fd, AUTH_OF("2", "LOGIN") "\n");
	say(fd, "CONT\t2\tVXNlcm5hbWU6\n");
	wait_answer(&b);
	cr_assert_eq(b.status, SASL_STATUS_CONTINUE);
	cr_assert_str_eq(b.data, "Username:");
	sasl_session_step(s, "bob", 3, on_answer, &c);
	expect(fd, "CONT\t2\tYm9i\n");
	say(fd, "FAIL\t2\tuser=bob\n");
	wait_answer(&c);
	cr_assert_eq(c.status, SASL_STATUS_BADAUTH);

	sasl_session_free(s);
	sasl_server_free(srv);
	closed(fd);
	close(fd);
}

Test(sasl_dovecot, answers_out_of_order_reach_their_sessions)
{
	struct sasl_server *srv = server();
	struct sasl_session *s1 = session(srv, 256), *s2 = session(srv, 256),
	    *s3 = session(srv, 256);
	struct answer a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
	int fd = accept_one();

	expect(fd, handshake());
	say(fd, HELLO);
	sasl_session_start(s1, "PLAIN", "x", 1, true, on_answer, &a1);
	sasl_session_start(s2, "PLAIN", "y", 1, true, on_answer, &a2);
	sasl_session_start(s3, "PLAIN", "z", 1, true, on_answer, &a3);
	expect(fd, AUTH_OF("1", "PLAIN") "\tresp=eA==\n"
	    AUTH_OF("2", "PLAIN") "\tresp=eQ==\n"
	    AUTH_OF("3", "PLAIN") "\tresp=eg==\n");
	/* An id nobody waits for, then the answers backwards. */
	say(fd, "OK\t99\tuser=mallory\nFAIL\t3\tcode=temp_fail\n"
	    "FAIL\t2\nOK\t1\tuser=carol\n");
	wait_answer(&a1);
	wait_answer(&a2);
	wait_answer(&a3);
	cr_assert_eq(a1.status, SASL_STATUS_OK);
	cr_assert_str_eq(a1.user, "carol");
	cr_assert_eq(a2.status, SASL_STATUS_BADAUTH);
	cr_assert_eq(a3.status, SASL_STATUS_TEMP);
	sasl_session_free(s1);
	sasl_session_free(s2);
	sasl_session_free(s3);
	sasl_server_free(srv);
	close(fd);
}

Test(sasl_dovecot, a_reset_exchange_is_cancelled_and_its_answer_dropped)
{
	struct sasl_server *srv = server();
	struct sasl_session *s = session(srv, 256);
	struct answer a = { 0 }, b = { 0 };
	int fd = accept_one();

	expect(fd, handshake());
	say(fd, HELLO);
	sasl_session_start(s, "LOGIN", NULL, 0, false, on_answer, &a);
	expect(fd, AUTH_OF("1", "LOGIN") "\n");
	say(fd, "CONT\t1\tVXNlcm5hbWU6\n");
	wait_answer(&a);
	sasl_session_reset(s);		/* the client sent "*" */
	expect(fd, "CANCEL\t1\n");
	sasl_session_step(s, "late", 4, on_answer, &b);
	wait_answer(&b);
	cr_assert_eq(b.status, SASL_STATUS_BADPROT, "no exchange to go on");
	say(fd, "OK\t1\tuser=alice\n");	/* too late: nobody is told */
	silent(fd);
	cr_assert_eq(a.calls, 1);
	sasl_session_free(s);
	sasl_server_free(srv);
	close(fd);
}

Test(sasl_dovecot, a_broken_line_drops_the_connection_and_the_next_auth_reconnects)
{
	struct sasl_server *srv = server();
	struct sasl_session *s = session(srv, 256);
	struct answer a = { 0 }, b = { 0 };
	int fd = accept_one(), fd2;

	expect(fd, handshake());
	say(fd, HELLO);
	sasl_session_start(s, "PLAIN", "x", 1, true, on_answer, &a);
	expect(fd, AUTH_OF("1", "PLAIN") "\tresp=eA==\n");
	say(fd, "OK\tone\tuser=alice\n");
	wait_answer(&a);
	cr_assert_eq(a.status, SASL_STATUS_TEMP);
	closed(fd);
	close(fd);

	sasl_session_start(s, "PLAIN", "x", 1, true, on_answer, &b);
	fd2 = accept_one();
	expect(fd2, handshake());
	say(fd2, HELLO);
	expect(fd2, AUTH_OF("2", "PLAIN") "\tresp=eA==\n");
	say(fd2, "OK\t2\tuser=alice\n");
	wait_answer(&b);
	cr_assert_eq(b.status, SASL_STATUS_OK);
	sasl_session_free(s);
	sasl_server_free(srv);
	close(fd2);
}

Test(sasl_dovecot, a_silent_dovecot_gets_temp_at_the_deadline_and_is_dropped)
{
	struct sasl_server *srv;
	struct sasl_session *s;
	struct answer a = { 0 };
	int fd;

	cfg.auth_timeout = 1;
	srv = server();
	s = session(srv, 256);
	fd = accept_one();
	expect(fd, handshake());
	/* The AUTH waits for the handshake, read after it: the handshake's
	 * lines are no sign of life for it. */
	say(fd, HELLO);
	sasl_session_start(s, "PLAIN", "x", 1, true, on_answer, &a);
	expect(fd, AUTH_OF("1", "PLAIN") "\tresp=eA==\n");
	wait_answer(&a);
	cr_assert_eq(a.status, SASL_STATUS_TEMP);
	closed(fd);			/* taken for hung: no CANCEL either */
	sasl_session_free(s);
	sasl_server_free(srv);
	close(fd);
}

Test(sasl_dovecot, one_slow_answer_gets_temp_and_a_cancel_and_the_rest_goes_on)
{
	struct sasl_server *srv;
	struct sasl_session *s1, *s2, *s3;
	struct answer a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
	int fd;

	cfg.auth_timeout = 5;		/* OK 2 comes well before */
	srv = server();
	s1 = session(srv, 256);
	s2 = session(srv, 256);
	s3 = session(srv, 256);
	fd = accept_one();
	expect(fd, handshake());
	say(fd, HELLO);
	silent(fd);
	sasl_session_start(s1, "PLAIN", "x", 1, true, on_answer, &a1);
	sasl_session_start(s2, "PLAIN", "y", 1, true, on_answer, &a2);
	expect(fd, AUTH_OF("1", "PLAIN") "\tresp=eA==\n"
	    AUTH_OF("2", "PLAIN") "\tresp=eQ==\n");
	say(fd, "OK\t2\tuser=bob\n");	/* Dovecot lives; 1 is slow */
	wait_answer(&a2);
	cr_assert_eq(a2.status, SASL_STATUS_OK);
	wait_answer(&a1);
	cr_assert_eq(a1.status, SASL_STATUS_TEMP);
	expect(fd, "CANCEL\t1\n");
	/* Same connection for the next one. */
	sasl_session_start(s3, "PLAIN", "z", 1, true, on_answer, &a3);
	expect(fd, AUTH_OF("3", "PLAIN") "\tresp=eg==\n");
	say(fd, "OK\t1\tuser=alice\nOK\t3\tuser=carol\n");
	wait_answer(&a3);
	cr_assert_str_eq(a3.user, "carol");
	cr_assert_eq(a1.calls, 1, "a late answer is dropped");
	sasl_session_free(s1);
	sasl_session_free(s2);
	sasl_session_free(s3);
	sasl_server_free(srv);
	close(fd);
}

Test(sasl_dovecot, a_handshake_that_never_ends_gets_temp_at_the_deadline)
{
	struct sasl_server *srv;
	struct sasl_session *s;
	struct answer a = { 0 };
	int fd;

	cfg.auth_timeout = 1;
	srv = server();
	s = session(srv, 256);
	fd = accept_one();
	expect(fd, handshake());
	say(fd, "VERSION\t1\t2\nMECH\tPLAIN\n");	/* and no DONE */
	sasl_session_start(s, "PLAIN", "x", 1, true, on_answer, &a);
	wait_answer(&a);
	cr_assert_eq(a.status, SASL_STATUS_TEMP);
	closed(fd);			/* the AUTH was never sent */
	sasl_session_free(s);
	sasl_server_free(srv);
	close(fd);
}

Test(sasl_dovecot, mechanisms_outside_tls_config_and_dovecots_list)
{
	char login[] = "LOGIN", *only[] = { login };
	struct sasl_server *srv;
	struct sasl_session *clear, *s;
	struct answer a = { 0 }, b = { 0 }, c = { 0 };
	int fd;

	cfg.sasl_mechanisms.v = only;
	cfg.sasl_mechanisms.n = 1;
	srv = server();
	clear = session(srv, 0);
	s = session(srv, 128);
	fd = accept_one();
	expect(fd, handshake());
	say(fd, "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nDONE\n");
	silent(fd);			/* the loop reads it */
	cr_assert_str_eq(sasl_session_mechanisms(clear), "");
	cr_assert_str_eq(sasl_session_mechanisms(s), "LOGIN");
	sasl_session_start(clear, "LOGIN", NULL, 0, false, on_answer, &a);
	wait_answer(&a);
	cr_assert_eq(a.status, SASL_STATUS_BADMECH, "never outside TLS");
	sasl_session_start(s, "PLAIN", "x", 1, true, on_answer, &b);
	wait_answer(&b);
	cr_assert_eq(b.status, SASL_STATUS_BADMECH, "not in sasl_mechanisms");
	sasl_session_start(s, "LOGIN", NULL, 0, false, on_answer, &c);
	wait_answer(&c);
	cr_assert_eq(c.status, SASL_STATUS_BADMECH, "Dovecot lacks it");
	silent(fd);
	sasl_session_free(clear);
	sasl_session_free(s);
	sasl_server_free(srv);
	close(fd);
}

Test(sasl_dovecot, no_socket_warns_and_answers_temp)
{
	struct sasl_server *srv;
	struct sasl_session *s;
	struct answer a = { 0 };
	char err[512];

	snprintf(path, sizeof(path), "%s/no-such-socket", dir);
	cr_assert_eq(sasl_config_check(&cfg, err, sizeof(err)), 1);
	cr_assert(strstr(err, "no-such-socket: No such file or directory") !=
	    NULL, "%s", err);
	srv = server();			/* Dovecot may come later */
	s = session(srv, 256);
	sasl_session_start(s, "PLAIN", "x", 1, true, on_answer, &a);
	wait_answer(&a);
	cr_assert_eq(a.status, SASL_STATUS_TEMP);
	sasl_session_free(s);
	sasl_server_free(srv);
}

/* --- passwords given back to the allocator ------------------------------- */

/* The test binary is linked with --wrap=free,--wrap=realloc: every block
 * handed back (freed, or left behind by a realloc) is searched for the
 * armed needle, the base64 of a password as it goes to Dovecot. */
void	*__real_realloc(void *, size_t);
void	 __real_free(void *);
void	*__wrap_realloc(void *, size_t);
void	 __wrap_free(void *);

static const char	*needle;
static int		 leaks;

static void
search(void *p)
{
	if (needle != NULL && p != NULL && memmem(p, malloc_usable_size(p),
	    needle, strlen(needle)) != NULL)
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

Test(sasl_dovecot, passwords_are_wiped_before_their_memory_is_given_back)
{
	struct sasl_server *srv = server();
	struct sasl_session *s[3];
	struct answer a[3] = { { 0 } }, c = { 0 };
	char resp[9 + 600];
	int fd = accept_one(), i;

	/* "\0alice12\0" then a password of 600 'K's: 9 bytes, so that the
	 * password's base64 ("S0tL"...) is a substring of the line's */
	memcpy(resp, "\0alice12\0", 9);
	memset(resp + 9, 'K', 600);
	expect(fd, handshake());
	needle = "S0tLS0tLS0tLS0tLS0tLS0tL";
	leaks = 0;
	/* Held in their sessions until DONE, then queued together. */
	for (i = 0; i < 3; i++) {
		s[i] = session(srv, 256);
		sasl_session_start(s[i], "PLAIN", resp, sizeof(resp), true,
		    on_answer, &a[i]);
	}
	say(fd, HELLO);
	for (i = 0; i < 3; i++) {
		char ok[64];

		snprintf(ok, sizeof(ok), "OK\t%d\tuser=alice12\n", i + 1);
		say(fd, ok);
		wait_answer(&a[i]);
		cr_assert_eq(a[i].status, SASL_STATUS_OK);
	}
	/* LOGIN's password in a CONT */
	sasl_session_start(s[0], "LOGIN", NULL, 0, false, on_answer, &c);
	say(fd, "CONT\t4\tUGFzc3dvcmQ6\n");
	wait_answer(&c);
	memset(&c, 0, sizeof(c));
	sasl_session_step(s[0], resp + 9, 600, on_answer, &c);
	say(fd, "OK\t4\tuser=alice12\n");
	wait_answer(&c);
	for (i = 0; i < 3; i++)
		sasl_session_free(s[i]);
	sasl_server_free(srv);
	needle = NULL;
	cr_assert_eq(leaks, 0, "%d block(s) given back holding a password",
	    leaks);
	close(fd);
}
