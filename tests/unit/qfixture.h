/*
 * qfixture - a real queue in a scratch directory for the tests of one
 * suite, and entries committed into it through queue.c.
 */
#ifndef SALLYPORT_TEST_QFIXTURE_H
#define SALLYPORT_TEST_QFIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "queue/queue.h"

/* A scratch directory /tmp/sallyport-test-WHAT.XXXXXX into dir (len
 * bytes) and the queue on it; the test fails if it cannot. */
struct queue	*qfixture_open(char *dir, size_t len, const char *what);
/* Close q and remove dir. */
void		 qfixture_close(struct queue *q, const char *dir);
/* The envelope of a message that arrived at 1700000000 over ESMTP from
 * client (saying helo) for sender and its nrcpts recipients; every
 * other field zero. */
struct envelope	 qfixture_env(const char *client, const char *helo,
		    const char *sender, char **rcpts, size_t nrcpts);
/* Spool body under env and commit it; env->id is its id. The test
 * fails if any step does. */
void		 qfixture_commit(struct queue *q, struct envelope *env,
		    const char *body);

/* Is there dir/sub/id (lstat)? */
bool		 qfixture_exists(const char *dir, const char *sub,
		    const char *id);

/* At least n octets of numbered CRLF lines (so that an octet out of
 * place shows), NUL-terminated; free it. */
char		*qfixture_message(size_t n);

/* QFIXTURE_SUITE(suite, what) - the Criterion suite whose every test
 * has a new queue q in a scratch directory dir (named after what),
 * closed and removed after the test. */
#define QFIXTURE_SUITE(suite, what)					\
	static char dir[256];						\
	static struct queue *q;						\
	static void qfixture_setup_(void)				\
	{								\
		q = qfixture_open(dir, sizeof(dir), (what));		\
	}								\
	static void qfixture_teardown_(void)				\
	{								\
		qfixture_close(q, dir);					\
	}								\
	TestSuite(suite, .init = qfixture_setup_,			\
	    .fini = qfixture_teardown_)

#endif
