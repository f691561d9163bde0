/*
 * journal_stage - the journal's records on their way to the disk without
 * the page cache: appended into a block-aligned buffer in memory, then
 * written with one O_DIRECT pwritev2(RWF_DSYNC) per group. That one call
 * is the write and its flush: on the development machine's virtual disk a
 * group commit took about two thirds of the time of a buffered write and
 * an fdatasync (doc/queue.md, "Records written past the page cache").
 *
 * Two buffers: while one is being written, appends go on in the other,
 * which starts with a copy of the last, partly filled block (it is written
 * again, whole, by the next group). Writes never overlap: the caller lets
 * one run at a time. Not thread-safe: the journal's mutex guards it.
 */
#ifndef SALLYPORT_JOURNAL_STAGE_H
#define SALLYPORT_JOURNAL_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSTAGE_BLOCK	4096		/* alignment of every direct write */
#define JSTAGE_CAP	(1024 * 1024)	/* octets one buffer stages */

struct jstage {
	int		 fd;		/* O_DIRECT, or -1: not in use */
	uint8_t		*buf[2];
	unsigned	 cur;		/* the buffer appends go to */
	uint64_t	 off;		/* file offset of buf[cur][0], aligned */
	size_t		 len;		/* octets staged in buf[cur] */
};

/* Bytes handed over to be written: buf (the other buffer now) at off. */
struct jstage_out {
	uint8_t		*buf;
	uint64_t	 off;
	size_t		 len;
};

/* Open dirfd/name for direct writes (the same file as fd: checked), take
 * the buffers and try one direct write of zeros at off, a block of the
 * file that holds zeros: 0; -1 with errno when the file system refuses
 * O_DIRECT at open or at the write (EINVAL), memory is short, or the
 * write fails; the stage is then not in use (fd -1). */
int	jstage_open(struct jstage *, int dirfd, const char *name, int fd,
	    uint64_t off);
void	jstage_close(struct jstage *);

/* Appends start at file offset off (block-aligned): a new pass, or the
 * first. Whatever was staged is dropped. */
void	jstage_reset(struct jstage *, uint64_t off);

/* Whether n more octets fit in the buffer without writing part of it. */
bool	jstage_fits(const struct jstage *, uint64_t n);

/* Stage n octets after those staged; a full buffer is written out first
 * (durably, RWF_DSYNC). Only while no jstage_write runs: the caller
 * checks jstage_fits first, and waits when it is false. 0, or -1 with
 * errno (the write failed). */
int	jstage_put(struct jstage *, const void *p, size_t n);

/* Hand everything staged over to be written (out->len 0: nothing) and
 * go on in the other buffer from the last partly filled block. */
void	jstage_take(struct jstage *, struct jstage_out *out);

/* Write what jstage_take handed over, its last block padded with zeros,
 * and return once it is on stable storage. Without the journal's mutex:
 * appends meanwhile go to the other buffer. 0, or -1 with errno. */
int	jstage_write(const struct jstage *, struct jstage_out *);

#endif
