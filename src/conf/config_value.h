/*
 * config_value - the values of sallyport.conf, one parser per kind.
 *
 * Numbers with units, switches, domain names and address literals,
 * paths, user names, TLS versions and ciphers, SASL mechanisms and
 * local parts: each is checked and written in canonical form here, so
 * that config.c only has to say which key takes which kind (listen
 * lines, networks, servers, delivery targets and the smarthost are in
 * config_addr.h). Every parser returns 0, or -1 with a message in err that
 * quotes the bad value and leaves out the key's name. The *_norm ones
 * share one signature: the canonical text goes to out.
 */
#ifndef SALLYPORT_CONFIG_VALUE_H
#define SALLYPORT_CONFIG_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "lib/netaddr.h"

#define CV_LINE_MAX	4096		/* bytes per line, newline excluded:
					 * no value or list item is longer */
#define CV_DOMAIN_MAX	253		/* RFC 1035, without the final dot */
#define CV_LOCALPART_MAX 64		/* RFC 5321 4.5.3.1.1 */
#define CV_QUOTE_MAX	64		/* bytes of a bad value quoted back */
#define CV_QBUF		(CV_QUOTE_MAX + 8)	/* room for cv_quote */

/* The units a number may carry; a bare number is in the first one. */
enum cv_units {
	CV_UNITS_PLAIN,		/* none */
	CV_UNITS_SIZE,		/* bytes; K, M or G */
	CV_UNITS_TIME,		/* seconds; s, m, h or d */
};

/* cv_quote - a value as "text" for a message, marked if cut */
const char	*cv_quote(const char *in, char *out, size_t outlen);
/* cv_isblank - a blank between words: space or tab */
bool		 cv_isblank(int c);
/* cv_next_item - next item of a list separated by commas and/or blanks,
 * copied into item (CV_LINE_MAX + 1 bytes); NULL at the end */
const char	*cv_next_item(const char *s, char *item, size_t itemlen);

/* cv_number_parse - digits and an optional unit, within min..max */
int	cv_number_parse(const char *val, enum cv_units, uint64_t min,
	    uint64_t max, uint64_t *out, char *err, size_t errlen);
/* cv_number_format - v in the largest unit that divides it exactly */
void	cv_number_format(uint64_t v, enum cv_units, char *out, size_t outlen);

/* cv_domain_norm - a domain name, lower case, without its final dot */
int	cv_domain_norm(const char *in, char *out, size_t outlen, char *err,
	    size_t errlen);
/* cv_maildomain_norm - a domain name, or an address literal such as
 * [192.0.2.1] or [IPv6:2001:db8::1], lower case */
int	cv_maildomain_norm(const char *in, char *out, size_t outlen,
	    char *err, size_t errlen);
/* cv_bool_parse - yes/no, true/false, on/off or 1/0, in any case */
int	cv_bool_parse(const char *val, bool *out, char *err, size_t errlen);
/* cv_bool_name - "yes" or "no" */
const char	*cv_bool_name(bool);
/* cv_path_norm - an absolute path, copied */
int	cv_path_norm(const char *in, char *out, size_t outlen, char *err,
	    size_t errlen);
/* cv_user_norm - a name that could be in passwd, copied */
int	cv_user_norm(const char *in, char *out, size_t outlen, char *err,
	    size_t errlen);

/* cv_tls_protocol_norm - "TLSv1.2" or "TLSv1.3" in any case, written
 * as OpenSSL names them; older versions are refused as obsolete */
int	cv_tls_protocol_norm(const char *in, char *out, size_t outlen,
	    char *err, size_t errlen);
/* cv_ciphers_norm - an OpenSSL cipher list, in the characters such a
 * list is made of (whether OpenSSL knows the names is tls.c's check) */
int	cv_ciphers_norm(const char *in, char *out, size_t outlen, char *err,
	    size_t errlen);
/* cv_sasl_mech_norm - a SASL mechanism name (RFC 4422 3.1), upper case */
int	cv_sasl_mech_norm(const char *in, char *out, size_t outlen,
	    char *err, size_t errlen);
/* cv_pwcheck_norm - "auxprop" or "saslauthd", lower case */
int	cv_pwcheck_norm(const char *in, char *out, size_t outlen, char *err,
	    size_t errlen);
/* cv_sasl_backend_norm - "cyrus" or "dovecot", lower case */
int	cv_sasl_backend_norm(const char *in, char *out, size_t outlen,
	    char *err, size_t errlen);

/* cv_bare_newline_norm - "reject" or "normalize", lower case */
int	cv_bare_newline_norm(const char *in, char *out, size_t outlen,
	    char *err, size_t errlen);
/* cv_auth_policy_norm - "off", "header" or "enforce" (spf_policy,
 * dmarc_policy); cv_dkim_policy_norm - "off" or "header" */
int	cv_auth_policy_norm(const char *in, char *out, size_t outlen,
	    char *err, size_t errlen);
int	cv_dkim_policy_norm(const char *in, char *out, size_t outlen,
	    char *err, size_t errlen);
/* cv_bare_newline_clients_norm - "trusted" or "all", lower case */
int	cv_bare_newline_clients_norm(const char *in, char *out,
	    size_t outlen, char *err, size_t errlen);

/* cv_smarthost_tls_norm - "required", "opportunistic", "none" or "dane" */
int	cv_smarthost_tls_norm(const char *in, char *out, size_t outlen,
	    char *err, size_t errlen);
/* cv_mime_8bit_downgrade_norm - "convert" or "bounce" */
int	cv_mime_8bit_downgrade_norm(const char *in, char *out, size_t outlen,
	    char *err, size_t errlen);
/* cv_queue_commit_norm - "journal" or "files" */
int	cv_queue_commit_norm(const char *in, char *out, size_t outlen,
	    char *err, size_t errlen);
/* cv_localpart_norm - a mailbox or alias name: a dot-atom of letters,
 * digits, '.', '-', '_' and '+' (safe as a path component), lower
 * case */
int	cv_localpart_norm(const char *in, char *out, size_t outlen,
	    char *err, size_t errlen);

#endif
