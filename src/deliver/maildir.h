/*
 * maildir - local delivery into a Maildir (tmp/, fsync, rename into
 * new/, unique names), the path made from a template.
 */
#ifndef SALLYPORT_MAILDIR_H
#define SALLYPORT_MAILDIR_H

#include <sys/types.h>

/* Template: %u local part (user), %d domain, %% a percent sign; e.g.
 * "/var/mail/%d/%u/Maildir". Missing directories are created (0700).
 * `folder` (an address extension, or NULL): the message goes into the
 * Maildir++ folder ".folder" of that Maildir when it already exists as
 * a directory, else into the inbox; it is never created, and a folder
 * name with '/', "..", a leading '.' or a control character is never
 * one (as Dovecot's lda with lda_mailbox_autocreate = no).
 * The message gets Return-Path: and Delivered-To: headers on top.
 * Returns 0, -1 for a temporary failure (retry), -2 for a permanent one
 * (bounce); err says why. */
int	maildir_deliver(const char *template, const char *user,
	    const char *domain, const char *folder, const char *return_path,
	    int body_fd, off_t body_len, char *err, size_t errlen);

#endif
