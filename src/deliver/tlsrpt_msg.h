/*
 * tlsrpt_msg - one TLS-RPT report as a message (RFC 8460 5.3): a
 * multipart/report; report-type="tlsrpt" of a few words and the JSON
 * report gzip'd as application/tlsrpt+gzip, with the TLS-Report-Domain
 * and TLS-Report-Submitter fields and the RFC's Subject, committed to
 * the queue like any accepted message (as a DSN is).
 */
#ifndef SALLYPORT_TLSRPT_MSG_H
#define SALLYPORT_TLSRPT_MSG_H

#include <stddef.h>
#include <time.h>

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
};

/* The gzip (RFC 1952) form of in[0..len), malloc'd, in *out: 0, or -1
 * (out of memory, a zlib error). */
int	tlsrpt_gzip(const void *in, size_t len, unsigned char **out,
	    size_t *outlen);

/* Compose and commit the report message. id_out gets its queue id.
 * 0, or -1 with err. */
int	tlsrpt_msg_queue(struct queue *, const struct tlsrpt_msg *,
	    char id_out[QUEUE_ID_LEN + 1], char *err, size_t errlen);

#endif
