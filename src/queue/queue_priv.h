/*
 * queue_priv - what queue.c (the directory), spool.c (its spool files),
 * spool_commit.c (their commit) and the journal share; not for use
 * outside src/queue. queue_fs.c has the helpers below that the journal's
 * replay needs too (queue_open calls it: it must not call queue.c).
 */
#ifndef SALLYPORT_QUEUE_PRIV_H
#define SALLYPORT_QUEUE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "queue/queue.h"

struct queue {
	char		*dir;
	int		 tmpfd;		/* QUEUE_DIR/tmp */
	int		 incfd;		/* QUEUE_DIR/incoming */
	int		 holdfd;	/* QUEUE_DIR/hold */
	unsigned	 removed;	/* stale spool files removed at open */
	unsigned	 entries;	/* committed entries found at open */
	unsigned	 recovered;	/* entries made from journals at open */
	unsigned	 seq;
	/* queue_ids_own: the slot in the last three digits of this
	 * process's ids (-1: none, every id checked against incoming/ and
	 * hold/), and the newest id's time in microseconds, made or found
	 * (atomic: a lazy spool may take a fresh id off the event loop) */
	int		 id_slot;
	pid_t		 id_pid;	/* the owner: not a child forked since */
	uint64_t	 id_last;
	bool		 lazy;		/* queue_set_lazy: new spools in memory */
};

#define SPOOL_BUFSIZE	65536

struct spool {
	struct queue	*q;
	int		 fd;
	char		 id[QUEUE_ID_LEN + 1];
	/* Its name in tmp/: the id, or ID.new for the second file of a
	 * rewrite, which only ever gets the id by spool_rewrite_done. */
	char		 name[QUEUE_ID_LEN + 5];
	bool		 published;
	bool		 held;		/* published into hold/ */
	bool		 lazy;		/* of a lazy queue: no file reserves
					 * its id */
	bool		 mem;		/* the whole entry is in buf, from
					 * offset 0; no file yet (fd -1) */
	uint64_t	 idoff;		/* offset of the id line's value */
	int		 error;		/* first write error (errno), sticky */
	uint64_t	 msgsize;	/* octets after the envelope */
	uint64_t	 pos;		/* octets put so far (file offset) */
	uint64_t	 body;		/* where spool_write's octets start */
	uint64_t	 slot;		/* where the prepend slot starts */
	size_t		 room;		/* its size; 0: none */
	size_t		 used;		/* octets of fields at its end */
	uint64_t	 tlsreq;	/* offset of the tlsrequired value; 0:
					 * none (a REQUIRETLS envelope) */
	size_t		 len;		/* bytes in buf */
	char		 buf[SPOOL_BUFSIZE];
};

/* queue_fs.c. seterr - printf into err (errlen octets), when errlen is
 * not 0 */
void	seterr(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* pwrite all n octets at off: 0, or -1 with errno (EIO for a write
 * that makes no progress). */
int	queue_pwrite_all(int fd, const void *buf, size_t n, uint64_t off);
/* queue_still_named - is dirfd/name (no link followed) the file open
 * as fd? A file another process removed or replaced is not. */
bool	queue_still_named(int dirfd, const char *name, int fd);
/* Open (creating, mode 0700) dir/name as a directory: the fd, or -1
 * with err. */
int	queue_subdir_open(const char *dir, const char *name, char *err,
	    size_t errlen);
/* A new queue id of no slot: seconds, microseconds, and *seq (moved on,
 * atomically) mixed with the process id so that processes seldom
 * collide, in the last three digits with QUEUE_ID_NOSLOT set. Its
 * uniqueness is the caller's to enforce (a look in incoming/ and hold/,
 * O_EXCL, RENAME_NOREPLACE). queue_id_format: the id of microsecond us
 * since the epoch with the last three digits low. queue_id_time: the
 * microsecond a name that is a queue id stands for; false for any other
 * name. */
#define QUEUE_ID_NOSLOT	0x800
void	queue_id_make(unsigned *seq, char id[QUEUE_ID_LEN + 1]);
/* This process's id, asked once since the last fork. */
pid_t	queue_id_pid(void);
void	queue_id_format(uint64_t us, unsigned low, char id[QUEUE_ID_LEN + 1]);
bool	queue_id_time(const char *name, uint64_t *us);

/* spool.c, for spool_commit.c. spool_flush: the buffer written out (a
 * spool in memory: nothing to do); spool_tofile: a spool in memory gets
 * its file in tmp/, a fresh id if the name is taken there; spool_fresh_id:
 * a lazy spool's flushed file takes a fresh id, its name in `where` taken.
 * Errors stick to the spool; -1 with errno. */
int	spool_flush(struct spool *);
int	spool_tofile(struct spool *);
int	spool_fresh_id(struct spool *, const char *where);

#endif
