/*
 * deadline - a point in time on the monotonic clock, and how long is
 * left until it (see deadline.h).
 */
#include <limits.h>
#include <time.h>

#include "lib/deadline.h"

void
deadline_in(struct timespec *d, unsigned long ms)
{
	clock_gettime(CLOCK_MONOTONIC, d);
	d->tv_sec += (time_t)(ms / 1000);
	d->tv_nsec += (long)(ms % 1000) * 1000000;
	if (d->tv_nsec >= 1000000000) {
		d->tv_sec++;
		d->tv_nsec -= 1000000000;
	}
}

int
deadline_left(const struct timespec *d)
{
	struct timespec	 now;
	long long	 ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(d->tv_sec - now.tv_sec) * 1000 +
	    (d->tv_nsec - now.tv_nsec) / 1000000;
	return ms <= 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
}
