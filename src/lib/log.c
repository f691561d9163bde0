/*
 * log - one line per event, to stderr in the foreground, syslog otherwise.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

static int log_stderr = 1;
static int log_quiet;
static const char *log_ident = "sallyport";

void
log_open(const char *ident, int to_stderr)
{
	log_ident = ident;
	log_stderr = to_stderr;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_quiet(int quiet)
{
	log_quiet = quiet;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	static const char *const tag[] = { "error: ", "warning: ", "", "debug: " };
	char line[2048];
	va_list ap;

	if (log_quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_stderr) {
		char stamp[32], out[sizeof(line) + 128];
		time_t now = time(NULL);
		struct tm tm;
		size_t len, off = 0;
		int n;

		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S",
		    localtime_r(&now, &tm));
		/* One write(2) of the whole line, without stdio's lock:
		 * threads that log at once (the runner's deliveries) do not
		 * queue behind each other's system call, and their lines
		 * are not mixed. */
		n = snprintf(out, sizeof(out) - 1, "%s %s: %s%s", stamp,
		    log_ident, tag[level], line);
		if (n < 0)
			return;
		len = (size_t)n < sizeof(out) - 1 ? (size_t)n : sizeof(out) - 2;
		out[len++] = '\n';
		while (off < len) {
			ssize_t w = write(STDERR_FILENO, out + off, len - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				/* Cut short: the next line starts on its
				 * own, at least. */
				if (off > 0)
					(void)!write(STDERR_FILENO, "\n", 1);
				break;
			}
			off += (size_t)w;
		}
	} else {
		syslog(prio[level], "%s%s", tag[level], line);
	}
}

/* log_escape - client bytes made safe for one log line */
const char *
log_escape(char *out, size_t outlen, const char *in, size_t inlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (outlen == 0)
		return out;
	for (i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];
		char tmp[4];
		size_t n = 0;

		if (c == '\r') {
			tmp[n++] = '\\'; tmp[n++] = 'r';
		} else if (c == '\n') {
			tmp[n++] = '\\'; tmp[n++] = 'n';
		} else if (c == '\\') {
			tmp[n++] = '\\'; tmp[n++] = '\\';
		} else if (c < 0x20 || c == 0x7f) {
			tmp[n++] = '\\'; tmp[n++] = 'x';
			tmp[n++] = hex[c >> 4]; tmp[n++] = hex[c & 15];
		} else {
			tmp[n++] = (char)c;
		}
		if (o + n + 4 > outlen) {	/* keep room for "..." */
			if (outlen >= 4) {
				memcpy(out + (o < outlen - 4 ? o : outlen - 4),
				    "...", 3);
				o = (o < outlen - 4 ? o : outlen - 4) + 3;
			}
			break;
		}
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o < outlen ? o : outlen - 1] = '\0';
	return out;
}
