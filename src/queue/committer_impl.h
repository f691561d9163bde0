/*
 * committer_impl - what the committer's files share: committer.c (the
 * loop's half, the files method's pool), committer_journal.c (the
 * journal method) and committer_job.c (below both: the jobs and the
 * files method's steps). Private to them.
 */
#ifndef SALLYPORT_COMMITTER_IMPL_H
#define SALLYPORT_COMMITTER_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "queue/committer.h"

/* Worker threads at most: enough for the disk to serve many fsyncs at
 * once (on ext4 over virtio 16 reach about three times the commits of
 * one); the caller shares them among its workers. */
#define COMMIT_THREADS	16
#define COMMIT_STACK	(512 * 1024)	/* fsync, rename, a log line */
/* journal: entries written out per syncfs, at most; a batch is gathered
 * for up to COMMIT_LINGER_MS (by default) after its first entry was
 * submitted, so that its syncs are shared (doc/queue.md, "A write-out
 * that waits for a bigger batch") */
#define COMMIT_BATCH_MAX	256
#define COMMIT_LINGER_MS	20

struct journal;

struct job {
	struct spool	*spool;		/* ours until the job is freed */
	commit_cb	*cb;
	void		*arg;
	int		 status;
	struct timespec	 submitted;	/* for the commit latency */
	uint64_t	 ticket;	/* journal: its record's */
	bool		 answered;	/* cb has run */
	bool		 materialize;	/* journal: after cb, to be written out */
	bool		 written;	/* journal: renamed in by the materializer */
	bool		 in_queue;	/* durable in incoming/ or hold/ */
	struct job	*next;
};

/* A singly linked FIFO with O(1) append. */
struct joblist {
	struct job	*head;
	struct job	**tail;
};

struct committer {
	struct ev_loop	*loop;
	struct queue	*queue;
	published_cb	*publish;	/* the runner is told */
	void		*publish_arg;
	ev_async	 wake;		/* thread -> loop: jobs are done */
	pthread_t	 threads[COMMIT_THREADS];
	size_t		 nthreads;	/* started */
	pthread_mutex_t	 lock;		/* guards everything below */
	pthread_cond_t	 cond;		/* todo grew, or stopping */
	pthread_cond_t	 mcond;		/* journal: ready grew, or stopping */
	pthread_cond_t	 idle;		/* done grew or jobs were freed */
	struct joblist	 todo;		/* submitted, not yet taken */
	struct joblist	 published;	/* files: renamed, dir not synced */
	struct joblist	 done;		/* for the loop's callbacks */
	struct joblist	 ready;		/* journal: acknowledged, for the
					 * materializer */
	unsigned long	 inflight;	/* submitted, not yet freed */
	bool		 dir_syncing;	/* a worker is fsyncing incoming/ */
	bool		 draining;	/* committer_free is waiting */
	bool		 stopping;
	/* journal */
	struct journal	*journal;
	uint64_t	 journal_size;
	unsigned	 linger_ms;	/* commit_opts' or COMMIT_LINGER_MS */
	unsigned	 backlog;	/* acknowledged, not yet written out */
	unsigned	 nready;	/* of them, in ready */
	bool		 hurry;		/* an append waits for every record to
					 * be retired: no gathering */
	bool		 stalled;	/* writing them out fails for now */
	/* Nothing more is written out or retired until a restart replays
	 * the journal: a syncfs failed (the data of the files it covered
	 * may be gone from memory and never reached the disk), or a batch
	 * was given up at stop (retiring a later one would skip it). New
	 * mail goes by files meanwhile. */
	bool		 wedged;
	bool		 keep_journal;	/* records left unretired at the end */
	int		 syncfd_commit;	/* syncfs descriptors, one per thread */
	int		 syncfd_write;
};

void	joblist_init(struct joblist *);
void	joblist_push(struct joblist *, struct job *);
struct job *joblist_pop(struct joblist *);	/* NULL: empty */
void	joblist_append(struct joblist *to, struct joblist *from);
/* Durable now: the time since the hand-off, for the metrics. */
void	committer_observe(const struct job *);
/* Hand jobs to the loop; called with the lock held. */
void	committer_finish(struct committer *, struct joblist *);
void	committer_finish_one(struct committer *, struct job *);
/* Fsync one job's file and rename it into incoming/ (hold/): j->status. */
void	committer_commit_one(struct job *);
/* One fsync of incoming/ for the jobs from first on, and one of hold/
 * when one of them was published there: then each is in_queue and
 * observed; on failure the entries are taken back out and fail. */
void	committer_sync_dirs(struct committer *, struct job *first);
/* One job by the files method, start to end (the journal's fallback):
 * j->status and j->in_queue set, observed. */
void	committer_files_one(struct committer *, struct job *);
/* Block every signal in the calling thread: the loop's business. */
void	committer_thread_init(void);

/* committer_journal.c: replay the journal NAME a previous process of
 * this slot left (whichever method this one commits by): 0, or -1
 * (logged) when it cannot, and then this process must not take mail. */
int	committer_journal_replay(struct committer *, const char *name);
/* Make the journal and start its two threads;
 * 0, 1 when the journal could not be made (logged: serve by files), or
 * -1 (logged; the caller stops the threads started and
 * committer_journal_stop). */
int	committer_journal_start(struct committer *,
	    const struct commit_opts *);
/* Close the journal, removed unless records were left unretired:
 * after every job is freed and the threads are stopped. */
void	committer_journal_stop(struct committer *);
void	committer_journal_close_fds(struct committer *);

#endif
