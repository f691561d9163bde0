/*
 * tls_cert - a certificate chain file looked at rather than served: its
 * names, when the first certificate expires, the SHA-256 of its public
 * key (the data of a DANE-EE TLSA record "3 1 1"), whether a host name
 * is among its names, and whether the chain verifies against a CA
 * store. For the deployment doctor (selftest/doctor_tls.c); the server
 * side is tls.c's.
 */
#ifndef SALLYPORT_TLS_CERT_H
#define SALLYPORT_TLS_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define TLS_CERT_NAMES_MAX	32	/* subjectAltName DNS names kept */

struct tls_cert;

/* The chain in the PEM file `path` (the leaf first, as tls_cert holds
 * it). NULL with a message. */
struct tls_cert	*tls_cert_load(const char *path, char *err, size_t errlen);
void		 tls_cert_free(struct tls_cert *);
/* The leaf's notAfter (UTC). */
time_t		 tls_cert_not_after(const struct tls_cert *);
/* The leaf's DNS names (subjectAltName; the CN when it has none),
 * printable ASCII, at most TLS_CERT_NAMES_MAX: the count. */
size_t		 tls_cert_names(const struct tls_cert *,
		    char out[][256], size_t max);
/* Does the leaf carry host (RFC 6125: a wildcard stands for one whole
 * left-most label)? */
bool		 tls_cert_has_name(const struct tls_cert *, const char *host);
/* Does the chain verify for a TLS server, now, against ca_file (NULL:
 * the system store)? 0, or -1 with why ("certificate has expired"). */
int		 tls_cert_verify(const struct tls_cert *, const char *ca_file,
		    char *why, size_t whylen);
/* The SHA-256 of the leaf's SubjectPublicKeyInfo in upper-case hex
 * (65 bytes with the NUL): 0, or -1. */
int		 tls_cert_spki_sha256(const struct tls_cert *, char hex[65]);

#endif
