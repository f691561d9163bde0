/*
 * commit_designs - the designs commit-bench times (commit_bench.c says what is
 * measured): the leader/follower flush they share, then each design's
 * commit of one entry and its background thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "commit.h"
#include "lib/crc32c.h"		/* the journal's CRC32c */

/* --- the grouped flush ------------------------------------------------- */

void
group_init(struct group *g, int fd, bool data)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->fd = fd;
	g->data = data;
}

void
group_fini(struct group *g)
{
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cv);
}

/* group_ticket - the caller's write or rename is complete */
static uint64_t
group_ticket(struct group *g)
{
	uint64_t t;

	xlock(&g->mu);
	t = ++g->seq;
	xunlock(&g->mu);
	return t;
}

/* group_wait - return once a sync that began after ticket t was taken
 * has completed: lead one if none is running, else wait for it */
static void
group_wait(struct group *g, uint64_t t)
{
	xlock(&g->mu);
	while (g->synced < t) {
		if (g->busy) {
			pthread_cond_wait(&g->cv, &g->mu);
			continue;
		}
		uint64_t upto = g->seq;
		int rc;

		g->busy = true;
		xunlock(&g->mu);
		rc = g->data ? fdatasync(g->fd) : fsync(g->fd);
		if (rc != 0)
			die("%s: %s", g->data ? "fdatasync" : "fsync",
			    strerror(errno));
		xlock(&g->mu);
		g->busy = false;
		g->synced = upto;
		g->flushes++;
		pthread_cond_broadcast(&g->cv);
	}
	xunlock(&g->mu);
}

static void
entry_name(char *buf, size_t len, char kind, unsigned id)
{
	snprintf(buf, len, "%c%07u", kind, id);
}

/* publish - rename tmp/NAME to incoming/NAME, never over another */
static void
publish(struct run *r, const char *name)
{
	if (renameat2(r->tmpfd, name, r->infd, name, RENAME_NOREPLACE) != 0)
		die("rename %s: %s", name, strerror(errno));
}

/* sync_publish - a, c: the entry written into fd (tmp/NAME) and synced
 * (fdatasync: a file whose size and blocks do not change), renamed into
 * incoming/, and back once a fsync of incoming/ covers the rename */
static void
sync_publish(struct run *r, int fd, const char *name, bool data)
{
	write_all(fd, r->pattern, r->size, 0, name);
	if ((data ? fdatasync(fd) : fsync(fd)) != 0)
		die("%s %s: %s", data ? "fdatasync" : "fsync", name,
		    strerror(errno));
	close(fd);
	publish(r, name);
	group_wait(&r->g, group_ticket(&r->g));
}

/* --- a: a file per entry --------------------------------------------- */

void
commit_files(struct run *r, unsigned id)
{
	char name[16];
	int fd;

	entry_name(name, sizeof(name), 'e', id);
	fd = openat(r->tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	if (fd < 0)
		die("create tmp/%s: %s", name, strerror(errno));
	sync_publish(r, fd, name, false);
}

/* --- b: the journal, and the writer behind it -------------------------- */


void
commit_journal(struct run *r, unsigned id)
{
	struct entry *e = malloc(sizeof(*e) + r->size);
	char hdr[JHDR];
	struct iovec iov[2];
	uint64_t ofs, len = JHDR + r->size, t;
	uint32_t dcrc, hcrc;

	if (e == NULL)
		die("out of memory");
	e->id = id;
	e->next = NULL;
	memcpy(e->data, r->pattern, r->size);	/* the spool in memory */
	memset(hdr, 0, sizeof(hdr));	/* the record's two checksums */
	snprintf(hdr, sizeof(hdr), "J %07u %zu", id, r->size);
	dcrc = crc32c_add(0, e->data, r->size);
	memcpy(hdr + JHDR - 8, &dcrc, sizeof(dcrc));
	hcrc = crc32c_add(0, hdr, JHDR - 4);
	memcpy(hdr + JHDR - 4, &hcrc, sizeof(hcrc));

	xlock(&r->mu);
	ofs = r->jofs;
	r->jofs += len;
	r->held += r->size;
	if (r->held > r->held_max)
		r->held_max = r->held;
	xunlock(&r->mu);

	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = e->data;
	iov[1].iov_len = r->size;
	for (;;) {
		ssize_t w = pwritev(r->jfd, iov, 2, (off_t)ofs);

		if (w < 0 && errno == EINTR)
			continue;
		if (w != (ssize_t)len)
			die("journal append: %s", w < 0 ? strerror(errno) :
			    "short write");
		break;
	}
	t = group_ticket(&r->g);
	group_wait(&r->g, t);

	xlock(&r->mu);				/* to the writer */
	*r->todo_tail = e;
	r->todo_tail = &e->next;
	pthread_cond_signal(&r->todo_cv);
	xunlock(&r->mu);
}

/* writer - b: acknowledged entries into incoming/, many per batch */
void *
writer(void *arg)
{
	struct run *r = arg;

	pthread_barrier_wait(&r->go);
	for (;;) {
		struct entry *batch, *e, *next;
		char name[16];
		size_t freed = 0;
		unsigned k = 0;

		xlock(&r->mu);
		while (r->todo == NULL && !r->acks_done)
			pthread_cond_wait(&r->todo_cv, &r->mu);
		if (r->todo == NULL) {
			xunlock(&r->mu);
			break;
		}
		batch = r->todo;		/* at most WRITER_BATCH */
		for (e = batch; e->next != NULL && ++k < WRITER_BATCH;)
			e = e->next;
		r->todo = e->next;
		e->next = NULL;
		if (r->todo == NULL)
			r->todo_tail = &r->todo;
		xunlock(&r->mu);

		for (e = batch; e != NULL; e = e->next) {
			int fd;

			entry_name(name, sizeof(name), 'e', e->id);
			fd = openat(r->tmpfd, name, O_WRONLY | O_CREAT |
			    O_EXCL | O_CLOEXEC, 0600);
			if (fd < 0)
				die("create tmp/%s: %s", name, strerror(errno));
			write_all(fd, e->data, r->size, 0, name);
			close(fd);
		}
		if (syncfs(r->tmpfd) != 0)
			die("syncfs: %s", strerror(errno));
		for (e = batch; e != NULL; e = e->next) {
			entry_name(name, sizeof(name), 'e', e->id);
			publish(r, name);
		}
		if (fsync(r->infd) != 0)
			die("fsync incoming/: %s", strerror(errno));
		for (e = batch; e != NULL; e = next) {
			next = e->next;
			free(e);
			freed += r->size;
			r->written++;
		}
		xlock(&r->mu);
		r->held -= freed;
		xunlock(&r->mu);
	}
	r->out_at = ns_since(&r->start);
	return NULL;
}

/* --- c: reused files --------------------------------------------------- */

/* pool_make - one file in tmp/ at full size, its blocks written */
int
pool_make(struct run *r, unsigned *name_no)
{
	char name[16];
	int fd;

	*name_no = r->pool_made++;
	entry_name(name, sizeof(name), 'p', *name_no);
	fd = openat(r->tmpfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	if (fd < 0)
		die("create tmp/%s: %s", name, strerror(errno));
	write_all(fd, r->pattern, r->size, 0, name);
	return fd;
}

/* refill - c: keep pool_want files ready, made in batches: written,
 * one syncfs (their blocks and inodes), one fsync of tmp/ */
void *
refill(void *arg)
{
	struct run *r = arg;
	int fds[64];
	unsigned names[64];

	pthread_barrier_wait(&r->go);
	xlock(&r->mu);
	for (;;) {
		unsigned want, k;

		while (!r->refill_stop && r->pool_len >= r->pool_want)
			pthread_cond_wait(&r->refill_cv, &r->mu);
		if (r->refill_stop)
			break;
		want = r->pool_want - r->pool_len;
		if (want > 64)
			want = 64;
		xunlock(&r->mu);
		for (k = 0; k < want; k++)	/* pool_made: ours alone */
			fds[k] = pool_make(r, &names[k]);
		if (syncfs(r->tmpfd) != 0 || fsync(r->tmpfd) != 0)
			die("refill sync: %s", strerror(errno));
		xlock(&r->mu);
		for (k = 0; k < want; k++) {
			r->pool[r->pool_len] = fds[k];
			r->pool_name[r->pool_len] = names[k];
			r->pool_len++;
		}
		pthread_cond_broadcast(&r->pool_cv);
	}
	xunlock(&r->mu);
	return NULL;
}

void
commit_reused(struct run *r, unsigned id)
{
	char name[16];
	unsigned no;
	int fd;

	(void)id;
	xlock(&r->mu);
	while (r->pool_len == 0)
		pthread_cond_wait(&r->pool_cv, &r->mu);
	r->pool_len--;
	fd = r->pool[r->pool_len];
	no = r->pool_name[r->pool_len];
	pthread_cond_signal(&r->refill_cv);
	xunlock(&r->mu);

	entry_name(name, sizeof(name), 'p', no);
	sync_publish(r, fd, name, true);
}

/* --- d: io_uring ------------------------------------------------------- */

#ifdef HAVE_LIBURING
void
commit_uring(struct run *r, struct io_uring *ring, unsigned id)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	char name[16];
	int fd, k;

	entry_name(name, sizeof(name), 'e', id);
	fd = openat(r->tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	if (fd < 0)
		die("create tmp/%s: %s", name, strerror(errno));
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_write(sqe, fd, r->pattern, (unsigned)r->size, 0);
	sqe->flags |= IOSQE_IO_LINK;
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_fsync(sqe, fd, 0);
	if ((k = io_uring_submit_and_wait(ring, 2)) != 2)
		die("io_uring submit: %s", k < 0 ? strerror(-k) : "short");
	for (k = 0; k < 2; k++) {
		int rc = io_uring_wait_cqe(ring, &cqe);

		if (rc != 0)
			die("io_uring wait: %s", strerror(-rc));
		if (cqe->res < 0 || (k == 0 && (size_t)cqe->res != r->size))
			die("io_uring %s %s: %s", k == 0 ? "write" : "fsync",
			    name, cqe->res < 0 ? strerror(-cqe->res) :
			    "short write");
		io_uring_cqe_seen(ring, cqe);
	}
	close(fd);
	publish(r, name);
	group_wait(&r->g, group_ticket(&r->g));
}

/* uring_usable - the kernel lets this process set up a ring */
bool
uring_usable(char *why, size_t len)
{
	struct io_uring ring;
	int rc = io_uring_queue_init(4, &ring, 0);

	if (rc < 0) {
		snprintf(why, len, "io_uring_queue_init: %s", strerror(-rc));
		return false;
	}
	io_uring_queue_exit(&ring);
	return true;
}
#endif

