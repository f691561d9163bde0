/*
 * queue - sallyport's own mail queue on disk.
 *
 *	QUEUE_DIR/tmp/ID	a spool file being written; never trusted
 *	QUEUE_DIR/incoming/ID	a committed entry: envelope, blank line, message
 *	QUEUE_DIR/hold/ID	a committed entry kept on hold (a milter's
 *				quarantine): never delivered until released
 *
 * A message becomes part of the queue only by queue_commit: the spool
 * file is fsync'd, renamed into incoming/ and incoming/ is fsync'd.
 * Until then a crash leaves at most a file in tmp/, which the next
 * start-up removes. See doc/queue.md for the file format.
 */
#ifndef SALLYPORT_QUEUE_H
#define SALLYPORT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#define QUEUE_ID_LEN	16

/* The BODY= parameter of MAIL (RFC 6152), kept with the entry. */
enum mail_body {
	MAIL_BODY_NONE,		/* not given (an entry older than the key too) */
	MAIL_BODY_7BIT,
	MAIL_BODY_8BITMIME,
};

/* What a transaction carries besides its message. Strings must not
 * hold CR, LF or NUL; queue_spool_create refuses them. */
struct envelope {
	char		 id[QUEUE_ID_LEN + 1];	/* set by queue_spool_create */
	time_t		 arrival;
	const char	*client;	/* client IP address, text */
	const char	*helo;
	const char	*proto;		/* "ESMTP", "SMTP", ... */
	const char	*auth_user;	/* NULL unless authenticated */
	const char	*sender;	/* "" for the null sender */
	char *const	*rcpts;
	size_t		 nrcpts;
	bool		 smtputf8;	/* MAIL had SMTPUTF8 (RFC 6531) */
	bool		 requiretls;	/* MAIL had REQUIRETLS, RFC 8689 */
	/* "TLS-Required: No" known already (a copy of an entry that had
	 * it); else the session says so with spool_tls_optional. */
	bool		 tls_optional;
	enum mail_body	 body;		/* MAIL's BODY= */
	/* Octets to reserve after the envelope for header fields known only
	 * at the end of the message (spool_prepend); 0: none. Between
	 * QUEUE_PREPEND_MIN and QUEUE_PREPEND_MAX. */
	size_t		 prepend_room;
	/* Keep the entry on hold (a milter's quarantine) for this reason:
	 * it is published into hold/, listed by the queue tool, and not
	 * delivered until released. NULL: an ordinary entry. No CR, LF or
	 * NUL. */
	const char	*hold;
};

#define QUEUE_PREPEND_LINE	11		/* "0000000512\n": octets used */
#define QUEUE_PREPEND_MIN	(QUEUE_PREPEND_LINE + 1)
#define QUEUE_PREPEND_MAX	65536

struct queue;
struct spool;

/* Open (creating if needed) the queue directory and its tmp/,
 * incoming/, hold/ and journal/; removes leftover spool files from tmp/,
 * turns the records left in journal/ into entries (journal_replay_all)
 * and counts committed entries (incoming/ only). */
struct queue	*queue_open(const char *dir, char *err, size_t errlen);
/* Open an existing queue for another process (the queue runner),
 * without recovery: tmp/ holds the daemon's spool files in progress. */
struct queue	*queue_attach(const char *dir, char *err, size_t errlen);
void		 queue_close(struct queue *);
const char	*queue_dir(const struct queue *);
unsigned	 queue_removed_at_open(const struct queue *);
unsigned	 queue_entries_at_open(const struct queue *);
/* Entries queue_open made from the records of journals (journal.h). */
unsigned	 queue_recovered_at_open(const struct queue *);

/*
 * Queue ids without a look in the directories (doc/queue.md, "Queue
 * ids"). A process that alone holds `slot` (below QUEUE_ID_NOSLOT, 2048:
 * a worker holds the journal of its slot, created and locked) calls
 * queue_ids_own once its own journal was replayed: the newest id in
 * incoming/ and hold/ is read, and from then on its ids carry the slot
 * and a time always later than any id it made or found, so that no
 * other process's id, old or new, can be the same and none is looked
 * for. Should the clock be more than a second behind the newest id, an
 * id is made and checked as without a slot. 0, or -1 with err.
 * queue_ids_disown: back to ids checked one by one (before the slot is
 * given up).
 */
int		 queue_ids_own(struct queue *, unsigned slot, char *err,
		    size_t errlen);
void		 queue_ids_disown(struct queue *);

/* Octets the queue's file system has free for us (statvfs f_bavail *
 * f_frsize); 0, or -1 with a message. */
int		 queue_free_space(const struct queue *, uint64_t *avail,
		    char *err, size_t errlen);
/* Give the queue tree (the directory, tmp/, incoming/, hold/, state/,
 * tlsrpt/, mta-sts/, journal/ and the files in them) to uid:gid,
 * directories 0700; run as root before the privilege drop. Symbolic
 * links are never followed, and a file with other hard links is left
 * alone: 0 with err empty, or 0 with err naming what was left alone
 * (worth a warning), or -1 with err. */
int		 queue_chown(const char *dir, uid_t uid, gid_t gid, char *err,
		    size_t errlen);

/* Start a spool file for env (fills env->id) and write the envelope.
 * On failure errno says why: ENOSPC or EDQUOT when the disk is full. */
struct spool	*queue_spool_create(struct queue *, struct envelope *env,
		    char *err, size_t errlen);
int		 spool_write(struct spool *, const void *, size_t);
/* Put header fields (whole "Name: value\r\n" lines) in front of the
 * message, in the room the envelope reserved (prepend_room): the entry
 * is delivered with them on top, above what an earlier call put there.
 * Before the commit; the commit's fsync covers them. 0, or -1 with
 * errno (EMSGSIZE: no room left, or none reserved). */
int		 spool_prepend(struct spool *, const void *fields, size_t len);
/* The message said "TLS-Required: No" (RFC 8689 5): the entry's
 * `tlsrequired` line, written "yes" by queue_spool_create for an
 * envelope without REQUIRETLS, becomes "off" in place. Before the
 * commit, like spool_prepend. 0, or -1 with errno (EINVAL: a
 * REQUIRETLS envelope, which has no such line). */
int		 spool_tls_optional(struct spool *);
/* Read back the message of a spool not yet committed (milters see it):
 * up to len octets at offset off of the message as it will be
 * delivered, the prepended fields first, then what spool_write wrote.
 * The octets read, 0 at the end, -1 with errno. Blocking file I/O, like
 * spool_write. */
ssize_t		 spool_pread(struct spool *, void *buf, size_t len,
		    uint64_t off);
/* Give a spool new contents under the same id (what milters changed):
 * spool_rewrite starts a second spool file for env (env->id is set to
 * the old spool's id; env->prepend_room and env->hold are honoured),
 * which the caller fills with spool_write (the whole message, fields
 * the old one had prepended written as ordinary lines). Then
 * spool_rewrite_done: with keep, the new file takes the old one's place
 * and the old handle now stands for it (commit it as before); without,
 * the new file is dropped and the old one stays. `new` is freed either
 * way. Before the commit; 0, or -1 with err (the old spool is then
 * unchanged). */
struct spool	*spool_rewrite(struct spool *old, struct envelope *env,
		    char *err, size_t errlen);
int		 spool_rewrite_done(struct spool *old, struct spool *new,
		    bool keep, char *err, size_t errlen);
const char	*spool_id(const struct spool *);
uint64_t	 spool_size(const struct spool *);	/* message octets */
/* Its envelope had hold: spool_publish puts it into hold/ (make that
 * directory durable with queue_sync_hold), where no runner looks. */
bool		 spool_held(const struct spool *);

/*
 * Entries kept in memory, for the journal (queue/journal.h). With
 * queue_set_lazy(q, true), a spool of q created afterwards has no file
 * while its entry fits the spool's buffer (64 KiB): spool_write,
 * spool_prepend, spool_tls_optional, spool_pread and spool_rewrite work
 * on the buffer, and the file in tmp/ is made only when the entry
 * outgrows it or by spool_materialize. Such a spool's id is not
 * reserved by a file: spool_publish gives it a fresh one (the envelope's
 * id line rewritten, a warning logged) should its name be taken in
 * incoming/ or hold/ by then.
 */
void		 queue_set_lazy(struct queue *, bool);
/* The entry's octets as they stand (envelope, slot, message): in
 * memory, *iov covers them and *fd is -1; else *fd is the flushed file
 * (not to be closed) and *len its length. 0, or -1 with errno. */
int		 spool_image(struct spool *, struct iovec *iov, int *fd,
		    uint64_t *len);
/* Make sure the entry is written out to its file in tmp/ (created if
 * lazy), without an fsync: a batch is then made durable at once with
 * queue_syncfs before spool_publish. 0, or -1 with err: an entry in
 * memory then stays there whole, no file in tmp/, to be tried again. */
int		 spool_materialize(struct spool *, char *err, size_t errlen);
/* syncfs on the queue's file system: every spool materialized before it
 * is on stable storage. 0, or -1 with err. The kernel reports a failed
 * write-back to syncfs once per open descriptor: a thread that relies on
 * it keeps a descriptor of its own (queue_sync_handle, closed by the
 * caller) and passes it to queue_syncfs_on, so that another thread's
 * call cannot take the error it should have seen. */
int		 queue_syncfs(struct queue *, char *err, size_t errlen);
int		 queue_sync_handle(struct queue *, char *err, size_t errlen);
int		 queue_syncfs_on(struct queue *, int fd, char *err,
		    size_t errlen);

/* Commit in steps so that a batch can share the directory fsync:
 * spool_sync (flush + fsync the file), spool_publish (rename into
 * incoming/, or hold/ for a held spool), queue_sync_incoming (fsync the
 * directory, once for the batch; queue_sync_hold too when the batch
 * published a held spool). These block: call them off the event loop. */
int		 spool_sync(struct spool *, char *err, size_t errlen);
int		 spool_publish(struct spool *, char *err, size_t errlen);
int		 queue_sync_incoming(struct queue *, char *err, size_t errlen);
int		 queue_sync_hold(struct queue *, char *err, size_t errlen);
/* All three for one spool; returns 0 when the entry is durable. */
int		 queue_commit(struct spool *, char *err, size_t errlen);
/* The end of a message the server writes itself (a DSN, a report):
 * when its writing went well (write_rc 0) commit it and copy its id
 * into id_out (QUEUE_ID_LEN + 1 bytes), else say "write WHAT: errno's
 * reason" in err; the spool is freed either way. 0 when durable. */
int		 queue_commit_own(struct spool *, int write_rc,
		    const char *what, char *id_out, char *err,
		    size_t errlen);
/* Take a published entry back out (its batch's directory fsync failed,
 * so the client is told 451 and will send it again). */
int		 spool_unpublish(struct spool *);
/* Close a published entry's file now, in the thread that wrote it, rather
 * than in spool_free on the event loop; it cannot be unpublished after. */
void		 spool_close_published(struct spool *);
/* Close the spool; removes the file unless it was published. */
void		 spool_free(struct spool *);

#endif
