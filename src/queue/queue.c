/*
 * queue - the queue directory: opening it, recovery at start-up (the
 * journals' records too: journal_replay.c), and its free space. Spool files and their commit are in spool.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "queue/journal.h"
#include "queue/journal_fmt.h"
#include "queue/queue_priv.h"

/* read_dir - a stream over dirfd's entries from the start (dirfd stays
 * open and its own); NULL with err */
static DIR *
read_dir(int dirfd, char *err, size_t errlen)
{
	DIR *d;
	int fd;

	if ((fd = dup(dirfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		seterr(err, errlen, "scan queue: %s", strerror(errno));
		if (fd != -1)
			close(fd);
		return NULL;
	}
	rewinddir(d);
	return d;
}

/* scan - count (and with `remove`, unlink) the regular entries of a dir */
static int
scan(int dirfd, bool remove, unsigned *count, char *err, size_t errlen)
{
	DIR *d;
	struct dirent *de;

	if ((d = read_dir(dirfd, err, errlen)) == NULL)
		return -1;
	*count = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (remove && unlinkat(dirfd, de->d_name, 0) == -1) {
			seterr(err, errlen, "remove stale spool file %s: %s",
			    de->d_name, strerror(errno));
			closedir(d);
			return -1;
		}
		(*count)++;
	}
	closedir(d);
	return 0;
}

struct queue *
queue_attach(const char *dir, char *err, size_t errlen)
{
	struct queue *q;

	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->dir = strdup(dir)) == NULL) {
		seterr(err, errlen, "out of memory");
		free(q);
		return NULL;
	}
	q->tmpfd = q->incfd = q->holdfd = -1;
	q->id_slot = -1;
	if ((q->tmpfd = queue_subdir_open(dir, "tmp", err, errlen)) == -1 ||
	    (q->incfd = queue_subdir_open(dir, "incoming", err,
	    errlen)) == -1 ||
	    (q->holdfd = queue_subdir_open(dir, "hold", err, errlen)) == -1) {
		queue_close(q);
		return NULL;
	}
	return q;
}

struct queue *
queue_open(const char *dir, char *err, size_t errlen)
{
	struct queue *q;
	int jfd;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		seterr(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return NULL;
	}
	if ((q = queue_attach(dir, err, errlen)) == NULL)
		return NULL;
	if (scan(q->tmpfd, true, &q->removed, err, errlen) == -1) {
		queue_close(q);
		return NULL;
	}
	if (q->removed)
		fsync(q->tmpfd);
	if ((jfd = queue_subdir_open(dir, JOURNAL_DIR, err, errlen)) == -1 ||
	    close(jfd) == -1 ||
	    jreplay_all(dir, &q->recovered, err, errlen) == -1 ||
	    scan(q->incfd, false, &q->entries, err, errlen) == -1) {
		queue_close(q);
		return NULL;
	}
	return q;
}

/* newest - the time of the newest queue id among the names of a
 * directory into *us (left alone when there is none newer) */
static int
newest(int dirfd, uint64_t *us, char *err, size_t errlen)
{
	DIR *d;
	struct dirent *de;
	uint64_t t;

	if ((d = read_dir(dirfd, err, errlen)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (queue_id_time(de->d_name, &t) && t > *us)
			*us = t;
	closedir(d);
	return 0;
}

int
queue_ids_own(struct queue *q, unsigned slot, char *err, size_t errlen)
{
	char path[4096];
	uint64_t last = 0;
	int sfd, rc;

	if (slot >= QUEUE_ID_NOSLOT) {
		seterr(err, errlen, "queue id slot %u: at most %u", slot,
		    QUEUE_ID_NOSLOT - 1);
		return -1;
	}
	/* state/ too: a file of an entry gone (a crash as it was removed)
	 * must not be taken for a new entry's. */
	snprintf(path, sizeof(path), "%s/state", q->dir);
	if ((sfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 && errno != ENOENT) {
		seterr(err, errlen, "open %s/state: %s", q->dir,
		    strerror(errno));
		return -1;
	}
	rc = newest(q->incfd, &last, err, errlen) == -1 ||
	    newest(q->holdfd, &last, err, errlen) == -1 ||
	    (sfd != -1 && newest(sfd, &last, err, errlen) == -1) ? -1 : 0;
	if (sfd != -1)
		close(sfd);
	if (rc == -1)
		return -1;
	__atomic_store_n(&q->id_last, last, __ATOMIC_RELAXED);
	q->id_pid = queue_id_pid();
	q->id_slot = (int)slot;
	return 0;
}

void
queue_ids_disown(struct queue *q)
{
	q->id_slot = -1;
}

void
queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	if (q->tmpfd != -1)
		close(q->tmpfd);
	if (q->incfd != -1)
		close(q->incfd);
	if (q->holdfd != -1)
		close(q->holdfd);
	free(q->dir);
	free(q);
}

const char *
queue_dir(const struct queue *q)
{
	return q->dir;
}

unsigned
queue_removed_at_open(const struct queue *q)
{
	return q->removed;
}

unsigned
queue_entries_at_open(const struct queue *q)
{
	return q->entries;
}

unsigned
queue_recovered_at_open(const struct queue *q)
{
	return q->recovered;
}

int
queue_free_space(const struct queue *q, uint64_t *avail, char *err,
    size_t errlen)
{
	struct statvfs sv;

	if (fstatvfs(q->tmpfd, &sv) == -1) {
		seterr(err, errlen, "statvfs %s: %s", q->dir, strerror(errno));
		return -1;
	}
	*avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	return 0;
}
