/*
 * policy - who may send what where.
 *
 * Rules for a recipient:
 *  - `postmaster` without a domain is always ours (RFC 5321 4.5.1);
 *  - a client that is trusted (mynetworks) or authenticated may send
 *    anywhere;
 *  - anyone else only to local_domains and relay_domains, and never
 *    through a routing trick in the local part (`%`, `!`, an inner `@`)
 *    or a source route: old MTAs would forward such mail to the routed
 *    domain, and a later hop might still do so.
 * An address literal is ours only when local_domains lists it in
 * brackets, which the plain domain comparison gives for free.
 * Once the relay rules pass, a recipient in local_domains must be one
 * the recipient table knows (recipients, aliases, mailbox_users,
 * catchall, recipient_delimiter: rcpt_table.h), from any client: an unknown user is refused now rather than bounced later
 * to a sender who may be forged. With no table configured (an open
 * one) every local part that can be a mailbox name is known (see
 * aliases.c); the runner asks the same question of the same unquoted
 * local part before it delivers (policy_local_user).
 * The bare `postmaster` is stored as postmaster@hostname, as Postfix
 * appends @$myorigin to an unqualified address, and that one address
 * is always delivered here (policy_local_rcpt), even when hostname is
 * not in local_domains: it must never leave for another host.
 *
 * A recipient at srs_domain in SRS form is a bounce to a sender we
 * forwarded for: reversed to that sender when its hash and timestamp
 * verify (from any client, the one relay the scheme intends), refused
 * with 550 5.7.1 when forged, expired or malformed (auth/srs.h).
 *
 * Sender checks, for clients neither trusted nor authenticated, each
 * with its switch: a domain is required, it must be a real one (not
 * localhost, not a single label), and it must exist in DNS (MX, A or
 * AAAA), so that a bounce could reach it. A UTF-8 domain is looked up
 * by its IDNA2008 A-labels; one that has none (not valid IDNA) is
 * refused with 553 5.1.7 under the same switch. A DNS failure is temporary
 * (451), never a reason to refuse for good. The null sender is always
 * accepted: bounces must get through (RFC 5321 4.5.5).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "conf/aliases.h"
#include "conf/rcpt_table.h"
#include "conf/sendermap.h"
#include "auth/srs.h"
#include "lib/idna.h"
#include "lib/netaddr.h"
#include "smtp/policy.h"
#include "smtp/smtp_reply.h"

#define R_ROUTING_DENIED	"550 5.7.1 Source routing and %, ! or @ in the local part are not allowed"
#define R_NEED_DOMAIN		"550 5.1.3 Recipient address must have a domain"
#define R_USER_UNKNOWN		"550 5.1.1 User unknown"
#define R_AUTH_REQUIRED		"530 5.7.0 Authentication required"
#define R_ENCRYPTION_REQUIRED	"538 5.7.11 Encryption required for requested authentication mechanism"
#define R_SENDER_NO_DOMAIN	"553 5.5.4 Domain name required"
#define R_SENDER_NOT_FQDN	"553 5.5.4 Real domain name required"
#define R_SENDER_UNKNOWN	"501 5.1.8 Sender domain must exist"
#define R_SENDER_BAD_IDNA	"553 5.1.7 Sender domain is not a valid internationalized domain name (IDNA2008)"
#define R_SENDER_DNS_TEMP	"451 4.1.8 Sender domain could not be verified, try again later"

bool
policy_trusted(const struct config *cfg, const struct sockaddr *sa)
{
	return cidr_match_any(cfg->mynetworks, cfg->nmynetworks, sa);
}

bool
policy_client_denied(const struct config *cfg, const struct sockaddr *sa)
{
	return cidr_match_any(cfg->client_deny, cfg->nclient_deny, sa);
}

/* ascii_form - `domain` as the configuration spells domains: a UTF-8
 * one (an SMTPUTF8 address) by its A-labels, as Postfix compares them,
 * so that the UTF-8 spelling of xn--bcher-kva.example is one of ours
 * when that is; NULL when it has no valid A-label form */
static const char *
ascii_form(const char *domain, char *buf, size_t len)
{
	const char *why;

	if (!idna_is_utf8(domain))
		return domain;
	return idna_to_dns(domain, buf, len, &why) == 0 ? buf : NULL;
}

static bool
in_list(const struct strlist *l, const char *domain)
{
	char buf[ADDR_DOMAIN_MAX + 1];
	size_t i;

	if ((domain = ascii_form(domain, buf, sizeof(buf))) == NULL)
		return false;
	for (i = 0; i < l->n; i++)
		if (domain_equal(l->v[i], domain))
			return true;
	return false;
}

bool
policy_local_domain(const struct config *cfg, const char *domain)
{
	return in_list(&cfg->local_domains, domain);
}

bool
policy_relay_domain(const struct config *cfg, const char *domain)
{
	return in_list(&cfg->relay_domains, domain);
}

bool
policy_local_user(const struct config *cfg, const char *local,
    const char *domain)
{
	/* Handed to qmail-queue, an open table is qmail's to judge: every
	 * local part goes on, as qmail-smtpd took them. */
	if (cfg->local_delivery != NULL &&
	    strncmp(cfg->local_delivery, "qmail-queue:", 12) == 0 &&
	    alias_table_open(cfg->alias_table))
		return true;
	/* A configuration built without the tables (none loaded): the
	 * shorthand alone, as it stands. */
	if (cfg->rcpt_table == NULL)
		return alias_table_known(cfg->alias_table, local);
	return rcpt_known(cfg->rcpt_table, local, domain);
}

bool
policy_local_rcpt(const struct config *cfg, const char *local,
    const char *domain)
{
	char buf[ADDR_DOMAIN_MAX + 1];
	const char *d = ascii_form(domain, buf, sizeof(buf));

	return policy_local_domain(cfg, domain) ||
	    (d != NULL && strcasecmp(local, "postmaster") == 0 &&
	    domain_equal(d, cfg->hostname));
}

int
policy_rcpt(const struct config *cfg, const struct policy_client *c,
    const struct address *a, const char **reply)
{
	bool free_to_relay = c->trusted || c->authenticated, local;

	if (a->flags & ADDR_F_NODOMAIN) {
		if (!(a->flags & (ADDR_F_ROUTING | ADDR_F_QUOTED)) &&
		    strcasecmp(a->local, "postmaster") == 0)
			return 0;
		*reply = (a->flags & ADDR_F_ROUTING) && !free_to_relay ?
		    R_RELAY_DENIED : R_NEED_DOMAIN;
		return -1;
	}
	local = policy_local_domain(cfg, a->domain);
	if (!free_to_relay && !local && !policy_relay_domain(cfg, a->domain)) {
		*reply = R_RELAY_DENIED;
		return -1;
	}
	if (!free_to_relay && (a->flags & (ADDR_F_ROUTING | ADDR_F_ROUTE)) &&
	    !cfg->allow_untrusted_routing) {
		*reply = R_ROUTING_DENIED;
		return -1;
	}
	if (local && !policy_local_user(cfg, a->local, a->domain)) {
		*reply = R_USER_UNKNOWN;
		return -1;
	}
	return 0;
}

int
policy_srs_rcpt(const struct config *cfg, const struct address *a,
    struct address *rev, const char **why)
{
	char out[ADDR_PATH_MAX + 1];
	const char *perr;
	enum srs_result r;
	size_t n;

	if (cfg->srs_secrets.n == 0 || cfg->srs_domain == NULL ||
	    (a->flags & (ADDR_F_NODOMAIN | ADDR_F_QUOTED)) ||
	    !domain_equal(a->domain, cfg->srs_domain))
		return 0;
	r = srs_reverse((const char *const *)cfg->srs_secrets.v,
	    cfg->srs_secrets.n, a->local, time(NULL), out, sizeof(out));
	if (r == SRS_NOT_SRS)
		return 0;
	n = strlen(out);
	/* What it reverses to must be an address the queue can hold, and
	 * no routing trick: we signed it as a sender, not as a route. */
	if (r == SRS_OK && (address_parse(out, n, rev, &perr) != (int)n ||
	    (rev->flags & (ADDR_F_NULL | ADDR_F_NODOMAIN | ADDR_F_ROUTING |
	    ADDR_F_ROUTE))))
		r = SRS_MALFORMED;
	if (r != SRS_OK) {
		*why = srs_strerror(r);
		return -1;
	}
	if (policy_local_domain(cfg, rev->domain) &&
	    !policy_local_user(cfg, rev->local, rev->domain)) {
		*why = "SRS address of an unknown user";
		return -1;
	}
	return 1;
}

int
policy_rcpt_qualify(const struct config *cfg, struct address *a)
{
	if (!(a->flags & ADDR_F_NODOMAIN))
		return 0;
	if (strlen(cfg->hostname) >= sizeof(a->domain))
		return -1;
	snprintf(a->local, sizeof(a->local), "postmaster");
	snprintf(a->domain, sizeof(a->domain), "%s", cfg->hostname);
	a->flags &= ~(unsigned)ADDR_F_NODOMAIN;
	return 0;
}

/* not_fqdn - localhost is nobody's real domain, and a single label is
 * not a domain anyone else can reach, unless it is one of ours */
static bool
not_fqdn(const struct config *cfg, const char *domain)
{
	if (strcasecmp(domain, "localhost") == 0 ||
	    strcasecmp(domain, "localhost.localdomain") == 0)
		return true;
	return strchr(domain, '.') == NULL &&
	    !policy_local_domain(cfg, domain);
}

int
policy_sender(const struct config *cfg, const struct policy_client *c,
    const struct address *a, char *lookup, size_t lookuplen,
    const char **reply)
{
	const char *why;

	lookup[0] = '\0';
	if ((a->flags & ADDR_F_NULL) || c->trusted || c->authenticated)
		return 0;
	if (a->flags & ADDR_F_NODOMAIN) {
		if (!cfg->reject_unqualified_sender)
			return 0;
		*reply = R_SENDER_NO_DOMAIN;
		return -1;
	}
	if (a->flags & ADDR_F_LITERAL)
		return 0;
	if (not_fqdn(cfg, a->domain)) {
		if (!cfg->reject_non_fqdn_sender)
			return 0;
		*reply = R_SENDER_NOT_FQDN;
		return -1;
	}
	if (policy_local_domain(cfg, a->domain))
		return 0;
	if (!cfg->reject_unknown_sender_domain)
		return 0;
	/* A UTF-8 domain (SMTPUTF8) is looked up by its A-labels; one
	 * that has none is no name anybody could answer mail from. */
	if (idna_to_dns(a->domain, lookup, lookuplen, &why) == -1) {
		lookup[0] = '\0';
		*reply = R_SENDER_BAD_IDNA;
		return -1;
	}
	return 0;
}

const char *
policy_sender_dns(enum dns_result r)
{
	switch (r) {
	case DNS_FOUND:
		return NULL;
	case DNS_NOT_FOUND:
		return R_SENDER_UNKNOWN;
	case DNS_TEMPFAIL:
		break;
	}
	return R_SENDER_DNS_TEMP;
}

const char *
policy_mail(const struct policy_client *c)
{
	if (c->role != ROLE_MX && c->role != ROLE_LOCAL && !c->authenticated)
		return R_AUTH_REQUIRED;
	return NULL;
}

const char *
policy_auth(const struct policy_client *c)
{
	return c->tls ? NULL : R_ENCRYPTION_REQUIRED;
}

/* Postfix enforces smtpd_forbid_bare_newline on every client but those
 * of smtpd_forbid_bare_newline_exclusions ($mynetworks). The clients
 * that send bare LF are local scripts and submission programs (curl -T
 * of a text file), so normalize is for the clients we already trust:
 * mynetworks, as Postfix's exclusions, and logged-in users; an MX that
 * must take bare LF from anyone says bare_newline_clients = all. */
bool
policy_bare_newline(const struct config *cfg, const struct policy_client *c)
{
	if (strcmp(cfg->bare_newline, "normalize") != 0)
		return false;
	return c->trusted || c->authenticated ||
	    strcmp(cfg->bare_newline_clients, "all") == 0;
}

bool
policy_auth_possible(const struct config *cfg)
{
	return cfg->tls_cert != NULL;	/* no TLS, no AUTH: policy_auth */
}

bool
policy_from_login(const struct config *cfg, const char *user,
    const char *local, const char *domain)
{
	return sender_map_owns(cfg->sender_map, user, local, domain);
}

bool
policy_sender_login(const struct config *cfg, const char *user,
    const struct address *a)
{
	const char *at = strchr(user, '@');
	char buf[ADDR_DOMAIN_MAX + 1];

	if (a->flags & ADDR_F_NULL)
		return true;
	if (a->flags & ADDR_F_NODOMAIN)
		return false;
	if (cfg->sender_map != NULL) {
		const char *d = ascii_form(a->domain, buf, sizeof(buf));

		return d != NULL && sender_map_owns(cfg->sender_map, user,
		    a->local, d);
	}
	if (at)
		return strlen(a->local) == (size_t)(at - user) &&
		    strncasecmp(a->local, user, (size_t)(at - user)) == 0 &&
		    domain_equal(a->domain, at + 1);
	return strcasecmp(a->local, user) == 0 &&
	    policy_local_domain(cfg, a->domain);
}
