/*
 * rcpt_resolve - who local@domain is: the rule that decides it (the
 * order is in rcpt_table.h) and its expansion to mailboxes and
 * addresses elsewhere.
 *
 * Address extensions: with recipient_delimiter "+", user+tag@domain is
 * first looked up whole, then as user@domain with the tag kept; the tag
 * goes with the mailboxes that user's entry leads to (as Postfix
 * propagates an unmatched extension through aliases), where it names
 * the Maildir folder to deliver into if that folder exists. An address
 * elsewhere gets no extension: its domain's delimiter is not ours to
 * guess (chasquid does the same). A catch-all takes the whole address
 * and no tag: the name before the delimiter is nobody here.
 *
 * The table's targets are expanded again wherever they lead (Postfix's
 * virtual aliases); the shorthand's address targets keep the aliases
 * file's meaning (exp_short_addr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/aliases.h"
#include "conf/rcpt_table_int.h"
#include "lib/idna.h"

#define RCPT_DEPTH_MAX		10
#define RCPT_SHORT_MAX		64	/* a shorthand alias's targets */

/* rcpt_domain_norm - lower case, one trailing dot dropped, a UTF-8
 * domain by its A-labels (as local_domains writes it); "" when it has
 * none */
static void
rcpt_domain_norm(const char *in, char *out, size_t outlen)
{
	char		 buf[CV_DOMAIN_MAX + 2];
	const char	*why;
	size_t		 n;

	if (idna_is_utf8(in)) {
		if (idna_to_dns(in, buf, sizeof(buf), &why) == -1) {
			out[0] = '\0';
			return;
		}
		in = buf;
	}
	if ((n = strlen(in)) > 0 && in[n - 1] == '.')
		n--;
	if (n >= outlen) {
		out[0] = '\0';
		return;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] - 'A' +
		    'a' : in[i]);
	out[n] = '\0';
}

/* rcpt_split - where user+tag splits: the first delimiter character
 * after at least one byte of user; 0: it does not */
static size_t
rcpt_split(const struct rcpt_table *t, const char *local)
{
	size_t	 p;

	if (t == NULL || t->delim == NULL)
		return 0;
	p = strcspn(local, t->delim);
	return local[p] != '\0' && p > 0 ? p : 0;
}

/* rcpt_entry_of - the table's entry for local@domain into r */
static bool
rcpt_entry_of(const struct rcpt_table *t, const char *local, size_t len,
    struct rcpt_rule *r)
{
	char	 key[RCPT_ADDR_MAX + 2];

	if (r->domain[0] == '\0' || len > CV_LOCALPART_MAX ||
	    (size_t)snprintf(key, sizeof(key), "%.*s@%s", (int)len, local,
	    r->domain) > RCPT_ADDR_MAX)
		return false;
	if ((r->entry = rcpt_table_find(t, key)) == NULL)
		return false;
	r->how = RCPT_ENTRY;
	memcpy(r->key, key, strlen(key) + 1);	/* checked above */
	return true;
}

/* rcpt_short_of - the shorthand's name local (len bytes) into r */
static bool
rcpt_short_of(const struct alias_table *sh, const char *local, size_t len,
    bool listed, struct rcpt_rule *r)
{
	char	 name[CV_LOCALPART_MAX + 1];

	if (len >= sizeof(name))
		return false;
	snprintf(name, sizeof(name), "%.*s", (int)len, local);
	if (listed ? !alias_table_listed(sh, name) :
	    !alias_table_known(sh, name))
		return false;
	r->how = RCPT_SHORT;
	memcpy(r->name, name, len + 1);
	snprintf(r->key, sizeof(r->key), "%s@%s", name, r->domain);
	return true;
}

int
rcpt_rule(const struct rcpt_table *t, const char *local, const char *domain,
    bool catchall, struct rcpt_rule *r)
{
	const struct alias_table *sh = t != NULL ? t->sh : NULL;
	char		 lc[CV_LOCALPART_MAX + 1];
	size_t		 len = strlen(local), u;

	memset(r, 0, sizeof(*r));
	if (len > CV_LOCALPART_MAX)
		return -1;
	rcpt_domain_norm(domain, r->domain, sizeof(r->domain));
	/* A domain with no DNS form (bad UTF-8, too long) is none of
	 * ours: the shorthand's names would otherwise be "name@". */
	if (r->domain[0] == '\0')
		return -1;
	for (size_t i = 0; i <= len; i++)
		lc[i] = (char)(local[i] >= 'A' && local[i] <= 'Z' ?
		    local[i] - 'A' + 'a' : local[i]);
	u = rcpt_split(t, lc);
	/* 1. the table, whole then without the extension; 2. the
	 * shorthand's names, the same way */
	if (rcpt_entry_of(t, lc, len, r))
		return 0;
	if ((u > 0 && rcpt_entry_of(t, lc, u, r)) ||
	    (!rcpt_short_of(sh, lc, len, true, r) && u > 0 &&
	    rcpt_short_of(sh, lc, u, true, r))) {
		snprintf(r->tag, sizeof(r->tag), "%s", local + u + 1);
		return 0;
	}
	if (r->how != RCPT_NONE)
		return 0;
	/* 3. the table's catch-all, for the whole address */
	if (catchall && rcpt_entry_of(t, "", 0, r)) {
		snprintf(r->key, sizeof(r->key), "%s@%s", lc, r->domain);
		return 0;
	}
	/* 4. the shorthand's catch-all; or, open, user (with the tag) has
	 * a mailbox of its own */
	if (alias_table_open(sh) && u > 0 && rcpt_short_of(sh, lc, u, false,
	    r))
		snprintf(r->tag, sizeof(r->tag), "%s", local + u + 1);
	else
		rcpt_short_of(sh, lc, len, false, r);
	return 0;
}

bool
rcpt_known(const struct rcpt_table *t, const char *local, const char *domain)
{
	struct rcpt_rule r;

	return rcpt_rule(t, local, domain, true, &r) == 0 &&
	    r.how != RCPT_NONE;
}

/* --- expansion ------------------------------------------------------------- */

/* One expansion: the copies found so far, the addresses being expanded
 * (outermost first). */
struct rcpt_exp {
	const struct rcpt_table *t;
	rcpt_local_fn	*is_local;
	const struct config *cfg;
	struct rcpt_dest *out;
	size_t		 max, n;
	char		 stack[RCPT_DEPTH_MAX][RCPT_ADDR_MAX + 1];
	size_t		 depth;
	bool		 nomem;
};

/* exp_final - one copy, unless already there */
static void
exp_final(struct rcpt_exp *e, const char *addr, const char *tag,
    bool mailbox)
{
	struct rcpt_dest *d;

	if (tag != NULL && tag[0] == '\0')
		tag = NULL;
	for (size_t i = 0; i < e->n; i++) {
		d = &e->out[i];
		if (d->mailbox == mailbox && strcmp(d->addr, addr) == 0 &&
		    (d->folder == NULL ? tag == NULL : tag != NULL &&
		    strcmp(d->folder, tag) == 0))
			return;
	}
	if (e->n == e->max || e->nomem)
		return;
	d = &e->out[e->n];
	d->mailbox = mailbox;
	d->folder = NULL;
	if ((d->addr = strdup(addr)) == NULL || (tag != NULL &&
	    (d->folder = strdup(tag)) == NULL)) {
		free(d->addr);
		e->nomem = true;
		return;
	}
	e->n++;
}

static void exp_addr(struct rcpt_exp *, const char *, const char *,
    const char *);

/* exp_target - an alias's target: ours again, or elsewhere */
static void
exp_target(struct rcpt_exp *e, const char *addr, const char *tag)
{
	const char	*at = strrchr(addr, '@');
	char		 local[RCPT_ADDR_MAX + 1];

	snprintf(local, sizeof(local), "%.*s", (int)(at - addr), addr);
	if (e->is_local(e->cfg, local, at + 1))
		exp_addr(e, local, at + 1, tag);
	else
		exp_final(e, addr, NULL, false);
}

/* exp_short_addr - an address target of the shorthand: as before the
 * table, one of ours that the shorthand knows is a mailbox of that
 * address, not expanded again (`bob: bob@a.example, ...` keeps bob's
 * copy); an address of the table is the table's to expand */
static void
exp_short_addr(struct rcpt_exp *e, const char *addr, const char *tag)
{
	const char	*at = strrchr(addr, '@');
	char		 local[RCPT_ADDR_MAX + 1];
	struct rcpt_rule r;

	snprintf(local, sizeof(local), "%.*s", (int)(at - addr), addr);
	if (!e->is_local(e->cfg, local, at + 1) || rcpt_rule(e->t, local,
	    at + 1, true, &r) == -1 || r.how != RCPT_SHORT)
		exp_target(e, addr, tag);
	else
		exp_final(e, r.key, r.tag[0] != '\0' ? r.tag : tag, true);
}

/* exp_short - the shorthand's expansion of r->name: bare names are
 * mailboxes in r's domain */
static void
exp_short(struct rcpt_exp *e, const struct rcpt_rule *r, const char *tag)
{
	char	*tv[RCPT_SHORT_MAX], addr[RCPT_ADDR_MAX + 2];
	int	 n = alias_table_expand(e->t != NULL ? e->t->sh : NULL, r->name,
		    tv, RCPT_SHORT_MAX);

	if (n == -2)
		e->nomem = true;
	for (int i = 0; i < n; i++) {
		if (strchr(tv[i], '@') != NULL)
			exp_short_addr(e, tv[i], tag);
		else {
			snprintf(addr, sizeof(addr), "%s@%s", tv[i], r->domain);
			exp_final(e, addr, tag, true);
		}
		free(tv[i]);
	}
}

/* exp_addr - local@domain, one of ours, expanded; an unknown one is
 * left to the caller as an address (delivered, it is refused there) */
static void
exp_addr(struct rcpt_exp *e, const char *local, const char *domain,
    const char *outer_tag)
{
	struct rcpt_rule r;
	const char	*tag;
	char		 addr[RCPT_ADDR_MAX + 2];

	if (rcpt_rule(e->t, local, domain, true, &r) == -1 ||
	    r.how == RCPT_NONE) {
		snprintf(addr, sizeof(addr), "%s@%s", local, domain);
		exp_final(e, addr, NULL, false);
		return;
	}
	tag = r.tag[0] != '\0' ? r.tag : outer_tag;
	for (size_t i = 0; i < e->depth; i++)
		if (strcmp(e->stack[i], r.key) == 0) {
			exp_final(e, r.key, tag, true);
			return;
		}
	if (r.how == RCPT_ENTRY && r.entry->ntargets == 0) {
		exp_final(e, r.entry->key, tag, true);
		return;
	}
	if (e->depth == RCPT_DEPTH_MAX)
		return;
	memcpy(e->stack[e->depth++], r.key, sizeof(r.key));
	if (r.how == RCPT_SHORT)
		exp_short(e, &r, tag);
	else
		for (size_t i = 0; i < r.entry->ntargets; i++)
			exp_target(e, r.entry->targets[i], tag);
	e->depth--;
}

int
rcpt_expand(const struct rcpt_table *t, const char *local,
    const char *domain, rcpt_local_fn *is_local, const struct config *cfg,
    struct rcpt_dest *out, size_t max)
{
	struct rcpt_exp *e;
	int		 n;

	if (!rcpt_known(t, local, domain))
		return -1;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -2;
	e->t = t;
	e->is_local = is_local;
	e->cfg = cfg;
	e->out = out;
	e->max = max;
	exp_addr(e, local, domain, NULL);
	n = (int)e->n;
	if (e->nomem) {
		rcpt_dest_free(out, e->n);
		n = -2;
	}
	free(e);
	return n;
}

void
rcpt_dest_free(struct rcpt_dest *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].addr);
		free(d[i].folder);
	}
}
