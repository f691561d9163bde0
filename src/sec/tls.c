/*
 * tls - OpenSSL behind tls.h: a server context made from the
 * configuration, the server side of TLS on a non-blocking socket, and
 * the client side for delivery.
 *
 * Nothing else includes an OpenSSL header. Errors come back as one
 * line naming the file or the operation and OpenSSL's reason; nothing
 * here logs. Every call into OpenSSL starts with an empty error queue
 * (the queue is per thread, and a reason left over from another
 * connection would be reported as this one's) and leaves it empty.
 *
 * A server context is used by the event loop thread only, so its
 * reference count needs no atomics; a client context belongs to one
 * connection, used by one delivery thread.
 */
#include <errno.h>
#include <stdarg.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "sec/tls.h"

#define TLS_DESC_LEN	160	/* "CN=..., expires YYYY-MM-DD" */
#define TLS_ERR_LEN	256	/* one message */
#define TLS_CN_MAX	64	/* bytes of a CN shown (RFC 5280 ub) */

struct tls_ctx {
	SSL_CTX		*ssl;
	unsigned	 refs;
	char		 desc[TLS_DESC_LEN];
};

struct tls_conn {
	struct tls_ctx	*ctx;		/* a reference of our own */
	SSL		*ssl;
	bool		 broken;	/* fatal error: send no close_notify */
	bool		 verify;	/* client verifying the server */
	bool		 dane;		/* ... by its TLSA records */
	bool		 report;	/* checking it, not enforcing it */
	char		 error[TLS_ERR_LEN];
};

/* --- messages ------------------------------------------------------- */

/* tls_reason - OpenSSL's reason for the first error queued (the
 * deepest cause, such as the errno of fopen), then an empty queue */
static void
tls_reason(char *out, size_t outlen)
{
	unsigned long	 e = ERR_get_error();
	const char	*r;

	if (e == 0)
		snprintf(out, outlen, "unknown error");
	else if (ERR_SYSTEM_ERROR(e))	/* the errno of a system call */
		snprintf(out, outlen, "%s", strerror(ERR_GET_REASON(e)));
	else if ((r = ERR_reason_error_string(e)) != NULL)
		snprintf(out, outlen, "%s", r);
	else
		ERR_error_string_n(e, out, outlen);
	ERR_clear_error();
}

static void tls_fail(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* tls_fail - "what: reason", with OpenSSL's reason */
static void
tls_fail(char *err, size_t errlen, const char *fmt, ...)
{
	char	 what[TLS_ERR_LEN], why[TLS_ERR_LEN];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	tls_reason(why, sizeof(why));
	snprintf(err, errlen, "%s: %s", what, why);
}

/* tls_first_is - whether the first error queued is lib/reason */
static bool
tls_first_is(int lib, int reason)
{
	unsigned long	 e = ERR_peek_error();

	return e != 0 && ERR_GET_LIB(e) == lib && ERR_GET_REASON(e) == reason;
}

/* --- the context ----------------------------------------------------- */

/* tls_version_of - OpenSSL's number for a version as config writes it */
static int
tls_version_of(const char *name)
{
	if (strcmp(name, "TLSv1.2") == 0)
		return TLS1_2_VERSION;
	if (strcmp(name, "TLSv1.3") == 0)
		return TLS1_3_VERSION;
	return 0;
}

/* tls_ctx_protocols - the lowest and highest version listed */
static int
tls_ctx_protocols(SSL_CTX *ssl, const struct config *cfg, char *err,
    size_t errlen)
{
	int	 min = 0, max = 0;

	for (size_t i = 0; i < cfg->tls_protocols.n; i++) {
		int v = tls_version_of(cfg->tls_protocols.v[i]);

		if (v == 0) {
			snprintf(err, errlen, "tls_protocols: unknown "
			    "version %.32s", cfg->tls_protocols.v[i]);
			return -1;
		}
		if (min == 0 || v < min)
			min = v;
		if (v > max)
			max = v;
	}
	if (min == 0) {
		snprintf(err, errlen, "tls_protocols: empty");
		return -1;
	}
	if (SSL_CTX_set_min_proto_version(ssl, min) != 1 ||
	    SSL_CTX_set_max_proto_version(ssl, max) != 1) {
		tls_fail(err, errlen, "tls_protocols");
		return -1;
	}
	return 0;
}

/* tls_no_passphrase - the key must not ask for one: OpenSSL's default
 * would read it from the terminal, and block a daemon */
static int
tls_no_passphrase(char *buf, int size, int rwflag, void *asked)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(bool *)asked = true;
	return 0;
}

/* tls_ctx_files - certificate chain, its key, and the CA file */
static int
tls_ctx_files(SSL_CTX *ssl, const struct config *cfg, char *err,
    size_t errlen)
{
	const char	*cert = cfg->tls_cert;
	const char	*key = cfg->tls_key != NULL ? cfg->tls_key : cert;
	const char	*keyname = cfg->tls_key != NULL ? "tls_key" : "tls_cert";
	bool		 asked = false;

	if (SSL_CTX_use_certificate_chain_file(ssl, cert) != 1) {
		if (tls_first_is(ERR_LIB_PEM, PEM_R_NO_START_LINE)) {
			ERR_clear_error();
			snprintf(err, errlen, "tls_cert %s: no certificate "
			    "in it (PEM expected)", cert);
		} else
			tls_fail(err, errlen, "tls_cert %s", cert);
		return -1;
	}

	SSL_CTX_set_default_passwd_cb(ssl, tls_no_passphrase);
	SSL_CTX_set_default_passwd_cb_userdata(ssl, &asked);
	if (SSL_CTX_use_PrivateKey_file(ssl, key, SSL_FILETYPE_PEM) != 1) {
		if (asked) {
			ERR_clear_error();
			snprintf(err, errlen, "%s %s: the key is protected by "
			    "a passphrase, which is not supported", keyname,
			    key);
		} else if (tls_first_is(ERR_LIB_X509,
		    X509_R_KEY_VALUES_MISMATCH) ||
		    tls_first_is(ERR_LIB_X509, X509_R_KEY_TYPE_MISMATCH)) {
			ERR_clear_error();
			goto mismatch;
		} else if (tls_first_is(ERR_LIB_PEM, PEM_R_NO_START_LINE) ||
		    tls_first_is(ERR_LIB_OSSL_DECODER, ERR_R_UNSUPPORTED)) {
			/* OpenSSL 3 decoders say "unsupported" for a file
			 * with no key they know. */
			ERR_clear_error();
			snprintf(err, errlen, "%s %s: no private key in it "
			    "(PEM expected)%s", keyname, key,
			    cfg->tls_key == NULL ? "; set tls_key" : "");
		} else
			tls_fail(err, errlen, "%s %s", keyname, key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ssl) != 1) {
		ERR_clear_error();
		goto mismatch;
	}
	SSL_CTX_set_default_passwd_cb(ssl, NULL);
	SSL_CTX_set_default_passwd_cb_userdata(ssl, NULL);

	if (cfg->tls_ca_file != NULL &&
	    SSL_CTX_load_verify_locations(ssl, cfg->tls_ca_file, NULL) != 1) {
		tls_fail(err, errlen, "tls_ca_file %s", cfg->tls_ca_file);
		return -1;
	}
	return 0;

mismatch:
	if (cfg->tls_key != NULL)
		snprintf(err, errlen, "tls_key %s does not match tls_cert %s",
		    key, cert);
	else
		snprintf(err, errlen, "tls_cert %s: the private key does not "
		    "match the certificate", cert);
fail:
	/* Never leave a pointer to our stack behind. */
	SSL_CTX_set_default_passwd_cb(ssl, NULL);
	SSL_CTX_set_default_passwd_cb_userdata(ssl, NULL);
	return -1;
}

/* tls_ctx_describe_leaf - "CN=name, expires 2027-02-20" for the log */
static void
tls_ctx_describe_leaf(struct tls_ctx *t)
{
	X509		*x = SSL_CTX_get0_certificate(t->ssl);
	X509_NAME	*name;
	const ASN1_TIME	*end;
	unsigned char	*utf8 = NULL;
	char		 cn[TLS_CN_MAX + 1] = "", date[16] = "?";
	struct tm	 tm;
	int		 i, len = -1;

	if (x == NULL) {
		snprintf(t->desc, sizeof(t->desc), "no certificate");
		return;
	}
	name = X509_get_subject_name(x);
	if ((i = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) >= 0)
		len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(
		    X509_NAME_get_entry(name, i)));
	/* The name goes into a log line: printable ASCII only. */
	for (i = 0; i < len && i < TLS_CN_MAX; i++)
		cn[i] = utf8[i] >= 0x20 && utf8[i] < 0x7f ? (char)utf8[i] :
		    '?';
	cn[i] = '\0';
	OPENSSL_free(utf8);

	end = X509_get0_notAfter(x);
	if (ASN1_TIME_to_tm(end, &tm) == 1)
		strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	snprintf(t->desc, sizeof(t->desc), "CN=%s, %s %s",
	    cn[0] != '\0' ? cn : "(none)",
	    X509_cmp_current_time(end) < 0 ? "expired" : "expires", date);
	ERR_clear_error();
}

struct tls_ctx *
tls_ctx_new(const struct config *cfg, char *err, size_t errlen)
{
	struct tls_ctx	*t;

	if (cfg->tls_cert == NULL) {
		snprintf(err, errlen, "tls_cert is not set");
		return NULL;
	}
	ERR_clear_error();
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->refs = 1;
	if ((t->ssl = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_fail(err, errlen, "TLS context");
		goto fail;
	}
	if (tls_ctx_protocols(t->ssl, cfg, err, errlen) == -1)
		goto fail;
	/* TLS 1.2 only; TLS 1.3 keeps OpenSSL's suites. */
	if (SSL_CTX_set_cipher_list(t->ssl, cfg->tls_ciphers) != 1) {
		tls_fail(err, errlen, "tls_ciphers");
		goto fail;
	}
	/*
	 * No renegotiation (a client could make us work for nothing) nor
	 * compression (CRIME). An EOF without close_notify is an end like
	 * any other: SMTP has its own framing, and clients often just
	 * close after QUIT.
	 */
	SSL_CTX_set_options(t->ssl, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Writes of part of a buffer, from wherever the buffer is now;
	 * and no idle connection keeps its 34 KiB of record buffers. */
	SSL_CTX_set_mode(t->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	/* The DHE suites of the list need parameters: OpenSSL's own,
	 * sized to the certificate's key. */
	SSL_CTX_set_dh_auto(t->ssl, 1);
	/* Sessions resume only in a context of ours. */
	SSL_CTX_set_session_id_context(t->ssl,
	    (const unsigned char *)"sallyport", sizeof("sallyport") - 1);
	/* TLS 1.3: one ticket after a full handshake, not OpenSSL's two (a
	 * second is for a client that opens two connections at once; an
	 * MTA keeps one session per destination): each costs a session
	 * serialised and encrypted, and its bytes on the wire. */
	SSL_CTX_set_num_tickets(t->ssl, 1);
	if (tls_ctx_files(t->ssl, cfg, err, errlen) == -1)
		goto fail;
	tls_ctx_describe_leaf(t);
	return t;
fail:
	ERR_clear_error();
	SSL_CTX_free(t->ssl);
	free(t);
	return NULL;
}

struct tls_ctx *
tls_ctx_ref(struct tls_ctx *t)
{
	t->refs++;
	return t;
}

void
tls_ctx_unref(struct tls_ctx *t)
{
	if (t == NULL || --t->refs > 0)
		return;
	SSL_CTX_free(t->ssl);
	free(t);
}

const char *
tls_ctx_describe(const struct tls_ctx *t)
{
	return t->desc;
}

/* --- connections ------------------------------------------------------- */

struct tls_conn *
tls_conn_new(struct tls_ctx *t, int fd)
{
	struct tls_conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	ERR_clear_error();
	if ((c->ssl = SSL_new(t->ssl)) == NULL ||
	    SSL_set_fd(c->ssl, fd) != 1) {
		SSL_free(c->ssl);
		free(c);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_accept_state(c->ssl);
	c->ctx = tls_ctx_ref(t);
	return c;
}

void
tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	/* One try at a close_notify, without waiting for the peer's;
	 * never after a fatal error (OpenSSL forbids it) or before the
	 * handshake is done (there is no session to close). */
	if (!c->broken && SSL_is_init_finished(c->ssl)) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl);
	}
	ERR_clear_error();
	SSL_free(c->ssl);
	tls_ctx_unref(c->ctx);
	free(c);
}

/* tls_status - what a failed call means; `ret` is its return value and
 * `sys` the errno right after it */
static enum tls_status
tls_status(struct tls_conn *c, int ret, int sys, const char *op)
{
	char	 why[TLS_ERR_LEN - 16];	/* room for "handshake: " */

	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_EOF;
	case SSL_ERROR_SYSCALL:
		c->broken = true;
		if (ERR_peek_error() == 0) {
			if (sys == 0)
				return TLS_EOF;
			snprintf(c->error, sizeof(c->error), "%s: %s", op,
			    strerror(sys));
			return TLS_FAIL;
		}
		break;
	default:
		c->broken = true;
		break;
	}
	tls_reason(why, sizeof(why));
	if (c->verify && SSL_get_verify_result(c->ssl) != X509_V_OK) {
		/* "certificate verify failed" alone does not say what is
		 * wrong with it. */
		snprintf(c->error, sizeof(c->error), "%s: certificate not "
		    "trusted: %s", op, X509_verify_cert_error_string(
		    SSL_get_verify_result(c->ssl)));
		return TLS_FAIL;
	}
	snprintf(c->error, sizeof(c->error), "%s: %s", op, why);
	return TLS_FAIL;
}

/* --- client side -------------------------------------------------------- */

/* tls_client_ctx - a context for one outgoing connection: no checks,
 * WebPKI (verify), WebPKI checked for a report only (report), or DANE
 * (no CA at all: the TLSA records are the only trust anchors, RFC 7672
 * 3.1) */
static SSL_CTX *
tls_client_ctx(bool verify, bool report, bool dane, const char *ca_file,
    char *err, size_t errlen)
{
	SSL_CTX	*ssl;

	if ((ssl = SSL_CTX_new(TLS_client_method())) == NULL) {
		tls_fail(err, errlen, "TLS client context");
		return NULL;
	}
	SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (dane) {
		/* OpenSSL's defaults for the protocols, as for any MX: a
		 * record that matches is the authentication. */
		if (SSL_CTX_dane_enable(ssl) <= 0) {
			tls_fail(err, errlen, "DANE");
			goto fail;
		}
		SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, NULL);
		return ssl;
	}
	if (!verify && !report) {
		/* Opportunistic: anything beats plain text, so OpenSSL's
		 * defaults and no checks. */
		SSL_CTX_set_verify(ssl, SSL_VERIFY_NONE, NULL);
		return ssl;
	}
	if (verify && SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION) != 1) {
		tls_fail(err, errlen, "TLS client context");
		goto fail;
	}
	if (ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ssl, ca_file, NULL) != 1) {
			tls_fail(err, errlen, "CA file %s", ca_file);
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ssl) != 1) {
		tls_fail(err, errlen, "system CA store");
		goto fail;
	}
	/* For a report, OpenSSL still checks the chain and the name and
	 * keeps the verdict (SSL_get_verify_result) but lets the handshake
	 * go on. */
	SSL_CTX_set_verify(ssl, report ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
	    NULL);
	return ssl;
fail:
	SSL_CTX_free(ssl);
	return NULL;
}

/* tls_client_name - SNI and the name to check, on a new connection */
static int
tls_client_name(SSL *ssl, const char *name, bool verify, char *err,
    size_t errlen)
{
	unsigned char	 bin[16];
	bool		 ip = inet_pton(AF_INET, name, bin) == 1 ||
			    inet_pton(AF_INET6, name, bin) == 1;

	/* RFC 6066 3: no IP address as a server name. */
	if (!ip && SSL_set_tlsext_host_name(ssl, name) != 1) {
		tls_fail(err, errlen, "server name %.64s", name);
		return -1;
	}
	if (!verify)
		return 0;
	if (ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    name) != 1) {
			tls_fail(err, errlen, "address %.64s", name);
			return -1;
		}
		return 0;
	}
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set1_host(ssl, name) != 1) {
		tls_fail(err, errlen, "name to verify %.64s", name);
		return -1;
	}
	return 0;
}

/* tls_client_dane - the records on a new connection, and the names:
 * the reference names for DANE-TA (the base domain, and the MX host
 * name when a CNAME made them differ), none for DANE-EE (RFC 7672
 * 3.1.1, 3.2.2) */
static int
tls_client_dane(SSL *ssl, const char *name, const char *alt,
    const struct tls_tlsa *rr, size_t n, char *err, size_t errlen)
{
	size_t	 usable = 0;
	int	 rc;

	if (SSL_dane_enable(ssl, name) <= 0) {
		tls_fail(err, errlen, "DANE for %.64s", name);
		return -1;
	}
	(void)SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (alt != NULL && alt[0] != '\0' && strcasecmp(alt, name) != 0 &&
	    SSL_add1_host(ssl, alt) != 1) {
		tls_fail(err, errlen, "DANE for %.64s", alt);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		/* PKIX-TA(0) and PKIX-EE(1) would need a CA store that the
		 * SMTP client cannot agree on with the server. */
		if (rr[i].usage != 2 && rr[i].usage != 3)
			continue;
		rc = SSL_dane_tlsa_add(ssl, rr[i].usage, rr[i].selector,
		    rr[i].mtype, rr[i].data, rr[i].len);
		if (rc < 0) {
			tls_fail(err, errlen, "TLSA record %u %u %u",
			    rr[i].usage, rr[i].selector, rr[i].mtype);
			return -1;
		}
		if (rc > 0)
			usable++;
		ERR_clear_error();	/* unusable: the reason is ours */
	}
	if (usable == 0) {
		snprintf(err, errlen, "no usable TLSA record for %.64s", name);
		return -1;
	}
	return 0;
}

/* tls_client - a client connection: no checks, WebPKI (enforced, or
 * for a report), or DANE */
static struct tls_conn *
tls_client(int fd, const char *name, const char *alt, bool verify,
    bool report, const char *ca_file, const struct tls_tlsa *rr, size_t n,
    char *err, size_t errlen)
{
	struct tls_conn	*c;
	struct tls_ctx	*t;
	bool		 dane = rr != NULL;

	if ((verify || report || dane) && (name == NULL || name[0] == '\0')) {
		snprintf(err, errlen, "no name to verify the certificate "
		    "against");
		return NULL;
	}
	ERR_clear_error();
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (t = calloc(1, sizeof(*t))) == NULL) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->refs = 1;
	c->ctx = t;		/* the connection's own */
	c->verify = verify || dane;
	c->dane = dane;
	c->report = report;
	if ((t->ssl = tls_client_ctx(verify, report, dane, ca_file, err,
	    errlen)) == NULL)
		goto fail;
	if ((c->ssl = SSL_new(t->ssl)) == NULL || SSL_set_fd(c->ssl, fd) != 1) {
		tls_fail(err, errlen, "TLS connection");
		goto fail;
	}
	if (name != NULL && name[0] != '\0' &&
	    tls_client_name(c->ssl, name, verify || report, err,
	    errlen) == -1)
		goto fail;
	if (dane && tls_client_dane(c->ssl, name, alt, rr, n, err,
	    errlen) == -1)
		goto fail;
	SSL_set_connect_state(c->ssl);
	return c;
fail:
	ERR_clear_error();
	SSL_free(c->ssl);
	tls_ctx_unref(t);
	free(c);
	return NULL;
}

struct tls_conn *
tls_client_new(int fd, const char *name, bool verify, const char *ca_file,
    char *err, size_t errlen)
{
	return tls_client(fd, name, NULL, verify, false, ca_file, NULL, 0,
	    err, errlen);
}

struct tls_conn *
tls_client_report_new(int fd, const char *name, const char *ca_file,
    char *err, size_t errlen)
{
	return tls_client(fd, name, NULL, false, true, ca_file, NULL, 0, err,
	    errlen);
}

struct tls_conn *
tls_client_dane_new(int fd, const char *name, const char *alt,
    const struct tls_tlsa *rr, size_t n, char *err, size_t errlen)
{
	static const struct tls_tlsa none;

	return tls_client(fd, name, alt, false, false, NULL,
	    rr != NULL ? rr : &none,
	    rr != NULL ? n : 0, err, errlen);
}

enum tls_peer_auth
tls_conn_peer_auth(const struct tls_conn *c)
{
	if (!c->verify || !SSL_is_init_finished(c->ssl) ||
	    SSL_get_verify_result(c->ssl) != X509_V_OK)
		return TLS_PEER_NONE;
	if (c->dane)
		/* The depth of the certificate a record matched, or -1. */
		return SSL_get0_dane_authority(c->ssl, NULL, NULL) >= 0 ?
		    TLS_PEER_DANE : TLS_PEER_NONE;
	return TLS_PEER_CA;
}

void
tls_conn_strict_eof(struct tls_conn *c)
{
	SSL_clear_options(c->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
}

const char *
tls_conn_verify_report(const struct tls_conn *c)
{
	long	 v;

	if (!c->report || !SSL_is_init_finished(c->ssl))
		return NULL;
	if ((v = SSL_get_verify_result(c->ssl)) == X509_V_OK)
		return NULL;
	return X509_verify_cert_error_string(v);
}

enum tls_verify_failure
tls_conn_verify_failure(const struct tls_conn *c)
{
	if (!c->verify && !c->report)
		return TLS_VERIFY_OTHER;
	switch (SSL_get_verify_result(c->ssl)) {
	case X509_V_OK:
		return TLS_VERIFY_OTHER;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return TLS_VERIFY_EXPIRED;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return TLS_VERIFY_NAME;
	case X509_V_ERR_DANE_NO_MATCH:
		return TLS_VERIFY_NO_TLSA;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_INVALID_CA:
		return TLS_VERIFY_UNTRUSTED;
	default:
		return TLS_VERIFY_OTHER;
	}
}

/* --- both sides ---------------------------------------------------------- */

enum tls_status
tls_handshake(struct tls_conn *c)
{
	int	 ret;

	ERR_clear_error();
	errno = 0;
	if ((ret = SSL_do_handshake(c->ssl)) == 1)
		return TLS_DONE;
	return tls_status(c, ret, errno, "handshake");
}

enum tls_status
tls_read(struct tls_conn *c, void *buf, size_t len, size_t *n)
{
	int	 ret;

	*n = 0;
	ERR_clear_error();
	errno = 0;
	if ((ret = SSL_read_ex(c->ssl, buf, len, n)) == 1)
		return TLS_DONE;
	return tls_status(c, ret, errno, "read");
}

enum tls_status
tls_write(struct tls_conn *c, const void *buf, size_t len, size_t *n)
{
	int	 ret;

	*n = 0;
	if (len == 0)
		return TLS_DONE;	/* OpenSSL would call it an error */
	ERR_clear_error();
	errno = 0;
	if ((ret = SSL_write_ex(c->ssl, buf, len, n)) == 1)
		return TLS_DONE;
	return tls_status(c, ret, errno, "write");
}

bool
tls_pending(const struct tls_conn *c)
{
	return SSL_pending(c->ssl) > 0;
}

const char *
tls_conn_version(const struct tls_conn *c)
{
	return SSL_get_version(c->ssl);
}

const char *
tls_conn_cipher(const struct tls_conn *c)
{
	return SSL_get_cipher_name(c->ssl);	/* "(NONE)" before */
}

int
tls_conn_bits(const struct tls_conn *c)
{
	return SSL_get_cipher_bits(c->ssl, NULL);
}

const char *
tls_conn_error(const struct tls_conn *c)
{
	return c->error;
}
