/*
 * test_deadline - deadlines on the monotonic clock: set from now, read
 * back as the milliseconds poll() takes. Every check orders clock
 * readings; none depends on how fast the machine is.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <time.h>

#include "lib/deadline.h"

static long long
ns_of(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* The deadline lies `ms` after a clock reading taken before the call
 * and no later than `ms` after one taken after it, normalized. */
Test(deadline, in_adds_milliseconds)
{
	static const unsigned long cases[] = { 0, 1, 999, 1000, 1001, 1500,
	    59999, 60000, 3600000, 86400001 };
	struct timespec before, d, after;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		clock_gettime(CLOCK_MONOTONIC, &before);
		deadline_in(&d, cases[i]);
		clock_gettime(CLOCK_MONOTONIC, &after);
		cr_assert(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L,
		    "%lu ms: tv_nsec %ld", cases[i], d.tv_nsec);
		cr_assert(ns_of(&d) >= ns_of(&before) +
		    (long long)cases[i] * 1000000LL, "%lu ms", cases[i]);
		cr_assert(ns_of(&d) <= ns_of(&after) +
		    (long long)cases[i] * 1000000LL, "%lu ms", cases[i]);
	}
}

Test(deadline, past_is_zero)
{
	struct timespec d;

	deadline_in(&d, 0);
	cr_assert_eq(deadline_left(&d), 0);
	clock_gettime(CLOCK_MONOTONIC, &d);
	d.tv_sec -= 5;
	cr_assert_eq(deadline_left(&d), 0);
	d.tv_sec = 0;
	d.tv_nsec = 0;
	cr_assert_eq(deadline_left(&d), 0);
}

Test(deadline, future_is_at_most_its_length)
{
	struct timespec d;
	int left;

	deadline_in(&d, 3600000);
	left = deadline_left(&d);
	cr_assert(left > 0 && left <= 3600000, "left %d", left);
}

/* More than poll() can take: INT_MAX, never a negative wrap. */
Test(deadline, far_is_capped)
{
	struct timespec d;

	deadline_in(&d, 30UL * 24 * 3600 * 1000);
	cr_assert_eq(deadline_left(&d), INT_MAX);
}
