/*
 * qentry_file - paths and safe opens of a queue entry's files
 * (qentry_file.c), shared by reading and updating an entry.
 */
#ifndef SALLYPORT_QENTRY_FILE_H
#define SALLYPORT_QENTRY_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define QENTRY_PATH_LEN	4096
#define QENTRY_LINE_MAX	8192	/* one envelope or state line */

/* qentry_path - queue_dir/sub/id, or sub alone without id, into out
 * (QENTRY_PATH_LEN bytes); -1 and err (if any) when too long */
int	qentry_path(char *out, const char *dir, const char *sub,
	    const char *id, char *err, size_t errlen);
/* qentry_openat - queue_dir/sub/name (name NULL: the directory sub
 * itself), following no symbolic link below queue_dir, and a file only
 * if it is a regular one with no other name, owned by the queue's
 * owner or root; -1 with errno (qentry_strerror says it) */
int	qentry_openat(const char *queue_dir, const char *sub,
	    const char *name, int flags, mode_t mode);

/* qentry_dir - queue_dir/sub opened as qentry_openat(queue_dir, sub,
 * NULL, ...) does, or the one qentry_pin holds; -1 with errno. Given
 * back with qentry_dir_close (which keeps errno), never close(2). */
int	qentry_dir(const char *queue_dir, const char *sub);
void	qentry_dir_close(int dfd);
/* qentry_pinned - is queue_dir the one qentry_pin holds (whole)? */
bool	qentry_pinned(const char *queue_dir);

/* qentry_openin - the same for name in dfd, a directory qentry_openat
 * opened */
int	qentry_openin(int dfd, const char *name, int flags, mode_t mode);

/* qentry_mkdir - queue_dir/sub made (0700) if missing, and queue_dir
 * fsync'd when it was: 0, or -1 with err */
int	qentry_mkdir(const char *queue_dir, const char *sub, char *err,
	    size_t errlen);

#endif
