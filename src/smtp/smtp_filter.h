/*
 * smtp_filter - a refusal of the host's filters made fit for the
 * client. Pure: the unit tests and fuzz_smtp use it as the engine does
 * (smtp_filter.c, whose other functions are the engine's own:
 * smtp_session.h).
 */
#ifndef SALLYPORT_SMTP_FILTER_H
#define SALLYPORT_SMTP_FILTER_H

#include <stddef.h>

#define SMTP_REPLY_LINE_MAX	512	/* CRLF included (RFC 5321 4.5.3.1.5) */
/* Lines of a filter's reply kept (libmilter's smfi_setmlreply takes 32). */
#define SMTP_FILTER_LINES	32
#define SMTP_FILTER_REPLY_MAX	(SMTP_FILTER_LINES * SMTP_REPLY_LINE_MAX)

/*
 * Make a filter's reply (lines separated by CRLF, a last CRLF
 * tolerated) into `out` as the client gets it: every line "NNN-" but
 * the last "NNN ", each ending in CRLF, at most SMTP_REPLY_LINE_MAX
 * octets (longer text cut), past SMTP_FILTER_LINES lines dropped, and
 * what is not printable ASCII (a lone CR or LF, a control, 8-bit)
 * turned into '?' as Postfix does. Malformed, and -1: empty, an empty
 * line, not 4xx or 5xx, codes that differ between lines, a fourth octet
 * other than ' ' or '-', or an enhanced code of another class than the
 * reply's ("550 4.7.1", as Postfix checks). Else the length written;
 * `outlen` of SMTP_FILTER_REPLY_MAX always holds it.
 */
int	smtp_filter_reply(const char *in, char *out, size_t outlen);

#endif
