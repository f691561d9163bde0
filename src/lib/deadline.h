/*
 * deadline - a point in time on the monotonic clock, and how long is
 * left until it, for the loops that wait with poll() on a bound: the
 * resolver, the SMTP client, the qmail-queue hand-off, the self-test.
 *
 * The monotonic clock, so that a change of the wall clock neither cuts
 * a wait short nor stretches it.
 */
#ifndef SALLYPORT_DEADLINE_H
#define SALLYPORT_DEADLINE_H

#include <time.h>

/* *d becomes now plus `ms` milliseconds. */
void	deadline_in(struct timespec *d, unsigned long ms);
/* Milliseconds from now until *d, as poll() takes them: 0 once past,
 * at most INT_MAX. */
int	deadline_left(const struct timespec *d);

#endif
