/*
 * qmailq - hand a message to qmail-queue(8), so that a qmail
 * installation keeps delivering (qmail-send, local and remote) while
 * sallyport speaks SMTP in front of it.
 *
 * The protocol: the message on descriptor 0 (read to its end first),
 * then the envelope on descriptor 1: "F" sender NUL, "T" recipient NUL
 * for each recipient, and a final NUL. The exit code is the verdict:
 * 0 queued, 11..40 permanent, anything else temporary.
 */
#ifndef SALLYPORT_QMAILQ_H
#define SALLYPORT_QMAILQ_H

#include <stddef.h>
#include <sys/types.h>

/* qmailq_hand_off - run program (no shell) and feed it the message
 * (body_len bytes from body_fd's position, each CRLF written as LF) and
 * the envelope; wait for it, killing it after timeout seconds. Returns
 * 250, 554 (permanent) or 451 (temporary) with the reply line in text. */
int	qmailq_hand_off(const char *program, const char *sender,
	    char *const *rcpts, size_t n, int body_fd, off_t body_len,
	    unsigned timeout, char *text, size_t textlen);

/* qmailq_locals_has - is `domain` one of the domains the qmail
 * installation of `program` (QMAIL/bin/qmail-queue) delivers locally:
 * a line of QMAIL/control/locals, or of control/me when there is no
 * locals file, as qmail-send reads them? 1 yes, 0 no (the file read in
 * *file), -1 when it cannot tell (program not in a bin directory, no
 * file readable). */
int	qmailq_locals_has(const char *program, const char *domain,
	    char *file, size_t filelen);

#endif
