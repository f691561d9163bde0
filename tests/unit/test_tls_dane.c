/*
 * test_tls_dane - the client side of TLS authenticated by DANE (RFC
 * 7672) against a real OpenSSL server over a socketpair: each kind of
 * TLSA record that SMTP uses, a record that does not match, DANE-TA
 * with the right and the wrong name, dates, records OpenSSL cannot use,
 * and what the failures are called (RFC 8460's result types come from
 * them). Then tls_cert (sec/tls_cert.c, the deployment doctor's look
 * at a certificate file) on the same certificates: names, the name
 * check, the chain, the dates, the key's digest.
 *
 * Each test makes its own certificates with the openssl command: a
 * test CA, leaves for mx.test and other.test signed by it, an expired
 * leaf; and the TLSA data with the openssl command too (the public key
 * or certificate in DER, SHA-256 or SHA-512 of it), so that what is
 * compared is never computed by the code under test.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <openssl/ssl.h>

#include "sec/tls.h"
#include "sec/tls_cert.h"

#define MX	"mx.test"

static char	 dir[64];

static void sh(const char *, ...) __attribute__((format(printf, 1, 2)));

static void
sh(const char *fmt, ...)
{
	char	 cmd[2048];
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
	static char	 buf[8][384];
	static int	 next;
	char		*p = buf[next++ % 8];

	snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
	return p;
}

/* leaf - key NAME.key, certificate NAME.pem for dns signed by the test
 * CA, and NAME-chain.pem (leaf, then the CA) as a server sends it */
static void
leaf(const char *name, const char *dns, const char *dates)
{
	sh("cd %s && openssl req -new -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -subj /CN=%s -addext "
	    "subjectAltName=DNS:%s -keyout %s.key -out %s.csr 2>/dev/null",
	    dir, dns, dns, name, name);
	if (dates == NULL)
		sh("cd %s && openssl x509 -req -in %s.csr -CA ca.pem -CAkey "
		    "ca.key -CAcreateserial -days 2 -copy_extensions copy "
		    "-out %s.pem 2>/dev/null", dir, name, name);
	else
		sh("cd %s && openssl ca -batch -config ca.cnf -in %s.csr "
		    "-out %s.pem -notext %s 2>/dev/null", dir, name, name,
		    dates);
	sh("cd %s && cat %s.pem ca.pem > %s-chain.pem", dir, name, name);
}

/* tlsa_data - the DER public key (.spki) and certificate (.cert) of
 * NAME.pem, and their SHA-256 (.1) and SHA-512 (.2) digests */
static void
tlsa_data(const char *name)
{
	sh("cd %s && openssl x509 -in %s.pem -noout -pubkey | openssl pkey "
	    "-pubin -outform DER -out %s.spki && openssl x509 -in %s.pem "
	    "-outform DER -out %s.cert", dir, name, name, name, name);
	sh("cd %s && for f in %s.spki %s.cert; do openssl dgst -sha256 "
	    "-binary -out $f.1 $f && openssl dgst -sha512 -binary -out $f.2 "
	    "$f; done", dir, name, name);
}

static void
setup(void)
{
	FILE	*fp;

	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/test_tls_dane.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	sh("cd %s && openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -days 2 -subj '/CN=Test DANE CA' "
	    "-addext basicConstraints=critical,CA:TRUE -addext "
	    "keyUsage=critical,keyCertSign -keyout ca.key -out ca.pem "
	    "2>/dev/null", dir);
	/* openssl ca, for a leaf with dates of our choosing */
	cr_assert_not_null(fp = fopen(path("ca.cnf"), "w"));
	fprintf(fp, "[ca]\ndefault_ca = d\n[d]\ndatabase = %s/index\n"
	    "new_certs_dir = %s\nserial = %s/serial\ncertificate = "
	    "%s/ca.pem\nprivate_key = %s/ca.key\ndefault_md = sha256\n"
	    "policy = p\ncopy_extensions = copy\n[p]\ncommonName = "
	    "supplied\n", dir, dir, dir, dir, dir);
	fclose(fp);
	sh("cd %s && : > index && echo 01 > serial", dir);
	leaf("mx", MX, NULL);
	leaf("other", "other.test", NULL);
	tlsa_data("mx");
	tlsa_data("other");
	tlsa_data("ca");
}

static void
teardown(void)
{
	sh("rm -rf '%s'", dir);
}

TestSuite(dane, .init = setup, .fini = teardown, .timeout = 30);

/* --- a record from a file ------------------------------------------------ */

struct rec {
	struct tls_tlsa	 r;
	unsigned char	 buf[1024];
};

/* rec - usage selector mtype, with the bytes of file (NAME.spki.1) */
static void
rec(struct rec *x, int usage, int selector, int mtype, const char *file)
{
	FILE	*fp = fopen(path(file), "rb");
	size_t	 n;

	cr_assert_not_null(fp, "%s", file);
	n = fread(x->buf, 1, sizeof(x->buf), fp);
	fclose(fp);
	cr_assert_gt(n, 0);
	x->r.usage = (unsigned char)usage;
	x->r.selector = (unsigned char)selector;
	x->r.mtype = (unsigned char)mtype;
	x->r.data = x->buf;
	x->r.len = n;
}

/* --- the server -------------------------------------------------------------- */

struct server {
	const char	*chain;		/* what it sends */
	const char	*key;
	int		 fd;
	pthread_t	 thread;
};

/* serve - one handshake, then read until the client is gone */
static void *
serve(void *arg)
{
	struct server	*s = arg;
	SSL_CTX		*ctx = SSL_CTX_new(TLS_server_method());
	SSL		*ssl;
	char		 buf[256];
	struct timeval	 tv = { 10, 0 };

	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (ctx == NULL ||
	    SSL_CTX_use_certificate_chain_file(ctx, path(s->chain)) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, path(s->key),
	    SSL_FILETYPE_PEM) != 1 || (ssl = SSL_new(ctx)) == NULL) {
		SSL_CTX_free(ctx);
		close(s->fd);
		return NULL;
	}
	SSL_set_fd(ssl, s->fd);
	if (SSL_accept(ssl) == 1)
		while (SSL_read(ssl, buf, sizeof(buf)) > 0)
			;
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(s->fd);
	return NULL;
}

/* The client's end of one connection. */
struct outcome {
	bool			 made;		/* tls_client_dane_new */
	char			 err[256];
	enum tls_status		 st;		/* of the handshake */
	char			 why[256];
	enum tls_peer_auth	 auth;
	enum tls_verify_failure	 failure;
};

/* The MX host name beside the base domain (tls_client_dane_new's alt),
 * for the test that sets it. */
static const char *alt_name;

/* connect_to - a server sending chain (NAME-chain.pem, key NAME.key),
 * a client checking it: DANE with records (n > 0), else WebPKI against
 * ca_file when it is set, else nothing */
static void
connect_to(const char *name, const char *refname, const struct rec *recs,
    size_t n, const char *ca_file, struct outcome *o)
{
	struct server	 s;
	struct tls_tlsa	 rr[4];
	struct tls_conn	*c;
	char		 chain[64], key[64];
	int		 sv[2];

	memset(o, 0, sizeof(*o));
	snprintf(chain, sizeof(chain), "%s-chain.pem", name);
	snprintf(key, sizeof(key), "%s.key", name);
	s.chain = chain;
	s.key = key;
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	s.fd = sv[1];
	cr_assert_eq(pthread_create(&s.thread, NULL, serve, &s), 0);
	for (size_t i = 0; i < n; i++)
		rr[i] = recs[i].r;
	if (n > 0)
		c = tls_client_dane_new(sv[0], refname, alt_name, rr, n,
		    o->err, sizeof(o->err));
	else
		c = tls_client_new(sv[0], refname, ca_file != NULL,
		    ca_file != NULL ? path(ca_file) : NULL, o->err,
		    sizeof(o->err));
	if (c != NULL) {
		o->made = true;
		/* a blocking socket: done or failed, nothing to wait for */
		o->st = tls_handshake(c);
		snprintf(o->why, sizeof(o->why), "%s", tls_conn_error(c));
		if (o->st == TLS_DONE)
			o->auth = tls_conn_peer_auth(c);
		else
			o->failure = tls_conn_verify_failure(c);
		tls_conn_free(c);
	}
	shutdown(sv[0], SHUT_RDWR);
	pthread_join(s.thread, NULL);
	close(sv[0]);
}

#define DANE_OK(o) do {							\
	cr_assert((o)->made, "%s", (o)->err);				\
	cr_assert_eq((o)->st, TLS_DONE, "%s", (o)->why);		\
	cr_assert_eq((o)->auth, TLS_PEER_DANE);				\
} while (0)

#define FAILS(o, f) do {						\
	cr_assert((o)->made, "%s", (o)->err);				\
	cr_assert_eq((o)->st, TLS_FAIL);				\
	cr_assert_eq((o)->failure, (f), "%s", (o)->why);		\
} while (0)

/* --- DANE-EE(3) ---------------------------------------------------------- */

Test(dane, ee_spki_sha256)
{
	struct rec	 r;
	struct outcome	 o;

	rec(&r, 3, 1, 1, "mx.spki.1");
	connect_to("mx", MX, &r, 1, NULL, &o);
	DANE_OK(&o);
}

Test(dane, ee_certificate_sha256)
{
	struct rec	 r;
	struct outcome	 o;

	rec(&r, 3, 0, 1, "mx.cert.1");
	connect_to("mx", MX, &r, 1, NULL, &o);
	DANE_OK(&o);
}

Test(dane, ee_spki_sha512)
{
	struct rec	 r;
	struct outcome	 o;

	rec(&r, 3, 1, 2, "mx.spki.2");
	connect_to("mx", MX, &r, 1, NULL, &o);
	DANE_OK(&o);
}

Test(dane, ee_full_spki)
{
	struct rec	 r;
	struct outcome	 o;

	rec(&r, 3, 1, 0, "mx.spki");
	connect_to("mx", MX, &r, 1, NULL, &o);
	DANE_OK(&o);
}

Test(dane, ee_mismatch_fails_the_handshake)
{
	struct rec	 r;
	struct outcome	 o;

	/* another server's key */
	rec(&r, 3, 1, 1, "other.spki.1");
	connect_to("mx", MX, &r, 1, NULL, &o);
	FAILS(&o, TLS_VERIFY_NO_TLSA);
	cr_assert(strstr(o.why, "TLSA") != NULL, "%s", o.why);
}

Test(dane, ee_ignores_the_name)
{
	struct rec	 r;
	struct outcome	 o;

	/* RFC 7672 3.1.1: the key is the identity */
	rec(&r, 3, 1, 1, "other.spki.1");
	connect_to("other", MX, &r, 1, NULL, &o);
	DANE_OK(&o);
}

Test(dane, ee_ignores_the_dates)
{
	struct rec	 r;
	struct outcome	 o;

	leaf("old", MX, "-startdate 20200101000000Z -enddate "
	    "20200201000000Z");
	tlsa_data("old");
	rec(&r, 3, 1, 1, "old.spki.1");
	connect_to("old", MX, &r, 1, NULL, &o);
	DANE_OK(&o);
}

Test(dane, one_of_several_records_is_enough)
{
	struct rec	 r[3];
	struct outcome	 o;

	rec(&r[0], 3, 1, 1, "other.spki.1");
	rec(&r[1], 3, 1, 1, "mx.spki.2");	/* unusable: wrong length */
	rec(&r[2], 3, 0, 2, "mx.cert.2");
	connect_to("mx", MX, r, 3, NULL, &o);
	DANE_OK(&o);
}

/* --- DANE-TA(2) -------------------------------------------------------------- */

Test(dane, ta_with_the_right_name)
{
	struct rec	 r;
	struct outcome	 o;

	rec(&r, 2, 1, 1, "ca.spki.1");
	connect_to("mx", MX, &r, 1, NULL, &o);
	DANE_OK(&o);
}

Test(dane, ta_certificate_full)
{
	struct rec	 r;
	struct outcome	 o;

	rec(&r, 2, 0, 0, "ca.cert");
	connect_to("mx", MX, &r, 1, NULL, &o);
	DANE_OK(&o);
}

Test(dane, ta_checks_the_name)
{
	struct rec	 r;
	struct outcome	 o;

	/* RFC 7672 3.2.2: signed by the right CA, for another host */
	rec(&r, 2, 1, 1, "ca.spki.1");
	connect_to("other", MX, &r, 1, NULL, &o);
	FAILS(&o, TLS_VERIFY_NAME);
}

Test(dane, ta_accepts_the_mx_name_beside_the_base_domain)
{
	struct rec	 r;
	struct outcome	 o;

	/* RFC 7672 3.2.2: the MX host is a CNAME to base.example.test, the
	 * TLSA records are there, the certificate names the MX host */
	rec(&r, 2, 1, 1, "ca.spki.1");
	connect_to("mx", "base.example.test", &r, 1, NULL, &o);
	FAILS(&o, TLS_VERIFY_NAME);
	alt_name = MX;
	connect_to("mx", "base.example.test", &r, 1, NULL, &o);
	alt_name = NULL;
	DANE_OK(&o);
}

Test(dane, ta_checks_the_dates)
{
	struct rec	 r;
	struct outcome	 o;

	leaf("old", MX, "-startdate 20200101000000Z -enddate "
	    "20200201000000Z");
	rec(&r, 2, 1, 1, "ca.spki.1");
	connect_to("old", MX, &r, 1, NULL, &o);
	FAILS(&o, TLS_VERIFY_EXPIRED);
}

Test(dane, ta_of_another_ca_fails)
{
	struct rec	 r;
	struct outcome	 o;

	/* a leaf's key as a trust anchor matches no certificate in the
	 * chain that signs the leaf */
	rec(&r, 2, 1, 1, "other.spki.1");
	connect_to("mx", MX, &r, 1, NULL, &o);
	FAILS(&o, TLS_VERIFY_NO_TLSA);
}

/* --- records that cannot be used ------------------------------------------ */

Test(dane, only_unusable_records_make_no_connection)
{
	struct rec	 r[3];
	struct tls_tlsa	 rr[3];
	char		 err[256] = "";
	int		 sv[2];

	rec(&r[0], 1, 1, 1, "mx.spki.1");	/* PKIX-EE: not for SMTP */
	rec(&r[1], 3, 1, 1, "mx.spki.2");	/* SHA-512 bytes for SHA-256 */
	rec(&r[2], 3, 2, 1, "mx.spki.1");	/* no selector 2 */
	for (size_t i = 0; i < 3; i++)
		rr[i] = r[i].r;
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_null(tls_client_dane_new(sv[0], MX, NULL, rr, 3, err,
	    sizeof(err)));
	cr_assert(strstr(err, "no usable TLSA") != NULL, "%s", err);
	cr_assert_null(tls_client_dane_new(sv[0], MX, NULL, rr, 0, err,
	    sizeof(err)));
	cr_assert_null(tls_client_dane_new(sv[0], "", NULL, &rr[0], 1, err,
	    sizeof(err)));
	close(sv[0]);
	close(sv[1]);
}

/* --- the other modes say how they authenticated --------------------------- */

Test(dane, webpki_is_ca_and_unchecked_is_none)
{
	struct outcome	 o;

	connect_to("mx", MX, NULL, 0, "ca.pem", &o);
	cr_assert_eq(o.st, TLS_DONE, "%s %s", o.err, o.why);
	cr_assert_eq(o.auth, TLS_PEER_CA);
	connect_to("mx", MX, NULL, 0, NULL, &o);
	cr_assert_eq(o.st, TLS_DONE, "%s %s", o.err, o.why);
	cr_assert_eq(o.auth, TLS_PEER_NONE);
	connect_to("mx", MX, NULL, 0, "mx.pem", &o);	/* a leaf, no CA */
	FAILS(&o, TLS_VERIFY_UNTRUSTED);
	connect_to("other", MX, NULL, 0, "ca.pem", &o);
	FAILS(&o, TLS_VERIFY_NAME);
}

/* --- tls_cert: a certificate file looked at (the doctor's) ------------------- */

TestSuite(tls_cert, .init = setup, .fini = teardown, .timeout = 30);

/* load - NAME.pem (or NAME-chain.pem) as tls_cert reads it */
static struct tls_cert *
load(const char *file)
{
	char		 err[256];
	struct tls_cert	*c = tls_cert_load(path(file), err, sizeof(err));

	cr_assert_not_null(c, "%s: %s", file, err);
	return c;
}

Test(tls_cert, names_and_the_name_check)
{
	struct tls_cert	*c;
	char		 v[TLS_CERT_NAMES_MAX][256];

	leaf("wild", "*.wild.test", NULL);
	c = load("wild.pem");
	cr_assert_eq(tls_cert_names(c, v, TLS_CERT_NAMES_MAX), 1);
	cr_assert_str_eq(v[0], "*.wild.test");
	cr_assert(tls_cert_has_name(c, "mx.wild.test"));
	cr_assert(tls_cert_has_name(c, "MX.Wild.Test"));
	cr_assert_not(tls_cert_has_name(c, "wild.test"));	/* one label */
	cr_assert_not(tls_cert_has_name(c, "a.mx.wild.test"));
	tls_cert_free(c);
	c = load("mx.pem");
	cr_assert(tls_cert_has_name(c, MX));
	cr_assert_not(tls_cert_has_name(c, "other.test"));
	tls_cert_free(c);
}

Test(tls_cert, the_chain_verifies_against_its_ca_only)
{
	struct tls_cert	*c = load("mx.pem"), *chain = load("mx-chain.pem");
	char		 why[256];

	cr_assert_eq(tls_cert_verify(c, path("ca.pem"), why, sizeof(why)), 0,
	    "%s", why);
	cr_assert_eq(tls_cert_verify(chain, path("ca.pem"), why, sizeof(why)),
	    0, "%s", why);
	/* The system's store knows nothing of the test CA. */
	cr_assert_eq(tls_cert_verify(c, NULL, why, sizeof(why)), -1);
	cr_assert(strstr(why, "issuer") != NULL, "%s", why);
	/* A CA that is not the issuer. */
	cr_assert_eq(tls_cert_verify(c, path("other.pem"), why, sizeof(why)),
	    -1);
	tls_cert_free(c);
	tls_cert_free(chain);
}

Test(tls_cert, expired_and_its_date)
{
	struct tls_cert	*c;
	char		 why[256];

	leaf("old", MX, "-startdate 20200101000000Z -enddate "
	    "20200201000000Z");
	c = load("old.pem");
	cr_assert_eq(tls_cert_not_after(c), 1580515200);	/* 2020-02-01 */
	cr_assert_eq(tls_cert_verify(c, path("ca.pem"), why, sizeof(why)),
	    -1);
	cr_assert(strstr(why, "expired") != NULL, "%s", why);
	tls_cert_free(c);
	c = load("mx.pem");		/* -days 2 */
	cr_assert_gt(tls_cert_not_after(c), time(NULL) + 86400);
	cr_assert_lt(tls_cert_not_after(c), time(NULL) + 3 * 86400);
	tls_cert_free(c);
}

Test(tls_cert, the_key_digest_is_what_openssl_computes)
{
	struct tls_cert	*c = load("mx-chain.pem");	/* the leaf's key */
	unsigned char	 md[64];
	char		 hex[65], want[65];
	FILE		*fp = fopen(path("mx.spki.1"), "rb");

	cr_assert_not_null(fp);
	cr_assert_eq(fread(md, 1, sizeof(md), fp), 32);
	fclose(fp);
	for (int i = 0; i < 32; i++)
		snprintf(want + 2 * i, 3, "%02X", md[i]);
	cr_assert_eq(tls_cert_spki_sha256(c, hex), 0);
	cr_assert_str_eq(hex, want);
	tls_cert_free(c);
}

Test(tls_cert, a_file_without_a_certificate)
{
	char	 err[256];

	cr_assert_null(tls_cert_load(path("mx.key"), err, sizeof(err)));
	cr_assert(strstr(err, "no certificate") != NULL, "%s", err);
	cr_assert_null(tls_cert_load(path("nothing.pem"), err, sizeof(err)));
	cr_assert(strstr(err, "cannot open") != NULL, "%s", err);
}
