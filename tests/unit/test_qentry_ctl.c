/*
 * test_qentry_ctl - what `sallyport --queue` changes in an entry, and
 * how it chooses entries: the entry's lock (busy, gone, a stale state
 * file), hold and release, requeue keeping the attempts, the history
 * of the state file, and the list's filters.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "queue/qentry.h"
#include "queue/qfilter.h"
#include "queue/queue.h"
#include "qfixture.h"

static char err[512];

QFIXTURE_SUITE(qctl, "qentry_ctl");

/* commit - an entry for two recipients; its id in id */
static void
commit(const char *sender, char id[QUEUE_ID_LEN + 1])
{
	static char *rcpts[] = { "a@example.test", "b@Example.ORG" };
	static const char body[] = "Subject: hi\r\n\r\nhello\r\n";
	struct envelope env = qfixture_env("192.0.2.7", "client.example.org",
	    sender, rcpts, 2);

	qfixture_commit(q, &env, body);
	memcpy(id, env.id, QUEUE_ID_LEN + 1);
}

static bool
exists(const char *sub, const char *id)
{
	return qfixture_exists(dir, sub, id);
}

Test(qctl, lock_is_exclusive_and_given_back)
{
	char id[QUEUE_ID_LEN + 1];
	int a, b;

	commit("s@example.org", id);
	cr_assert_neq(a = qentry_lock(dir, id, 0, err, sizeof(err)), -1, "%s",
	    err);
	/* no file made for it: the lock is a byte of queue_dir/lock */
	cr_assert(!exists("state", id), "a state file made by the lock");
	/* another holder, in this very thread: busy, at once or after a
	 * short wait */
	cr_assert_eq(qentry_lock(dir, id, 0, err, sizeof(err)), -1);
	cr_assert_eq(errno, EWOULDBLOCK);
	cr_assert(strstr(err, "busy") != NULL, "%s", err);
	cr_assert_eq(qentry_lock(dir, id, 100, err, sizeof(err)), -1);
	cr_assert_eq(errno, EWOULDBLOCK);
	qentry_unlock(a);
	cr_assert_neq(b = qentry_lock(dir, id, 0, err, sizeof(err)), -1, "%s",
	    err);
	qentry_unlock(b);
}

/* Entries locked side by side, their ids one apart: each its own. */
Test(qctl, locks_of_two_entries_are_apart)
{
	char id[QUEUE_ID_LEN + 1], id2[QUEUE_ID_LEN + 1];
	int a, b;

	commit("s@example.org", id);
	commit("s@example.org", id2);
	cr_assert_neq(a = qentry_lock(dir, id, 0, err, sizeof(err)), -1, "%s",
	    err);
	cr_assert_neq(b = qentry_lock(dir, id2, 0, err, sizeof(err)), -1,
	    "%s: %s", id2, err);
	qentry_unlock(a);
	qentry_unlock(b);
}

/* The lock stays with the entry wherever its holder moves it. */
Test(qctl, lock_follows_a_held_entry)
{
	char id[QUEUE_ID_LEN + 1];
	int a, b;

	commit("s@example.org", id);
	cr_assert_neq(a = qentry_lock(dir, id, 0, err, sizeof(err)), -1);
	cr_assert_eq(qentry_hold(dir, id, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(qentry_lock(dir, id, 0, err, sizeof(err)), -1);
	cr_assert_eq(errno, EWOULDBLOCK, "%s", err);
	qentry_unlock(a);
	cr_assert_neq(b = qentry_lock(dir, id, 0, err, sizeof(err)), -1, "%s",
	    err);
	qentry_unlock(b);
}

/* A link planted as queue_dir/lock is not followed: no lock, said so. */
Test(qctl, lock_file_that_is_a_link_is_refused)
{
	char id[QUEUE_ID_LEN + 1], path[400], target[400];

	commit("s@example.org", id);
	snprintf(path, sizeof(path), "%s/lock", dir);
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	(void)unlink(path);
	cr_assert_eq(symlink(target, path), 0);
	cr_assert_eq(qentry_lock(dir, id, 0, err, sizeof(err)), -1);
	cr_assert_neq(errno, ENOENT);
	cr_assert(strstr(err, "symbolic link") != NULL, "%s", err);
	/* nor made through it by the start's setup */
	cr_assert_eq(qentry_lock_setup(dir, err, sizeof(err)), -1);
	cr_assert(strstr(err, "symbolic link") != NULL, "%s", err);
	cr_assert(!exists(".", "elsewhere"), "the link was followed");
}

/* The old lock (flock on state/ID), for a runner of the program before:
 * busy while that runner holds it; an entry that runner removed before
 * the command came is gone, and no state file is left for it. */
Test(qctl, old_lock_of_a_runner_before)
{
	char id[QUEUE_ID_LEN + 1], path[400];
	int runner, a;

	commit("s@example.org", id);
	cr_assert_neq(a = qentry_lock_old(dir, id, 0, err, sizeof(err)), -1,
	    "%s", err);
	qentry_unlock(a);
	snprintf(path, sizeof(path), "%s/state/%s", dir, id);
	cr_assert_neq(runner = open(path, O_RDONLY | O_CREAT, 0600), -1);
	cr_assert_eq(flock(runner, LOCK_EX), 0);
	cr_assert_eq(qentry_lock_old(dir, id, 0, err, sizeof(err)), -1);
	cr_assert_eq(errno, EWOULDBLOCK, "%s", err);
	/* that runner delivers it: the entry and its state removed */
	cr_assert_eq(qentry_remove(dir, id, err, sizeof(err)), 0, "%s", err);
	close(runner);
	cr_assert_eq(qentry_lock_old(dir, id, 0, err, sizeof(err)), -1);
	cr_assert_eq(errno, ENOENT, "%s", err);
	cr_assert(strstr(err, "no such queue entry") != NULL, "%s", err);
	cr_assert(!exists("state", id), "a state file made for nothing");
}

/* The lock file removed while a lock is held: no lock taken on a new
 * file behind the holder's back, and said so; the runner's start makes
 * it again. */
Test(qctl, lock_file_removed_is_not_made_again)
{
	char id[QUEUE_ID_LEN + 1], path[400];
	int a, b;

	commit("s@example.org", id);
	cr_assert_neq(a = qentry_lock(dir, id, 0, err, sizeof(err)), -1, "%s",
	    err);
	snprintf(path, sizeof(path), "%s/lock", dir);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(qentry_lock(dir, id, 0, err, sizeof(err)), -1);
	cr_assert_eq(errno, EIO);
	cr_assert(strstr(err, "missing") != NULL, "%s", err);
	cr_assert(!exists(".", "lock"), "made again by a lock");
	qentry_unlock(a);
	cr_assert_eq(qentry_lock_setup(dir, err, sizeof(err)), 0, "%s", err);
	cr_assert_neq(b = qentry_lock(dir, id, 0, err, sizeof(err)), -1, "%s",
	    err);
	qentry_unlock(b);
}

/* Ids far apart: the byte is the id's low 62 bits, so ids that differ
 * only in the top two share it (busy, never both in), and the largest
 * id is locked like any other. */
Test(qctl, lock_bytes_of_extreme_ids)
{
	char id[QUEUE_ID_LEN + 1], from[400], to[400];
	int a;

	commit("s@example.org", id);
	snprintf(from, sizeof(from), "%s/incoming/%s", dir, id);
	snprintf(to, sizeof(to), "%s/incoming/0000000000000000", dir);
	cr_assert_eq(rename(from, to), 0);
	cr_assert_neq(a = qentry_lock(dir, "0000000000000000", 0, err,
	    sizeof(err)), -1, "%s", err);
	cr_assert_eq(qentry_lock(dir, "4000000000000000", 0, err,
	    sizeof(err)), -1);
	cr_assert_eq(errno, EWOULDBLOCK, "%s", err);
	cr_assert_eq(qentry_lock(dir, "C000000000000000", 0, err,
	    sizeof(err)), -1);
	cr_assert_eq(errno, EWOULDBLOCK, "%s", err);
	cr_assert_eq(qentry_lock(dir, "0000000000000001", 0, err,
	    sizeof(err)), -1);
	cr_assert_eq(errno, ENOENT, "%s", err);
	qentry_unlock(a);
	cr_assert_eq(qentry_lock(dir, "FFFFFFFFFFFFFFFF", 0, err,
	    sizeof(err)), -1);
	cr_assert_eq(errno, ENOENT, "%s", err);
}

/* A held entry's lock: found in hold/, its state file kept. */
Test(qctl, lock_of_a_held_entry_keeps_its_state)
{
	char id[QUEUE_ID_LEN + 1];
	struct qentry *e;
	int a;

	commit("s@example.org", id);
	cr_assert_not_null(e = qentry_load(dir, id, err, sizeof(err)), "%s",
	    err);
	cr_assert_eq(qentry_record(dir, e, 0, "deferred", "451 later", err,
	    sizeof(err)), 0, "%s", err);
	qentry_free(e);
	cr_assert_eq(qentry_hold(dir, id, err, sizeof(err)), 0, "%s", err);
	cr_assert_neq(a = qentry_lock(dir, id, 0, err, sizeof(err)), -1, "%s",
	    err);
	qentry_unlock(a);
	cr_assert(exists("state", id), "the held entry's state removed");
	cr_assert_not_null(e = qentry_load_any(dir, id, false, err,
	    sizeof(err)), "%s", err);
	cr_assert_not_null(e->last_error[0]);
	cr_assert(strstr(e->last_error[0], "451 later") != NULL);
	qentry_free(e);
}

Test(qctl, lock_of_a_removed_entry)
{
	char id[QUEUE_ID_LEN + 1];
	int a;

	commit("s@example.org", id);
	cr_assert_neq(a = qentry_lock(dir, id, 0, err, sizeof(err)), -1);
	/* removed by the holder: whoever comes next finds it gone */
	cr_assert_eq(qentry_remove(dir, id, err, sizeof(err)), 0, "%s", err);
	qentry_unlock(a);
	cr_assert_eq(qentry_lock(dir, id, 0, err, sizeof(err)), -1);
	cr_assert_eq(errno, ENOENT);
	cr_assert(strstr(err, "no such queue entry") != NULL, "%s", err);
	cr_assert(!exists("state", id), "a state file left for nothing");
}

Test(qctl, lock_of_an_unknown_id_leaves_nothing)
{
	cr_assert_eq(qentry_lock(dir, "0123456789ABCDEF", 0, err,
	    sizeof(err)), -1);
	cr_assert_eq(errno, ENOENT);
	cr_assert(!exists("state", "0123456789ABCDEF"));
	cr_assert_eq(qentry_lock(dir, "../incoming/x", 0, err, sizeof(err)),
	    -1);
	cr_assert_eq(errno, EINVAL);
}

Test(qctl, lock_removes_a_stale_state_file)
{
	char id[QUEUE_ID_LEN + 1], path[400];
	struct qentry *e;

	commit("s@example.org", id);
	e = qentry_load(dir, id, err, sizeof(err));
	cr_assert_not_null(e, "%s", err);
	cr_assert_eq(qentry_record(dir, e, 0, "deferred", "451 later", err,
	    sizeof(err)), 0, "%s", err);
	qentry_free(e);
	/* a crash inside qentry_remove: the entry gone, its state kept */
	snprintf(path, sizeof(path), "%s/incoming/%s", dir, id);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(qentry_lock(dir, id, 0, err, sizeof(err)), -1);
	cr_assert_eq(errno, ENOENT);
	cr_assert(!exists("state", id));
}

/* descriptors - how many this process has open */
static int
descriptors(void)
{
	char path[64];
	int n = 0, fd;

	for (fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n += access(path, F_OK) == 0;
	}
	return n;
}

/* A pinned queue (the runner's) does all a delivery and `--queue` do,
 * again and again, with the same descriptors open before and after:
 * none of the pinned ones closed, none leaked. */
Test(qctl, pinned_queue_serves_every_change)
{
	char id[QUEUE_ID_LEN + 1], buf[64];
	struct qentry *e;
	int i, lock, fd, before;

	cr_assert_eq(qentry_pin(dir, err, sizeof(err)), 0, "%s", err);
	/* state/ made for it to be held open as well */
	cr_assert(exists("state", ""), "no state/ after qentry_pin");
	before = -1;
	for (i = 0; i < 20; i++) {
		/* after the first round: the shared fsync of incoming/
		 * keeps a descriptor of its own (lib/dirsync.c) */
		if (i == 1)
			before = descriptors();
		commit("s@example.org", id);
		cr_assert_neq(lock = qentry_lock(dir, id, 0, err, sizeof(err)),
		    -1, "%s", err);
		e = qentry_load(dir, id, err, sizeof(err));
		cr_assert_not_null(e, "%s", err);
		cr_assert_neq(fd = qentry_open_body(dir, e), -1);
		cr_assert_gt(read(fd, buf, sizeof(buf)), 0);
		close(fd);
		cr_assert_eq(qentry_record(dir, e, 0, "sent", "250 ok", err,
		    sizeof(err)), 0, "%s", err);
		qentry_free(e);
		cr_assert_eq(qentry_hold(dir, id, err, sizeof(err)), 0, "%s",
		    err);
		cr_assert_eq(qentry_release(dir, id, err, sizeof(err)), 0,
		    "%s", err);
		cr_assert_eq(qentry_remove(dir, id, err, sizeof(err)), 0, "%s",
		    err);
		qentry_unlock(lock);
		cr_assert(!exists("incoming", id) && !exists("hold", id) &&
		    !exists("state", id), "%s left behind", id);
		cr_assert_eq(qentry_lock(dir, id, 0, err, sizeof(err)), -1);
		cr_assert_eq(errno, ENOENT, "%s", err);
	}
	cr_assert_eq(descriptors(), before, "descriptors opened or closed");
}

/* Held open, a directory is the one checked when it was pinned: an
 * incoming/ replaced by a link afterwards is not followed. */
Test(qctl, pinned_directory_is_not_looked_up_again)
{
	char id[QUEUE_ID_LEN + 1], from[400], to[400], other[400];
	int lock, fd;

	commit("s@example.org", id);
	cr_assert_eq(qentry_pin(dir, err, sizeof(err)), 0, "%s", err);
	snprintf(from, sizeof(from), "%s/incoming", dir);
	snprintf(to, sizeof(to), "%s/incoming.moved", dir);
	snprintf(other, sizeof(other), "%s/elsewhere", dir);
	cr_assert_eq(rename(from, to), 0);
	cr_assert_eq(mkdir(other, 0700), 0);
	cr_assert_eq(symlink("elsewhere", from), 0);
	snprintf(other, sizeof(other), "%s/elsewhere/%s", dir, id);
	cr_assert_neq(fd = open(other, O_WRONLY | O_CREAT, 0600), -1);
	close(fd);
	cr_assert_neq(lock = qentry_lock(dir, id, 0, err, sizeof(err)), -1,
	    "%s", err);
	cr_assert_eq(qentry_remove(dir, id, err, sizeof(err)), 0, "%s", err);
	qentry_unlock(lock);
	cr_assert(!exists("incoming.moved", id), "the pinned one not removed");
	cr_assert(exists("elsewhere", id), "removed through the link");
}

Test(qctl, hold_and_release)
{
	char id[QUEUE_ID_LEN + 1];
	struct qentry *e;

	commit("s@example.org", id);
	cr_assert_eq(qentry_hold(dir, id, err, sizeof(err)), 0, "%s", err);
	cr_assert(exists("hold", id) && !exists("incoming", id));
	cr_assert_eq(qentry_hold(dir, id, err, sizeof(err)), -1);
	cr_assert_eq(errno, EEXIST);
	cr_assert_eq(qentry_hold(dir, "0123456789ABCDEF", err, sizeof(err)),
	    -1);
	cr_assert_eq(errno, ENOENT);
	/* the lock of a held entry; its state written there */
	e = qentry_load_any(dir, id, false, err, sizeof(err));
	cr_assert_not_null(e, "%s", err);
	cr_assert(e->held);
	cr_assert_eq(qentry_record(dir, e, 1, "bounced", "by hand", err,
	    sizeof(err)), 0, "%s", err);
	qentry_free(e);
	cr_assert_eq(qentry_release(dir, id, err, sizeof(err)), 0, "%s", err);
	cr_assert(exists("incoming", id) && !exists("hold", id));
	e = qentry_load(dir, id, err, sizeof(err));
	cr_assert_not_null(e, "%s", err);
	cr_assert(!e->held);
	cr_assert_eq(e->state[1], RCPT_BOUNCED);
	/* where it was loaded from is where it must be to be written */
	cr_assert_eq(qentry_hold(dir, id, err, sizeof(err)), 0);
	cr_assert_eq(qentry_record(dir, e, 0, "sent", "250 ok", err,
	    sizeof(err)), -1);
	qentry_free(e);
}

Test(qctl, requeue_keeps_the_attempts_and_history_is_kept)
{
	char id[QUEUE_ID_LEN + 1];
	struct qentry *e;
	time_t now = time(NULL);

	commit("s@example.org", id);
	e = qentry_load(dir, id, err, sizeof(err));
	cr_assert_not_null(e, "%s", err);
	cr_assert_eq(qentry_record(dir, e, 0, "deferred", "451 4.3.0 a\nb",
	    err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(qentry_schedule(dir, e, now + 3600, err, sizeof(err)), 0);
	cr_assert_eq(qentry_requeue(dir, e, now, err, sizeof(err)), 0);
	qentry_free(e);
	e = qentry_load_any(dir, id, true, err, sizeof(err));
	cr_assert_not_null(e, "%s", err);
	cr_assert_eq(e->attempts, 1);
	cr_assert_eq(e->next_attempt, now);
	cr_assert_eq(e->nhistory, 3);
	cr_assert_str_eq(e->history[0].what, "deferred");
	cr_assert_eq(e->history[0].rcpt, 0);
	cr_assert_str_eq(e->history[0].text, "451 4.3.0 a b");
	cr_assert_str_eq(e->history[1].what, "next");
	cr_assert_null(e->history[1].text);
	cr_assert_eq(e->history[1].when, now + 3600);
	cr_assert_eq(e->history[2].attempts, 1);
	qentry_free(e);
	/* no history unless asked */
	e = qentry_load(dir, id, err, sizeof(err));
	cr_assert_null(e->history);
	qentry_free(e);
}

Test(qctl, durations_and_states)
{
	unsigned bits;
	time_t t;

	cr_assert_eq(qfilter_duration("90", &t), 0);
	cr_assert_eq(t, 90);
	cr_assert_eq(qfilter_duration("90s", &t), 0);
	cr_assert_eq(t, 90);
	cr_assert_eq(qfilter_duration("30m", &t), 0);
	cr_assert_eq(t, 1800);
	cr_assert_eq(qfilter_duration("2h", &t), 0);
	cr_assert_eq(t, 7200);
	cr_assert_eq(qfilter_duration("7d", &t), 0);
	cr_assert_eq(t, 7 * 86400);
	cr_assert_eq(qfilter_duration("1w", &t), 0);
	cr_assert_eq(t, 7 * 86400);
	cr_assert_eq(qfilter_duration("", &t), -1);
	cr_assert_eq(qfilter_duration("h", &t), -1);
	cr_assert_eq(qfilter_duration("5x", &t), -1);
	cr_assert_eq(qfilter_duration("5hh", &t), -1);
	cr_assert_eq(qfilter_duration("-5", &t), -1);
	cr_assert_eq(qfilter_duration("99999999999999999999999", &t), -1);
	cr_assert_eq(qfilter_duration("9999999w", &t), -1);
	cr_assert_eq(qfilter_states("held", &bits), 0);
	cr_assert_eq(bits, QFILTER_HELD);
	cr_assert_eq(qfilter_states("active,deferred", &bits), 0);
	cr_assert_eq(bits, QFILTER_ACTIVE | QFILTER_DEFERRED);
	cr_assert_eq(qfilter_states("held,", &bits), -1);
	cr_assert_eq(qfilter_states("bogus", &bits), -1);
	cr_assert_eq(qfilter_states("", &bits), -1);
}

Test(qctl, patterns)
{
	cr_assert(qfilter_pattern("example.org", "a@EXAMPLE.org"));
	cr_assert(qfilter_pattern("A@", "a@example.org"));
	cr_assert(!qfilter_pattern("b@", "a@example.org"));
	cr_assert(qfilter_pattern("*@example.ORG", "a@example.org"));
	cr_assert(!qfilter_pattern("*@example", "a@example.org"));
	cr_assert(qfilter_pattern("[ab]@*", "b@x"));
	cr_assert(qfilter_pattern("<>", ""));
	cr_assert(!qfilter_pattern("<>", "a@b"));
	cr_assert(!qfilter_pattern("a", ""));
}

Test(qctl, match)
{
	char id[QUEUE_ID_LEN + 1];
	struct qfilter f;
	struct qentry *e;
	time_t now = 1700000000 + 7200;

	commit("s@example.org", id);
	e = qentry_load(dir, id, err, sizeof(err));
	cr_assert_not_null(e, "%s", err);
	qfilter_init(&f);
	cr_assert(!qfilter_any(&f));
	cr_assert(qfilter_match(&f, e, now));
	cr_assert_str_eq(qfilter_state_name(e, now), "active");
	f.recipient = "*@example.org";		/* the second one, any case */
	cr_assert(qfilter_match(&f, e, now));
	f.sender = "other";
	cr_assert(!qfilter_match(&f, e, now));
	qfilter_init(&f);
	f.older_than = 3600;
	cr_assert(qfilter_match(&f, e, now));
	f.older_than = 7201;
	cr_assert(!qfilter_match(&f, e, now));
	qfilter_init(&f);
	f.newer_than = 7200;
	cr_assert(!qfilter_match(&f, e, now));
	f.newer_than = 7201;
	cr_assert(qfilter_match(&f, e, now));
	qfilter_init(&f);
	f.states = QFILTER_DEFERRED;
	cr_assert(!qfilter_match(&f, e, now));
	cr_assert_eq(qentry_schedule(dir, e, now + 60, err, sizeof(err)), 0);
	cr_assert(qfilter_match(&f, e, now));
	cr_assert_str_eq(qfilter_state_name(e, now + 60), "active");
	e->held = true;
	cr_assert_str_eq(qfilter_state_name(e, now), "held");
	qentry_free(e);
}

Test(qctl, history_keeps_the_latest_lines)
{
	char id[QUEUE_ID_LEN + 1], path[400];
	struct qentry *e;
	unsigned i;
	FILE *fp;

	commit("s@example.org", id);
	mkdir(strcat(strcpy(path, dir), "/state"), 0700);
	snprintf(path, sizeof(path), "%s/state/%s", dir, id);
	cr_assert_not_null(fp = fopen(path, "w"));
	for (i = 1; i <= QENTRY_HISTORY_MAX + 5; i++)
		fprintf(fp, "next %u %u\n", 1000 + i, i);
	cr_assert_eq(fclose(fp), 0);
	e = qentry_load_any(dir, id, true, err, sizeof(err));
	cr_assert_not_null(e, "%s", err);
	cr_assert_eq(e->nhistory, QENTRY_HISTORY_MAX);
	cr_assert_eq(e->history_dropped, 5);
	for (i = 0; i < e->nhistory; i++)
		cr_assert_eq(e->history[i].attempts, i + 6, "line %u", i);
	cr_assert_eq(e->attempts, QENTRY_HISTORY_MAX + 5);
	qentry_free(e);
}

/* --- the runner's locks: descriptors kept between locks (qentry_pin) -- */

/* open_fds - descriptors open in this process */
static int
open_fds(void)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	cr_assert_not_null(d = opendir("/proc/self/fd"));
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* others_can_lock - how many of ids[0..n) a forked process can lock */
static int
others_can_lock(char (*ids)[QUEUE_ID_LEN + 1], int n)
{
	int status, i, got = 0, lock;
	pid_t pid;

	cr_assert_neq(pid = fork(), -1);
	if (pid == 0) {
		for (i = 0; i < n; i++)
			if ((lock = qentry_lock(dir, ids[i], 0, err,
			    sizeof(err))) != -1) {
				got++;
				qentry_unlock(lock);
			}
		_exit(got);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Pinned, more entries locked at once than the pool keeps (64): every
 * lock taken, each keeps another process out until given back, and
 * locking again and again opens nothing more. */
Test(qctl, pinned_locks_many_at_once_and_again)
{
	enum { N = 70 };
	static char ids[N][QUEUE_ID_LEN + 1];
	int locks[N], i, fds;

	for (i = 0; i < N; i++)
		commit("s@example.org", ids[i]);
	cr_assert_eq(qentry_pin(dir, err, sizeof(err)), 0, "%s", err);
	for (i = 0; i < N; i++)
		cr_assert_neq(locks[i] = qentry_lock(dir, ids[i], 0, err,
		    sizeof(err)), -1, "lock %d: %s", i, err);
	/* the same entry again, in this very thread: busy */
	cr_assert_eq(qentry_lock(dir, ids[3], 0, err, sizeof(err)), -1);
	cr_assert_eq(errno, EWOULDBLOCK, "%s", err);
	cr_assert_eq(others_can_lock(ids, N), 0, "another process got in");
	for (i = 0; i < N; i++)
		qentry_unlock(locks[i]);
	cr_assert_eq(others_can_lock(ids, N), N, "locks not given back");
	fds = open_fds();
	for (i = 0; i < 1000; i++) {
		cr_assert_neq(locks[0] = qentry_lock(dir, ids[i % N], 0, err,
		    sizeof(err)), -1, "%s", err);
		qentry_unlock(locks[0]);
	}
	cr_assert_eq(open_fds(), fds, "descriptors left open by locks");
}

/* Pinned, the lock file replaced between two locks (the pool's
 * descriptor is of the old file): the next lock takes the new file, as
 * a fresh open did before the pool, and keeps another process out;
 * removed, the lock says the file is missing until it is made again. */
Test(qctl, pinned_lock_file_replaced_or_removed)
{
	char ids[1][QUEUE_ID_LEN + 1], path[400], tmp[400];
	int a, fd;

	commit("s@example.org", ids[0]);
	cr_assert_eq(qentry_pin(dir, err, sizeof(err)), 0, "%s", err);
	cr_assert_neq(a = qentry_lock(dir, ids[0], 0, err, sizeof(err)), -1,
	    "%s", err);
	qentry_unlock(a);
	snprintf(path, sizeof(path), "%s/lock", dir);
	snprintf(tmp, sizeof(tmp), "%s/lock.new", dir);
	cr_assert_neq(fd = open(tmp, O_RDWR | O_CREAT | O_EXCL, 0600), -1);
	close(fd);
	cr_assert_eq(rename(tmp, path), 0);
	cr_assert_neq(a = qentry_lock(dir, ids[0], 0, err, sizeof(err)), -1,
	    "%s", err);
	cr_assert_eq(others_can_lock(ids, 1), 0, "the new file not locked");
	qentry_unlock(a);
	cr_assert_eq(others_can_lock(ids, 1), 1);

	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(qentry_lock(dir, ids[0], 0, err, sizeof(err)), -1);
	cr_assert_eq(errno, EIO);
	cr_assert(strstr(err, "missing") != NULL, "%s", err);
	cr_assert(!exists(".", "lock"), "made again by a lock");
	cr_assert_eq(qentry_lock_setup(dir, err, sizeof(err)), 0, "%s", err);
	cr_assert_neq(a = qentry_lock(dir, ids[0], 0, err, sizeof(err)), -1,
	    "%s", err);
	cr_assert_eq(others_can_lock(ids, 1), 0, "the file made again not "
	    "locked");
	qentry_unlock(a);
}
