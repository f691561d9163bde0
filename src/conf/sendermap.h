/*
 * sendermap - sender_login_map: which addresses each login may send as
 * (MAIL FROM and the From: field), loaded with the configuration (a
 * reload swaps it whole) and asked in O(1) at MAIL and at the end of
 * DATA.
 *
 * The file, keyed by login, in the syntax of the aliases file:
 *
 *	# login: addresses and @domains it may use
 *	alice@example.org: alice@example.org, a.smith@example.org,
 *	    info@example.org
 *	bob@example.org: bob@example.org info@example.org
 *	admin@example.org: @example.org @example.net
 *
 * A shared mailbox (info@ above) is listed under each login that may
 * use it; `@domain` gives every address of that domain (a domain
 * admin). Logins, local parts and domains are compared without regard
 * to case; a login not in the file may send as no address but the null
 * sender (policy.c).
 */
#ifndef SALLYPORT_SENDERMAP_H
#define SALLYPORT_SENDERMAP_H

#include <stdbool.h>

struct sender_map;

/* Parse `path`. Errors are "file:line: message" lines in *errors
 * (malloc'd); NULL with *errors NULL is out of memory. */
struct sender_map *sender_map_load(const char *path, char **errors);
void		 sender_map_free(struct sender_map *);

/* May `login` use local@domain (domain by its A-labels, as DNS spells
 * it)? Either the address or its `@domain` listed for the login. */
bool		 sender_map_owns(const struct sender_map *, const char *login,
		    const char *local, const char *domain);

/* Number of login/address pairs (for a log line and the tests). */
unsigned long	 sender_map_size(const struct sender_map *);

#endif
