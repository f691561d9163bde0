/*
 * qfilter - the selection of `sallyport --queue list` (and of hold,
 * release and requeue with `all`): the sender, any recipient, the
 * arrival's age and the entry's state. Every condition given must hold.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* strcasestr, FNM_CASEFOLD */
#endif
#include <fnmatch.h>
#include <stdint.h>
#include <string.h>

#include "queue/qfilter.h"

#define DURATION_MAX	(100L * 365 * 86400)	/* a century, in seconds */

void
qfilter_init(struct qfilter *f)
{
	memset(f, 0, sizeof(*f));
	f->older_than = f->newer_than = -1;
}

bool
qfilter_any(const struct qfilter *f)
{
	return f->sender || f->recipient || f->older_than != -1 ||
	    f->newer_than != -1 || f->states != 0;
}

int
qfilter_duration(const char *s, time_t *out)
{
	static const struct {
		char	 unit;
		long	 secs;
	} units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
		{ 'w', 7 * 86400 },
	};
	long v = 0, mul = 1;
	size_t i, n = 0;

	for (; s[n] >= '0' && s[n] <= '9'; n++) {
		if (v > DURATION_MAX)
			return -1;
		v = v * 10 + (s[n] - '0');
	}
	if (n == 0)
		return -1;
	if (s[n] != '\0') {
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (s[n] == units[i].unit)
				mul = units[i].secs;
		if (mul == 1 && s[n] != 's')
			return -1;
		if (s[n + 1] != '\0')
			return -1;
	}
	if (v > DURATION_MAX / mul)
		return -1;
	*out = (time_t)(v * mul);
	return 0;
}

int
qfilter_states(const char *s, unsigned *bits)
{
	static const struct {
		const char	*name;
		unsigned	 bit;
	} names[] = {
		{ "active", QFILTER_ACTIVE },
		{ "deferred", QFILTER_DEFERRED },
		{ "held", QFILTER_HELD },
	};
	size_t i, n;

	*bits = 0;
	for (;;) {
		n = strcspn(s, ",");
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == n &&
			    strncmp(s, names[i].name, n) == 0)
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			return -1;
		*bits |= names[i].bit;
		if (s[n] == '\0')
			return 0;
		s += n + 1;
	}
}

static unsigned
state_of(const struct qentry *e, time_t now)
{
	if (e->held)
		return QFILTER_HELD;
	return e->attempts > 0 && e->next_attempt > now ? QFILTER_DEFERRED :
	    QFILTER_ACTIVE;
}

const char *
qfilter_state_name(const struct qentry *e, time_t now)
{
	switch (state_of(e, now)) {
	case QFILTER_HELD:
		return "held";
	case QFILTER_DEFERRED:
		return "deferred";
	default:
		return "active";
	}
}

bool
qfilter_pattern(const char *pattern, const char *address)
{
	if (strcmp(pattern, "<>") == 0)
		return address[0] == '\0';
	if (strpbrk(pattern, "*?[") != NULL)
		return fnmatch(pattern, address, FNM_CASEFOLD) == 0;
	return strcasestr(address, pattern) != NULL;
}

bool
qfilter_match(const struct qfilter *f, const struct qentry *e, time_t now)
{
	time_t age = now - e->arrival;
	size_t i;

	if (f->sender && !qfilter_pattern(f->sender, e->sender ? e->sender :
	    ""))
		return false;
	if (f->recipient) {
		for (i = 0; i < e->nrcpts; i++)
			if (qfilter_pattern(f->recipient, e->rcpts[i]))
				break;
		if (i == e->nrcpts)
			return false;
	}
	if (f->older_than != -1 && age < f->older_than)
		return false;
	if (f->newer_than != -1 && age >= f->newer_than)
		return false;
	return f->states == 0 || (f->states & state_of(e, now)) != 0;
}
