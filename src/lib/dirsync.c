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

/* One group: the directory most recently synced this way. The fsync
 * numbered n began after every change whose caller asked for number n
 * or lower; `done` is the last one finished and `done_err` its errno. */
static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	char		 key[4096];
	uint64_t	 started, done;
	int		 done_err;
	bool		 running;
	unsigned	 waiting;
} grp = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, "", 0, 0, 0,
	  false, 0 };

int
dir_fsync_shared(int dfd, const char *key)
{
	uint64_t need, mine;
	int rc, saved;

	if (strlen(key) >= sizeof(grp.key))
		return fsync(dfd);
	pthread_mutex_lock(&grp.lock);
	if (strcmp(grp.key, key) != 0) {
		if (grp.running || grp.waiting > 0) {
			/* Another directory's group is busy: alone. */
			pthread_mutex_unlock(&grp.lock);
			return fsync(dfd);
		}
		memcpy(grp.key, key, strlen(key) + 1);
	}
	/* An fsync running now may have begun before our change. */
	need = grp.started + 1;
	while (grp.done < need) {
		if (!grp.running) {
			grp.running = true;
			mine = ++grp.started;
			pthread_mutex_unlock(&grp.lock);
			rc = fsync(dfd);
			saved = rc == -1 ? errno : 0;
			pthread_mutex_lock(&grp.lock);
			grp.running = false;
			grp.done = mine;
			grp.done_err = saved;
			pthread_cond_broadcast(&grp.cond);
			continue;
		}
		grp.waiting++;
		pthread_cond_wait(&grp.cond, &grp.lock);
		grp.waiting--;
	}
	saved = grp.done_err;
	pthread_mutex_unlock(&grp.lock);
	if (saved != 0) {
		errno = saved;
		return -1;
	}
	return 0;
}
