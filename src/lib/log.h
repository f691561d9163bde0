/*
 * log - one line per event, to stderr (foreground) or syslog (mail facility).
 */
#ifndef SALLYPORT_LOG_H
#define SALLYPORT_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void	log_open(const char *ident, int to_stderr);
void	log_set_quiet(int);		/* unit tests: drop everything */
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
