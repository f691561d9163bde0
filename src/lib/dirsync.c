/*
 * dirsync - one fsync of a directory by its path, so that the names
 * created, renamed or removed in it survive a crash. Used by the queue
 * (state/, the queue directory) and by Maildir delivery (new/).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/dirsync.h"
#include "lib/log.h"
#include "lib/proc.h"

int
dir_sync(const char *path, char *err, size_t errlen)
{
	int	 fd, rc, saved;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		saved = errno;
		snprintf(err, errlen, "open %s: %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	rc = fsync(fd);
	saved = errno;
	if (rc == -1)
		snprintf(err, errlen, "fsync %s: %s", path, strerror(saved));
	close(fd);
	errno = saved;
	return rc;
}

/* A directory held for its fsyncs, known by its device and inode, on
 * an open of its own (owndir_take): a dup of the caller's descriptor
 * would share its open file description, and the kernel reports a
 * write-back error once per open file description, so an fsync through
 * a dup could take the error that another fsync of the same directory,
 * through another dup, needed (the group's and the syncing thread's,
 * below). */
struct owndir {
	int	 fd;
	dev_t	 dev;
	ino_t	 ino;
};
#define OWNDIR_NONE	{ -1, 0, 0 }

static bool
owndir_is(const struct owndir *o, const struct stat *st)
{
	return o->fd != -1 && o->dev == st->st_dev && o->ino == st->st_ino;
}

/* owndir_take - o becomes dfd's directory (st), opened anew, the one it
 * held closed: 0, or -1 with o unchanged */
static int
owndir_take(struct owndir *o, int dfd, const struct stat *st)
{
	int fd;

	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if (o->fd != -1)
		close(o->fd);
	o->fd = fd;
	o->dev = st->st_dev;
	o->ino = st->st_ino;
	return 0;
}

/* One group: the directory most recently synced this way, known by its
 * device and inode and fsync'd through a descriptor of its own, kept
 * open (owndir_take from the first caller's): errors of the directory's
 * writeback are reported to an open file once, so one that lasts sees
 * every error after it was opened. The fsync numbered n began after
 * every change whose caller asked for n or lower; `done` is the last
 * one finished; `err_seq` the last that failed, with `err`. */
static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	struct owndir	 dir;
	uint64_t	 started, done, err_seq;
	int		 err;
	bool		 running;
	unsigned	 waiting;
} grp = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, OWNDIR_NONE, 0,
	  0, 0, 0, false, 0 };

int
dir_fsync_shared(int dfd)
{
	struct stat st;
	uint64_t need, mine;
	int fd, rc, saved;

	if (fstat(dfd, &st) == -1)
		return -1;
	pthread_mutex_lock(&grp.lock);
	if (!owndir_is(&grp.dir, &st)) {
		if (grp.running || grp.waiting > 0 ||
		    owndir_take(&grp.dir, dfd, &st) == -1) {
			/* Another directory's group is busy: alone. */
			pthread_mutex_unlock(&grp.lock);
			return fsync(dfd);
		}
		grp.err_seq = 0;
	}
	/* An fsync running now may have begun before our change. */
	need = grp.started + 1;
	while (grp.done < need) {
		if (!grp.running) {
			grp.running = true;
			mine = ++grp.started;
			fd = grp.dir.fd;	/* not replaced while running */
			pthread_mutex_unlock(&grp.lock);
			rc = fsync(fd);
			saved = errno;
			pthread_mutex_lock(&grp.lock);
			grp.running = false;
			grp.done = mine;
			if (rc == -1) {
				grp.err_seq = mine;
				grp.err = saved;
			}
			pthread_cond_broadcast(&grp.cond);
			continue;
		}
		grp.waiting++;
		pthread_cond_wait(&grp.cond, &grp.lock);
		grp.waiting--;
	}
	/* Any failure of an fsync that covered our change is ours, even
	 * when a later one succeeded: the error may have been reported
	 * once, to that one. */
	rc = grp.err_seq >= need ? -1 : 0;
	saved = grp.err;
	pthread_mutex_unlock(&grp.lock);
	if (rc == -1)
		errno = saved;
	return rc;
}

/*
 * The syncing thread of dir_fsync_behind: started at the first call,
 * for the rest of the process's life (detached; a child of fork starts
 * its own). `asked` counts the calls, `synced` the calls covered by an
 * fsync that has ended: an fsync covers every call made before it
 * began. The directory is a descriptor of its own, as grp's.
 */
static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 work, ended;
	struct owndir	 dir;
	uint64_t	 asked, synced;
	bool		 started, failed;
} bh = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	 PTHREAD_COND_INITIALIZER, OWNDIR_NONE, 0, 0, false, false };
static pthread_once_t bh_once = PTHREAD_ONCE_INIT;

/* bh_forked - in a child of fork: no syncing thread came along; what
 * the parent was asked is the parent's to sync */
static void
bh_forked(void)
{
	pthread_mutex_init(&bh.lock, NULL);
	pthread_cond_init(&bh.work, NULL);
	pthread_cond_init(&bh.ended, NULL);
	if (bh.dir.fd != -1)
		close(bh.dir.fd);
	bh.dir.fd = -1;
	bh.asked = bh.synced = 0;
	bh.started = bh.failed = false;
}

static void
bh_init(void)
{
	(void)pthread_atfork(NULL, NULL, bh_forked);
}

static void *
bh_main(void *arg)
{
	uint64_t upto;
	int rc, saved, fd;

	proc_thread_name("sp-dirsync");
	(void)arg;
	pthread_mutex_lock(&bh.lock);
	for (;;) {
		while (bh.synced == bh.asked)
			pthread_cond_wait(&bh.work, &bh.lock);
		upto = bh.asked;
		fd = bh.dir.fd;	/* replaced only while nothing is asked */
		pthread_mutex_unlock(&bh.lock);
		rc = fsync(fd);
		saved = errno;
		if (rc == -1)
			log_err("fsync of a queue directory after removals: "
			    "%s; the entries removed may come back after a "
			    "crash, and be delivered again", strerror(saved));
		pthread_mutex_lock(&bh.lock);
		bh.synced = upto;
		bh.failed |= rc == -1;
		pthread_cond_broadcast(&bh.ended);
	}
	return NULL;
}

int
dir_fsync_behind(int dfd)
{
	pthread_attr_t attr;
	pthread_t t;
	struct stat st;
	sigset_t all, old;
	int rc;

	if (fstat(dfd, &st) == -1)
		return -1;
	pthread_once(&bh_once, bh_init);
	pthread_mutex_lock(&bh.lock);
	if (!owndir_is(&bh.dir, &st) && (bh.synced != bh.asked ||
	    owndir_take(&bh.dir, dfd, &st) == -1)) {
		pthread_mutex_unlock(&bh.lock);
		return dir_fsync_shared(dfd);
	}
	if (!bh.started) {
		/* no signal for it: the process's handlers run elsewhere */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = pthread_attr_init(&attr);
		if (rc == 0) {
			pthread_attr_setdetachstate(&attr,
			    PTHREAD_CREATE_DETACHED);
			rc = pthread_create(&t, &attr, bh_main, NULL);
			pthread_attr_destroy(&attr);
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc != 0) {
			pthread_mutex_unlock(&bh.lock);
			return dir_fsync_shared(dfd);
		}
		bh.started = true;
	}
	if (bh.asked++ == bh.synced)
		pthread_cond_signal(&bh.work);	/* it was idle */
	pthread_mutex_unlock(&bh.lock);
	return 0;
}

int
dir_fsync_drain(void)
{
	uint64_t upto;
	int rc;

	pthread_mutex_lock(&bh.lock);
	upto = bh.asked;
	while (bh.synced < upto)
		pthread_cond_wait(&bh.ended, &bh.lock);
	rc = bh.failed ? -1 : 0;
	bh.failed = false;
	pthread_mutex_unlock(&bh.lock);
	return rc;
}
