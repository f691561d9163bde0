/*
 * loginlimit - the daily counters of login_max_messages_per_day and
 * login_max_recipients_per_day, kept under the queue directory
 * (QUEUE_DIR/limits/) so that they survive a restart and every worker
 * process counts in the same place.
 *
 * One small file per login (named by a 64-bit hash of the login in
 * lower case; the login itself is on its first line), rewritten whole
 * and renamed into place under an exclusive lock on
 * QUEUE_DIR/limits/.lock: the workers take turns, and a reader never
 * sees half a file. The day is the calendar day in UTC: at 00:00 UTC
 * every count starts again. A file holds the day, the messages queued
 * that day and one hash per distinct recipient that day, at most
 * LOGINLIMIT_RCPTS_MAX of them: its size is bounded by the key.
 */
#ifndef SALLYPORT_LOGINLIMIT_H
#define SALLYPORT_LOGINLIMIT_H

#include <stddef.h>
#include <time.h>

#define LOGINLIMIT_RCPTS_MAX	100000	/* the key's largest value */

enum loginlimit_ask {
	LOGINLIMIT_MAIL,	/* may the login start a message? */
	LOGINLIMIT_RCPT,	/* may it add `rcpt`? (counted when new) */
	LOGINLIMIT_SENT,	/* a message was queued: count it */
};

/* 0: go on (and counted), 1: the limit is reached (*count says at
 * what), -1: error in err (the caller logs it). A max of 0 is no
 * limit and nothing is read or written for it. */
int	loginlimit_ask(const char *queue_dir, const char *login,
	    enum loginlimit_ask, const char *rcpt, unsigned max_messages,
	    unsigned max_rcpts, time_t now, unsigned *count, char *err,
	    size_t errlen);

#endif
