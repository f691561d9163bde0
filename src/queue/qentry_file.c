/*
 * qentry_file - the files of a queue entry opened safely: the paths
 * under queue_dir, and an open that follows no symbolic link below
 * queue_dir and takes only a regular file with no other name. Reading
 * (qentry.c) and updating (qentry_update.c) an entry go through here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/dirsync.h"
#include "queue/qentry.h"
#include "queue/qentry_file.h"

bool
qentry_id_valid(const char *id)
{
	size_t i;

	for (i = 0; i < QUEUE_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'A' && id[i] <= 'F')))
			return false;
	return id[QUEUE_ID_LEN] == '\0';
}

/* entry_path - queue_dir/sub/id, or sub alone without id */
int
qentry_path(char *out, const char *dir, const char *sub, const char *id,
    char *err, size_t errlen)
{
	int n;

	if (id)
		n = snprintf(out, QENTRY_PATH_LEN, "%s/%s/%s", dir, sub, id);
	else
		n = snprintf(out, QENTRY_PATH_LEN, "%s/%s", dir, sub);
	if (n < 0 || n >= QENTRY_PATH_LEN) {
		snprintf(err, errlen, "%s: path too long", dir);
		return -1;
	}
	return 0;
}

/* Our errno values for a queue file refused by entry_check. */
#define QE_NOTREG	EMEDIUMTYPE	/* a FIFO, a socket, a device */
#define QE_LINKED	EMLINK		/* other hard links to it */
#define QE_OWNER	EPERM		/* neither the queue's owner's nor root's */

/* entry_check - what is wrong with the file fd, opened in the directory
 * dfd, as a queue file; 0 if nothing. Only a regular file with no other
 * name is ours to read or write: a FIFO would hang the reader (root's
 * `--queue list`), a hard link would give the service user's queue a
 * file from elsewhere. */
static int
entry_check(int dfd, int fd)
{
	struct stat st, dst;

	if (fstat(fd, &st) == -1)
		return errno;
	if (!S_ISREG(st.st_mode))
		return QE_NOTREG;
	/* No name left: removed since it was opened (a delivery ended,
	 * `--queue delete`), so gone as if never found. */
	if (st.st_nlink == 0)
		return ENOENT;
	if (st.st_nlink != 1)
		return QE_LINKED;
	/* Root's, or (asked only then) the owner's of the directory. */
	if (st.st_uid != 0 && geteuid() == 0) {
		if (fstat(dfd, &dst) == -1)
			return errno;
		if (st.st_uid != dst.st_uid)
			return QE_OWNER;
	}
	return 0;
}

/* dir_open - queue_dir/sub, a directory, opened by its path without
 * following a symbolic link (ELOOP for one) */
static int
dir_open(const char *queue_dir, const char *sub)
{
	char path[QENTRY_PATH_LEN];
	struct stat st;
	int dfd;

	if (qentry_path(path, queue_dir, sub, NULL, NULL, 0) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd == -1 && errno == ENOTDIR && lstat(path, &st) == 0 &&
	    S_ISLNK(st.st_mode))
		errno = ELOOP;		/* O_DIRECTORY said it first */
	return dfd;
}

/*
 * The directories qentry_pin opened, for the rest of the process's life.
 * Written once, before the threads that read them exist; read without a
 * lock after. A directory opened is the directory checked: held open,
 * it cannot be swapped for a link under us, as one looked up again by
 * path for every entry could (the daemon's struct queue holds its own
 * the same way).
 */
static const char *const pin_subs[] = { ".", "incoming", "hold", "state" };
#define NPIN	(sizeof(pin_subs) / sizeof(pin_subs[0]))
static char pin_dir[QENTRY_PATH_LEN];
static int pin_fd[NPIN] = { -1, -1, -1, -1 };

int
qentry_pin(const char *queue_dir, char *err, size_t errlen)
{
	size_t i;
	int rc = 0;

	if (pin_dir[0] != '\0')
		return 0;		/* pinned already */
	if (strlen(queue_dir) >= sizeof(pin_dir)) {
		snprintf(err, errlen, "%s: path too long", queue_dir);
		return -1;
	}
	/* state/ is made by an entry's first deferral: made now, so that
	 * it is held too */
	if (qentry_mkdir(queue_dir, "state", err, errlen) == -1)
		rc = -1;
	for (i = 0; i < NPIN; i++)
		if ((pin_fd[i] = dir_open(queue_dir, pin_subs[i])) == -1 &&
		    rc == 0) {
			snprintf(err, errlen, "%s/%s: %s", queue_dir,
			    pin_subs[i], qentry_strerror(errno));
			rc = -1;
		}
	memcpy(pin_dir, queue_dir, strlen(queue_dir) + 1);
	return rc;
}

int
qentry_dir(const char *queue_dir, const char *sub)
{
	size_t i;

	if (pin_dir[0] != '\0' && strcmp(queue_dir, pin_dir) == 0)
		for (i = 0; i < NPIN; i++)
			if (pin_fd[i] != -1 && strcmp(sub, pin_subs[i]) == 0)
				return pin_fd[i];
	return dir_open(queue_dir, sub);
}

bool
qentry_pinned(const char *queue_dir)
{
	size_t i;

	if (pin_dir[0] == '\0' || strcmp(queue_dir, pin_dir) != 0)
		return false;
	for (i = 0; i < NPIN; i++)
		if (pin_fd[i] == -1)
			return false;
	return true;
}

void
qentry_dir_close(int dfd)
{
	size_t i;
	int saved = errno;

	for (i = 0; i < NPIN; i++)
		if (dfd == pin_fd[i])
			return;
	if (dfd != -1)
		close(dfd);
	errno = saved;
}

/* qentry_openat - queue_dir/sub/name (name NULL: the directory sub
 * itself, opened anew for the caller), following no symbolic link below
 * queue_dir, and a file only if entry_check finds nothing wrong with
 * it. The queue belongs to the service user and root runs `sallyport
 * --queue` on it: a link, a FIFO or a hard link planted in it must not
 * take root's reads, writes or unlinks anywhere else, nor hang them. -1
 * with errno (ELOOP for a symbolic link, QE_* for entry_check's
 * refusals, ENOENT for a file removed between its open and the check).
 * The directory is the pinned one when there is one. */
int
qentry_openat(const char *queue_dir, const char *sub, const char *name,
    int flags, mode_t mode)
{
	int dfd, fd;

	if (name == NULL)
		return dir_open(queue_dir, sub);	/* the caller's own */
	if ((dfd = qentry_dir(queue_dir, sub)) == -1)
		return -1;
	fd = qentry_openin(dfd, name, flags, mode);
	qentry_dir_close(dfd);
	return fd;
}

int
qentry_openin(int dfd, const char *name, int flags, mode_t mode)
{
	int fd, saved;

	/* O_NONBLOCK: opening a FIFO returns at once, to be refused */
	fd = openat(dfd, name, flags | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	saved = errno;
	/* F_SETFL changes only the status flags (O_APPEND and the like)
	 * of those given: the caller's, O_NONBLOCK cleared. */
	if (fd != -1 && (saved = entry_check(dfd, fd)) == 0 &&
	    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == -1)
		saved = errno;
	if (fd != -1 && saved != 0) {
		close(fd);
		fd = -1;
	}
	errno = saved;
	return fd;
}

const char *
qentry_strerror(int e)
{
	return e == ELOOP ? "a symbolic link, not followed" :
	    e == QE_NOTREG ? "not a regular file, not read" :
	    e == QE_LINKED ? "other hard links to it, not read" :
	    e == QE_OWNER ? "owned by another user, not read" : strerror(e);
}

int
qentry_mkdir(const char *queue_dir, const char *sub, char *err, size_t errlen)
{
	char dir[QENTRY_PATH_LEN];

	if (qentry_path(dir, queue_dir, sub, NULL, err, errlen) == -1)
		return -1;
	if (mkdir(dir, 0700) == 0)
		return dir_sync(queue_dir, err, errlen);
	if (errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}
