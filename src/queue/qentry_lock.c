/*
 * qentry_lock - one entry changed by one process at a time.
 *
 * The queue runner delivers an entry while `sallyport --queue` may
 * hold, release, requeue, bounce or delete it. Each takes the entry's
 * lock first: an exclusive flock(2) on state/ID, the one name an entry
 * keeps wherever it lies (incoming/ or hold/). The runner holds it for
 * a whole delivery, from loading the entry to its last state line or
 * its removal; the command for its one change. So no state line is
 * appended to an entry that has moved or gone, and no recipient is
 * delivered by two processes at once or after a bounce.
 *
 * A file lock rather than a lock file: the kernel drops it when its
 * holder dies, so a crash never leaves an entry locked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue/qentry.h"
#include "queue/qentry_file.h"

#define LOCK_POLL_MS	20
#define OPEN_TRIES	100	/* opens of a state file removed meanwhile */

/* present - does sub/ID exist? 1, 0, or -1 (errno) */
static int
present(const char *queue_dir, const char *sub, const char *id)
{
	struct stat st;
	int dfd, rc;

	if ((dfd = qentry_openat(queue_dir, sub, NULL, 0, 0)) == -1)
		return errno == ENOENT ? 0 : -1;
	rc = fstatat(dfd, id, &st, AT_SYMLINK_NOFOLLOW) == 0 ? 1 :
	    errno == ENOENT ? 0 : -1;
	close(dfd);
	return rc;
}

/* same_file - is state/ID (in sdfd, state/) still the file fd? 1, 0,
 * or -1 */
static int
same_file(int sdfd, const char *id, int fd)
{
	struct stat a, b;

	if (fstat(fd, &a) == -1)
		return -1;
	if (fstatat(sdfd, id, &b, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* take - flock fd, trying for up to wait_ms */
static int
take(int fd, unsigned wait_ms)
{
	struct timespec pause = { 0, LOCK_POLL_MS * 1000000L };
	unsigned waited = 0;

	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK || waited >= wait_ms)
			return -1;
		nanosleep(&pause, NULL);
		waited += LOCK_POLL_MS;
	}
}

/* state_dir - state/ opened (made first if missing): its descriptor,
 * or -1 with err */
static int
state_dir(const char *queue_dir, char *err, size_t errlen)
{
	char path[QENTRY_PATH_LEN];
	int dfd, saved;

	if ((dfd = qentry_openat(queue_dir, "state", NULL, 0, 0)) != -1)
		return dfd;
	if (errno == ENOENT) {
		if (qentry_mkdir(queue_dir, "state", err, errlen) == -1)
			return -1;
		if ((dfd = qentry_openat(queue_dir, "state", NULL, 0, 0)) != -1)
			return dfd;
	}
	saved = errno;
	if (qentry_path(path, queue_dir, "state", NULL, err, errlen) == 0)
		snprintf(err, errlen, "open %s: %s", path,
		    qentry_strerror(saved));
	errno = saved;
	return -1;
}

int
qentry_lock(const char *queue_dir, const char *id, unsigned wait_ms,
    char *err, size_t errlen)
{
	char path[QENTRY_PATH_LEN];
	int fd, sdfd, same, in, held, saved, tries;

	if (!qentry_id_valid(id)) {
		snprintf(err, errlen, "%s: not a queue id", id);
		errno = EINVAL;
		return -1;
	}
	if (qentry_path(path, queue_dir, "state", id, err, errlen) == -1 ||
	    (sdfd = state_dir(queue_dir, err, errlen)) == -1)
		return -1;
	/* ENOENT despite O_CREAT: the file opened was removed before it
	 * was checked (its holder removed the entry, or a stale one went):
	 * a new open makes a file of our own. */
	for (tries = 0; (fd = qentry_openin(sdfd, id, O_RDONLY | O_CREAT,
	    0600)) == -1 && errno == ENOENT && tries < OPEN_TRIES; tries++)
		continue;
	if (fd == -1) {
		saved = errno;
		snprintf(err, errlen, "open %s: %s", path,
		    qentry_strerror(saved));
		close(sdfd);
		errno = saved == ENOENT ? EIO : saved;
		return -1;
	}
	if (take(fd, wait_ms) == -1) {
		saved = errno;
		if (saved == EWOULDBLOCK)
			snprintf(err, errlen, "%s: busy: being delivered or "
			    "changed, try again", id);
		else
			snprintf(err, errlen, "lock %s: %s", path,
			    strerror(saved));
		close(fd);
		close(sdfd);
		errno = saved;
		return -1;
	}
	/* The holder before us may have removed the entry, state/ID with
	 * it: we hold a lock on a name that is gone. */
	same = same_file(sdfd, id, fd);
	in = held = 0;
	if (same == 1 && (in = present(queue_dir, "incoming", id)) == 0)
		held = present(queue_dir, "hold", id);
	if (in == 1 || held == 1) {
		close(sdfd);
		return fd;
	}
	saved = errno;
	if (same == -1 || in == -1 || held == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(saved));
		close(fd);
		close(sdfd);
		errno = saved == ENOENT ? EIO : saved;
		return -1;
	}
	/* No entry: the state file is ours (just made) or stale (a crash
	 * inside qentry_remove); either way it goes, under the lock. */
	if (same == 1)
		(void)unlinkat(sdfd, id, 0);
	snprintf(err, errlen, "%s: no such queue entry", id);
	close(fd);
	close(sdfd);
	errno = ENOENT;
	return -1;
}

void
qentry_unlock(int lock)
{
	if (lock != -1)
		close(lock);
}
