/*
 * test_log - the log thread (log_async_start): lines from several threads
 * come out whole, each thread's in its order, through a ring that wraps
 * many times and fills while nobody reads; the rest at log_async_stop
 * (which exit(3) calls; test_log.py sees a worker's last lines); and a
 * child forked meanwhile writes its own lines itself.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"

#define THREADS	4
#define LINES	5000		/* each: about 1.6 MB through a 64 KiB ring */

static int rd = -1;		/* the far end of our stderr */
static char *got;
static size_t gotlen, gotsize;
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;

/* reader - stderr's pipe read to its end; held up while gate is held */
static void *
reader(void *arg)
{
	char buf[8192];
	ssize_t n;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&gate);
		pthread_mutex_unlock(&gate);
		if ((n = read(rd, buf, sizeof(buf))) <= 0)
			break;
		if (gotlen + (size_t)n + 1 > gotsize) {
			gotsize = (gotlen + (size_t)n + 1) * 2;
			cr_assert_not_null(got = realloc(got, gotsize));
		}
		memcpy(got + gotlen, buf, (size_t)n);
		gotlen += (size_t)n;
		got[gotlen] = '\0';
	}
	return NULL;
}

/* to_pipe - stderr a pipe of one page; the_reader() reads it. Apart:
 * a child forked before the reader thread exists forks a process with
 * one thread, which may then do anything (start its own writer). */
static void
to_pipe(void)
{
	int p[2];

	cr_assert_eq(pipe(p), 0);
	(void)fcntl(p[1], F_SETPIPE_SZ, 4096);
	cr_assert_neq(dup2(p[1], STDERR_FILENO), -1);
	close(p[1]);
	rd = p[0];
}

static pthread_t
the_reader(void)
{
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, reader, NULL), 0);
	return t;
}

/* done_reading - stderr closed, the reader at the end of it */
static void
done_reading(pthread_t t)
{
	int null = open("/dev/null", O_WRONLY);

	cr_assert_neq(dup2(null, STDERR_FILENO), -1);
	close(null);
	cr_assert_eq(pthread_join(t, NULL), 0);
}

static void *
logger(void *arg)
{
	long id = (long)arg;

	for (int i = 0; i < LINES; i++)
		log_info("thread %ld line %d %0*d", id, i, 300, 0);
	return NULL;
}

/* check - every line of every thread once, whole and in its order */
static void
check(int threads)
{
	int next[THREADS] = { 0 };
	char *line, *save = NULL;

	for (line = strtok_r(got, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		long id;
		int i, at = -1;

		if (strstr(line, " thread ") == NULL)
			continue;
		cr_assert_eq(sscanf(line, "%*s test: thread %ld line %d %n",
		    &id, &i, &at), 2, "a line cut or mixed: %.80s", line);
		cr_assert(id >= 0 && id < threads);
		cr_assert_eq(i, next[id], "thread %ld: line %d after %d", id,
		    i, next[id] - 1);
		cr_assert_eq(strlen(line + at), 300, "a line cut: %.80s", line);
		next[id]++;
	}
	for (int t = 0; t < threads; t++)
		cr_assert_eq(next[t], LINES, "thread %d: %d lines of %d", t,
		    next[t], LINES);
}

Test(log, many_threads_through_a_small_ring, .timeout = 120)
{
	pthread_t r, t[THREADS];

	log_open("test", 1);
	to_pipe();
	r = the_reader();
	cr_assert_eq(log_async_start(1), 0);	/* raised to 64 KiB */
	/* Nobody reads for a while: the ring fills and the loggers wait. */
	pthread_mutex_lock(&gate);
	for (long i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, logger, (void *)i), 0);
	usleep(100 * 1000);
	pthread_mutex_unlock(&gate);
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_join(t[i], NULL), 0);
	log_async_stop();
	done_reading(r);
	check(THREADS);
}

Test(log, the_rest_is_written_at_stop, .timeout = 120)
{
	pthread_t r;
	pid_t pid;
	int status;

	log_open("test", 1);
	to_pipe();
	/* In a child of its own, as a worker: not this test's process, whose
	 * exit handlers are Criterion's. */
	if ((pid = fork()) == 0) {
		close(rd);
		if (log_async_start(0) != 0 || log_async_start(64 * 1024) != 0)
			_exit(2);
		logger((void *)0L);
		/* The last lines still in the ring: the stop writes them. */
		log_async_stop();
		_exit(0);
	}
	cr_assert_gt(pid, 0);
	r = the_reader();
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	done_reading(r);
	check(1);
}

Test(log, a_child_forked_meanwhile_writes_its_own, .timeout = 120)
{
	pthread_t r;
	pid_t pid;
	int status;

	log_open("test", 1);
	to_pipe();
	r = the_reader();
	cr_assert_eq(log_async_start(64 * 1024), 0);
	log_info("before the fork");	/* time zone loaded, not in the child */
	if ((pid = fork()) == 0) {
		/* No writer here: written at once, or never; and nothing
		 * but writes (the reader's thread may hold malloc's lock). */
		logger((void *)1L);
		_exit(0);
	}
	cr_assert_gt(pid, 0);
	logger((void *)0L);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	log_async_stop();
	done_reading(r);
	check(2);
}
