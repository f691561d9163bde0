/*
 * test_committer - both commit methods against a real queue and a real
 * libev loop: every job answered once, with the right status, every
 * accepted entry whole in incoming/ (hold/ for a held one) and the
 * runner told of each ordinary one once; the journal's records replayed
 * at start, and an entry too large for it, or past its spool buffer,
 * committed as a file.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/metrics.h"
#include "conf/config_keys.h"
#include "queue/committer.h"
#include "queue/committer_impl.h"	/* a failing syncfs, injected */
#include "queue/journal.h"
#include "queue/queue.h"
#include "qfixture.h"
#include "scratch.h"

#define NJOBS	500
#define PAD_MAX	8192

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
	int		 published;	/* published callbacks for its id */
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
	size_t		 pad;		/* 'x' octets after each body */
	enum commit_method method;
	bool		 break_when_done;
};

static struct run *the_run;	/* the test's run, for on_commit */

static bool
exists(const char *sub, const char *id)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, id);
	return access(path, F_OK) == 0;
}

/* check_entry - incoming/ID (hold/ID) holds exactly the envelope and
 * body (and the run's pad) */
static void
check_entry(const struct item *it)
{
	char path[300], want[1024 + PAD_MAX], got[1024 + PAD_MAX];
	size_t pad = the_run != NULL ? the_run->pad : 0, w;
	ssize_t n;
	int fd;

	snprintf(want, sizeof(want), "sallyport-queue 1\nid %s\n"
	    "arrival 1700000000\nclient 192.0.2.1\nhelo client.example\n"
	    "proto ESMTP\ntlsrequired yes\n%sfrom s@example.org\n"
	    "rcpt a@example.test\n\n%s",
	    it->id, it->held ? "hold quarantined by a test\n" : "", it->body);
	w = strlen(want);
	memset(want + w, 'x', pad);
	want[w + pad] = '\0';
	snprintf(path, sizeof(path), "%s/%s/%s", dir, it->held ? "hold" :
	    "incoming", it->id);
	cr_assert_neq(fd = open(path, O_RDONLY), -1, "%s missing", path);
	n = read(fd, got, sizeof(got) - 1);
	close(fd);
	cr_assert_geq(n, 0);
	got[n] = '\0';
	cr_assert_str_eq(got, want);
}

static void
on_commit(void *arg, int status)
{
	struct item *it = arg;

	it->calls++;
	it->status = status;
	it->spool = NULL;	/* the committer's, as for the session */
	if (--the_run->pending == 0 && the_run->break_when_done)
		ev_break(the_run->loop, EVBREAK_ALL);
}

/* on_published - the runner's note: once per ordinary entry, after its
 * commit callback */
static void
on_published(void *arg, const char *id)
{
	struct run *r = arg;
	size_t i;

	for (i = 0; i < NJOBS; i++)
		if (strcmp(r->items[i].id, id) == 0) {
			cr_assert_eq(r->items[i].calls, 1, "%s published "
			    "before its commit callback", id);
			r->items[i].published++;
			return;
		}
	cr_assert_fail("published an unknown id %s", id);
}

/* make_spool - a spool for item i; doomed ones fail at the rename (the
 * files method only: the journal's spools have no file to take away) */
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
	if (r->pad > 0) {
		static char xs[PAD_MAX];

		memset(xs, 'x', sizeof(xs));
		cr_assert_eq(spool_write(it->spool, xs, r->pad), 0);
	}
	it->doomed = doomed && r->method == COMMIT_FILES;
	if (it->doomed) {
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

static struct committer *
start_lingering(struct run *r, uint64_t journal_size, unsigned linger_ms)
{
	struct commit_opts o = {
		.method = r->method,
		.nthreads = 16,
		.journal_name = "w0",
		.journal_size = journal_size,
		.linger_ms = linger_ms,
		.published = on_published,
		.published_arg = r,
	};

	return committer_new(r->loop, r->queue, &o);
}

static struct committer *
start(struct run *r, uint64_t journal_size)
{
	return start_lingering(r, journal_size, 0);
}

static struct run *
run_new(enum commit_method method)
{
	char err[256];
	struct run *r = calloc(1, sizeof(*r));

	cr_assert_not_null(r);
	r->loop = ev_loop_new(EVFLAG_AUTO);
	cr_assert_not_null(r->loop);
	r->queue = queue_open(dir, err, sizeof(err));
	cr_assert_not_null(r->queue, "%s", err);
	r->method = method;
	r->committer = start(r, JOURNAL_SIZE_DEFAULT);
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

/* check_items - each job answered once; entries whole or absent, and
 * no journal left (committer_free has been called) */
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
			cr_assert_eq(it->published, !it->held, "job %zu "
			    "published %d times", i, it->published);
			if (it->held)
				held++;
			else
				ok++;
		}
	}
	cr_assert_eq(scratch_count(dir, "incoming"), ok);
	cr_assert_eq(scratch_count(dir, "hold"), held);
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
	cr_assert_eq(scratch_count(dir, "journal"), 0);
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

/* submit_in_loop - NJOBS submitted from the loop (on_start), which runs
 * until every one is answered (or `limit` seconds: a failure) */
static void
submit_in_loop(struct run *r, double limit)
{
	ev_timer start, timeout;

	ev_timer_init(&start, on_start, 0., 0.);
	start.data = r;
	ev_timer_start(r->loop, &start);
	ev_timer_init(&timeout, on_timeout, limit, 0.);
	ev_timer_start(r->loop, &timeout);
	r->break_when_done = true;
	ev_run(r->loop, 0);
	ev_timer_stop(r->loop, &timeout);
	cr_assert_eq(r->pending, 0, "%zu jobs unanswered", r->pending);
}

static void
answered_once(enum commit_method method)
{
	struct run *r = run_new(method);
	uint64_t count0, buckets0, count, buckets;

	count0 = observed(&buckets0);
	submit_in_loop(r, 60.);
	committer_free(r->committer);
	check_items(r);
	/* The metrics: one latency for each durable entry, none for a
	 * failed one. */
	count = observed(&buckets);
	cr_assert_eq(count - count0, durable(r));
	cr_assert_eq(buckets - buckets0, durable(r));
	run_free(r);
}

Test(committer, every_job_answered_once_and_durable_or_failed)
{
	answered_once(COMMIT_FILES);
}

Test(committer, journal_every_job_answered_once_and_durable)
{
	answered_once(COMMIT_JOURNAL);
}

/* One client after another: each entry submitted when the previous
 * one was answered, as a session sends its messages. Each is its own
 * group commit; the write-out gathers them (COMMIT_LINGER_MS) rather
 * than syncing the file system for each. */
#define CHAIN	100

static size_t chain_next, chain_len = CHAIN;

static void
on_chain_commit(void *arg, int status)
{
	struct run *r = the_run;

	if (arg != NULL)
		on_commit(arg, status);
	if (chain_next < chain_len) {
		make_spool(r, chain_next, false);
		r->pending++;
		committer_submit(r->committer, r->items[chain_next].spool,
		    on_chain_commit, &r->items[chain_next]);
		chain_next++;
	}
}

static void
on_chain_start(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *r = w->data;

	(void)loop;
	(void)revents;
	r->break_when_done = false;
	chain_next = 0;
	on_chain_commit(NULL, 0);
}

/* on_chain_poll - ends the loop once every entry was published */
static void
on_chain_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *r = w->data;
	size_t i;

	(void)revents;
	for (i = 0; i < CHAIN; i++)
		if (r->items[i].published == 0)
			return;
	ev_break(loop, EVBREAK_ALL);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* run_chain - the chain started from the loop, which runs until `poll`
 * (every `every` seconds) ends it, or `limit` seconds: its milliseconds */
static double
run_chain(struct run *r, void (*poll_cb)(struct ev_loop *, ev_timer *, int),
    double every, double limit)
{
	ev_timer start, poll, timeout;
	double t0, ms;

	ev_timer_init(&start, on_chain_start, 0., 0.);
	start.data = r;
	ev_timer_start(r->loop, &start);
	ev_timer_init(&poll, poll_cb, every, every);
	poll.data = r;
	ev_timer_start(r->loop, &poll);
	ev_timer_init(&timeout, on_timeout, limit, 0.);
	ev_timer_start(r->loop, &timeout);
	t0 = now_ms();
	ev_run(r->loop, 0);
	ms = now_ms() - t0;
	ev_timer_stop(r->loop, &poll);
	ev_timer_stop(r->loop, &timeout);
	return ms;
}

Test(committer, journal_writes_out_one_clients_entries_together)
{
	struct run *r = run_new(COMMIT_JOURNAL);
	uint64_t syncs0 = metrics_self->journal_syncs;
	uint64_t outs0 = metrics_self->journal_writeouts, syncs, outs;
	double ms;
	size_t i;

	ms = run_chain(r, on_chain_poll, 0.002, 60.);
	syncs = metrics_self->journal_syncs - syncs0;
	outs = metrics_self->journal_writeouts - outs0;
	for (i = 0; i < CHAIN; i++) {
		cr_assert_eq(r->items[i].calls, 1);
		cr_assert_eq(r->items[i].status, 0);
		cr_assert_eq(r->items[i].published, 1, "%s not published",
		    r->items[i].id);
		check_entry(&r->items[i]);
	}
	/* Nobody waited for another: a sync per entry. */
	cr_assert_eq(syncs, CHAIN);
	/* A batch every COMMIT_LINGER_MS at most, give or take the
	 * commit of its first entry (taken as up to half of it): written
	 * out one by one they would be a batch per sync, or close. */
	cr_assert_leq(outs, ms / (COMMIT_LINGER_MS / 2.) + 2,
	    "%llu write-outs for %d entries in %.1f ms",
	    (unsigned long long)outs, CHAIN, ms);
	committer_free(r->committer);
	run_free(r);
}

/* on_chain_answered - ends the loop once every entry of the chain was
 * answered (written out or not) */
static void
on_chain_answered(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *r = w->data;

	(void)revents;
	if (chain_next == chain_len && r->pending == 0)
		ev_break(loop, EVBREAK_ALL);
}

/* An append that starts a new pass waits for every record to be
 * retired, so the write-out must not gather a batch then: it hurries.
 * With a write-out that would otherwise wait half a minute, a chain of
 * entries through the smallest journal, starting three new passes,
 * is answered within seconds (each pass would cost 30 without it). */
Test(committer, journal_new_pass_hurries_the_write_out, .timeout = 150)
{
	struct run *r = run_new(COMMIT_JOURNAL);
	uint64_t outs0 = metrics_self->journal_writeouts;
	double ms;
	size_t i;

	committer_free(r->committer);
	r->committer = start_lingering(r, JOURNAL_SIZE_MIN, 30000);
	cr_assert_not_null(r->committer);
	r->pad = PAD_MAX;		/* 8 KiB: some 120 records a pass */
	chain_len = 400;
	ms = run_chain(r, on_chain_answered, 0.01, 120.);
	cr_assert_eq(chain_next, chain_len, "the chain stopped at %zu",
	    chain_next);
	cr_assert_eq(r->pending, 0);
	/* Each pass costs 30 s when the write-out gathers meanwhile. */
	cr_assert_lt(ms, 25000., "%zu entries through three new passes took "
	    "%.0f ms: the write-out gathered its batch while an append "
	    "waited for it", chain_len, ms);
	/* journalled, not committed as files: written out at the passes */
	cr_assert_geq(metrics_self->journal_writeouts - outs0, 3);
	/* The stop writes out what still waits; every entry whole. */
	committer_free(r->committer);
	for (i = 0; i < chain_len; i++) {
		cr_assert_eq(r->items[i].calls, 1);
		cr_assert_eq(r->items[i].status, 0, "entry %zu", i);
		cr_assert_eq(r->items[i].published, 1);
		check_entry(&r->items[i]);
	}
	cr_assert_eq(scratch_count(dir, "journal"), 0);
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
static void
held_to_hold(enum commit_method method)
{
	struct run *r = run_new(method);

	r->held_mod = 3;
	submit_all(r);
	committer_free(r->committer);
	cr_assert_eq(r->pending, 0, "%zu jobs unanswered", r->pending);
	check_items(r);
	cr_assert_gt(scratch_count(dir, "hold"), 100);
	run_free(r);
}

Test(committer, held_entries_go_to_hold)
{
	held_to_hold(COMMIT_FILES);
}

Test(committer, journal_held_entries_go_to_hold)
{
	held_to_hold(COMMIT_JOURNAL);
}

/* A worker holding journal/w0 owns slot 0: its ids end in 000 and none
 * is looked for; by files, ids carry no slot (the last digits 800 or
 * more) and each is looked for in incoming/ and hold/. */
static void
ids_of(enum commit_method method)
{
	struct run *r = run_new(method);

	submit_all(r);
	committer_free(r->committer);
	cr_assert_eq(r->pending, 0);
	check_items(r);
	for (size_t i = 0; i < NJOBS; i++) {
		unsigned low = (unsigned)strtoul(r->items[i].id + 13, NULL, 16);

		if (method == COMMIT_JOURNAL)
			cr_assert_eq(low, 0, "%s", r->items[i].id);
		else
			cr_assert_geq(low, 0x800, "%s", r->items[i].id);
	}
	run_free(r);
}

Test(committer, journal_ids_carry_the_journals_slot)
{
	ids_of(COMMIT_JOURNAL);
}

Test(committer, files_ids_carry_no_slot)
{
	ids_of(COMMIT_FILES);
}

Test(committer, an_existing_entry_is_never_replaced)
{
	struct run *r = run_new(COMMIT_FILES);
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

static void
free_finishes(enum commit_method method)
{
	struct run *r = run_new(method);

	/* Submitted without the loop ever running: committer_free must
	 * still finish them all and run every callback itself. */
	submit_all(r);
	committer_free(r->committer);
	cr_assert_eq(r->pending, 0, "%zu jobs unanswered", r->pending);
	check_items(r);
	run_free(r);
}

Test(committer, free_finishes_queued_jobs)
{
	free_finishes(COMMIT_FILES);
}

Test(committer, journal_free_finishes_queued_jobs)
{
	free_finishes(COMMIT_JOURNAL);
}

Test(committer, free_when_idle)
{
	struct run *r = run_new(COMMIT_JOURNAL);

	committer_free(r->committer);
	committer_free(NULL);
	cr_assert_eq(scratch_count(dir, "incoming"), 0);
	run_free(r);
}

/* A journal left by a dead predecessor of the same name: its records
 * are entries in incoming/ before the new committer takes any job,
 * whichever method the new one commits by (a reload may have changed
 * it before the worker died). */
static void
left_behind_replayed(enum commit_method method)
{
	struct run *r = run_new(method);
	struct journal *j;
	struct iovec iov;
	char err[256];
	uint64_t ticket, len;
	size_t i;
	int fd;

	committer_free(r->committer);		/* its journal removed */
	cr_assert_eq(scratch_count(dir, "journal"), 0);
	j = journal_create(r->queue, "w0", JOURNAL_SIZE_MIN, err, sizeof(err));
	cr_assert_not_null(j, "%s", err);
	queue_set_lazy(r->queue, true);		/* as the journal's were */
	for (i = 0; i < 3; i++) {
		make_spool(r, i, false);
		cr_assert_eq(spool_image(r->items[i].spool, &iov, &fd, &len),
		    0);
		cr_assert_eq(fd, -1, "an entry in memory");
		cr_assert_eq(journal_append(j, r->items[i].id, false, &iov, 1,
		    -1, iov.iov_len, &ticket, err, sizeof(err)), 0, "%s", err);
	}
	cr_assert_eq(journal_sync(j, ticket, err, sizeof(err)), 0, "%s", err);
	journal_close(j, false);	/* the worker dies here */
	cr_assert_eq(scratch_count(dir, "incoming"), 0);
	queue_set_lazy(r->queue, false);

	r->committer = start(r, JOURNAL_SIZE_MIN);
	cr_assert_not_null(r->committer);
	cr_assert_eq(scratch_count(dir, "incoming"), 3);
	for (i = 0; i < 3; i++) {
		check_entry(&r->items[i]);
		spool_free(r->items[i].spool);
	}
	committer_free(r->committer);
	cr_assert_eq(scratch_count(dir, "journal"), 0);
	run_free(r);
}

Test(committer, journal_left_behind_is_replayed_at_start)
{
	left_behind_replayed(COMMIT_JOURNAL);
}

Test(committer, journal_left_behind_is_replayed_by_files_too)
{
	left_behind_replayed(COMMIT_FILES);
}

/* Many entries at once through a small journal: its passes start
 * while a group is being appended, which must sync that group first
 * (not wait for it to be retired: it never would be). Every entry is
 * journalled, none falls back to a file. */
Test(committer, journal_passes_under_a_burst, .timeout = 120)
{
	struct run *r = run_new(COMMIT_JOURNAL);
	char logpath[300], line[1024];
	int saved, fd;
	FILE *f;

	committer_free(r->committer);
	r->committer = start(r, JOURNAL_SIZE_MIN);
	cr_assert_not_null(r->committer);
	r->pad = PAD_MAX;		/* 500 of them fill four passes */
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	cr_assert_neq(fd = open(logpath, O_WRONLY | O_CREAT, 0600), -1);
	saved = dup(2);
	dup2(fd, 2);
	close(fd);
	log_open("test", 1);
	submit_in_loop(r, 100.);
	committer_free(r->committer);
	dup2(saved, 2);
	close(saved);
	log_set_quiet(1);
	check_items(r);
	cr_assert_not_null(f = fopen(logpath, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		cr_assert(strstr(line, "committed as a file") == NULL, "%s",
		    line);
	fclose(f);
	run_free(r);
}

/* A disk that takes no new file (tmp/ gone from under the queue): the
 * journal acknowledges entries until its backlog of entries to write
 * out (1024) is full; after that every new job is still answered (451:
 * the files method cannot write either), none waits unanswered. */
#define WAVES	30

static unsigned many_submitted, many_answered, many_ok;

static void
on_many(void *arg, int status)
{
	(void)arg;
	many_answered++;
	many_ok += status == 0;
}

static void
on_many_check(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	(void)w;
	if (many_answered == many_submitted)
		ev_break(loop, EVBREAK_ALL);
}

/* submit_many - n small spools submitted; the loop runs until every job
 * so far is answered, or a minute */
static void
submit_many(struct run *r, unsigned n)
{
	static char *rcpts[] = { "a@example.test" };
	ev_timer check, timeout;
	char err[256];

	for (unsigned i = 0; i < n; i++) {
		struct envelope env = qfixture_env("192.0.2.1",
		    "client.example", "s@example.org", rcpts, 1);
		struct spool *sp;

		cr_assert_not_null(sp = queue_spool_create(r->queue, &env,
		    err, sizeof(err)), "%s", err);
		cr_assert_eq(spool_write(sp, "Subject: x\r\n\r\nbody\r\n",
		    20), 0);
		committer_submit(r->committer, sp, on_many, NULL);
		many_submitted++;
	}
	ev_timer_init(&check, on_many_check, 0.05, 0.05);
	ev_timer_start(r->loop, &check);
	ev_timer_init(&timeout, on_timeout, 60., 0.);
	ev_timer_start(r->loop, &timeout);
	ev_run(r->loop, 0);
	ev_timer_stop(r->loop, &check);
	ev_timer_stop(r->loop, &timeout);
	cr_assert_eq(many_answered, many_submitted, "%u of %u jobs answered",
	    many_answered, many_submitted);
}

Test(committer, journal_full_backlog_answers_451, .timeout = 150)
{
	struct run *r = run_new(COMMIT_JOURNAL);
	char path[300];
	int wave;

	log_set_quiet(1);
	snprintf(path, sizeof(path), "%s/tmp", dir);
	cr_assert_eq(rmdir(path), 0, "%s", strerror(errno));
	/* Waves until one is refused whole: the backlog is full. */
	for (wave = 0; wave < WAVES; wave++) {
		unsigned ok = many_ok;

		submit_many(r, 100);
		if (many_ok == ok)
			break;
	}
	cr_assert_lt(wave, WAVES, "%u acknowledged, none refused", many_ok);
	cr_assert_geq(many_ok, 1024, "refused before the backlog filled");
	committer_free(r->committer);
	cr_assert_eq(mkdir(path, 0700), 0);
	run_free(r);
}

/* An entry larger than the whole journal goes by the files method:
 * durable, answered 0, published. */
Test(committer, journal_too_small_commits_by_file)
{
	struct run *r = run_new(COMMIT_JOURNAL);
	struct item *it = &r->items[0];
	char *big;
	size_t len = 2 * JOURNAL_SIZE_MIN;

	committer_free(r->committer);
	r->committer = start(r, JOURNAL_SIZE_MIN);
	cr_assert_not_null(r->committer);
	make_spool(r, 0, false);
	cr_assert_not_null(big = malloc(len));
	memset(big, 'x', len);
	cr_assert_eq(spool_write(it->spool, big, len), 0);
	free(big);
	r->pending = 1;
	committer_submit(r->committer, it->spool, on_commit, it);
	committer_free(r->committer);
	cr_assert_eq(it->calls, 1);
	cr_assert_eq(it->status, 0);
	cr_assert_eq(it->published, 1);
	cr_assert(exists("incoming", it->id));
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
	cr_assert_eq(scratch_count(dir, "journal"), 0);
	run_free(r);
}

/* in_journal - the journal's file holds a record for the id (records
 * keep the id in plain octets; retired ones stay until overwritten) */
static bool
in_journal(const char *id)
{
	char path[300];
	static char buf[JOURNAL_SIZE_MIN];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/journal/w0", dir);
	cr_assert_neq(fd = open(path, O_RDONLY), -1, "%s", strerror(errno));
	n = read(fd, buf, sizeof(buf));
	close(fd);
	cr_assert_eq(n, (ssize_t)sizeof(buf));
	return memmem(buf, sizeof(buf), id, QUEUE_ID_LEN) != NULL;
}

/* An entry that outgrew its spool buffer (its file in tmp/ already)
 * is committed as a file, no journal record; a small one beside it
 * through the journal. Both durable, answered 0, published. */
Test(committer, journal_large_entry_commits_by_file, .timeout = 60)
{
	struct run *r = run_new(COMMIT_JOURNAL);
	struct item *small = &r->items[0], *large = &r->items[1];
	static char big[100 * 1024];
	char path[300];

	committer_free(r->committer);
	r->committer = start(r, JOURNAL_SIZE_MIN);
	cr_assert_not_null(r->committer);
	make_spool(r, 0, false);
	make_spool(r, 1, false);
	memset(big, 'x', sizeof(big));
	cr_assert_eq(spool_write(large->spool, big, sizeof(big)), 0);
	snprintf(path, sizeof(path), "%s/tmp/%s", dir, large->id);
	cr_assert_eq(access(path, F_OK), 0, "100 KiB and no file in tmp/");
	snprintf(path, sizeof(path), "%s/tmp/%s", dir, small->id);
	cr_assert_neq(access(path, F_OK), 0, "a small entry has a file");
	r->pending = 2;
	r->break_when_done = true;
	committer_submit(r->committer, small->spool, on_commit, small);
	committer_submit(r->committer, large->spool, on_commit, large);
	ev_run(r->loop, 0);
	cr_assert_eq(r->pending, 0);
	cr_assert(in_journal(small->id), "the small entry has no record");
	cr_assert(!in_journal(large->id), "the large entry has a record");
	cr_assert(exists("incoming", large->id));
	committer_free(r->committer);
	cr_assert_eq(small->status, 0);
	cr_assert_eq(large->status, 0);
	cr_assert_eq(small->published, 1);
	cr_assert_eq(large->published, 1);
	check_entry(small);
	cr_assert(exists("incoming", large->id));
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
	cr_assert_eq(scratch_count(dir, "journal"), 0);
	run_free(r);
}

/* The configuration's bounds for queue_journal_size are the journal's
 * own (conf/ may not include queue/). */
Test(committer, config_bounds_are_the_journals)
{
	size_t i = conf_key_index("queue_journal_size");

	cr_assert_lt(i, conf_nkeys);
	cr_assert_eq(conf_keys[i].min, JOURNAL_SIZE_MIN);
	cr_assert_eq(conf_keys[i].max, JOURNAL_SIZE_MAX);
}

/* wedged - has the committer stopped writing out (lock taken) */
static bool
wedged(struct committer *c)
{
	bool w;

	pthread_mutex_lock(&c->lock);
	w = c->wedged;
	pthread_mutex_unlock(&c->lock);
	return w;
}

/* A syncfs that fails while entries are written out (a write-back lost:
 * their files may look whole without their data) is never followed by
 * their publication or the retirement of their records: new mail goes
 * by files, the stop keeps the journal, and the next start replays the
 * acknowledged entry from it, whole. The failure is injected by taking
 * the writer's syncfs descriptor away (EBADF), which no disk does, but
 * the committer sees only that syncfs failed. */
Test(committer, journal_failed_syncfs_keeps_records_for_replay,
    .timeout = 60)
{
	struct run *r = run_new(COMMIT_JOURNAL);
	struct item *first = &r->items[0], *second = &r->items[1];
	int i;

	log_set_quiet(1);
	close(r->committer->syncfd_write);
	r->committer->syncfd_write = -1;
	make_spool(r, 0, false);
	r->pending = 1;
	r->break_when_done = true;
	committer_submit(r->committer, first->spool, on_commit, first);
	ev_run(r->loop, 0);
	cr_assert_eq(first->status, 0, "acknowledged from the journal");
	for (i = 0; i < 3000 && !wedged(r->committer); i++)
		usleep(10000);
	cr_assert(wedged(r->committer), "a failed syncfs did not stop the "
	    "writing out");
	cr_assert(!exists("incoming", first->id));

	make_spool(r, 1, false);
	r->pending = 1;
	committer_submit(r->committer, second->spool, on_commit, second);
	ev_run(r->loop, 0);
	cr_assert_eq(second->status, 0);
	cr_assert(exists("incoming", second->id), "new mail not by files "
	    "while writing out is stopped");

	committer_free(r->committer);
	cr_assert(!exists("incoming", first->id));
	cr_assert_eq(scratch_count(dir, "journal"), 1, "the journal is kept");
	cr_assert_eq(scratch_count(dir, "tmp"), 0);

	r->committer = start(r, JOURNAL_SIZE_DEFAULT);	/* a restart */
	cr_assert_not_null(r->committer);
	check_entry(first);
	check_entry(second);
	cr_assert_eq(scratch_count(dir, "incoming"), 2);
	committer_free(r->committer);
	cr_assert_eq(scratch_count(dir, "journal"), 0);
	run_free(r);
}
