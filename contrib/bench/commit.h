/*
 * commit.h - what the harness of commit-bench (commit_bench.c) and its designs
 * (commit_designs.c) share; see commit_bench.c for what is measured.
 */
#ifndef COMMIT_BENCH_H
#define COMMIT_BENCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#ifdef HAVE_LIBURING
#include <liburing.h>
#endif

#define JHDR		48		/* journal record header, octets */
#define WRITER_BATCH	256		/* entries per batch, as src/queue does */
#define POOL_PER_THREAD	2		/* c: files ready per committer */

enum design { D_FILES, D_JOURNAL, D_REUSED, D_URING, D_COUNT };

/* group - leader/follower flush: one sync call for every ticket taken
 * before it began (taken once the write or rename it covers is done) */
struct group {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	uint64_t	 seq;		/* tickets handed out */
	uint64_t	 synced;	/* every ticket up to here is durable */
	bool		 busy;		/* a leader is in the sync call */
	int		 fd;
	bool		 data;		/* fdatasync, else fsync */
	uint64_t	 flushes;
};

/* entry - b: an acknowledged entry waiting for the writer */
struct entry {
	struct entry	*next;
	unsigned	 id;
	char		 data[];
};

struct run {
	enum design	 design;
	unsigned	 threads, n;
	size_t		 size;
	int		 dirfd;		/* the run's directory */
	int		 infd;		/* its incoming/ */
	int		 tmpfd;		/* its tmp/ */
	const char	*pattern;	/* the octets of every entry */
	unsigned	 next;		/* next entry to commit */
	pthread_mutex_t	 mu;		/* next, jofs */
	struct group	 g;
	uint64_t	*lat;		/* ns per entry */
	struct timespec	 start;
	uint64_t	 last_ack;	/* ns after start */
	pthread_barrier_t go;
	/* b */
	int		 jfd;
	uint64_t	 jofs;
	struct entry	*todo, **todo_tail;
	unsigned	 written;
	bool		 acks_done;
	pthread_cond_t	 todo_cv;
	uint64_t	 out_at;	/* ns after start: all in incoming/ */
	uint64_t	 held, held_max;	/* octets of entries in memory */
	/* c */
	int		*pool;		/* descriptors of ready files */
	unsigned	*pool_name;
	unsigned	 pool_len, pool_want, pool_made;
	bool		 refill_stop;
	pthread_cond_t	 pool_cv, refill_cv;
};

/* commit_bench.c */
void		 die(const char *fmt, ...)
		    __attribute__((noreturn, format(printf, 1, 2)));
void		 xlock(pthread_mutex_t *);
void		 xunlock(pthread_mutex_t *);
uint64_t	 ns_since(const struct timespec *);
void		 write_all(int fd, const char *p, size_t n, off_t off,
		    const char *what);

/* commit_designs.c: one entry committed the way of each design */
void		 group_init(struct group *, int fd, bool data);
void		 group_fini(struct group *);
void		 commit_files(struct run *, unsigned id);
void		 commit_journal(struct run *, unsigned id);
void		*writer(void *run);
int		 pool_make(struct run *, unsigned *name_no);
void		*refill(void *run);
void		 commit_reused(struct run *, unsigned id);
#ifdef HAVE_LIBURING
void		 commit_uring(struct run *, struct io_uring *, unsigned id);
bool		 uring_usable(char *why, size_t len);
#endif

#endif
