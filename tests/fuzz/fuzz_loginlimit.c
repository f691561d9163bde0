/*
 * fuzz_loginlimit - the per-login counter file read back: whatever a
 * file under QUEUE_DIR/limits/ holds, a question is answered (go on or
 * limit reached), never more recipients are kept than the key allows,
 * and the file written back reads as the same counts.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/loginlimit.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char dir[64];

/* counter_file - the one login file in dir/limits, into path */
static void
counter_file(char *path, size_t len)
{
	char sub[128];
	DIR *d;
	struct dirent *de;

	snprintf(sub, sizeof(sub), "%s/limits", dir);
	if ((d = opendir(sub)) == NULL)
		abort();
	path[0] = '\0';
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			snprintf(path, len, "%s/%s", sub, de->d_name);
	closedir(d);
	if (path[0] == '\0')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const time_t now = 20000L * 86400;
	char path[512], err[512];
	unsigned n1, n2;
	FILE *fp;
	int r1, r2;

	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/fuzz_loginlimit.XXXXXX");
		if (mkdtemp(dir) == NULL)
			abort();
		if (loginlimit_ask(dir, "a", LOGINLIMIT_SENT, NULL, 5, 4, now,
		    &n1, err, sizeof(err)) != 0)
			abort();
	}
	counter_file(path, sizeof(path));
	if ((fp = fopen(path, "w")) == NULL)
		abort();
	fwrite(data, 1, size, fp);
	fclose(fp);
	r1 = loginlimit_ask(dir, "a", LOGINLIMIT_RCPT, "x@example.org", 5, 4,
	    now, &n1, err, sizeof(err));
	if (r1 == -1 || n1 > 4)
		abort();
	/* the same question again: the same answer, the same count */
	r2 = loginlimit_ask(dir, "a", LOGINLIMIT_RCPT, "x@example.org", 5, 4,
	    now, &n2, err, sizeof(err));
	if (r2 != r1 || n2 != n1)
		abort();
	if (loginlimit_ask(dir, "a", LOGINLIMIT_MAIL, NULL, 5, 4, now, &n1,
	    err, sizeof(err)) == -1)
		abort();
	return 0;
}
