/*
 * queue_fs - the queue's subdirectories, its ids, whole writes and error
 * texts, for queue.c and the journal without either calling the other.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "queue/queue_priv.h"

void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int
queue_pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
	const uint8_t *p = buf;

	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

bool
queue_still_named(int dirfd, const char *name, int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && fstatat(dirfd, name, &b,
	    AT_SYMLINK_NOFOLLOW) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino;
}

int
queue_subdir_open(const char *dir, const char *name, char *err,
    size_t errlen)
{
	char path[4096];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name)
	    >= sizeof(path)) {
		seterr(err, errlen, "%s: path too long", dir);
		return -1;
	}
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		seterr(err, errlen, "mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		seterr(err, errlen, "open %s: %s", path, strerror(errno));
	return fd;
}

/* The process id mixed into queue ids: getpid is a system call, so it
 * is asked once per process and forgotten in the child of a fork (the
 * workers are forked with the queue open). 0: not asked yet. */
static pid_t id_pid;
static pthread_once_t id_pid_once = PTHREAD_ONCE_INIT;

static void
id_pid_forget(void)
{
	__atomic_store_n(&id_pid, 0, __ATOMIC_RELAXED);
}

static void
id_pid_watch(void)
{
	pthread_atfork(NULL, NULL, id_pid_forget);
}

/* queue_id_pid - this process's id, asked at most once since the fork */
pid_t
queue_id_pid(void)
{
	pid_t pid;

	pthread_once(&id_pid_once, id_pid_watch);
	if ((pid = __atomic_load_n(&id_pid, __ATOMIC_RELAXED)) == 0) {
		pid = getpid();
		__atomic_store_n(&id_pid, pid, __ATOMIC_RELAXED);
	}
	return pid;
}

void
queue_id_format(uint64_t us, unsigned low, char id[QUEUE_ID_LEN + 1])
{
	snprintf(id, QUEUE_ID_LEN + 1, "%08llX%05llX%03X",
	    (unsigned long long)(us / 1000000) & 0xffffffffULL,
	    (unsigned long long)(us % 1000000), low & 0xfff);
}

void
queue_id_make(unsigned *seq, char id[QUEUE_ID_LEN + 1])
{
	struct timeval tv;
	unsigned low;

	gettimeofday(&tv, NULL);
	/* Atomic: a lazy spool may take a fresh id off the event loop. */
	low = (__atomic_fetch_add(seq, 1, __ATOMIC_RELAXED) +
	    (unsigned)queue_id_pid() * 2654435761u) & (QUEUE_ID_NOSLOT - 1);
	queue_id_format((uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec,
	    QUEUE_ID_NOSLOT | low, id);
}

bool
queue_id_time(const char *name, uint64_t *us)
{
	uint64_t sec = 0, usec = 0;
	size_t i;

	for (i = 0; i < QUEUE_ID_LEN; i++) {
		int c = name[i], v;

		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			return false;
		if (i < 8)
			sec = sec << 4 | (uint64_t)v;
		else if (i < 13)
			usec = usec << 4 | (uint64_t)v;
	}
	if (name[QUEUE_ID_LEN] != '\0')
		return false;
	*us = sec * 1000000 + usec;
	return true;
}
