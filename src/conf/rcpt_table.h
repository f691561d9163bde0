/*
 * rcpt_table - the recipients of the local domains, keyed by whole
 * address (the `recipients` file), with the single-domain shorthand
 * (aliases.h: aliases, mailbox_users, catchall, by local part, for
 * every local domain) and address extensions (recipient_delimiter).
 *
 * The file, one entry per line (the aliases file's syntax, keyed by
 * address; see doc/recipients.md):
 *     alice@a.example                       a mailbox
 *     info@a.example: alice, bob@b.example  an alias (a bare name is in
 *                                           the key's domain)
 *     bob@a.example: bob, bob@elsewhere.example   a mailbox that also
 *                                           forwards a copy
 *     @b.example: bob                       b.example's catch-all
 * Loaded with the configuration (a reload swaps it whole); lookups are
 * in memory, one hash probe per key tried.
 *
 * Resolution of local@domain, first match wins (Postfix's virtual(5)
 * order: user@domain, user, @domain):
 *   1. the table's local@domain; then user@domain when local is
 *      user+tag (a recipient_delimiter character splits it);
 *   2. the shorthand's name local, then user;
 *   3. the table's @domain;
 *   4. the shorthand's catch-all, or, when nothing at all is
 *      configured, a mailbox of the name's own (user, with the tag).
 */
#ifndef SALLYPORT_RCPT_TABLE_H
#define SALLYPORT_RCPT_TABLE_H

#include <stdbool.h>
#include <stddef.h>

struct alias_table;
struct config;
struct strlist;

struct rcpt_table;

/* Where one recipient's copy goes. */
struct rcpt_dest {
	char	*addr;		/* a mailbox: "user@domain", lower case,
				 * A-labels; else an address elsewhere */
	char	*folder;	/* a mailbox's extension (the tag): its
				 * Maildir folder if that exists; or NULL */
	bool	 mailbox;
};

/* Parse `path` (NULL: no file) into the rules with the shorthand `sh`
 * (kept, not owned: it must outlive the table) and `delimiter` (NULL or
 * "": no extensions). Every key's domain must be one of local_domains.
 * Errors are "file:line: message" lines in *errors (malloc'd), and then
 * NULL is returned. */
struct rcpt_table *rcpt_table_load(const char *path,
		    const struct strlist *local_domains,
		    const struct alias_table *sh, const char *delimiter,
		    char **errors);
void		 rcpt_table_free(struct rcpt_table *);

/* recipient_delimiter's value checked: 1 to 8 characters, each one an
 * unquoted local part may hold but no letter or digit and none of
 * '/', '%', '!' (a path, routing). 0, or -1 with err. */
int		 rcpt_delimiter_norm(const char *in, char *out, size_t outlen,
		    char *err, size_t errlen);

/* How many domains the file's keys name: 0, 1, or 2 for more. */
size_t		 rcpt_table_ndomains(const struct rcpt_table *);

/* Is local@domain (local unquoted; domain as the client wrote it, UTF-8
 * allowed) delivered here? The one recipient predicate: asked at RCPT
 * and again before delivery. A NULL table is an open shorthand. */
bool		 rcpt_known(const struct rcpt_table *, const char *local,
		    const char *domain);

/* Is local@domain delivered here rather than sent on (the caller's
 * notion: a local domain, or postmaster@hostname)? */
typedef bool	 rcpt_local_fn(const struct config *, const char *local,
		    const char *domain);

/* local@domain expanded to where its copies go (at most max; more are
 * dropped), aliases followed through the table and the shorthand. A
 * target that is_local says is ours is resolved again; an address that
 * comes back to itself is delivered to its own mailbox (as Postfix's
 * virtual aliases); past 10 levels a branch is dropped. Returns the
 * number written (the caller frees each with rcpt_dest_free), -1 when
 * rcpt_known says no, -2 when out of memory. */
int		 rcpt_expand(const struct rcpt_table *, const char *local,
		    const char *domain, rcpt_local_fn *is_local,
		    const struct config *cfg, struct rcpt_dest *out,
		    size_t max);
void		 rcpt_dest_free(struct rcpt_dest *, size_t n);

#endif
