/*
 * qentry_update - what delivery changes in a queue entry: the outcome
 * of a recipient and the next attempt, each one line appended to
 * state/ID with one write() and an fsync, after cutting off a partial
 * line a crash left behind; the removal of a finished entry; and the
 * moves between incoming/ and hold/ (release, hold).
 * Reading an entry is qentry.c's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* memrchr, renameat2 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/dirsync.h"
#include "queue/qentry.h"
#include "queue/qentry_file.h"

#define TEXT_MAX	1000		/* TEXT in a state line */

/* cut_torn_tail - drop a partial last line left by a crash mid-write,
 * so that the next line does not run into it */
static int
cut_torn_tail(int fd, off_t *size)
{
	char tail[QENTRY_LINE_MAX];
	size_t want;
	ssize_t n;
	char *nl;

	if (*size == 0)
		return 0;
	want = *size < (off_t)sizeof(tail) ? (size_t)*size : sizeof(tail);
	if ((n = pread(fd, tail, want, *size - (off_t)want)) != (ssize_t)want)
		return -1;
	if (tail[want - 1] == '\n')
		return 0;
	if ((nl = memrchr(tail, '\n', want)) != NULL)
		*size -= (off_t)(tail + want - nl - 1);
	else if (*size == (off_t)want)
		*size = 0;
	else {
		errno = EFBIG;	/* no line of ours is that long */
		return -1;
	}
	return ftruncate(fd, *size);
}

/* state_append - one line, one write(), fsync'd; state/ made if needed */
static int
state_append(const char *queue_dir, const char *id, const char *line,
    size_t len, char *err, size_t errlen)
{
	char dir[QENTRY_PATH_LEN], path[QENTRY_PATH_LEN];
	struct stat st;
	off_t size;
	ssize_t n;
	int fd;

	if (qentry_path(dir, queue_dir, "state", NULL, err, errlen) == -1 ||
	    qentry_path(path, queue_dir, "state", id, err, errlen) == -1 ||
	    qentry_mkdir(queue_dir, "state", err, errlen) == -1)
		return -1;
	if ((fd = qentry_openat(queue_dir, "state", id, O_RDWR | O_APPEND |
	    O_CREAT, 0600)) == -1) {
		snprintf(err, errlen, "open %s: %s", path,
		    qentry_strerror(errno));
		return -1;
	}
	size = fstat(fd, &st) == 0 ? st.st_size : -1;
	if (size == -1 || cut_torn_tail(fd, &size) == -1) {
		snprintf(err, errlen, "repair %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	do
		n = write(fd, line, len);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)len) {
		snprintf(err, errlen, "write %s: %s", path,
		    n == -1 ? strerror(errno) : "short write");
		if (ftruncate(fd, size) == -1) {
			/* the torn line is ignored at load and cut next time */
		}
		close(fd);
		return -1;
	}
	if (fsync(fd) == -1) {
		snprintf(err, errlen, "fsync %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	/* A new file must survive a crash as well as its contents: the
	 * directory it was made in fsync'd (the pinned one, if pinned). */
	if (size == 0) {
		int dfd = qentry_dir(queue_dir, "state");

		if (dfd == -1 || fsync(dfd) == -1) {
			snprintf(err, errlen, "fsync %s: %s", dir,
			    qentry_strerror(errno));
			qentry_dir_close(dfd);
			return -1;
		}
		qentry_dir_close(dfd);
	}
	return 0;
}

/* entry_exists - the entry is still where it was loaded from (not
 * deleted, held or released meanwhile) */
static int
entry_exists(const char *queue_dir, const struct qentry *e, char *err,
    size_t errlen)
{
	const char *sub = e->held ? "hold" : "incoming";
	char path[QENTRY_PATH_LEN];
	struct stat st;
	int dfd;

	if (qentry_path(path, queue_dir, sub, e->id, err, errlen) == -1)
		return -1;
	if ((dfd = qentry_dir(queue_dir, sub)) == -1 ||
	    fstatat(dfd, e->id, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		snprintf(err, errlen, "%s: %s", path, qentry_strerror(errno));
		qentry_dir_close(dfd);
		return -1;
	}
	qentry_dir_close(dfd);
	return 0;
}

int
qentry_record(const char *queue_dir, struct qentry *e, size_t rcpt,
    const char *outcome, const char *text, char *err, size_t errlen)
{
	char clean[TEXT_MAX + 1], line[64 + TEXT_MAX + 2], *copy = NULL;
	enum rcpt_state to;
	size_t i;
	int n;

	if (rcpt >= e->nrcpts) {
		snprintf(err, errlen, "%s: no recipient %zu", e->id, rcpt);
		return -1;
	}
	if (strcmp(outcome, "sent") == 0)
		to = RCPT_SENT;
	else if (strcmp(outcome, "bounced") == 0)
		to = RCPT_BOUNCED;
	else if (strcmp(outcome, "deferred") == 0)
		to = RCPT_PENDING;
	else {
		snprintf(err, errlen, "unknown outcome %s", outcome);
		return -1;
	}
	if (e->state[rcpt] != RCPT_PENDING) {
		snprintf(err, errlen, "%s: recipient %zu is already final",
		    e->id, rcpt);
		return -1;
	}
	/* One line whatever the text: line breaks become spaces. */
	for (i = 0; text && text[i] && i < TEXT_MAX; i++)
		clean[i] = text[i] == '\r' || text[i] == '\n' ? ' ' : text[i];
	clean[i] = '\0';
	n = snprintf(line, sizeof(line), "rcpt %zu %s %lld %s\n", rcpt,
	    outcome, (long long)time(NULL), clean);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		snprintf(err, errlen, "state line too long");
		return -1;
	}
	if (to != RCPT_SENT && (copy = strdup(clean)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (entry_exists(queue_dir, e, err, errlen) == -1 ||
	    state_append(queue_dir, e->id, line, (size_t)n, err, errlen) ==
	    -1) {
		free(copy);
		return -1;
	}
	e->state[rcpt] = to;
	if (to != RCPT_SENT) {
		free(e->last_error[rcpt]);
		e->last_error[rcpt] = copy;
	}
	return 0;
}

/* next_line - "next TIME ATTEMPTS" with attempts as given */
static int
next_line(const char *queue_dir, struct qentry *e, time_t next,
    unsigned attempts, char *err, size_t errlen)
{
	char line[64];
	int n;

	n = snprintf(line, sizeof(line), "next %lld %u\n",
	    (long long)(next < 0 ? 0 : next), attempts);
	if (entry_exists(queue_dir, e, err, errlen) == -1 ||
	    state_append(queue_dir, e->id, line, (size_t)n, err, errlen) == -1)
		return -1;
	e->attempts = attempts;
	e->next_attempt = next < 0 ? 0 : next;
	return 0;
}

int
qentry_schedule(const char *queue_dir, struct qentry *e, time_t next,
    char *err, size_t errlen)
{
	return next_line(queue_dir, e, next, e->attempts + 1, err, errlen);
}

int
qentry_requeue(const char *queue_dir, struct qentry *e, time_t when,
    char *err, size_t errlen)
{
	return next_line(queue_dir, e, when, e->attempts, err, errlen);
}

/* unlink_synced - remove sub/ID and fsync sub/; -1 with errno, and err
 * said unless the entry is not there (ENOENT) */
static int
unlink_synced(const char *queue_dir, const char *sub, const char *id,
    bool sync, char *err, size_t errlen)
{
	int dfd, saved;

	/* unlinkat in a directory opened without following a link: root's
	 * `--queue delete` removes nothing outside the queue. */
	if ((dfd = qentry_dir(queue_dir, sub)) == -1 ||
	    unlinkat(dfd, id, 0) == -1) {
		saved = errno;
		if (saved != ENOENT)
			snprintf(err, errlen, "%s/%s%s%s: %s", queue_dir, sub,
			    dfd != -1 ? "/" : "", dfd != -1 ? id : "",
			    qentry_strerror(saved));
		qentry_dir_close(dfd);
		errno = saved;
		return -1;
	}
	/* Deliveries that end at once share one fsync. */
	saved = sync && dir_fsync_shared(dfd) == -1 ? errno : 0;
	qentry_dir_close(dfd);
	if (saved != 0) {
		snprintf(err, errlen, "fsync %s/%s: %s", queue_dir, sub,
		    strerror(saved));
		errno = saved;
		return -1;
	}
	return 0;
}

/*
 * incoming/ID (or hold/ID) goes first: once it is gone no runner can
 * load the entry, and a crash before the state file is removed leaves
 * only a stale state file. The other order could bring back an entry
 * without its state, and every recipient would be sent the message
 * again.
 */
int
qentry_remove(const char *queue_dir, const char *id, char *err,
    size_t errlen)
{
	int sdfd, saved;

	if (!qentry_id_valid(id)) {
		snprintf(err, errlen, "%s: not a queue id", id);
		errno = EINVAL;
		return -1;
	}
	/* state/ opened first: one that cannot be (a link planted in its
	 * place) refuses the removal before anything is removed. */
	if ((sdfd = qentry_dir(queue_dir, "state")) == -1 &&
	    errno != ENOENT) {
		saved = errno;
		snprintf(err, errlen, "%s/state: %s", queue_dir,
		    qentry_strerror(saved));
		errno = saved;
		return -1;
	}
	if (unlink_synced(queue_dir, "incoming", id, true, err, errlen) ==
	    -1 && (errno != ENOENT ||
	    unlink_synced(queue_dir, "hold", id, true, err, errlen) == -1)) {
		saved = errno;
		if (saved == ENOENT)
			snprintf(err, errlen, "%s: no such queue entry", id);
		qentry_dir_close(sdfd);
		errno = saved;
		return -1;
	}
	/* No fsync of state/: a state file that a crash brings back has no
	 * entry, and is removed as such (qentry_lock). The entry's removal
	 * is the durable step. ENOENT: no state, never tried. */
	saved = sdfd != -1 && unlinkat(sdfd, id, 0) == -1 && errno != ENOENT ?
	    errno : 0;
	qentry_dir_close(sdfd);
	if (saved != 0) {
		snprintf(err, errlen, "%s/state/%s: %s", queue_dir, id,
		    strerror(saved));
		errno = saved;
		return -1;
	}
	return 0;
}

int
qentry_remove_delivered(const char *queue_dir, const char *id, char *err,
    size_t errlen)
{
	struct stat st;
	int sdfd, dfd, rc, saved;

	if (!qentry_id_valid(id))
		return qentry_remove(queue_dir, id, err, errlen);
	/* A state file, or none known for sure: its removal must not be
	 * durable before the entry's, which qentry_remove waits for. Under
	 * the entry's lock nobody makes one meanwhile. */
	if ((sdfd = qentry_dir(queue_dir, "state")) != -1) {
		rc = fstatat(sdfd, id, &st, AT_SYMLINK_NOFOLLOW);
		saved = errno;
		qentry_dir_close(sdfd);
		if (rc == 0 || saved != ENOENT)
			return qentry_remove(queue_dir, id, err, errlen);
	} else if (errno != ENOENT)
		return qentry_remove(queue_dir, id, err, errlen);
	if ((dfd = qentry_dir(queue_dir, "incoming")) == -1)
		return qentry_remove(queue_dir, id, err, errlen);
	if (unlinkat(dfd, id, 0) == -1) {
		qentry_dir_close(dfd);
		return qentry_remove(queue_dir, id, err, errlen);
	}
	saved = dir_fsync_behind(dfd) == -1 ? errno : 0;
	qentry_dir_close(dfd);
	if (saved != 0) {
		snprintf(err, errlen, "fsync %s/incoming: %s", queue_dir,
		    strerror(saved));
		errno = saved;
		return -1;
	}
	return 0;
}

/*
 * One rename from `from` into `to`, never over an entry there; then
 * `to` is fsync'd before `from`, so the entry is durable under its new
 * name before its old one is known gone: a crash leaves it in one place
 * or the other, never in neither.
 */
static int
move(const char *queue_dir, const char *id, const char *from,
    const char *to, char *err, size_t errlen)
{
	int ffd = -1, tfd = -1, saved = 0;

	if (!qentry_id_valid(id)) {
		snprintf(err, errlen, "%s: not a queue id", id);
		errno = EINVAL;
		return -1;
	}
	if ((ffd = qentry_dir(queue_dir, from)) == -1 ||
	    (tfd = qentry_dir(queue_dir, to)) == -1) {
		saved = errno;
		snprintf(err, errlen, "%s/%s: %s", queue_dir, ffd == -1 ?
		    from : to, qentry_strerror(saved));
		if (saved == ENOENT)
			saved = EIO;	/* ENOENT: the entry is not there */
	} else if (renameat2(ffd, id, tfd, id, RENAME_NOREPLACE) == -1) {
		saved = errno;
		if (saved == ENOENT)
			snprintf(err, errlen, "%s: no such %s entry", id,
			    strcmp(from, "hold") == 0 ? "held" : "queue");
		else if (saved == EEXIST)
			snprintf(err, errlen, "%s: in %s/ already", id, to);
		else
			snprintf(err, errlen, "move %s/%s/%s into %s: %s",
			    queue_dir, from, id, to, qentry_strerror(saved));
	} else if (fsync(tfd) == -1) {
		saved = errno;
		snprintf(err, errlen, "fsync %s/%s: %s", queue_dir, to,
		    strerror(saved));
	} else if (fsync(ffd) == -1) {
		saved = errno;
		snprintf(err, errlen, "fsync %s/%s: %s", queue_dir, from,
		    strerror(saved));
	}
	qentry_dir_close(ffd);
	qentry_dir_close(tfd);
	errno = saved;
	return saved ? -1 : 0;
}

int
qentry_release(const char *queue_dir, const char *id, char *err,
    size_t errlen)
{
	return move(queue_dir, id, "hold", "incoming", err, errlen);
}

int
qentry_hold(const char *queue_dir, const char *id, char *err, size_t errlen)
{
	char path[QENTRY_PATH_LEN];
	struct stat st;

	/* Already held: said as such, before hold/ is looked at. */
	if (qentry_id_valid(id) && qentry_path(path, queue_dir, "hold", id,
	    NULL, 0) == 0 && lstat(path, &st) == 0) {
		snprintf(err, errlen, "%s: held already", id);
		errno = EEXIST;
		return -1;
	}
	/* A queue from before hold/ existed. */
	if (qentry_mkdir(queue_dir, "hold", err, errlen) == -1)
		return -1;
	return move(queue_dir, id, "incoming", "hold", err, errlen);
}
