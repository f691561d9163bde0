/*
 * dirsync - one fsync of a directory by its path, so that the names
 * created, renamed or removed in it survive a crash. Used by the queue
 * (state/, the queue directory) and by Maildir delivery (new/).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/dirsync.h"

int
dir_sync(const char *path, char *err, size_t errlen)
{
	int	 fd, rc, saved;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		saved = errno;
		snprintf(err, errlen, "open %s: %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	rc = fsync(fd);
	saved = errno;
	if (rc == -1)
		snprintf(err, errlen, "fsync %s: %s", path, strerror(saved));
	close(fd);
	errno = saved;
	return rc;
}

/* One group: the directory most recently synced this way, known by its
 * device and inode and fsync'd through a descriptor of its own, kept
 * open (a dup of the first caller's): errors of the directory's
 * writeback are reported to an open file once, so one that lasts sees
 * every error after it was opened. The fsync numbered n began after
 * every change whose caller asked for n or lower; `done` is the last
 * one finished; `err_seq` the last that failed, with `err`. */
static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	int		 fd;
	dev_t		 dev;
	ino_t		 ino;
	uint64_t	 started, done, err_seq;
	int		 err;
	bool		 running;
	unsigned	 waiting;
} grp = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, -1, 0, 0, 0,
	  0, 0, 0, false, 0 };

int
dir_fsync_shared(int dfd)
{
	struct stat st;
	uint64_t need, mine;
	int fd, rc, saved;

	if (fstat(dfd, &st) == -1)
		return -1;
	pthread_mutex_lock(&grp.lock);
	if (grp.fd == -1 || grp.dev != st.st_dev || grp.ino != st.st_ino) {
		if (grp.running || grp.waiting > 0 ||
		    (fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0)) == -1) {
			/* Another directory's group is busy: alone. */
			pthread_mutex_unlock(&grp.lock);
			return fsync(dfd);
		}
		if (grp.fd != -1)
			close(grp.fd);
		grp.fd = fd;
		grp.dev = st.st_dev;
		grp.ino = st.st_ino;
		grp.err_seq = 0;
	}
	/* An fsync running now may have begun before our change. */
	need = grp.started + 1;
	while (grp.done < need) {
		if (!grp.running) {
			grp.running = true;
			mine = ++grp.started;
			fd = grp.fd;	/* not replaced while running */
			pthread_mutex_unlock(&grp.lock);
			rc = fsync(fd);
			saved = errno;
			pthread_mutex_lock(&grp.lock);
			grp.running = false;
			grp.done = mine;
			if (rc == -1) {
				grp.err_seq = mine;
				grp.err = saved;
			}
			pthread_cond_broadcast(&grp.cond);
			continue;
		}
		grp.waiting++;
		pthread_cond_wait(&grp.cond, &grp.lock);
		grp.waiting--;
	}
	/* Any failure of an fsync that covered our change is ours, even
	 * when a later one succeeded: the error may have been reported
	 * once, to that one. */
	rc = grp.err_seq >= need ? -1 : 0;
	saved = grp.err;
	pthread_mutex_unlock(&grp.lock);
	if (rc == -1)
		errno = saved;
	return rc;
}
