/*
 * journal - many accepted messages per flush: an append-only file of
 * whole queue entries that the committer writes and fdatasyncs once for
 * every entry that arrived while the previous flush ran (doc/queue.md,
 * "The journal").
 *
 *	QUEUE_DIR/journal/NAME	one per committer (a worker's slot: "w0",
 *				"w1", ...), made at its start, written to
 *				its full size once so that a flush never
 *				has file metadata to commit
 *
 * An entry is durable, and its client may hear 250, once its record is
 * on stable storage. Later, off the client's path, the committer writes
 * the entry's file into incoming/ (or hold/) as the files method does,
 * for many entries at once (one syncfs, the renames, one directory
 * fsync), and only then retires the records: replay starts after the
 * last retired one. Until then a crash, of the daemon or of one worker,
 * leaves the record, which journal_replay turns into the entry.
 *
 * The record format is parsed sans I/O (journal_parse) so that replay,
 * the fuzzer and the tests share it. Everything here blocks: call it
 * off the event loop (the committer's threads, or start-up).
 */
#ifndef SALLYPORT_JOURNAL_H
#define SALLYPORT_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "queue/queue.h"

/* QUEUE_DIR/journal/: made by queue_open, mode 0700 like the others. */
#define JOURNAL_DIR		"journal"
#define JOURNAL_SIZE_DEFAULT	(32ULL << 20)
#define JOURNAL_SIZE_MIN	(1ULL << 20)
#define JOURNAL_SIZE_MAX	(4ULL << 30)

struct journal;

/* Whether journals made from now on write their records past the page
 * cache (O_DIRECT, one pwritev2 with RWF_DSYNC per group: the default)
 * where the file system allows it, or through it, with an fdatasync per
 * group. Process-wide; for the tests of both ways. */
void		 journal_set_direct(bool);
/* Whether this journal writes past the page cache. */
bool		 journal_direct(const struct journal *);

/* Make QUEUE_DIR/journal/NAME afresh, `size` octets written out and
 * fsync'd with its directory (a file of that name must not exist:
 * journal_replay_file first). NULL with err. */
struct journal	*journal_create(struct queue *, const char *name,
		    uint64_t size, char *err, size_t errlen);

/* Append one entry: its id, whether it goes to hold/, and its octets
 * (the whole entry file: envelope, slot, message), given as iov (an
 * entry in memory) or, when iovcnt is 0, as the first len octets of fd
 * (an entry that outgrew memory; copied in the kernel, or read twice when
 * records go past the page cache). Thread-safe;
 * appends are ordered. *ticket: pass it to journal_sync and
 * journal_retire. When the file has no room left the call waits until
 * earlier records are retired (an entry larger than the whole journal
 * fails at once with EFBIG: the caller commits it as a file instead),
 * but only for records already synced: if some appended before it are
 * not (the caller's own group, say), it fails at once with EAGAIN, and
 * the caller syncs its records, passes them on to be written out and
 * retired, then appends again. 0, or -1 with err and errno. */
int		 journal_append(struct journal *, const char *id, bool held,
		    const struct iovec *iov, int iovcnt, int fd, uint64_t len,
		    uint64_t *ticket, char *err, size_t errlen);

/* Return once every record up to ticket is on stable storage: one
 * write (or fdatasync) covers every record appended before it began; a
 * caller finding one running waits for it and, if its record came
 * later, the next. Thread-safe. 0, or -1 with err (the records since
 * the last good flush are then not durable: their clients get 451). */
int		 journal_sync(struct journal *, uint64_t ticket, char *err,
		    size_t errlen);

/* Every record up to ticket has its entry durable in incoming/ or hold/:
 * say so on disk (replay starts after it) and free its room. Tickets
 * are retired in order. 0, or -1 with err. */
int		 journal_retire(struct journal *, uint64_t ticket, char *err,
		    size_t errlen);

/* Whether appending an entry of len octets now starts a new pass: it
 * would wait until every record is retired. Exact for the only thread
 * that appends (nothing else moves the end). */
bool		 journal_wraps(struct journal *, uint64_t len);

/* The entries of records cannot be written out for now (a full disk):
 * until the next journal_retire, an append that would wait for room
 * fails at once with ENOSPC (the caller commits it as a file, which
 * answers 451 if the disk is full), and those waiting are woken to fail
 * so. */
void		 journal_stall(struct journal *);

/* Close; with remove (every record retired), unlink the file. */
void		 journal_close(struct journal *, bool remove);

/* Recovery of one journal file whose writer is gone (a worker that
 * died, or any file at start-up): every record after the last retired
 * one, up to the first that is torn, zero or of an older pass through
 * the file, becomes its entry again: skipped when incoming/ID or
 * hold/ID already holds the same octets, written under a fresh id when
 * that name holds something else, else written to tmp/, fsync'd and
 * renamed in, the directories fsync'd. Then the file is removed. Adds
 * the entries made to *recovered; 0 (also when there is no such file),
 * or -1 with err and the file left in place. */
int		 journal_replay_file(struct queue *, const char *name,
		    unsigned *recovered, char *err, size_t errlen);
/* journal_replay_file for every file in QUEUE_DIR/journal/ (start-up,
 * by queue_open). */
int		 journal_replay_all(struct queue *, unsigned *recovered,
		    char *err, size_t errlen);

/* One record, sans I/O. */
enum jparse {
	JPARSE_RECORD,		/* *rec filled, *used octets taken */
	JPARSE_MORE,		/* a record starts here but goes past len */
	JPARSE_END,		/* no record here: zeros, torn, another pass */
};

struct jrecord {
	char		 id[QUEUE_ID_LEN + 1];
	bool		 held;
	const uint8_t	*data;		/* the entry's octets, inside buf */
	uint64_t	 len;
};

/* buf: the file's octets at a record boundary (len of them), gen: the
 * pass through the file the header names. */
enum jparse	 journal_parse(const uint8_t *buf, size_t len, uint32_t gen,
		    struct jrecord *rec, size_t *used);

#endif
