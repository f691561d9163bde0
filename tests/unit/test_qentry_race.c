/*
 * test_qentry_race - an entry's files removed by another process while
 * this one opens them: the entry is gone (ENOENT), never a file "with
 * other hard links" (an unlinked file has none), so that `sallyport
 * --queue ... all` and list pass over it and the runner drops it; nor
 * an entry without the state it had (as if never tried).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue/qentry.h"
#include "queue/queue.h"
#include "qfixture.h"

#define ROUNDS	20000	/* locks of a gone entry, per process */
#define REMOVALS	250	/* entries removed under a reader */

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

/* Each lock of an unknown id makes its state file and removes it: the
 * other process opens that file as it goes. */
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
