/*
 * maildir - local delivery into a Maildir (tmp/, fsync, rename into
 * new/, unique names), the path made from a template.
 */
#ifndef SALLYPORT_MAILDIR_H
#define SALLYPORT_MAILDIR_H

#include <sys/types.h>

/* Template: %u local part (user), %d domain, %% a percent sign; e.g.
 * "/var/mail/%d/%u/Maildir". Missing directories are created (0700).
 * The message gets Return-Path: and Delivered-To: headers on top.
 * Returns 0, -1 for a temporary failure (retry), -2 for a permanent one
 * (bounce); err says why. */
int	maildir_deliver(const char *template, const char *user,
	    const char *domain, const char *return_path, int body_fd,
	    off_t body_len, char *err, size_t errlen);

#endif
