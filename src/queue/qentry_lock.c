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
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue/qentry.h"
#include "queue/qentry_file.h"

#define LOCK_POLL_MS	20
#define LOCK_FILE	"lock"

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

/* byte - the lock's offset for id (16 hex digits, checked): its 62 low
 * bits, so that l_start stays below OFF_MAX; ids that differ only
 * above them are 2^50 microseconds (35 years) apart */
static off_t
byte(const char *id)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < QUEUE_ID_LEN; i++)
		v = v << 4 | (uint64_t)(id[i] <= '9' ? id[i] - '0' :
		    id[i] - 'A' + 10);
	return (off_t)(v & ((UINT64_C(1) << 62) - 1));
}

/* take - the byte of id locked on fd, trying for up to wait_ms */
static int
take(int fd, const char *id, unsigned wait_ms)
{
	struct timespec pause = { 0, LOCK_POLL_MS * 1000000L };
	struct flock fl;
	unsigned waited = 0;

	for (;;) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		fl.l_start = byte(id);
		fl.l_len = 1;
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if ((errno != EAGAIN && errno != EACCES) ||
		    waited >= wait_ms) {
			if (errno == EACCES)
				errno = EWOULDBLOCK;
			return -1;
		}
		nanosleep(&pause, NULL);
		waited += LOCK_POLL_MS;
	}
}

int
qentry_lock(const char *queue_dir, const char *id, unsigned wait_ms,
    char *err, size_t errlen)
{
	char path[QENTRY_PATH_LEN];
	int fd, in, held, saved, sdfd;

	if (!qentry_id_valid(id)) {
		snprintf(err, errlen, "%s: not a queue id", id);
		errno = EINVAL;
		return -1;
	}
	if (qentry_path(path, queue_dir, LOCK_FILE, NULL, err, errlen) == -1)
		return -1;
	/* "." for the directory itself: the same refusals as for an
	 * entry's file (a link, a FIFO, another owner's file) */
	if ((fd = qentry_openat(queue_dir, ".", LOCK_FILE, O_RDWR | O_CREAT,
	    0600)) == -1) {
		saved = errno;
		snprintf(err, errlen, "open %s: %s", path,
		    qentry_strerror(saved));
		errno = saved == ENOENT ? EIO : saved;
		return -1;
	}
	if (take(fd, id, wait_ms) == -1) {
		saved = errno;
		if (saved == EWOULDBLOCK)
			snprintf(err, errlen, "%s: busy: being delivered or "
			    "changed, try again", id);
		else
			snprintf(err, errlen, "lock %s: %s", path,
			    strerror(saved));
		close(fd);
		errno = saved;
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
		close(fd);
		errno = saved == ENOENT ? EIO : saved;
		return -1;
	}
	/* No entry: a state file of this id is stale (a crash inside
	 * qentry_remove) and goes, under the lock. */
	if ((sdfd = qentry_openat(queue_dir, "state", NULL, 0, 0)) != -1) {
		(void)unlinkat(sdfd, id, 0);
		close(sdfd);
	}
	snprintf(err, errlen, "%s: no such queue entry", id);
	close(fd);
	errno = ENOENT;
	return -1;
}

void
qentry_unlock(int lock)
{
	if (lock != -1)
		close(lock);
}
