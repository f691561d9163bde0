/*
 * import_sasldb - the accounts of cmd5checkpw's /etc/poppasswd into a
 * Cyrus sasldb, through saslpasswd2.
 *
 * poppasswd lines are "user:password[:more fields]" or "user password";
 * whichever of ':' and a blank comes first separates the two, so a
 * password may hold the other. Passwords there are in clear (CRAM-MD5
 * needs them so), and sasldb keeps them usable for PLAIN, LOGIN and
 * CRAM-MD5 alike. Each user goes into the realm of the imported
 * hostname: Cyrus looks a name without @ up in the server's own realm,
 * so users keep logging in with their bare qmail names.
 *
 * The password goes to saslpasswd2 on a pipe (-p), never on a command
 * line where ps(1) would show it.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "import/import_qmail.h"

#define SASLPASSWD2_FALLBACK	"/usr/sbin/saslpasswd2"

/* pw_user_ok - a name saslpasswd2 and a login will take as it is */
static bool
pw_user_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 255)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == '@' ||
		    *s == ':')
			return false;
	return true;
}

int
imp_poppasswd_read(struct imp *imp)
{
	struct imp_lines l;
	int		 rc;

	memset(&l, 0, sizeof(l));
	if ((rc = imp_lines_read(imp, imp->poppasswd, &l)) != 0) {
		if (rc == 1 && imp->poppasswd_given)
			return imp_fail(imp, "%s: no such file",
			    imp->poppasswd);
		if (rc == 1)
			imp_unmapped(imp, "%s: missing: no passwords imported, "
			    "no SMTP AUTH configured", imp->poppasswd);
		return rc == 1 ? 0 : -1;
	}
	for (size_t i = 0; i < l.n; i++) {
		char		*s = imp_trim(l.v[i]), *sep, *pw, *end;
		unsigned	 line = (unsigned)i + 1;
		struct imp_user	*t;

		if (*s == '\0' || *s == '#')
			continue;
		sep = s + strcspn(s, ": \t");
		if (*sep == '\0') {
			imp_fail(imp, "%s:%u: expected user:password or "
			    "user password", imp->poppasswd, line);
			goto fail;
		}
		pw = sep + 1;
		if (*sep == ':') {
			if ((end = strchr(pw, ':')) != NULL)
				*end = '\0';	/* extra fields */
		} else {
			while (*pw == ' ' || *pw == '\t')
				pw++;
		}
		*sep = '\0';
		if (!pw_user_ok(s)) {
			imp_fail(imp, "%s:%u: the user name must be a bare "
			    "login name (no blank, '@' or ':')",
			    imp->poppasswd, line);
			goto fail;
		}
		if (*pw == '\0') {
			imp_fail(imp, "%s:%u: user %s has an empty password",
			    imp->poppasswd, line, s);
			goto fail;
		}
		if ((t = reallocarray(imp->users, imp->nusers + 1,
		    sizeof(*t))) == NULL) {
			imp_fail(imp, "out of memory");
			goto fail;
		}
		imp->users = t;
		t = &imp->users[imp->nusers];
		t->name = strdup(s);
		t->password = strdup(pw);
		t->line = line;
		imp->nusers++;
		if (t->name == NULL || t->password == NULL) {
			imp_fail(imp, "out of memory");
			goto fail;
		}
	}
	imp_lines_free(&l);
	return 0;
fail:
	imp_lines_free(&l);
	return -1;
}

/* pw_run - saslpasswd2 for one user, the password on its stdin */
static int
pw_run(struct imp *imp, const char *path, const char *realm,
    const struct imp_user *u)
{
	int		 fd[2], status;
	pid_t		 pid;
	size_t		 len = strlen(u->password), off = 0;
	void		(*old)(int);

	if (pipe(fd) == -1)
		return imp_fail(imp, "pipe: %s", strerror(errno));
	if ((pid = fork()) == -1) {
		close(fd[0]);
		close(fd[1]);
		return imp_fail(imp, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		char *const argv[] = { "saslpasswd2", "-p", "-c", "-f",
		    (char *)path, "-u", (char *)realm, u->name, NULL };

		dup2(fd[0], 0);
		close(fd[0]);
		close(fd[1]);
		execvp(argv[0], argv);
		execv(SASLPASSWD2_FALLBACK, argv);
		_exit(127);
	}
	close(fd[0]);
	old = signal(SIGPIPE, SIG_IGN);
	while (off < len) {
		ssize_t n = write(fd[1], u->password + off, len - off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd[1]);
	signal(SIGPIPE, old);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return imp_fail(imp, "waitpid: %s", strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return imp_fail(imp, "saslpasswd2 not found (install "
		    "sasl2-bin)");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || off < len)
		return imp_fail(imp, "%s:%u: saslpasswd2 failed for user %s",
		    imp->poppasswd, u->line, u->name);
	return 0;
}

int
imp_sasldb_write(struct imp *imp, const char *path, const char *realm)
{
	for (size_t i = 0; i < imp->nusers; i++) {
		if (pw_run(imp, path, realm, &imp->users[i]) == -1)
			return -1;
	}
	return 0;
}
