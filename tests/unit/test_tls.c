/*
 * test_tls - the TLS layer against a real OpenSSL client: contexts from
 * good and bad files, handshakes over a socketpair with both ends
 * non-blocking, data both ways, protocol limits and closes.
 *
 * Each test makes a throwaway key and self-signed certificate with the
 * openssl command in a temporary directory of its own.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conf/config.h"
#include "sec/tls.h"

#define CN	"mail.example.test"

static char	 dir[64];		/* this test's files */

static void sh(const char *, ...) __attribute__((format(printf, 1, 2)));

/* sh - run a command that must succeed */
static void
sh(const char *fmt, ...)
{
	char	 cmd[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* path - a file of this test's directory (good for 7 more calls) */
static const char *
path(const char *name)
{
	static char	 buf[8][384];	/* dir, "/" and a d_name */
	static int	 next;
	char		*p = buf[next++ % 8];

	snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
	return p;
}

/* write_file - a file of this test's directory holding text */
static void
write_file(const char *name, const char *text)
{
	FILE	*fp = fopen(path(name), "w");

	cr_assert_not_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* setup - the directory, with c.pem (CN=mail.example.test) and its
 * key k.pem */
static void
setup(void)
{
	/* A peer that has gone makes write() raise SIGPIPE; the server
	 * ignores it too. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/test_tls.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" CN
	    " -keyout %s -out %s 2>/dev/null", path("k.pem"), path("c.pem"));
}

static void
teardown(void)
{
	DIR		*d = opendir(dir);
	struct dirent	*e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			unlink(path(e->d_name));
	closedir(d);
	rmdir(dir);
}

TestSuite(tls, .init = setup, .fini = teardown);

/* conf - a configuration with `extra` lines (tls_* keys) */
static struct config *
conf(const char *extra)
{
	char		 text[2048], *errors = NULL;
	struct config	*cfg;

	snprintf(text, sizeof(text), "hostname = " CN "\n"
	    "listen = 127.0.0.1:2525 mx\n%s", extra);
	cfg = config_parse(text, "t.conf", &errors);
	cr_assert_not_null(cfg, "%s", errors ? errors : "");
	free(errors);
	return cfg;
}

/* ctx_with - a context from `extra`, or NULL with the message in err */
static struct tls_ctx *
ctx_with(const char *extra, char *err, size_t errlen)
{
	struct config	*cfg = conf(extra);
	struct tls_ctx	*t;

	err[0] = '\0';
	t = tls_ctx_new(cfg, err, errlen);
	config_free(cfg);
	return t;
}

/* ctx_ok - a context from our certificate and key, plus `extra` */
static struct tls_ctx *
ctx_ok(const char *extra)
{
	char		 text[1024], err[256];
	struct tls_ctx	*t;

	snprintf(text, sizeof(text), "tls_cert = %s\ntls_key = %s\n%s",
	    path("c.pem"), path("k.pem"), extra);
	t = ctx_with(text, err, sizeof(err));
	cr_assert_not_null(t, "%s", err);
	return t;
}

/* ctx_fails - the message of a context that cannot be made */
static void
ctx_fails(const char *extra, const char *want)
{
	char		 err[256];
	struct tls_ctx	*t = ctx_with(extra, err, sizeof(err));

	cr_assert_null(t, "made a context from:\n%s", extra);
	cr_assert_str_eq(err, want);
	cr_assert_eq(ERR_peek_error(), 0, "the error queue is left empty");
}

/* --- contexts -------------------------------------------------------- */

Test(tls, context_and_description)
{
	struct tls_ctx	*t = ctx_ok("");
	const char	*d = tls_ctx_describe(t);

	cr_assert(strncmp(d, "CN=" CN ", expires 20", 24) == 0, "%s", d);
	cr_assert_eq(strlen(d), strlen("CN=" CN ", expires 2026-01-01"), "%s",
	    d);
	/* A reference outlives the first unref. */
	cr_assert_eq(tls_ctx_ref(t), t);
	tls_ctx_unref(t);
	cr_assert_str_eq(tls_ctx_describe(t), d);
	tls_ctx_unref(t);
	tls_ctx_unref(NULL);
}

static void files_fail(const char *, const char *, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* files_fail - tls_cert and tls_key (NULL: not set), files of this
 * test, give exactly the message made of fmt */
static void
files_fail(const char *cert, const char *key, const char *fmt, ...)
{
	char	 text[512], want[256];
	va_list	 ap;

	if (key != NULL)
		snprintf(text, sizeof(text), "tls_cert = %s\ntls_key = %s\n",
		    path(cert), path(key));
	else
		snprintf(text, sizeof(text), "tls_cert = %s\n", path(cert));
	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	ctx_fails(text, want);
}

/* fails_like - the message for text begins with `want` and does not
 * contain `not` */
static void
fails_like(const char *text, const char *want, const char *not)
{
	char		 err[256];
	struct tls_ctx	*t = ctx_with(text, err, sizeof(err));

	cr_assert_null(t);
	cr_assert(strncmp(err, want, strlen(want)) == 0, "%s", err);
	cr_assert_null(strstr(err, not), "%s", err);
	cr_assert_eq(ERR_peek_error(), 0);
}

Test(tls, key_in_the_certificate_file)
{
	char		 text[512], err[256];
	struct tls_ctx	*t;

	sh("cat %s %s > %s", path("c.pem"), path("k.pem"), path("both.pem"));
	snprintf(text, sizeof(text), "tls_cert = %s\n", path("both.pem"));
	t = ctx_with(text, err, sizeof(err));
	cr_assert_not_null(t, "%s", err);
	tls_ctx_unref(t);

	/* The certificate alone: the key is missing. */
	files_fail("c.pem", NULL, "tls_cert %s: no private key in it (PEM "
	    "expected); set tls_key", path("c.pem"));
}

Test(tls, no_certificate)
{
	char		 err[256];
	struct config	*cfg = conf("");

	cr_assert_null(tls_ctx_new(cfg, err, sizeof(err)));
	cr_assert_str_eq(err, "tls_cert is not set");
	config_free(cfg);
}

Test(tls, missing_files)
{
	char	 text[512], want[256];

	files_fail("none.pem", "k.pem", "tls_cert %s: %s", path("none.pem"),
	    strerror(ENOENT));
	files_fail("c.pem", "none.pem", "tls_key %s: %s", path("none.pem"),
	    strerror(ENOENT));

	snprintf(text, sizeof(text), "tls_cert = %s\ntls_key = %s\n"
	    "tls_ca_file = %s\n", path("c.pem"), path("k.pem"),
	    path("none.pem"));
	snprintf(want, sizeof(want), "tls_ca_file %s: ", path("none.pem"));
	fails_like(text, want, "error:");
}

Test(tls, garbage_pem)
{
	char	 text[512], want[256];

	write_file("junk.pem", "this is not PEM\n");
	files_fail("junk.pem", "k.pem", "tls_cert %s: no certificate in it "
	    "(PEM expected)", path("junk.pem"));
	files_fail("c.pem", "junk.pem", "tls_key %s: no private key in it "
	    "(PEM expected)", path("junk.pem"));

	/* A broken PEM block, or a certificate cut short, is not "no
	 * certificate": OpenSSL's reason is given. */
	write_file("bad.pem", "-----BEGIN CERTIFICATE-----\nxyz\n");
	files_fail("bad.pem", "k.pem", "tls_cert %s: bad end line",
	    path("bad.pem"));
	sh("head -c 600 %s > %s", path("c.pem"), path("cut.pem"));
	snprintf(text, sizeof(text), "tls_cert = %s\ntls_key = %s\n",
	    path("cut.pem"), path("k.pem"));
	snprintf(want, sizeof(want), "tls_cert %s: ", path("cut.pem"));
	fails_like(text, want, "no certificate in it");
}

Test(tls, key_mismatch)
{
	sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
	    "-out %s 2>/dev/null", path("k2.pem"));
	files_fail("c.pem", "k2.pem", "tls_key %s does not match tls_cert %s",
	    path("k2.pem"), path("c.pem"));

	/* A key of another type. */
	sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
	    "-out %s 2>/dev/null", path("ec.pem"));
	files_fail("c.pem", "ec.pem", "tls_key %s does not match tls_cert %s",
	    path("ec.pem"), path("c.pem"));

	/* The wrong key in the certificate's own file. */
	sh("cat %s %s > %s", path("c.pem"), path("k2.pem"), path("both.pem"));
	files_fail("both.pem", NULL, "tls_cert %s: the private key does not "
	    "match the certificate", path("both.pem"));
}

Test(tls, encrypted_key_is_refused_without_a_prompt)
{
	sh("openssl pkey -in %s -aes128 -passout pass:secret -out %s",
	    path("k.pem"), path("enc.pem"));
	files_fail("c.pem", "enc.pem", "tls_key %s: the key is protected by a "
	    "passphrase, which is not supported", path("enc.pem"));
}

Test(tls, unknown_ciphers)
{
	char	 text[512];

	snprintf(text, sizeof(text), "tls_cert = %s\ntls_key = %s\n"
	    "tls_ciphers = NO-SUCH-CIPHER:!ALSO-NOT\n", path("c.pem"),
	    path("k.pem"));
	ctx_fails(text, "tls_ciphers: no cipher match");
}

/* --- handshakes over a socketpair -------------------------------------- */

/* A pair of connected non-blocking sockets: the server's end wrapped
 * in a tls_conn, the client's in a plain OpenSSL client. */
struct pair {
	int		 fd[2];
	struct tls_conn	*s;
	SSL_CTX		*cctx;
	SSL		*c;
};

/* pair_open - connect a client with at most `client_max` (0: any) */
static void
pair_open(struct pair *p, struct tls_ctx *t, int client_max)
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(fcntl(p->fd[i], F_SETFL, O_NONBLOCK), 0);
	p->s = tls_conn_new(t, p->fd[0]);
	cr_assert_not_null(p->s);

	p->cctx = SSL_CTX_new(TLS_client_method());
	cr_assert_not_null(p->cctx);
	if (client_max != 0) {
		/* Let the client offer old versions at all: OpenSSL's
		 * default security level would refuse them before any
		 * byte is sent, and the server would see nothing. */
		SSL_CTX_set_security_level(p->cctx, 0);
		cr_assert_eq(SSL_CTX_set_cipher_list(p->cctx,
		    "DEFAULT:@SECLEVEL=0"), 1);
		SSL_CTX_set_min_proto_version(p->cctx, 0);
		cr_assert_eq(SSL_CTX_set_max_proto_version(p->cctx,
		    client_max), 1);
	}
	p->c = SSL_new(p->cctx);
	cr_assert_not_null(p->c);
	cr_assert_eq(SSL_set_fd(p->c, p->fd[1]), 1);
	SSL_set_connect_state(p->c);
}

static void
pair_close(struct pair *p)
{
	tls_conn_free(p->s);
	SSL_free(p->c);
	SSL_CTX_free(p->cctx);
	if (p->fd[0] >= 0)
		close(p->fd[0]);
	if (p->fd[1] >= 0)
		close(p->fd[1]);
	ERR_clear_error();
}

/* handshake - drive both ends in turns until the server is done or
 * has failed; returns the server's last status */
static enum tls_status
handshake(struct pair *p, bool *client_ok)
{
	enum tls_status	 st = TLS_WANT_READ;
	bool		 cdone = false, cfail = false;

	for (int turn = 0; turn < 100; turn++) {
		if (st == TLS_WANT_READ || st == TLS_WANT_WRITE)
			st = tls_handshake(p->s);
		if (!cdone && !cfail) {
			int r = SSL_do_handshake(p->c);
			int e = SSL_get_error(p->c, r);

			cdone = r == 1;
			cfail = r != 1 && e != SSL_ERROR_WANT_READ &&
			    e != SSL_ERROR_WANT_WRITE;
			ERR_clear_error();
		}
		if (st == TLS_FAIL || st == TLS_EOF ||
		    (st == TLS_DONE && (cdone || cfail)))
			break;
	}
	*client_ok = cdone;
	return st;
}

/* connected - a pair through its handshake with a server of `extra`;
 * the connection keeps the only reference to its context */
static void
connected(struct pair *p, const char *extra)
{
	struct tls_ctx	*t = ctx_ok(extra);
	bool		 cok;

	pair_open(p, t, 0);
	tls_ctx_unref(t);
	cr_assert_eq(handshake(p, &cok), TLS_DONE, "%s", tls_conn_error(p->s));
	cr_assert(cok);
}

/* server_reads - what the server reads of exactly n bytes */
static void
server_reads(struct pair *p, const char *want)
{
	char	 buf[256];
	size_t	 got = 0, n, len = strlen(want);

	for (int turn = 0; got < len && turn < 100; turn++) {
		enum tls_status st = tls_read(p->s, buf + got, len - got, &n);

		if (st == TLS_DONE)
			got += n;
		else
			cr_assert_eq(st, TLS_WANT_READ, "%s",
			    tls_conn_error(p->s));
	}
	cr_assert_eq(got, len);
	cr_assert(memcmp(buf, want, len) == 0);
}

/* client_reads - what the client reads of exactly n bytes */
static void
client_reads(struct pair *p, const char *want)
{
	char	 buf[256];
	size_t	 got = 0, n, len = strlen(want);

	for (int turn = 0; got < len && turn < 100; turn++) {
		if (SSL_read_ex(p->c, buf + got, len - got, &n) == 1)
			got += n;
		ERR_clear_error();
	}
	cr_assert_eq(got, len);
	cr_assert(memcmp(buf, want, len) == 0);
}

static void
client_writes(struct pair *p, const char *text)
{
	size_t	 n;

	cr_assert_eq(SSL_write_ex(p->c, text, strlen(text), &n), 1);
	cr_assert_eq(n, strlen(text));
}

static void
server_writes(struct pair *p, const char *text)
{
	size_t	 n;

	cr_assert_eq(tls_write(p->s, text, strlen(text), &n), TLS_DONE, "%s",
	    tls_conn_error(p->s));
	cr_assert_eq(n, strlen(text));
}

Test(tls, handshake_and_echo_tls13)
{
	struct tls_ctx	*t = ctx_ok("");
	struct pair	 p;
	bool		 cok;
	size_t		 n;
	char		 buf[64];

	pair_open(&p, t, 0);
	/* The connection holds its own reference. */
	tls_ctx_unref(t);
	cr_assert_str_eq(tls_conn_error(p.s), "");
	cr_assert_eq(tls_handshake(p.s), TLS_WANT_READ, "nothing sent yet");
	cr_assert_eq(handshake(&p, &cok), TLS_DONE, "%s",
	    tls_conn_error(p.s));
	cr_assert(cok);
	cr_assert_str_eq(tls_conn_version(p.s), "TLSv1.3");
	cr_assert_str_eq(tls_conn_cipher(p.s), SSL_get_cipher_name(p.c));
	cr_assert_geq(tls_conn_bits(p.s), 128);

	server_writes(&p, "220 " CN " ESMTP\r\n");
	client_reads(&p, "220 " CN " ESMTP\r\n");
	client_writes(&p, "EHLO client.example\r\n");
	server_reads(&p, "EHLO client.example\r\n");
	cr_assert_eq(tls_read(p.s, buf, sizeof(buf), &n), TLS_WANT_READ);
	cr_assert_eq(n, 0);
	cr_assert_eq(tls_write(p.s, "", 0, &n), TLS_DONE);
	cr_assert_eq(n, 0);

	/* A record read in part leaves the rest inside OpenSSL. */
	client_writes(&p, "MAIL FROM:<a@example.org>\r\n");
	cr_assert_not(tls_pending(p.s));
	cr_assert_eq(tls_read(p.s, buf, 4, &n), TLS_DONE);
	cr_assert_eq(n, 4);
	cr_assert(tls_pending(p.s));
	server_reads(&p, " FROM:<a@example.org>\r\n");
	cr_assert_not(tls_pending(p.s));

	/* A close_notify is an end. */
	SSL_shutdown(p.c);
	cr_assert_eq(tls_read(p.s, buf, sizeof(buf), &n), TLS_EOF);
	pair_close(&p);
}

Test(tls, handshake_tls12_only)
{
	struct pair	 p;

	connected(&p, "tls_protocols = TLSv1.2\n");
	cr_assert_str_eq(tls_conn_version(p.s), "TLSv1.2");
	/* The server's order of the Mozilla list: its first RSA suite. */
	cr_assert_str_eq(tls_conn_cipher(p.s), "ECDHE-RSA-AES128-GCM-SHA256");
	cr_assert_eq(tls_conn_bits(p.s), 128);
	server_writes(&p, "250 ok\r\n");
	client_reads(&p, "250 ok\r\n");
	client_writes(&p, "QUIT\r\n");
	server_reads(&p, "QUIT\r\n");
	pair_close(&p);
}

/* refused - a client of at most `client_max` fails the handshake with
 * a server of `extra`, for the reason `why` */
static void
refused(const char *extra, int client_max, const char *why)
{
	struct tls_ctx	*t = ctx_ok(extra);
	struct pair	 p;
	bool		 cok;

	pair_open(&p, t, client_max);
	cr_assert_eq(handshake(&p, &cok), TLS_FAIL);
	cr_assert_not(cok);
	cr_assert(strncmp(tls_conn_error(p.s), "handshake: ", 11) == 0, "%s",
	    tls_conn_error(p.s));
	cr_assert(strstr(tls_conn_error(p.s), why) != NULL, "%s",
	    tls_conn_error(p.s));
	cr_assert_eq(ERR_peek_error(), 0);
	pair_close(&p);
	tls_ctx_unref(t);
}

Test(tls, old_client_fails)
{
	refused("", TLS1_1_VERSION, "unsupported protocol");
}

Test(tls, tls13_only_refuses_a_tls12_client)
{
	refused("tls_protocols = TLSv1.3\n", TLS1_2_VERSION,
	    "unsupported protocol");
}

Test(tls, client_gone_before_the_handshake)
{
	struct tls_ctx	*t = ctx_ok("");
	struct pair	 p;

	pair_open(&p, t, 0);
	close(p.fd[1]);
	p.fd[1] = -1;
	cr_assert_eq(tls_handshake(p.s), TLS_EOF, "%s", tls_conn_error(p.s));
	pair_close(&p);
	tls_ctx_unref(t);
}

Test(tls, client_gone_without_close_notify)
{
	struct pair	 p;
	char		 buf[16];
	size_t		 n;

	connected(&p, "");
	/* The client reads all it was sent (TLS 1.3 session tickets
	 * included): a close with unread data would be a reset. */
	server_writes(&p, "221 bye\r\n");
	client_reads(&p, "221 bye\r\n");
	client_writes(&p, "QUIT\r\n");
	close(p.fd[1]);
	p.fd[1] = -1;
	server_reads(&p, "QUIT\r\n");
	cr_assert_eq(tls_read(p.s, buf, sizeof(buf), &n), TLS_EOF, "%s",
	    tls_conn_error(p.s));
	/* Writing to it now says so too (and raises no signal). */
	cr_assert_eq(tls_write(p.s, "250 ok\r\n", 8, &n), TLS_EOF);
	pair_close(&p);
}

Test(tls, garbage_instead_of_a_client_hello)
{
	struct tls_ctx	*t = ctx_ok("");
	struct pair	 p;

	pair_open(&p, t, 0);
	cr_assert_eq(write(p.fd[1], "EHLO plain.example\r\n", 20), 20);
	cr_assert_eq(tls_handshake(p.s), TLS_FAIL);
	cr_assert(strncmp(tls_conn_error(p.s), "handshake: ", 11) == 0, "%s",
	    tls_conn_error(p.s));
	pair_close(&p);
	tls_ctx_unref(t);
}

Test(tls, client_reset)
{
	struct pair	 p;
	char		 buf[16];
	size_t		 n;

	connected(&p, "");
	/* Closed with the session tickets unread: the server's next read
	 * sees a reset, not an end. */
	close(p.fd[1]);
	p.fd[1] = -1;
	cr_assert_eq(tls_read(p.s, buf, sizeof(buf), &n), TLS_FAIL);
	cr_assert_str_eq(tls_conn_error(p.s), "read: Connection reset by "
	    "peer");
	pair_close(&p);
}
