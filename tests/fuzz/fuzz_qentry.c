/*
 * fuzz_qentry - qentry_load on queue files a crash or a bad disk left
 * behind. The input, up to a first "\n--state--\n", is written as
 * incoming/ID in a queue directory made once; what follows it, if
 * anything, as state/ID. A load gives an entry whose fields are all
 * set, or NULL with a message; then free. The prepend slot (doc/queue.md)
 * is read too: its fields lie inside the file, above the message. The
 * same file is then moved into hold/ and loaded as a held entry: the
 * same verdict, and marked held; and loaded with its state file's
 * history, each line naming a recipient of the entry.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* memmem */
#endif
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/qentry.h"

#define FUZZ_ID		"6B035034926088F8"
#define STATE_MARK	"\n--state--\n"

static char dir[] = "/tmp/fuzz_qentry.XXXXXX";
static char incoming[sizeof(dir) + 64], state[sizeof(dir) + 64],
    hold[sizeof(dir) + 64];

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_qentry: %s\n", what);
		abort();
	}
}

/* put - write a whole file, replacing it */
static void
put(const char *path, const uint8_t *p, size_t n)
{
	int fd;
	ssize_t w;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	check(fd != -1, "cannot write the queue file");
	while (n > 0) {
		w = write(fd, p, n);
		check(w > 0, "short write");
		p += w;
		n -= (size_t)w;
	}
	close(fd);
}

static void
cleanup(void)
{
	unlink(incoming);
	unlink(state);
	unlink(hold);
	snprintf(incoming, sizeof(incoming), "%s/incoming", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(hold, sizeof(hold), "%s/hold", dir);
	rmdir(incoming);
	rmdir(state);
	rmdir(hold);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char sub[sizeof(dir) + 16];

	(void)argc;
	(void)argv;
	check(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(sub, sizeof(sub), "%s/incoming", dir);
	check(mkdir(sub, 0700) == 0, "mkdir incoming");
	snprintf(sub, sizeof(sub), "%s/state", dir);
	check(mkdir(sub, 0700) == 0, "mkdir state");
	snprintf(sub, sizeof(sub), "%s/hold", dir);
	check(mkdir(sub, 0700) == 0, "mkdir hold");
	snprintf(hold, sizeof(hold), "%s/hold/%s", dir, FUZZ_ID);
	snprintf(incoming, sizeof(incoming), "%s/incoming/%s", dir, FUZZ_ID);
	snprintf(state, sizeof(state), "%s/state/%s", dir, FUZZ_ID);
	atexit(cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *mark;
	struct qentry *e, *held, *hist;
	char err[512], err2[512];
	size_t n, i;

	mark = memmem(data, size, STATE_MARK, strlen(STATE_MARK));
	n = mark ? (size_t)(mark - data) : size;
	put(incoming, data, n);
	if (mark)
		put(state, mark + strlen(STATE_MARK),
		    size - n - strlen(STATE_MARK));
	else
		unlink(state);

	err[0] = '\0';
	e = qentry_load(dir, FUZZ_ID, err, sizeof(err));
	check(rename(incoming, hold) == 0, "rename into hold");
	held = qentry_load_held(dir, FUZZ_ID, err2, sizeof(err2));
	/* The same with the state file's history (`--queue show`). */
	hist = qentry_load_any(dir, FUZZ_ID, true, err2, sizeof(err2));
	check((hist == NULL) == (held == NULL), "history verdict differs");
	for (i = 0; hist != NULL && i < hist->nhistory; i++)
		check(hist->history[i].text == NULL ? strcmp(
		    hist->history[i].what, "next") == 0 :
		    hist->history[i].rcpt < hist->nrcpts, "history line");
	check(hist == NULL || hist->nhistory <= QENTRY_HISTORY_MAX,
	    "history unbounded");
	qentry_free(hist);
	check(unlink(hold) == 0, "unlink hold");
	check((e == NULL) == (held == NULL), "held verdict differs");
	if (held != NULL)
		check(held->held && (held->hold == NULL) == (e->hold == NULL),
		    "held entry");
	qentry_free(held);
	if (e == NULL) {
		check(err[0] != '\0', "refused without a reason");
		return 0;
	}
	check(!e->held, "incoming entry held");
	check(strcmp(e->id, FUZZ_ID) == 0, "id");
	check(e->sender != NULL && e->nrcpts > 0 && e->rcpts != NULL,
	    "entry without sender or recipients");
	check(e->body_offset >= 0 && e->body_offset <= (off_t)n &&
	    e->body_size >= 0 && e->body_offset + e->body_size <= (off_t)n,
	    "body outside the file");
	/* Fields prepended at the end of DATA sit just above the message
	 * as received, inside the file. */
	check(e->msg_offset >= e->body_offset && e->msg_offset <= (off_t)n,
	    "prepended fields outside the file");
	for (i = 0; i < e->nrcpts; i++)
		check(e->rcpts[i] != NULL && e->state[i] <= RCPT_BOUNCED,
		    "recipient");
	qentry_free(e);
	return 0;
}
