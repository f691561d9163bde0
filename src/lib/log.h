/*
 * log - one line per event, to stderr (foreground) or syslog (mail facility).
 */
#ifndef SALLYPORT_LOG_H
#define SALLYPORT_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void	log_open(const char *ident, int to_stderr);
void	log_set_quiet(int);		/* unit tests: drop everything */
/* From now on this process's lines are written by a thread of its own,
 * through a ring of size octets (at least 64 KiB; 0: not started), and
 * the rest at exit(3): 0, or -1 with errno (lines written as before).
 * A child forked afterwards writes its own lines itself. */
int	log_async_start(size_t size);
/* The ring written out, the writer gone (also at exit(3)). */
void	log_async_stop(void);
void	log_msg(enum log_level, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
#define log_err(...)	log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* Copy client bytes into out as printable text (\r, \n, \xNN), always
 * NUL-terminated, truncated with "..." if out is too small. */
const char *log_escape(char *out, size_t outlen, const char *in, size_t inlen);

#endif
