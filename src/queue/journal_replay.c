/*
 * journal_replay - the records of a journal whose writer is gone become
 * entries again, as the files method would have made them: tmp/ID
 * written and fsync'd, renamed into incoming/ or hold/ without
 * replacing anything, the directories fsync'd; then the journal file is
 * removed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* renameat2 */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "queue/journal.h"
#include "queue/journal_fmt.h"
#include "queue/queue_priv.h"

/* Tries at a name for one record before giving up (a fresh id collides
 * only with an entry made in the same microsecond). */
#define REPLAY_TRIES	8

/* The sequence of the fresh ids made here (replay runs in one thread). */
static unsigned replay_seq;

struct replay {
	const char	*dir;		/* the queue's */
	const char	*name;		/* the journal file's */
	int		 tmpfd, incfd, holdfd;
	bool		 to_inc, to_hold;	/* something renamed there */
};

enum have { HAVE_NONE, HAVE_SAME, HAVE_OTHER };

/* have - does dirfd/id hold exactly data[0..len)? */
static int
have(int dirfd, const char *id, const uint8_t *data, uint64_t len,
    enum have *out)
{
	uint8_t buf[1 << 15];
	struct stat st;
	uint64_t pos = 0;
	int fd;

	if (fstatat(dirfd, id, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT)
			return -1;
		*out = HAVE_NONE;
		return 0;
	}
	*out = HAVE_OTHER;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != len)
		return 0;
	if ((fd = openat(dirfd, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	while (pos < len) {
		ssize_t n = pread(fd, buf, len - pos < sizeof(buf) ?
		    (size_t)(len - pos) : sizeof(buf), (off_t)pos);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			close(fd);
			return -1;
		}
		if (n == 0 || memcmp(buf, data + pos, (size_t)n) != 0) {
			close(fd);
			return 0;
		}
		pos += (uint64_t)n;
	}
	close(fd);
	*out = HAVE_SAME;
	return 0;
}

/* id_line - the offset of the value of the envelope's "id" line when it
 * says id, else 0 (the envelope ends at the first empty line) */
static uint64_t
id_line(const uint8_t *data, uint64_t len, const char *id)
{
	uint64_t i = 0;

	while (i < len) {
		const uint8_t *nl = memchr(data + i, '\n', (size_t)(len - i));
		uint64_t n = nl == NULL ? len - i : (uint64_t)(nl - data) - i;

		if (n == 0)
			break;
		if (n == 3 + QUEUE_ID_LEN && memcmp(data + i, "id ", 3) == 0 &&
		    memcmp(data + i + 3, id, QUEUE_ID_LEN) == 0)
			return i + 3;
		i += n + 1;
	}
	return 0;
}

/* put_entry - tmp/id with the record's octets (the id line saying id),
 * fsync'd and renamed into dst: 0, 1 when a name was taken meanwhile
 * (tmp/ or dst), -1 with err */
static int
put_entry(struct replay *r, const struct jrecord *rec, const char *id,
    int dst, char *err, size_t errlen)
{
	uint64_t at = 0;
	int fd, rc;

	if (strcmp(id, rec->id) != 0 &&
	    (at = id_line(rec->data, rec->len, rec->id)) == 0)
		log_warn("journal %s: entry %s has no id line of its own; "
		    "written as %s unchanged", r->name, rec->id, id);
	if ((fd = openat(r->tmpfd, id, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600)) == -1) {
		if (errno == EEXIST)
			return 1;
		seterr(err, errlen, "journal %s: create tmp/%s: %s", r->name, id,
		    strerror(errno));
		return -1;
	}
	rc = queue_pwrite_all(fd, rec->data, (size_t)rec->len, 0);
	if (rc == 0 && at != 0)
		rc = queue_pwrite_all(fd, id, QUEUE_ID_LEN, at);
	if (rc == -1 || fsync(fd) == -1) {
		seterr(err, errlen, "journal %s: write tmp/%s: %s", r->name, id,
		    strerror(errno));
		close(fd);
		unlinkat(r->tmpfd, id, 0);
		return -1;
	}
	close(fd);
	if (renameat2(r->tmpfd, id, dst, id, RENAME_NOREPLACE) == -1) {
		int e = errno;

		unlinkat(r->tmpfd, id, 0);
		if (e == EEXIST)
			return 1;
		seterr(err, errlen, "journal %s: rename %s: %s", r->name, id,
		    strerror(e));
		return -1;
	}
	return 0;
}

/* recover - one record: 1 when an entry was made, 0 when it was there */
static int
recover(struct replay *r, const struct jrecord *rec, char *err,
    size_t errlen)
{
	const char *sub = rec->held ? "hold" : "incoming";
	int dst = rec->held ? r->holdfd : r->incfd;
	char id[QUEUE_ID_LEN + 1];

	memcpy(id, rec->id, sizeof(id));
	for (int i = 0; i < REPLAY_TRIES; i++) {
		enum have inc, hold;
		int rc;

		if (have(r->incfd, id, rec->data, rec->len, &inc) == -1 ||
		    have(r->holdfd, id, rec->data, rec->len, &hold) == -1) {
			seterr(err, errlen, "journal %s: look at %s: %s",
			    r->name, id, strerror(errno));
			return -1;
		}
		if (strcmp(id, rec->id) == 0 &&
		    (inc == HAVE_SAME || hold == HAVE_SAME))
			return 0;
		if (inc == HAVE_NONE && hold == HAVE_NONE) {
			if ((rc = put_entry(r, rec, id, dst, err,
			    errlen)) == -1)
				return -1;
			if (rc == 0) {
				if (strcmp(id, rec->id) != 0)
					log_warn("journal %s: %s holds another "
					    "entry: recovered as %s/%s",
					    r->name, rec->id, sub, id);
				else
					log_info("journal %s: recovered "
					    "%s/%s", r->name, sub, id);
				*(rec->held ? &r->to_hold : &r->to_inc) = true;
				return 1;
			}
		}
		queue_id_make(&replay_seq, id);
	}
	seterr(err, errlen, "journal %s: no free name for entry %s", r->name,
	    rec->id);
	return -1;
}

static int
replay_map(struct replay *r, const uint8_t *map, uint64_t size,
    unsigned *recovered, char *err, size_t errlen)
{
	uint8_t zero[JH_BLOCK] = { 0 };
	struct jhdr h;
	uint64_t pos;
	int rc;

	if (size < JH_BLOCK) {
		/* Cut short while being written out: zeros only. */
		memcpy(zero, map, (size_t)size);
		rc = jhdr_decode(zero, size, &h);
	} else
		rc = jhdr_decode(map, size, &h);
	if (rc == -1) {
		seterr(err, errlen, "journal %s: no valid header; left in "
		    "place", r->name);
		return -1;
	}
	if (rc == 0)
		return 0;
	for (pos = h.retired; pos < size; ) {
		struct jrecord rec;
		size_t used;

		if (journal_parse(map + pos, (size_t)(size - pos), h.gen,
		    &rec, &used) != JPARSE_RECORD)
			break;
		if ((rc = recover(r, &rec, err, errlen)) == -1)
			return -1;
		*recovered += (unsigned)rc;
		pos += used;
	}
	return 0;
}

int
jreplay_file(const char *dir, const char *name, unsigned *recovered,
    char *err, size_t errlen)
{
	struct replay r = { dir, name, -1, -1, -1, false, false };
	struct stat st;
	void *map = NULL;
	int jdir, fd = -1, rc = -1;

	if (!journal_name_ok(name)) {
		seterr(err, errlen, "journal %s: not a journal's name", name);
		return -1;
	}
	if ((jdir = queue_subdir_open(dir, JOURNAL_DIR, err, errlen)) == -1)
		return -1;
	if ((fd = openat(jdir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW))
	    == -1) {
		if (errno == ENOENT)
			rc = 0;
		else
			seterr(err, errlen, "journal %s: open: %s", name,
			    strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		seterr(err, errlen, "journal %s: not a regular file", name);
		goto out;
	}
	if (st.st_size > 0 && (map = mmap(NULL, (size_t)st.st_size,
	    PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		map = NULL;
		seterr(err, errlen, "journal %s: mmap: %s", name,
		    strerror(errno));
		goto out;
	}
	if ((r.tmpfd = queue_subdir_open(dir, "tmp", err, errlen)) == -1 ||
	    (r.incfd = queue_subdir_open(dir, "incoming", err, errlen)) == -1 ||
	    (r.holdfd = queue_subdir_open(dir, "hold", err, errlen)) == -1)
		goto out;
	if (st.st_size > 0 && replay_map(&r, map, (uint64_t)st.st_size,
	    recovered, err, errlen) == -1)
		goto out;
	if ((r.to_inc && fsync(r.incfd) == -1) ||
	    (r.to_hold && fsync(r.holdfd) == -1)) {
		seterr(err, errlen, "journal %s: fsync the queue: %s", name,
		    strerror(errno));
		goto out;
	}
	if (unlinkat(jdir, name, 0) == -1 || fsync(jdir) == -1) {
		seterr(err, errlen, "journal %s: remove: %s", name,
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (map != NULL)
		munmap(map, (size_t)st.st_size);
	if (fd != -1)
		close(fd);
	if (r.tmpfd != -1)
		close(r.tmpfd);
	if (r.incfd != -1)
		close(r.incfd);
	if (r.holdfd != -1)
		close(r.holdfd);
	close(jdir);
	return rc;
}

int
jreplay_all(const char *dir, unsigned *recovered, char *err,
    size_t errlen)
{
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	if ((fd = queue_subdir_open(dir, JOURNAL_DIR, err, errlen)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		seterr(err, errlen, "journal: %s", strerror(errno));
		close(fd);
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		rc = jreplay_file(dir, de->d_name, recovered, err, errlen);
	}
	closedir(d);
	return rc;
}
