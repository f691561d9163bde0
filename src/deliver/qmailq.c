/*
 * qmailq - the hand-off to qmail-queue(8): fork and exec the program
 * with the message on a pipe at descriptor 0 and the envelope on a pipe
 * at descriptor 1, write the whole message (CRLF as LF: qmail stores LF
 * lines) and close it, then the envelope, then wait for the exit code.
 * Every write and the wait share one deadline; past it the child is
 * killed and the attempt is temporary. A child that stops reading gives
 * EPIPE (SIGPIPE is ignored by the queue runner and blocked here in the
 * writing thread), and its exit code still decides.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deliver/qmailq.h"
#include "lib/deadline.h"

/* locals_file - is `domain` a line of `path`, trailing blanks stripped
 * as qmail's control files are read? -1 when it cannot be read. */
static int
locals_file(const char *path, const char *domain)
{
	char line[512];
	FILE *fp;
	size_t n;
	int found = 0;

	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	while (!found && fgets(line, sizeof(line), fp) != NULL) {
		n = strcspn(line, "\n");
		while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' ||
		    line[n - 1] == '\r'))
			n--;
		line[n] = '\0';
		found = strcasecmp(line, domain) == 0;
	}
	fclose(fp);
	return found;
}

int
qmailq_locals_has(const char *program, const char *domain, char *file,
    size_t filelen)
{
	const char *slash = strrchr(program, '/'), *bin;
	int rc;

	/* QMAIL/bin/qmail-queue: QMAIL is two levels up */
	for (bin = slash; bin != NULL && bin > program && bin[-1] != '/';
	    bin--)
		;
	if (slash == NULL || bin == NULL || bin == program ||
	    (size_t)(slash - bin) != 3 || strncmp(bin, "bin", 3) != 0)
		return -1;
	snprintf(file, filelen, "%.*scontrol/locals", (int)(bin - program),
	    program);
	if ((rc = locals_file(file, domain)) != -1)
		return rc;
	snprintf(file, filelen, "%.*scontrol/me", (int)(bin - program),
	    program);
	return locals_file(file, domain);
}

#define QMAILQ_CHUNK	65536
#define QMAILQ_EXEC_FAIL 120	/* the child's exit code when exec fails */

/* The exit codes of qmail-queue(8) worth a word in the log and DSN. */
static const struct {
	int		 code;
	const char	*meaning;
} qmailq_codes[] = {
	{ 11, "address too long" },
	{ 31, "mail server permanently refuses the message" },
	{ 51, "out of memory" },
	{ 52, "timeout" },
	{ 53, "write error or disk full" },
	{ 54, "unable to read the message or envelope" },
	{ 55, "unable to read a configuration file" },
	{ 56, "network connection problem" },
	{ 61, "problem with the qmail home directory" },
	{ 62, "problem with the queue directory" },
	{ 63, "problem with queue/pid" },
	{ 64, "problem with queue/mess" },
	{ 65, "problem with queue/intd" },
	{ 66, "problem with queue/todo" },
	{ 71, "mail server temporarily refuses the message" },
	{ 72, "connection to mail server timed out" },
	{ 73, "connection to mail server rejected" },
	{ 74, "communication with mail server failed" },
	{ 75, "temporary failure" },
	{ 81, "internal bug" },
	{ 91, "envelope format error" },
	{ QMAILQ_EXEC_FAIL, "cannot run the program" },
};

static const char *
qmailq_meaning(int code)
{
	size_t i;

	for (i = 0; i < sizeof(qmailq_codes) / sizeof(qmailq_codes[0]); i++)
		if (qmailq_codes[i].code == code)
			return qmailq_codes[i].meaning;
	return code >= 11 && code <= 40 ? "permanent error" :
	    "temporary error";
}

/* qmailq_write - all of buf to a non-blocking pipe before deadline;
 * -1 with errno (EPIPE: the child closed it, ETIMEDOUT) */
static int
qmailq_write(int fd, const char *buf, size_t len,
    const struct timespec *deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	ssize_t w;

	while (len > 0) {
		if ((w = write(fd, buf, len)) > 0) {
			buf += w;
			len -= (size_t)w;
			continue;
		}
		if (w == -1 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (deadline_left(deadline) == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (poll(&pfd, 1, deadline_left(deadline)) == -1 &&
		    errno != EINTR)
			return -1;
	}
	return 0;
}

/* qmailq_message - body_len bytes of body_fd, each CRLF as LF; -2 when
 * the queue file cannot be read, -1 (errno) when the pipe fails */
static int
qmailq_message(int out, int body_fd, off_t len,
    const struct timespec *deadline)
{
	/* conv: one more for a CR held back from the chunk before */
	char buf[QMAILQ_CHUNK], conv[QMAILQ_CHUNK + 1];
	bool cr = false;	/* a CR ended the last chunk */
	ssize_t got, i;
	size_t n;

	while (len > 0) {
		got = read(body_fd, buf, len < (off_t)sizeof(buf) ?
		    (size_t)len : sizeof(buf));
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0)
			return -2;
		len -= got;
		n = 0;
		for (i = 0; i < got; i++) {
			if (cr && buf[i] != '\n')
				conv[n++] = '\r';	/* a lone CR stays */
			cr = buf[i] == '\r';
			if (!cr)
				conv[n++] = buf[i];
		}
		if (qmailq_write(out, conv, n, deadline) == -1)
			return -1;
	}
	return cr ? qmailq_write(out, "\r", 1, deadline) : 0;
}

/* qmailq_envelope - "F" sender NUL, "T" rcpt NUL each, NUL; NULL if
 * out of memory */
static char *
qmailq_envelope(const char *sender, char *const *rcpts, size_t n,
    size_t *len)
{
	size_t i, size = strlen(sender) + 3, at;
	char *env;

	for (i = 0; i < n; i++)
		size += strlen(rcpts[i]) + 2;
	if ((env = malloc(size)) == NULL)
		return NULL;
	at = (size_t)sprintf(env, "F%s", sender) + 1;
	for (i = 0; i < n; i++)
		at += (size_t)sprintf(env + at, "T%s", rcpts[i]) + 1;
	env[at++] = '\0';
	*len = at;
	return env;
}

/* qmailq_pipe - a close-on-exec pipe whose ends are not 0, 1 or 2 (the
 * child's dup2 onto 0 and 1 must not clobber the other one) */
static int
qmailq_pipe(int p[2])
{
	int k, fd;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	for (k = 0; k < 2; k++) {
		if (p[k] > 2)
			continue;
		if ((fd = fcntl(p[k], F_DUPFD_CLOEXEC, 3)) == -1) {
			close(p[0]);
			close(p[1]);
			return -1;
		}
		close(p[k]);
		p[k] = fd;
	}
	return 0;
}

/* qmailq_close_from - close every descriptor from `low` up; in the child
 * of a threaded process, so system calls only */
static void
qmailq_close_from(int low)
{
	struct rlimit rl;
	long fd, max = 65536;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)low, ~0U, 0) == 0)
		return;
#endif
	/* An older kernel: each possible descriptor. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		max = (long)rl.rlim_cur;
	for (fd = low; fd < max; fd++)
		close((int)fd);
}

/* qmailq_spawn - the child, with msg[0] as 0 and env[0] as 1 */
static pid_t
qmailq_spawn(const char *program, const int msg[2], const int env[2])
{
	char *const argv[] = { (char *)program, NULL };
	struct sigaction dfl;
	sigset_t none;
	pid_t pid;

	if ((pid = fork()) != 0)
		return pid;
	/* The child of a threaded process: async-signal-safe calls only. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(msg[0], 0) == -1 || dup2(env[0], 1) == -1)
		_exit(QMAILQ_EXEC_FAIL);
	/* qmail-queue runs as another user: it gets its two pipes and
	 * stderr, nothing of ours, whether or not someone forgot
	 * close-on-exec (another thread's socket, a file being read). */
	qmailq_close_from(3);
	execv(program, argv);
	_exit(QMAILQ_EXEC_FAIL);
}

/* qmailq_reap - the child's wait status, killing it past deadline;
 * false if it had to be killed */
static bool
qmailq_reap(pid_t pid, const struct timespec *deadline, int *status)
{
	const struct timespec nap = { 0, 10 * 1000000 };
	pid_t w;

	while ((w = waitpid(pid, status, WNOHANG)) == 0 ||
	    (w == -1 && errno == EINTR)) {
		if (deadline_left(deadline) == 0) {
			kill(pid, SIGKILL);
			while (waitpid(pid, status, 0) == -1 && errno == EINTR)
				;
			return false;
		}
		nanosleep(&nap, NULL);
	}
	return true;
}

int
qmailq_hand_off(const char *program, const char *sender, char *const *rcpts,
    size_t n, int body_fd, off_t body_len, unsigned timeout, char *text,
    size_t textlen)
{
	struct timespec deadline;
	sigset_t pipe_set, old;
	char *env;
	size_t envlen;
	int msg[2], envp[2], status, rc, werr = 0, code;
	bool in_time;
	pid_t pid;

	if ((env = qmailq_envelope(sender, rcpts, n, &envlen)) == NULL) {
		snprintf(text, textlen, "451 4.3.0 out of memory");
		return 451;
	}
	if (qmailq_pipe(msg) == -1) {
		snprintf(text, textlen, "451 4.3.0 pipe: %s", strerror(errno));
		free(env);
		return 451;
	}
	if (qmailq_pipe(envp) == -1) {
		snprintf(text, textlen, "451 4.3.0 pipe: %s", strerror(errno));
		close(msg[0]);
		close(msg[1]);
		free(env);
		return 451;
	}
	deadline_in(&deadline, (unsigned long)timeout * 1000);
	pid = qmailq_spawn(program, msg, envp);
	close(msg[0]);
	close(envp[0]);
	if (pid == -1) {
		snprintf(text, textlen, "451 4.3.0 fork: %s", strerror(errno));
		close(msg[1]);
		close(envp[1]);
		free(env);
		return 451;
	}

	/* The message, then the envelope, each closed when written. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	fcntl(msg[1], F_SETFL, O_NONBLOCK);
	fcntl(envp[1], F_SETFL, O_NONBLOCK);
	rc = qmailq_message(msg[1], body_fd, body_len, &deadline);
	if (rc == -1)
		werr = errno;
	close(msg[1]);
	if (rc == 0 && qmailq_write(envp[1], env, envlen, &deadline) == -1) {
		rc = -1;
		werr = errno;
	}
	close(envp[1]);
	free(env);
	{
		/* Drop a SIGPIPE the writes raised before unblocking. */
		struct timespec zero = { 0, 0 };

		while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	if (rc == -2 || (rc == -1 && werr != EPIPE))
		deadline.tv_sec = 0;	/* our failure: stop the child now */
	in_time = qmailq_reap(pid, &deadline, &status);
	if (rc == -2) {
		snprintf(text, textlen, "451 4.3.0 cannot read the queue file");
		return 451;
	}
	if (!in_time || (rc == -1 && werr != EPIPE)) {
		snprintf(text, textlen, "451 4.4.2 qmail-queue: %s",
		    werr == ETIMEDOUT || !in_time ? "timed out" :
		    strerror(werr));
		return 451;
	}
	if (WIFSIGNALED(status)) {
		snprintf(text, textlen, "451 4.3.0 qmail-queue killed by "
		    "signal %d", WTERMSIG(status));
		return 451;
	}
	code = WEXITSTATUS(status);
	if (code == 0 && rc == -1) {
		/* Success without reading it all: not believed. */
		snprintf(text, textlen, "451 4.3.0 qmail-queue exit 0 before "
		    "reading the whole message");
		return 451;
	}
	if (code == 0) {
		snprintf(text, textlen, "250 2.0.0 handed to qmail-queue");
		return 250;
	}
	if (code >= 11 && code <= 40) {
		snprintf(text, textlen, "554 5.3.0 qmail-queue exit %d (%s)",
		    code, qmailq_meaning(code));
		return 554;
	}
	snprintf(text, textlen, "451 4.3.0 qmail-queue exit %d (%s)", code,
	    qmailq_meaning(code));
	return 451;
}
