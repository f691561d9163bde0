/*
 * spool_commit - a spool becomes part of the queue: made durable (its own
 * fsync, or materialized and one syncfs for a batch), renamed into
 * incoming/ or hold/, the directory fsync'd; and a lazy spool's image
 * for the journal.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* renameat2, syncfs */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "queue/queue_priv.h"

/* pubfd - the directory the spool is published into */
static int
pubfd(const struct spool *sp)
{
	return sp->held ? sp->q->holdfd : sp->q->incfd;
}

int
spool_sync(struct spool *sp, char *err, size_t errlen)
{
	if (spool_materialize(sp, err, errlen) == -1)
		return -1;
	if (fsync(sp->fd) == -1) {
		sp->error = errno;
		seterr(err, errlen, "fsync %s: %s", sp->id, strerror(errno));
		return -1;
	}
	return 0;
}

int
spool_publish(struct spool *sp, char *err, size_t errlen)
{
	const char *where = sp->held ? "hold/" : "incoming/";
	int tries;

	/* Never rename tmp/ID while in memory: another spool's file. */
	if (sp->mem && spool_materialize(sp, err, errlen) == -1)
		return -1;
	/* RENAME_NOREPLACE: never overwrite a committed entry. A lazy
	 * spool's id was free when it was picked, not since: if it is taken
	 * now, a fresh one, its id line made durable before the rename. */
	for (tries = 0; renameat2(sp->q->tmpfd, sp->name, pubfd(sp), sp->id,
	    RENAME_NOREPLACE) == -1; tries++) {
		if (errno != EEXIST || !sp->lazy || tries == 100 ||
		    spool_flush(sp) == -1 || spool_fresh_id(sp, where) == -1 ||
		    fdatasync(sp->fd) == -1) {
			seterr(err, errlen, "rename %s into %s: %s", sp->id,
			    sp->held ? "hold" : "incoming", strerror(errno));
			return -1;
		}
	}
	sp->published = true;
	return 0;
}

int
spool_unpublish(struct spool *sp)
{
	if (!sp->published)
		return 0;
	if (unlinkat(pubfd(sp), sp->id, 0) == -1)
		return -1;
	sp->published = false;
	/* The file is gone from both directories now. */
	if (sp->fd != -1)
		close(sp->fd);
	sp->fd = -1;
	return 0;
}

void
spool_close_published(struct spool *sp)
{
	if (sp->published && sp->fd != -1) {
		close(sp->fd);
		sp->fd = -1;
	}
}

void
queue_set_lazy(struct queue *q, bool lazy)
{
	q->lazy = lazy;
}

int
spool_image(struct spool *sp, struct iovec *iov, int *fd, uint64_t *len)
{
	if (sp->mem) {
		iov->iov_base = sp->buf;
		iov->iov_len = sp->len;
		*fd = -1;
		*len = sp->len;
		return sp->error ? (errno = sp->error, -1) : 0;
	}
	if (sp->fd == -1 || spool_flush(sp) == -1) {
		errno = sp->fd == -1 ? EBADF : sp->error;
		return -1;
	}
	iov->iov_base = NULL;
	iov->iov_len = 0;
	*fd = sp->fd;
	*len = sp->pos;
	return 0;
}

int
spool_materialize(struct spool *sp, char *err, size_t errlen)
{
	int before = sp->error, e;

	if ((sp->mem ? spool_tofile(sp) : spool_flush(sp)) == -1) {
		e = sp->error;
		seterr(err, errlen, "write %s: %s", sp->id, strerror(e));
		/* An entry still whole in memory can be tried again (a
		 * full disk that frees up): this error does not stick. */
		if (sp->mem && before == 0)
			sp->error = 0;
		errno = e;
		return -1;
	}
	return 0;
}

int
queue_syncfs(struct queue *q, char *err, size_t errlen)
{
	return queue_syncfs_on(q, q->tmpfd, err, errlen);
}

int
queue_sync_handle(struct queue *q, char *err, size_t errlen)
{
	int fd;

	if ((fd = open(q->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		seterr(err, errlen, "open %s: %s", q->dir, strerror(errno));
	return fd;
}

int
queue_syncfs_on(struct queue *q, int fd, char *err, size_t errlen)
{
	if (syncfs(fd) == -1) {
		seterr(err, errlen, "syncfs %s: %s", q->dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* sync_dir - fsync one of the queue's directories */
static int
sync_dir(struct queue *q, int fd, const char *name, char *err,
    size_t errlen)
{
	if (fsync(fd) == -1) {
		seterr(err, errlen, "fsync %s/%s: %s", q->dir, name,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
queue_sync_incoming(struct queue *q, char *err, size_t errlen)
{
	return sync_dir(q, q->incfd, "incoming", err, errlen);
}

int
queue_sync_hold(struct queue *q, char *err, size_t errlen)
{
	return sync_dir(q, q->holdfd, "hold", err, errlen);
}

int
queue_commit(struct spool *sp, char *err, size_t errlen)
{
	if (spool_sync(sp, err, errlen) == -1 ||
	    spool_publish(sp, err, errlen) == -1)
		return -1;
	if ((sp->held ? queue_sync_hold(sp->q, err, errlen) :
	    queue_sync_incoming(sp->q, err, errlen)) == -1) {
		spool_unpublish(sp);
		return -1;
	}
	return 0;
}

int
queue_commit_own(struct spool *sp, int write_rc, const char *what,
    char *id_out, char *err, size_t errlen)
{
	int rc = -1;

	if (write_rc != 0)
		snprintf(err, errlen, "write %s: %s", what, strerror(errno));
	else if (queue_commit(sp, err, errlen) == 0) {
		memcpy(id_out, sp->id, QUEUE_ID_LEN + 1);
		rc = 0;
	}
	spool_free(sp);
	return rc;
}
