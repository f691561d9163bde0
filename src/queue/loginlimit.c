/*
 * loginlimit - per-login daily counters in QUEUE_DIR/limits/.
 *
 * Why files under a lock rather than counting in the master: the
 * workers already share the queue directory and nothing else, the
 * counts must survive a restart anyway, and a lock held for one small
 * read and one small write per MAIL, new recipient and queued message
 * is cheaper than a round trip to another process. The file:
 *
 *	login alice@example.org
 *	day 20424
 *	messages 12
 *	r 3f2a...		(one per distinct recipient today)
 */
#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/loginlimit.h"

#define LL_LOGIN_MAX	255

struct ll_state {
	long		 day;
	unsigned	 messages;
	uint64_t	*rcpts;
	size_t		 nrcpts;
};

static void
seterr(char *err, size_t errlen, const char *what, const char *path)
{
	snprintf(err, errlen, "login limits: %s %s: %s", what, path,
	    strerror(errno));
}

static uint64_t
ll_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)tolower((unsigned char)*s)) *
		    0x100000001b3ULL;
	return h;
}

/* ll_read - the state of today from path; a missing file, another day
 * or unreadable lines are a fresh day (counts start again) */
static int
ll_read(const char *path, long today, size_t max, struct ll_state *st)
{
	FILE *fp = fopen(path, "r");
	char line[LL_LOGIN_MAX + 16];
	long day = -1;

	memset(st, 0, sizeof(*st));
	st->day = today;
	if (fp == NULL)
		return errno == ENOENT ? 0 : -1;
	if ((st->rcpts = calloc(max > 0 ? max : 1, sizeof(*st->rcpts))) ==
	    NULL) {
		fclose(fp);
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		uint64_t h;

		if (sscanf(line, "day %ld", &day) == 1 && day != today)
			break;
		if (day != today)
			continue;
		if (sscanf(line, "messages %u", &st->messages) == 1)
			continue;
		if (sscanf(line, "r %" SCNx64, &h) == 1 && st->nrcpts < max)
			st->rcpts[st->nrcpts++] = h;
	}
	fclose(fp);
	if (day != today) {
		st->messages = 0;
		st->nrcpts = 0;
	}
	return 0;
}

/* ll_write - the state into a new file renamed over path */
static int
ll_write(const char *dir, const char *path, const char *login,
    const struct ll_state *st)
{
	char tmp[4096 + 32];
	FILE *fp;
	int ok;

	snprintf(tmp, sizeof(tmp), "%s/.tmp.%ld", dir, (long)getpid());
	if ((fp = fopen(tmp, "w")) == NULL)
		return -1;
	fprintf(fp, "login %s\nday %ld\nmessages %u\n", login, st->day,
	    st->messages);
	for (size_t i = 0; i < st->nrcpts; i++)
		fprintf(fp, "r %016" PRIx64 "\n", st->rcpts[i]);
	ok = fflush(fp) == 0 && !ferror(fp);
	if (fclose(fp) != 0 || !ok || rename(tmp, path) == -1) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* ll_decide - the answer for one question on today's state; *dirty
 * when it changed */
static int
ll_decide(struct ll_state *st, enum loginlimit_ask ask, const char *rcpt,
    unsigned max_messages, unsigned max_rcpts, unsigned *count,
    bool *dirty)
{
	uint64_t h;

	*dirty = false;
	switch (ask) {
	case LOGINLIMIT_MAIL:
		*count = st->messages;
		return max_messages > 0 && st->messages >= max_messages;
	case LOGINLIMIT_SENT:
		st->messages++;
		*count = st->messages;
		*dirty = true;
		return 0;
	case LOGINLIMIT_RCPT:
		break;
	}
	h = ll_hash(rcpt != NULL ? rcpt : "");
	*count = (unsigned)st->nrcpts;
	for (size_t i = 0; i < st->nrcpts; i++)
		if (st->rcpts[i] == h)
			return 0;	/* not new today */
	if (st->nrcpts >= max_rcpts)
		return 1;
	st->rcpts[st->nrcpts++] = h;
	*count = (unsigned)st->nrcpts;
	*dirty = true;
	return 0;
}

int
loginlimit_ask(const char *queue_dir, const char *login,
    enum loginlimit_ask ask, const char *rcpt, unsigned max_messages,
    unsigned max_rcpts, time_t now, unsigned *count, char *err,
    size_t errlen)
{
	char dir[4096], path[4096 + 32], low[LL_LOGIN_MAX + 1];
	struct ll_state st;
	bool dirty = false;
	int lock, r = -1;
	size_t n;

	*count = 0;
	if ((ask == LOGINLIMIT_RCPT && max_rcpts == 0) ||
	    (ask != LOGINLIMIT_RCPT && max_messages == 0))
		return 0;
	if (max_rcpts > LOGINLIMIT_RCPTS_MAX)
		max_rcpts = LOGINLIMIT_RCPTS_MAX;
	/* the login in lower case, without what would break a line */
	for (n = 0; login[n] != '\0' && n < LL_LOGIN_MAX; n++)
		low[n] = (char)((unsigned char)login[n] < 0x20 ? '?' :
		    tolower((unsigned char)login[n]));
	low[n] = '\0';
	snprintf(dir, sizeof(dir), "%s/limits", queue_dir);
	snprintf(path, sizeof(path), "%s/%016" PRIx64, dir, ll_hash(low));
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		seterr(err, errlen, "mkdir", dir);
		return -1;
	}
	{
		char lockpath[4096 + 8];

		snprintf(lockpath, sizeof(lockpath), "%s/.lock", dir);
		if ((lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC,
		    0600)) == -1) {
			seterr(err, errlen, "open", lockpath);
			return -1;
		}
	}
	if (flock(lock, LOCK_EX) == -1) {
		seterr(err, errlen, "lock", dir);
		close(lock);
		return -1;
	}
	if (ll_read(path, (long)(now / 86400), max_rcpts, &st) == -1) {
		seterr(err, errlen, "read", path);
		goto out;
	}
	if (st.rcpts == NULL && max_rcpts > 0 && (st.rcpts = calloc(max_rcpts,
	    sizeof(*st.rcpts))) == NULL) {
		seterr(err, errlen, "memory for", path);
		goto out;
	}
	r = ll_decide(&st, ask, rcpt, max_messages, max_rcpts, count, &dirty);
	if (dirty && ll_write(dir, path, low, &st) == -1) {
		seterr(err, errlen, "write", path);
		r = -1;
	}
out:
	free(st.rcpts);
	flock(lock, LOCK_UN);
	close(lock);
	return r;
}
