/*
 * dsn - delivery status notifications (RFC 3464): a multipart/report
 * with a human part, message/delivery-status, and the original headers,
 * from <> to the envelope sender, committed to the queue like any
 * accepted message before the recipients are marked bounced.
 */
#ifndef SALLYPORT_DSN_H
#define SALLYPORT_DSN_H

#include <stddef.h>

#include "queue/qentry.h"
#include "queue/queue.h"

struct dsn_failure {
	size_t		 rcpt;		/* index in e->rcpts */
	const char	*status;	/* "5.1.1" */
	const char	*diagnostic;	/* "smtp; 550 5.1.1 no such user" */
	const char	*remote_mta;	/* "dns; mx.example.org" or NULL */
};

/* Queue the bounce for e's failures. Never for a null sender (returns
 * 0 and queues nothing). id_out gets the new entry's id. */
int	dsn_queue(struct queue *, const char *hostname, const struct qentry *e,
	    int body_fd, const struct dsn_failure *, size_t nfail,
	    char id_out[QUEUE_ID_LEN + 1], char *err, size_t errlen);

/* `sallyport --queue bounce`: the DSN returning entry e to its sender
 * now, recipients rcpts[0..n) (indexes into e->rcpts) failed with
 * Status 5.0.0 and `text` as the reason, committed to the queue like
 * any bounce (the runner delivers it), from the configuration's
 * hostname. Nothing for a null sender (id_out ""). 0, or -1 with err.
 * A queuectl_dsn_fn (queue/queuectl.h). */
struct config;
int	dsn_return(const struct config *, const struct qentry *e, const size_t *rcpts, size_t n,
	    const char *text, char id_out[QUEUE_ID_LEN + 1], char *err,
	    size_t errlen);

#endif
