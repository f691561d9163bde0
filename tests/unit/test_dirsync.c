/*
 * test_dirsync - dir_sync on a directory, on what is none, on nothing:
 * the message names the step and the path, as the queue and Maildir
 * delivery log it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "lib/dirsync.h"
#include "scratch.h"

static char dir[256];

static void
setup(void)
{
	scratch_make(dir, sizeof(dir), "dirsync");
}

static void
teardown(void)
{
	scratch_remove(dir);
}

TestSuite(dir_sync, .init = setup, .fini = teardown);

Test(dir_sync, a_directory_is_synced)
{
	char err[256] = "untouched";
	char sub[512];

	snprintf(sub, sizeof(sub), "%s/new", dir);
	cr_assert_eq(mkdir(sub, 0700), 0);
	cr_assert_eq(dir_sync(sub, err, sizeof(err)), 0);
	cr_assert_str_eq(err, "untouched");
}

Test(dir_sync, a_missing_directory_is_named)
{
	char err[256], path[512], want[600];

	snprintf(path, sizeof(path), "%s/gone", dir);
	cr_assert_eq(dir_sync(path, err, sizeof(err)), -1);
	cr_assert_eq(errno, ENOENT);
	snprintf(want, sizeof(want), "open %s: %s", path, strerror(ENOENT));
	cr_assert_str_eq(err, want);
}

Test(dir_sync, a_file_is_no_directory)
{
	char err[256], path[512], want[600];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/file", dir);
	cr_assert_not_null(fp = fopen(path, "w"));
	fclose(fp);
	cr_assert_eq(dir_sync(path, err, sizeof(err)), -1);
	cr_assert_eq(errno, ENOTDIR);
	snprintf(want, sizeof(want), "open %s: %s", path, strerror(ENOTDIR));
	cr_assert_str_eq(err, want);
}

Test(dir_sync, a_long_message_is_cut_not_overrun)
{
	char err[16];

	memset(err, 'x', sizeof(err));
	cr_assert_eq(dir_sync("/nonexistent/sallyport/dirsync", err, 8), -1);
	cr_assert_eq(strlen(err), 7);
	cr_assert_eq(err[8], 'x');
}
