/*
 * queue_priv - what queue.c (the directory) and spool.c (its spool
 * files) share; not for use outside src/queue.
 */
#ifndef SALLYPORT_QUEUE_PRIV_H
#define SALLYPORT_QUEUE_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include "queue/queue.h"

struct queue {
	char		*dir;
	int		 tmpfd;		/* QUEUE_DIR/tmp */
	int		 incfd;		/* QUEUE_DIR/incoming */
	int		 holdfd;	/* QUEUE_DIR/hold */
	unsigned	 removed;	/* stale spool files removed at open */
	unsigned	 entries;	/* committed entries found at open */
	unsigned	 seq;
	bool		 lazy;		/* queue_set_lazy: new spools in memory */
};

/* seterr - printf into err (errlen octets), when errlen is not 0 */
void	seterr(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif
