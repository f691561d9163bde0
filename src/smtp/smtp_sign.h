/*
 * smtp_sign - DKIM signing of our own mail while DATA streams
 * (smtp_sign.c), for the engine.
 */
#ifndef SALLYPORT_SMTP_SIGN_H
#define SALLYPORT_SMTP_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "lib/buf.h"

struct smtp_sign;

/* A signing for a message from an authenticated or trusted client
 * (ours); NULL when there is nothing to sign with, or no memory. *room:
 * the octets the signatures may take in the queue entry. */
struct smtp_sign *smtp_sign_start(const struct config *, bool ours,
		    size_t *room);
/* The next message octets, as spooled (dot-unstuffed, CRLF). */
void		 smtp_sign_feed(struct smtp_sign *, const char *, size_t);
/* End of message: the DKIM-Signature fields for the From: domain's
 * keys appended to out. Returns how many (0: the domain has no key), or
 * -1 when the message cannot be signed; what says which keys signed,
 * or why not (for the log). */
int		 smtp_sign_finish(struct smtp_sign *, const struct config *,
		    uint64_t now, struct buf *out, char *what, size_t whatlen);
void		 smtp_sign_free(struct smtp_sign *);

#endif
