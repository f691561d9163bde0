/*
 * scratch - a throwaway directory under /tmp for the tests of one suite.
 */
#ifndef SALLYPORT_TEST_SCRATCH_H
#define SALLYPORT_TEST_SCRATCH_H

#include <stddef.h>

/* Make /tmp/sallyport-test-WHAT.XXXXXX into dir (len bytes); the test
 * fails if it cannot. */
void	scratch_make(char *dir, size_t len, const char *what);
/* Names in dir/sub, "." and ".." and other dot files left out. */
unsigned	scratch_count(const char *dir, const char *sub);
/* Write text to a new /tmp/sallyport-test-WHAT.XXXXXX, its name into
 * path (len bytes); the test fails if it cannot. */
void	scratch_file(char *path, size_t len, const char *what,
	    const char *text);
/* Remove it and everything in it; the test fails if that does not work. */
void	scratch_remove(const char *dir);

#endif
