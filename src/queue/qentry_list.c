/*
 * qentry_list - the ids of the entries in incoming/ and hold/, sorted
 * (oldest first: an id begins with its time); names that are not ids
 * are not entries and are passed over.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/qentry.h"
#include "queue/qentry_file.h"

static int
cmp_ids(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* list - the ids in sub/, sorted */
static char **
list(const char *queue_dir, const char *sub, size_t *n)
{
	char **ids = NULL, **grown;
	struct dirent *de;
	size_t cap = 0;
	DIR *d;
	int saved, fd;

	*n = 0;
	if ((fd = qentry_openat(queue_dir, sub, NULL, 0, 0)) == -1)
		return NULL;
	if ((d = fdopendir(fd)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return NULL;
	}
	if ((ids = malloc(sizeof(*ids))) == NULL)
		goto fail;
	cap = 1;
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (!qentry_id_valid(de->d_name))
			continue;	/* not an entry: ours are all ids */
		if (*n == cap) {
			if ((grown = realloc(ids, 2 * cap * sizeof(*ids))) ==
			    NULL)
				goto fail;
			ids = grown;
			cap *= 2;
		}
		if ((ids[*n] = strdup(de->d_name)) == NULL)
			goto fail;
		(*n)++;
	}
	if (errno != 0)
		goto fail;
	closedir(d);
	qsort(ids, *n, sizeof(*ids), cmp_ids);
	return ids;
fail:
	saved = errno;
	closedir(d);
	qentry_list_free(ids, *n);
	*n = 0;
	errno = saved;
	return NULL;
}

char **
qentry_list(const char *queue_dir, size_t *n)
{
	return list(queue_dir, "incoming", n);
}

char **
qentry_list_held(const char *queue_dir, size_t *n)
{
	return list(queue_dir, "hold", n);
}

void
qentry_list_free(char **ids, size_t n)
{
	size_t i;

	if (ids == NULL)
		return;
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}
