/*
 * test_spool_lazy - spools of a lazy queue (queue_set_lazy), whose entry
 * stays in memory while it fits the 64 KiB spool buffer: committed by
 * the journal's steps (spool_materialize, queue_syncfs, spool_publish,
 * queue_sync_incoming) they give the very file a spool of an ordinary
 * queue gives; read back and imaged before that, the same octets; an id
 * that turns out taken, in tmp/ or in incoming/, gives way to a fresh
 * one that the entry's id line names.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/qentry.h"
#include "queue/queue.h"
#include "qfixture.h"
#include "scratch.h"

#define BUFSIZE		65536		/* the spool's buffer */

static char err[256];

QFIXTURE_SUITE(lazy, "spool-lazy");

static char *rcpts[] = { "a@example.test", "b@example.test" };
static char *new_rcpts[] = { "c@example.net" };

/* One entry as a session and its milters make it. */
struct scenario {
	long		 size;		/* message octets; with fill, where
					 * the entry ends past BUFSIZE */
	bool		 fill;
	size_t		 room;		/* prepend slot */
	const char	*pre1, *pre2;	/* spool_prepend, in turn */
	bool		 tls_optional;
	const char	*hold;
	int		 rewrite;	/* 0: none, 1: kept, 2: dropped */
	long		 rsize;		/* the rewritten message's octets */
	size_t		 rroom;		/* the rewrite's slot */
	const char	*rhold;		/* the rewrite's hold */
};

/* What one run made. */
struct made {
	char		 id[QUEUE_ID_LEN + 1];
	bool		 held;
	char		*back;		/* spool_pread before the commit */
	size_t		 backlen;
	char		*image;		/* spool_image before the commit */
	size_t		 imagelen;
	bool		 image_in_memory;
	bool		 tmp_empty;	/* nothing in tmp/ while written */
	char		*file;		/* the committed entry's file */
	size_t		 filelen;
};

/* slurp - the whole of dir/sub/name */
static char *
slurp(const char *sub, const char *name, size_t *len)
{
	char path[512], *p;
	struct stat st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	cr_assert_geq(fd = open(path, O_RDONLY), 0, "open %s: %s", path,
	    strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_not_null(p = malloc((size_t)st.st_size + 1));
	cr_assert_eq(n = read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)n;
	return p;
}

/* id_line - where the value of the entry's id line starts */
static size_t
id_line(const char *file, size_t len)
{
	const char *p = memmem(file, len, "\nid ", 4);

	cr_assert_not_null(p);
	return (size_t)(p - file) + 4;
}

/* entry_len - octets of sp's entry as it stands */
static uint64_t
entry_len(struct spool *sp)
{
	struct iovec iov;
	uint64_t len;
	int fd;

	cr_assert_eq(spool_image(sp, &iov, &fd, &len), 0);
	return len;
}

/* write_message - spool_write n octets in uneven pieces */
static void
write_message(struct spool *sp, const char *msg, size_t n)
{
	size_t off = 0, k;

	while (off < n) {
		k = n - off < 7001 ? n - off : 7001;
		cr_assert_eq(spool_write(sp, msg + off, k), 0);
		off += k;
	}
}

/* msg_size - a scenario's size: the message itself, or with fill what
 * makes the entry end `size` octets past the buffer's */
static size_t
msg_size(struct spool *sp, long size, bool fill)
{
	if (!fill)
		return (size_t)size;
	return (size_t)((long)BUFSIZE + size - (long)entry_len(sp));
}

static void
read_back(struct spool *sp, struct made *m)
{
	size_t cap = spool_size(sp) + QUEUE_PREPEND_MAX + 1;
	ssize_t n;

	cr_assert_not_null(m->back = malloc(cap));
	m->backlen = 0;
	/* Odd steps cross the slot's end and the buffer's. */
	while ((n = spool_pread(sp, m->back + m->backlen, 4093,
	    m->backlen)) > 0)
		m->backlen += (size_t)n;
	cr_assert_eq(n, 0, "spool_pread: %s", strerror(errno));
	cr_assert_lt(m->backlen, cap);
}

static void
take_image(struct spool *sp, struct made *m)
{
	struct iovec iov;
	uint64_t len;
	int fd;

	cr_assert_eq(spool_image(sp, &iov, &fd, &len), 0, "%s",
	    strerror(errno));
	cr_assert_not_null(m->image = malloc(len + 1));
	m->imagelen = (size_t)len;
	m->image_in_memory = fd == -1;
	if (fd == -1) {
		cr_assert_eq(iov.iov_len, len);
		memcpy(m->image, iov.iov_base, len);
	} else
		cr_assert_eq(pread(fd, m->image, len, 0), (ssize_t)len);
}

/* run - make the entry of sc in a queue lazy or not, committed the
 * journal's way (lazy) or by queue_commit */
static void
run(const struct scenario *sc, bool lazy, struct made *m)
{
	struct envelope env = qfixture_env("192.0.2.1", "client.example",
	    "s@example.org", rcpts, 2), nenv;
	struct spool *sp, *nsp;
	char *msg;
	size_t n;

	memset(m, 0, sizeof(*m));
	queue_set_lazy(q, lazy);
	env.prepend_room = sc->room;
	env.hold = sc->hold;
	cr_assert_not_null(sp = queue_spool_create(q, &env, err, sizeof(err)),
	    "%s", err);
	n = msg_size(sp, sc->size, sc->fill);
	msg = qfixture_message(n);
	write_message(sp, msg, n);
	free(msg);
	if (sc->pre1)
		cr_assert_eq(spool_prepend(sp, sc->pre1, strlen(sc->pre1)), 0);
	if (sc->pre2)
		cr_assert_eq(spool_prepend(sp, sc->pre2, strlen(sc->pre2)), 0);
	if (sc->tls_optional)
		cr_assert_eq(spool_tls_optional(sp), 0);
	if (sc->rewrite) {
		nenv = qfixture_env("192.0.2.1", "client.example",
		    "changed@example.org", new_rcpts, 1);
		nenv.prepend_room = sc->rroom;
		nenv.hold = sc->rhold;
		cr_assert_not_null(nsp = spool_rewrite(sp, &nenv, err,
		    sizeof(err)), "%s", err);
		n = msg_size(nsp, sc->rsize, false);
		msg = qfixture_message(n);
		write_message(nsp, msg, n);
		free(msg);
		if (sc->rewrite == 1 && sc->pre1)	/* after the rewrite */
			cr_assert_eq(spool_prepend(nsp, sc->pre1,
			    strlen(sc->pre1)), 0);
		cr_assert_eq(spool_rewrite_done(sp, nsp, sc->rewrite == 1, err,
		    sizeof(err)), 0, "%s", err);
	}
	m->tmp_empty = scratch_count(dir, "tmp") == 0;
	read_back(sp, m);
	take_image(sp, m);
	m->held = spool_held(sp);
	if (lazy) {
		cr_assert_eq(spool_materialize(sp, err, sizeof(err)), 0, "%s",
		    err);
		cr_assert_eq(scratch_count(dir, "tmp"), 1);
		cr_assert_eq(queue_syncfs(q, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(spool_publish(sp, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(m->held ? queue_sync_hold(q, err, sizeof(err)) :
		    queue_sync_incoming(q, err, sizeof(err)), 0, "%s", err);
	} else
		cr_assert_eq(queue_commit(sp, err, sizeof(err)), 0, "%s", err);
	memcpy(m->id, spool_id(sp), sizeof(m->id));
	spool_free(sp);
	cr_assert_eq(scratch_count(dir, "tmp"), 0, "nothing left in tmp/");
	m->file = slurp(m->held ? "hold" : "incoming", m->id, &m->filelen);
}

static void
made_free(struct made *m)
{
	free(m->back);
	free(m->image);
	free(m->file);
}

/* same_entry - a lazy run and an ordinary one give the same entry file,
 * but for the id line, and the same read-back and image */
static void
same_entry(const struct scenario *sc, bool in_memory)
{
	struct made plain, lazy;
	struct qentry *e;
	size_t off;

	run(sc, false, &plain);
	run(sc, true, &lazy);
	cr_assert_str_neq(plain.id, lazy.id);
	cr_assert_eq(lazy.held, plain.held);
	cr_assert_eq(lazy.filelen, plain.filelen);
	off = id_line(lazy.file, lazy.filelen);
	cr_assert_eq(off, id_line(plain.file, plain.filelen));
	cr_assert(memcmp(lazy.file + off, lazy.id, QUEUE_ID_LEN) == 0);
	cr_assert(memcmp(plain.file + off, plain.id, QUEUE_ID_LEN) == 0);
	memcpy(plain.file + off, lazy.id, QUEUE_ID_LEN);
	cr_assert(memcmp(lazy.file, plain.file, lazy.filelen) == 0,
	    "the same entry file");
	/* Read back before the commit: the same message. */
	cr_assert_eq(lazy.backlen, plain.backlen);
	cr_assert(memcmp(lazy.back, plain.back, lazy.backlen) == 0);
	/* The image is the entry file, octet for octet. */
	cr_assert_eq(lazy.image_in_memory, in_memory);
	cr_assert_eq(lazy.imagelen, lazy.filelen);
	cr_assert(memcmp(lazy.image, lazy.file, lazy.filelen) == 0);
	cr_assert_eq(plain.imagelen, plain.filelen);
	cr_assert_not(plain.image_in_memory);
	/* No file while the entry was in memory. */
	cr_assert_eq(lazy.tmp_empty, in_memory);
	cr_assert_not(plain.tmp_empty);
	/* Delivery takes it. */
	cr_assert_not_null(e = qentry_load_any(dir, lazy.id, false, err,
	    sizeof(err)), "%s", err);
	qentry_free(e);
	made_free(&plain);
	made_free(&lazy);
}

Test(lazy, small)
{
	struct scenario sc = { .size = 300 };

	same_entry(&sc, true);
}

Test(lazy, exactly_the_buffer)
{
	struct scenario sc = { .size = 0, .fill = true };

	same_entry(&sc, true);
	sc.size = -1;
	same_entry(&sc, true);
}

Test(lazy, one_octet_past_the_buffer)
{
	struct scenario sc = { .size = 1, .fill = true };

	same_entry(&sc, false);
}

Test(lazy, exactly_the_buffer_with_fields_prepended)
{
	struct scenario sc = { .size = 0, .fill = true, .room = 2048,
	    .pre1 = "X-One: 1\r\n", .pre2 = "X-Two: 2\r\n",
	    .tls_optional = true };

	same_entry(&sc, true);
}

Test(lazy, larger)
{
	struct scenario sc = { .size = 300000 };

	same_entry(&sc, false);
}

Test(lazy, prepended_twice)
{
	struct scenario sc = { .size = 2000, .room = 1024,
	    .pre1 = "Authentication-Results: x; spf=pass\r\n",
	    .pre2 = "DKIM-Signature: v=1; b=abc\r\n" };

	same_entry(&sc, true);
	sc.size = 150000;
	same_entry(&sc, false);
}

Test(lazy, prepend_room_unused)
{
	struct scenario sc = { .size = 100, .room = 4096 };

	same_entry(&sc, true);
}

Test(lazy, tls_optional)
{
	struct scenario sc = { .size = 500, .tls_optional = true };

	same_entry(&sc, true);
	sc.size = 100000;
	same_entry(&sc, false);
}

Test(lazy, held)
{
	struct scenario sc = { .size = 700, .hold = "quarantined by x" };

	same_entry(&sc, true);
	sc.size = 90000;
	same_entry(&sc, false);
}

Test(lazy, rewrite_kept)
{
	struct scenario sc = { .size = 800, .room = 512, .rewrite = 1,
	    .rsize = 900, .rroom = 1024,
	    .pre1 = "DKIM-Signature: v=1; b=new\r\n" };

	same_entry(&sc, true);
}

Test(lazy, rewrite_kept_grows_past_the_buffer)
{
	struct scenario sc = { .size = 800, .rewrite = 1, .rsize = 120000,
	    .tls_optional = true };

	same_entry(&sc, false);
}

Test(lazy, rewrite_kept_shrinks_into_the_buffer)
{
	struct scenario sc = { .size = 120000, .rewrite = 1, .rsize = 600 };

	/* The old file goes; the entry is in memory again. */
	same_entry(&sc, true);
}

Test(lazy, rewrite_kept_onto_hold)
{
	struct scenario sc = { .size = 800, .rewrite = 1, .rsize = 700,
	    .rhold = "quarantined by y", .rroom = 256 };

	same_entry(&sc, true);
}

Test(lazy, rewrite_dropped)
{
	struct scenario sc = { .size = 800, .room = 512, .rewrite = 2,
	    .rsize = 100000, .pre1 = "X-A: b\r\n" };

	same_entry(&sc, true);
}

/* lazy_spool - a lazy spool with a small message, in memory */
static struct spool *
lazy_spool(struct envelope *env, const char *hold)
{
	struct spool *sp;

	*env = qfixture_env("192.0.2.1", "client.example", "s@example.org",
	    rcpts, 2);
	env->hold = hold;
	queue_set_lazy(q, true);
	cr_assert_not_null(sp = queue_spool_create(q, env, err, sizeof(err)),
	    "%s", err);
	cr_assert_str_eq(spool_id(sp), env->id);
	cr_assert_eq(spool_write(sp, "Subject: x\r\n\r\nbody\r\n", 20), 0);
	return sp;
}

/* plant - a file of that name put in dir/sub by someone else */
static void
plant(const char *sub, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	cr_assert_not_null(f = fopen(path, "wx"), "%s", path);
	fputs(text, f);
	fclose(f);
}

/* committed_as - sp's entry is committed under a fresh id whose file
 * says so and loads; the planted file is untouched */
static void
committed_as(struct spool *sp, const char *old, const char *sub,
    const char *planted_in, const char *body)
{
	char id[QUEUE_ID_LEN + 1], *f;
	struct qentry *e;
	size_t len, off;

	cr_assert_eq(spool_materialize(sp, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(queue_syncfs(q, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(spool_publish(sp, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(spool_held(sp) ? queue_sync_hold(q, err, sizeof(err)) :
	    queue_sync_incoming(q, err, sizeof(err)), 0, "%s", err);
	memcpy(id, spool_id(sp), sizeof(id));
	cr_assert_str_neq(id, old, "a fresh id");
	spool_free(sp);
	f = slurp(sub, id, &len);
	off = id_line(f, len);
	cr_assert(memcmp(f + off, id, QUEUE_ID_LEN) == 0, "its id line");
	cr_assert(len >= strlen(body) &&
	    memcmp(f + len - strlen(body), body, strlen(body)) == 0);
	free(f);
	cr_assert_not_null(e = qentry_load_any(dir, id, false, err,
	    sizeof(err)), "%s", err);
	qentry_free(e);
	f = slurp(planted_in, old, &len);
	cr_assert_eq(len, 8);
	cr_assert(memcmp(f, "planted\n", 8) == 0);
	free(f);
}

Test(lazy, id_taken_in_incoming_by_the_commit)
{
	struct envelope env;
	struct spool *sp = lazy_spool(&env, NULL);

	plant("incoming", env.id, "planted\n");
	committed_as(sp, env.id, "incoming", "incoming", "body\r\n");
	cr_assert_eq(scratch_count(dir, "incoming"), 2);
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
}

Test(lazy, id_taken_in_hold_by_the_commit)
{
	struct envelope env;
	struct spool *sp = lazy_spool(&env, "kept");

	plant("hold", env.id, "planted\n");
	committed_as(sp, env.id, "hold", "hold", "body\r\n");
	cr_assert_eq(scratch_count(dir, "hold"), 2);
}

Test(lazy, id_taken_in_incoming_by_a_large_entry)
{
	struct envelope env;
	struct spool *sp = lazy_spool(&env, NULL);
	char *msg = qfixture_message(100000);

	write_message(sp, msg, 100000);
	cr_assert_eq(spool_write(sp, "body\r\n", 6), 0);
	free(msg);
	cr_assert_eq(scratch_count(dir, "tmp"), 1, "past the buffer: a file");
	plant("incoming", env.id, "planted\n");
	committed_as(sp, env.id, "incoming", "incoming", "body\r\n");
}

Test(lazy, id_taken_in_tmp_when_the_buffer_overflows)
{
	struct envelope env;
	struct spool *sp = lazy_spool(&env, NULL);
	char *msg = qfixture_message(100000);

	plant("tmp", env.id, "planted\n");
	write_message(sp, msg, 100000);
	cr_assert_eq(spool_write(sp, "body\r\n", 6), 0);
	cr_assert_str_neq(spool_id(sp), env.id, "a fresh id at once");
	cr_assert_eq(scratch_count(dir, "tmp"), 2);
	free(msg);
	committed_as(sp, env.id, "incoming", "tmp", "body\r\n");
	cr_assert_eq(scratch_count(dir, "tmp"), 1, "only the planted one");
}

Test(lazy, id_taken_in_tmp_when_materialized)
{
	struct envelope env;
	struct spool *sp = lazy_spool(&env, NULL);

	plant("tmp", env.id, "planted\n");
	committed_as(sp, env.id, "incoming", "tmp", "body\r\n");
}

Test(lazy, id_taken_in_tmp_when_a_rewrite_outgrows_the_buffer)
{
	struct envelope env, nenv;
	struct spool *sp = lazy_spool(&env, NULL), *nsp;
	char *msg = qfixture_message(100000);

	nenv = qfixture_env("192.0.2.1", "client.example", "s@example.org",
	    rcpts, 1);
	cr_assert_not_null(nsp = spool_rewrite(sp, &nenv, err, sizeof(err)),
	    "%s", err);
	write_message(nsp, msg, 100000);
	cr_assert_eq(spool_write(nsp, "body\r\n", 6), 0);
	free(msg);
	plant("tmp", env.id, "planted\n");
	cr_assert_eq(spool_rewrite_done(sp, nsp, true, err, sizeof(err)), 0,
	    "%s", err);
	committed_as(sp, env.id, "incoming", "tmp", "body\r\n");
}

Test(lazy, sync_commits_a_lazy_spool_as_a_file)
{
	struct envelope env;
	struct spool *sp = lazy_spool(&env, NULL);
	struct qentry *e;

	cr_assert_eq(scratch_count(dir, "tmp"), 0);
	cr_assert_eq(queue_commit(sp, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(spool_id(sp), env.id);
	spool_free(sp);
	cr_assert_not_null(e = qentry_load(dir, env.id, err, sizeof(err)),
	    "%s", err);
	qentry_free(e);
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
}

Test(lazy, free_leaves_nothing_in_tmp)
{
	struct envelope env, nenv;
	struct spool *sp, *nsp;
	char *msg = qfixture_message(100000);

	sp = lazy_spool(&env, NULL);		/* in memory */
	spool_free(sp);
	cr_assert_eq(scratch_count(dir, "tmp"), 0);

	sp = lazy_spool(&env, NULL);		/* outgrew it: a file */
	write_message(sp, msg, 100000);
	cr_assert_eq(scratch_count(dir, "tmp"), 1);
	spool_free(sp);
	cr_assert_eq(scratch_count(dir, "tmp"), 0);

	sp = lazy_spool(&env, NULL);		/* materialized */
	cr_assert_eq(spool_materialize(sp, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(scratch_count(dir, "tmp"), 1);
	spool_free(sp);
	cr_assert_eq(scratch_count(dir, "tmp"), 0);

	sp = lazy_spool(&env, NULL);		/* a rewrite dropped */
	nenv = qfixture_env("192.0.2.1", "h", "s@example.org", rcpts, 1);
	cr_assert_not_null(nsp = spool_rewrite(sp, &nenv, err, sizeof(err)));
	write_message(nsp, msg, 100000);
	cr_assert_eq(scratch_count(dir, "tmp"), 1);
	cr_assert_eq(spool_rewrite_done(sp, nsp, false, err, sizeof(err)), 0);
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
	spool_free(sp);
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
	cr_assert_eq(scratch_count(dir, "incoming"), 0);
	free(msg);
}

/* A materializer that cannot write (a full disk: here the file size
 * limit) leaves the entry in memory and nothing in tmp/; once the disk
 * takes writes again the same spool is written out whole. */
Test(lazy, materialize_failure_is_retried)
{
	struct envelope env;
	struct spool *sp = lazy_spool(&env, NULL);
	char *msg = qfixture_message(30000), *f;
	struct rlimit rl, small;
	struct iovec iov;
	uint64_t len;
	size_t flen;
	int fd;

	write_message(sp, msg, 30000);
	cr_assert_eq(spool_image(sp, &iov, &fd, &len), 0);
	cr_assert_eq(fd, -1, "in memory");
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	small = rl;
	small.rlim_cur = 4096;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
	cr_assert_eq(spool_materialize(sp, err, sizeof(err)), -1);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	cr_assert_eq(scratch_count(dir, "tmp"), 0, "a partial file left");
	cr_assert_eq(spool_materialize(sp, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(queue_syncfs(q, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(spool_publish(sp, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(queue_sync_incoming(q, err, sizeof(err)), 0, "%s", err);
	f = slurp("incoming", spool_id(sp), &flen);
	cr_assert_eq(flen, len);
	cr_assert(memcmp(f, iov.iov_base, flen) == 0, "the entry as imaged");
	spool_free(sp);
	free(f);
	free(msg);
}
