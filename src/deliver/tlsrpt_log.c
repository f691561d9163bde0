/*
 * tlsrpt_log - a session's TLS-RPT line appended to its day's file.
 *
 * The file is opened by name for every line (O_APPEND), locked shared,
 * and checked to still be the file of that name: the report run takes
 * a day's file by renaming it under an exclusive lock, so a line is in
 * the file it takes or in the next one of that name, never lost
 * between them. One write(2) of a line shorter than TLSRPT_LINE_MAX:
 * threads and processes appending at once never mix their lines. What
 * a crash can leave is a line cut short (a full disk too), which the
 * report run skips.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deliver/tlsrpt_out.h"
#include "lib/idna.h"
#include "lib/log.h"

/* append - the line to dir/name: 0, or -1 with errno */
static int
append(const char *dir, const char *name, const char *line, size_t n)
{
	char path[4096];
	struct stat a, b;
	ssize_t w;
	int fd, tries;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (tries = 0; tries < 8; tries++) {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		/* the first line ever (another thread may make it too) */
		if (fd == -1 && errno == ENOENT && (mkdir(dir, 0700) == 0 ||
		    errno == EEXIST))
			continue;
		if (fd == -1)
			return -1;
		if (flock(fd, LOCK_SH) == -1 || fstat(fd, &a) == -1) {
			close(fd);
			return -1;
		}
		/* taken (renamed) since we opened it: the next one */
		if (lstat(path, &b) == -1 || a.st_ino != b.st_ino ||
		    a.st_dev != b.st_dev) {
			close(fd);
			continue;
		}
		w = write(fd, line, n);
		close(fd);
		if (w == (ssize_t)n)
			return 0;
		if (w >= 0)
			errno = ENOSPC;
		return -1;
	}
	errno = EAGAIN;
	return -1;
}

/* ldh - a host name of letters, digits, '-' and '.' */
static bool
ldh(const char *s)
{
	if (*s == '\0' || strlen(s) > TLSRPT_DOMAIN_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
			return false;
	return true;
}

void
tlsrpt_note(const struct config *cfg, struct tlsrpt_session *s)
{
	char domain[TLSRPT_DOMAIN_MAX + 1], line[TLSRPT_LINE_MAX], day[16];
	char dir[4096];
	const char *why;
	struct tm tm;
	size_t n;

	if (!cfg->tls_reporting || s->domain == NULL)
		return;
	/* The policy domain as DNS knows it: its record is looked up by
	 * that name. An address literal or a bad name has none. */
	if (idna_to_dns(s->domain, domain, sizeof(domain), &why) == -1 ||
	    !ldh(domain))
		return;
	s->domain = domain;
	if (s->when == 0)
		s->when = time(NULL);
	if (gmtime_r(&s->when, &tm) == NULL ||
	    strftime(day, sizeof(day), "%Y-%m-%d", &tm) == 0 ||
	    (n = tlsrpt_line_format(s, line, sizeof(line))) == 0)
		return;
	snprintf(dir, sizeof(dir), "%s/%s", cfg->queue_dir, TLSRPT_DIR);
	if (append(dir, day, line, n) == -1)
		log_warn("tlsrpt: cannot record a session with %s in %s/%s: %s",
		    domain, dir, day, strerror(errno));
}

void
tlsrpt_note_session(const struct config *cfg, const char *domain,
    enum tlsrpt_policy policy, const char *policy_mx,
    const char *const *pstrings, size_t npstrings, const char *mx_name,
    const struct smtp_client_tls *tls)
{
	struct tlsrpt_session s;
	size_t i;

	/* no TLS was tried (not connected, or TLS off): no TLS session */
	if (!tls->used && tls->result == TLSRPT_SUCCESS)
		return;
	memset(&s, 0, sizeof(s));
	s.domain = domain;
	s.policy = policy;
	s.mx_host = policy_mx;
	for (i = 0; i < npstrings && i < TLSRPT_PSTRINGS_MAX; i++)
		s.pstrings[s.npstrings++] = pstrings[i];
	s.result = tls->result;
	s.receiving_mx = mx_name;
	s.receiving_ip = tls->peer_ip;
	s.sending_ip = tls->local_ip;
	s.reason = tls->result == TLSRPT_SUCCESS ? NULL : tls->detail;
	tlsrpt_note(cfg, &s);
}
