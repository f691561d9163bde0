/*
 * aliases - the single-domain recipient table, keyed by local part and
 * applied to every local domain (the shorthand beside rcpt_table.h,
 * which keys by whole address): an aliases file (`name: target,
 * target`), the mailbox users, an optional catch-all. Loaded with the
 * configuration (so a reload swaps it whole) and asked at RCPT time,
 * so that unknown users are refused in the session, never bounced
 * later (no backscatter).
 *
 * With no alias file, no mailbox users and no catch-all the table is
 * "open": every local part that is safe as a mailbox name is known and
 * is a mailbox of its own name (a NULL table behaves the same). Precedence and loops: see aliases.c.
 */
#ifndef SALLYPORT_ALIASES_H
#define SALLYPORT_ALIASES_H

#include <stdbool.h>
#include <stddef.h>

struct alias_table;
struct config;

/* Parse `path` (NULL: no file). Errors are "file:line: message" lines
 * in *errors (malloc'd). `postmaster` always exists: if the file does
 * not define it, it goes to the first mailbox user, else "root".
 * `closed`: never open, even with nothing configured (a recipient
 * table, rcpt_table.h, lists the recipients instead). */
struct alias_table *alias_table_load(const char *path,
		    char *const *mailbox_users, size_t nusers,
		    const char *catchall, bool closed, char **errors);
void		 alias_table_free(struct alias_table *);

/* Is `local` (the unquoted local part; case-insensitive) delivered
 * here: an alias, a mailbox user, caught by the catch-all, or, in an
 * open table, a name that may be a mailbox of its own (a dot-atom of
 * ASCII letters, digits and #$&'*+-=?^_`{|}~; see aliases.c)? This is
 * the one recipient predicate: the RCPT check and the delivery both
 * ask it, so that what is accepted is what is delivered. */
bool		 alias_table_known(const struct alias_table *, const char *local);

/* Is `local` an alias or a mailbox user (postmaster included), rather
 * than known only through the catch-all or an open table? */
bool		 alias_table_listed(const struct alias_table *,
		    const char *local);

/* Nothing configured (or NULL): every local part the predicate above
 * allows is a mailbox of its own name. */
bool		 alias_table_open(const struct alias_table *);

/* Expand `local` (unquoted) recursively to final targets: mailbox
 * users (bare names, lower case) and external addresses (with @).
 * Duplicates removed; loops and depth past 10 stop with what was found.
 * Each target is malloc'd: the caller frees them. Returns the number of
 * targets written (at most max), -1 when alias_table_known() says no,
 * or -2 when out of memory (a temporary failure; nothing to free). */
int		 alias_table_expand(const struct alias_table *, const char *local,
		    char **targets, size_t max);

/* "local@domain" checked (an unquoted local part, RFC 5322 atext; a
 * mail domain) with the domain in lower case, into out: 0, or -1 with
 * err. A config value type uses it too (CONF_ADDRESS). */
int		 alias_address_norm(const char *in, char *out, size_t outlen,
		    char *err, size_t errlen);

#endif
