/*
 * smtp_sign - DKIM signing of our own mail in the engine, while DATA
 * streams: the message (dot-unstuffed, as spooled) goes to the signer,
 * which keeps the header (bounded) and hashes the body on the fly, and
 * to the From: scanner; at the end the From: domain picks the keys
 * (config_dkim_keys) and each makes a DKIM-Signature field for the
 * host's spool_prepend. No I/O: the keys were loaded with the
 * configuration.
 */
#include <stdlib.h>
#include <string.h>

#include "auth/dkim_from.h"
#include "auth/dkim_sign.h"
#include "queue/queue.h"
#include "smtp/smtp_sign.h"

#define SIGN_KEYS_MAX	8	/* signatures on one message */
/* Room in the queue entry for one signature: a 4096-bit RSA signature
 * with its usual h= is about 1 KB; a header with many signed fields
 * makes h= longer. */
#define SIGN_ROOM_PER_KEY	4096

struct smtp_sign {
	struct dkim_sign	*ds;
	struct dkim_from	 from;
	int			 failed;	/* the header was too large */
};

struct smtp_sign *
smtp_sign_start(const struct config *cfg, bool ours, size_t *room)
{
	struct smtp_sign *sg;
	size_t n;

	*room = 0;
	if (!ours || cfg->ndkim_sign == 0)
		return NULL;
	if ((sg = calloc(1, sizeof(*sg))) == NULL)
		return NULL;
	if ((sg->ds = dkim_sign_new(cfg->dkim_sign_max_header,
	    DKIM_MAX_FIELDS)) == NULL) {
		free(sg);
		return NULL;
	}
	dkim_from_init(&sg->from);
	n = cfg->ndkim_sign < SIGN_KEYS_MAX ? cfg->ndkim_sign : SIGN_KEYS_MAX;
	*room = n * SIGN_ROOM_PER_KEY;
	if (*room > QUEUE_PREPEND_MAX)
		*room = QUEUE_PREPEND_MAX;
	return sg;
}

void
smtp_sign_feed(struct smtp_sign *sg, const char *data, size_t len)
{
	if (sg->failed)
		return;
	dkim_from_feed(&sg->from, data, len);
	if (dkim_sign_feed(sg->ds, data, len) == -1)
		sg->failed = 1;
}

int
smtp_sign_finish(struct smtp_sign *sg, const struct config *cfg,
    uint64_t now, struct buf *out, char *what, size_t whatlen)
{
	const struct dkim_sign_key *keys[SIGN_KEYS_MAX];
	struct dkim_signer *signer;
	char domain[256];
	const char *why;
	size_t n, i, at;
	int len;

	what[0] = '\0';
	if (sg->failed || dkim_sign_end(sg->ds) == -1) {
		snprintf(what, whatlen, "header too large to sign");
		return -1;
	}
	if (dkim_from_domain(&sg->from, domain, sizeof(domain), &why) == -1) {
		snprintf(what, whatlen, "%s", why);
		return -1;
	}
	if ((n = config_dkim_keys(cfg, domain, keys, SIGN_KEYS_MAX)) == 0)
		return 0;	/* not one of ours: nothing to say */
	len = snprintf(what, whatlen, "d=%s s=", keys[0]->domain);
	for (i = 0; i < n; i++) {
		at = out->len;
		if ((signer = dkim_signer_new(keys[i]->domain, keys[i]->selector,
		    keys[i]->pkey, &why)) == NULL ||
		    dkim_sign_field(sg->ds, signer, now, 0, out, &why) == -1) {
			dkim_signer_free(signer);
			out->len = at;
			snprintf(what, whatlen, "d=%s s=%s: %s", keys[i]->domain,
			    keys[i]->selector, why);
			return -1;
		}
		dkim_signer_free(signer);
		if (len >= 0 && (size_t)len < whatlen)
			len += snprintf(what + len, whatlen - (size_t)len,
			    "%s%s", i ? "," : "", keys[i]->selector);
	}
	return (int)n;
}

void
smtp_sign_free(struct smtp_sign *sg)
{
	if (sg == NULL)
		return;
	dkim_sign_free(sg->ds);
	free(sg);
}
