/*
 * spool - spool files of a queue: an entry written, read back, given
 * prepended fields or new contents before its commit (spool_commit.c).
 * A spool of a lazy queue keeps its entry in its buffer (mem) until the
 * entry outgrows it or is materialized; only then is its file in tmp/
 * made.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* renameat2 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/log.h"
#include "queue/queue_priv.h"

/* new_id - a fresh queue id (queue_id_make, queue_fs.c) */
static void
new_id(struct queue *q, char id[QUEUE_ID_LEN + 1])
{
	queue_id_make(&q->seq, id);
}

/* Ids of an owned slot run ahead of the clock by at most this (one per
 * microsecond: only after the clock stepped back). */
#define ID_AHEAD_MAX	1000000

/* behind - say once per process that the slot's ids wait for the clock */
static void
behind(struct queue *q, uint64_t us)
{
	static bool said;

	if (!__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
		log_warn("queue ids: the clock is %llu s behind the newest "
		    "id of slot %d (it stepped back?): until it catches up, "
		    "each new id is looked for in incoming/ and hold/ "
		    "(doc/queue.md, Queue ids)",
		    (unsigned long long)(us / 1000000), q->id_slot);
}

/* slot_id - an id of q's slot (queue_ids_own), later than every id it
 * made or found; false when q has no slot (none taken, or this is a
 * child forked since: the slot is its parent's) or the clock is too far
 * behind */
static bool
slot_id(struct queue *q, char id[QUEUE_ID_LEN + 1])
{
	struct timeval tv;
	uint64_t now, last, t;

	if (q->id_slot < 0 || q->id_pid != queue_id_pid())
		return false;
	gettimeofday(&tv, NULL);
	now = (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
	last = __atomic_load_n(&q->id_last, __ATOMIC_RELAXED);
	do {
		t = now > last ? now : last + 1;
		if (t - now > ID_AHEAD_MAX) {
			behind(q, t - now);
			return false;
		}
	} while (!__atomic_compare_exchange_n(&q->id_last, &last, t, false,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	queue_id_format(t, (unsigned)q->id_slot, id);
	return true;
}

/* free_id - a new id for q that names nothing in incoming/ or hold/: one
 * of its slot, else one looked for there; 0, or -1 with errno */
static int
free_id(struct queue *q, char id[QUEUE_ID_LEN + 1])
{
	int tries;

	if (slot_id(q, id))
		return 0;
	for (tries = 0; tries < 100; tries++) {
		new_id(q, id);
		if (faccessat(q->incfd, id, F_OK, 0) != 0 &&
		    faccessat(q->holdfd, id, F_OK, 0) != 0)
			return 0;
	}
	errno = EEXIST;
	return -1;
}

static bool
field_ok(const char *s)
{
	for (; s && *s; s++)
		if (*s == '\r' || *s == '\n')
			return false;
	return true;
}

/* spool_flush - write out the buffer; errors stick to the spool */
int
spool_flush(struct spool *sp)
{
	size_t off = 0;
	ssize_t n;

	if (sp->mem)			/* the buffer is the entry */
		return sp->error ? -1 : 0;
	while (sp->error == 0 && off < sp->len) {
		n = write(sp->fd, sp->buf + off, sp->len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			sp->error = n == 0 ? EIO : errno;
		else
			off += (size_t)n;
	}
	sp->len = 0;
	return sp->error ? -1 : 0;
}

static int
spool_put(struct spool *sp, const void *p, size_t n)
{
	const char *s = p;

	/* An entry in memory goes to its file when it would outgrow the
	 * buffer; until then the buffer holds all of it. */
	if (sp->mem && (sp->error != 0 || (n > sizeof(sp->buf) - sp->len &&
	    spool_tofile(sp) == -1)))
		return -1;
	sp->pos += n;
	if (sp->mem) {
		memcpy(sp->buf + sp->len, s, n);
		sp->len += n;
		return 0;
	}
	while (n > 0 && sp->error == 0) {
		size_t room = sizeof(sp->buf) - sp->len;
		size_t k = n < room ? n : room;

		memcpy(sp->buf + sp->len, s, k);
		sp->len += k;
		s += k;
		n -= k;
		if (sp->len == sizeof(sp->buf))
			spool_flush(sp);
	}
	return sp->error ? -1 : 0;
}

static int
spool_putf(struct spool *sp, const char *key, const char *value)
{
	if (spool_put(sp, key, strlen(key)) == -1 ||
	    spool_put(sp, " ", 1) == -1 ||
	    spool_put(sp, value, strlen(value)) == -1)
		return -1;
	return spool_put(sp, "\n", 1);
}

/* put_slot - the empty prepend slot after the envelope: its length line
 * (nothing used yet), then filler that spool_prepend overwrites from
 * the end (doc/queue.md) */
static int
put_slot(struct spool *sp, size_t room)
{
	char line[QUEUE_PREPEND_LINE + 1], spaces[256];
	size_t left = room - QUEUE_PREPEND_LINE, k;

	memset(spaces, ' ', sizeof(spaces));
	sp->slot = sp->pos;
	sp->room = room;
	snprintf(line, sizeof(line), "%0*u\n", QUEUE_PREPEND_LINE - 1, 0);
	if (spool_put(sp, line, QUEUE_PREPEND_LINE) == -1)
		return -1;
	for (; left > 0; left -= k) {
		k = left < sizeof(spaces) ? left : sizeof(spaces);
		if (spool_put(sp, spaces, k) == -1)
			return -1;
	}
	return 0;
}

int
spool_prepend(struct spool *sp, const void *fields, size_t len)
{
	char line[QUEUE_PREPEND_LINE + 1];

	if (sp->room == 0 || len > sp->room - QUEUE_PREPEND_LINE - sp->used) {
		errno = EMSGSIZE;
		return -1;
	}
	snprintf(line, sizeof(line), "%0*zu\n", QUEUE_PREPEND_LINE - 1,
	    sp->used + len);
	if (sp->mem) {
		memcpy(sp->buf + sp->slot + sp->room - sp->used - len, fields,
		    len);
		memcpy(sp->buf + sp->slot, line, QUEUE_PREPEND_LINE);
		sp->used += len;
		return 0;
	}
	/* The slot may still sit in the buffer: out with it first, so that
	 * a later flush cannot write the filler back over the fields. */
	if (spool_flush(sp) == -1) {
		errno = sp->error;
		return -1;
	}
	/* Fields first, then the length that makes them part of the
	 * message: until the length is written they are filler. */
	if (queue_pwrite_all(sp->fd, fields, len, sp->slot + sp->room -
	    sp->used - len) == -1)
		goto fail;
	if (queue_pwrite_all(sp->fd, line, QUEUE_PREPEND_LINE,
	    sp->slot) == -1)
		goto fail;
	sp->used += len;
	return 0;
fail:
	sp->error = errno;
	return -1;
}

int
spool_tls_optional(struct spool *sp)
{
	if (sp->tlsreq == 0) {
		errno = EINVAL;
		return -1;
	}
	if (sp->mem) {
		memcpy(sp->buf + sp->tlsreq, "off", 3);
		return 0;
	}
	/* The envelope may still sit in the buffer: out with it first. */
	if (spool_flush(sp) == -1) {
		errno = sp->error;
		return -1;
	}
	if (queue_pwrite_all(sp->fd, "off", 3, sp->tlsreq) == -1) {
		sp->error = errno;
		return -1;
	}
	return 0;
}

/* envelope_ok - what queue_spool_create and spool_rewrite refuse */
static int
envelope_ok(const struct envelope *env, char *err, size_t errlen)
{
	size_t i;

	if (!field_ok(env->client) || !field_ok(env->helo) ||
	    !field_ok(env->proto) || !field_ok(env->auth_user) ||
	    !field_ok(env->sender) || !field_ok(env->hold)) {
		seterr(err, errlen, "line break in an envelope field");
		return -1;
	}
	for (i = 0; i < env->nrcpts; i++)
		if (!field_ok(env->rcpts[i])) {
			seterr(err, errlen, "line break in a recipient");
			return -1;
		}
	if (env->prepend_room != 0 && (env->prepend_room < QUEUE_PREPEND_MIN ||
	    env->prepend_room > QUEUE_PREPEND_MAX)) {
		seterr(err, errlen, "prepend room out of bounds");
		return -1;
	}
	return 0;
}

/* spool_new - an empty spool of q, no file yet */
static struct spool *
spool_new(struct queue *q, char *err, size_t errlen)
{
	struct spool *sp;

	if ((sp = malloc(sizeof(*sp))) == NULL) {
		seterr(err, errlen, "out of memory");
		return NULL;
	}
	sp->q = q;
	sp->published = false;
	sp->held = false;
	sp->lazy = false;
	sp->mem = false;
	sp->idoff = 0;
	sp->error = 0;
	sp->msgsize = 0;
	sp->len = 0;
	sp->pos = 0;
	sp->body = 0;
	sp->room = 0;
	sp->used = 0;
	sp->tlsreq = 0;
	sp->fd = -1;
	return sp;
}

/* put_envelope - the envelope of sp->id, and the empty prepend slot */
static int
put_envelope(struct spool *sp, const struct envelope *env)
{
	char num[32];
	size_t i;
	int rc;

	snprintf(num, sizeof(num), "%lld", (long long)env->arrival);
	rc = spool_putf(sp, "sallyport-queue", "1");
	sp->idoff = sp->pos + 3;		/* "id " */
	rc |= spool_putf(sp, "id", sp->id);
	rc |= spool_putf(sp, "arrival", num);
	rc |= spool_putf(sp, "client", env->client);
	rc |= spool_putf(sp, "helo", env->helo);
	rc |= spool_putf(sp, "proto", env->proto);
	if (env->auth_user)
		rc |= spool_putf(sp, "auth", env->auth_user);
	if (env->smtputf8)
		rc |= spool_putf(sp, "smtputf8", "yes");
	/* REQUIRETLS wins over the header (RFC 8689 5): only an entry
	 * without it can turn tlsrequired off, in place (same length). */
	if (env->requiretls) {
		rc |= spool_putf(sp, "requiretls", "yes");
	} else {
		rc |= spool_put(sp, "tlsrequired ", 12);
		sp->tlsreq = sp->pos;
		rc |= spool_put(sp, env->tls_optional ? "off\n" : "yes\n", 4);
	}
	if (env->body != MAIL_BODY_NONE)
		rc |= spool_putf(sp, "body", env->body == MAIL_BODY_8BITMIME ?
		    "8BITMIME" : "7BIT");
	if (env->prepend_room) {
		snprintf(num, sizeof(num), "%zu", env->prepend_room);
		rc |= spool_putf(sp, "prepend", num);
	}
	if (env->hold) {
		rc |= spool_putf(sp, "hold", env->hold);
		sp->held = true;
	}
	rc |= spool_putf(sp, "from", env->sender);
	for (i = 0; i < env->nrcpts; i++)
		rc |= spool_putf(sp, "rcpt", env->rcpts[i]);
	rc |= spool_put(sp, "\n", 1);
	if (env->prepend_room)
		rc |= put_slot(sp, env->prepend_room);
	sp->body = sp->pos;
	return rc;
}

/* spool_tofile - a spool in memory gets its file in tmp/ and what the
 * buffer holds is written out. Its id reserved nothing: should tmp/ID
 * be taken, the entry takes a fresh id, the id line rewritten in the
 * buffer (the Received field the session wrote keeps the old one: the
 * warning ties the two). Errors stick, errno says; the spool then stays
 * in memory, its buffer whole, and no file is left in tmp/. */
int
spool_tofile(struct spool *sp)
{
	char old[QUEUE_ID_LEN + 1], id[QUEUE_ID_LEN + 1];
	bool second = strcmp(sp->name, sp->id) != 0;	/* ID.new */
	size_t held;
	int tries, e;

	if (sp->error != 0) {
		errno = sp->error;
		return -1;
	}
	memcpy(old, sp->id, sizeof(old));
	for (tries = 0; tries < 100; tries++) {
		sp->fd = openat(sp->q->tmpfd, sp->name,
		    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (sp->fd != -1 || errno != EEXIST || second ||
		    free_id(sp->q, id) == -1)
			break;
		memcpy(sp->buf + sp->idoff, id, QUEUE_ID_LEN);
		memcpy(sp->id, id, sizeof(id));
		memcpy(sp->name, id, sizeof(id));
	}
	if (sp->fd == -1) {
		sp->error = errno;
		return -1;
	}
	if (strcmp(old, sp->id) != 0)
		log_warn("id=%s spool file name taken in tmp/: the entry is "
		    "now id=%s", old, sp->id);
	sp->mem = false;
	held = sp->len;
	if (spool_flush(sp) == -1) {
		/* Back into memory, the partial file gone: the buffer still
		 * holds the entry (a materializer tries again). */
		e = sp->error;
		close(sp->fd);
		unlinkat(sp->q->tmpfd, sp->name, 0);
		sp->fd = -1;
		sp->mem = true;
		sp->len = held;
		errno = e;
		return -1;
	}
	return 0;
}

/* spool_fresh_id - the flushed file of a lazy spool, tmp/NAME, becomes
 * tmp/ID under a fresh id with its id line rewritten (the old id was
 * taken `where`), a warning logged with both. 0, or -1 with errno. */
int
spool_fresh_id(struct spool *sp, const char *where)
{
	struct queue *q = sp->q;
	char id[QUEUE_ID_LEN + 1];
	int tries;

	for (tries = 0;; tries++) {
		if (tries == 100) {
			errno = EEXIST;
			return -1;
		}
		if (free_id(q, id) == -1)
			return -1;
		if (renameat2(q->tmpfd, sp->name, q->tmpfd, id,
		    RENAME_NOREPLACE) == 0)
			break;
		if (errno != EEXIST)
			return -1;
	}
	memcpy(sp->name, id, sizeof(id));
	if (queue_pwrite_all(sp->fd, id, QUEUE_ID_LEN, sp->idoff) == -1) {
		sp->error = errno;
		return -1;
	}
	log_warn("id=%s taken in %s: the entry is now id=%s", sp->id, where,
	    id);
	memcpy(sp->id, id, sizeof(id));
	return 0;
}

/* spool_start - the envelope into the new file of sp; sp is freed on
 * failure */
static struct spool *
spool_start(struct spool *sp, struct envelope *env, char *err,
    size_t errlen)
{
	int e;

	memcpy(env->id, sp->id, sizeof(env->id));
	if (put_envelope(sp, env) == 0)
		return sp;
	e = sp->error;
	seterr(err, errlen, "write spool file %s: %s", sp->name, strerror(e));
	spool_free(sp);
	errno = e;
	return NULL;
}

struct spool *
queue_spool_create(struct queue *q, struct envelope *env, char *err,
    size_t errlen)
{
	struct spool *sp;
	int tries;

	if (envelope_ok(env, err, errlen) == -1 ||
	    (sp = spool_new(q, err, errlen)) == NULL)
		return NULL;
	/* Read and write: spool_pread reads it back before the commit. */
	for (tries = 0; tries < 100 && sp->fd == -1; tries++) {
		if (free_id(q, sp->id) == -1)
			break;
		if (q->lazy) {		/* the file waits (spool_tofile) */
			sp->lazy = sp->mem = true;
			break;
		}
		sp->fd = openat(q->tmpfd, sp->id,
		    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (sp->fd == -1 && errno != EEXIST)
			break;
	}
	if (sp->fd == -1 && !sp->mem) {
		int e = errno;

		seterr(err, errlen, "create spool file in %s/tmp: %s",
		    q->dir, strerror(e));
		free(sp);
		errno = e;
		return NULL;
	}
	memcpy(sp->name, sp->id, sizeof(sp->id));
	return spool_start(sp, env, err, errlen);
}

ssize_t
spool_pread(struct spool *sp, void *buf, size_t len, uint64_t off)
{
	uint64_t total = sp->used + sp->msgsize;
	ssize_t n;

	if (sp->mem) {
		if (off >= total)
			return 0;
		if (len > total - off)
			len = (size_t)(total - off);
		memcpy(buf, sp->buf + sp->body - sp->used + off, len);
		return (ssize_t)len;
	}
	/* What spool_write buffered is part of the message: out with it. */
	if (spool_flush(sp) == -1) {
		errno = sp->error;
		return -1;
	}
	if (off >= total)
		return 0;
	if (len > total - off)
		len = (size_t)(total - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	/* The slot's used octets end where the message starts: the message
	 * as delivered is one run of the file. */
	do
		n = pread(sp->fd, buf, len, (off_t)(sp->body - sp->used + off));
	while (n == -1 && errno == EINTR);
	return n;
}

struct spool *
spool_rewrite(struct spool *old, struct envelope *env, char *err,
    size_t errlen)
{
	struct queue *q = old->q;
	struct spool *sp;

	if (old->published) {
		seterr(err, errlen, "rewrite %s: already committed", old->id);
		errno = EINVAL;
		return NULL;
	}
	if (envelope_ok(env, err, errlen) == -1 ||
	    (sp = spool_new(q, err, errlen)) == NULL)
		return NULL;
	memcpy(sp->id, old->id, sizeof(sp->id));
	snprintf(sp->name, sizeof(sp->name), "%s.new", old->id);
	if (old->lazy) {		/* in memory too, while it fits */
		sp->lazy = sp->mem = true;
		return spool_start(sp, env, err, errlen);
	}
	/* Not an id, so never taken for an entry; tmp/ only, so a crash
	 * leaves it to queue_open's recovery like any spool file. */
	sp->fd = openat(q->tmpfd, sp->name, O_RDWR | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600);
	if (sp->fd == -1) {
		int e = errno;

		seterr(err, errlen, "create spool file %s/tmp/%s: %s",
		    q->dir, sp->name, strerror(e));
		free(sp);
		errno = e;
		return NULL;
	}
	return spool_start(sp, env, err, errlen);
}

int
spool_rewrite_done(struct spool *old, struct spool *new, bool keep,
    char *err, size_t errlen)
{
	struct queue *q = old->q;
	int e;

	if (!keep) {
		spool_free(new);
		return 0;
	}
	if (new->mem) {
		/* The old file, if any, goes: the entry is in memory now. */
		if (old->fd != -1) {
			close(old->fd);
			unlinkat(q->tmpfd, old->name, 0);
		}
		memcpy(old->buf, new->buf, new->len);
		old->mem = true;
		old->fd = -1;
		old->len = new->len;
		goto take;
	}
	if (spool_flush(new) == -1) {
		e = new->error;
		seterr(err, errlen, "write spool file %s: %s", new->name,
		    strerror(e));
		goto fail;
	}
	/* One rename inside tmp/: at any instant tmp/ID is the whole old
	 * file or the whole new one, and incoming/ sees neither. An old
	 * spool in memory holds no tmp/ID: the name is taken only if no
	 * other spool has it, else the entry takes a fresh id. */
	if (old->mem) {
		if (renameat2(q->tmpfd, new->name, q->tmpfd, old->id,
		    RENAME_NOREPLACE) == 0)
			memcpy(new->name, old->id, sizeof(old->id));
		else if (errno != EEXIST ||
		    spool_fresh_id(new, "tmp/") == -1) {
			e = errno;
			seterr(err, errlen, "rename %s/tmp/%s: %s", q->dir,
			    new->name, strerror(e));
			goto fail;
		}
		memcpy(old->id, new->id, sizeof(old->id));
		memcpy(old->name, new->name, sizeof(old->name));
		old->mem = false;
	} else if (renameat(q->tmpfd, new->name, q->tmpfd, old->name) == -1) {
		e = errno;
		seterr(err, errlen, "rename %s/tmp/%s: %s", q->dir, new->name,
		    strerror(e));
		goto fail;
	} else
		close(old->fd);		/* its file is gone with the rename */
	old->fd = new->fd;
	old->len = 0;			/* the old file's tail, if any: gone */
take:
	old->error = 0;
	old->idoff = new->idoff;
	old->msgsize = new->msgsize;
	old->pos = new->pos;
	old->body = new->body;
	old->slot = new->slot;
	old->room = new->room;
	old->used = new->used;
	old->tlsreq = new->tlsreq;
	old->held = new->held;
	free(new);
	return 0;
fail:
	spool_free(new);
	errno = e;
	return -1;
}

int
spool_write(struct spool *sp, const void *p, size_t n)
{
	sp->msgsize += n;
	return spool_put(sp, p, n);
}

const char *
spool_id(const struct spool *sp)
{
	return sp->id;
}

uint64_t
spool_size(const struct spool *sp)
{
	return sp->msgsize;
}

bool
spool_held(const struct spool *sp)
{
	return sp->held;
}

void
spool_free(struct spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->fd != -1) {
		close(sp->fd);
		if (!sp->published)
			unlinkat(sp->q->tmpfd, sp->name, 0);
	}
	free(sp);
}
