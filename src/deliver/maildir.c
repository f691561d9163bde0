/*
 * maildir - local delivery into a Maildir, as qmail defined it: the
 * message is written under tmp/ with a name nobody else uses, made
 * durable, then renamed into new/, and new/ itself made durable. A
 * reader never sees half a message, and a crash leaves at most a file
 * in tmp/.
 *
 * The spool holds the message with CRLF line ends; a Maildir holds it
 * the Unix way, with LF, as Postfix and qmail write it and as IMAP
 * servers expect. An address extension picks an existing Maildir++
 * folder (".tag" beside new/ and cur/); none is ever created, so that
 * senders cannot fill a mailbox with folders. Runs on the delivery threads: nothing is shared but
 * the counter that keeps names unique.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "deliver/maildir.h"
#include "lib/dirsync.h"

#define MAILDIR_CHUNK	16384	/* body bytes read at a time */
#define MAILDIR_HOST	64	/* bytes of host name in a file name */
#define MAILDIR_TRIES	5	/* names tried before giving up */

#define MAILDIR_TEMP	(-1)
#define MAILDIR_PERM	(-2)

static atomic_uint maildir_counter;

/* maildir_name_ok - a user or domain may not walk out of the template */
static bool
maildir_name_ok(const char *s)
{
	if (s[0] == '\0' || s[0] == '.' || strchr(s, '/') != NULL)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* maildir_expand - the template with %u, %d and %% replaced */
static int
maildir_expand(const char *tpl, const char *user, const char *domain,
    char *out, size_t outlen, char *err, size_t errlen)
{
	size_t		 at = 0, n;
	const char	*add;

	for (const char *p = tpl; *p != '\0'; p++) {
		if (*p != '%') {
			add = p;
			n = 1;
		} else if (p[1] == 'u' || p[1] == 'd' || p[1] == '%') {
			add = p[1] == 'u' ? user : p[1] == 'd' ? domain : "%";
			n = strlen(add);
			p++;
		} else {
			snprintf(err, errlen, "maildir template %s: unknown "
			    "%%%c", tpl, p[1] != '\0' ? p[1] : ' ');
			return -1;
		}
		if (n >= outlen - at) {
			snprintf(err, errlen, "maildir path too long for %s",
			    tpl);
			return -1;
		}
		memcpy(out + at, add, n);
		at += n;
	}
	out[at] = '\0';
	if (at == 0) {
		snprintf(err, errlen, "maildir template is empty");
		return -1;
	}
	return 0;
}

/* maildir_mkdir - the directory, if missing, 0700 */
static int
maildir_mkdir(const char *path, char *err, size_t errlen)
{
	struct stat	 st;

	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	if (stat(path, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", path);
		return -1;
	}
	return 0;
}

/* maildir_create - every missing directory of the path, then tmp, new
 * and cur in it */
static int
maildir_create(char *path, char *err, size_t errlen)
{
	static const char *const sub[] = { "tmp", "new", "cur" };
	char	 d[PATH_MAX];

	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (maildir_mkdir(path, err, errlen) == -1) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	if (maildir_mkdir(path, err, errlen) == -1)
		return -1;
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		if ((size_t)snprintf(d, sizeof(d), "%s/%s", path, sub[i]) >=
		    sizeof(d)) {
			snprintf(err, errlen, "maildir path too long: %s",
			    path);
			return -1;
		}
		if (maildir_mkdir(d, err, errlen) == -1)
			return -1;
	}
	return 0;
}

/* maildir_unique - "time.MusecPpidQcount.host": unique among the
 * processes and threads of this host, '/' and ':' in the host name
 * written as octal escapes as the Maildir convention has them */
static void
maildir_unique(char *out, size_t outlen)
{
	struct timespec	 ts;
	char		 host[MAILDIR_HOST + 1] = "localhost", safe[4 *
			    MAILDIR_HOST + 1];
	size_t		 at = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (gethostname(host, sizeof(host) - 1) == -1)
		snprintf(host, sizeof(host), "localhost");
	host[MAILDIR_HOST] = '\0';
	for (const char *p = host; *p != '\0'; p++) {
		if (*p == '/')
			at += (size_t)snprintf(safe + at, 5, "\\057");
		else if (*p == ':')
			at += (size_t)snprintf(safe + at, 5, "\\072");
		else
			safe[at++] = *p;
	}
	safe[at] = '\0';
	snprintf(out, outlen, "%lld.M%ldP%ldQ%u.%s", (long long)ts.tv_sec,
	    ts.tv_nsec / 1000, (long)getpid(),
	    atomic_fetch_add(&maildir_counter, 1) + 1, safe);
}

/* maildir_write - all of buf */
static int
maildir_write(int fd, const char *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* maildir_copy - body_len bytes of the body, each CRLF made LF */
static int
maildir_copy(int out, int in, off_t len, char *err, size_t errlen)
{
	char	 buf[MAILDIR_CHUNK], conv[MAILDIR_CHUNK];
	bool	 cr = false;	/* a CR ended the last chunk */
	ssize_t	 got;
	size_t	 n;

	while (len > 0) {
		got = read(in, buf, len < (off_t)sizeof(buf) ? (size_t)len :
		    sizeof(buf));
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0) {
			snprintf(err, errlen, "reading the message: %s",
			    got == 0 ? "cut short" : strerror(errno));
			return -1;
		}
		len -= got;
		n = 0;
		for (ssize_t i = 0; i < got; i++) {
			if (cr && buf[i] != '\n')
				conv[n++] = '\r';	/* a lone CR stays */
			cr = buf[i] == '\r';
			if (!cr)
				conv[n++] = buf[i];
		}
		if (maildir_write(out, conv, n) == -1)
			goto fail;
	}
	if (cr && maildir_write(out, "\r", 1) == -1)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "write: %s", strerror(errno));
	return -1;
}

/* maildir_open_tmp - a new file under tmp/, a fresh name if one is
 * taken; the name goes to unique, the path to tmp */
static int
maildir_open_tmp(const char *dir, char *unique, size_t ulen, char *tmp,
    size_t tmplen, char *err, size_t errlen)
{
	int	 fd;

	for (int i = 0; i < MAILDIR_TRIES; i++) {
		maildir_unique(unique, ulen);
		if ((size_t)snprintf(tmp, tmplen, "%s/tmp/%s", dir, unique) >=
		    tmplen) {
			snprintf(err, errlen, "maildir path too long: %s",
			    dir);
			return -1;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd != -1)
			return fd;
		if (errno != EEXIST)
			break;
	}
	snprintf(err, errlen, "create %s: %s", tmp, strerror(errno));
	return -1;
}

/* maildir_folder - dir/.folder when folder may name one and it exists
 * as a directory; otherwise dir stays the inbox */
static void
maildir_folder(char *dir, size_t dirlen, const char *folder)
{
	char		 path[PATH_MAX];
	struct stat	 st;

	if (folder == NULL || !maildir_name_ok(folder) ||
	    strstr(folder, "..") != NULL)
		return;
	if ((size_t)snprintf(path, sizeof(path), "%s/.%s", dir, folder) >=
	    sizeof(path) || strlen(path) >= dirlen)
		return;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		memcpy(dir, path, strlen(path) + 1);
}

int
maildir_deliver(const char *template, const char *user, const char *domain,
    const char *folder, const char *return_path, int body_fd,
    off_t body_len, char *err, size_t errlen)
{
	char	 dir[PATH_MAX], unique[384], tmp[PATH_MAX], new[PATH_MAX];
	char	 head[2048];
	int	 fd, n;

	if (!maildir_name_ok(user) || !maildir_name_ok(domain)) {
		snprintf(err, errlen, "invalid mailbox name for a maildir: "
		    "%.64s@%.64s", user, domain);
		return MAILDIR_PERM;
	}
	if (strpbrk(return_path, "\r\n") != NULL) {
		snprintf(err, errlen, "line break in the return path");
		return MAILDIR_PERM;
	}
	if (maildir_expand(template, user, domain, dir, sizeof(dir), err,
	    errlen) == -1)
		return MAILDIR_TEMP;
	maildir_folder(dir, sizeof(dir), folder);
	if (maildir_create(dir, err, errlen) == -1)
		return MAILDIR_TEMP;
	n = snprintf(head, sizeof(head), "Return-Path: <%s>\n"
	    "Delivered-To: %s@%s\n", return_path, user, domain);
	if (n < 0 || (size_t)n >= sizeof(head)) {
		snprintf(err, errlen, "addresses too long for the headers");
		return MAILDIR_PERM;
	}
	if ((fd = maildir_open_tmp(dir, unique, sizeof(unique), tmp,
	    sizeof(tmp), err, errlen)) == -1)
		return MAILDIR_TEMP;
	if (maildir_write(fd, head, (size_t)n) == -1) {
		snprintf(err, errlen, "write %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (maildir_copy(fd, body_fd, body_len, err, errlen) == -1)
		goto fail;
	if (fsync(fd) == -1) {
		snprintf(err, errlen, "fsync %s: %s", tmp, strerror(errno));
		goto fail;
	}
	/* NFS and quotas may report a failed write only here. */
	if (close(fd) == -1) {
		fd = -1;
		snprintf(err, errlen, "close %s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	/* Neither path can be longer than tmp's, which fitted. */
	if ((size_t)snprintf(new, sizeof(new), "%s/new/%s", dir, unique) >=
	    sizeof(new)) {
		snprintf(err, errlen, "maildir path too long: %s", dir);
		goto fail;
	}
	if (rename(tmp, new) == -1) {
		snprintf(err, errlen, "rename %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if ((size_t)snprintf(new, sizeof(new), "%s/new", dir) >=
	    sizeof(new)) {
		snprintf(err, errlen, "maildir path too long: %s", dir);
		return MAILDIR_TEMP;
	}
	/* In new/ but perhaps not durable: a retry may deliver it twice,
	 * which beats losing it. */
	if (dir_sync(new, err, errlen) == -1)
		return MAILDIR_TEMP;
	return 0;
fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return MAILDIR_TEMP;
}
