/*
 * qentry_lock - one entry changed by one process at a time.
 *
 * The queue runner delivers an entry while `sallyport --queue` may
 * hold, release, requeue, bounce or delete it. Each takes the entry's
 * lock first: an exclusive lock on one byte of queue_dir/lock, the
 * byte whose offset is the entry's id read as a number. The runner
 * holds it for a whole delivery, from loading the entry to its last
 * state line or its removal; the command for its one change. So no
 * state line is appended to an entry that has moved or gone, and no
 * recipient is delivered by two processes at once or after a bounce.
 *
 * One file for every entry, never created or removed per entry: a
 * delivered message costs no file but its own. The lock does not
 * depend on where the entry lies (`hold` and `release` rename it), and
 * an id known to no entry can be locked too (its stale state file is
 * removed under the lock). An open file description lock (F_OFD_SETLK):
 * it belongs to the open(2) that took it, so the runner's delivery
 * threads exclude each other as processes do (a POSIX F_SETLK lock is
 * the whole process's, and any close of the file drops it), and the
 * kernel drops it when its holder dies, so a crash never leaves an
 * entry locked.
 *
 * A process that pinned its queue (qentry_pin: the runner, a lock per
 * delivery) keeps the descriptors of the lock file open between locks,
 * each given back unlocked to a small pool: one open file description
 * per lock held at once, as before, but no open, check and close of
 * the file per entry. Each lock still checks that the name `lock`
 * leads to the file it locked.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue/qentry.h"
#include "queue/qentry_file.h"
#include "queue/queue_priv.h"

#define LOCK_POLL_MS	20
#define LOCK_FILE	"lock"
#define POOL_MAX	64	/* descriptors kept; more locks at once: opened */

/* The pool: every descriptor it owns, whether one is lent out, and the
 * file each was opened on (a name replaced since is seen by the check
 * of each lock). */
static struct {
	pthread_mutex_t	 lock;
	size_t		 n;
	int		 fd[POOL_MAX];
	bool		 lent[POOL_MAX];
	dev_t		 dev[POOL_MAX];
	ino_t		 ino[POOL_MAX];
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

/* pool_forked - in a child of fork: the pool's descriptors share their
 * open file descriptions, and so their locks, with the parent's, so a
 * lock the child took on one would not keep the parent out. The child
 * closes them (the parent's locks stay) and starts a pool of its own;
 * the mutex may have been held by a thread that did not come along. */
static void
pool_forked(void)
{
	size_t i;

	for (i = 0; i < POOL_MAX; i++) {
		if (i < pool.n && pool.fd[i] != -1)
			close(pool.fd[i]);
		pool.fd[i] = -1;
		pool.lent[i] = false;
	}
	pool.n = 0;
	pthread_mutex_init(&pool.lock, NULL);
}

static void
pool_init(void)
{
	(void)pthread_atfork(NULL, NULL, pool_forked);
}

/* present - does sub/ID exist? 1, 0, or -1 (errno) */
static int
present(const char *queue_dir, const char *sub, const char *id)
{
	struct stat st;
	int dfd, rc;

	if ((dfd = qentry_dir(queue_dir, sub)) == -1)
		return errno == ENOENT ? 0 : -1;
	rc = fstatat(dfd, id, &st, AT_SYMLINK_NOFOLLOW) == 0 ? 1 :
	    errno == ENOENT ? 0 : -1;
	qentry_dir_close(dfd);
	return rc;
}

/* remove_state - state/ID removed, if there (its entry is gone) */
static void
remove_state(const char *queue_dir, const char *id)
{
	int sdfd;

	if ((sdfd = qentry_dir(queue_dir, "state")) != -1) {
		(void)unlinkat(sdfd, id, 0);
		qentry_dir_close(sdfd);
	}
}

/* byte - the lock's offset for id (16 hex digits, checked): its 62 low
 * bits, so that l_start is never negative. Ids that share them differ
 * in the top two bits of their seconds, 2^30 seconds (34 years) or
 * more apart, and would only find each other busy. */
static off_t
byte(const char *id)
{
	uint64_t v = 0;
	size_t i;

	_Static_assert(sizeof(off_t) == 8, "a 64-bit off_t");
	for (i = 0; i < QUEUE_ID_LEN; i++)
		v = v << 4 | (uint64_t)(id[i] <= '9' ? id[i] - '0' :
		    id[i] - 'A' + 10);
	return (off_t)(v & ((UINT64_C(1) << 62) - 1));
}

/* take - fd locked, trying for up to wait_ms: the byte of id (an open
 * file description lock), or with old, the whole file (flock); -1 with
 * errno EWOULDBLOCK when busy past wait_ms, err said either way */
static int
take(int fd, const char *id, bool old, unsigned wait_ms, const char *path,
    char *err, size_t errlen)
{
	struct timespec pause = { 0, LOCK_POLL_MS * 1000000L };
	struct flock fl;
	unsigned waited = 0;
	int rc, saved;

	for (;;) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		fl.l_start = byte(id);
		fl.l_len = 1;
		rc = old ? flock(fd, LOCK_EX | LOCK_NB) :
		    fcntl(fd, F_OFD_SETLK, &fl);
		if (rc == 0)
			return 0;
		saved = errno == EACCES ? EWOULDBLOCK : errno;
		if (saved == EINTR)
			continue;
		if (saved == EWOULDBLOCK && waited < wait_ms) {
			nanosleep(&pause, NULL);
			waited += LOCK_POLL_MS;
			continue;
		}
		if (saved == EWOULDBLOCK)
			snprintf(err, errlen, "%s: busy: being delivered or "
			    "changed, try again", id);
		else
			snprintf(err, errlen, "lock %s: %s", path,
			    strerror(saved));
		errno = saved;
		return -1;
	}
}

/* locked - queue_dir/sub/name opened (flags) and locked as take does,
 * then checked to be still that name: its descriptor, or -1 with err
 * and errno (ENOENT: no such file; ESTALE: removed or replaced while
 * the lock was awaited, err not said) */
static int
locked(const char *queue_dir, const char *sub, const char *name, int flags,
    const char *id, bool old, unsigned wait_ms, char *err, size_t errlen)
{
	char path[QENTRY_PATH_LEN];
	int dfd, fd = -1, saved;

	if (qentry_path(path, queue_dir, sub, name, err, errlen) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((dfd = qentry_dir(queue_dir, sub)) == -1 ||
	    (fd = qentry_openin(dfd, name, flags, 0600)) == -1) {
		saved = errno;
		snprintf(err, errlen, "open %s: %s", path,
		    qentry_strerror(saved));
	} else if (take(fd, id, old, wait_ms, path, err, errlen) == -1)
		saved = errno;
	else
		saved = queue_still_named(dfd, name, fd) ? 0 : ESTALE;
	qentry_dir_close(dfd);
	if (saved != 0 && fd != -1)
		close(fd);
	errno = saved;
	return saved != 0 ? -1 : fd;
}

/* pool_take - a descriptor of the pinned queue's lock file, unlocked,
 * its slot in *slot; -1 with errno (ENOSPC: the pool is all lent). No
 * system call under the pool's mutex: its holders are the runner's
 * delivery threads, each taking a lock per message. */
static int
pool_take(int dfd, size_t *slot)
{
	struct stat st;
	size_t i, empty = POOL_MAX;
	int fd, saved;

	pthread_once(&pool_once, pool_init);
	pthread_mutex_lock(&pool.lock);
	for (i = 0; i < pool.n; i++)
		if (pool.lent[i])
			continue;
		else if (pool.fd[i] == -1)
			empty = empty < i ? empty : i;
		else {
			pool.lent[i] = true;
			*slot = i;
			fd = pool.fd[i];
			pthread_mutex_unlock(&pool.lock);
			return fd;
		}
	if (empty == POOL_MAX && pool.n < POOL_MAX)
		empty = pool.n++;
	if (empty != POOL_MAX) {
		pool.lent[empty] = true;	/* ours, still without fd: */
		pool.fd[empty] = -1;		/* matched by no pool_give */
	}
	pthread_mutex_unlock(&pool.lock);
	if (empty == POOL_MAX) {
		errno = ENOSPC;
		return -1;
	}
	if ((fd = qentry_openin(dfd, LOCK_FILE, O_RDWR, 0600)) == -1 ||
	    fstat(fd, &st) == -1) {
		saved = errno;
		if (fd != -1)
			close(fd);
		pthread_mutex_lock(&pool.lock);
		pool.lent[empty] = false;
		pthread_mutex_unlock(&pool.lock);
		errno = saved;
		return -1;
	}
	pthread_mutex_lock(&pool.lock);
	pool.fd[empty] = fd;
	pool.dev[empty] = st.st_dev;
	pool.ino[empty] = st.st_ino;
	pthread_mutex_unlock(&pool.lock);
	*slot = empty;
	return fd;
}

/* pool_give - the lent descriptor fd back, its lock released; closed
 * and its slot emptied instead with drop or when the release fails (a
 * slot never moves: its holder knows it by number). False: not one of
 * the pool's (its lock, if any, released all the same). */
static bool
pool_give(int fd, bool drop)
{
	struct flock fl;
	size_t i;
	bool gone = drop;

	/* The lent descriptor is the caller's alone until it is marked
	 * free: released first, outside the mutex. An open file
	 * description lock on a descriptor not of the pool is about to
	 * go with its close anyway. */
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
	if (!drop && fd != -1 && fcntl(fd, F_OFD_SETLK, &fl) == -1)
		gone = true;
	pthread_mutex_lock(&pool.lock);
	for (i = 0; i < pool.n; i++)
		if (pool.fd[i] == fd && pool.lent[i])
			break;
	if (i == pool.n || fd == -1) {
		pthread_mutex_unlock(&pool.lock);
		return false;
	}
	if (gone)
		pool.fd[i] = -1;
	pool.lent[i] = false;
	pthread_mutex_unlock(&pool.lock);
	if (gone)
		close(fd);	/* its lock goes with it */
	return true;
}

/* pool_purge - the descriptors not lent out closed, but those of the
 * file keep (NULL: all) */
static void
pool_purge(const struct stat *keep)
{
	int fds[POOL_MAX];
	size_t i, n = 0;

	pthread_mutex_lock(&pool.lock);
	for (i = 0; i < pool.n; i++)
		if (!pool.lent[i] && pool.fd[i] != -1 && (keep == NULL ||
		    pool.dev[i] != keep->st_dev ||
		    pool.ino[i] != keep->st_ino)) {
			fds[n++] = pool.fd[i];
			pool.fd[i] = -1;
		}
	pthread_mutex_unlock(&pool.lock);
	while (n > 0)
		close(fds[--n]);
}

/* pooled - the pinned queue's lock taken for id on a descriptor of the
 * pool, as locked() takes it on one of its own: its descriptor, or -1
 * with err and errno (ENOSPC, err not said: the pool is all lent;
 * ENOENT: no lock file; ESTALE: replaced while the lock was awaited) */
static int
pooled(const char *queue_dir, const char *id, unsigned wait_ms, char *err,
    size_t errlen)
{
	char path[QENTRY_PATH_LEN];
	struct stat st;
	size_t slot;
	int dfd, fd, saved, tries;

	/* pool.dev and .ino of a lent slot are its holder's to read */
	if (qentry_path(path, queue_dir, LOCK_FILE, NULL, err, errlen) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	dfd = qentry_dir(queue_dir, ".");	/* pinned: never -1 */
	for (tries = 0;; tries++) {
		if ((fd = pool_take(dfd, &slot)) == -1) {
			if ((saved = errno) != ENOSPC)
				snprintf(err, errlen, "open %s: %s", path,
				    qentry_strerror(saved));
			errno = saved;
			return -1;
		}
		if (take(fd, id, false, wait_ms, path, err, errlen) == -1) {
			saved = errno;
			pool_give(fd, false);
			errno = saved;
			return -1;
		}
		/* Still the file the name leads to: the pool's descriptors
		 * may be older than a file put in its place. */
		if (fstatat(dfd, LOCK_FILE, &st, AT_SYMLINK_NOFOLLOW) == -1) {
			saved = errno;
			pool_give(fd, true);
			pool_purge(NULL);
			errno = saved;		/* ENOENT: removed */
			return -1;
		}
		if (st.st_dev == pool.dev[slot] && st.st_ino == pool.ino[slot])
			return fd;
		/* Replaced: the descriptors of the old file go, and the
		 * lock is taken again on the new one, as a fresh open of
		 * each lock took it before the pool; replaced once more
		 * meanwhile, as a lock that waited while it was. */
		pool_give(fd, true);
		pool_purge(&st);
		if (tries == 1) {
			errno = ESTALE;
			return -1;
		}
	}
}

int
qentry_lock_setup(const char *queue_dir, char *err, size_t errlen)
{
	char path[QENTRY_PATH_LEN];
	int fd;

	if (qentry_path(path, queue_dir, LOCK_FILE, NULL, err, errlen) == -1)
		return -1;
	/* "." for the directory itself: the same refusals as for an
	 * entry's file (a link, a FIFO, another owner's file) */
	if ((fd = qentry_openat(queue_dir, ".", LOCK_FILE, O_RDWR | O_CREAT,
	    0600)) == -1) {
		snprintf(err, errlen, "open %s: %s", path,
		    qentry_strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

int
qentry_lock(const char *queue_dir, const char *id, unsigned wait_ms,
    char *err, size_t errlen)
{
	int fd, in, held, saved;
	bool pin;

	if (!qentry_id_valid(id)) {
		snprintf(err, errlen, "%s: not a queue id", id);
		errno = EINVAL;
		return -1;
	}
	/* Never made here: a file made while another holder kept its lock
	 * on a removed one would let both in. qentry_lock_setup makes it
	 * ("." for queue_dir itself). */
	/* A descriptor of the pool's in the runner; one of its own when
	 * the pool is all lent, and in every other process. */
	pin = qentry_pinned(queue_dir);
	fd = pin ? pooled(queue_dir, id, wait_ms, err, errlen) : -1;
	if (fd == -1 && (!pin || errno == ENOSPC))
		fd = locked(queue_dir, ".", LOCK_FILE, O_RDWR, id, false,
		    wait_ms, err, errlen);
	if (fd == -1) {
		saved = errno;
		if (saved == ENOENT || saved == ESTALE)
			snprintf(err, errlen, "%s/%s: %s", queue_dir, LOCK_FILE,
			    saved == ESTALE ? "removed or replaced while in "
			    "use: restart sallyport" : "missing (the entries' "
			    "locks: sallyport makes it when it starts; never "
			    "remove it)");
		errno = saved == ENOENT || saved == ESTALE ? EIO : saved;
		return -1;
	}
	/* Under the lock nothing moves or removes the entry: it is in
	 * incoming/ or hold/, or gone for good. */
	in = held = 0;
	if ((in = present(queue_dir, "incoming", id)) == 0)
		held = present(queue_dir, "hold", id);
	if (in == 1 || held == 1)
		return fd;
	saved = errno;
	if (in == -1 || held == -1) {
		snprintf(err, errlen, "%s/%s/%s: %s", queue_dir, in == -1 ?
		    "incoming" : "hold", id, strerror(saved));
		qentry_unlock(fd);
		errno = saved == ENOENT ? EIO : saved;
		return -1;
	}
	/* No entry: a state file of this id is stale (a crash inside
	 * qentry_remove) and goes, under the lock. */
	remove_state(queue_dir, id);
	snprintf(err, errlen, "%s: no such queue entry", id);
	qentry_unlock(fd);
	errno = ENOENT;
	return -1;
}

/*
 * The old lock, flock(2) on state/ID, taken by `sallyport --queue`
 * after qentry_lock while a runner of the program before it may still
 * run: a runner keeps the program it started with until sallyport is
 * restarted, and took only this one. Made empty if missing, as it was;
 * taken, the file must still be state/ID (a runner of the old program
 * that removed the entry removed it too, under its lock).
 */
int
qentry_lock_old(const char *queue_dir, const char *id, unsigned wait_ms,
    char *err, size_t errlen)
{
	int fd;

	if (qentry_mkdir(queue_dir, "state", err, errlen) == -1)
		return -1;
	/* ESTALE: the runner that held it removed the entry, this with it */
	if ((fd = locked(queue_dir, "state", id, O_RDONLY | O_CREAT, id, true,
	    wait_ms, err, errlen)) == -1) {
		if (errno == ESTALE || errno == ENOENT) {
			snprintf(err, errlen, "%s: no such queue entry", id);
			errno = ENOENT;
		}
		return -1;
	}
	/* An old runner takes no byte: it may have removed the entry
	 * before this file was made, which is then made for nothing. */
	if (present(queue_dir, "incoming", id) == 0 &&
	    present(queue_dir, "hold", id) == 0) {
		remove_state(queue_dir, id);
		snprintf(err, errlen, "%s: no such queue entry", id);
		close(fd);
		errno = ENOENT;
		return -1;
	}
	return fd;
}

void
qentry_unlock(int lock)
{
	if (lock != -1 && !pool_give(lock, false))
		close(lock);
}
