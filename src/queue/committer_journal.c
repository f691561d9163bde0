/*
 * committer_journal - the journal method (queue/journal.h): two threads.
 *
 * The commit thread takes every job waiting, appends each entry to the
 * journal and syncs once for the group: the jobs are durable, their
 * callbacks run (the 250), and the loop passes them on to the
 * materializer. An entry that outgrew its spool buffer (its file is in
 * tmp/ already: journalled, it would be written twice, for no gain;
 * doc/queue.md), an entry the journal will not take (larger than the
 * journal, or a journal broken by a failed flush) and a group whose
 * flush failed are committed by the files method instead: a client
 * hears 451 only when that fails too.
 *
 * The materializer takes the acknowledged jobs in batches: writes each
 * entry's file, one syncfs, the renames into incoming/ (hold/), one
 * fsync of each directory, then retires the batch's records and tells
 * the runner. A failure leaves the records in place and the batch is
 * tried again after a pause; a spool is freed only once its entry is
 * durable in incoming/, or, when the committer is stopped and the disk
 * still fails, with its record kept for the next start's replay.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "queue/committer_impl.h"
#include "queue/journal.h"
#include "queue/queuectl.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/proc.h"

/* Acknowledged entries not yet written out, at most: each holds its
 * spool (up to 64 KiB) in memory; past it new jobs wait. */
#define BACKLOG_MAX	1024
#define RETRY_PAUSE	1	/* seconds after a failed batch */
#define STOP_TRIES	3	/* failed batches before giving up at stop */

/* flush - sync the group appended so far: durable, to the loop (and on
 * to the materializer); if the flush failed, by files */
static void
flush(struct committer *c, struct joblist *group, uint64_t last)
{
	char err[512];
	struct job *j;

	if (group->head == NULL)
		return;
	unsigned n = 0;

	if (journal_sync(c->journal, last, err, sizeof(err)) == 0) {
		METRICS_INC(journal_syncs);
		for (j = group->head; j; j = j->next, n++) {
			j->status = 0;
			j->materialize = true;
			committer_observe(j);
		}
	} else {
		log_err("journal: %s; the entries of its records are "
		    "committed as files", err);
		for (j = group->head; j; j = j->next)
			committer_files_one(c, j);
	}
	pthread_mutex_lock(&c->lock);
	c->backlog += n;
	committer_finish(c, group);
	pthread_mutex_unlock(&c->lock);
}

/* by_files - one job the journal did not take */
static void
by_files(struct committer *c, struct job *j)
{
	committer_files_one(c, j);
	pthread_mutex_lock(&c->lock);
	committer_finish_one(c, j);
	pthread_mutex_unlock(&c->lock);
}

/* files_batch - the list's entries, each with its file in tmp/, made
 * durable at once: one syncfs, the renames, one fsync of incoming/
 * (hold/); after a failure, one by one by the files method. One alone
 * goes by the files method at once: its own fsync writes and waits for
 * its file only, a syncfs for everything dirty on the file system
 * (doc/queue.md, "Entries past the spool buffer"). */
static void
files_batch(struct committer *c, struct joblist *l)
{
	char err[512];
	struct joblist pub, failed;
	struct job *j, *next;

	if (l->head == NULL)
		return;
	if (l->head->next == NULL) {
		by_files(c, l->head);
		return;
	}
	for (j = l->head; j; j = j->next)
		if (spool_materialize(j->spool, err, sizeof(err)) == -1)
			goto one_by_one;
	/* After a failure each file is fsync'd by itself, which reports
	 * its own lost write-back if there was one. */
	if (queue_syncfs_on(c->queue, c->syncfd_commit, err, sizeof(err)) ==
	    -1)
		goto one_by_one;
	joblist_init(&pub);
	joblist_init(&failed);
	for (j = l->head; j; j = next) {
		next = j->next;
		j->status = spool_publish(j->spool, err, sizeof(err));
		if (j->status == -1)
			log_err("id=%s commit: %s", spool_id(j->spool), err);
		joblist_push(j->status == 0 ? &pub : &failed, j);
	}
	if (pub.head != NULL)
		committer_sync_dirs(c, pub.head);
	joblist_append(&pub, &failed);
	pthread_mutex_lock(&c->lock);
	committer_finish(c, &pub);
	pthread_mutex_unlock(&c->lock);
	return;
one_by_one:
	log_err("commit: %s; committing one by one", err);
	for (j = l->head; j; j = next) {
		next = j->next;
		by_files(c, j);
	}
}

/* hurry - an append is about to wait for a new pass, that is for every
 * record to be retired: the materializer writes out what it has at once
 * rather than gathering a batch (on), until the append is done (off) */
static void
hurry(struct committer *c, bool on)
{
	pthread_mutex_lock(&c->lock);
	c->hurry = on;
	if (on)
		pthread_cond_signal(&c->mcond);
	pthread_mutex_unlock(&c->lock);
}

/* commit_group - append every job of the list, one sync per group. A
 * group is synced before it holds a quarter of the journal: an append
 * that waits for room must find the records before it on their way to
 * retirement, never in its own unsynced group. */
static void
commit_group(struct committer *c, struct job *j)
{
	char err[512];
	struct joblist group, files;
	struct job *next;
	struct iovec iov;
	uint64_t len, bytes = 0, last = 0;
	int fd, rc;

	joblist_init(&group);
	joblist_init(&files);
	for (; j; j = next) {
		next = j->next;
		if (spool_image(j->spool, &iov, &fd, &len) == -1) {
			log_err("id=%s commit: spool image: %s",
			    spool_id(j->spool), strerror(errno));
			by_files(c, j);
			continue;
		}
		if (fd != -1) {		/* not in memory: a file already */
			joblist_push(&files, j);
			continue;
		}
		len = iov.iov_len;
		if (group.head != NULL && bytes + len > c->journal_size / 4) {
			flush(c, &group, last);
			bytes = 0;
		}
		/* A new pass waits for every record, this group's too:
		 * synced and on their way first, then append again. */
		bool wraps = journal_wraps(c->journal, len);

		if (wraps)
			hurry(c, true);
		while ((rc = journal_append(c->journal, spool_id(j->spool),
		    spool_held(j->spool), &iov, 1, -1, len,
		    &j->ticket, err, sizeof(err))) == -1 && errno == EAGAIN &&
		    group.head != NULL) {
			flush(c, &group, last);
			bytes = 0;
		}
		if (wraps)
			hurry(c, false);
		if (rc == -1) {
			if (errno == EFBIG)
				log_info("id=%s larger than the journal: "
				    "committed as a file", spool_id(j->spool));
			else
				log_err("id=%s journal: %s; committed as a "
				    "file", spool_id(j->spool), err);
			by_files(c, j);
			continue;
		}
		last = j->ticket;
		bytes += len;
		joblist_push(&group, j);
	}
	flush(c, &group, last);
	files_batch(c, &files);
}

/* all_by_files - every job of the list by the files method */
static void
all_by_files(struct committer *c, struct job *j)
{
	struct job *next;

	for (; j; j = next) {
		next = j->next;
		by_files(c, j);
	}
}

static void *
commit_thread(void *arg)
{
	struct committer *c = arg;
	struct job *j;

	proc_thread_name("sp-journal");
	committer_thread_init();
	pthread_mutex_lock(&c->lock);
	for (;;) {
		/* A full backlog that cannot be written out (a full disk)
		 * does not leave new jobs unanswered: they go by files,
		 * which say 451 if the disk refuses them too. */
		if ((j = c->todo.head) != NULL && (c->backlog < BACKLOG_MAX ||
		    c->stalled || c->wedged)) {
			bool files = c->backlog >= BACKLOG_MAX || c->wedged;

			joblist_init(&c->todo);
			pthread_mutex_unlock(&c->lock);
			if (files)
				all_by_files(c, j);
			else
				commit_group(c, j);
			pthread_mutex_lock(&c->lock);
			continue;
		}
		if (c->stopping && j == NULL)
			break;
		pthread_cond_wait(&c->cond, &c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* write_out - a batch's entries durable in incoming/ (hold/) and their
 * records retired; 0, or -1 (logged) to be tried again: the steps done
 * are not repeated, but the syncs are */
static int
write_out(struct committer *c, struct job *first)
{
	char err[512];
	struct job *j, *last = first;
	bool held = false;

	if (c->wedged)
		return -1;
	for (j = first; j; j = j->next)
		if (!j->written && spool_materialize(j->spool, err,
		    sizeof(err)) == -1)
			goto fail;
	if (queue_syncfs_on(c->queue, c->syncfd_write, err, sizeof(err)) ==
	    -1) {
		/* A failed write-back leaves the pages clean but not on
		 * disk: written again, a file would look whole and be
		 * published without its data. Only the journal has it now:
		 * nothing more is retired, and a restart replays it. */
		log_err("journal: writing out entries (id=%s and on): %s; new "
		    "mail is committed as files, and these entries stay in "
		    "the journal until sallyport is restarted (it replays "
		    "them)", spool_id(first->spool), err);
		pthread_mutex_lock(&c->lock);
		c->wedged = true;
		pthread_mutex_unlock(&c->lock);
		return -1;
	}
	for (j = first; j; j = j->next) {
		if (!j->written && spool_publish(j->spool, err,
		    sizeof(err)) == -1)
			goto fail;
		j->written = true;
		held |= spool_held(j->spool);
		last = j;
	}
	if (queue_sync_incoming(c->queue, err, sizeof(err)) == -1 ||
	    (held && queue_sync_hold(c->queue, err, sizeof(err)) == -1) ||
	    journal_retire(c->journal, last->ticket, err, sizeof(err)) == -1)
		goto fail;
	for (j = first; j; j = j->next) {
		j->in_queue = true;
		spool_close_published(j->spool);
	}
	METRICS_INC(journal_writeouts);
	return 0;
fail:
	log_err("journal: writing out entries (id=%s and on): %s; their "
	    "records are kept, trying again", spool_id(first->spool), err);
	return -1;
}

/* written - the batch leaves the materializer (written out, or given
 * up at stop): room in the backlog; lock held */
static void
written(struct committer *c, struct joblist *batch)
{
	const struct job *j;

	for (j = batch->head; j; j = j->next)
		c->backlog--;
	c->stalled = false;
	pthread_cond_signal(&c->cond);
	committer_finish(c, batch);
}

/* take_batch - up to COMMIT_BATCH_MAX of the ready jobs; lock held */
static void
take_batch(struct committer *c, struct joblist *batch)
{
	struct job *j;
	size_t n;

	joblist_init(batch);
	for (n = 0; n < COMMIT_BATCH_MAX && (j = joblist_pop(&c->ready)) != NULL;
	    n++)
		joblist_push(batch, j);
	c->nready -= n;
}

/* linger - whether the materializer waits for a fuller batch, and
 * until when: the oldest ready job was submitted less than
 * c->linger_ms ago and nothing hurries; lock held */
static bool
linger(const struct committer *c, struct timespec *until)
{
	struct timespec now;
	const struct job *j = c->ready.head;

	if (j == NULL || c->stopping || c->draining || c->wedged ||
	    c->hurry || c->nready >= COMMIT_BATCH_MAX)
		return false;
	*until = j->submitted;
	until->tv_sec += c->linger_ms / 1000;
	until->tv_nsec += (long)(c->linger_ms % 1000) * 1000000L;
	if (until->tv_nsec >= 1000000000L) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000L;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec < until->tv_sec || (now.tv_sec == until->tv_sec &&
	    now.tv_nsec < until->tv_nsec);
}

static void *
materializer(void *arg)
{
	struct committer *c = arg;
	struct joblist batch;
	struct timespec until;
	unsigned tries = 0;

	proc_thread_name("sp-writeout");
	committer_thread_init();
	joblist_init(&batch);
	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (batch.head == NULL && linger(c, &until)) {
			pthread_cond_timedwait(&c->mcond, &c->lock, &until);
			continue;
		}
		if (batch.head == NULL)
			take_batch(c, &batch);
		if (batch.head == NULL) {
			if (c->stopping)
				break;
			pthread_cond_wait(&c->mcond, &c->lock);
			continue;
		}
		pthread_mutex_unlock(&c->lock);
		if (write_out(c, batch.head) == 0) {
			pthread_mutex_lock(&c->lock);
			written(c, &batch);
			tries = 0;
			continue;
		}
		pthread_mutex_lock(&c->lock);
		/* Stopping on a failing disk: the records stay for the next
		 * start's replay; the spools may go. No later batch may be
		 * retired then, or replay would start past these. */
		if (c->draining && (c->wedged || ++tries >= STOP_TRIES)) {
			log_err("journal: giving up writing out entries "
			    "(id=%s and on) at stop: the journal is kept and "
			    "replayed at the next start",
			    spool_id(batch.head->spool));
			c->keep_journal = true;
			c->wedged = true;
			written(c, &batch);
			tries = 0;
			continue;
		}
		/* Meanwhile an append that waits for room would wait for
		 * this: it fails, and its entry goes by files (or 451). */
		journal_stall(c->journal);
		c->stalled = true;
		pthread_cond_signal(&c->cond);
		clock_gettime(CLOCK_MONOTONIC, &until);	/* mcond's clock */
		until.tv_sec += RETRY_PAUSE;
		pthread_cond_timedwait(&c->mcond, &c->lock, &until);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* tell_runner - entries replayed into incoming/: the runner rescans the
 * queue now rather than at its next periodic scan */
static void
tell_runner(struct committer *c)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", queue_dir(c->queue),
	    QUEUECTL_RESCAN_MARKER);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) != -1)
		close(fd);
}

int
committer_journal_replay(struct committer *c, const char *name)
{
	char err[512];
	unsigned recovered = 0;

	if (journal_replay_file(c->queue, name, &recovered, err,
	    sizeof(err)) == -1) {
		log_err("journal %s: %s; its entries wait in it, and this "
		    "process does not take mail until it is replayed", name,
		    err);
		return -1;
	}
	if (recovered > 0) {
		log_info("journal %s: %u entries recovered", name, recovered);
		tell_runner(c);
	}
	return 0;
}

/* own_ids - the slot a worker's journal names (wN) is this process's
 * alone while it holds the journal: its queue ids need no look in the
 * directories (queue_ids_own) */
static void
own_ids(struct committer *c, const char *name)
{
	char err[512];
	unsigned slot = 0;
	const char *p;

	/* w0, w1, ... as server.c names them: nothing else has a slot */
	if (name[0] != 'w' || name[1] < '0' || name[1] > '9' ||
	    (name[1] == '0' && name[2] != '\0'))
		return;
	for (p = name + 1; *p >= '0' && *p <= '9' && slot < 1000000; p++)
		slot = slot * 10 + (unsigned)(*p - '0');
	if (*p != '\0')
		return;
	if (queue_ids_own(c->queue, slot, err, sizeof(err)) == -1)
		log_warn("journal %s: %s; every queue id is looked for in "
		    "incoming/ and hold/", name, err);
}

int
committer_journal_start(struct committer *c, const struct commit_opts *o)
{
	char err[512];
	pthread_attr_t attr;
	int rc;

	queue_set_lazy(c->queue, true);
	if ((c->syncfd_commit = queue_sync_handle(c->queue, err,
	    sizeof(err))) == -1 || (c->syncfd_write = queue_sync_handle(
	    c->queue, err, sizeof(err))) == -1 ||
	    (c->journal = journal_create(c->queue, o->journal_name,
	    o->journal_size, err, sizeof(err))) == NULL) {
		log_err("journal %s: %s; committing by files", o->journal_name,
		    err);
		goto files;
	}
	c->journal_size = o->journal_size;
	own_ids(c, o->journal_name);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, COMMIT_STACK);
	rc = pthread_create(&c->threads[0], &attr, commit_thread, c);
	if (rc == 0) {
		c->nthreads = 1;
		rc = pthread_create(&c->threads[1], &attr, materializer, c);
		if (rc == 0)
			c->nthreads = 2;
	}
	pthread_attr_destroy(&attr);
	if (rc == 0)
		return 0;
	log_err("journal: cannot start its threads: %s", strerror(rc));
	return -1;
files:
	committer_journal_close_fds(c);
	queue_set_lazy(c->queue, false);
	return 1;
}

void
committer_journal_close_fds(struct committer *c)
{
	if (c->syncfd_commit != -1)
		close(c->syncfd_commit);
	if (c->syncfd_write != -1)
		close(c->syncfd_write);
	c->syncfd_commit = c->syncfd_write = -1;
}

void
committer_journal_stop(struct committer *c)
{
	queue_ids_disown(c->queue);
	journal_close(c->journal, !c->keep_journal);
	c->journal = NULL;
	committer_journal_close_fds(c);
}
