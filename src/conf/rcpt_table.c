/*
 * rcpt_table - the recipient table's file and its hash table.
 *
 * The file has the aliases file's syntax (mapfile.c: continuation
 * lines, `#` comments), keyed by whole address:
 *  - `user@domain` alone is a mailbox;
 *  - `user@domain: target, target` an alias; a target is an address,
 *    or a bare name standing for name@domain (the key's domain); the
 *    key among its own targets keeps a copy in its mailbox;
 *  - `@domain: target, ...` the domain's catch-all.
 * Checked at load, each mistake with its file and line: a key whose
 * domain is not in local_domains (it would never be asked), a key
 * defined twice, a local part that cannot name a Maildir (keys are
 * mailbox names: letters, digits, '.', '-', '_', '+'), and a target in a
 * local domain that is no recipient there (a typo would bounce every
 * message; the table's catch-alls do not count, so that no catch-all
 * can send mail round to itself and make up a mailbox).
 * The keys sit in one array with a hash index (rcpt_index.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/aliases.h"
#include "conf/config.h"
#include "conf/mapfile.h"
#include "conf/rcpt_table_int.h"

#define RCPT_ENTRIES_MAX	1000000
#define RCPT_TARGETS_MAX	1000		/* targets of one entry */

/* One load: the file being read, then the table. */
struct rcpt_load {
	struct mapfile	 m;		/* first: entry() gets it */
	struct rcpt_table *t;
	const struct strlist *local_domains;
};

/* --- the file --------------------------------------------------------------- */

static void
rcpt_entry_clear(struct rcpt_entry *e)
{
	for (size_t i = 0; i < e->ntargets; i++)
		free(e->targets[i]);
	free(e->targets);
	free(e->key);
}

static bool
rcpt_local_domain(const struct strlist *l, const char *domain)
{
	for (size_t i = 0; l != NULL && i < l->n; i++)
		if (strcmp(l->v[i], domain) == 0)
			return true;
	return false;
}

/* rcpt_key - "user@domain" or "@domain" checked and in lower case;
 * the domain goes to dom */
static int
rcpt_key(struct rcpt_load *l, unsigned line, const char *in, char *key,
    size_t keylen, char *dom, size_t domlen)
{
	const char	*at = strrchr(in, '@');
	char		 local[CV_LOCALPART_MAX + 1] = "", err[300];
	char		 q[CV_QBUF];

	if (at == NULL) {
		mapfile_error(&l->m, line, "%s is not an address (user@domain, "
		    "or @domain for a catch-all)", cv_quote(in, q, sizeof(q)));
		return -1;
	}
	if (at > in) {
		char	 part[CV_LINE_MAX + 1];

		snprintf(part, sizeof(part), "%.*s", (int)(at - in), in);
		if (cv_localpart_norm(part, local, sizeof(local), err,
		    sizeof(err)) == -1) {
			mapfile_error(&l->m, line, "%s", err);
			return -1;
		}
	}
	if (cv_maildomain_norm(at + 1, dom, domlen, err, sizeof(err)) == -1) {
		mapfile_error(&l->m, line, "%s", err);
		return -1;
	}
	if (!rcpt_local_domain(l->local_domains, dom)) {
		mapfile_error(&l->m, line, "%s is not in local_domains: mail "
		    "for it is never delivered here", cv_quote(dom, q,
		    sizeof(q)));
		return -1;
	}
	snprintf(key, keylen, "%s@%s", local, dom);
	return 0;
}

/* rcpt_target - one target as a whole address at the end of e */
static int
rcpt_target(struct rcpt_load *l, struct rcpt_entry *e, const char *item,
    const char *dom)
{
	char	 norm[RCPT_ADDR_MAX + 1], full[RCPT_ADDR_MAX + 2], err[300];
	char	 **v;
	int	 r;

	if (strchr(item, '@') != NULL) {
		r = alias_address_norm(item, norm, sizeof(norm), err,
		    sizeof(err));
		snprintf(full, sizeof(full), "%s", norm);
	} else {
		r = cv_localpart_norm(item, norm, sizeof(norm), err,
		    sizeof(err));
		/* 64 + 1 + 253 bytes at most: it fits. */
		snprintf(full, sizeof(full), "%.64s@%s", norm, dom);
	}
	if (r == -1) {
		mapfile_error(&l->m, e->line, "%s: %s", e->key, err);
		return -1;
	}
	if (e->ntargets == RCPT_TARGETS_MAX) {
		mapfile_error(&l->m, e->line, "%s: more than %d targets",
		    e->key, RCPT_TARGETS_MAX);
		return -1;
	}
	if ((v = reallocarray(e->targets, e->ntargets + 1, sizeof(*v))) ==
	    NULL || (v[e->ntargets] = strdup(full)) == NULL) {
		if (v != NULL)
			e->targets = v;
		l->m.nomem = true;
		return -1;
	}
	e->targets = v;
	e->ntargets++;
	return 0;
}

/* rcpt_add - e into the table, unless its key is there already */
static void
rcpt_add(struct rcpt_load *l, struct rcpt_entry *e)
{
	struct rcpt_table *t = l->t;
	const struct rcpt_entry *old = rcpt_table_find(t, e->key);
	char		 q[CV_QBUF];

	if (old != NULL) {
		mapfile_error(&l->m, e->line, "%s defined twice (lines %u and "
		    "%u)", cv_quote(e->key, q, sizeof(q)), old->line, e->line);
		rcpt_entry_clear(e);
		return;
	}
	if (t->n == RCPT_ENTRIES_MAX) {
		mapfile_error(&l->m, e->line, "more than %d entries",
		    RCPT_ENTRIES_MAX);
		rcpt_entry_clear(e);
		return;
	}
	if (rcpt_index_grow(t) == -1) {
		l->m.nomem = true;
		rcpt_entry_clear(e);
		return;
	}
	t->v[t->n] = *e;
	rcpt_index_put(t, t->n++);
}

/* rcpt_entry - one whole entry: "key" or "key: targets" */
static void
rcpt_entry(struct mapfile *m, char *text, unsigned line)
{
	struct rcpt_load *l = (struct rcpt_load *)m;
	struct rcpt_entry e = { .line = line };
	char		*colon = strchr(text, ':'), *end;
	char		 key[RCPT_ADDR_MAX + 1], dom[CV_DOMAIN_MAX + 1];
	char		 item[CV_LINE_MAX + 1];
	const char	*s;

	end = colon != NULL ? colon : text + strlen(text);
	while (end > text && cv_isblank(end[-1]))
		end--;
	*end = '\0';
	if (strpbrk(text, " \t,") != NULL) {
		mapfile_error(m, line, "missing ':' after the address (expected "
		    "ADDRESS, or ADDRESS: TARGETS)");
		return;
	}
	if (rcpt_key(l, line, text, key, sizeof(key), dom, sizeof(dom)) == -1)
		return;
	if ((e.key = strdup(key)) == NULL) {
		l->m.nomem = true;
		return;
	}
	/* Items come from an entry no longer than MAPFILE_ENTRY_MAX, cut
	 * to CV_LINE_MAX each; a cut one is no local part or address. */
	for (s = colon != NULL ? colon + 1 : ""; (s = cv_next_item(s, item,
	    sizeof(item))) != NULL;)
		if (rcpt_target(l, &e, item, dom) == -1)
			goto fail;
	if (e.ntargets == 0 && (colon != NULL || key[0] == '@')) {
		mapfile_error(m, line, "%s: no targets%s", key, key[0] == '@' ?
		    " (a catch-all names where the mail goes)" : "");
		goto fail;
	}
	rcpt_add(l, &e);
	return;
fail:
	rcpt_entry_clear(&e);
}

/* rcpt_check_targets - every target in a local domain is a recipient
 * there without help from the table's catch-alls; asked only of a file
 * without other mistakes */
static void
rcpt_check_targets(struct rcpt_load *l)
{
	const struct rcpt_table *t = l->t;
	struct rcpt_rule r;
	char		 local[RCPT_ADDR_MAX + 1], q[CV_QBUF];

	for (size_t i = 0; i < t->n; i++) {
		const struct rcpt_entry *e = &t->v[i];

		for (size_t j = 0; j < e->ntargets; j++) {
			const char *at = strrchr(e->targets[j], '@');

			if (!rcpt_local_domain(l->local_domains, at + 1))
				continue;
			snprintf(local, sizeof(local), "%.*s",
			    (int)(at - e->targets[j]), e->targets[j]);
			if (rcpt_rule(t, local, at + 1, false, &r) == 0 &&
			    r.how != RCPT_NONE)
				continue;
			mapfile_error(&l->m, e->line, "%s: target %s is no "
			    "recipient here (neither in this file nor in "
			    "aliases or mailbox_users)", e->key,
			    cv_quote(e->targets[j], q, sizeof(q)));
		}
	}
}

/* rcpt_count_domains - the distinct domains of the keys */
static void
rcpt_count_domains(struct rcpt_table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		const char *d = strrchr(t->v[i].key, '@') + 1;
		size_t	 k;

		for (k = 0; k < i; k++)
			if (strcmp(strrchr(t->v[k].key, '@') + 1, d) == 0)
				break;
		if (k == i && ++t->ndomains > 1)
			return;		/* one or more is all we need */
	}
}

struct rcpt_table *
rcpt_table_load(const char *path, const struct strlist *local_domains,
    const struct alias_table *sh, const char *delimiter, char **errors)
{
	struct rcpt_load l = { .local_domains = local_domains };

	mapfile_init(&l.m, path != NULL ? path : "recipients", rcpt_entry);
	if ((l.t = calloc(1, sizeof(*l.t))) == NULL || (delimiter != NULL &&
	    delimiter[0] != '\0' && (l.t->delim = strdup(delimiter)) ==
	    NULL)) {
		l.m.nomem = true;
		goto done;
	}
	l.t->sh = sh;
	if (path != NULL) {
		mapfile_read(&l.m);
		if (l.m.nerrors == 0 && !l.m.nomem)
			rcpt_check_targets(&l);
		rcpt_count_domains(l.t);
	}
done:
	if ((*errors = mapfile_errors(&l.m)) != NULL || l.m.nerrors > 0) {
		rcpt_table_free(l.t);
		l.t = NULL;
	}
	return l.t;
}

size_t
rcpt_table_ndomains(const struct rcpt_table *t)
{
	return t != NULL ? t->ndomains : 0;
}

void
rcpt_table_free(struct rcpt_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		rcpt_entry_clear(&t->v[i]);
	free(t->v);
	free(t->slots);
	free(t->delim);
	free(t);
}

int
rcpt_delimiter_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	size_t	 len = strlen(in);
	char	 q[CV_QBUF];

	for (size_t i = 0; i < len; i++)
		if (strchr("#$&'*+-=?^_`{|}~.", in[i]) == NULL || in[i] ==
		    '\0')
			len = 0;
	if (len == 0 || len > 8 || len >= outlen) {
		snprintf(err, errlen, "%s is not a delimiter (1 to 8 of the "
		    "characters #$&'*+-=?^_`{|}~.)", cv_quote(in, q,
		    sizeof(q)));
		return -1;
	}
	memcpy(out, in, len + 1);
	return 0;
}
