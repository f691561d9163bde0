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
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
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
	uint64_t	 stop;		/* where replay stopped */
	bool		 behind;	/* a whole record of the pass after it */
};

/* The suffix of a journal file set aside (set_aside): its name, then
 * ".bad-" and the time. Never replayed. */
#define ASIDE_MARK	".bad-"

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
		    (inc == HAVE_SAME || hold == HAVE_SAME)) {
			/* Its writer may have died between the rename and
			 * the directory's fsync: made durable here, before
			 * the journal that also holds it goes. */
			*(inc == HAVE_SAME ? &r->to_inc : &r->to_hold) = true;
			return 0;
		}
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

/* whole_after - does a whole record of pass gen start past pos? Not
 * after a crash's torn tail, whose records are all of the last flush
 * that never returned; after damaged storage, they may be acknowledged. */
static bool
whole_after(const uint8_t *map, uint64_t size, uint64_t pos, uint32_t gen)
{
	struct jrecord rec;
	size_t used;

	for (pos += JR_ALIGN; pos + JR_HDR <= size; pos += JR_ALIGN)
		if (journal_parse(map + pos, (size_t)(size - pos), gen, &rec,
		    &used) == JPARSE_RECORD)
			return true;
	return false;
}

/* set_aside - journal/name becomes journal/name.bad-TIME, as it is, and
 * journal/ is fsync'd: 0 with the new name in aside, or -1 with err */
static int
set_aside(int jdir, const char *name, char *aside, size_t len, char *err,
    size_t errlen)
{
	char stamp[32];
	struct tm tm;
	time_t now = time(NULL);

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (int i = 0; i < 100; i++) {
		if (i == 0)
			snprintf(aside, len, "%s" ASIDE_MARK "%s", name, stamp);
		else
			snprintf(aside, len, "%s" ASIDE_MARK "%s.%d", name,
			    stamp, i);
		if (renameat2(jdir, name, jdir, aside, RENAME_NOREPLACE) == 0)
			break;
		if (errno != EEXIST || i == 99) {
			seterr(err, errlen, "journal %s: set aside: %s", name,
			    strerror(errno));
			return -1;
		}
	}
	if (fsync(jdir) == -1) {
		seterr(err, errlen, "journal %s: fsync journal/: %s", name,
		    strerror(errno));
		return -1;
	}
	return 0;
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
		seterr(err, errlen, "no copy of its header is whole");
		return -2;
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
	r->stop = pos;
	r->behind = pos < size && whole_after(map, size, pos, h.gen);
	return 0;
}

int
jreplay_file(const char *dir, const char *name, unsigned *recovered,
    char *err, size_t errlen)
{
	struct replay r = { dir, name, -1, -1, -1, false, false, 0, false };
	char why[256], aside[128];
	struct stat st;
	void *map = NULL;
	int jdir, fd = -1, rc = -1, mrc = 0;

	if (!journal_name_ok(name)) {
		seterr(err, errlen, "journal %s: not a journal's name", name);
		return -1;
	}
	if ((jdir = queue_subdir_open(dir, JOURNAL_DIR, err, errlen)) == -1)
		return -1;
	if ((fd = openat(jdir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK)) == -1 && errno != ELOOP) {
		if (errno == ENOENT)
			rc = 0;
		else
			seterr(err, errlen, "journal %s: open: %s", name,
			    strerror(errno));
		goto out;
	}
	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(why, sizeof(why), "not a regular file");
		st.st_size = 0;
		goto bad;
	}
	/* Its writer's lock: a live journal (another sallyport on this
	 * queue) is neither replayed nor removed. */
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		seterr(err, errlen, "journal %s: in use by a running process "
		    "(is another sallyport serving %s?)%s%s", name, dir,
		    errno == EWOULDBLOCK ? "" : ": ",
		    errno == EWOULDBLOCK ? "" : strerror(errno));
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
	if (st.st_size > 0 && (mrc = replay_map(&r, map, (uint64_t)st.st_size,
	    recovered, why, sizeof(why))) == -1) {
		seterr(err, errlen, "%s", why);
		goto out;
	}
	if ((r.to_inc && fsync(r.incfd) == -1) ||
	    (r.to_hold && fsync(r.holdfd) == -1)) {
		seterr(err, errlen, "journal %s: fsync the queue: %s", name,
		    strerror(errno));
		goto out;
	}
	if (mrc == -2)
		goto bad;
	if (r.behind) {
		/* Replayed up to the damage; what lies behind it is kept. */
		if (set_aside(jdir, name, aside, sizeof(aside), err,
		    errlen) == -1)
			goto out;
		log_err("journal %s: a damaged record at offset %llu, whole "
		    "records of the same pass behind it: the records before "
		    "it are in the queue, the file is kept as journal/%s "
		    "(doc/queue.md, \"A journal set aside\")", name,
		    (unsigned long long)r.stop, aside);
		rc = 0;
		goto out;
	}
	if (unlinkat(jdir, name, 0) == -1 || fsync(jdir) == -1) {
		seterr(err, errlen, "journal %s: remove: %s", name,
		    strerror(errno));
		goto out;
	}
	rc = 0;
	goto out;
bad:
	/* Not a journal that replay can read: kept for the admin, the
	 * queue goes on (doc/queue.md, "A journal set aside"). */
	if (set_aside(jdir, name, aside, sizeof(aside), err, errlen) == -1)
		goto out;
	log_err("journal %s: %s: nothing replayed from it; moved aside as "
	    "journal/%s (doc/queue.md, \"A journal set aside\")", name, why,
	    aside);
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
		if (strstr(de->d_name, ASIDE_MARK) != NULL) {
			log_warn("journal/%s: set aside, not replayed "
			    "(doc/queue.md, \"A journal set aside\")",
			    de->d_name);
			continue;
		}
		if (!journal_name_ok(de->d_name)) {
			log_warn("journal/%s: not a journal's name: left "
			    "alone", de->d_name);
			continue;
		}
		rc = jreplay_file(dir, de->d_name, recovered, err, errlen);
	}
	closedir(d);
	return rc;
}
