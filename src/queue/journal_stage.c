/*
 * journal_stage - records staged in memory and written with O_DIRECT
 * (journal_stage.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* O_DIRECT, pwritev2 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "queue/journal_stage.h"

static int write_all(int, const uint8_t *, size_t, uint64_t);

int
jstage_open(struct jstage *s, int dirfd, const char *name, int fd,
    uint64_t off)
{
	struct stat a, b;
	int e;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	if ((s->buf[0] = aligned_alloc(JSTAGE_BLOCK, JSTAGE_CAP)) == NULL ||
	    (s->buf[1] = aligned_alloc(JSTAGE_BLOCK, JSTAGE_CAP)) == NULL)
		goto fail;
	if ((s->fd = openat(dirfd, name, O_RDWR | O_DIRECT | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		goto fail;
	if (fstat(s->fd, &a) == -1 || fstat(fd, &b) == -1)
		goto fail;
	if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		errno = ESTALE;
		goto fail;
	}
	/* Some file systems take the flag at open and refuse the writes
	 * (a larger block, some FUSE ones): found now, not at a commit. */
	memset(s->buf[0], 0, JSTAGE_BLOCK);
	if (write_all(s->fd, s->buf[0], JSTAGE_BLOCK, off) == -1)
		goto fail;
	return 0;
fail:
	e = errno;
	jstage_close(s);
	errno = e;
	return -1;
}

void
jstage_close(struct jstage *s)
{
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
	free(s->buf[0]);
	free(s->buf[1]);
	s->buf[0] = s->buf[1] = NULL;
}

void
jstage_reset(struct jstage *s, uint64_t off)
{
	s->off = off;
	s->len = 0;
}

bool
jstage_fits(const struct jstage *s, uint64_t n)
{
	return n <= JSTAGE_CAP - s->len;
}

/* write_all - len octets (a multiple of JSTAGE_BLOCK) of an aligned
 * buffer at off, durably */
static int
write_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len > 0) {
		struct iovec v = { (void *)p, len };
		ssize_t w = pwritev2(fd, &v, 1, (off_t)off, RWF_DSYNC);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		/* Short: a direct write stops at a block boundary; the
		 * rest from there, synced by its own call. */
		if (w == 0 || (size_t)w % JSTAGE_BLOCK != 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		len -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

int
jstage_put(struct jstage *s, const void *p, size_t n)
{
	const uint8_t *from = p;

	while (n > 0) {
		size_t k;

		if (s->len == JSTAGE_CAP) {
			/* Full: out now, and go on from its end. */
			if (write_all(s->fd, s->buf[s->cur], JSTAGE_CAP,
			    s->off) == -1)
				return -1;
			s->off += JSTAGE_CAP;
			s->len = 0;
		}
		k = JSTAGE_CAP - s->len < n ? JSTAGE_CAP - s->len : n;
		memcpy(s->buf[s->cur] + s->len, from, k);
		s->len += k;
		from += k;
		n -= k;
	}
	return 0;
}

void
jstage_take(struct jstage *s, struct jstage_out *out)
{
	uint64_t end = s->off + s->len;
	uint64_t from = end & ~(uint64_t)(JSTAGE_BLOCK - 1);
	size_t tail = (size_t)(end - from);
	unsigned next = !s->cur;

	out->buf = s->buf[s->cur];
	out->off = s->off;
	out->len = s->len;
	/* The next group writes the last block again, whole. */
	memcpy(s->buf[next], s->buf[s->cur] + (from - s->off), tail);
	s->cur = next;
	s->off = from;
	s->len = tail;
}

int
jstage_write(const struct jstage *s, struct jstage_out *out)
{
	size_t whole = (out->len + JSTAGE_BLOCK - 1) &
	    ~(size_t)(JSTAGE_BLOCK - 1);

	if (out->len == 0)
		return 0;
	/* Past the last record: zeros, as in a file made for a pass. */
	memset(out->buf + out->len, 0, whole - out->len);
	return write_all(s->fd, out->buf, whole, out->off);
}
