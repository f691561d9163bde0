/*
 * aliases - the local recipient table.
 *
 * Three things say which local parts of our domains receive mail: the
 * aliases file (`name: target, target`), mailbox_users (names with a
 * mailbox of their own) and catchall (where every other name goes).
 * When none of the three is configured the table is open: every local
 * part is known and is a mailbox of its own name, which is how the
 * server behaved before there was a table.
 *
 * The file, as Postfix's aliases(5) without pipes, files or includes:
 *  - `name: target, target` (commas and/or blanks between targets);
 *    a target is a local name or an address with @;
 *  - a line starting with a blank continues the entry above it;
 *  - blank lines and lines whose first non-blank is `#` are ignored;
 *  - names are case-insensitive; one defined twice is an error, and so
 *    is a local target that is neither an alias nor a mailbox user (a
 *    typo would otherwise make a Maildir of its own).
 *
 * Expansion, for a name X:
 *  - an alias takes precedence over a mailbox user of the same name:
 *    `bob: alice` sends bob's mail to alice only;
 *  - but a name that comes back to itself, directly (`bob: bob,
 *    bob@elsewhere`) or through a loop, is a final target when it is a
 *    mailbox user (bob keeps a copy in his mailbox), and is cut
 *    otherwise; the rest of the expansion is kept;
 *  - past ALIAS_DEPTH_MAX nested aliases the branch is dropped;
 *  - duplicates are removed, first one kept.
 * `postmaster` is always known (RFC 5321 4.5.1): without an entry in
 * the file it goes to the first mailbox user, or else to "root".
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/aliases.h"
#include "lib/buf.h"
#include "conf/config_value.h"
#include "conf/mapfile.h"

#define ALIAS_TARGETS_MAX	1000		/* targets of one alias */
#define ALIAS_ENTRIES_MAX	100000
#define ALIAS_DEPTH_MAX		10
#define ALIAS_ADDR_MAX		(CV_LOCALPART_MAX + 1 + CV_DOMAIN_MAX)

struct alias {
	char		 *name;		/* lower case */
	char		**targets;	/* names, or addresses with @ */
	size_t		  ntargets;
	unsigned	  line;		/* 0: made up (postmaster) */
};

struct alias_table {
	struct alias	 *aliases;	/* sorted by name */
	size_t		  naliases;
	char		**users;	/* mailbox users, sorted */
	size_t		  nusers;
	char		 *catchall;	/* NULL: none */
	bool		  open;		/* nothing configured: every local
					 * part is a mailbox of its own */
};

/* One load: the file being read, then the table. */
struct alias_load {
	struct mapfile	 m;		/* first: entry() gets it */
	struct alias_table *t;
};

/* --- lookups ------------------------------------------------------------ */

static int
alias_cmp(const void *a, const void *b)
{
	return strcmp(((const struct alias *)a)->name,
	    ((const struct alias *)b)->name);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const struct alias *
alias_find(const struct alias_table *t, const char *name)
{
	struct alias key = { .name = (char *)name };

	if (t->naliases == 0)
		return NULL;
	return bsearch(&key, t->aliases, t->naliases, sizeof(key), alias_cmp);
}

static bool
user_find(const struct alias_table *t, const char *name)
{
	return t->nusers > 0 && bsearch(&name, t->users, t->nusers,
	    sizeof(*t->users), name_cmp) != NULL;
}

/* alias_lower - a local part in lower case, as the table keeps names;
 * -1 if it cannot be one */
static int
alias_lower(const char *in, char *out, size_t outlen)
{
	size_t	 len = strlen(in);

	if (len >= outlen)
		return -1;
	for (size_t i = 0; i <= len; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	return 0;
}

/* --- the file --------------------------------------------------------- */

/* alias_address_norm - "local@domain" with the domain in lower case; the
 * local part in the characters of an unquoted one (RFC 5322 atext) */
int
alias_address_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	const char	*at = strrchr(in, '@');
	size_t		 n = at ? (size_t)(at - in) : 0;
	char		 dom[CV_DOMAIN_MAX + 1], q[CV_QBUF];

	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)in[i]) &&
		    strchr("!#$%&'*+-/=?^_`{|}~.", in[i]) == NULL)
			n = 0;
	if (n == 0 || n > CV_LOCALPART_MAX) {
		snprintf(err, errlen, "%s is not an address (a local part "
		    "of 1 to 64 letters, digits and !#$%%&'*+-/=?^_`{|}~.)",
		    cv_quote(in, q, sizeof(q)));
		return -1;
	}
	if (cv_maildomain_norm(at + 1, dom, sizeof(dom), err, errlen) == -1)
		return -1;
	if ((size_t)snprintf(out, outlen, "%.*s@%s", (int)n, in, dom) >=
	    outlen) {
		snprintf(err, errlen, "%s is too long", cv_quote(in, q,
		    sizeof(q)));
		return -1;
	}
	return 0;
}

/* alias_add_target - one target, checked, at the end of a->targets */
static int
alias_add_target(struct alias_load *l, struct alias *a, const char *item)
{
	char	 norm[ALIAS_ADDR_MAX + 1], err[200], **v;
	int	 r;

	if (strchr(item, '@') != NULL)
		r = alias_address_norm(item, norm, sizeof(norm), err,
		    sizeof(err));
	else
		r = cv_localpart_norm(item, norm, sizeof(norm), err,
		    sizeof(err));
	if (r == -1) {
		mapfile_error(&l->m, a->line, "%s: %s", a->name, err);
		return -1;
	}
	if (a->ntargets == ALIAS_TARGETS_MAX) {
		mapfile_error(&l->m, a->line, "%s: more than %d targets", a->name,
		    ALIAS_TARGETS_MAX);
		return -1;
	}
	if ((v = reallocarray(a->targets, a->ntargets + 1, sizeof(*v))) ==
	    NULL || (v[a->ntargets] = strdup(norm)) == NULL) {
		if (v != NULL)
			a->targets = v;
		l->m.nomem = true;
		return -1;
	}
	a->targets = v;
	a->ntargets++;
	return 0;
}

static void
alias_clear(struct alias *a)
{
	for (size_t i = 0; i < a->ntargets; i++)
		free(a->targets[i]);
	free(a->targets);
	free(a->name);
}

/* alias_entry - one whole entry, "name: targets", from `line` on */
static void
alias_entry(struct mapfile *m, char *text, unsigned line)
{
	struct alias_load *l = (struct alias_load *)m;
	struct alias_table *t = l->t;
	struct alias	 a = { .line = line };
	char		*colon = strchr(text, ':'), *end;
	char		 name[CV_LOCALPART_MAX + 1], err[200];
	char		 item[CV_LINE_MAX + 1];
	const char	*s;
	struct alias	*v;

	if (colon == NULL) {
		mapfile_error(&l->m, line, "missing ':' (expected name: targets)");
		return;
	}
	for (end = colon; end > text && cv_isblank(end[-1]); end--)
		;
	*end = '\0';
	if (cv_localpart_norm(text, name, sizeof(name), err,
	    sizeof(err)) == -1) {
		mapfile_error(&l->m, line, "alias name: %s", err);
		return;
	}
	if (t->naliases == ALIAS_ENTRIES_MAX) {
		mapfile_error(&l->m, line, "more than %d aliases", ALIAS_ENTRIES_MAX);
		return;
	}
	if ((a.name = strdup(name)) == NULL) {
		l->m.nomem = true;
		return;
	}
	/* Items come from an entry no longer than MAPFILE_ENTRY_MAX, cut
	 * to CV_LINE_MAX each; a cut one is no local part or address. */
	for (s = colon + 1; (s = cv_next_item(s, item, sizeof(item))) != NULL;)
		if (alias_add_target(l, &a, item) == -1)
			goto fail;
	if (a.ntargets == 0) {
		mapfile_error(&l->m, line, "%s: no targets", name);
		goto fail;
	}
	if ((v = reallocarray(t->aliases, t->naliases + 1, sizeof(*v))) ==
	    NULL) {
		l->m.nomem = true;
		goto fail;
	}
	t->aliases = v;
	v[t->naliases++] = a;
	return;
fail:
	alias_clear(&a);
}

/* alias_check_names - names defined twice; the aliases are sorted by
 * name first */
static void
alias_check_names(struct alias_load *l)
{
	struct alias_table *t = l->t;
	char		 q[CV_QBUF];

	if (t->naliases > 1)
		qsort(t->aliases, t->naliases, sizeof(*t->aliases), alias_cmp);
	for (size_t i = 1; i < t->naliases; i++) {
		struct alias *a = &t->aliases[i - 1], *b = &t->aliases[i];

		if (strcmp(a->name, b->name) == 0)
			mapfile_error(&l->m, a->line > b->line ? a->line : b->line,
			    "%s defined twice (lines %u and %u)",
			    cv_quote(a->name, q, sizeof(q)),
			    a->line < b->line ? a->line : b->line,
			    a->line > b->line ? a->line : b->line);
	}
}

/* alias_check_targets - local targets that lead nowhere; only asked
 * of a file without other mistakes, where no entry went missing */
static void
alias_check_targets(struct alias_load *l)
{
	struct alias_table *t = l->t;
	char		 q[CV_QBUF];

	for (size_t i = 0; i < t->naliases; i++) {
		const struct alias *a = &t->aliases[i];

		for (size_t j = 0; j < a->ntargets; j++) {
			const char *n = a->targets[j];

			if (strchr(n, '@') == NULL && alias_find(t, n) ==
			    NULL && !user_find(t, n))
				mapfile_error(&l->m, a->line, "%s: target %s is "
				    "neither an alias nor in mailbox_users",
				    a->name, cv_quote(n, q, sizeof(q)));
		}
	}
}

/* alias_postmaster - make sure postmaster exists: the first mailbox
 * user, or root. Made up after the checks, so that root need not be a
 * mailbox user. */
static void
alias_postmaster(struct alias_load *l, char *const *users, size_t nusers)
{
	struct alias_table *t = l->t;
	struct alias	 a = { 0 }, *v;
	char		 first[CV_LOCALPART_MAX + 1];

	if (alias_find(t, "postmaster") != NULL ||
	    user_find(t, "postmaster"))
		return;
	if (nusers == 0 || alias_lower(users[0], first, sizeof(first)) == -1)
		snprintf(first, sizeof(first), "root");
	a.name = strdup("postmaster");
	a.targets = calloc(1, sizeof(*a.targets));
	if (a.targets != NULL && (a.targets[0] = strdup(first)) != NULL)
		a.ntargets = 1;
	v = reallocarray(t->aliases, t->naliases + 1, sizeof(*v));
	if (a.name == NULL || a.ntargets == 0 || v == NULL) {
		if (v != NULL)
			t->aliases = v;
		alias_clear(&a);
		l->m.nomem = true;
		return;
	}
	t->aliases = v;
	v[t->naliases++] = a;
	qsort(t->aliases, t->naliases, sizeof(*t->aliases), alias_cmp);
}

/* alias_users - the mailbox users and the catch-all, lower case */
static int
alias_users(struct alias_table *t, char *const *users, size_t nusers,
    const char *catchall)
{
	char	 name[CV_LINE_MAX + 1];

	if (nusers > 0 && (t->users = calloc(nusers, sizeof(*t->users))) ==
	    NULL)
		return -1;
	for (size_t i = 0; i < nusers; i++) {
		if (alias_lower(users[i], name, sizeof(name)) == -1 ||
		    (t->users[i] = strdup(name)) == NULL)
			return -1;
		t->nusers++;
	}
	if (t->nusers > 1)
		qsort(t->users, t->nusers, sizeof(*t->users), name_cmp);
	if (catchall != NULL && (alias_lower(catchall, name,
	    sizeof(name)) == -1 || (t->catchall = strdup(name)) == NULL))
		return -1;
	return 0;
}

struct alias_table *
alias_table_load(const char *path, char *const *mailbox_users,
    size_t nusers, const char *catchall, bool closed, char **errors)
{
	struct alias_load l;

	mapfile_init(&l.m, path != NULL ? path : "aliases", alias_entry);
	if ((l.t = calloc(1, sizeof(*l.t))) == NULL ||
	    alias_users(l.t, mailbox_users, nusers, catchall) == -1) {
		l.m.nomem = true;
		goto done;
	}
	l.t->open = !closed && path == NULL && nusers == 0 &&
	    catchall == NULL;
	if (path != NULL) {
		mapfile_read(&l.m);
		alias_check_names(&l);
		if (l.m.nerrors == 0 && !l.m.nomem)
			alias_check_targets(&l);
	}
	if (l.m.nerrors == 0 && !l.m.nomem)
		alias_postmaster(&l, mailbox_users, nusers);
done:
	if ((*errors = mapfile_errors(&l.m)) != NULL || l.m.nerrors > 0) {
		alias_table_free(l.t);
		l.t = NULL;
	}
	return l.t;
}

void
alias_table_free(struct alias_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->naliases; i++)
		alias_clear(&t->aliases[i]);
	free(t->aliases);
	for (size_t i = 0; i < t->nusers; i++)
		free(t->users[i]);
	free(t->users);
	free(t->catchall);
	free(t);
}

/* --- questions ---------------------------------------------------------- */

/* What a NULL table stands for: nothing configured. */
static const struct alias_table alias_none = { .open = true };

/* alias_mailbox_name - may `name` (lower case, unquoted) be a mailbox
 * of its own name, as every local part is in an open table? It becomes
 * the %u of a Maildir path and the local part of an LMTP RCPT, so: a
 * dot-atom (RFC 5322 3.2.3: no '.' first or last, none twice in a row,
 * hence never quoted again on the way) of ASCII letters, digits and
 * the atext specials, but not '/' (a path separator), nor '%' and '!'
 * (routing syntax, see policy.c). Refused as well: what only quotes
 * make possible (blanks, ',', '"', '\\', '@' ...: such a name breaks
 * whoever gets it next, a shell script or an IMAP login), and octets
 * >= 0x80, because a UTF-8 name has no case folding and no single
 * normal form here: two spellings of one name would be two mailboxes.
 * Those go to a catch-all or a listed name, never to a mailbox of
 * their own. */
static bool
alias_mailbox_name(const char *name)
{
	size_t	 len = strlen(name);

	if (len == 0 || len > CV_LOCALPART_MAX || name[0] == '.' ||
	    name[len - 1] == '.' || strstr(name, "..") != NULL)
		return false;
	for (const char *c = name; *c != '\0'; c++)
		if ((unsigned char)*c >= 0x80 || (!isalnum((unsigned char)*c) &&
		    strchr(".#$&'*+-=?^_`{|}~", *c) == NULL))
			return false;
	return true;
}

bool
alias_table_open(const struct alias_table *t)
{
	return t == NULL || t->open;
}

/* The one recipient predicate: asked at RCPT (policy_local_user) and
 * again by alias_table_expand at delivery, both with the unquoted local
 * part, so that what gets 250 is what is delivered. */
bool
alias_table_known(const struct alias_table *t, const char *local)
{
	char	 name[CV_LOCALPART_MAX + 1];

	if (t == NULL)
		t = &alias_none;
	if (alias_lower(local, name, sizeof(name)) == -1)
		return false;
	if (alias_find(t, name) != NULL || user_find(t, name) ||
	    t->catchall != NULL)
		return true;
	return t->open && alias_mailbox_name(name);
}

bool
alias_table_listed(const struct alias_table *t, const char *local)
{
	char	 name[CV_LOCALPART_MAX + 1];

	if (t == NULL || alias_lower(local, name, sizeof(name)) == -1)
		return false;
	return alias_find(t, name) != NULL || user_find(t, name);
}

/* One expansion: the targets found so far and the aliases being
 * expanded, outermost first. */
struct alias_expand {
	const struct alias_table *t;
	char		**out;
	size_t		  max, n;
	const char	 *stack[ALIAS_DEPTH_MAX];
	size_t		  depth;
	bool		  nomem;
};

/* expand_final - one final target, unless already there */
static void
expand_final(struct alias_expand *e, const char *target)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->out[i], target) == 0)
			return;
	if (e->n == e->max || e->nomem)
		return;
	if ((e->out[e->n] = strdup(target)) == NULL)
		e->nomem = true;
	else
		e->n++;
}

/* expand_name - a local name: an alias is expanded (see the top of the
 * file for loops), anything else is a mailbox */
static void
expand_name(struct alias_expand *e, const char *name)
{
	const struct alias *a = alias_find(e->t, name);

	if (a == NULL) {
		expand_final(e, name);
		return;
	}
	for (size_t i = 0; i < e->depth; i++)
		if (strcmp(e->stack[i], name) == 0) {
			if (user_find(e->t, name))
				expand_final(e, name);
			return;
		}
	if (e->depth == ALIAS_DEPTH_MAX)
		return;
	e->stack[e->depth++] = a->name;
	for (size_t i = 0; i < a->ntargets; i++) {
		if (strchr(a->targets[i], '@') != NULL)
			expand_final(e, a->targets[i]);
		else
			expand_name(e, a->targets[i]);
	}
	e->depth--;
}

int
alias_table_expand(const struct alias_table *t, const char *local,
    char **targets, size_t max)
{
	struct alias_expand e = { .t = t != NULL ? t : &alias_none,
			    .out = targets, .max = max };
	char		 name[CV_LOCALPART_MAX + 1];

	if (!alias_table_known(e.t, local) ||
	    alias_lower(local, name, sizeof(name)) == -1)
		return -1;
	if (alias_find(e.t, name) != NULL || user_find(e.t, name))
		expand_name(&e, name);
	else if (e.t->catchall != NULL)
		expand_name(&e, e.t->catchall);
	else
		expand_final(&e, name);	/* open: a mailbox of its name */
	if (e.nomem) {
		for (size_t i = 0; i < e.n; i++)
			free(targets[i]);
		return -2;
	}
	return (int)e.n;
}
