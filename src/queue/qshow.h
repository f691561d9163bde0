/*
 * qshow - how `sallyport --queue` prints entries: the list's blocks and
 * JSON objects, and `show`'s whole entry (envelope, recipients, the
 * state file's history, the message's header fields). Every byte that
 * came from elsewhere is escaped.
 */
#ifndef SALLYPORT_QSHOW_H
#define SALLYPORT_QSHOW_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "queue/qentry.h"

#define QSHOW_HEADER_MAX	(64 * 1024)	/* header octets `show` reads */

/* s with control characters, backslashes, bytes that are not UTF-8 and
 * the C1 controls as \xNN (tabs too unless keep_tab) */
void	qshow_text(FILE *, const char *s, size_t n, bool keep_tab);
/* a JSON string (null for NULL): UTF-8 kept, invalid bytes U+FFFD */
void	qshow_json(FILE *, const char *s);
/* One entry of the list: a text block, or a JSON object (first: no
 * comma before it). */
void	qshow_list_text(const struct qentry *, time_t now);
void	qshow_list_json(const struct qentry *, bool first, time_t now);
/* `show`: e loaded with its history; its header read from queue_dir.
 * 0, or 1 when the header could not be read (said on stderr; the rest
 * is printed). */
int	qshow_entry(const char *queue_dir, const struct qentry *, bool json,
	    time_t now);

#endif
