/*
 * tls - OpenSSL behind a small interface: a server context loaded from
 * the configuration, non-blocking TLS on a connected socket, and the
 * client side for delivery (STARTTLS towards another server).
 *
 * Nothing outside tls.c includes an OpenSSL header. A context is
 * reference counted: a reload makes a new one, connections keep the
 * one they started with.
 */
#ifndef SALLYPORT_TLS_H
#define SALLYPORT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "conf/config.h"

struct tls_ctx;
struct tls_conn;

enum tls_status {
	TLS_DONE,		/* the operation completed */
	TLS_WANT_READ,		/* try again when the socket is readable */
	TLS_WANT_WRITE,		/* try again when the socket is writable */
	TLS_EOF,		/* the peer closed the connection */
	TLS_FAIL,		/* error: see tls_conn_error() */
};

/* Load certificate chain, key, protocols, ciphers (and CA file) as
 * cfg says. NULL with a message when cfg has no tls_cert or anything
 * is wrong (unreadable, key does not match the certificate, ...). */
struct tls_ctx	*tls_ctx_new(const struct config *cfg, char *err, size_t errlen);
struct tls_ctx	*tls_ctx_ref(struct tls_ctx *);
void		 tls_ctx_unref(struct tls_ctx *);
/* "CN=mail.example.org, expires 2027-02-20", for the reload log line. */
const char	*tls_ctx_describe(const struct tls_ctx *);

/* Server side of TLS on a connected non-blocking socket. */
struct tls_conn	*tls_conn_new(struct tls_ctx *, int fd);
void		 tls_conn_free(struct tls_conn *);
enum tls_status	 tls_handshake(struct tls_conn *);
/*
 * Client side of TLS on a connected non-blocking socket, with a context
 * of its own (freed with the connection). name goes out as SNI (unless
 * it is an IP address); with verify, the server's certificate must
 * chain to ca_file (NULL: the system store) and carry name (a host
 * name, or an IP address). Without verify, any certificate will do.
 * Drive the handshake with tls_handshake. NULL with a message.
 */
struct tls_conn	*tls_client_new(int fd, const char *name, bool verify,
		    const char *ca_file, char *err, size_t errlen);
/*
 * Client side of opportunistic TLS whose certificate is checked but not
 * enforced (an MTA-STS policy in testing mode, RFC 8461 5): the checks
 * of tls_client_new with verify (a chain to ca_file or the system
 * store, and name), while the handshake goes on whatever they find;
 * tls_conn_verify_report says afterwards. Protocols as without verify.
 * NULL with a message (ca_file unreadable, ...).
 */
struct tls_conn	*tls_client_report_new(int fd, const char *name,
		    const char *ca_file, char *err, size_t errlen);
/*
 * One TLSA record (RFC 6698 2.1) for tls_client_dane_new: usage 2
 * (DANE-TA) or 3 (DANE-EE), selector 0 (certificate) or 1 (public
 * key), matching type 0 (the data itself), 1 (SHA-256), 2 (SHA-512).
 */
struct tls_tlsa {
	unsigned char		 usage;
	unsigned char		 selector;
	unsigned char		 mtype;
	const unsigned char	*data;
	size_t			 len;
};
/*
 * Client side of TLS authenticated by DANE (RFC 7672), with OpenSSL's
 * own matching: the server's chain must match one of the n records.
 * name is the TLSA base domain: SNI and, for a DANE-TA match, a name
 * the certificate may carry; alt (NULL, or the MX host name where a
 * CNAME led to another base domain) is accepted as well, as RFC 7672
 * 3.2.2 asks; a DANE-EE match ignores names and dates (3.1.1). Records OpenSSL
 * cannot use, and PKIX-TA(0) and PKIX-EE(1) (unusable for SMTP, 3.1.3),
 * are skipped: NULL with a message when none is left.
 */
struct tls_conn	*tls_client_dane_new(int fd, const char *name,
		    const char *alt, const struct tls_tlsa *, size_t n,
		    char *err, size_t errlen);

/* How the server of a client connection was authenticated. */
enum tls_peer_auth {
	TLS_PEER_NONE,		/* not checked */
	TLS_PEER_CA,		/* a chain to a trusted CA, and the name */
	TLS_PEER_DANE,		/* a TLSA record matched */
};
/* After a completed handshake. TLS_PEER_NONE for a connection made by
 * tls_client_report_new: its check was not enforced. */
enum tls_peer_auth tls_conn_peer_auth(const struct tls_conn *);
/* After a completed handshake of tls_client_report_new's: NULL when the
 * certificate passed, else why not ("certificate has expired");
 * tls_conn_verify_failure names the kind. NULL for other connections. */
const char	*tls_conn_verify_report(const struct tls_conn *);

/* Why a client handshake failed on the server's certificate (or, for
 * tls_client_report_new's, why it would have). */
enum tls_verify_failure {
	TLS_VERIFY_OTHER,	/* not the certificate, or another reason */
	TLS_VERIFY_EXPIRED,	/* expired, or not yet valid */
	TLS_VERIFY_NAME,	/* valid, but not for the name */
	TLS_VERIFY_UNTRUSTED,	/* no chain to a trusted CA */
	TLS_VERIFY_NO_TLSA,	/* no TLSA record matched */
};
enum tls_verify_failure tls_conn_verify_failure(const struct tls_conn *);
/* From now on the end of the connection without TLS's close_notify is
 * TLS_FAIL, not TLS_EOF: for a reply that ends with the connection,
 * which anyone on the path could otherwise cut short (RFC 9112 9.8). */
void		 tls_conn_strict_eof(struct tls_conn *);

/* Read or write; *n is the byte count when TLS_DONE. */
enum tls_status	 tls_read(struct tls_conn *, void *, size_t, size_t *n);
enum tls_status	 tls_write(struct tls_conn *, const void *, size_t, size_t *n);
/* Bytes already decrypted and waiting inside OpenSSL. */
bool		 tls_pending(const struct tls_conn *);
/* After the handshake: "TLSv1.3", "TLS_AES_256_GCM_SHA384", 256. */
const char	*tls_conn_version(const struct tls_conn *);
const char	*tls_conn_cipher(const struct tls_conn *);
int		 tls_conn_bits(const struct tls_conn *);
/* Why the last operation failed, for a log line. */
const char	*tls_conn_error(const struct tls_conn *);

#endif
