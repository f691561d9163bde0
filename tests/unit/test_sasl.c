/*
 * test_sasl - SMTP AUTH through Cyrus SASL, on a real libev loop.
 *
 * Accounts are in a sasldb made here with saslpasswd2: alice in realm
 * example.test, bob in the realm of our hostname. saslauthd is a fake
 * served by a thread of the test on a socket of its own.
 *
 * The Cyrus functions sasl.c calls are wrapped below: the executable's
 * definitions win, and the real ones are found with dlsym(RTLD_NEXT).
 * The wrappers check that, once the server exists, no Cyrus call runs
 * on the loop's thread and one worker thread makes them all; they can
 * also slow sasl_server_start down or make it return a given code.
 */
#include <criterion/criterion.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sasl/sasl.h>

#include "lib/log.h"
#include "sec/sasl.h"

#ifndef SASLPASSWD2
#define SASLPASSWD2	"/usr/sbin/saslpasswd2"
#endif

#define HOSTNAME	"mail.example.test"
#define ALICE		"alice@example.test"
#define PLAIN_ALICE	"\0" ALICE "\0secret"
#define TLS		256		/* ssf after STARTTLS */

static struct ev_loop	*loop;
static char		 dir[256], db[300];
static struct config	 cfg;
static char		 hostname[] = HOSTNAME;
static char		 auxprop[] = "auxprop", saslauthd[] = "saslauthd";

/* --- wrapped Cyrus calls ----------------------------------------------- */

static pthread_t	 loop_thread;
static atomic_bool	 armed;		/* the server exists: calls are checked */
static atomic_int	 on_loop;	/* Cyrus calls made on the loop thread */
static pthread_mutex_t	 seen_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t	 seen[4];	/* other threads that called Cyrus */
static int		 nseen;
static atomic_int	 start_delay_ms;
static atomic_int	 starts;	/* sasl_server_start calls */
static atomic_bool	 start_forced;
static atomic_int	 start_rc;

static void
note_call(void)
{
	int i;

	if (!armed)
		return;
	if (pthread_equal(pthread_self(), loop_thread)) {
		on_loop++;
		return;
	}
	pthread_mutex_lock(&seen_lock);
	for (i = 0; i < nseen; i++)
		if (pthread_equal(seen[i], pthread_self()))
			break;
	if (i == nseen && nseen < 4)
		seen[nseen++] = pthread_self();
	pthread_mutex_unlock(&seen_lock);
}

#define REAL(fn)	((__typeof__(fn) *)dlsym(RTLD_NEXT, #fn))

int
sasl_server_new(const char *service, const char *fqdn, const char *realm,
    const char *local, const char *remote, const sasl_callback_t *cbs,
    unsigned flags, sasl_conn_t **conn)
{
	note_call();
	return REAL(sasl_server_new)(service, fqdn, realm, local, remote, cbs,
	    flags, conn);
}

int
sasl_server_start(sasl_conn_t *conn, const char *mech, const char *in,
    unsigned inlen, const char **out, unsigned *outlen)
{
	note_call();
	starts++;
	if (start_delay_ms > 0)
		usleep((useconds_t)start_delay_ms * 1000);
	if (start_forced) {
		*out = NULL;
		*outlen = 0;
		return start_rc;
	}
	return REAL(sasl_server_start)(conn, mech, in, inlen, out, outlen);
}

int
sasl_server_step(sasl_conn_t *conn, const char *in, unsigned inlen,
    const char **out, unsigned *outlen)
{
	note_call();
	return REAL(sasl_server_step)(conn, in, inlen, out, outlen);
}

int
sasl_getprop(sasl_conn_t *conn, int prop, const void **value)
{
	note_call();
	return REAL(sasl_getprop)(conn, prop, value);
}

int
sasl_setprop(sasl_conn_t *conn, int prop, const void *value)
{
	note_call();
	return REAL(sasl_setprop)(conn, prop, value);
}

void
sasl_dispose(sasl_conn_t **conn)
{
	note_call();
	REAL(sasl_dispose)(conn);
}

int
sasl_listmech(sasl_conn_t *conn, const char *user, const char *prefix,
    const char *sep, const char *suffix, const char **result, unsigned *plen,
    int *pcount)
{
	note_call();
	return REAL(sasl_listmech)(conn, user, prefix, sep, suffix, result,
	    plen, pcount);
}

/* threads_ok - nothing on the loop, everything on one worker */
static void
threads_ok(void)
{
	cr_assert_eq(on_loop, 0, "%d Cyrus calls on the loop thread",
	    (int)on_loop);
	cr_assert_eq(nseen, 1, "Cyrus called from %d threads", nseen);
}

/* --- set-up ------------------------------------------------------------ */

/* adduser - an account in the sasldb at path */
static void
adduser(const char *path, const char *realm, const char *user,
    const char *password)
{
	char cmd[600];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s -p -c -f '%s' -u '%s' '%s'",
	    SASLPASSWD2, path, realm, user);
	cr_assert_not_null(p = popen(cmd, "w"));
	fputs(password, p);
	cr_assert_eq(pclose(p), 0, "%s failed", cmd);
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/sallyport-test-sasl.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/sasldb2", dir);
	adduser(db, "example.test", "alice", "secret");
	adduser(db, HOSTNAME, "bob", "hostpw");
	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = hostname;
	cfg.sasl_pwcheck_method = auxprop;
	cfg.sasl_sasldb_path = db;
	cfg.sasl_saslauthd_path = dir;
	cfg.max_auth_failures = 3;
	cfg.auth_timeout = 30;
	cfg.auth_threads = 4;
	loop = ev_loop_new(EVFLAG_AUTO);
	cr_assert_not_null(loop);
	loop_thread = pthread_self();
	log_set_quiet(1);
}

static void
teardown(void)
{
	char cmd[300];

	ev_loop_destroy(loop);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(sasl, .init = setup, .fini = teardown, .timeout = 30);

static struct sasl_server *
server(void)
{
	struct sasl_server *srv;
	char err[512];

	srv = sasl_server_create(loop, &cfg, err, sizeof(err));
	cr_assert_not_null(srv, "sasl_server_create: %s", err);
	armed = true;
	return srv;
}

static struct sasl_session *
session(struct sasl_server *srv, unsigned ssf)
{
	struct sasl_session *s;

	s = sasl_session_new(srv, HOSTNAME, "127.0.0.1;25", "127.0.0.1;40000",
	    ssf);
	cr_assert_not_null(s);
	return s;
}

/* --- answers and the loop ---------------------------------------------- */

struct answer {
	int		 calls;
	enum sasl_status status;
	char		 challenge[512];
	size_t		 len;
	char		 user[256];
	bool		 has_user;
	bool		 on_loop;	/* the callback ran on the loop thread */
};

static void
on_answer(void *arg, enum sasl_status st, const char *challenge, size_t len,
    const char *user)
{
	struct answer *a = arg;

	a->calls++;
	a->status = st;
	a->on_loop = pthread_equal(pthread_self(), loop_thread);
	cr_assert_lt(len, sizeof(a->challenge));
	if (len > 0)
		memcpy(a->challenge, challenge, len);
	a->challenge[len] = '\0';
	a->len = len;
	a->has_user = user != NULL;
	snprintf(a->user, sizeof(a->user), "%s", user ? user : "");
	ev_break(loop, EVBREAK_ALL);
}

static void
stop_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(l, EVBREAK_ALL);
}

/* run - the loop, until a (if any) has an answer or secs have passed */
static void
run(const struct answer *a, double secs)
{
	ev_timer t;

	if (a != NULL && a->calls > 0)
		return;
	ev_timer_init(&t, stop_cb, secs, 0.);
	ev_timer_start(loop, &t);
	ev_run(loop, 0);
	ev_timer_stop(loop, &t);
}

static const char *
status_name(enum sasl_status st)
{
	static const char *const names[] = { "OK", "CONTINUE", "BADAUTH",
	    "BADMECH", "BADPROT", "TEMP" };

	return (unsigned)st < 6 ? names[st] : "?";
}

/* expect - wait for the one answer to a and check its status */
static void
expect(struct answer *a, enum sasl_status want, const char *what)
{
	run(a, 10);
	cr_assert_eq(a->calls, 1, "%s: %d answers", what, a->calls);
	cr_assert(a->on_loop, "%s: answered off the loop thread", what);
	cr_assert_eq(a->status, want, "%s: %s, wanted %s", what,
	    status_name(a->status), status_name(want));
}

static struct answer
start(struct sasl_session *s, const char *mech, const char *in, size_t len,
    bool has_in, enum sasl_status want)
{
	struct answer a;

	memset(&a, 0, sizeof(a));
	sasl_session_start(s, mech, in, len, has_in, on_answer, &a);
	cr_assert_eq(a.calls, 0, "%s: answered before the loop ran", mech);
	expect(&a, want, mech);
	return a;
}

static struct answer
step(struct sasl_session *s, const char *in, size_t len,
    enum sasl_status want)
{
	struct answer a;

	memset(&a, 0, sizeof(a));
	sasl_session_step(s, in, len, on_answer, &a);
	cr_assert_eq(a.calls, 0, "step answered before the loop ran");
	expect(&a, want, "step");
	return a;
}

/* plain - PLAIN with the initial response "\0user\0password" */
static struct answer
plain(struct sasl_session *s, const char *user, const char *password,
    enum sasl_status want)
{
	char in[512];
	int n;

	n = snprintf(in, sizeof(in), "%c%s%c%s", 0, user, 0, password);
	cr_assert(n > 0 && (size_t)n < sizeof(in));
	return start(s, "PLAIN", in, (size_t)n, true, want);
}

/* --- PLAIN, LOGIN, CRAM-MD5 against the sasldb -------------------------- */

Test(sasl, plain_user_at_realm)
{
	struct sasl_server *srv = server();
	struct sasl_session *s = session(srv, TLS);
	struct answer a;

	a = start(s, "PLAIN", PLAIN_ALICE, sizeof(PLAIN_ALICE) - 1, true,
	    SASL_STATUS_OK);
	cr_assert(a.has_user);
	cr_assert_str_eq(a.user, ALICE);
	sasl_session_free(s);
	sasl_server_free(srv);
	threads_ok();
}

/* A name without "@" is in the realm of the hostname the session gave. */
Test(sasl, plain_bare_name_is_in_the_hostname_realm)
{
	struct sasl_server *srv = server();
	struct sasl_session *s = session(srv, TLS);
	struct answer a;

	plain(s, "alice", "secret", SASL_STATUS_BADAUTH);
	sasl_session_reset(s);
	a = plain(s, "bob", "hostpw", SASL_STATUS_OK);
	cr_assert_str_eq(a.user, "bob");
	a = plain(s, "bob@" HOSTNAME, "hostpw", SASL_STATUS_OK);
	cr_assert_str_eq(a.user, "bob@" HOSTNAME);
	/* Names and realms are case-sensitive. */
	plain(s, "Alice@example.test", "secret", SASL_STATUS_BADAUTH);
	plain(s, "alice@EXAMPLE.test", "secret", SASL_STATUS_BADAUTH);
	sasl_session_free(s);
	sasl_server_free(srv);
	threads_ok();
}

Test(sasl, plain_failures_say_nothing_of_the_user)
{
	struct sasl_server *srv = server();
	struct sasl_session *s = session(srv, TLS);
	struct answer a;
	static const char other_authzid[] = "bob\0" ALICE "\0secret";

	a = plain(s, ALICE, "wrong", SASL_STATUS_BADAUTH);
	cr_assert_not(a.has_user);
	sasl_session_reset(s);
	plain(s, "nobody@example.test", "secret", SASL_STATUS_BADAUTH);
	sasl_session_reset(s);
	start(s, "PLAIN", other_authzid, sizeof(other_authzid) - 1, true,
	    SASL_STATUS_BADAUTH);
	sasl_session_reset(s);
	start(s, "PLAIN", "garbage", 7, true, SASL_STATUS_BADPROT);
	sasl_session_reset(s);
	/* The same session still works after all that. */
	plain(s, ALICE, "secret", SASL_STATUS_OK);
	sasl_session_free(s);
	sasl_server_free(srv);
	threads_ok();
}

Test(sasl, plain_without_initial_response)
{
	struct sasl_server *srv = server();
	struct sasl_session *s = session(srv, TLS);
	struct answer a;

	a = start(s, "PLAIN", NULL, 0, false, SASL_STATUS_CONTINUE);
	cr_assert_eq(a.len, 0);
	a = step(s, PLAIN_ALICE, sizeof(PLAIN_ALICE) - 1, SASL_STATUS_OK);
	cr_assert_str_eq(a.user, ALICE);
	/* "AUTH PLAIN =": an empty initial response is a bad one. */
	a = start(s, "PLAIN", "", 0, true, SASL_STATUS_BADPROT);
	sasl_session_free(s);
	sasl_server_free(srv);
	threads_ok();
}

Test(sasl, login_is_two_steps)
{
	struct sasl_server *srv = server();
	struct sasl_session *s = session(srv, TLS);
	struct answer a;

	a = start(s, "LOGIN", NULL, 0, false, SASL_STATUS_CONTINUE);
	cr_assert_str_eq(a.challenge, "Username:");
	a = step(s, ALICE, strlen(ALICE), SASL_STATUS_CONTINUE);
	cr_assert_str_eq(a.challenge, "Password:");
	a = step(s, "secret", 6, SASL_STATUS_OK);
	cr_assert_str_eq(a.user, ALICE);

	/* The user name as the initial response. */
	a = start(s, "login", ALICE, strlen(ALICE), true, SASL_STATUS_CONTINUE);
	cr_assert_str_eq(a.challenge, "Password:");
	step(s, "wrong", 5, SASL_STATUS_BADAUTH);
	sasl_session_free(s);
	sasl_server_free(srv);
	threads_ok();
}

/* cram_response - "user hex(HMAC-MD5(password, challenge))" */
static size_t
cram_response(char *out, size_t outlen, const char *user,
    const char *password, const struct answer *a)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0, i;
	int n;

	cr_assert_not_null(HMAC(EVP_md5(), password, (int)strlen(password),
	    (const unsigned char *)a->challenge, a->len, md, &mdlen));
	n = snprintf(out, outlen, "%s ", user);
	for (i = 0; i < mdlen; i++)
		n += snprintf(out + n, outlen - (size_t)n, "%02x", md[i]);
	cr_assert_lt((size_t)n, outlen);
	return (size_t)n;
}

/* CRAM-MD5 asked for by name (not offered by default) */
Test(sasl, cram_md5_without_tls)
{
	char *names[] = { "CRAM-MD5" };
	struct sasl_server *srv;
	struct sasl_session *s;
	struct answer a;
	char resp[512];
	size_t n;

	cfg.sasl_mechanisms.v = names;
	cfg.sasl_mechanisms.n = 1;
	srv = server();
	s = session(srv, 0);

	a = start(s, "CRAM-MD5", NULL, 0, false, SASL_STATUS_CONTINUE);
	cr_assert(a.len > 2 && a.challenge[0] == '<', "challenge %s",
	    a.challenge);
	n = cram_response(resp, sizeof(resp), ALICE, "secret", &a);
	a = step(s, resp, n, SASL_STATUS_OK);
	cr_assert_str_eq(a.user, ALICE);

	a = start(s, "CRAM-MD5", NULL, 0, false, SASL_STATUS_CONTINUE);
	n = cram_response(resp, sizeof(resp), ALICE, "wrong", &a);
	step(s, resp, n, SASL_STATUS_BADAUTH);
	sasl_session_free(s);
	sasl_server_free(srv);
	threads_ok();
}

Test(sasl, step_without_start_is_a_protocol_error)
{
	struct sasl_server *srv = server();
	struct sasl_session *s = session(srv, TLS);

	step(s, "x", 1, SASL_STATUS_BADPROT);
	plain(s, ALICE, "secret", SASL_STATUS_OK);
	step(s, "x", 1, SASL_STATUS_BADPROT);	/* over: nothing to step */
	sasl_session_free(s);
	sasl_server_free(srv);
	threads_ok();
}

/* --- mechanisms -------------------------------------------------------- */

static bool
has_mech(const char *list, const char *mech)
{
	size_t n = strlen(mech);
	const char *p;

	for (p = list; (p = strstr(p, mech)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

/* Default: PLAIN LOGIN, and SCRAM-SHA-256 where Cyrus has it; nothing
 * else the plug-ins have (CRAM-MD5, DIGEST-MD5, NTLM, ...). */
Test(sasl, default_mechanisms)
{
	struct sasl_server *srv = server();
	struct sasl_session *clear = session(srv, 0), *tls = session(srv, TLS);
	const char *m0 = sasl_session_mechanisms(clear);
	const char *m1 = sasl_session_mechanisms(tls);

	cr_assert(strcmp(m1, "PLAIN LOGIN") == 0 ||
	    strcmp(m1, "PLAIN LOGIN SCRAM-SHA-256") == 0, "with TLS: %s", m1);
	cr_assert(strcmp(m0, "") == 0 || strcmp(m0, "SCRAM-SHA-256") == 0,
	    "without TLS: %s", m0);
	start(tls, "CRAM-MD5", NULL, 0, false, SASL_STATUS_BADMECH);
	start(tls, "DIGEST-MD5", NULL, 0, false, SASL_STATUS_BADMECH);
	plain(tls, ALICE, "secret", SASL_STATUS_OK);
	sasl_session_free(clear);
	sasl_session_free(tls);
	sasl_server_free(srv);
	threads_ok();
}

Test(sasl, plaintext_mechanisms_only_with_tls)
{
	char *names[] = { "PLAIN", "LOGIN", "CRAM-MD5", "ANONYMOUS" };
	struct sasl_server *srv;
	struct sasl_session *clear, *tls;
	const char *m0, *m1;

	cfg.sasl_mechanisms.v = names;
	cfg.sasl_mechanisms.n = 4;
	srv = server();
	clear = session(srv, 0);
	tls = session(srv, TLS);
	m0 = sasl_session_mechanisms(clear);
	m1 = sasl_session_mechanisms(tls);

	cr_assert_not(has_mech(m0, "PLAIN"), "without TLS: %s", m0);
	cr_assert_not(has_mech(m0, "LOGIN"), "without TLS: %s", m0);
	cr_assert(has_mech(m0, "CRAM-MD5"), "without TLS: %s", m0);
	cr_assert(has_mech(m1, "PLAIN"), "with TLS: %s", m1);
	cr_assert(has_mech(m1, "LOGIN"), "with TLS: %s", m1);
	cr_assert(has_mech(m1, "CRAM-MD5"), "with TLS: %s", m1);
	cr_assert_not(has_mech(m0, "ANONYMOUS") || has_mech(m1, "ANONYMOUS"));
	cr_assert_not(has_mech(m1, "EXTERNAL"));

	/* Not offered is refused, even if the client knows the name. */
	start(clear, "PLAIN", PLAIN_ALICE, sizeof(PLAIN_ALICE) - 1, true,
	    SASL_STATUS_BADMECH);
	start(clear, "LOGIN", NULL, 0, false, SASL_STATUS_BADMECH);
	start(tls, "ANONYMOUS", "x", 1, true, SASL_STATUS_BADMECH);
	start(tls, "NO-SUCH-MECH", NULL, 0, false, SASL_STATUS_BADMECH);
	plain(tls, ALICE, "secret", SASL_STATUS_OK);
	sasl_session_free(clear);
	sasl_session_free(tls);
	sasl_server_free(srv);
	threads_ok();
}

Test(sasl, sasl_mechanisms_restricts_and_orders)
{
	char *names[] = { "login", "PLAIN", "NO-SUCH-MECH", "plain" };
	struct sasl_server *srv;
	struct sasl_session *clear, *tls;

	cfg.sasl_mechanisms.v = names;
	cfg.sasl_mechanisms.n = 4;
	srv = server();
	clear = session(srv, 0);
	tls = session(srv, TLS);
	cr_assert_str_eq(sasl_session_mechanisms(tls), "LOGIN PLAIN");
	cr_assert_str_eq(sasl_session_mechanisms(clear), "");
	start(tls, "CRAM-MD5", NULL, 0, false, SASL_STATUS_BADMECH);
	plain(tls, ALICE, "secret", SASL_STATUS_OK);
	sasl_session_free(clear);
	sasl_session_free(tls);
	sasl_server_free(srv);
	threads_ok();
}

Test(sasl, only_plain)
{
	char *names[] = { "PLAIN" };
	struct sasl_server *srv;
	struct sasl_session *tls;

	cfg.sasl_mechanisms.v = names;
	cfg.sasl_mechanisms.n = 1;
	srv = server();
	tls = session(srv, TLS);
	cr_assert_str_eq(sasl_session_mechanisms(tls), "PLAIN");
	start(tls, "LOGIN", NULL, 0, false, SASL_STATUS_BADMECH);
	sasl_session_free(tls);
	sasl_server_free(srv);
}

/* --- set-up errors, and the one set-up per process ---------------------- */

Test(sasl, no_mechanism_left_is_an_error)
{
	char *names[] = { "ANONYMOUS" };
	char err[512];

	cfg.sasl_mechanisms.v = names;
	cfg.sasl_mechanisms.n = 1;
	cr_assert_null(sasl_server_create(loop, &cfg, err, sizeof(err)));
	cr_assert_str_eq(err, "no SASL mechanism to offer");
}

Test(sasl, missing_sasldb_is_an_error)
{
	char path[300], err[512];

	snprintf(path, sizeof(path), "%s/none", dir);
	cfg.sasl_sasldb_path = path;
	cr_assert_null(sasl_server_create(loop, &cfg, err, sizeof(err)));
	cr_assert(strstr(err, path) != NULL, "%s", err);
	cr_assert(strstr(err, "No such file") != NULL, "%s", err);
	/* Nothing was set up: the right path works afterwards. */
	cfg.sasl_sasldb_path = db;
	sasl_server_free(server());
}

Test(sasl, unknown_pwcheck_method_is_an_error)
{
	char pam[] = "pam", err[512];

	cfg.sasl_pwcheck_method = pam;
	cr_assert_null(sasl_server_create(loop, &cfg, err, sizeof(err)));
	cr_assert(strstr(err, "auxprop or saslauthd") != NULL, "%s", err);
}

/* Cyrus is set up once: a second server keeps the first settings. */
Test(sasl, second_server_keeps_the_first_settings)
{
	char db2[300];
	struct sasl_server *a, *b;
	struct sasl_session *sa, *sb;

	snprintf(db2, sizeof(db2), "%s/other", dir);
	adduser(db2, "example.test", "carol", "carolpw");
	a = server();
	sa = session(a, TLS);
	plain(sa, ALICE, "secret", SASL_STATUS_OK);

	/* Both alive at once, b with another sasldb: still the first. */
	cfg.sasl_sasldb_path = db2;
	b = server();
	sb = session(b, TLS);
	plain(sb, ALICE, "secret", SASL_STATUS_OK);
	plain(sb, "carol@example.test", "carolpw", SASL_STATUS_BADAUTH);
	plain(sa, ALICE, "secret", SASL_STATUS_OK);
	sasl_session_free(sa);
	sasl_session_free(sb);
	sasl_server_free(a);
	sasl_server_free(b);
	cr_assert_eq(on_loop, 0);

	/* And after both are gone. */
	a = server();
	sa = session(a, TLS);
	plain(sa, ALICE, "secret", SASL_STATUS_OK);
	sasl_session_free(sa);
	sasl_server_free(a);
	cr_assert_eq(on_loop, 0);
}

/* --- the worker, the loop, and going away ------------------------------ */

static int ticks;

static void
tick_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	ticks++;
}

Test(sasl, a_slow_backend_does_not_block_the_loop)
{
	struct sasl_server *srv = server();
	struct sasl_session *s = session(srv, TLS);
	ev_timer t;

	ev_timer_init(&t, tick_cb, 0.02, 0.02);
	ev_timer_start(loop, &t);
	start_delay_ms = 400;
	ticks = 0;
	plain(s, ALICE, "secret", SASL_STATUS_OK);
	ev_timer_stop(loop, &t);
	cr_assert_geq(ticks, 5, "%d ticks while the backend worked", ticks);
	sasl_session_free(s);
	sasl_server_free(srv);
	threads_ok();
}

Test(sasl, free_with_a_pending_job)
{
	struct sasl_server *srv = server();
	struct sasl_session *s = session(srv, TLS);
	struct answer a;

	memset(&a, 0, sizeof(a));
	start_delay_ms = 200;
	sasl_session_start(s, "PLAIN", PLAIN_ALICE, sizeof(PLAIN_ALICE) - 1,
	    true, on_answer, &a);
	sasl_session_free(s);
	run(NULL, 0.5);
	cr_assert_eq(a.calls, 0);
	sasl_server_free(srv);
	cr_assert_eq(a.calls, 0);
	threads_ok();
}

Test(sasl, server_free_with_a_pending_job)
{
	struct sasl_server *srv = server();
	struct sasl_session *s = session(srv, TLS), *t = session(srv, TLS);
	struct answer a, b;
	ev_tstamp t0;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	start_delay_ms = 1500;	/* the second job, if run, would start by then */
	starts = 0;
	sasl_session_start(s, "PLAIN", PLAIN_ALICE, sizeof(PLAIN_ALICE) - 1,
	    true, on_answer, &a);
	sasl_session_start(t, "PLAIN", PLAIN_ALICE, sizeof(PLAIN_ALICE) - 1,
	    true, on_answer, &b);
	usleep(50 * 1000);		/* the first job is running */
	sasl_session_free(s);
	sasl_session_free(t);
	t0 = ev_time();
	sasl_server_free(srv);		/* the second job never runs */
	cr_assert_leq(starts, 1, "%d jobs ran", (int)starts);
	cr_assert_lt(ev_time() - t0, 4.0);	/* no hang (1.45 s expected) */
	cr_assert_eq(a.calls + b.calls, 0);
	threads_ok();
}

Test(sasl, reset_drops_the_answer_on_its_way)
{
	struct sasl_server *srv = server();
	struct sasl_session *s = session(srv, TLS);
	struct answer a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	start_delay_ms = 200;
	sasl_session_start(s, "PLAIN", PLAIN_ALICE, sizeof(PLAIN_ALICE) - 1,
	    true, on_answer, &a);
	sasl_session_reset(s);
	start_delay_ms = 0;
	sasl_session_start(s, "LOGIN", NULL, 0, false, on_answer, &b);
	expect(&b, SASL_STATUS_CONTINUE, "after reset");
	run(NULL, 0.1);
	cr_assert_eq(a.calls, 0);
	cr_assert_eq(b.calls, 1);
	sasl_session_free(s);
	sasl_server_free(srv);
	threads_ok();
}

/* A worker stuck in Cyrus longer than sasl_server_free waits is left to
 * finish alone, and cleans up after itself. */
Test(sasl, a_stuck_worker_is_left_behind, .timeout = 30)
{
	struct sasl_server *srv = server();
	struct sasl_session *s = session(srv, TLS);
	struct answer a;
	ev_tstamp t0;

	memset(&a, 0, sizeof(a));
	start_delay_ms = 6500;
	sasl_session_start(s, "PLAIN", PLAIN_ALICE, sizeof(PLAIN_ALICE) - 1,
	    true, on_answer, &a);
	usleep(50 * 1000);
	sasl_session_free(s);
	t0 = ev_time();
	sasl_server_free(srv);
	cr_assert_lt(ev_time() - t0, 8.0);
	cr_assert_geq(ev_time() - t0, 4.5);
	usleep(3500 * 1000);		/* the worker finishes and cleans up */
	cr_assert_eq(a.calls, 0);
	cr_assert_eq(on_loop, 0);
}

/* --- Cyrus's codes ----------------------------------------------------- */

Test(sasl, cyrus_codes_map_to_our_statuses)
{
	static const struct {
		int		 rc;
		enum sasl_status want;
	} cases[] = {
		{ SASL_BADAUTH, SASL_STATUS_BADAUTH },
		{ SASL_NOUSER, SASL_STATUS_BADAUTH },
		{ SASL_NOAUTHZ, SASL_STATUS_BADAUTH },
		{ SASL_EXPIRED, SASL_STATUS_BADAUTH },
		{ SASL_DISABLED, SASL_STATUS_BADAUTH },
		{ SASL_NOVERIFY, SASL_STATUS_BADAUTH },
		{ SASL_NOMECH, SASL_STATUS_BADMECH },
		{ SASL_TOOWEAK, SASL_STATUS_BADMECH },
		{ SASL_ENCRYPT, SASL_STATUS_BADMECH },
		{ SASL_BADPROT, SASL_STATUS_BADPROT },
		{ SASL_BADPARAM, SASL_STATUS_BADPROT },
		{ SASL_FAIL, SASL_STATUS_TEMP },
		{ SASL_TRYAGAIN, SASL_STATUS_TEMP },
		{ SASL_NOMEM, SASL_STATUS_TEMP },
		{ SASL_UNAVAIL, SASL_STATUS_TEMP },
		{ SASL_BUFOVER, SASL_STATUS_TEMP },
	};
	struct sasl_server *srv = server();
	struct sasl_session *s = session(srv, TLS);
	struct answer a;
	size_t i;

	start_forced = true;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		start_rc = cases[i].rc;
		memset(&a, 0, sizeof(a));
		sasl_session_start(s, "PLAIN", "x", 1, true, on_answer, &a);
		expect(&a, cases[i].want, sasl_errstring(cases[i].rc, NULL,
		    NULL));
		sasl_session_reset(s);
	}
	start_forced = false;
	sasl_session_free(s);
	sasl_server_free(srv);
	threads_ok();
}

/* --- the log ----------------------------------------------------------- */

Test(sasl, the_log_never_holds_a_password)
{
	char path[300], text[8192];
	struct sasl_server *srv;
	struct sasl_session *s;
	int fd, saved;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/log", dir);
	cr_assert_geq(fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600), 0);
	fflush(stderr);
	adduser(db, "example.test", "dave", "Zq9k33p0ut");
	saved = dup(2);
	dup2(fd, 2);
	log_set_quiet(0);
	srv = server();
	s = session(srv, TLS);
	plain(s, "dave@example.test", "Wr0ngPassw0rd", SASL_STATUS_BADAUTH);
	sasl_session_reset(s);
	plain(s, "dave@example.test", "Zq9k33p0ut", SASL_STATUS_OK);
	sasl_session_free(s);
	sasl_server_free(srv);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	log_set_quiet(1);

	cr_assert_geq(n = pread(fd, text, sizeof(text) - 1, 0), 0);
	close(fd);
	text[n] = '\0';
	cr_assert(strstr(text, "remote=127.0.0.1;40000") != NULL,
	    "no Cyrus line with our remote in: %s", text);
	cr_assert_null(strstr(text, "Wr0ngPassw0rd"), "%s", text);
	cr_assert_null(strstr(text, "Zq9k33p0ut"), "%s", text);
}

/* --- saslauthd --------------------------------------------------------- */

/* A saslauthd that knows alice@example.test, password "secret". */
struct authd {
	int		 fd;
	pthread_t	 thread;
	atomic_int	 delay_ms;
	atomic_bool	 hang;		/* read the request, answer once clear */
	atomic_int	 requests;
	char		 login[256], service[64], realm[256];	/* last asked */
};

static bool
read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = read(fd, p, len)) <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* read_counted - one of saslauthd's strings: length (2 octets), bytes */
static bool
read_counted(int fd, char *out, size_t outlen)
{
	unsigned char len[2];
	size_t n;

	if (!read_full(fd, len, 2))
		return false;
	n = (size_t)len[0] << 8 | len[1];
	if (n >= outlen || !read_full(fd, out, n))
		return false;
	out[n] = '\0';
	return true;
}

static void *
authd_main(void *arg)
{
	struct authd *d = arg;
	char password[256];
	const char *reply;
	unsigned char msg[64];
	size_t n;
	int c;

	while ((c = accept(d->fd, NULL, NULL)) >= 0) {
		if (read_counted(c, d->login, sizeof(d->login)) &&
		    read_counted(c, password, sizeof(password)) &&
		    read_counted(c, d->service, sizeof(d->service)) &&
		    read_counted(c, d->realm, sizeof(d->realm))) {
			d->requests++;
			usleep((useconds_t)d->delay_ms * 1000);
			while (d->hang)
				usleep(10 * 1000);
			reply = strcmp(d->login, "alice") == 0 &&
			    strcmp(d->realm, "example.test") == 0 &&
			    strcmp(password, "secret") == 0 ? "OK" : "NO fail";
			n = strlen(reply);
			msg[0] = 0;
			msg[1] = (unsigned char)n;
			memcpy(msg + 2, reply, n);
			if (write(c, msg, n + 2) != (ssize_t)(n + 2))
				d->requests += 1000;	/* fails the test */
		}
		close(c);
	}
	return NULL;
}

static void
authd_start(struct authd *d)
{
	struct sockaddr_un sun;

	memset(d, 0, sizeof(*d));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	cr_assert_lt((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path),
	    "%s/mux", dir), sizeof(sun.sun_path));
	cr_assert_geq(d->fd = socket(AF_UNIX, SOCK_STREAM, 0), 0);
	cr_assert_eq(bind(d->fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cr_assert_eq(listen(d->fd, 8), 0);
	cr_assert_eq(pthread_create(&d->thread, NULL, authd_main, d), 0);
}

static void
authd_stop(struct authd *d)
{
	shutdown(d->fd, SHUT_RDWR);	/* accept returns */
	pthread_join(d->thread, NULL);
	close(d->fd);
}

Test(sasl, saslauthd)
{
	struct sasl_server *srv;
	struct sasl_session *clear, *tls;
	struct authd d;
	struct answer a;
	ev_timer t;

	authd_start(&d);
	cfg.sasl_pwcheck_method = saslauthd;
	srv = server();
	clear = session(srv, 0);
	tls = session(srv, TLS);
	/* saslauthd checks plaintext passwords only. */
	cr_assert_str_eq(sasl_session_mechanisms(tls), "PLAIN LOGIN");
	cr_assert_str_eq(sasl_session_mechanisms(clear), "");

	a = plain(tls, ALICE, "secret", SASL_STATUS_OK);
	cr_assert_str_eq(a.user, ALICE);
	cr_assert_str_eq(d.login, "alice");
	cr_assert_str_eq(d.realm, "example.test");
	cr_assert_str_eq(d.service, "smtp");
	plain(tls, ALICE, "wrong", SASL_STATUS_BADAUTH);

	/* A slow saslauthd: the loop goes on meanwhile. */
	d.delay_ms = 300;
	ev_timer_init(&t, tick_cb, 0.02, 0.02);
	ev_timer_start(loop, &t);
	ticks = 0;
	plain(tls, ALICE, "secret", SASL_STATUS_OK);
	ev_timer_stop(loop, &t);
	cr_assert_geq(ticks, 5, "%d ticks while saslauthd worked", ticks);
	cr_assert_eq(d.requests, 3);

	/* saslauthd gone: try again later. */
	authd_stop(&d);
	plain(tls, ALICE, "secret", SASL_STATUS_TEMP);
	sasl_session_free(clear);
	sasl_session_free(tls);
	sasl_server_free(srv);
	threads_ok();
}

/* after_stuck - PLAIN for alice once the stuck thread has come back:
 * until then the session answers TEMP at once */
static void
after_stuck(struct sasl_session *s)
{
	struct answer a;
	int i;

	for (i = 0; i < 200; i++) {
		memset(&a, 0, sizeof(a));
		sasl_session_start(s, "PLAIN", PLAIN_ALICE,
		    sizeof(PLAIN_ALICE) - 1, true, on_answer, &a);
		run(&a, 10);
		cr_assert_eq(a.calls, 1);
		if (a.status != SASL_STATUS_TEMP)
			break;
		run(NULL, 0.05);	/* the stuck thread's answer comes */
	}
	cr_assert_eq(a.status, SASL_STATUS_OK, "%s", status_name(a.status));
}

/* Two sessions, a and b, on a saslauthd that takes requests and does
 * not answer: each gets TEMP at the deadline (auth_timeout 1s). */
struct hung {
	struct authd	 d;
	struct sasl_server *srv;
	struct sasl_session *a, *b;
};

static void
hung_start(struct hung *h, unsigned threads)
{
	authd_start(&h->d);
	cfg.sasl_pwcheck_method = saslauthd;
	cfg.auth_timeout = 1;
	cfg.auth_threads = threads;
	h->srv = server();
	h->a = session(h->srv, TLS);
	h->b = session(h->srv, TLS);
	h->d.hang = true;
	plain(h->a, ALICE, "secret", SASL_STATUS_TEMP);
	plain(h->b, ALICE, "secret", SASL_STATUS_TEMP);
}

static void
hung_end(struct hung *h)
{
	sasl_session_free(h->a);
	sasl_session_free(h->b);
	sasl_server_free(h->srv);
	authd_stop(&h->d);
	cr_assert_eq(on_loop, 0);
}

/* b's job is taken by another thread; a, whose exchange is still in
 * saslauthd, gets TEMP at once rather than a second job behind it;
 * once saslauthd answers again, so does AUTH. */
Test(sasl, a_hung_saslauthd_gets_temp_at_the_deadline)
{
	struct hung h;
	struct answer now;

	hung_start(&h, 4);
	memset(&now, 0, sizeof(now));
	sasl_session_start(h.a, "PLAIN", PLAIN_ALICE, sizeof(PLAIN_ALICE) - 1,
	    true, on_answer, &now);
	cr_assert_eq(now.calls, 1);
	cr_assert_eq(now.status, SASL_STATUS_TEMP);
	h.d.hang = false;
	after_stuck(h.a);
	after_stuck(h.b);
	hung_end(&h);
	cr_assert_geq(nseen, 2, "one thread made every Cyrus call");
}

/* auth_threads = 1: no thread to spare; b's job expires queued, and
 * nothing grows. */
Test(sasl, every_thread_stuck_still_answers)
{
	struct hung h;

	hung_start(&h, 1);
	cr_assert_eq(h.d.requests, 1, "b's job ran: %d requests",
	    (int)h.d.requests);
	h.d.hang = false;
	after_stuck(h.a);
	plain(h.b, ALICE, "secret", SASL_STATUS_OK);
	hung_end(&h);
	threads_ok();
}

/* Our setting names saslauthd's directory; the socket in it is taken
 * as well. */
Test(sasl, saslauthd_path_may_name_the_socket)
{
	char sock[300];
	struct sasl_server *srv;
	struct sasl_session *s;
	struct authd d;

	authd_start(&d);
	snprintf(sock, sizeof(sock), "%s/mux", dir);
	cfg.sasl_pwcheck_method = saslauthd;
	cfg.sasl_saslauthd_path = sock;
	srv = server();
	s = session(srv, TLS);
	plain(s, ALICE, "secret", SASL_STATUS_OK);
	sasl_session_free(s);
	sasl_server_free(srv);
	authd_stop(&d);
	cr_assert_eq(d.requests, 1);
}
