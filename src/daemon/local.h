/*
 * local - the local submission socket (local_socket): where
 * sallyport-sendmail hands mail to the daemon, as SMTP over a unix
 * socket served by the same engine in the ROLE_LOCAL role.
 *
 * Any local user may connect (the socket is 0666, as Postfix's maildrop
 * is open to all); who did is the kernel's word (SO_PEERCRED), logged
 * and put in the Received field. No `listen` line can give a TCP port
 * this role, so no other path is trusted as a local user is.
 */
#ifndef SALLYPORT_LOCAL_H
#define SALLYPORT_LOCAL_H

#include <stddef.h>
#include <sys/types.h>

/* Bind and listen on path (made 0666), its directory made (0755) when
 * missing. A stale socket left by a daemon that is gone is replaced; one
 * a running daemon answers on is not. Returns the listening descriptor
 * (non-blocking, close-on-exec), or -1 with err. */
int	local_listen(const char *path, char *err, size_t errlen);
/* Remove path when it is still the socket local_listen made there (not
 * one a later daemon made since); quietly, as the daemon stops. */
void	local_unlink(const char *path, dev_t dev, ino_t ino);
/* The identity of the socket file local_listen made, for local_unlink. */
int	local_stat(const char *path, dev_t *dev, ino_t *ino);
/* The peer of an accepted connection, "UID (name)" ("UID (unknown)"
 * without a passwd entry) into out; -1 when the kernel cannot say. */
int	local_peer(int fd, char *out, size_t outlen);

#endif
