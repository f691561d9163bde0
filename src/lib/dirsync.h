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

/* dir_fsync_behind - the directory dfd fsync'd soon by a thread of its
 * own, in an fsync begun after the call, which does not wait for it:
 * for a change that nothing done next depends on being durable (the
 * runner's removal of an entry that has no state file: a crash before
 * it is durable sends the message once more, as one just before the
 * removal would). Changes made while an fsync runs share the next. A
 * failed fsync is logged. One directory at a time: another's, or a
 * syncing thread that cannot be started, is fsync'd by the caller as
 * dir_fsync_shared does, and its result returned; else 0. */
int	dir_fsync_behind(int dfd);
/* dir_fsync_drain - wait until every fsync asked of dir_fsync_behind
 * so far has ended (before a process exits); -1 if one failed since
 * the last drain. */
int	dir_fsync_drain(void);

#endif
