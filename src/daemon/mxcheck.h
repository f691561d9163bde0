/*
 * mxcheck - the checks of mail from others on an mx listener, run on the
 * event loop for one transaction: SPF of MAIL FROM (or of HELO for a
 * null sender) from the moment MAIL is accepted, DKIM verification of
 * every signature as the message streams in, its keys looked up at the
 * end of DATA, then DMARC for the From: domain; the results become one
 * Authentication-Results field and, per spf_policy and dmarc_policy, a
 * refusal or a quarantine mark (mxcheck_verdict.c).
 *
 * Each stage has its time budget (spf_timeout, dkim_timeout,
 * dmarc_timeout): past it, that check is a temperror. Nothing here
 * blocks; every lookup goes through dns/dns.c on the loop.
 */
#ifndef SALLYPORT_MXCHECK_H
#define SALLYPORT_MXCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "smtp/smtp.h"

struct config;
struct dmarc_from;
struct dns;
struct ev_loop;
struct mxcheck;
struct orgdomain;

struct mxcheck_params {
	struct ev_loop		*loop;
	struct dns		*dns;
	const struct config	*cfg;
	const struct orgdomain	*psl;		/* NULL: no DMARC */
	const struct sockaddr	*client;
	unsigned long		 sid;		/* for log lines */
};

/* The answer: for the SPF wait (mxcheck_new's `wait`) and the end. */
typedef void mxcheck_cb(void *arg, const struct smtp_check_result *);

/* The checks of one transaction, or NULL when the configuration asks
 * for none (*start is SMTP_CHECK_NONE). When spf_policy is enforce,
 * *start is SMTP_CHECK_WAIT and spf_cb answers once SPF is done, from
 * the loop (never before this returns). Out of memory, the checks are skipped
 * (logged): mail is not refused for it. */
struct mxcheck	*mxcheck_new(const struct mxcheck_params *, const char *sender,
		    const char *helo, mxcheck_cb *spf_cb, void *arg,
		    enum smtp_check_start *start);
/* Message octets, as received. */
void		 mxcheck_data(struct mxcheck *, const char *, size_t);
/* The message is complete; `from` (the engine's, valid until
 * mxcheck_free) holds its From: fields. cb answers once, maybe before
 * this returns. */
void		 mxcheck_end(struct mxcheck *, const struct dmarc_from *from,
		    mxcheck_cb *cb, void *arg);
/* Stop and free; no callback runs after. NULL does nothing. */
void		 mxcheck_free(struct mxcheck *);

/* The self-test's question, without DNS: what the configured policies
 * make of a forged sender of the outside `domain` from `ip` (text): an
 * SPF fail at MAIL, and at the end of DATA a DMARC failure of a domain
 * publishing p=reject. Each reply is the refusal, or "" when the mail
 * goes on. */
void		 mxcheck_forged(const struct config *, const char *ip,
		    const char *domain, char *spf_reply, size_t spflen,
		    char *dmarc_reply, size_t dmarclen);

#endif
