/*
 * tlsrpt_msg - one TLS-RPT report as a message (RFC 8460 5.3): a
 * multipart/report; report-type="tlsrpt" of a few words and the JSON
 * report gzip'd as application/tlsrpt+gzip, with the TLS-Report-Domain
 * and TLS-Report-Submitter fields and the RFC's Subject, committed to
 * the queue like any accepted message (as a DSN is). RFC 8460 3 asks
 * that the report be DKIM-signed by the reporting domain: when a
 * dkim_sign key covers its From: domain it is, as it is written, by the
 * signing mail from our users gets at reception (smtp_sign), so the
 * octets signed are the octets queued.
 */
#ifndef SALLYPORT_TLSRPT_MSG_H
#define SALLYPORT_TLSRPT_MSG_H

#include <stddef.h>
#include <time.h>

#include "conf/config.h"
#include "queue/queue.h"

struct tlsrpt_msg {
	const char	*hostname;	/* ours: the submitter, the Message-ID */
	const char	*from;		/* envelope sender and From: */
	char *const	*rcpts;		/* the rua mailto: addresses */
	size_t		 nrcpts;
	const char	*domain;	/* the policy domain, A-labels */
	const char	*report_id;
	time_t		 start, end;	/* the report's date-range */
	const char	*json;		/* the report */
	size_t		 json_len;
	const struct config *sign;	/* its dkim_sign keys; NULL: unsigned */
};

/* What became of a report message. */
struct tlsrpt_queued {
	char		 id[QUEUE_ID_LEN + 1];	/* its queue id */
	int		 signatures;	/* DKIM-Signature fields on it; 0: no
					 * key covers From:, -1: not signable */
	char		 dkim[256];	/* which keys signed, or why not */
};

/* The gzip (RFC 1952) form of in[0..len), malloc'd, in *out: 0, or -1
 * (out of memory, a zlib error). */
int	tlsrpt_gzip(const void *in, size_t len, unsigned char **out,
	    size_t *outlen);

/* Compose, sign (m->sign) and commit the report message; *out says
 * its id and its signing. 0, or -1 with err (a report that cannot be
 * signed is still queued, unsigned: out->signatures -1). */
int	tlsrpt_msg_queue(struct queue *, const struct tlsrpt_msg *m,
	    struct tlsrpt_queued *out, char *err, size_t errlen);

#endif
