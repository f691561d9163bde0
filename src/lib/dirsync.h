/*
 * dirsync - make the names in a directory durable: after a file is
 * created, renamed or removed there, the file's own fsync does not
 * cover its name; an fsync of the directory does (a crash could
 * otherwise bring back, or lose, the name).
 */
#ifndef SALLYPORT_DIRSYNC_H
#define SALLYPORT_DIRSYNC_H

#include <stddef.h>

/* dir_sync - open the directory path and fsync it: 0, or -1 with
 * "open PATH: reason" or "fsync PATH: reason" in err (errno kept) */
int	dir_sync(const char *path, char *err, size_t errlen);

/* dir_fsync_shared - the directory dfd fsync'd, shared between the
 * threads of a process: a change made in it before the call is durable
 * when it returns 0, and one fsync, begun after the changes of every
 * thread that waits, covers them all (the queue runner's removals). -1
 * with errno when an fsync that covered the change failed. */
int	dir_fsync_shared(int dfd);

#endif
