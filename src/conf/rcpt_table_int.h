/*
 * rcpt_table_int - what the recipient table's loader (rcpt_table.c)
 * and its resolver (rcpt_resolve.c) share.
 */
#ifndef SALLYPORT_RCPT_TABLE_INT_H
#define SALLYPORT_RCPT_TABLE_INT_H

#include <stdint.h>

#include "conf/config_value.h"
#include "conf/rcpt_table.h"

#define RCPT_ADDR_MAX	(CV_LOCALPART_MAX + 1 + CV_DOMAIN_MAX)

/* One slot of the index: the entry, and its key's hash, so that a
 * probe past other keys reads no key. */
struct rcpt_slot {
	uint32_t	 idx;		/* index + 1; 0: free */
	uint32_t	 hash;		/* the hash's high half */
};

/* One key of the file: an address or "@domain", lower case. */
struct rcpt_entry {
	char		 *key;
	char		**targets;	/* whole addresses; none: a mailbox */
	size_t		  ntargets;
	unsigned	  line;
};

struct rcpt_table {
	struct rcpt_entry *v;
	size_t		   n, cap;
	struct rcpt_slot *slots;	/* open addressing */
	size_t		   nslots;	/* a power of two, >= 2n */
	size_t		   ndomains;
	const struct alias_table *sh;	/* the shorthand, not owned */
	char		  *delim;	/* NULL: no extensions */
};

/* What decides a recipient (rcpt_table.h, "Resolution"). */
enum rcpt_how { RCPT_NONE, RCPT_ENTRY, RCPT_SHORT };

struct rcpt_rule {
	enum rcpt_how		 how;
	const struct rcpt_entry	*entry;		/* RCPT_ENTRY */
	char			 name[CV_LOCALPART_MAX + 1];	/* RCPT_SHORT:
						 * the shorthand's name */
	char			 domain[CV_DOMAIN_MAX + 1];	/* normalized */
	char			 key[RCPT_ADDR_MAX + 1];	/* local@domain,
						 * normalized */
	char			 tag[CV_LOCALPART_MAX + 1];	/* the
						 * extension; "": none */
};

/* rcpt_index.c: the entry of key (lower case), or NULL; room for one
 * more entry (-1: out of memory); entry k into the index. */
const struct rcpt_entry *rcpt_table_find(const struct rcpt_table *,
		    const char *key);
int		 rcpt_index_grow(struct rcpt_table *);
void		 rcpt_index_put(struct rcpt_table *, size_t k);
/* The rule for local@domain; catchall false leaves out the table's
 * @domain entries (the loader's check of targets). 0, or -1 when the
 * address cannot be one of ours at all (too long, a bad domain). */
int		 rcpt_rule(const struct rcpt_table *, const char *local,
		    const char *domain, bool catchall, struct rcpt_rule *);

#endif
