/*
 * mapfile - the reader shared by the files that map a key to targets
 * (the aliases file, the recipient table): one entry per line, a line
 * starting with a blank continues the entry above it, blank lines and
 * `#` lines are ignored, and every mistake is one "file:line: message"
 * line collected for the caller, which logs it.
 */
#ifndef SALLYPORT_MAPFILE_H
#define SALLYPORT_MAPFILE_H

#include <stdbool.h>

#include "lib/buf.h"

#define MAPFILE_ENTRY_MAX	(64 * 1024)	/* an entry with its
						 * continuation lines */
#define MAPFILE_ERRORS_MAX	100		/* then reading stops */

struct mapfile {
	const char	*path;
	unsigned	 lineno;
	struct buf	 errors;		/* "file:line: message\n"... */
	unsigned	 nerrors;
	bool		 nomem;
	/* One whole entry, continuation lines joined with a blank, and
	 * the line it starts on. */
	void		(*entry)(struct mapfile *, char *text, unsigned line);
};

void	mapfile_init(struct mapfile *, const char *path,
	    void (*entry)(struct mapfile *, char *, unsigned));
/* One message; line 0 is about the whole file. */
void	mapfile_error(struct mapfile *, unsigned line, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Open path and hand every entry to ->entry. */
void	mapfile_read(struct mapfile *);
/* The messages (malloc'd, the caller frees them), or NULL when there
 * were none; the buffer is released either way. */
char	*mapfile_errors(struct mapfile *);

#endif
