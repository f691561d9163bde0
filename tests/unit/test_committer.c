/*
 * test_committer - the commit thread pool against a real queue and a
 * real libev loop: every job answered once, with the right status, and
 * every accepted entry whole in incoming/ (hold/ for a held one).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/metrics.h"
#include "queue/committer.h"
#include "queue/queue.h"
#include "qfixture.h"
#include "scratch.h"

#define NJOBS	500

static char dir[256];

static void
setup(void)
{
	scratch_make(dir, sizeof(dir), "committer");
}

static void
teardown(void)
{
	scratch_remove(dir);
}

TestSuite(committer, .init = setup, .fini = teardown);

struct item {
	struct spool	*spool;
	char		 id[QUEUE_ID_LEN + 1];
	char		 body[64];
	int		 calls;		/* callbacks run */
	int		 status;
	bool		 doomed;	/* set up to fail */
	bool		 held;		/* a held entry: into hold/ */
};

struct run {
	struct ev_loop	*loop;
	struct queue	*queue;
	struct committer *committer;
	struct item	 items[NJOBS];
	size_t		 pending;	/* submitted, not yet answered */
	size_t		 held_mod;	/* item i held when i % it is 1 */
	bool		 break_when_done;
};

static bool
exists(const char *sub, const char *id)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, id);
	return access(path, F_OK) == 0;
}

/* check_entry - incoming/ID (hold/ID) holds exactly the envelope and
 * body */
static void
check_entry(const struct item *it)
{
	char path[300], want[1024], got[1024];
	ssize_t n;
	int fd;

	snprintf(want, sizeof(want), "sallyport-queue 1\nid %s\n"
	    "arrival 1700000000\nclient 192.0.2.1\nhelo client.example\n"
	    "proto ESMTP\ntlsrequired yes\n%sfrom s@example.org\n"
	    "rcpt a@example.test\n\n%s",
	    it->id, it->held ? "hold quarantined by a test\n" : "", it->body);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, it->held ? "hold" :
	    "incoming", it->id);
	cr_assert_neq(fd = open(path, O_RDONLY), -1, "%s missing", path);
	n = read(fd, got, sizeof(got) - 1);
	close(fd);
	cr_assert_geq(n, 0);
	got[n] = '\0';
	cr_assert_str_eq(got, want);
}

static struct run *the_run;	/* the test's run, for on_commit */

static void
on_commit(void *arg, int status)
{
	struct item *it = arg;

	it->calls++;
	it->status = status;
	spool_free(it->spool);	/* as the session does, on the loop */
	it->spool = NULL;
	if (--the_run->pending == 0 && the_run->break_when_done)
		ev_break(the_run->loop, EVBREAK_ALL);
}

/* make_spool - a spool for item i; doomed ones fail at the rename */
static void
make_spool(struct run *r, size_t i, bool doomed)
{
	static char *rcpts[] = { "a@example.test" };
	struct item *it = &r->items[i];
	struct envelope env = qfixture_env("192.0.2.1", "client.example",
	    "s@example.org", rcpts, 1);
	char err[256], path[300];

	it->held = r->held_mod && i % r->held_mod == 1;
	if (it->held)
		env.hold = "quarantined by a test";
	it->spool = queue_spool_create(r->queue, &env, err, sizeof(err));
	cr_assert_not_null(it->spool, "%s", err);
	memcpy(it->id, env.id, sizeof(it->id));
	snprintf(it->body, sizeof(it->body), "Subject: %zu\r\n\r\nbody %zu\r\n",
	    i, i);
	cr_assert_eq(spool_write(it->spool, it->body, strlen(it->body)), 0);
	it->doomed = doomed;
	if (doomed) {
		/* The file goes from tmp/ behind the spool's back. */
		snprintf(path, sizeof(path), "%s/tmp/%s", dir, it->id);
		cr_assert_eq(unlink(path), 0);
	}
}

static void
on_start(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *r = w->data;
	size_t i;

	(void)loop;
	(void)revents;
	for (i = 0; i < NJOBS; i++) {
		make_spool(r, i, i % 50 == 7);
		r->pending++;
		committer_submit(r->committer, r->items[i].spool,
		    on_commit, &r->items[i]);
	}
}

static void
on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static struct run *
run_new(void)
{
	char err[256];
	struct run *r = calloc(1, sizeof(*r));

	cr_assert_not_null(r);
	r->loop = ev_loop_new(EVFLAG_AUTO);
	cr_assert_not_null(r->loop);
	r->queue = queue_open(dir, err, sizeof(err));
	cr_assert_not_null(r->queue, "%s", err);
	r->committer = committer_new(r->loop, r->queue, 16);
	cr_assert_not_null(r->committer);
	the_run = r;
	return r;
}

static void
run_free(struct run *r)
{
	queue_close(r->queue);
	ev_loop_destroy(r->loop);
	free(r);
	the_run = NULL;
}

/* check_items - each job answered once; entries whole or absent */
static void
check_items(struct run *r)
{
	size_t i, ok = 0, held = 0;

	for (i = 0; i < NJOBS; i++) {
		struct item *it = &r->items[i];

		cr_assert_eq(it->calls, 1, "job %zu answered %d times", i,
		    it->calls);
		if (it->doomed) {
			cr_assert_eq(it->status, -1, "job %zu", i);
			cr_assert(!exists("incoming", it->id));
			cr_assert(!exists("hold", it->id));
		} else {
			cr_assert_eq(it->status, 0, "job %zu", i);
			check_entry(it);
			if (it->held)
				held++;
			else
				ok++;
		}
	}
	cr_assert_eq(scratch_count(dir, "incoming"), ok);
	cr_assert_eq(scratch_count(dir, "hold"), held);
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
}

/* durable - the jobs that made it */
static uint64_t
durable(const struct run *r)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < NJOBS; i++)
		n += !r->items[i].doomed;
	return n;
}

/* observed - the commit latency histogram's count and its buckets' */
static uint64_t
observed(uint64_t *buckets)
{
	size_t i;

	*buckets = 0;
	for (i = 0; i < METRICS_COMMIT_BUCKETS; i++)
		*buckets += metrics_self->commit_bucket[i];
	return metrics_self->commit_count;
}

Test(committer, every_job_answered_once_and_durable_or_failed)
{
	struct run *r = run_new();
	ev_timer start, timeout;
	uint64_t count0, buckets0, count, buckets;

	ev_timer_init(&start, on_start, 0., 0.);
	start.data = r;
	ev_timer_start(r->loop, &start);
	ev_timer_init(&timeout, on_timeout, 60., 0.);
	ev_timer_start(r->loop, &timeout);
	r->break_when_done = true;
	count0 = observed(&buckets0);
	ev_run(r->loop, 0);
	ev_timer_stop(r->loop, &timeout);
	cr_assert_eq(r->pending, 0, "%zu jobs unanswered", r->pending);
	committer_free(r->committer);
	check_items(r);
	/* The metrics: one latency for each durable entry, none for a
	 * failed one. */
	count = observed(&buckets);
	cr_assert_eq(count - count0, durable(r));
	cr_assert_eq(buckets - buckets0, durable(r));
	run_free(r);
}

/* submit_all - NJOBS spools submitted, a few doomed, without the loop */
static void
submit_all(struct run *r)
{
	size_t i;

	for (i = 0; i < NJOBS; i++) {
		make_spool(r, i, i % 100 == 3);
		r->pending++;
		committer_submit(r->committer, r->items[i].spool,
		    on_commit, &r->items[i]);
	}
}

/* Held entries among the others in the same batches: each lands in
 * hold/, the others in incoming/, every job answered. */
Test(committer, held_entries_go_to_hold)
{
	struct run *r = run_new();

	r->held_mod = 3;
	submit_all(r);
	committer_free(r->committer);
	cr_assert_eq(r->pending, 0, "%zu jobs unanswered", r->pending);
	check_items(r);
	cr_assert_gt(scratch_count(dir, "hold"), 100);
	run_free(r);
}

Test(committer, an_existing_entry_is_never_replaced)
{
	struct run *r = run_new();
	struct item *it = &r->items[0];
	char path[300];
	int fd;

	make_spool(r, 0, false);
	/* An entry of that name appears in incoming/ before the commit. */
	snprintf(path, sizeof(path), "%s/incoming/%s", dir, it->id);
	cr_assert_neq(fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600), -1);
	cr_assert_eq(write(fd, "old", 3), 3);
	close(fd);
	r->pending = 1;
	committer_submit(r->committer, it->spool, on_commit, it);
	committer_free(r->committer);
	cr_assert_eq(it->calls, 1);
	cr_assert_eq(it->status, -1);
	{
		char got[16];
		ssize_t n;

		cr_assert_neq(fd = open(path, O_RDONLY), -1);
		n = read(fd, got, sizeof(got));
		close(fd);
		cr_assert_eq(n, 3);
		cr_assert_eq(memcmp(got, "old", 3), 0);
	}
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
	run_free(r);
}

Test(committer, free_finishes_queued_jobs)
{
	struct run *r = run_new();

	/* Submitted without the loop ever running: committer_free must
	 * still finish them all and run every callback itself. */
	submit_all(r);
	committer_free(r->committer);
	cr_assert_eq(r->pending, 0, "%zu jobs unanswered", r->pending);
	check_items(r);
	run_free(r);
}

Test(committer, free_when_idle)
{
	struct run *r = run_new();

	committer_free(r->committer);
	committer_free(NULL);
	cr_assert_eq(scratch_count(dir, "incoming"), 0);
	run_free(r);
}
