/*
 * sts_cache - MTA-STS policies kept on disk across restarts (RFC 8461
 * 5.1: a policy is cached for max_age), one file per domain under
 * queue_dir/mta-sts/:
 *
 *	id: 20160831085700Z		(the TXT record's id it came with)
 *	fetched: 1764650000		(time(3) of the fetch)
 *	version: STSv1			(the policy, as mtasts_policy_format
 *	mode: enforce			 writes it)
 *	mx: mail.example.com
 *	max_age: 604800
 *
 * The whole file reads as a policy (id and fetched are keys a policy
 * parser ignores), so the policy parser reads it back. A file is
 * replaced whole: written to a temporary name, fsync'd, renamed, and
 * the directory synced, so a crash leaves the old policy or the new.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "deliver/sts.h"
#include "lib/dirsync.h"

#define STS_CACHE_DIR	"mta-sts"
#define STS_CACHE_MAX	(MTASTS_MX_MAX * (MTASTS_NAME_MAX + 8) + 256)

/* cache_field - the value of "key: " at a line's start, or NULL */
static const char *
cache_field(const char *text, const char *key)
{
	size_t	 kl = strlen(key);
	const char *l;

	for (l = text; l != NULL && *l != '\0'; l = strchr(l, '\n'),
	    l = l != NULL ? l + 1 : NULL)
		if (strncmp(l, key, kl) == 0 && l[kl] == ':' && l[kl + 1] == ' ')
			return l + kl + 2;
	return NULL;
}

int
sts_cache_read(const struct config *cfg, const char *domain,
    struct sts_cached *out)
{
	char		 path[4096], *text;
	const char	*id, *at;
	ssize_t		 got;
	size_t		 len = 0, n;
	int		 fd, rc = -1;

	memset(out, 0, sizeof(*out));
	if ((size_t)snprintf(path, sizeof(path), "%s/%s/%s", cfg->queue_dir,
	    STS_CACHE_DIR, domain) >= sizeof(path))
		return -1;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	if ((text = malloc(STS_CACHE_MAX + 1)) == NULL)
		goto done;
	while (len < STS_CACHE_MAX && (got = read(fd, text + len,
	    STS_CACHE_MAX - len)) > 0)
		len += (size_t)got;
	text[len] = '\0';
	if (mtasts_policy_parse(text, len, &out->policy, NULL, 0) == -1 ||
	    (id = cache_field(text, "id")) == NULL ||
	    (at = cache_field(text, "fetched")) == NULL)
		goto done;
	n = strcspn(id, "\n");
	if (n == 0 || n > MTASTS_ID_MAX)
		goto done;
	memcpy(out->id, id, n);
	out->id[n] = '\0';
	out->fetched = (time_t)strtoll(at, NULL, 10);
	rc = out->fetched > 0 ? 0 : -1;
done:
	free(text);
	close(fd);
	return rc;
}

int
sts_cache_write(const struct config *cfg, const char *domain,
    const struct sts_cached *c, char *why, size_t whylen)
{
	char	 dir[4096], path[4200], tmp[4300], *text;
	int	 fd = -1, n, head, rc = -1;

	snprintf(why, whylen, "out of memory");
	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", cfg->queue_dir,
	    STS_CACHE_DIR) >= sizeof(dir) || (text = malloc(STS_CACHE_MAX))
	    == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir, domain);
	snprintf(tmp, sizeof(tmp), "%s/.%s.%ld", dir, domain, (long)getpid());
	head = snprintf(text, STS_CACHE_MAX, "id: %s\nfetched: %lld\n", c->id,
	    (long long)c->fetched);
	if ((n = mtasts_policy_format(&c->policy, text + head,
	    STS_CACHE_MAX - (size_t)head)) < 0) {
		snprintf(why, whylen, "policy too long");
		goto done;
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(why, whylen, "mkdir %s: %s", dir, strerror(errno));
		goto done;
	}
	/* One thread per domain writes (sts.c's lock), so the process id
	 * makes the temporary name unique. */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1 ||
	    write(fd, text, (size_t)(head + n)) != head + n ||
	    fsync(fd) == -1) {
		snprintf(why, whylen, "%s: %s", tmp, strerror(errno));
		goto done;
	}
	n = close(fd);
	fd = -1;
	if (n == -1 || rename(tmp, path) == -1) {
		snprintf(why, whylen, "rename %s: %s", path, strerror(errno));
		goto done;
	}
	if (dir_sync(dir, why, whylen) == -1)
		goto done;
	rc = 0;
done:
	if (fd != -1)
		close(fd);
	if (rc == -1)
		unlink(tmp);
	free(text);
	return rc;
}
