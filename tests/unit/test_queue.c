/*
 * test_queue - spool, commit, and recovery after a crash at each step.
 * A crash is simulated by a child process that stops (_exit) between
 * two steps, leaving the files exactly as a kill -9 would.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue/queue.h"
#include "qfixture.h"
#include "scratch.h"

static char dir[256];

static void
setup(void)
{
	scratch_make(dir, sizeof(dir), "queue");
}

static void
teardown(void)
{
	scratch_remove(dir);
}

TestSuite(queue, .init = setup, .fini = teardown);

static char *
slurp(const char *sub, const char *id, size_t *len)
{
	static char data[1 << 16];
	char path[300];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, id);
	cr_assert_neq(fd = open(path, O_RDONLY), -1, "%s missing", path);
	n = read(fd, data, sizeof(data) - 1);
	close(fd);
	cr_assert_geq(n, 0);
	data[n] = '\0';
	*len = (size_t)n;
	return data;
}

static struct envelope
sample_env(void)
{
	static char *rcpts[] = { "a@example.test", "\"b c\"@example.test" };

	return qfixture_env("192.0.2.1", "client.example", "s@example.org",
	    rcpts, 2);
}

Test(queue, commit_writes_envelope_and_message)
{
	char err[256];
	struct queue *q = queue_open(dir, err, sizeof(err));
	struct envelope env = sample_env();
	struct spool *sp;
	size_t len;
	const char *data;

	cr_assert_not_null(q, "%s", err);
	cr_assert_not_null(sp = queue_spool_create(q, &env, err, sizeof(err)), "%s", err);
	cr_assert_eq(strlen(env.id), QUEUE_ID_LEN);
	cr_assert_str_eq(spool_id(sp), env.id);
	cr_assert_eq(scratch_count(dir, "tmp"), 1);
	cr_assert_eq(spool_write(sp, "Subject: x\r\n\r\nbody\r\n", 20), 0);
	cr_assert_eq(spool_size(sp), 20);
	cr_assert_eq(queue_commit(sp, err, sizeof(err)), 0, "%s", err);
	spool_free(sp);
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
	cr_assert_eq(scratch_count(dir, "incoming"), 1);

	data = slurp("incoming", env.id, &len);
	{
		char want[1024];

		snprintf(want, sizeof(want), "sallyport-queue 1\nid %s\n"
		    "arrival 1700000000\nclient 192.0.2.1\nhelo client.example\n"
		    "proto ESMTP\ntlsrequired yes\nfrom s@example.org\n"
		    "rcpt a@example.test\n"
		    "rcpt \"b c\"@example.test\n\nSubject: x\r\n\r\nbody\r\n",
		    env.id);
		cr_assert_eq(len, strlen(want));
		cr_assert_str_eq(data, want);
	}
	queue_close(q);
}

Test(queue, abandoned_spool_leaves_nothing)
{
	char err[256];
	struct queue *q = queue_open(dir, err, sizeof(err));
	struct envelope env = sample_env();
	struct spool *sp = queue_spool_create(q, &env, err, sizeof(err));

	cr_assert_not_null(sp);
	spool_write(sp, "x", 1);
	spool_free(sp);
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
	cr_assert_eq(scratch_count(dir, "incoming"), 0);
	queue_close(q);
}

Test(queue, envelope_fields_cannot_gain_lines)
{
	char err[256];
	struct queue *q = queue_open(dir, err, sizeof(err));
	struct envelope env = sample_env();
	char *bad[] = { "a@example.test\nrcpt evil@example.org" };

	env.helo = "x\r\nrcpt evil@example.org";
	cr_assert_null(queue_spool_create(q, &env, err, sizeof(err)));
	env = sample_env();
	env.rcpts = bad;
	env.nrcpts = 1;
	cr_assert_null(queue_spool_create(q, &env, err, sizeof(err)));
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
	queue_close(q);
}

Test(queue, ids_are_unique)
{
	char err[256], seen[200][QUEUE_ID_LEN + 1];
	struct queue *q = queue_open(dir, err, sizeof(err));
	struct spool *sp[200];
	int i, j;

	for (i = 0; i < 200; i++) {
		struct envelope env = sample_env();

		cr_assert_not_null(sp[i] = queue_spool_create(q, &env, err, sizeof(err)));
		memcpy(seen[i], env.id, sizeof(seen[i]));
		for (j = 0; j < i; j++)
			cr_assert_str_neq(seen[i], seen[j]);
	}
	for (i = 0; i < 200; i++)
		spool_free(sp[i]);
	queue_close(q);
}

/* The process id is asked once per process: a child forked with the
 * queue open (a worker) still mixes in its own. Parent and child make an
 * id with the same sequence number; the last three digits differ unless
 * the two pids are equal modulo 4096. */
Test(queue, forked_child_mixes_in_its_own_pid)
{
	char err[256], mine[QUEUE_ID_LEN + 1], theirs[QUEUE_ID_LEN + 1] = "";
	struct queue *q = queue_open(dir, err, sizeof(err));
	struct envelope env = sample_env();
	struct spool *sp;
	int fds[2], status;
	pid_t pid;

	cr_assert_not_null(sp = queue_spool_create(q, &env, err, sizeof(err)));
	spool_free(sp);
	cr_assert_eq(pipe(fds), 0);
	cr_assert_neq(pid = fork(), -1);
	if (pid == 0) {
		env = sample_env();
		if ((sp = queue_spool_create(q, &env, err, sizeof(err))) == NULL ||
		    write(fds[1], env.id, QUEUE_ID_LEN) != QUEUE_ID_LEN)
			_exit(2);
		_exit(0);	/* its spool file stays in tmp/ */
	}
	close(fds[1]);
	cr_assert_eq(read(fds[0], theirs, QUEUE_ID_LEN), QUEUE_ID_LEN);
	close(fds[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	env = sample_env();
	cr_assert_not_null(sp = queue_spool_create(q, &env, err, sizeof(err)));
	memcpy(mine, env.id, sizeof(mine));
	spool_free(sp);
	if ((getpid() - pid) % 4096 != 0)
		cr_assert_str_neq(mine + 13, theirs + 13, "parent %s, child %s",
		    mine, theirs);
	queue_close(q);
}

/* crash - a child writes four messages and stops dead (_exit, like
 * kill -9) with message N stopped after step N: 0 spool written,
 * 1 file fsync'd, 2 renamed into incoming/, 3 directory fsync'd */
static void
crash(void)
{
	pid_t pid = fork();
	int status;

	cr_assert_neq(pid, -1);
	if (pid == 0) {
		char err[256];
		struct queue *q = queue_open(dir, err, sizeof(err));
		int step;

		for (step = 0; step < 4; step++) {
			struct envelope env = sample_env();
			struct spool *sp = queue_spool_create(q, &env, err,
			    sizeof(err));

			if (sp == NULL || spool_write(sp, "msg\r\n", 5) == -1)
				_exit(2);
			if (step >= 1 && spool_sync(sp, err, sizeof(err)) == -1)
				_exit(2);
			if (step >= 2 && spool_publish(sp, err, sizeof(err)) == -1)
				_exit(2);
			if (step >= 3 && queue_sync_incoming(q, err, sizeof(err)) == -1)
				_exit(2);
		}
		_exit(0);	/* no cleanup */
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

Test(queue, recovery_removes_uncommitted_and_keeps_committed)
{
	char err[256];
	struct queue *q;

	crash();
	cr_assert_eq(scratch_count(dir, "tmp"), 2, "steps 0 and 1 never left tmp/");
	cr_assert_eq(scratch_count(dir, "incoming"), 2, "steps 2 and 3 are complete entries");

	cr_assert_not_null(q = queue_open(dir, err, sizeof(err)), "%s", err);
	cr_assert_eq(queue_removed_at_open(q), 2);
	cr_assert_eq(queue_entries_at_open(q), 2);
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
	cr_assert_eq(scratch_count(dir, "incoming"), 2);
	queue_close(q);
}

Test(queue, unpublish_takes_the_entry_back)
{
	char err[256];
	struct queue *q = queue_open(dir, err, sizeof(err));
	struct envelope env = sample_env();
	struct spool *sp = queue_spool_create(q, &env, err, sizeof(err));

	cr_assert_eq(spool_sync(sp, err, sizeof(err)), 0);
	cr_assert_eq(spool_publish(sp, err, sizeof(err)), 0);
	cr_assert_eq(scratch_count(dir, "incoming"), 1);
	cr_assert_eq(spool_unpublish(sp), 0);
	spool_free(sp);
	cr_assert_eq(scratch_count(dir, "incoming"), 0);
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
	queue_close(q);
}

Test(queue, unwritable_directory_is_a_clear_error)
{
	char err[256] = "";

	cr_assert_null(queue_open("/proc/sallyport-no-such-dir", err, sizeof(err)));
	cr_assert(strstr(err, "/proc/sallyport-no-such-dir") != NULL, "%s", err);
}
