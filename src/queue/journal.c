/*
 * journal - the writer of a committer's journal file (the format is in
 * journal_fmt.h; journal_replay.c turns records back into entries).
 *
 * Tickets are positions in an endless stream of records: a pass starts
 * at the ticket where the previous one ended, so they only grow; the
 * file offset of ticket t is t - base + JH_BLOCK in the pass whose
 * first record is at ticket base.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* copy_file_range */
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/crc32c.h"
#include "lib/log.h"
#include "queue/journal.h"
#include "queue/journal_fmt.h"
#include "queue/journal_stage.h"
#include "queue/queue_priv.h"

struct journal {
	struct queue	*q;
	int		 fd;
	int		 dirfd;		/* QUEUE_DIR/journal */
	char		 name[64];
	uint64_t	 size;
	pthread_mutex_t	 mu;		/* everything below */
	pthread_cond_t	 room;		/* retired moved, a header written */
	pthread_cond_t	 flushed;	/* a flush ended */
	uint32_t	 gen;		/* this pass */
	uint64_t	 base;		/* ticket of this pass's first record */
	uint64_t	 end;		/* ticket after the last record written */
	uint64_t	 retired;	/* tickets up to here retired */
	uint64_t	 durable;	/* tickets up to here on stable storage */
	uint64_t	 hseq;		/* the header's last sequence number */
	bool		 flushing;	/* a leader's write or fdatasync runs */
	/* Records go past the page cache (journal_stage.h) where the file
	 * system takes O_DIRECT; else written to the page cache and synced
	 * by an fdatasync on sfd. That descriptor is the flush's own: a
	 * write-back error is reported once per open file, and a header's
	 * fdatasync on fd must not take the error the records met. */
	struct jstage	 stage;
	int		 sfd;
	bool		 hdr_busy;	/* a retire writes the header */
	bool		 wrapping;	/* an append waits to start a pass */
	bool		 stalled;	/* journal_stall: no waiting for room */
	int		 broken;	/* errno of a failed flush: no more */
};

/* write_header - both copies' turn: the next sequence number, written
 * and fdatasync'd; a failed fdatasync breaks the journal. Under mu. */
static int
write_header(struct journal *j, uint32_t gen, uint64_t retired, char *err,
    size_t errlen)
{
	uint8_t slot[JH_SLOT_LEN];
	struct jhdr h = { gen, retired, j->hseq + 1 };

	jhdr_encode(slot, &h);
	/* A failed write may still have reached the disk: a new pass's
	 * header there, records of the old one after it would be lost.
	 * Either failure ends the journal. */
	if (queue_pwrite_all(j->fd, slot, sizeof(slot),
	    h.seq % 2 ? JH_SLOT1 : JH_SLOT0) == -1 || fdatasync(j->fd) == -1) {
		int e = errno;

		j->broken = e;
		pthread_cond_broadcast(&j->room);
		pthread_cond_broadcast(&j->flushed);
		seterr(err, errlen, "journal %s: header: %s; commit as files",
		    j->name, strerror(e));
		errno = e;
		return -1;
	}
	j->hseq = h.seq;
	return 0;
}

static void
journal_free(struct journal *j)
{
	if (j->fd != -1)
		close(j->fd);
	if (j->sfd != -1)
		close(j->sfd);
	jstage_close(&j->stage);
	if (j->dirfd != -1)
		close(j->dirfd);
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->room);
	pthread_cond_destroy(&j->flushed);
	free(j);
}

static bool direct_io = true;

void
journal_set_direct(bool on)
{
	direct_io = on;
}

bool
journal_direct(const struct journal *j)
{
	return j->stage.fd != -1;
}

struct journal *
journal_create(struct queue *q, const char *name, uint64_t size, char *err,
    size_t errlen)
{
	static const uint8_t zeros[1 << 16];
	struct journal *j;
	uint32_t gen;
	bool locked;

	if (!journal_name_ok(name) || size < JOURNAL_SIZE_MIN ||
	    size > JOURNAL_SIZE_MAX) {
		seterr(err, errlen, "journal %s: bad name or size", name);
		errno = EINVAL;
		return NULL;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		seterr(err, errlen, "out of memory");
		return NULL;
	}
	j->q = q;
	j->fd = j->sfd = j->stage.fd = -1;
	snprintf(j->name, sizeof(j->name), "%s", name);
	/* Whole blocks: a direct write of the last one stays inside. */
	j->size = size & ~(uint64_t)(JSTAGE_BLOCK - 1);
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->room, NULL);
	pthread_cond_init(&j->flushed, NULL);
	if ((j->dirfd = queue_subdir_open(queue_dir(q), JOURNAL_DIR, err,
	    errlen)) == -1) {
		journal_free(j);
		return NULL;
	}
	if ((j->fd = openat(j->dirfd, name, O_RDWR | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600)) == -1) {
		seterr(err, errlen, "journal %s: create: %s", name,
		    strerror(errno));
		journal_free(j);
		return NULL;
	}
	/* Held while the file is ours: replay leaves a live one alone.
	 * Until the lock, another process's replay may have taken the new
	 * file for a leftover and removed it: then it is not ours. */
	locked = flock(j->fd, LOCK_EX | LOCK_NB) == 0;
	if (!locked && errno != EWOULDBLOCK) {
		seterr(err, errlen, "journal %s: lock: %s", name,
		    strerror(errno));
		goto fail;
	}
	if (!locked || !queue_still_named(j->dirfd, name, j->fd)) {
		/* Locked or removed by another process's replay, which
		 * took the new file for a leftover: not ours, nor is the
		 * name ours to remove. */
		seterr(err, errlen, "journal %s: %s by another process as "
		    "it was made (another sallyport on this queue "
		    "directory?)", name, locked ? "removed" : "locked");
		journal_free(j);
		errno = EBUSY;
		return NULL;
	}
	/* A random first pass: the records of a message that quotes a
	 * record cannot name a pass in advance. Never 0. */
	if (getrandom(&gen, sizeof(gen), 0) != sizeof(gen))
		gen = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16;
	gen |= 1;
	for (uint64_t off = 0; off < j->size; off += sizeof(zeros)) {
		uint64_t n = j->size - off;

		if (queue_pwrite_all(j->fd, zeros, n < sizeof(zeros) ? n :
		    sizeof(zeros), off) == -1) {
			seterr(err, errlen, "journal %s: write: %s", name,
			    strerror(errno));
			goto fail;
		}
	}
	j->gen = gen;
	pthread_mutex_lock(&j->mu);
	if (write_header(j, gen, JH_BLOCK, err, errlen) == -1) {
		pthread_mutex_unlock(&j->mu);
		goto fail;
	}
	pthread_mutex_unlock(&j->mu);
	if (fsync(j->fd) == -1 || fsync(j->dirfd) == -1) {
		seterr(err, errlen, "journal %s: fsync: %s", name,
		    strerror(errno));
		goto fail;
	}
	/* The other descriptors of the same file (j->fd holds the lock,
	 * so nothing replaced the name meanwhile). */
	if (direct_io && jstage_open(&j->stage, j->dirfd, name, j->fd,
	    JH_BLOCK) == 0) {
		jstage_reset(&j->stage, JH_BLOCK);
		/* Its zeros need not stay in memory: records bypass it. */
		posix_fadvise(j->fd, 0, 0, POSIX_FADV_DONTNEED);
		return j;
	}
	if (direct_io)
		log_info("journal %s: no direct writes here (%s): records "
		    "go through the page cache, one fdatasync per group",
		    name, strerror(errno));
	if ((j->sfd = openat(j->dirfd, name, O_RDWR | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || !queue_still_named(j->dirfd, name, j->sfd)) {
		seterr(err, errlen, "journal %s: open: %s", name,
		    j->sfd == -1 ? strerror(errno) : "replaced meanwhile");
		goto fail;
	}
	return j;
fail:
	unlinkat(j->dirfd, name, 0);
	journal_free(j);
	return NULL;
}

/* read_fd - the first len octets of fd, a piece at a time, to each(arg,
 * piece): 0, or -1 with errno (a short file is EIO) */
static int
read_fd(int fd, uint64_t len, int (*each)(void *, const uint8_t *, size_t),
    void *arg)
{
	static __thread uint8_t buf[1 << 16];

	for (uint64_t pos = 0; pos < len; ) {
		size_t want = len - pos < sizeof(buf) ? (size_t)(len - pos) :
		    sizeof(buf);
		ssize_t n = pread(fd, buf, want, (off_t)pos);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;	/* shorter than len */
			return -1;
		}
		if (each(arg, buf, (size_t)n) == -1)
			return -1;
		pos += (uint64_t)n;
	}
	return 0;
}

/* copy_piece - one piece of an entry read back from its file: into the
 * CRC, and written to the journal where the kernel did not copy it */
struct copy {
	struct journal	*j;
	uint64_t	 off;		/* the entry's file offset */
	uint64_t	 pos;		/* of the piece in the entry */
	uint64_t	 done;		/* copied by the kernel */
	uint32_t	 crc;
};

static int
copy_piece(void *arg, const uint8_t *p, size_t n)
{
	struct copy *c = arg;

	c->crc = crc32c_add(c->crc, p, n);
	if (c->pos + (uint64_t)n > c->done &&
	    queue_pwrite_all(c->j->fd, p, n, c->off + c->pos) == -1)
		return -1;
	c->pos += (uint64_t)n;
	return 0;
}

/* copy_from - the first len octets of fd to the journal at off, their
 * CRC32c into *crc: in the kernel where it can, else through a buffer */
static int
copy_from(struct journal *j, int fd, uint64_t len, uint64_t off,
    uint32_t *crc)
{
	struct copy c = { j, off, 0, 0, 0 };
	bool kernel = true;

	while (c.done < len && kernel) {
		loff_t in = (loff_t)c.done, out = (loff_t)(off + c.done);
		ssize_t n = copy_file_range(fd, &in, j->fd, &out,
		    (size_t)(len - c.done), 0);

		if (n > 0)
			c.done += (uint64_t)n;
		else if (n == -1 && errno == EINTR)
			continue;
		else if (n == 0 || errno == EXDEV || errno == EINVAL ||
		    errno == ENOSYS || errno == EOPNOTSUPP)
			kernel = false;
		else
			return -1;
	}
	/* The CRC reads what was copied (in the page cache), and the
	 * rest goes through the same buffer. */
	if (read_fd(fd, len, copy_piece, &c) == -1)
		return -1;
	*crc = c.crc;
	return 0;
}

static int
crc_piece(void *arg, const uint8_t *p, size_t n)
{
	uint32_t *crc = arg;

	*crc = crc32c_add(*crc, p, n);
	return 0;
}

/* stage_piece - one piece of an entry read back from its file, staged;
 * its CRC taken again, to be held against the first reading's */
struct restage {
	struct jstage	*stage;
	uint32_t	 crc;
};

static int
stage_piece(void *arg, const uint8_t *p, size_t n)
{
	struct restage *r = arg;

	r->crc = crc32c_add(r->crc, p, n);
	return jstage_put(r->stage, p, n);
}

/* stage_record - one record after the last, staged for the next group's
 * write (journal_stage.h). Once some of it is staged a failure breaks
 * the journal: a full buffer's write failed, or the entry's file read
 * differently the second time. Under mu. */
static int
stage_record(struct journal *j, const char *id, bool held,
    const struct iovec *iov, int iovcnt, int fd, uint64_t len)
{
	static const uint8_t pad[JR_ALIGN];
	uint8_t head[JR_HDR];
	uint32_t crc = 0;
	uint64_t total = 0;
	int rc;

	/* The CRC leads the record: an entry in a file is read twice. */
	if (iovcnt == 0 && read_fd(fd, len, crc_piece, &crc) == -1)
		return -1;
	for (int i = 0; i < iovcnt; i++) {
		crc = crc32c_add(crc, iov[i].iov_base, iov[i].iov_len);
		total += iov[i].iov_len;
	}
	if (iovcnt > 0 && total != len) {
		errno = EINVAL;
		return -1;
	}
	jrec_encode(head, j->gen, id, held, len, crc);
	rc = jstage_put(&j->stage, head, JR_HDR);
	if (rc == 0 && iovcnt == 0) {
		struct restage r = { &j->stage, 0 };

		rc = read_fd(fd, len, stage_piece, &r);
		if (rc == 0 && r.crc != crc) {
			errno = EIO;	/* the file changed under us */
			rc = -1;
		}
	}
	for (int i = 0; rc == 0 && i < iovcnt; i++)
		rc = jstage_put(&j->stage, iov[i].iov_base, iov[i].iov_len);
	if (rc == 0)
		rc = jstage_put(&j->stage, pad, (size_t)(jr_pad(len) - len));
	if (rc == -1) {
		j->broken = errno != 0 ? errno : EIO;
		pthread_cond_broadcast(&j->room);
		pthread_cond_broadcast(&j->flushed);
	}
	return rc;
}

/* put_record - write one record at file offset off. Under mu. */
static int
put_record(struct journal *j, uint64_t off, const char *id, bool held,
    const struct iovec *iov, int iovcnt, int fd, uint64_t len)
{
	static const uint8_t pad[JR_ALIGN];
	uint8_t head[JR_HDR];
	uint32_t crc = 0;
	size_t npad = (size_t)(jr_pad(len) - len);

	if (j->stage.fd != -1)
		return stage_record(j, id, held, iov, iovcnt, fd, len);
	if (iovcnt == 0) {
		if (copy_from(j, fd, len, off + JR_HDR, &crc) == -1 ||
		    (npad > 0 && queue_pwrite_all(j->fd, pad, npad,
		    off + JR_HDR + len) == -1))
			return -1;
		jrec_encode(head, j->gen, id, held, len, crc);
		return queue_pwrite_all(j->fd, head, JR_HDR, off);
	}
	struct iovec v[IOV_MAX];
	size_t total = JR_HDR;
	int n = 0;

	if (iovcnt > IOV_MAX - 2) {
		errno = EINVAL;
		return -1;
	}
	v[n].iov_base = head;
	v[n++].iov_len = JR_HDR;
	for (int i = 0; i < iovcnt; i++) {
		crc = crc32c_add(crc, iov[i].iov_base, iov[i].iov_len);
		total += iov[i].iov_len;
		v[n++] = iov[i];
	}
	if (total - JR_HDR != len) {
		errno = EINVAL;
		return -1;
	}
	if (npad > 0) {
		v[n].iov_base = (void *)pad;
		v[n++].iov_len = npad;
		total += npad;
	}
	jrec_encode(head, j->gen, id, held, len, crc);
	/* pwritev may stop short: the rest piece by piece. */
	ssize_t w;

	while ((w = pwritev(j->fd, v, n, (off_t)off)) == -1 && errno == EINTR)
		;
	if (w == -1)
		return -1;
	for (int k = 0; k < n; k++) {
		size_t skip = (size_t)w < v[k].iov_len ? (size_t)w :
		    v[k].iov_len;

		if (skip < v[k].iov_len && queue_pwrite_all(j->fd,
		    (const uint8_t *)v[k].iov_base + skip,
		    v[k].iov_len - skip, off + skip) == -1)
			return -1;
		w -= (ssize_t)skip;
		off += v[k].iov_len;
	}
	return 0;
}

/* off_of - the file offset of ticket t in this pass. Under mu. */
static uint64_t
off_of(const struct journal *j, uint64_t t)
{
	return t - j->base + JH_BLOCK;
}

/* needs_pass - a record of reclen octets starts a new pass (or one is
 * being started): it does not fit after the last; under mu */
static bool
needs_pass(const struct journal *j, uint64_t reclen)
{
	return j->wrapping || off_of(j, j->end) + reclen > j->size;
}

/* stage_waits - an append must wait for the write running: it would
 * write staged octets itself (a full buffer) or start a new pass over
 * them. Under mu. */
static bool
stage_waits(const struct journal *j, uint64_t reclen, bool new_pass)
{
	return j->stage.fd != -1 && j->flushing &&
	    (new_pass || !jstage_fits(&j->stage, reclen));
}

int
journal_append(struct journal *j, const char *id, bool held,
    const struct iovec *iov, int iovcnt, int fd, uint64_t len,
    uint64_t *ticket, char *err, size_t errlen)
{
	uint64_t reclen = JR_HDR + jr_pad(len), off;

	if (strlen(id) != QUEUE_ID_LEN || !jr_id_ok((const uint8_t *)id)) {
		seterr(err, errlen, "journal %s: bad id", j->name);
		errno = EINVAL;
		return -1;
	}
	if (len > j->size || reclen > j->size - JH_BLOCK) {
		seterr(err, errlen, "journal %s: entry %s of %llu octets is "
		    "larger than the journal", j->name, id,
		    (unsigned long long)len);
		errno = EFBIG;
		return -1;
	}
	pthread_mutex_lock(&j->mu);
	for (;;) {
		if (j->broken) {
			seterr(err, errlen, "journal %s: a flush failed (%s); "
			    "commit as files", j->name, strerror(j->broken));
			pthread_mutex_unlock(&j->mu);
			errno = EIO;
			return -1;
		}
		off = off_of(j, j->end);
		if (!needs_pass(j, reclen)) {
			if (stage_waits(j, reclen, false)) {
				pthread_cond_wait(&j->flushed, &j->mu);
				continue;
			}
			break;
		}
		if (!j->wrapping) {
			j->wrapping = true;
			continue;
		}
		if (j->retired == j->end && !j->hdr_busy) {
			if (stage_waits(j, reclen, true)) {
				pthread_cond_wait(&j->flushed, &j->mu);
				continue;
			}
			break;		/* ours to start the pass */
		}
		/* A pass starts once every record is retired, and a record
		 * not yet synced is not even on its way there: its writer,
		 * maybe the caller, must sync it first, not wait here. */
		if (j->durable < j->end) {
			seterr(err, errlen, "journal %s: full, and records not "
			    "yet synced stand before its next pass: sync them "
			    "and append again", j->name);
			pthread_mutex_unlock(&j->mu);
			errno = EAGAIN;
			return -1;
		}
		if (j->stalled) {
			seterr(err, errlen, "journal %s: full, its entries not "
			    "being written out", j->name);
			pthread_mutex_unlock(&j->mu);
			errno = ENOSPC;
			return -1;
		}
		pthread_cond_wait(&j->room, &j->mu);
	}
	if (j->wrapping) {
		/* Every record retired: a new pass from the first offset,
		 * its header durable before its first record. */
		if (write_header(j, j->gen + 1, JH_BLOCK, err, errlen) == -1) {
			j->wrapping = false;
			pthread_cond_broadcast(&j->room);
			pthread_mutex_unlock(&j->mu);
			return -1;
		}
		j->gen++;
		j->base = j->end;
		j->wrapping = false;
		jstage_reset(&j->stage, JH_BLOCK);
		pthread_cond_broadcast(&j->room);
		off = JH_BLOCK;
	}
	if (put_record(j, off, id, held, iov, iovcnt, fd, len) == -1) {
		int e = errno;

		seterr(err, errlen, "journal %s: append %s: %s", j->name, id,
		    strerror(e));
		pthread_mutex_unlock(&j->mu);
		errno = e;
		return -1;
	}
	j->end += reclen;
	*ticket = j->end;
	pthread_mutex_unlock(&j->mu);
	return 0;
}

int
journal_sync(struct journal *j, uint64_t ticket, char *err, size_t errlen)
{
	pthread_mutex_lock(&j->mu);
	for (;;) {
		uint64_t target;
		int rc, e;

		if (ticket <= j->durable)
			break;
		if (j->broken) {
			seterr(err, errlen, "journal %s: fdatasync: %s", j->name,
			    strerror(j->broken));
			pthread_mutex_unlock(&j->mu);
			errno = EIO;
			return -1;
		}
		if (ticket > j->end) {
			seterr(err, errlen, "journal %s: no such ticket",
			    j->name);
			pthread_mutex_unlock(&j->mu);
			errno = EINVAL;
			return -1;
		}
		if (j->flushing) {
			pthread_cond_wait(&j->flushed, &j->mu);
			continue;
		}
		/* The leader: everything appended so far. */
		j->flushing = true;
		target = j->end;
		if (j->stage.fd != -1) {
			struct jstage_out out;

			jstage_take(&j->stage, &out);
			pthread_mutex_unlock(&j->mu);
			rc = jstage_write(&j->stage, &out);
		} else {
			pthread_mutex_unlock(&j->mu);
			rc = fdatasync(j->sfd);
		}
		e = errno;
		pthread_mutex_lock(&j->mu);
		j->flushing = false;
		/* A header's flush that failed meanwhile (journal_retire)
		 * fails this one too: the page cache's state is unknown. */
		if (rc == 0 && !j->broken && target > j->durable)
			j->durable = target;
		else if (rc == -1) {
			j->broken = e != 0 ? e : EIO;
			pthread_cond_broadcast(&j->room);
		}
		pthread_cond_broadcast(&j->flushed);
	}
	pthread_mutex_unlock(&j->mu);
	return 0;
}

int
journal_retire(struct journal *j, uint64_t ticket, char *err, size_t errlen)
{
	int rc = 0;

	pthread_mutex_lock(&j->mu);
	while (j->hdr_busy)
		pthread_cond_wait(&j->room, &j->mu);
	if (ticket <= j->retired) {
		pthread_mutex_unlock(&j->mu);
		return 0;
	}
	if (ticket > j->end) {
		seterr(err, errlen, "journal %s: no such ticket", j->name);
		pthread_mutex_unlock(&j->mu);
		errno = EINVAL;
		return -1;
	}
	/* No pass starts while the header is ours: the ticket is in this
	 * one (a pass starts only once every record was retired). */
	j->hdr_busy = true;
	{
		uint32_t gen = j->gen;
		uint64_t off = off_of(j, ticket);
		uint64_t seq = j->hseq;
		uint8_t slot[JH_SLOT_LEN];
		struct jhdr h = { gen, off, seq + 1 };
		int e = 0;

		pthread_mutex_unlock(&j->mu);
		jhdr_encode(slot, &h);
		if (queue_pwrite_all(j->fd, slot, sizeof(slot),
		    h.seq % 2 ? JH_SLOT1 : JH_SLOT0) == -1)
			rc = -1, e = errno;
		else if (fdatasync(j->fd) == -1)
			rc = -2, e = errno;
		pthread_mutex_lock(&j->mu);
		if (rc == 0) {
			j->hseq = h.seq;
			j->retired = ticket;
			j->stalled = false;
		} else {
			seterr(err, errlen, "journal %s: %s header: %s",
			    j->name, rc == -1 ? "write" : "fdatasync",
			    strerror(e));
			if (rc == -2) {
				j->broken = e;
				pthread_cond_broadcast(&j->flushed);
			}
			/* hseq stays: the next write goes to the same,
			 * maybe torn, copy and the other one stays whole. */
			rc = -1;
			errno = e;
		}
	}
	j->hdr_busy = false;
	pthread_cond_broadcast(&j->room);
	pthread_mutex_unlock(&j->mu);
	return rc;
}

bool
journal_wraps(struct journal *j, uint64_t len)
{
	uint64_t reclen = JR_HDR + jr_pad(len);
	bool wraps;

	pthread_mutex_lock(&j->mu);
	wraps = needs_pass(j, reclen);
	pthread_mutex_unlock(&j->mu);
	return wraps;
}

void
journal_stall(struct journal *j)
{
	pthread_mutex_lock(&j->mu);
	j->stalled = true;
	pthread_cond_broadcast(&j->room);
	pthread_mutex_unlock(&j->mu);
}

void
journal_close(struct journal *j, bool remove)
{
	if (j == NULL)
		return;
	if (remove && unlinkat(j->dirfd, j->name, 0) == 0)
		fsync(j->dirfd);
	journal_free(j);
}

int
journal_replay_file(struct queue *q, const char *name, unsigned *recovered,
    char *err, size_t errlen)
{
	return jreplay_file(queue_dir(q), name, recovered, err, errlen);
}

int
journal_replay_all(struct queue *q, unsigned *recovered, char *err,
    size_t errlen)
{
	return jreplay_all(queue_dir(q), recovered, err, errlen);
}
