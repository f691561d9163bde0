/*
 * config_gen - a child process's side of the configuration generations
 * (daemon/generation.h has the whole protocol): on its control socket
 * the master asks "reload N DIGEST", the child reads the file again and
 * answers "N ok" or "N refused: why". The queue runner and the workers
 * use it; the master's side is in the daemon.
 */
#ifndef SALLYPORT_CONFIG_GEN_H
#define SALLYPORT_CONFIG_GEN_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"

#define GEN_MSG		512	/* one control message, at most */

/* The newest generation asked for on fd (every message waiting is
 * read: one reload serves them all), 0 if none, and in digest the digest
 * of the file the master read it from ("" if not said); *eof when the
 * master's end is closed. */
unsigned long gen_requested(int fd, bool *eof,
	    char digest[CONFIG_DIGEST_HEX]);
/* Is cfg, just read from the file, what the master read as that
 * generation (want, from gen_requested)? If not, false with why: the file
 * changed in between, and the generation must be refused. */
bool	gen_same_file(const char *want, const struct config *cfg, char *why,
	    size_t whylen);
/* Answer: serving n (why == NULL), or refused n for why. */
void	gen_answer(int fd, unsigned long n, const char *why);

#endif
