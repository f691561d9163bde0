/*
 * fake-qmail-queue - a stand-in for qmail-queue(8) in the integration
 * tests: "fake-qmail-queue OUTDIR" reads the message from descriptor 0
 * to its end into OUTDIR/message.N, then the envelope from descriptor 1
 * into OUTDIR/envelope.N (raw bytes, written under a temporary name and
 * renamed, so that it appearing means both are complete), N = 1, 2, ...
 * per invocation. Exits 91 (envelope format error) for bad framing,
 * else with the number in OUTDIR/exitcode if that file exists, else 0.
 * It also writes OUTDIR/fds.N: the descriptors it was started with, as
 * /proc/self/fd lists them, one number a line (a real qmail-queue runs
 * as another user and must inherit nothing but 0, 1 and 2).
 * Run without OUTDIR, as sallyport runs qmail-queue, it writes to
 * PROGRAM.out next to itself: a copy made set-user-ID to another user
 * writes there with that user's rights, as a real qmail-queue does in
 * its queue (the files' owner shows whose rights it had).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENVELOPE_MAX	(1024 * 1024)

/* Built with LeakSanitizer (the sanitizer run of the suite), a copy run
 * set-user-ID is not dumpable, so the leak check at exit cannot inspect
 * it and exits 1 in its place: this hook turns that check off. */
int	__lsan_is_turned_off(void);

int
__lsan_is_turned_off(void)
{
	return 1;
}

/* slurp - all of fd into a malloc'd buffer, or to out_fd when >= 0 */
static char *
slurp(int fd, int out_fd, size_t *len)
{
	char chunk[65536], *buf = NULL, *nb;
	size_t have = 0;
	ssize_t got;

	while ((got = read(fd, chunk, sizeof(chunk))) != 0) {
		if (got == -1) {
			if (errno == EINTR)
				continue;
			exit(54);
		}
		if (out_fd >= 0) {
			if (write(out_fd, chunk, (size_t)got) != got)
				exit(53);
		} else {
			if (have + (size_t)got > ENVELOPE_MAX ||
			    (nb = realloc(buf, have + (size_t)got)) == NULL)
				exit(51);
			buf = nb;
			memcpy(buf + have, chunk, (size_t)got);
		}
		have += (size_t)got;
	}
	*len = have;
	return buf;
}

/* framing_ok - "F" addr NUL, ("T" addr NUL)*, NUL, nothing after */
static bool
framing_ok(const char *env, size_t len)
{
	size_t at = 0;
	const char *nul;
	bool first = true;

	for (;;) {
		if (at >= len)
			return false;
		if (!first && env[at] == '\0')
			return at + 1 == len;
		if (env[at] != (first ? 'F' : 'T'))
			return false;
		if ((nul = memchr(env + at, '\0', len - at)) == NULL)
			return false;
		at = (size_t)(nul - env) + 1;
		first = false;
	}
}

/* open_fds - the descriptors open now (but the one reading the list),
 * one number a line, into out */
static void
open_fds(char *out, size_t outlen)
{
	struct dirent *de;
	size_t at = 0;
	DIR *d;

	out[0] = '\0';
	if ((d = opendir("/proc/self/fd")) == NULL) {
		snprintf(out, outlen, "cannot list: %s\n", strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL && at < outlen) {
		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
			continue;
		at += (size_t)snprintf(out + at, outlen - at, "%s\n",
		    de->d_name);
	}
	closedir(d);
}

int
main(int argc, char **argv)
{
	char path[4096], tmp[4096], outdir[2048], fds[4096];
	char *env;
	size_t len, n;
	int fd, code = 0;
	FILE *f;

	open_fds(fds, sizeof(fds));	/* before we open anything */
	if (argc == 1 && argv[0] != NULL)
		snprintf(outdir, sizeof(outdir), "%s.out", argv[0]);
	else if (argc == 2)
		snprintf(outdir, sizeof(outdir), "%s", argv[1]);
	else {
		fprintf(stderr, "usage: fake-qmail-queue [OUTDIR]\n");
		return 81;
	}
	for (n = 1;; n++) {
		snprintf(path, sizeof(path), "%s/message.%zu", outdir, n);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644)) != -1)
			break;
		if (errno != EEXIST)
			return 53;
	}
	slurp(0, fd, &len);
	if (close(fd) == -1)
		return 53;
	snprintf(path, sizeof(path), "%s/fds.%zu", outdir, n);
	if ((f = fopen(path, "w")) == NULL || fputs(fds, f) == EOF ||
	    fclose(f) == EOF)
		return 53;

	env = slurp(1, -1, &len);
	snprintf(tmp, sizeof(tmp), "%s/.envelope.%zu", outdir, n);
	snprintf(path, sizeof(path), "%s/envelope.%zu", outdir, n);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1 ||
	    (len > 0 && write(fd, env, len) != (ssize_t)len) ||
	    close(fd) == -1 || rename(tmp, path) == -1)
		return 53;
	if (!framing_ok(env, len))
		return 91;
	free(env);

	snprintf(path, sizeof(path), "%s/exitcode", outdir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%d", &code) != 1)
			code = 81;
		fclose(f);
	}
	return code;
}
