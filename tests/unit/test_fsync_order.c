/*
 * test_fsync_order - which directory fsync happens, on which thread, and
 * in what order with the removals around it: fsync and unlinkat are
 * wrapped (-Wl,--wrap) so that a test can watch every call of the code
 * under test, make one fsync wait until released, or fail.
 *
 * dir_fsync_behind: a request made while an fsync runs gets one more;
 * two directories both synced; a failure said by the drain.
 * qentry_remove_delivered: without a state file it returns while the
 * fsync of incoming/ is still held; with one, the entry's removal is
 * durable before the state file goes, and a failed fsync keeps it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "lib/dirsync.h"
#include "queue/qentry.h"
#include "queue/queue.h"
#include "qfixture.h"

int	__real_fsync(int);
int	__real_unlinkat(int, const char *, int);
int	__wrap_fsync(int);
int	__wrap_unlinkat(int, const char *, int);

#define NEV	256

/* What the wrappers saw, and what they are told to do with an fsync of
 * the watched directory (dev, ino): hold it until released, or fail. */
static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	dev_t		 dev;
	ino_t		 ino;
	bool		 watch, hold, fail;
	unsigned	 entered, synced;	/* of the watched one */
	size_t		 n;
	struct ev {
		char	 what;		/* 'f' fsync of the watched, 'u' unlink */
		char	 name[64];
		pthread_t thread;
	} ev[NEV];
} w = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void
record(char what, const char *name)
{
	if (w.n < NEV) {
		w.ev[w.n].what = what;
		snprintf(w.ev[w.n].name, sizeof(w.ev[w.n].name), "%s", name);
		w.ev[w.n].thread = pthread_self();
		w.n++;
	}
}

int
__wrap_fsync(int fd)
{
	struct stat st;
	bool mine;
	int rc;

	mine = fstat(fd, &st) == 0;
	pthread_mutex_lock(&w.lock);
	mine = mine && w.watch && st.st_dev == w.dev && st.st_ino == w.ino;
	if (!mine) {
		pthread_mutex_unlock(&w.lock);
		return __real_fsync(fd);
	}
	w.entered++;
	pthread_cond_broadcast(&w.cond);
	while (w.hold)
		pthread_cond_wait(&w.cond, &w.lock);
	if (w.fail) {
		record('f', "failed");
		w.synced++;
		pthread_cond_broadcast(&w.cond);
		pthread_mutex_unlock(&w.lock);
		errno = EIO;
		return -1;
	}
	pthread_mutex_unlock(&w.lock);
	rc = __real_fsync(fd);
	pthread_mutex_lock(&w.lock);
	record('f', "");
	w.synced++;
	pthread_cond_broadcast(&w.cond);
	pthread_mutex_unlock(&w.lock);
	return rc;
}

int
__wrap_unlinkat(int dfd, const char *name, int flags)
{
	int rc = __real_unlinkat(dfd, name, flags);

	if (rc == 0) {
		pthread_mutex_lock(&w.lock);
		record('u', name);
		pthread_mutex_unlock(&w.lock);
	}
	return rc;
}

/* watch - fsyncs of path to be watched from now on */
static void
watch(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "%s", path);
	pthread_mutex_lock(&w.lock);
	w.dev = st.st_dev;
	w.ino = st.st_ino;
	w.watch = true;
	w.entered = w.synced = 0;
	w.n = 0;
	pthread_mutex_unlock(&w.lock);
}

static void
set_hold(bool hold)
{
	pthread_mutex_lock(&w.lock);
	w.hold = hold;
	pthread_cond_broadcast(&w.cond);
	pthread_mutex_unlock(&w.lock);
}

/* wait_entered - until n fsyncs of the watched one have begun */
static void
wait_entered(unsigned n)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	pthread_mutex_lock(&w.lock);
	while (w.entered < n)
		cr_assert_eq(pthread_cond_timedwait(&w.cond, &w.lock, &until),
		    0, "fsync %u never began", n);
	pthread_mutex_unlock(&w.lock);
}

static unsigned
synced(void)
{
	unsigned n;

	pthread_mutex_lock(&w.lock);
	n = w.synced;
	pthread_mutex_unlock(&w.lock);
	return n;
}

QFIXTURE_SUITE(order, "fsync_order");

/* open_dir - dir/sub opened, its path in path */
static int
open_dir(const char *sub, char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/%s", dir, sub);
	mkdir(path, 0700);
	cr_assert_neq(fd = open(path, O_RDONLY | O_DIRECTORY), -1, "%s", path);
	return fd;
}

/* A request made while the fsync before it runs is not covered by it:
 * one more follows, and the drain waits for it. */
Test(order, behind_asked_during_an_fsync_gets_another, .timeout = 30)
{
	char path[400];
	int dfd = open_dir("d", path, sizeof(path));

	watch(path);
	set_hold(true);
	cr_assert_eq(dir_fsync_behind(dfd), 0);
	wait_entered(1);		/* held, in the syncing thread */
	cr_assert_eq(dir_fsync_behind(dfd), 0, "the caller waited");
	cr_assert_eq(synced(), 0);
	set_hold(false);
	cr_assert_eq(dir_fsync_drain(), 0);
	cr_assert_eq(synced(), 2, "%u fsyncs for two requests, the second "
	    "made during the first", synced());
	cr_assert(!pthread_equal(w.ev[0].thread, pthread_self()),
	    "fsync'd by the caller");
	close(dfd);
}

/* A second directory while the first one's fsync is held: synced at
 * once by the caller, and the first after its release. */
Test(order, behind_of_a_second_directory_while_one_runs, .timeout = 30)
{
	char a[400], b[400];
	int afd = open_dir("a", a, sizeof(a)), bfd = open_dir("b", b,
	    sizeof(b));

	watch(a);
	set_hold(true);
	cr_assert_eq(dir_fsync_behind(afd), 0);
	wait_entered(1);
	watch(b);			/* b's fsync is watched now, not held */
	set_hold(false);
	cr_assert_eq(dir_fsync_behind(bfd), 0);
	cr_assert_eq(dir_fsync_drain(), 0);
	cr_assert_geq(synced(), 1, "the second directory never synced");
	close(afd);
	close(bfd);
}

/* An fsync that fails: the caller has gone on; the drain says it,
 * once. */
Test(order, a_failed_behind_fsync_is_the_drains, .timeout = 30)
{
	char path[400];
	int dfd = open_dir("d", path, sizeof(path));

	watch(path);
	w.fail = true;
	cr_assert_eq(dir_fsync_behind(dfd), 0);
	cr_assert_eq(dir_fsync_drain(), -1);
	cr_assert_eq(dir_fsync_drain(), 0, "the failure said twice");
	w.fail = false;
	close(dfd);
}

/* commit - an entry for one recipient; its id in id */
static void
commit(char id[QUEUE_ID_LEN + 1])
{
	static char *rcpts[] = { "a@example.test" };
	struct envelope env = qfixture_env("192.0.2.7", "client.example.org",
	    "s@example.test", rcpts, 1);

	qfixture_commit(q, &env, "Subject: hi\r\n\r\nhello\r\n");
	memcpy(id, env.id, QUEUE_ID_LEN + 1);
}

static bool
exists(const char *sub, const char *id)
{
	return qfixture_exists(dir, sub, id);
}

/* state - a state file for id, as a deferral leaves it */
static void
state(const char *id)
{
	char path[400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/state", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/state/%s", dir, id);
	cr_assert_not_null(f = fopen(path, "w"));
	fprintf(f, "rcpt 0 deferred 1700000100 try again\n");
	fclose(f);
}

/* No state file: removed and returned while the fsync of incoming/ is
 * still held; that fsync comes, on another thread, after the removal. */
Test(order, delivered_without_state_does_not_wait, .timeout = 30)
{
	char id[QUEUE_ID_LEN + 1], path[400], err[512];

	commit(id);
	snprintf(path, sizeof(path), "%s/incoming", dir);
	watch(path);
	set_hold(true);
	cr_assert_eq(qentry_remove_delivered(dir, id, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert(!exists("incoming", id));
	wait_entered(1);
	cr_assert_eq(synced(), 0);
	set_hold(false);
	cr_assert_eq(dir_fsync_drain(), 0);
	cr_assert_eq(synced(), 1);
	cr_assert_eq(w.ev[0].what, 'u');
	cr_assert_str_eq(w.ev[0].name, id);
	cr_assert_eq(w.ev[1].what, 'f', "no fsync after the removal");
	cr_assert(!pthread_equal(w.ev[1].thread, pthread_self()));
}

/* With a state file: the entry's removal, its fsync, then the state
 * file, all before it returns; the fsync failing, the state file
 * stays (a crash could bring back the entry, never without it). */
Test(order, delivered_with_state_keeps_the_order, .timeout = 30)
{
	char id[QUEUE_ID_LEN + 1], id2[QUEUE_ID_LEN + 1], path[400];
	char err[512];

	commit(id);
	state(id);
	snprintf(path, sizeof(path), "%s/incoming", dir);
	watch(path);
	cr_assert_eq(qentry_remove_delivered(dir, id, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert(!exists("incoming", id) && !exists("state", id));
	cr_assert_eq(w.n, 3, "%zu calls seen", w.n);
	cr_assert(w.ev[0].what == 'u' && strcmp(w.ev[0].name, id) == 0);
	cr_assert_eq(w.ev[1].what, 'f');
	cr_assert(pthread_equal(w.ev[1].thread, pthread_self()));
	cr_assert(w.ev[2].what == 'u' && strcmp(w.ev[2].name, id) == 0);

	commit(id2);
	state(id2);
	watch(path);
	w.fail = true;
	cr_assert_eq(qentry_remove_delivered(dir, id2, err, sizeof(err)), -1);
	w.fail = false;
	cr_assert(strstr(err, "fsync") != NULL, "%s", err);
	cr_assert(exists("state", id2), "the state file removed after a "
	    "failed fsync of incoming/");
}
