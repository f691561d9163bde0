/*
 * test_workpool - the queue runner's delivery threads: every task runs,
 * never more at once than the limit, an idle thread takes the next task
 * instead of a new one, and idle threads end. The checks wait for
 * states (with a generous bound), never for a time to pass.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "lib/workpool.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static unsigned done, running, most;
static bool released;
static pthread_t ran_on[2];
/* The pool outlives each test's function: its threads wait on it. */
static struct workpool pool;

static void
reset(void)
{
	done = running = most = 0;
	released = false;
}

TestSuite(workpool, .init = reset);

static void
count(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	done++;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

/* blocker - runs until released, counting those that run at once */
static void
blocker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	if (++running > most)
		most = running;
	pthread_cond_broadcast(&cond);
	while (!released)
		pthread_cond_wait(&cond, &lock);
	running--;
	done++;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static void
release_all(void)
{
	pthread_mutex_lock(&lock);
	released = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static void
which_thread(void *arg)
{
	pthread_mutex_lock(&lock);
	ran_on[(size_t)arg] = pthread_self();
	done++;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

/* wait_for - until *v >= want (under lock), 10 s at most */
static bool
wait_for(unsigned *v, unsigned want)
{
	struct timespec until;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&lock);
	while (*v < want && pthread_cond_timedwait(&cond, &lock, &until) == 0)
		;
	ok = *v >= want;
	pthread_mutex_unlock(&lock);
	return ok;
}

/* start_blockers - n blockers on a pool of n, all running; idle threads end after idle_secs */
static void
start_blockers(unsigned n, unsigned idle_secs)
{
	cr_assert_eq(workpool_init(&pool, n, idle_secs), 0);
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(workpool_submit(&pool, blocker, NULL), 0);
	cr_assert(wait_for(&running, n));
}

/* pool_state - until the pool's counts are these, 10 s at most */
static bool
pool_state(struct workpool *p, unsigned nthreads, unsigned nidle)
{
	for (int i = 0; i < 10000; i++) {
		bool ok;

		pthread_mutex_lock(&p->lock);
		ok = p->nthreads == nthreads && p->nidle == nidle;
		pthread_mutex_unlock(&p->lock);
		if (ok)
			return true;
		usleep(1000);
	}
	return false;
}

Test(workpool, every_task_runs)
{
	cr_assert_eq(workpool_init(&pool, 4, 60), 0);
	for (int i = 0; i < 500; i++)
		cr_assert_eq(workpool_submit(&pool, count, NULL), 0);
	cr_assert(wait_for(&done, 500), "%u of 500 ran", done);
	for (int i = 0; i < 10000; i++) {
		unsigned n, idle;

		pthread_mutex_lock(&pool.lock);
		n = pool.nthreads;
		idle = pool.nidle;
		pthread_mutex_unlock(&pool.lock);
		if (n == idle) {
			cr_assert(n >= 1 && n <= 4, "%u threads", n);
			return;
		}
		usleep(1000);
	}
	cr_assert_fail("threads still busy");
}

Test(workpool, never_more_at_once_than_the_limit)
{
	cr_assert_eq(workpool_init(&pool, 3, 60), 0);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(workpool_submit(&pool, blocker, NULL), 0);
	cr_assert(wait_for(&running, 3));
	pthread_mutex_lock(&pool.lock);
	cr_assert_eq(pool.nthreads, 3);
	cr_assert_eq(pool.queued, 7);
	pthread_mutex_unlock(&pool.lock);
	release_all();
	cr_assert(wait_for(&done, 10), "%u of 10 ran", done);
	cr_assert_eq(most, 3);
}

Test(workpool, an_idle_thread_takes_the_next_task)
{
	cr_assert_eq(workpool_init(&pool, 4, 60), 0);
	cr_assert_eq(workpool_submit(&pool, which_thread, (void *)0), 0);
	cr_assert(wait_for(&done, 1));
	cr_assert(pool_state(&pool, 1, 1));
	cr_assert_eq(workpool_submit(&pool, which_thread, (void *)1), 0);
	cr_assert(wait_for(&done, 2));
	cr_assert(pthread_equal(ran_on[0], ran_on[1]));
	cr_assert(pool_state(&pool, 1, 1));
}

Test(workpool, idle_threads_end)
{
	start_blockers(4, 1);
	release_all();
	cr_assert(wait_for(&done, 4));
	cr_assert(pool_state(&pool, 0, 0), "%u threads left", pool.nthreads);
	/* and a new task starts a thread again */
	cr_assert_eq(workpool_submit(&pool, count, NULL), 0);
	cr_assert(wait_for(&done, 5));
}

Test(workpool, a_lower_limit_ends_the_threads_above_it)
{
	start_blockers(4, 60);
	release_all();
	cr_assert(wait_for(&done, 4));
	cr_assert(pool_state(&pool, 4, 4));
	workpool_set_max(&pool, 2);
	cr_assert(pool_state(&pool, 2, 2), "%u threads", pool.nthreads);
}
