/*
 * policy - pure decisions: is this client trusted, may this recipient
 * be accepted from it. Relay is decided here and nowhere else, from
 * the client facts and the recipient as the address parser saw it.
 */
#ifndef SALLYPORT_POLICY_H
#define SALLYPORT_POLICY_H

#include <stdbool.h>
#include <sys/socket.h>

#include "smtp/address.h"
#include "conf/config.h"
#include "dns/dns.h"

struct policy_client {
	bool		 trusted;	/* address in mynetworks */
	bool		 authenticated;
	enum listen_role role;
	bool		 tls;		/* the session is inside TLS */
};

/* Is the client address in mynetworks? */
bool	policy_trusted(const struct config *, const struct sockaddr *);
/* Is the client address in client_deny? Such a client gets 554 instead
 * of the greeting (RFC 5321 3.1). */
bool	policy_client_denied(const struct config *, const struct sockaddr *);

/* Is the domain one of local_domains (or relay_domains)? Case and one
 * trailing dot are ignored. */
bool	policy_local_domain(const struct config *, const char *domain);
bool	policy_relay_domain(const struct config *, const char *domain);

/* Sender checks for MAIL FROM. Returns -1 with *reply to refuse;
 * otherwise 0, with `lookup` set to the name to ask DNS about (its
 * A-label form for a UTF-8 domain) when the answer depends on whether
 * the sender's domain exists (then policy_sender_dns), or to "". */
int	policy_sender(const struct config *, const struct policy_client *,
	    const struct address *sender, char *lookup, size_t lookuplen,
	    const char **reply);
/* The verdict once DNS has answered: NULL to accept, or the reply. */
const char *policy_sender_dns(enum dns_result);

/* May this client start a transaction (MAIL)? NULL, or the reply:
 * submission roles need AUTH. */
const char *policy_mail(const struct policy_client *);
/* May this client authenticate now? NULL, or the reply: never before
 * TLS, so that no password crosses the wire in clear. */
const char *policy_auth(const struct policy_client *);
/* May any session of cfg ever be offered AUTH? Only inside TLS
 * (policy_auth), so only with a certificate: an instance without one
 * has no use for SASL and nothing to say about it. */
bool	policy_auth_possible(const struct config *);
/* With sender_login_map or sender_login_check: may `user` send as
 * `sender`? The map, when there is one, decides alone (sendermap.h);
 * else a user name with @ owns that address and a bare name owns
 * name@D for each local domain D. The null sender is anyone's, as
 * Postfix's reject_sender_login_mismatch does not judge it: a user's
 * mail client may send a delivery or read notification (RFC 8098). */
bool	policy_sender_login(const struct config *, const char *user,
	    const struct address *sender);

/* May this client end message lines with a bare LF (stored as CRLF)?
 * Only with bare_newline = normalize, and then for trusted or
 * authenticated clients unless bare_newline_clients = all. */
bool	policy_bare_newline(const struct config *,
	    const struct policy_client *);

/* With sender_login_map: may `user` write local@domain (the domain by
 * its A-labels) in From:? */
bool	policy_from_login(const struct config *, const char *user,
	    const char *local, const char *domain);

/* Is local@domain (local unquoted) a recipient of our local domains:
 * the one predicate asked at RCPT and again before local delivery, so
 * that no recipient gets 250 and then a bounce. The recipient table
 * decides (rcpt_known); with local_delivery = qmail-queue and no table,
 * qmail does, and every local part is accepted. */
bool	policy_local_user(const struct config *, const char *local,
	    const char *domain);

/* Is "local@domain" delivered here rather than sent on: a local domain,
 * or postmaster@hostname, where the bare postmaster goes (RFC 5321
 * 4.5.1)? Asked by the queue runner. */
bool	policy_local_rcpt(const struct config *, const char *local,
	    const char *domain);

/* May this recipient be accepted? Returns 0, or -1 with *reply set to
 * a complete reply line (code, enhanced code, text). */
int	policy_rcpt(const struct config *, const struct policy_client *,
	    const struct address *rcpt, const char **reply);

/* A recipient at srs_domain in SRS form (with srs_secret set), asked
 * before policy_rcpt: 0 when it is none (the usual rules apply); 1 when
 * it is signed and fresh, with the address it stands for in *rev, which
 * is taken whoever the client is (the scheme's one relay: back to a
 * sender we forwarded for); -1 when forged, expired or malformed, with
 * why (a phrase for R_SRS_REFUSED). */
int	policy_srs_rcpt(const struct config *, const struct address *rcpt,
	    struct address *rev, const char **why);

/* After policy_rcpt accepted it: the bare postmaster, the only
 * recipient without a domain it lets through, becomes
 * postmaster@hostname, as Postfix qualifies it with @$myorigin
 * (RFC 5321 4.5.1: it is this host's postmaster). Other addresses are
 * left alone. -1 if hostname does not fit. */
int	policy_rcpt_qualify(const struct config *, struct address *);

#endif
