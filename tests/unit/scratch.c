/*
 * scratch - a throwaway directory under /tmp for the tests of one suite.
 */
#define _XOPEN_SOURCE 700
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "scratch.h"

void
scratch_make(char *dir, size_t len, const char *what)
{
	snprintf(dir, len, "/tmp/sallyport-test-%s.XXXXXX", what);
	cr_assert_not_null(mkdtemp(dir), "mkdtemp %s", dir);
}

static int
remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

void
scratch_remove(const char *dir)
{
	cr_assert_eq(nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0,
	    "remove %s", dir);
}
