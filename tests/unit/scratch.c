/*
 * scratch - a throwaway directory under /tmp for the tests of one suite.
 */
#define _XOPEN_SOURCE 700
#include <criterion/criterion.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scratch.h"

void
scratch_make(char *dir, size_t len, const char *what)
{
	snprintf(dir, len, "/tmp/sallyport-test-%s.XXXXXX", what);
	cr_assert_not_null(mkdtemp(dir), "mkdtemp %s", dir);
}

void
scratch_file(char *path, size_t len, const char *what, const char *text)
{
	int fd;

	snprintf(path, len, "/tmp/sallyport-test-%s.XXXXXX", what);
	cr_assert_geq(fd = mkstemp(path), 0, "mkstemp %s", path);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

unsigned
scratch_count(const char *dir, const char *sub)
{
	char path[1024];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	cr_assert_not_null(d = opendir(path), "opendir %s", path);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
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
