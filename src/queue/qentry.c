/*
 * qentry - a committed queue entry as delivery sees it: the envelope
 * read strictly from incoming/ID, and the per-recipient outcomes kept
 * append-only in state/ID.
 *
 * Both files are read through one bounded line reader: a line longer
 * than its buffer is an error, never a reason to allocate more. The
 * envelope is refused whole at the first thing that is not exactly what
 * queue.c writes; the state file may end in a partial line (a crash in
 * the middle of a write), which is ignored at load and cut off before
 * the next append (qentry_update.c, which writes the state file; the
 * files are opened through qentry_file.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/qentry.h"
#include "queue/qentry_file.h"

#define HEADER_MAX	(32L * 1024 * 1024)	/* envelope: 100000 long rcpts fit */
#define RCPTS_MAX	100000

/* --- bounded line reader ------------------------------------------------ */

struct lines {
	int	 fd;
	size_t	 pos, len;	/* unread bytes are buf[pos..len) */
	off_t	 off;		/* file offset of buf[pos] */
	int	 eof;
	char	 buf[QENTRY_LINE_MAX];
};

/*
 * lines_next - the next line, without its "\n": 1 for a line, 0 at the
 * end of the file (*n: length of an unterminated tail, 0 if none), -1
 * for a read error (errno) or a line longer than the buffer (EFBIG).
 */
static int
lines_next(struct lines *r, char **line, size_t *n)
{
	char *nl;
	ssize_t k;

	for (;;) {
		nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
		if (nl != NULL) {
			*line = r->buf + r->pos;
			*n = (size_t)(nl - *line);
			r->pos += *n + 1;
			r->off += (off_t)*n + 1;
			return 1;
		}
		if (r->eof) {
			*line = r->buf + r->pos;
			*n = r->len - r->pos;
			return 0;
		}
		if (r->pos > 0) {
			memmove(r->buf, r->buf + r->pos, r->len - r->pos);
			r->len -= r->pos;
			r->pos = 0;
		}
		if (r->len == sizeof(r->buf)) {
			errno = EFBIG;
			return -1;
		}
		k = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
		if (k == -1 && errno == EINTR)
			continue;
		if (k == -1)
			return -1;
		if (k == 0)
			r->eof = 1;
		r->len += (size_t)k;
	}
}

/* --- envelope ----------------------------------------------------------- */

/* parse_uint - all decimal digits, no sign, at most max */
static int
parse_uint(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 20)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (max - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static char *
dup_value(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* What parse_envelope needs besides the entry it fills. */
struct env_parse {
	struct qentry	*e;
	size_t		 cap;		/* room in e->rcpts */
	unsigned	 seen;		/* ENV_* of the singular keys read */
	size_t		 room;		/* prepend slot; 0: none */
};

enum {
	ENV_ID = 1, ENV_ARRIVAL = 2, ENV_CLIENT = 4, ENV_HELO = 8,
	ENV_PROTO = 16, ENV_AUTH = 32, ENV_FROM = 64, ENV_SMTPUTF8 = 128,
	ENV_BODY = 256, ENV_PREPEND = 512, ENV_REQUIRETLS = 1024,
	ENV_TLSREQUIRED = 2048, ENV_HOLD = 4096,
	ENV_REQUIRED = ENV_ID | ENV_ARRIVAL | ENV_CLIENT | ENV_HELO |
	    ENV_PROTO | ENV_FROM,
};

/* env_line - one `key value` line of the envelope; NULL or an error */
static const char *
env_line(struct env_parse *p, const char *line, size_t n, const char *id)
{
	static const struct {
		const char	*key;
		unsigned	 bit;
		size_t		 field;
	} keys[] = {
		{ "id",		ENV_ID,		0 },
		{ "arrival",	ENV_ARRIVAL,	0 },
		{ "client",	ENV_CLIENT,	offsetof(struct qentry, client) },
		{ "helo",	ENV_HELO,	offsetof(struct qentry, helo) },
		{ "proto",	ENV_PROTO,	offsetof(struct qentry, proto) },
		{ "auth",	ENV_AUTH,	offsetof(struct qentry, auth) },
		{ "from",	ENV_FROM,	offsetof(struct qentry, sender) },
		{ "smtputf8",	ENV_SMTPUTF8,	0 },
		{ "body",	ENV_BODY,	0 },
		{ "prepend",	ENV_PREPEND,	0 },
		{ "requiretls",	ENV_REQUIRETLS,	0 },
		{ "tlsrequired", ENV_TLSREQUIRED, 0 },
		{ "hold",	ENV_HOLD,	offsetof(struct qentry, hold) },
	};
	struct qentry *e = p->e;
	const char *sp = memchr(line, ' ', n), *v;
	size_t klen, vlen, i;
	uint64_t num;
	char **grown;

	if (sp == NULL)
		return "a line without a value";
	klen = (size_t)(sp - line);
	v = sp + 1;
	vlen = n - klen - 1;
	if (klen == 4 && memcmp(line, "rcpt", 4) == 0) {
		if (vlen == 0)
			return "an empty recipient";
		if (e->nrcpts == RCPTS_MAX)
			return "more than 100000 recipients";
		if (e->nrcpts == p->cap) {
			p->cap = p->cap ? p->cap * 2 : 8;
			grown = realloc(e->rcpts, p->cap * sizeof(*grown));
			if (grown == NULL)
				return "out of memory";
			e->rcpts = grown;
		}
		if ((e->rcpts[e->nrcpts] = dup_value(v, vlen)) == NULL)
			return "out of memory";
		e->nrcpts++;
		return NULL;
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strlen(keys[i].key) == klen &&
		    memcmp(keys[i].key, line, klen) == 0)
			break;
	if (i == sizeof(keys) / sizeof(keys[0]))
		return "an unknown key";
	if (p->seen & keys[i].bit)
		return "a repeated key";
	p->seen |= keys[i].bit;
	switch (keys[i].bit) {
	case ENV_ID:
		if (vlen != QUEUE_ID_LEN || memcmp(v, id, vlen) != 0)
			return "an id that is not the file name";
		memcpy(e->id, id, QUEUE_ID_LEN + 1);
		return NULL;
	case ENV_ARRIVAL:
		if (parse_uint(v, vlen, INT64_MAX, &num) == -1)
			return "a bad arrival time";
		e->arrival = (time_t)num;
		return NULL;
	case ENV_SMTPUTF8:
		/* Optional, like body: entries written before them load as
		 * neither SMTPUTF8 nor BODY= given. */
		if (vlen != 3 || memcmp(v, "yes", 3) != 0)
			return "a bad smtputf8 value";
		e->smtputf8 = true;
		return NULL;
	case ENV_REQUIRETLS:
		/* Optional too (older entries: neither); the queue writes
		 * one or the other, never both. */
		if (vlen != 3 || memcmp(v, "yes", 3) != 0)
			return "a bad requiretls value";
		if (p->seen & ENV_TLSREQUIRED)
			return "both requiretls and tlsrequired";
		e->requiretls = true;
		return NULL;
	case ENV_TLSREQUIRED:
		if (p->seen & ENV_REQUIRETLS)
			return "both requiretls and tlsrequired";
		if (vlen == 3 && memcmp(v, "off", 3) == 0)
			e->tls_optional = true;
		else if (vlen != 3 || memcmp(v, "yes", 3) != 0)
			return "a bad tlsrequired value";
		return NULL;
	case ENV_BODY:
		if (vlen == 4 && memcmp(v, "7BIT", 4) == 0)
			e->body = MAIL_BODY_7BIT;
		else if (vlen == 8 && memcmp(v, "8BITMIME", 8) == 0)
			e->body = MAIL_BODY_8BITMIME;
		else
			return "a bad body value";
		return NULL;
	case ENV_PREPEND:
		if (parse_uint(v, vlen, QUEUE_PREPEND_MAX, &num) == -1 ||
		    num < QUEUE_PREPEND_MIN)
			return "a bad prepend room";
		p->room = (size_t)num;
		return NULL;
	case ENV_CLIENT:
	case ENV_PROTO:
		if (vlen == 0)
			return "an empty client or proto";
		break;
	}
	if ((*(char **)((char *)e + keys[i].field) = dup_value(v, vlen)) ==
	    NULL)
		return "out of memory";
	return NULL;
}

/* read_slot - the prepend slot of `room` octets at off (none when room
 * is 0): where the message as delivered and as received begin */
static int
read_slot(struct qentry *e, int fd, off_t off, size_t room, off_t size,
    const char *path, char *err, size_t errlen)
{
	char line[QUEUE_PREPEND_LINE];
	uint64_t used;
	ssize_t n;

	e->msg_offset = off + (off_t)room;
	if (e->msg_offset > size) {
		snprintf(err, errlen, "%s: shorter than its prepend room", path);
		return -1;
	}
	used = 0;
	if (room != 0) {
		do
			n = pread(fd, line, sizeof(line), off);
		while (n == -1 && errno == EINTR);
		if (n == -1) {
			snprintf(err, errlen, "read %s: %s", path,
			    strerror(errno));
			return -1;
		}
		if (n != (ssize_t)sizeof(line) || line[sizeof(line) - 1] !=
		    '\n' || parse_uint(line, sizeof(line) - 1,
		    room - QUEUE_PREPEND_LINE, &used) == -1) {
			snprintf(err, errlen, "%s: a bad prepend length", path);
			return -1;
		}
	}
	e->body_offset = e->msg_offset - (off_t)used;
	e->body_size = size - e->body_offset;
	return 0;
}

/* read_envelope - parse incoming/ID up to its blank line; sets the body */
static int
read_envelope(struct qentry *e, int fd, const char *path, const char *id,
    char *err, size_t errlen)
{
	struct lines *r;
	struct env_parse p = { e, 0, 0, 0 };
	struct stat st;
	const char *why = NULL;
	unsigned lineno = 0;
	char *line;
	size_t n;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->fd = fd;
	for (;;) {
		if ((rc = lines_next(r, &line, &n)) == -1) {
			if (errno == EFBIG)
				snprintf(err, errlen, "%s line %u: longer "
				    "than %d octets", path, lineno + 1,
				    QENTRY_LINE_MAX);
			else
				snprintf(err, errlen, "read %s: %s", path,
				    strerror(errno));
			break;
		}
		lineno++;
		if (rc == 0) {
			snprintf(err, errlen, "%s: the envelope does not end "
			    "with an empty line", path);
			break;
		}
		if (r->off > HEADER_MAX) {
			snprintf(err, errlen, "%s: envelope longer than %ld "
			    "octets", path, HEADER_MAX);
			break;
		}
		if (memchr(line, '\0', n) || memchr(line, '\r', n))
			why = "a NUL or CR";
		else if (lineno == 1)
			why = n == 17 && memcmp(line, "sallyport-queue 1", 17)
			    == 0 ? NULL : "not a sallyport-queue 1 entry";
		else if (n == 0) {
			if ((p.seen & ENV_REQUIRED) != ENV_REQUIRED)
				snprintf(err, errlen, "%s: a required key is "
				    "missing", path);
			else if (e->nrcpts == 0)
				snprintf(err, errlen, "%s: no recipient", path);
			else if (fstat(fd, &st) == -1)
				snprintf(err, errlen, "fstat %s: %s", path,
				    strerror(errno));
			else if (read_slot(e, fd, r->off, p.room, st.st_size,
			    path, err, errlen) == 0) {
				free(r);
				return 0;
			}
			break;
		} else
			why = env_line(&p, line, n, id);
		if (why) {
			snprintf(err, errlen, "%s line %u: %s", path, lineno, why);
			break;
		}
	}
	free(r);
	return -1;
}

/* --- state -------------------------------------------------------------- */

/* next_word - split off the word up to a space (or the end) */
static int
next_word(const char **s, size_t *n, const char **w, size_t *wlen)
{
	const char *sp = memchr(*s, ' ', *n);

	*w = *s;
	*wlen = sp ? (size_t)(sp - *s) : *n;
	*s += *wlen + (sp ? 1 : 0);
	*n -= *wlen + (sp ? 1 : 0);
	return *wlen > 0 ? 0 : -1;
}

static int
word_is(const char *w, size_t wlen, const char *lit)
{
	return strlen(lit) == wlen && memcmp(w, lit, wlen) == 0;
}

/* state_line - apply one complete state line; NULL or an error. With
 * ev, the line is described there too (ev->text points into s). */
static const char *
state_line(struct qentry *e, const char *s, size_t n,
    struct qentry_event *ev, size_t *textlen)
{
	const char *w, *outcome;
	size_t wlen, olen;
	uint64_t rcpt, t, attempts;

	if (memchr(s, '\0', n) || memchr(s, '\r', n))
		return "a NUL or CR";
	if (next_word(&s, &n, &w, &wlen) == -1)
		return "an empty line";
	if (word_is(w, wlen, "next")) {
		if (next_word(&s, &n, &w, &wlen) == -1 ||
		    parse_uint(w, wlen, INT64_MAX, &t) == -1 ||
		    next_word(&s, &n, &w, &wlen) == -1 ||
		    parse_uint(w, wlen, UINT32_MAX, &attempts) == -1 || n != 0)
			return "a bad next line";
		e->next_attempt = (time_t)t;
		e->attempts = (unsigned)attempts;
		if (ev) {
			ev->when = (time_t)t;
			snprintf(ev->what, sizeof(ev->what), "next");
			ev->attempts = (unsigned)attempts;
		}
		return NULL;
	}
	if (!word_is(w, wlen, "rcpt"))
		return "an unknown line";
	if (next_word(&s, &n, &w, &wlen) == -1 ||
	    parse_uint(w, wlen, UINT64_MAX, &rcpt) == -1 ||
	    next_word(&s, &n, &outcome, &olen) == -1 ||
	    next_word(&s, &n, &w, &wlen) == -1 ||
	    parse_uint(w, wlen, INT64_MAX, &t) == -1)
		return "a bad rcpt line";
	if (rcpt >= e->nrcpts)
		return "a recipient number out of range";
	if (!word_is(outcome, olen, "sent") &&
	    !word_is(outcome, olen, "bounced") &&
	    !word_is(outcome, olen, "deferred"))
		return "an unknown outcome";
	if (ev) {
		ev->when = (time_t)t;
		snprintf(ev->what, sizeof(ev->what), "%.*s", (int)olen,
		    outcome);
		ev->rcpt = (size_t)rcpt;
		ev->text = (char *)s;
		*textlen = n;
	}
	if (e->state[rcpt] != RCPT_PENDING)
		return NULL;	/* sent and bounced are final */
	if (word_is(outcome, olen, "sent")) {
		e->state[rcpt] = RCPT_SENT;
		return NULL;
	}
	if (word_is(outcome, olen, "bounced"))
		e->state[rcpt] = RCPT_BOUNCED;
	free(e->last_error[rcpt]);
	if ((e->last_error[rcpt] = dup_value(s, n)) == NULL)
		return "out of memory";
	return NULL;
}

/* keep_event - the line described in ev into e->history: once
 * QENTRY_HISTORY_MAX are kept, a ring whose oldest line the next one
 * replaces (put in order by history_order); NULL or an error */
static const char *
keep_event(struct qentry *e, size_t *cap, struct qentry_event *ev,
    size_t textlen)
{
	struct qentry_event *grown, *slot;

	if (ev->text && (ev->text = dup_value(ev->text, textlen)) == NULL)
		return "out of memory";
	if (e->nhistory == QENTRY_HISTORY_MAX) {
		slot = &e->history[e->history_dropped++ % QENTRY_HISTORY_MAX];
		free(slot->text);
		*slot = *ev;
		return NULL;
	}
	if (e->nhistory == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		if ((grown = realloc(e->history, *cap * sizeof(*grown))) ==
		    NULL) {
			free(ev->text);
			return "out of memory";
		}
		e->history = grown;
	}
	e->history[e->nhistory++] = *ev;
	return NULL;
}

/* history_order - the ring of keep_event oldest first */
static int
history_order(struct qentry *e)
{
	struct qentry_event *copy;
	size_t start = e->history_dropped % QENTRY_HISTORY_MAX, n;

	if (e->history_dropped == 0 || start == 0)
		return 0;
	n = e->nhistory;
	if ((copy = malloc(n * sizeof(*copy))) == NULL)
		return -1;
	memcpy(copy, e->history + start, (n - start) * sizeof(*copy));
	memcpy(copy + (n - start), e->history, start * sizeof(*copy));
	free(e->history);
	e->history = copy;
	return 0;
}

static int
read_state(struct qentry *e, const char *queue_dir, const char *path,
    bool history, char *err, size_t errlen)
{
	struct qentry_event ev;
	size_t cap = 0, textlen = 0;
	struct lines *r;
	unsigned lineno = 0;
	const char *why = NULL;
	char *line;
	size_t n;
	int fd, rc;

	if ((fd = qentry_openat(queue_dir, "state", e->id, O_RDONLY,
	    0)) == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "open %s: %s", path,
		    qentry_strerror(errno));
		return -1;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->fd = fd;
	while ((rc = lines_next(r, &line, &n)) == 1) {
		lineno++;
		memset(&ev, 0, sizeof(ev));
		if ((why = state_line(e, line, n, history ? &ev : NULL,
		    &textlen)) == NULL && history)
			why = keep_event(e, &cap, &ev, textlen);
		if (why != NULL) {
			snprintf(err, errlen, "%s line %u: %s", path, lineno,
			    why);
			rc = -1;
			break;
		}
	}
	if (rc == -1 && why == NULL)
		snprintf(err, errlen, "%s line %u: %s", path, lineno + 1,
		    errno == EFBIG ? "too long" : strerror(errno));
	if (rc != -1 && history && history_order(e) == -1) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	free(r);
	close(fd);
	return rc;
}

/* --- the interface ------------------------------------------------------ */

/* load - sub/ID (incoming or hold) and state/ID; with body, the entry's
 * descriptor there too, at its message */
static struct qentry *
load(const char *queue_dir, const char *sub, const char *id, bool history,
    int *body, char *err, size_t errlen)
{
	char path[QENTRY_PATH_LEN];
	struct qentry *e;
	struct stat st;
	int fd;

	if (!qentry_id_valid(id)) {
		snprintf(err, errlen, "not a queue id");
		errno = EINVAL;
		return NULL;
	}
	if (qentry_path(path, queue_dir, sub, id, err, errlen) == -1) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	if ((fd = qentry_openat(queue_dir, sub, id, O_RDONLY, 0)) == -1) {
		snprintf(err, errlen, "open %s: %s", path,
		    qentry_strerror(errno));
		return NULL;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	/* From here on errno says ENOENT only for an entry removed meanwhile:
	 * callers read it as "the entry is gone", and a corrupt entry must
	 * be reported instead. */
	if (read_envelope(e, fd, path, id, err, errlen) == -1) {
		close(fd);
		qentry_free(e);
		errno = EINVAL;
		return NULL;
	}
	if ((e->state = calloc(e->nrcpts, sizeof(*e->state))) == NULL ||
	    (e->last_error = calloc(e->nrcpts, sizeof(char *))) == NULL) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		qentry_free(e);
		errno = ENOMEM;
		return NULL;
	}
	if (qentry_path(path, queue_dir, "state", id, err, errlen) == -1 ||
	    read_state(e, queue_dir, path, history, err, errlen) == -1) {
		close(fd);
		qentry_free(e);
		errno = EINVAL;
		return NULL;
	}
	/* Removed while it was read (incoming/ID goes before state/ID): its
	 * state may have gone with it, and it is not to be shown or
	 * scheduled as never tried. */
	if (fstat(fd, &st) == 0 && st.st_nlink == 0) {
		snprintf(err, errlen, "%s: no such queue entry", id);
		close(fd);
		qentry_free(e);
		errno = ENOENT;
		return NULL;
	}
	e->held = strcmp(sub, "hold") == 0;
	if (body == NULL)
		close(fd);
	else if (lseek(fd, e->body_offset, SEEK_SET) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		qentry_free(e);
		errno = EIO;
		return NULL;
	} else
		*body = fd;
	return e;
}

struct qentry *
qentry_load(const char *queue_dir, const char *id, char *err, size_t errlen)
{
	return load(queue_dir, "incoming", id, false, NULL, err, errlen);
}

struct qentry *
qentry_load_body(const char *queue_dir, const char *id, int *body, char *err,
    size_t errlen)
{
	return load(queue_dir, "incoming", id, false, body, err, errlen);
}

struct qentry *
qentry_load_held(const char *queue_dir, const char *id, char *err,
    size_t errlen)
{
	return load(queue_dir, "hold", id, false, NULL, err, errlen);
}

struct qentry *
qentry_load_any(const char *queue_dir, const char *id, bool history,
    char *err, size_t errlen)
{
	static const char *const subs[] = { "incoming", "hold", "incoming" };
	struct qentry *e = NULL;
	size_t i;

	/* Looked for in incoming/ again: a release between the first two
	 * looks would have it in neither. */
	for (i = 0; i < 3 && e == NULL; i++)
		if ((e = load(queue_dir, subs[i], id, history, NULL, err,
		    errlen)) == NULL && errno != ENOENT)
			return NULL;
	if (e == NULL) {
		snprintf(err, errlen, "%s: no such queue entry", id);
		errno = ENOENT;
	}
	return e;
}

void
qentry_free(struct qentry *e)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->nrcpts; i++) {
		free(e->rcpts[i]);
		if (e->last_error)
			free(e->last_error[i]);
	}
	free(e->rcpts);
	free(e->last_error);
	free(e->state);
	free(e->client);
	free(e->helo);
	free(e->proto);
	free(e->auth);
	free(e->sender);
	free(e->hold);
	for (i = 0; i < e->nhistory; i++)
		free(e->history[i].text);
	free(e->history);
	free(e);
}

int
qentry_open_body(const char *queue_dir, const struct qentry *e)
{
	int fd;

	if ((fd = qentry_openat(queue_dir, e->held ? "hold" : "incoming",
	    e->id, O_RDONLY, 0)) == -1)
		return -1;
	if (lseek(fd, e->body_offset, SEEK_SET) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

void
qentry_note_sent(struct qentry *e, size_t rcpt)
{
	if (rcpt < e->nrcpts && e->state[rcpt] == RCPT_PENDING)
		e->state[rcpt] = RCPT_SENT;
}

bool
qentry_done(const struct qentry *e)
{
	size_t i;

	for (i = 0; i < e->nrcpts; i++)
		if (e->state[i] == RCPT_PENDING)
			return false;
	return true;
}
