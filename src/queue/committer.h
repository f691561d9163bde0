/*
 * committer - makes queue entries durable off the event loop, by one of
 * two methods (doc/queue.md, "Life of a message"):
 *
 * COMMIT_FILES: a pool of worker threads each takes one job at a time:
 * fsync the file, rename it into incoming/. Renamed jobs wait until a
 * worker takes every one renamed so far and fsyncs incoming/ once for
 * all of them (group commit); a job counts as durable only after its
 * own file fsync and a directory fsync begun after its rename.
 *
 * COMMIT_JOURNAL: a commit thread appends each entry to the journal
 * (queue/journal.h) and fdatasyncs once for all that arrived meanwhile:
 * durable then. A materializer thread later writes the entries out into
 * incoming/ in batches and retires their records.
 *
 * The loop is told through an ev_async and runs each job's callback on
 * its own thread, so a client is answered only after its own entry is
 * durable.
 */
#ifndef SALLYPORT_COMMITTER_H
#define SALLYPORT_COMMITTER_H

#include <ev.h>
#include <stdint.h>

#include "queue/queue.h"

struct committer;

/* status: 0 durable, -1 failed (already logged). Runs on the loop. */
typedef void commit_cb(void *arg, int status);
/* An entry (not a held one) is now in incoming/, for the runner: runs
 * on the loop, after its commit_cb (files: at once; journal: once the
 * entry's file is written out). */
typedef void published_cb(void *arg, const char *id);

enum commit_method {
	COMMIT_FILES,		/* fsync each file, rename, fsync incoming/ */
	COMMIT_JOURNAL,		/* queue/journal.h: a record, then the file */
};

struct commit_opts {
	enum commit_method method;
	unsigned	 nthreads;	/* files: the pool's size, 1 to 16 */
	const char	*journal_name;	/* journal: QUEUE_DIR/journal/NAME */
	uint64_t	 journal_size;
	unsigned	 linger_ms;	/* journal: how long a write-out
					 * gathers its batch; 0: the default,
					 * COMMIT_LINGER_MS (20) */
	published_cb	*published;	/* may be NULL */
	void		*published_arg;
};

/* For COMMIT_JOURNAL the queue is made lazy (queue_set_lazy) and a
 * journal left by this name's previous owner is replayed first; should
 * the journal not be made, the files method serves instead (logged). */
struct committer *committer_new(struct ev_loop *, struct queue *,
		    const struct commit_opts *);
/* The committer owns sp from here on and frees it (after cb, or later
 * once its file is written out). */
void		 committer_submit(struct committer *, struct spool *,
		    commit_cb *, void *arg);
/* Finish every job (running their callbacks here), stop the threads;
 * journal: every acknowledged entry written out first, and the journal
 * removed. */
void		 committer_free(struct committer *);

#endif
