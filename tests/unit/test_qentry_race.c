/*
 * test_qentry_race - an entry's files removed by another process while
 * this one opens them: the entry is gone (ENOENT), never a file "with
 * other hard links" (an unlinked file has none), so that `sallyport
 * --queue ... all` and list pass over it and the runner drops it; nor
 * an entry without the state it had (as if never tried).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue/qentry.h"
#include "queue/queue.h"
#include "qfixture.h"

#define ROUNDS	20000	/* locks of a gone entry, per process */
#define REMOVALS	250	/* entries removed under a reader */
#define THREADS		4	/* lockers per process */
#define TURNS		300	/* locks per locker */

QFIXTURE_SUITE(qrace, "qentry_race");

/* commit - an entry for one recipient; its id in id */
static void
commit(char id[QUEUE_ID_LEN + 1])
{
	static char *rcpts[] = { "a@example.test" };
	static const char body[] = "Subject: hi\r\n\r\nhello\r\n";
	struct envelope env = qfixture_env("192.0.2.7", "client.example.org",
	    "s@example.test", rcpts, 1);

	qfixture_commit(q, &env, body);
	memcpy(id, env.id, QUEUE_ID_LEN + 1);
}

/* lock_gone - ROUNDS locks of an id with no entry: the number of
 * answers other than "no such queue entry" */
static unsigned
lock_gone(const char *id)
{
	char e[512];
	unsigned wrong = 0, i;
	int lock;

	for (i = 0; i < ROUNDS; i++) {
		if ((lock = qentry_lock(dir, id, 5000, e, sizeof(e))) != -1) {
			qentry_unlock(lock);
			wrong++;
		} else if (errno != ENOENT) {
			if (wrong == 0)
				fprintf(stderr, "%s\n", e);
			wrong++;
		}
	}
	return wrong;
}

/* Two processes lock an unknown id again and again: each time, under
 * the lock, the entry is found gone (and its state file, if any,
 * removed), never a lock given or an error. */
Test(qrace, lock_of_an_entry_gone_meanwhile)
{
	const char *id = "0123456789ABCDEF";
	unsigned mine, theirs;
	pid_t pid;
	int status;

	cr_assert_neq(pid = fork(), -1);
	if (pid == 0)
		_exit(lock_gone(id) == 0 ? 0 : 1);
	mine = lock_gone(id);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	theirs = WIFEXITED(status) ? (unsigned)WEXITSTATUS(status) : 2;
	cr_assert_eq(mine, 0, "%u locks said other than ENOENT here", mine);
	cr_assert_eq(theirs, 0, "the other process: %u", theirs);
}

/* The runner removes what it delivered while list loads it, and a
 * command waits for the lock of an entry being removed. */
Test(qrace, load_and_lock_of_an_entry_being_removed)
{
	char id[QUEUE_ID_LEN + 1], e[512];
	struct qentry *ent;
	unsigned wrong = 0, i;
	int lock, go[2], done[2];
	pid_t pid;
	char c;

	for (i = 0; i < REMOVALS && wrong == 0; i++) {
		commit(id);
		cr_assert_not_null(ent = qentry_load(dir, id, e, sizeof(e)),
		    "%s", e);
		cr_assert_eq(qentry_record(dir, ent, 0, "deferred", "451 later",
		    e, sizeof(e)), 0, "%s", e);
		qentry_free(ent);
		cr_assert_eq(pipe(go), 0);
		cr_assert_eq(pipe(done), 0);
		cr_assert_neq(pid = fork(), -1);
		if (pid == 0) {
			/* the runner: its lock, then the entry removed */
			lock = qentry_lock(dir, id, 5000, e, sizeof(e));
			(void)!write(go[1], "x", 1);
			if (lock == -1 || qentry_remove(dir, id, e,
			    sizeof(e)) == -1)
				_exit(1);
			qentry_unlock(lock);
			_exit(0);
		}
		close(go[1]);
		close(done[0]);
		close(done[1]);
		cr_assert_eq(read(go[0], &c, 1), 1);
		close(go[0]);
		/* loaded again and again until it is gone; while it loads,
		 * with its state: tried once, not new */
		while ((ent = qentry_load(dir, id, e, sizeof(e))) != NULL) {
			if (ent->last_error[0] == NULL && wrong++ == 0)
				fprintf(stderr, "load: %s without its state\n",
				    id);
			qentry_free(ent);
		}
		if (errno != ENOENT) {
			fprintf(stderr, "load: %s\n", e);
			wrong++;
		}
		if ((lock = qentry_lock(dir, id, 5000, e, sizeof(e))) != -1) {
			fprintf(stderr, "lock: %s taken after its removal\n",
			    id);
			qentry_unlock(lock);
			wrong++;
		} else if (errno != ENOENT) {
			fprintf(stderr, "lock: %s\n", e);
			wrong++;
		}
		cr_assert_eq(waitpid(pid, NULL, 0), pid);
	}
	cr_assert_eq(wrong, 0, "round %u: the removed entry not said gone", i);
}

/* --- the lock between threads and processes --------------------------- */

static char turn_id[QUEUE_ID_LEN + 1];
static char counter[400];

/* turns - TURNS times: the entry's lock, then a counter in a file read
 * and written back one more, a step that loses counts unless the lock
 * keeps every other locker out; the number of locks not taken */
static void *
turns(void *arg)
{
	char e[512], buf[32];
	unsigned failed = 0, i;
	ssize_t n;
	long v;
	int lock, fd;

	(void)arg;
	for (i = 0; i < TURNS; i++) {
		if ((lock = qentry_lock(dir, turn_id, 10000, e,
		    sizeof(e))) == -1) {
			failed++;
			continue;
		}
		fd = open(counter, O_RDWR);
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		v = strtol(buf, NULL, 10) + 1;
		sched_yield();
		n = snprintf(buf, sizeof(buf), "%ld\n", v);
		(void)!pwrite(fd, buf, (size_t)n, 0);
		close(fd);
		qentry_unlock(lock);
	}
	return (void *)(uintptr_t)failed;
}

static unsigned
lockers(void)
{
	pthread_t t[THREADS];
	unsigned failed = 0, i;
	void *rv;

	for (i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, turns, NULL), 0);
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], &rv);
		failed += (unsigned)(uintptr_t)rv;
	}
	return failed;
}

/* both_lock - lockers() in this process and in a child forked after
 * pin (qentry_pin first, as the runner does, when pin); the counter
 * must have every turn of both */
static void
both_lock(bool pin)
{
	char buf[32], e[512];
	unsigned failed;
	pid_t pid;
	int status, fd;
	ssize_t n;

	commit(turn_id);
	if (pin) {
		int lock;

		cr_assert_eq(qentry_pin(dir, e, sizeof(e)), 0, "%s", e);
		/* the pool has a descriptor when the child is forked */
		cr_assert_neq(lock = qentry_lock(dir, turn_id, 0, e,
		    sizeof(e)), -1, "%s", e);
		qentry_unlock(lock);
	}
	snprintf(counter, sizeof(counter), "%s/counter", dir);
	cr_assert_neq(fd = open(counter, O_RDWR | O_CREAT | O_TRUNC, 0600),
	    -1);
	close(fd);
	cr_assert_neq(pid = fork(), -1);
	if (pid == 0)
		_exit(lockers() == 0 ? 0 : 1);
	failed = lockers();
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the other process's locks not all taken");
	cr_assert_eq(failed, 0, "%u locks not taken here", failed);
	cr_assert_neq(fd = open(counter, O_RDONLY), -1);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	cr_assert_eq(strtol(buf, NULL, 10), 2L * THREADS * TURNS,
	    "counted %s, not %d: two holders at once", buf,
	    2 * THREADS * TURNS);
}

/* The runner's delivery threads and a `sallyport --queue` process
 * lock the same entry: one holder at a time, threads of one process
 * included (a lock of the whole process would let them all in). */
Test(qrace, lock_keeps_out_threads_and_processes)
{
	both_lock(false);
}

/* The same with the queue pinned, as in the runner: its threads lock
 * with descriptors kept between locks, and a child forked after them
 * must not lock with the same ones (they would share their locks). */
Test(qrace, pooled_locks_keep_out_threads_and_processes)
{
	both_lock(true);
}
