/*
 * config_gen - a child's side of the configuration generations: the
 * master's requests read, the file's digest compared, the answer sent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conf/config_gen.h"

unsigned long
gen_requested(int fd, bool *eof, char digest[CONFIG_DIGEST_HEX])
{
	char msg[GEN_MSG], *end;
	unsigned long newest = 0, n;
	ssize_t len;

	*eof = false;
	digest[0] = '\0';
	for (;;) {
		len = recv(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
		if (len == -1 && errno == EINTR)
			continue;
		if (len == -1)
			break;
		if (len == 0) {
			*eof = true;
			break;
		}
		msg[len] = '\0';
		if (strncmp(msg, "reload ", 7) != 0 ||
		    (n = strtoul(msg + 7, &end, 10)) <= newest)
			continue;
		newest = n;
		snprintf(digest, CONFIG_DIGEST_HEX, "%s",
		    *end == ' ' ? end + 1 : "");
	}
	return newest;
}

bool
gen_same_file(const char *want, const struct config *cfg, char *why,
    size_t whylen)
{
	if (want[0] == '\0' || strcmp(want, cfg->digest) == 0)
		return true;
	snprintf(why, whylen, "configuration file changed since the master "
	    "read it; send SIGHUP again");
	return false;
}

void
gen_answer(int fd, unsigned long n, const char *why)
{
	char msg[GEN_MSG];
	int len;

	if (fd == -1 || n == 0)
		return;
	if (why)
		len = snprintf(msg, sizeof(msg), "%lu refused: %s", n, why);
	else
		len = snprintf(msg, sizeof(msg), "%lu ok", n);
	if (len < 0)
		return;
	if ((size_t)len >= sizeof(msg))
		len = sizeof(msg) - 1;
	/* The master gone: nobody to tell. */
	(void)!send(fd, msg, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
}
