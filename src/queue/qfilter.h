/*
 * qfilter - which queue entries `sallyport --queue` acts on: by sender,
 * recipient, age and state (list, and hold/release/requeue all).
 */
#ifndef SALLYPORT_QFILTER_H
#define SALLYPORT_QFILTER_H

#include <stdbool.h>
#include <time.h>

#include "queue/qentry.h"

enum {
	QFILTER_ACTIVE = 1,	/* in incoming/, due now (never tried, or its
				 * retry time has come) */
	QFILTER_DEFERRED = 2,	/* in incoming/, tried, the next try later */
	QFILTER_HELD = 4,	/* in hold/ */
};

struct qfilter {
	const char	*sender;	/* pattern; NULL: any */
	const char	*recipient;	/* pattern on any recipient; NULL: any */
	time_t		 older_than;	/* arrived at least this long ago; -1 */
	time_t		 newer_than;	/* arrived less than this long ago; -1 */
	unsigned	 states;	/* QFILTER_*; 0: any */
};

/* Nothing chosen: every entry. */
void		 qfilter_init(struct qfilter *);
bool		 qfilter_any(const struct qfilter *);
/* "90" or "90s", "30m", "2h", "7d", "2w" into seconds: 0, or -1. */
int		 qfilter_duration(const char *, time_t *);
/* "held", "active,deferred" into QFILTER_* bits: 0, or -1. */
int		 qfilter_states(const char *, unsigned *);
/* The state of e now: "active", "deferred" or "held". */
const char	*qfilter_state_name(const struct qentry *, time_t now);
/* Does address match pattern? Case-insensitive throughout; a pattern
 * with *, ? or [ is a glob on the whole address (fnmatch), any other a
 * substring of it; "<>" is the null sender (address ""), alone. */
bool		 qfilter_pattern(const char *pattern, const char *address);
bool		 qfilter_match(const struct qfilter *, const struct qentry *,
		    time_t now);

#endif
