/*
 * test_spool - a spool read back before its commit (spool_pread), given
 * new contents under the same id (spool_rewrite), and what a crash in
 * the middle of a rewrite leaves. What is read back is compared with
 * what delivery reads from the committed entry.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue/qentry.h"
#include "queue/queue.h"
#include "qfixture.h"
#include "scratch.h"

static char err[256];

QFIXTURE_SUITE(spool, "spool");

static char *rcpts[] = { "a@example.test", "b@example.test" };

static struct envelope
sample_env(size_t room)
{
	struct envelope env = qfixture_env("192.0.2.1", "client.example",
	    "s@example.org", rcpts, 2);

	env.prepend_room = room;
	return env;
}

/* read_all - the spool read back in steps of `step` octets */
static size_t
read_all(struct spool *sp, char *out, size_t cap, size_t step)
{
	size_t got = 0;
	ssize_t n;

	while ((n = spool_pread(sp, out + got, step, got)) > 0) {
		got += (size_t)n;
		cr_assert_leq(got, cap);
	}
	cr_assert_eq(n, 0, "spool_pread: %s", strerror(errno));
	return got;
}

/* delivered - the committed entry's message as delivery reads it */
static size_t
delivered(const char *id, char *out, size_t cap, struct qentry **ep)
{
	struct qentry *e;
	size_t got = 0;
	ssize_t n;
	int fd;

	cr_assert_not_null(e = qentry_load(dir, id, err, sizeof(err)), "%s",
	    err);
	cr_assert_geq(fd = qentry_open_body(dir, e), 0);
	while ((n = read(fd, out + got, cap - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (ep)
		*ep = e;
	else
		qentry_free(e);
	return got;
}

static void
pread_matches_delivery(size_t room, const char *fields, size_t size)
{
	struct envelope env = sample_env(room);
	size_t cap = size + 4096, len = 0, got;
	char *msg = qfixture_message(size), *want, *back, *out;
	struct spool *sp;

	size = strlen(msg);
	want = malloc(cap + size);
	back = malloc(cap + size);
	out = malloc(cap + size);
	cr_assert(want && back && out);
	cr_assert_not_null(sp = queue_spool_create(q, &env, err, sizeof(err)),
	    "%s", err);
	/* Past the 64 KiB write buffer when large: part of it on disk,
	 * part still buffered when it is read back. */
	cr_assert_eq(spool_write(sp, msg, size), 0);
	if (fields) {
		cr_assert_eq(spool_prepend(sp, fields, strlen(fields)), 0);
		len = strlen(fields);
		memcpy(want, fields, len);
	}
	memcpy(want + len, msg, size);
	len += size;
	cr_assert_eq(spool_write(sp, "tail\r\n", 6), 0);
	memcpy(want + len, "tail\r\n", 6);
	len += 6;

	/* Odd steps cross the slot's end and the buffer's boundary. */
	got = read_all(sp, back, cap + size, 4093);
	cr_assert_eq(got, len);
	cr_assert(memcmp(back, want, len) == 0);
	/* One read straddling the 64 KiB mark, and one past the end. */
	if (len > 66000) {
		cr_assert_eq(spool_pread(sp, back, 2000, 65000), 2000);
		cr_assert(memcmp(back, want + 65000, 2000) == 0);
	}
	cr_assert_eq(spool_pread(sp, back, 10, len), 0);
	cr_assert_eq(spool_pread(sp, back, 10, len + 5), 0);

	/* What was read back is what delivery sends. */
	cr_assert_eq(queue_commit(sp, err, sizeof(err)), 0, "%s", err);
	got = delivered(env.id, out, cap + size, NULL);
	cr_assert_eq(got, len);
	cr_assert(memcmp(out, want, len) == 0);
	spool_free(sp);
	free(msg);
	free(want);
	free(back);
	free(out);
}

Test(spool, pread_small_message_still_buffered)
{
	pread_matches_delivery(0, NULL, 300);
}

Test(spool, pread_across_the_write_buffer)
{
	pread_matches_delivery(0, NULL, 200000);
}

Test(spool, pread_prepended_fields_first)
{
	pread_matches_delivery(1024, "DKIM-Signature: v=1; b=abc\r\n"
	    "Authentication-Results: x; none\r\n", 200000);
}

Test(spool, pread_room_unused)
{
	pread_matches_delivery(1024, NULL, 100);
}

/* rewrite_env - another envelope for the same transaction */
static struct envelope
rewrite_env(size_t room)
{
	static char *new_rcpts[] = { "c@example.net" };
	struct envelope env = sample_env(room);

	env.sender = "changed@example.org";
	env.rcpts = new_rcpts;
	env.nrcpts = 1;
	return env;
}

Test(spool, rewrite_kept_takes_the_place_of_the_old)
{
	static const char old_msg[] = "Subject: old\r\n\r\nold body\r\n",
	    new_msg[] = "Subject: new\r\nX-Milter: added\r\n\r\nnew body\r\n",
	    sig[] = "DKIM-Signature: v=1; b=new\r\n";
	/* The old one without a slot, the new one with: the handle takes
	 * the new one's. */
	struct envelope env = sample_env(0), nenv = rewrite_env(512);
	char back[1024], out[1024];
	struct spool *sp, *nsp;
	struct qentry *e;
	size_t got;

	cr_assert_not_null(sp = queue_spool_create(q, &env, err, sizeof(err)));
	cr_assert_eq(spool_write(sp, old_msg, strlen(old_msg)), 0);
	cr_assert_not_null(nsp = spool_rewrite(sp, &nenv, err, sizeof(err)),
	    "%s", err);
	cr_assert_str_eq(nenv.id, env.id, "same id");
	cr_assert_str_eq(spool_id(nsp), env.id);
	cr_assert_eq(spool_write(nsp, new_msg, strlen(new_msg)), 0);
	/* Meanwhile the old one still reads as it was. */
	got = read_all(sp, back, sizeof(back), 7);
	cr_assert_eq(got, strlen(old_msg));
	cr_assert(memcmp(back, old_msg, got) == 0);
	cr_assert_eq(scratch_count(dir, "tmp"), 2);
	cr_assert_eq(scratch_count(dir, "incoming"), 0, "nothing visible");

	cr_assert_eq(spool_rewrite_done(sp, nsp, true, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(scratch_count(dir, "tmp"), 1);
	cr_assert_eq(spool_size(sp), strlen(new_msg));
	/* The handle now stands for the new file: its slot, its tlsrequired
	 * line, its read-back. */
	cr_assert_eq(spool_prepend(sp, sig, strlen(sig)), 0);
	cr_assert_eq(spool_tls_optional(sp), 0);
	got = read_all(sp, back, sizeof(back), 5);
	cr_assert_eq(got, strlen(sig) + strlen(new_msg));
	cr_assert(memcmp(back, sig, strlen(sig)) == 0);
	cr_assert(memcmp(back + strlen(sig), new_msg, strlen(new_msg)) == 0);

	cr_assert_eq(queue_commit(sp, err, sizeof(err)), 0, "%s", err);
	spool_free(sp);
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
	cr_assert_eq(scratch_count(dir, "incoming"), 1);
	got = delivered(env.id, out, sizeof(out), &e);
	cr_assert_eq(got, strlen(sig) + strlen(new_msg));
	cr_assert(memcmp(out, back, got) == 0);
	cr_assert_str_eq(e->sender, "changed@example.org");
	cr_assert_eq(e->nrcpts, 1);
	cr_assert_str_eq(e->rcpts[0], "c@example.net");
	cr_assert(e->tls_optional);
	qentry_free(e);
}

Test(spool, rewrite_dropped_leaves_the_old)
{
	static const char old_msg[] = "Subject: old\r\n\r\nold body\r\n";
	struct envelope env = sample_env(0), nenv = rewrite_env(0);
	struct spool *sp, *nsp;
	struct qentry *e;
	char out[1024];

	cr_assert_not_null(sp = queue_spool_create(q, &env, err, sizeof(err)));
	cr_assert_eq(spool_write(sp, old_msg, strlen(old_msg)), 0);
	cr_assert_not_null(nsp = spool_rewrite(sp, &nenv, err, sizeof(err)));
	cr_assert_eq(spool_write(nsp, "other\r\n", 7), 0);
	cr_assert_eq(spool_rewrite_done(sp, nsp, false, err, sizeof(err)), 0);
	cr_assert_eq(scratch_count(dir, "tmp"), 1);
	cr_assert_eq(queue_commit(sp, err, sizeof(err)), 0, "%s", err);
	spool_free(sp);
	cr_assert_eq(delivered(env.id, out, sizeof(out), &e), strlen(old_msg));
	cr_assert(memcmp(out, old_msg, strlen(old_msg)) == 0);
	cr_assert_str_eq(e->sender, "s@example.org");
	cr_assert_eq(e->nrcpts, 2);
	qentry_free(e);
}

/* A REQUIRETLS envelope in the rewrite has no tlsrequired line, as for
 * any spool: the header cannot turn it off. */
Test(spool, rewrite_with_requiretls)
{
	struct envelope env = sample_env(0), nenv = rewrite_env(0);
	struct spool *sp, *nsp;
	struct qentry *e;
	char out[64];

	nenv.requiretls = true;
	cr_assert_not_null(sp = queue_spool_create(q, &env, err, sizeof(err)));
	cr_assert_not_null(nsp = spool_rewrite(sp, &nenv, err, sizeof(err)));
	cr_assert_eq(spool_write(nsp, "x\r\n", 3), 0);
	cr_assert_eq(spool_rewrite_done(sp, nsp, true, err, sizeof(err)), 0);
	cr_assert_eq(spool_tls_optional(sp), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(queue_commit(sp, err, sizeof(err)), 0, "%s", err);
	spool_free(sp);
	delivered(env.id, out, sizeof(out), &e);
	cr_assert(e->requiretls);
	cr_assert(!e->tls_optional);
	qentry_free(e);
}

Test(spool, rewrite_refuses_a_line_break)
{
	struct envelope env = sample_env(0), nenv = rewrite_env(0);
	struct spool *sp;

	nenv.sender = "x@example.org\nrcpt evil@example.org";
	cr_assert_not_null(sp = queue_spool_create(q, &env, err, sizeof(err)));
	cr_assert_null(spool_rewrite(sp, &nenv, err, sizeof(err)));
	cr_assert_eq(scratch_count(dir, "tmp"), 1);
	spool_free(sp);
}

/* crash - a child rewrites a spool and stops dead (_exit, as kill -9)
 * with the rewrite in progress (step 0) or done but not committed
 * (step 1) */
static void
crash(int step)
{
	pid_t pid = fork();
	int status;

	cr_assert_neq(pid, -1);
	if (pid == 0) {
		struct envelope env = sample_env(512), nenv = rewrite_env(512);
		struct spool *sp, *nsp;

		if ((sp = queue_spool_create(q, &env, err, sizeof(err))) ==
		    NULL || spool_write(sp, "old\r\n", 5) == -1 ||
		    (nsp = spool_rewrite(sp, &nenv, err, sizeof(err))) ==
		    NULL || spool_write(nsp, "new\r\n", 5) == -1 ||
		    spool_sync(sp, err, sizeof(err)) == -1)
			_exit(2);
		if (step == 1 && spool_rewrite_done(sp, nsp, true, err,
		    sizeof(err)) == -1)
			_exit(2);
		_exit(0);	/* no cleanup */
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

Test(spool, recovery_removes_rewrite_leftovers)
{
	struct queue *q2;

	crash(0);
	cr_assert_eq(scratch_count(dir, "tmp"), 2, "ID and ID.new");
	crash(1);
	cr_assert_eq(scratch_count(dir, "tmp"), 3);
	cr_assert_not_null(q2 = queue_open(dir, err, sizeof(err)), "%s", err);
	cr_assert_eq(queue_removed_at_open(q2), 3);
	cr_assert_eq(queue_entries_at_open(q2), 0);
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
	cr_assert_eq(scratch_count(dir, "incoming"), 0);
	queue_close(q2);
}

/* --- held entries ------------------------------------------------------- */

/* commit_held - a committed entry kept on hold for `why`; its id */
static void
commit_held(const char *why, char id[QUEUE_ID_LEN + 1])
{
	struct envelope env = sample_env(0);
	struct spool *sp;

	env.hold = why;
	cr_assert_not_null(sp = queue_spool_create(q, &env, err, sizeof(err)),
	    "%s", err);
	cr_assert_eq(spool_write(sp, "Subject: held\r\n\r\nx\r\n", 20), 0);
	cr_assert(spool_held(sp));
	cr_assert_eq(queue_commit(sp, err, sizeof(err)), 0, "%s", err);
	spool_free(sp);
	memcpy(id, env.id, QUEUE_ID_LEN + 1);
}

Test(spool, held_commit_lands_in_hold)
{
	char id[QUEUE_ID_LEN + 1];
	struct qentry *e;
	size_t n;
	char **ids;

	commit_held("spam score 15.2", id);
	cr_assert_eq(scratch_count(dir, "hold"), 1);
	cr_assert_eq(scratch_count(dir, "incoming"), 0);
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
	/* Delivery lists and loads incoming/ only: it never sees it. */
	cr_assert_not_null(ids = qentry_list(dir, &n));
	cr_assert_eq(n, 0);
	qentry_list_free(ids, n);
	cr_assert_null(qentry_load(dir, id, err, sizeof(err)));
	cr_assert_eq(errno, ENOENT);
	cr_assert_not_null(ids = qentry_list_held(dir, &n));
	cr_assert_eq(n, 1);
	cr_assert_str_eq(ids[0], id);
	qentry_list_free(ids, n);
	cr_assert_not_null(e = qentry_load_held(dir, id, err, sizeof(err)),
	    "%s", err);
	cr_assert(e->held);
	cr_assert_str_eq(e->hold, "spam score 15.2");
	cr_assert_eq(e->nrcpts, 2);
	qentry_free(e);
}

Test(spool, release_moves_into_incoming)
{
	char id[QUEUE_ID_LEN + 1];
	struct qentry *e;

	commit_held("quarantine", id);
	cr_assert_eq(qentry_release(dir, id, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(scratch_count(dir, "hold"), 0);
	cr_assert_eq(scratch_count(dir, "incoming"), 1);
	/* Delivery loads it now; the line stays, the entry is not held. */
	cr_assert_not_null(e = qentry_load(dir, id, err, sizeof(err)), "%s",
	    err);
	cr_assert(!e->held);
	cr_assert_str_eq(e->hold, "quarantine");
	qentry_free(e);
	cr_assert_eq(qentry_release(dir, id, err, sizeof(err)), -1);
	cr_assert_eq(errno, ENOENT);
	cr_assert(strstr(err, "no such held entry") != NULL, "%s", err);
}

Test(spool, delete_a_held_entry)
{
	char id[QUEUE_ID_LEN + 1];

	commit_held("", id);
	cr_assert_eq(qentry_remove(dir, id, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(scratch_count(dir, "hold"), 0);
	cr_assert_eq(qentry_remove(dir, id, err, sizeof(err)), -1);
	cr_assert_eq(errno, ENOENT);
}

Test(spool, hold_reason_cannot_gain_lines)
{
	struct envelope env = sample_env(0);

	env.hold = "x\nrcpt evil@example.org";
	cr_assert_null(queue_spool_create(q, &env, err, sizeof(err)));
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
}

/* A rewrite that puts the message on hold (a milter's quarantine at the
 * end of the message): the handle is held, its commit goes to hold/. */
Test(spool, rewrite_onto_hold)
{
	struct envelope env = sample_env(0), nenv = rewrite_env(256);
	struct spool *sp, *nsp;
	struct qentry *e;

	cr_assert_not_null(sp = queue_spool_create(q, &env, err, sizeof(err)));
	cr_assert(!spool_held(sp));
	nenv.hold = "milter quarantine";
	cr_assert_not_null(nsp = spool_rewrite(sp, &nenv, err, sizeof(err)));
	cr_assert_eq(spool_write(nsp, "x\r\n", 3), 0);
	cr_assert_eq(spool_rewrite_done(sp, nsp, true, err, sizeof(err)), 0);
	cr_assert(spool_held(sp));
	cr_assert_eq(queue_commit(sp, err, sizeof(err)), 0, "%s", err);
	spool_free(sp);
	cr_assert_eq(scratch_count(dir, "hold"), 1);
	cr_assert_not_null(e = qentry_load_held(dir, env.id, err,
	    sizeof(err)), "%s", err);
	cr_assert_str_eq(e->hold, "milter quarantine");
	cr_assert_str_eq(e->sender, "changed@example.org");
	qentry_free(e);
}
