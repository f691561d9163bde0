/*
 * test_queue - spool, commit, and recovery after a crash at each step.
 * A crash is simulated by a child process that stops (_exit) between
 * two steps, leaving the files exactly as a kill -9 would.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
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
 * the two pids are equal modulo 2048. */
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
	if ((getpid() - pid) % 2048 != 0)
		cr_assert_str_neq(mine + 13, theirs + 13, "parent %s, child %s",
		    mine, theirs);
	queue_close(q);
}

/* id_us - the microsecond an id stands for */
static uint64_t
id_us(const char *id)
{
	char sec[9], usec[6];

	memcpy(sec, id, 8);
	sec[8] = '\0';
	memcpy(usec, id + 8, 5);
	usec[5] = '\0';
	return strtoull(sec, NULL, 16) * 1000000 + strtoull(usec, NULL, 16);
}

/* id_low - the last three digits */
static unsigned
id_low(const char *id)
{
	return (unsigned)strtoul(id + 13, NULL, 16);
}

/* plant - an entry file named for microsecond us (from now) in sub/ */
static void
plant(const char *sub, int64_t from_now_us, char id[QUEUE_ID_LEN + 1])
{
	struct timeval tv;
	uint64_t us;
	char path[300];
	int fd;

	gettimeofday(&tv, NULL);
	us = (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec +
	    (uint64_t)from_now_us;
	snprintf(id, QUEUE_ID_LEN + 1, "%08llX%05llX%03X",
	    (unsigned long long)(us / 1000000) & 0xffffffffULL,
	    (unsigned long long)(us % 1000000), 0x123u);
	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	mkdir(path, 0700);		/* state/ is made on first use */
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, id);
	cr_assert_neq(fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600), -1);
	close(fd);
}

/* make_id - a new spool's id (the queue is lazy: no file) */
static void
make_id(struct queue *q, char id[QUEUE_ID_LEN + 1])
{
	char err[256];
	struct envelope env = sample_env();
	struct spool *sp = queue_spool_create(q, &env, err, sizeof(err));

	cr_assert_not_null(sp, "%s", err);
	memcpy(id, env.id, QUEUE_ID_LEN + 1);
	spool_free(sp);
}

/* Without a slot, ids say so (QUEUE_ID_NOSLOT in the last digits); with
 * one, they carry it and come after the newest id of incoming/ and
 * hold/, even one a little ahead of the clock, each after the last. */
Test(queue, ids_of_a_slot_come_after_every_id_found)
{
	char err[256], id[QUEUE_ID_LEN + 1], prev[QUEUE_ID_LEN + 1];
	char inc[QUEUE_ID_LEN + 1], held[QUEUE_ID_LEN + 1];
	struct queue *q = queue_open(dir, err, sizeof(err));

	cr_assert_not_null(q, "%s", err);
	queue_set_lazy(q, true);
	make_id(q, id);
	cr_assert_geq(id_low(id), 0x800, "no slot, yet %s", id);
	plant("incoming", 200000, inc);
	plant("hold", 400000, held);
	cr_assert_eq(queue_ids_own(q, 5, err, sizeof(err)), 0, "%s", err);
	prev[0] = '\0';
	for (int i = 0; i < 5000; i++) {
		make_id(q, id);
		cr_assert_eq(id_low(id), 5, "%s", id);
		cr_assert_gt(id_us(id), id_us(held), "%s not after %s", id,
		    held);
		if (prev[0] != '\0')
			cr_assert_gt(strcmp(id, prev), 0, "%s after %s", id,
			    prev);
		memcpy(prev, id, sizeof(prev));
	}
	/* A child forked with the queue open: the slot stays its parent's. */
	{
		int fds[2], status;
		pid_t pid;

		cr_assert_eq(pipe(fds), 0);
		cr_assert_neq(pid = fork(), -1);
		if (pid == 0) {
			make_id(q, id);
			_exit(write(fds[1], id, QUEUE_ID_LEN) != QUEUE_ID_LEN);
		}
		close(fds[1]);
		memset(id, 0, sizeof(id));
		cr_assert_eq(read(fds[0], id, QUEUE_ID_LEN), QUEUE_ID_LEN);
		close(fds[0]);
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert_geq(id_low(id), 0x800, "the child made %s", id);
	}
	queue_ids_disown(q);
	make_id(q, id);
	cr_assert_geq(id_low(id), 0x800, "disowned, yet %s", id);
	cr_assert_neq(queue_ids_own(q, 0x800, err, sizeof(err)), 0);
	queue_close(q);
}

/* Whichever of incoming/, hold/ and state/ holds the newest id (a state
 * file left by a crash during a removal counts), the slot's first id
 * comes after it. */
Test(queue, ids_of_a_slot_come_after_the_newest_wherever_it_is)
{
	static const char *subs[] = { "incoming", "hold", "state" };
	char err[256], qdir[300], id[QUEUE_ID_LEN + 1];
	char newest[QUEUE_ID_LEN + 1];

	for (int i = 0; i < 3; i++) {
		struct queue *q;

		snprintf(qdir, sizeof(qdir), "%s/q%d", dir, i);
		cr_assert_eq(mkdir(qdir, 0700), 0);
		for (int k = 0; k < 3; k++) {
			char where[300];

			snprintf(where, sizeof(where), "q%d/%s", i, subs[k]);
			plant(where, k == i ? 300000 : 100000, id);
			if (k == i)
				memcpy(newest, id, sizeof(newest));
		}
		cr_assert_not_null(q = queue_open(qdir, err, sizeof(err)),
		    "%s", err);
		queue_set_lazy(q, true);
		cr_assert_eq(queue_ids_own(q, 1, err, sizeof(err)), 0, "%s",
		    err);
		make_id(q, id);
		cr_assert_gt(id_us(id), id_us(newest), "%s in %s, yet %s",
		    newest, subs[i], id);
		queue_close(q);
	}
}

/* An entry far ahead of the clock (it stepped back an hour): the slot's
 * ids would run ahead of it by as much, so ids are made and looked for
 * as without a slot until the clock is past it. */
Test(queue, ids_far_behind_the_newest_are_looked_for)
{
	char err[256], id[QUEUE_ID_LEN + 1], ahead[QUEUE_ID_LEN + 1];
	struct queue *q = queue_open(dir, err, sizeof(err));

	cr_assert_not_null(q, "%s", err);
	queue_set_lazy(q, true);
	plant("incoming", 3600LL * 1000000, ahead);
	cr_assert_eq(queue_ids_own(q, 7, err, sizeof(err)), 0, "%s", err);
	make_id(q, id);
	cr_assert_geq(id_low(id), 0x800, "%s", id);
	cr_assert_lt(id_us(id), id_us(ahead));
	queue_close(q);
}

struct idrun {
	struct queue	*q;
	char		(*ids)[QUEUE_ID_LEN + 1];
	size_t		 n;
};

static void *
idrun(void *arg)
{
	struct idrun *r = arg;

	for (size_t i = 0; i < r->n; i++)
		make_id(r->q, r->ids[i]);
	return NULL;
}

static int
idcmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Two processes' worth of queues (slots 1 and 2) and two threads on a
 * third (slot 3): 60,000 ids made at once, microseconds shared, and no
 * two alike. */
Test(queue, ids_of_slots_never_collide)
{
	enum { N = 15000 };
	char err[256];
	struct queue *qs[3];
	struct idrun runs[4];
	pthread_t t[4];
	char (*all)[QUEUE_ID_LEN + 1] = calloc(4 * N, QUEUE_ID_LEN + 1);

	cr_assert_not_null(all);
	for (int i = 0; i < 3; i++) {
		cr_assert_not_null(qs[i] = queue_open(dir, err, sizeof(err)));
		queue_set_lazy(qs[i], true);
		cr_assert_eq(queue_ids_own(qs[i], (unsigned)i + 1, err,
		    sizeof(err)), 0, "%s", err);
	}
	for (int i = 0; i < 4; i++) {
		runs[i] = (struct idrun){ qs[i < 3 ? i : 2], all + i * N, N };
		cr_assert_eq(pthread_create(&t[i], NULL, idrun, &runs[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	qsort(all, 4 * N, QUEUE_ID_LEN + 1, idcmp);
	for (size_t i = 1; i < 4 * N; i++)
		cr_assert_str_neq(all[i], all[i - 1]);
	free(all);
	for (int i = 0; i < 3; i++)
		queue_close(qs[i]);
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
