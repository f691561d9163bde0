/*
 * queue-hold - commits a message on hold into a queue, through the
 * queue's own functions (queue_spool_create with envelope.hold, then
 * queue_commit), as the daemon does for a milter's quarantine: for
 * test_queue_hold.py, beside a running daemon. Never installed.
 *
 *	queue-hold QUEUE_DIR REASON SENDER RCPT... < MESSAGE
 *		prints the queue id
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "queue/queue.h"

int
main(int argc, char **argv)
{
	struct envelope env;
	struct queue *q;
	struct spool *sp;
	char err[512], buf[65536];
	ssize_t n;
	int rc = 0;

	if (argc < 5) {
		fprintf(stderr, "usage: queue-hold QUEUE_DIR REASON SENDER "
		    "RCPT... < MESSAGE\n");
		return 2;
	}
	/* Attach, never open: the running daemon's tmp/ is its own. */
	if ((q = queue_attach(argv[1], err, sizeof(err))) == NULL) {
		fprintf(stderr, "queue-hold: %s\n", err);
		return 1;
	}
	memset(&env, 0, sizeof(env));
	env.arrival = time(NULL);
	env.client = "127.0.0.1";
	env.helo = "queue-hold.test";
	env.proto = "ESMTP";
	env.hold = argv[2];
	env.sender = argv[3];
	env.rcpts = argv + 4;
	env.nrcpts = (size_t)(argc - 4);
	if ((sp = queue_spool_create(q, &env, err, sizeof(err))) == NULL) {
		fprintf(stderr, "queue-hold: %s\n", err);
		queue_close(q);
		return 1;
	}
	while (rc == 0 && (n = read(0, buf, sizeof(buf))) != 0)
		rc = n < 0 ? -1 : spool_write(sp, buf, (size_t)n);
	if (queue_commit_own(sp, rc, "message", env.id, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "queue-hold: %s\n", err);
		queue_close(q);
		return 1;
	}
	printf("%s\n", env.id);
	queue_close(q);
	return 0;
}
