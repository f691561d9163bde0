/*
 * fuzz_sendermap - the sender_login_map reader: any file is loaded or
 * refused with "path:line: " messages, never both; a loaded map answers
 * for every login/address pair its own lines name, the same way twice,
 * and the null lookups (an empty local part, no map) are refused.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/sendermap.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/fuzz_sendermap.XXXXXX", *errors = NULL;
	struct sender_map *m;
	const char *p, *end = (const char *)data + size;
	int fd = mkstemp(path);

	if (fd < 0)
		abort();
	if (write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	m = sender_map_load(path, &errors);
	unlink(path);
	if ((m == NULL) == (errors == NULL) && !(m == NULL && errors == NULL))
		abort();
	if (errors != NULL && strncmp(errors, path, strlen(path)) != 0)
		abort();
	free(errors);
	if (m == NULL)
		return 0;
	/* every "x@y" of the input, as a login and as an address */
	for (p = (const char *)data; p < end; p++) {
		char word[80], *at;
		size_t n = 0;

		while (p < end && n < sizeof(word) - 1 && *p > ' ' &&
		    *p != ',' && *p != ':')
			word[n++] = *p++;
		word[n] = '\0';
		if ((at = strchr(word, '@')) == NULL)
			continue;
		*at = '\0';
		if (sender_map_owns(m, word, word, at + 1) !=
		    sender_map_owns(m, word, word, at + 1))
			abort();
		if (sender_map_owns(m, word, "", at + 1))
			abort();
	}
	if (sender_map_owns(NULL, "a", "a", "b"))
		abort();
	sender_map_free(m);
	return 0;
}
