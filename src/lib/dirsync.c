/*
 * dirsync - one fsync of a directory by its path, so that the names
 * created, renamed or removed in it survive a crash. Used by the queue
 * (state/, the queue directory) and by Maildir delivery (new/).
 */
#include <errno.h>
#include <fcntl.h>
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
