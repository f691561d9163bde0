/*
 * qfixture - a real queue in a scratch directory for the tests of one
 * suite, and entries committed into it through queue.c.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "qfixture.h"
#include "queue/qentry.h"
#include "scratch.h"

struct queue *
qfixture_open(char *dir, size_t len, const char *what)
{
	char err[512];
	struct queue *q;

	scratch_make(dir, len, what);
	cr_assert_not_null(q = queue_open(dir, err, sizeof(err)), "%s", err);
	/* as the runner makes it when it starts */
	cr_assert_eq(qentry_lock_setup(dir, err, sizeof(err)), 0, "%s", err);
	return q;
}

void
qfixture_close(struct queue *q, const char *dir)
{
	queue_close(q);
	scratch_remove(dir);
}

struct envelope
qfixture_env(const char *client, const char *helo, const char *sender,
    char **rcpts, size_t nrcpts)
{
	struct envelope env;

	memset(&env, 0, sizeof(env));
	env.arrival = 1700000000;
	env.client = client;
	env.helo = helo;
	env.proto = "ESMTP";
	env.sender = sender;
	env.rcpts = rcpts;
	env.nrcpts = nrcpts;
	return env;
}

void
qfixture_commit(struct queue *q, struct envelope *env, const char *body)
{
	char err[512];
	struct spool *sp;

	cr_assert_not_null(sp = queue_spool_create(q, env, err, sizeof(err)),
	    "%s", err);
	cr_assert_eq(spool_write(sp, body, strlen(body)), 0);
	cr_assert_eq(queue_commit(sp, err, sizeof(err)), 0, "%s", err);
	spool_free(sp);
}

char *
qfixture_message(size_t n)
{
	char *m = malloc(n + 32);
	size_t k = 0;
	unsigned line = 0;

	cr_assert_not_null(m);
	while (k < n)
		k += (size_t)sprintf(m + k, "line %07u of the body\r\n",
		    line++);
	return m;
}

bool
qfixture_exists(const char *dir, const char *sub, const char *id)
{
	char path[600];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, id);
	return lstat(path, &st) == 0;
}

