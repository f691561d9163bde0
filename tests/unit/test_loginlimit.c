/*
 * test_loginlimit - the per-login daily counters under a queue
 * directory: messages and distinct recipients counted per login, a
 * limit reached, the calendar day in UTC starting again, keys of 0
 * writing nothing, and the file bounded by the key.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "queue/loginlimit.h"
#include "scratch.h"

static char dir[64];
static const time_t day1 = 20000L * 86400 + 3600;	/* 01:00 UTC */

static void
setup(void)
{
	scratch_make(dir, sizeof(dir), "loginlimit");
}

static void
teardown(void)
{
	scratch_remove(dir);
}

TestSuite(loginlimit, .init = setup, .fini = teardown);

static int
ask(const char *login, enum loginlimit_ask a, const char *rcpt,
    unsigned maxm, unsigned maxr, time_t now)
{
	char err[512];
	unsigned count;
	int r = loginlimit_ask(dir, login, a, rcpt, maxm, maxr, now, &count,
	    err, sizeof(err));

	cr_assert_neq(r, -1, "%s", err);
	return r;
}

Test(loginlimit, messages_per_day_and_login)
{
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(ask("alice", LOGINLIMIT_MAIL, NULL, 3, 0, day1), 0);
		cr_assert_eq(ask("alice", LOGINLIMIT_SENT, NULL, 3, 0, day1), 0);
	}
	cr_assert_eq(ask("alice", LOGINLIMIT_MAIL, NULL, 3, 0, day1), 1);
	cr_assert_eq(ask("ALICE", LOGINLIMIT_MAIL, NULL, 3, 0, day1), 1,
	    "a login without regard to case");
	cr_assert_eq(ask("bob", LOGINLIMIT_MAIL, NULL, 3, 0, day1), 0);
	/* 23:59:59 the same day, then midnight UTC */
	cr_assert_eq(ask("alice", LOGINLIMIT_MAIL, NULL, 3, 0,
	    day1 - 3600 + 86399), 1);
	cr_assert_eq(ask("alice", LOGINLIMIT_MAIL, NULL, 3, 0,
	    day1 - 3600 + 86400), 0);
	/* a higher limit after a reload counts on from today's count */
	cr_assert_eq(ask("alice", LOGINLIMIT_MAIL, NULL, 4, 0, day1), 0);
}

Test(loginlimit, distinct_recipients)
{
	cr_assert_eq(ask("a", LOGINLIMIT_RCPT, "x@example.org", 0, 2, day1), 0);
	cr_assert_eq(ask("a", LOGINLIMIT_RCPT, "X@Example.org", 0, 2, day1), 0);
	cr_assert_eq(ask("a", LOGINLIMIT_RCPT, "y@example.org", 0, 2, day1), 0);
	cr_assert_eq(ask("a", LOGINLIMIT_RCPT, "z@example.org", 0, 2, day1), 1);
	cr_assert_eq(ask("a", LOGINLIMIT_RCPT, "x@example.org", 0, 2, day1), 0,
	    "already counted today");
	cr_assert_eq(ask("a", LOGINLIMIT_RCPT, "z@example.org", 0, 2,
	    day1 + 86400), 0, "the next day");
}

Test(loginlimit, off_writes_nothing)
{
	char path[128];
	struct stat st;

	cr_assert_eq(ask("a", LOGINLIMIT_MAIL, NULL, 0, 0, day1), 0);
	cr_assert_eq(ask("a", LOGINLIMIT_SENT, NULL, 0, 0, day1), 0);
	cr_assert_eq(ask("a", LOGINLIMIT_RCPT, "x@example.org", 0, 0, day1), 0);
	snprintf(path, sizeof(path), "%s/limits", dir);
	cr_assert_eq(stat(path, &st), -1);
}

Test(loginlimit, file_bounded_by_the_key)
{
	char path[128], rcpt[64];
	struct stat st;

	for (int i = 0; i < 50; i++) {
		snprintf(rcpt, sizeof(rcpt), "r%d@example.org", i);
		cr_assert_eq(ask("a", LOGINLIMIT_RCPT, rcpt, 0, 10, day1),
		    i < 10 ? 0 : 1);
	}
	cr_assert_eq(scratch_count(dir, "limits"), 1, "one file per login");
	snprintf(path, sizeof(path), "%s/limits/.lock", dir);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_size, 0);
	/* the login's file: a header and 10 recipients, not 50 */
	{
		FILE *p;
		char cmd[256], out[64] = "";

		snprintf(cmd, sizeof(cmd), "cat %s/limits/[0-9a-f]* | wc -l",
		    dir);
		cr_assert_not_null(p = popen(cmd, "r"));
		cr_assert_not_null(fgets(out, sizeof(out), p));
		pclose(p);
		cr_assert_eq(atoi(out), 3 + 10, "%s", out);
	}
}

Test(loginlimit, unusable_directory_is_an_error)
{
	char err[512];
	unsigned count;

	cr_assert_eq(loginlimit_ask("/nonexistent/queue", "a",
	    LOGINLIMIT_SENT, NULL, 1, 0, day1, &count, err, sizeof(err)), -1);
	cr_assert(strstr(err, "/nonexistent/queue/limits") != NULL, "%s", err);
}
