/*
 * queue_chown - the queue tree given to the service user, run as root
 * before the privilege drop.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/queue.h"

/* chown_one - give dirfd/name to uid:gid, checked and changed through
 * one descriptor (O_PATH, no link followed) so that the name cannot be
 * swapped in between. The queue is the service user's and this runs as
 * root: a symbolic link, or a file with other names (a hard link to a
 * file of root's), is left alone, or root would give it away. 1 done,
 * 0 left alone, -1 with errno. */
static int
chown_one(int dirfd, const char *name, uid_t uid, gid_t gid)
{
	struct stat st;
	int fd, rc, saved;

	if ((fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 1 : -1;	/* gone: nothing to give */
	if (fstat(fd, &st) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (S_ISLNK(st.st_mode) || (!S_ISDIR(st.st_mode) && st.st_nlink > 1)) {
		close(fd);
		return 0;
	}
	rc = fchownat(fd, "", uid, gid, AT_EMPTY_PATH) == -1 ? -1 : 1;
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* chown_entries - give dir/sub and the entries in it to uid:gid */
static int
chown_entries(int dirfd, const char *dir, const char *sub, uid_t uid,
    gid_t gid, char *err, size_t errlen)
{
	struct dirent *de;
	DIR *d;
	int fd, rc;

	fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT)
			return 0;	/* made later, by the user itself */
		snprintf(err, errlen, "open %s/%s: %s", dir, sub,
		    strerror(errno));
		return -1;
	}
	if (fchown(fd, uid, gid) == -1 || fchmod(fd, 0700) == -1) {
		snprintf(err, errlen, "chown %s/%s: %s", dir, sub,
		    strerror(errno));
		close(fd);
		return -1;
	}
	if ((d = fdopendir(fd)) == NULL) {
		snprintf(err, errlen, "read %s/%s: %s", dir, sub,
		    strerror(errno));
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((rc = chown_one(fd, de->d_name, uid, gid)) == -1) {
			snprintf(err, errlen, "chown %s/%s/%s: %s", dir, sub,
			    de->d_name, strerror(errno));
			closedir(d);
			return -1;
		}
		if (rc == 0)
			snprintf(err, errlen, "%s/%s/%s is a link or has other "
			    "hard links: not given to the service user", dir,
			    sub, de->d_name);
	}
	closedir(d);
	return 0;
}

int
queue_chown(const char *dir, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	static const char *const subs[] = { "tmp", "incoming", "hold",
	    "state", "tlsrpt", "mta-sts", "journal" };
	static const char *const files[] = { "flush", "lock" };
	int fd, rc = 0;
	size_t i;

	if (errlen > 0)
		err[0] = '\0';
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "open %s: %s", dir, strerror(errno));
		return -1;
	}
	if (fchown(fd, uid, gid) == -1 || fchmod(fd, 0700) == -1) {
		snprintf(err, errlen, "chown %s: %s", dir, strerror(errno));
		close(fd);
		return -1;
	}
	/* The flush request and the entries' lock file, if any, belong
	 * to the user too. */
	for (i = 0; rc == 0 && i < sizeof(files) / sizeof(files[0]); i++) {
		switch (chown_one(fd, files[i], uid, gid)) {
		case -1:
			snprintf(err, errlen, "chown %s/%s: %s", dir,
			    files[i], strerror(errno));
			rc = -1;
			break;
		case 0:
			snprintf(err, errlen, "%s/%s is a link or has other "
			    "hard links: not given to the service user", dir,
			    files[i]);
			break;
		}
	}
	for (i = 0; rc == 0 && i < sizeof(subs) / sizeof(subs[0]); i++)
		rc = chown_entries(fd, dir, subs[i], uid, gid, err, errlen);
	close(fd);
	return rc;
}
