/*
 * notify - the service manager's readiness protocol (sd_notify(3)):
 * one datagram per state change to the AF_UNIX socket named by
 * $NOTIFY_SOCKET. Written here rather than linked from libsystemd: it
 * is one sendto(), and the daemon then needs no library that the
 * machines without systemd would have to carry.
 */
#ifndef SALLYPORT_NOTIFY_H
#define SALLYPORT_NOTIFY_H

/* Take $NOTIFY_SOCKET and remove it from the environment, so that no
 * child (the exec'd queue runner, a qmail-queue) talks to the manager
 * in our name. Call once, early, in the process that will notify. */
void	notify_init(void);
/* Send "KEY=value\n..." lines as one datagram; nothing when there is no
 * socket. Best effort: a manager that is gone costs nothing. */
void	notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* RELOADING=1 with MONOTONIC_USEC= (which systemd 253 and later want
 * for Type=notify-reload, and older ones ignore), and STATUS=. */
void	notify_reloading(const char *status);

#endif
