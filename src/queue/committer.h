/*
 * committer - makes spool files durable off the event loop.
 *
 * A pool of worker threads each takes one job at a time: fsync the
 * file, rename it into incoming/. Renamed jobs wait until a worker
 * takes every one renamed so far and fsyncs incoming/ once for all of
 * them (group commit); a job counts as durable only after its own file
 * fsync and a directory fsync begun after its rename. The loop is told
 * through an ev_async and runs each job's callback on its own thread,
 * so a client is answered only after its own entry is durable.
 */
#ifndef SALLYPORT_COMMITTER_H
#define SALLYPORT_COMMITTER_H

#include <ev.h>

#include "queue/queue.h"

struct committer;

/* status: 0 durable, -1 failed (already logged). Runs on the loop. */
typedef void commit_cb(void *arg, int status);

/* nthreads: the pool's size, 1 to 16. */
struct committer *committer_new(struct ev_loop *, struct queue *,
		    unsigned nthreads);
void		 committer_submit(struct committer *, struct spool *,
		    commit_cb *, void *arg);
/* Finish every job (running their callbacks here), stop the threads. */
void		 committer_free(struct committer *);

#endif
