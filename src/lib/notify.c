/*
 * notify - sd_notify(3)'s datagram, without libsystemd.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/notify.h"

static struct sockaddr_un addr;
static socklen_t addrlen;	/* 0: no manager */

void
notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t n;

	addrlen = 0;
	if (path == NULL || *path == '\0')
		return;
	n = strlen(path);
	/* "/path", or "@name" in the abstract namespace (Linux); no
	 * terminating NUL counts in an abstract address's length. */
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(addr.sun_path)) {
		log_warn("NOTIFY_SOCKET=%s: not a unix socket address we can "
		    "use; the service manager is not told of start-up and "
		    "reloads", path);
		unsetenv("NOTIFY_SOCKET");
		return;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, n);
	if (path[0] == '@')
		addr.sun_path[0] = '\0';
	addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	    (path[0] == '/'));
	unsetenv("NOTIFY_SOCKET");
}

void
notify_send(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int fd, n;

	if (addrlen == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	/* A socket per message: a few a day, and nothing to keep open
	 * (or to close) in the children. */
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL,
	    (struct sockaddr *)&addr, addrlen) == -1)
		log_debug("NOTIFY_SOCKET: %s", strerror(errno));
	close(fd);
}

void
notify_reloading(const char *status)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	notify_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=%s",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL, status);
}
