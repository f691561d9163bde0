/*
 * qentry - a committed queue entry as delivery sees it: the envelope
 * and message (incoming/ID, never changed after the commit) and the
 * per-recipient delivery state (state/ID, append-only, fsync'd after
 * every outcome), so a delivered recipient is never sent again after a
 * crash. A truncated last state line (a crash mid-write) is ignored;
 * a malformed entry file is refused, never half read.
 *
 * State file lines:
 *	rcpt N sent TIME TEXT		final
 *	rcpt N bounced TIME TEXT	final (a DSN was queued first)
 *	rcpt N deferred TIME TEXT	last temporary failure
 *	next TIME ATTEMPTS		when to try again
 */
#ifndef SALLYPORT_QENTRY_H
#define SALLYPORT_QENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "queue/queue.h"

enum rcpt_state { RCPT_PENDING, RCPT_SENT, RCPT_BOUNCED };

struct qentry {
	char		 id[QUEUE_ID_LEN + 1];
	time_t		 arrival;
	char		*client, *helo, *proto, *auth, *sender;
	char		**rcpts;
	size_t		 nrcpts;
	bool		 smtputf8;	/* received with SMTPUTF8 */
	bool		 requiretls;	/* MAIL had REQUIRETLS, RFC 8689 */
	/* "TLS-Required: No" (RFC 8689 5), and no REQUIRETLS: DANE and
	 * MTA-STS failures are ignored for it. */
	bool		 tls_optional;
	enum mail_body	 body;		/* BODY= of MAIL; NONE in old entries */
	/* The `hold` line's reason (a milter's quarantine); NULL: none.
	 * It stays in the file when the entry is released: only where the
	 * entry lies says whether it is held. */
	char		*hold;
	bool		 held;		/* loaded from hold/ */
	enum rcpt_state	*state;		/* per recipient */
	char		**last_error;	/* per recipient; NULL if none */
	off_t		 body_offset;	/* where the message starts, with the
					 * fields prepended at the end of DATA */
	off_t		 body_size;	/* from there to the end of the file */
	off_t		 msg_offset;	/* the message as received (bounces
					 * quote it from here) */
	unsigned	 attempts;
	time_t		 next_attempt;	/* 0: now */
	/* The state file's lines in order, only when loaded with
	 * qentry_load_any(..., history = true); NULL otherwise. */
	struct qentry_event *history;
	size_t		 nhistory;
	size_t		 history_dropped; /* older lines past QENTRY_HISTORY_MAX */
};

/* One line of the state file, as qentry_load_any keeps it. */
struct qentry_event {
	time_t		 when;
	char		 what[12];	/* "sent", "bounced", "deferred", "next" */
	size_t		 rcpt;		/* rcpt lines: the recipient's index */
	unsigned	 attempts;	/* next lines: attempts so far */
	char		*text;		/* rcpt lines: the text; NULL for next */
};
#define QENTRY_HISTORY_MAX	10000	/* lines kept: the latest ones */

/* 16 upper-case hexadecimal digits: the only names load and remove take. */
bool		 qentry_id_valid(const char *id);
/* strerror, but ELOOP (a symbolic link in the queue, never followed:
 * the queue is the service user's, `sallyport --queue` may be root) is
 * said as such. */
const char	*qentry_strerror(int errnum);
/* Read incoming/ID and state/ID under queue_dir. */
/* On failure errno is ENOENT only when the entry does not exist (it was
 * delivered or deleted meanwhile); a corrupt entry gives EINVAL. */
struct qentry	*qentry_load(const char *queue_dir, const char *id, char *err,
		    size_t errlen);
/* The same, with incoming/ID kept open in *body, at the start of the
 * message, as qentry_open_body gives it: read once for a delivery. */
struct qentry	*qentry_load_body(const char *queue_dir, const char *id,
		    int *body, char *err, size_t errlen);
/* The same for hold/ID: an entry on hold, never delivered there. */
struct qentry	*qentry_load_held(const char *queue_dir, const char *id,
		    char *err, size_t errlen);
/* incoming/ID, else hold/ID (looked for again in incoming/ when it
 * was just released), with the state file's lines when history is
 * true. errno ENOENT: in neither. */
struct qentry	*qentry_load_any(const char *queue_dir, const char *id,
		    bool history, char *err, size_t errlen);
void		 qentry_free(struct qentry *);
/* A read-only descriptor positioned at the message (in hold/ for a
 * held entry). */
int		 qentry_open_body(const char *queue_dir, const struct qentry *);
/* Append and fsync one outcome (updates e as well). Refused for a
 * recipient already final, and once the entry is gone from where it
 * was loaded (incoming/, or hold/ for a held entry). */
int		 qentry_record(const char *queue_dir, struct qentry *, size_t rcpt,
		    const char *outcome /* "sent", "bounced", "deferred" */,
		    const char *text, char *err, size_t errlen);
/* The last recipient of an entry the caller removes next: "sent" in e
 * only, since the removal is what makes it durable (one directory
 * fsync instead of a state file's two, then its removal's). */
void		 qentry_note_sent(struct qentry *, size_t rcpt);
/* Count one more attempt and record the next one (0: now). */
int		 qentry_schedule(const char *queue_dir, struct qentry *,
		    time_t next, char *err, size_t errlen);
/* Record the next attempt at `when` without counting one (`sallyport
 * --queue requeue`: the retry timer forgotten, the attempts kept). */
int		 qentry_requeue(const char *queue_dir, struct qentry *,
		    time_t when, char *err, size_t errlen);
/* Every recipient final? */
bool		 qentry_done(const struct qentry *);
/* Remove incoming/ID (or hold/ID) then state/ID, fsync'ing the
 * directories (this order: a crash between can leave a stale state
 * file, never an entry without its state). Fails with errno ENOENT for
 * an unknown id. */
int		 qentry_remove(const char *queue_dir, const char *id, char *err,
		    size_t errlen);
/* The same for an entry of incoming/ delivered to every recipient,
 * under its lock (qentry_lock): when it has no state file (the common
 * case, every recipient done at the first attempt), the fsync of
 * incoming/ is only asked for (dir_fsync_behind), not waited for; a
 * crash before it ends sends the message again, as a crash just before
 * the removal would. With a state file, qentry_remove. */
int		 qentry_remove_delivered(const char *queue_dir, const char *id,
		    char *err, size_t errlen);
/* The ids in incoming/, sorted (oldest first); *n set. Other names
 * there are skipped. NULL (errno) on error, never for an empty queue. */
char		**qentry_list(const char *queue_dir, size_t *n);
/* The same for hold/. */
char		**qentry_list_held(const char *queue_dir, size_t *n);
void		 qentry_list_free(char **, size_t);
/* Move hold/ID into incoming/ (never over an entry there), then fsync
 * incoming/ and hold/: the runner delivers it from then on. Fails with
 * errno ENOENT when no entry ID is held. */
int		 qentry_release(const char *queue_dir, const char *id,
		    char *err, size_t errlen);
/* The other way: incoming/ID into hold/ (made if missing), then hold/
 * and incoming/ fsync'd. errno ENOENT when ID is not in incoming/,
 * EEXIST when it is held already. */
int		 qentry_hold(const char *queue_dir, const char *id, char *err,
		    size_t errlen);

/* qentry_pin - queue_dir, incoming/, hold/ and state/ opened once (as
 * every qentry function checks them: no symbolic link followed) and
 * used from then on by every call of this process on the same
 * queue_dir instead of being looked up by path again: for the queue
 * runner, which works on one queue for its whole life. state/ is made
 * if missing. 0, or -1 with err: one could not be made or opened, and
 * is looked up by path each time. Call before any other thread uses
 * qentry; a second call does nothing. */
int		 qentry_pin(const char *queue_dir, char *err, size_t errlen);

/*
 * The lock of entry ID: an exclusive open file description lock on the
 * byte of queue_dir/lock at the id's number (the file made empty if
 * need be; the byte the same whether the entry is in incoming/ or
 * hold/, and whichever thread or process takes it). Whoever changes an
 * entry holds it: the runner for a whole delivery, `sallyport --queue`
 * for a hold, release, requeue, bounce or delete. Taken, it is checked
 * that the entry exists in incoming/ or hold/; a state file without
 * its entry (a crash inside qentry_remove) is removed then. A missing
 * lock file, or one replaced while this lock waited, is an error (EIO).
 *
 * wait_ms: how long to wait for another holder (0: not at all).
 * Returns the lock's descriptor, or -1 with errno EWOULDBLOCK (busy
 * past wait_ms), ENOENT (no such entry) or another reason, said in err.
 */
int		 qentry_lock(const char *queue_dir, const char *id,
		    unsigned wait_ms, char *err, size_t errlen);
/* The lock of entry ID as the program before 3 December 2026 took it,
 * flock(2) on state/ID (made empty if missing): taken by `sallyport
 * --queue` after qentry_lock, so that a runner still running the old
 * program (it keeps it until sallyport restarts) and a new command
 * never change an entry at once. To go once no such runner can be
 * left. Returns as qentry_lock; give it back with qentry_unlock. */
int		 qentry_lock_old(const char *queue_dir, const char *id,
		    unsigned wait_ms, char *err, size_t errlen);
/* queue_dir/lock made (empty, 0600) if missing: by the runner when it
 * starts and by `sallyport --queue` before its first lock, never by
 * qentry_lock (a file made while another holder kept its lock on a
 * removed one would let both in). 0, or -1 with err. */
int		 qentry_lock_setup(const char *queue_dir, char *err,
		    size_t errlen);
void		 qentry_unlock(int lock);

#endif
