/*
 * dsn_return - the bounce of `sallyport --queue bounce`: an entry sent
 * back to its sender now, by the administrator's choice, with the same
 * DSN (dsn.c) the runner queues for a permanent failure.
 *
 * It lives here and not in queue/queuectl.c because the report is the
 * delivery layer's (tests/check_layers.py: queue never calls deliver);
 * main.c hands it to queuectl_command, which calls it under the entry's
 * lock and then records the recipients bounced.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/config.h"
#include "deliver/dsn.h"
#include "queue/qentry.h"
#include "queue/queue.h"

#define RETURN_STATUS	"5.0.0"		/* RFC 3463: other, undefined */

int
dsn_return(const struct config *cfg, const struct qentry *e,
    const size_t *rcpts, size_t n, const char *text,
    char id_out[QUEUE_ID_LEN + 1], char *err, size_t errlen)
{
	const char *queue_dir = cfg->queue_dir;
	struct dsn_failure *f;
	struct queue *q;
	char *diag;
	size_t i, len;
	int fd, rc;

	id_out[0] = '\0';
	if (e->sender == NULL || e->sender[0] == '\0' || n == 0)
		return 0;	/* never a bounce for a bounce */
	len = strlen(text) + 32;
	if ((f = calloc(n, sizeof(*f))) == NULL ||
	    (diag = malloc(len)) == NULL) {
		free(f);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(diag, len, "X-Sallyport; %s", text);
	for (i = 0; i < n; i++) {
		f[i].rcpt = rcpts[i];
		f[i].status = RETURN_STATUS;
		f[i].diagnostic = diag;
		f[i].remote_mta = NULL;
	}
	rc = -1;
	if ((fd = qentry_open_body(queue_dir, e)) == -1)
		snprintf(err, errlen, "%s: cannot read its message: %s",
		    e->id, qentry_strerror(errno));
	else if ((q = queue_attach(queue_dir, err, errlen)) != NULL) {
		rc = dsn_queue(q, cfg->hostname, e, fd, f, n, id_out, err, errlen);
		queue_close(q);
	}
	if (fd != -1)
		close(fd);
	free(diag);
	free(f);
	return rc;
}
