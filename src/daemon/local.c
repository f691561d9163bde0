/*
 * local - the local submission socket: bind it, replace a stale one,
 * and say who is on the other end of a connection.
 */
/* struct ucred: _GNU_SOURCE, from AC_USE_SYSTEM_EXTENSIONS */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/local.h"

#define LOCAL_BACKLOG	128

/* local_dir - make path's directory when it is missing: one level, as
 * /run/sallyport under /run; others must reach it (0755). Nobody else
 * may write there: whoever can could put a socket of their own there
 * to be handed the mail, or swap ours for a symbolic link between the
 * bind and the chmod (run as root: a file of their choice made 0666). */
static int
local_dir(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "local_socket %s: mkdir %s: %s", path,
		    dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) == -1) {
		snprintf(err, errlen, "local_socket %s: %s: %s", path, dir,
		    strerror(errno));
		return -1;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, errlen, "local_socket %s: its directory %s is "
		    "writable by others than root and us (owner uid %lu, mode "
		    "%04o), who could replace the socket", path, dir,
		    (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* local_stale - path is free to bind: nothing there, or a socket no
 * daemon answers on any more (removed); -1 with err otherwise */
static int
local_stale(const struct sockaddr_un *sun, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	if (lstat(sun->sun_path, &st) == -1)
		return errno == ENOENT ? 0 : (snprintf(err, errlen,
		    "local_socket %s: %s", sun->sun_path, strerror(errno)), -1);
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "local_socket %s: exists and is not a "
		    "socket", sun->sun_path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "local_socket %s: another sallyport "
		    "answers on it", sun->sun_path);
		return -1;
	}
	if (unlink(sun->sun_path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "local_socket %s: cannot remove the "
		    "stale socket: %s", sun->sun_path, strerror(errno));
		return -1;
	}
	return 0;
}

int
local_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "local_socket %s: longer than %zu "
		    "bytes", path, sizeof(sun.sun_path) - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (local_dir(path, err, errlen) == -1 ||
	    local_stale(&sun, err, errlen) == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* Any local user may submit, as with Postfix's world-writable
	 * maildrop: who did is the kernel's word, not the file's mode. */
	if (bind(fd, (const struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(path, 0666) == -1 || listen(fd, LOCAL_BACKLOG) == -1) {
		snprintf(err, errlen, "local_socket %s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
local_stat(const char *path, dev_t *dev, ino_t *ino)
{
	struct stat st;

	if (lstat(path, &st) == -1)
		return -1;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return 0;
}

void
local_unlink(const char *path, dev_t dev, ino_t ino)
{
	dev_t d;
	ino_t i;

	/* Without the rights (root's /run/sallyport after the drop to the
	 * service user) it stays, and the next start replaces it. */
	if (local_stat(path, &d, &i) == 0 && d == dev && i == ino)
		(void)unlink(path);
}

int
local_peer(int fd, char *out, size_t outlen)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct passwd pw, *res = NULL;
	char pwbuf[4096];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
	    len != sizeof(cred))
		return -1;
	/* On the loop: a local passwd lookup (files, or nscd/sssd's
	 * cache) is quick, and only local users can make us do it. */
	if (getpwuid_r(cred.uid, &pw, pwbuf, sizeof(pwbuf), &res) != 0)
		res = NULL;
	snprintf(out, outlen, "%lu (%s)", (unsigned long)cred.uid,
	    res != NULL ? res->pw_name : "unknown");
	return 0;
}
