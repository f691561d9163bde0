/*
 * sendermap - sender_login_map, read into one hash set.
 *
 * Why keyed by login, where Postfix's smtpd_sender_login_maps is keyed
 * by address: an admin thinks of people. Adding a user is one line that
 * says everything the user may do, removing one is deleting that line,
 * and a domain admin is `@domain` on the admin's own line instead of a
 * rule of its own. A shared mailbox is the one thing written twice (on
 * the line of each login that shares it).
 *
 * Every pair "login\naddress" and "login\n@domain" is a key of one open
 * addressing table (FNV-1a, linear probing, at most half full), so that
 * a lookup is two probes whatever the size of the file; "login\n" alone
 * marks a login as listed, with its line, to catch one listed twice.
 *
 * The file: `login: item, item` (commas and/or blanks between items),
 * read by mapfile.c as the aliases and recipients files are (a line
 * starting with a blank continues the entry above it; blank lines and
 * lines whose first non-blank is `#` are ignored). An item is an
 * address local@domain or `@domain`.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/aliases.h"
#include "conf/config_value.h"
#include "conf/mapfile.h"
#include "conf/sendermap.h"

#define SM_LOGIN_MAX	255		/* bytes of a login (SASL's limit
					 * in our session is 255 too) */
#define SM_KEY_MAX	(SM_LOGIN_MAX + 1 + CV_LOCALPART_MAX + 1 + \
			    CV_DOMAIN_MAX + 1)
#define SM_KEYS_MAX	1000000		/* pairs in one file */

struct sm_slot {
	char		*key;		/* NULL: empty */
	unsigned	 line;		/* where it was listed */
};

struct sender_map {
	struct sm_slot	*slots;
	size_t		 cap;		/* a power of two */
	size_t		 n;
	unsigned long	 pairs;		/* login/address keys */
};

struct sm_load {
	struct mapfile	 mf;		/* first: the entry callback gets it */
	struct sender_map *m;
	unsigned	 line;		/* of the entry being read */
	char		 login[SM_LOGIN_MAX + 1];
};

static uint64_t
sm_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/* sm_slot - the slot of key, or the empty one where it would go */
static struct sm_slot *
sm_slot(const struct sender_map *m, const char *key)
{
	size_t i = (size_t)sm_hash(key) & (m->cap - 1);

	while (m->slots[i].key != NULL && strcmp(m->slots[i].key, key) != 0)
		i = (i + 1) & (m->cap - 1);
	return &m->slots[i];
}

static int
sm_grow(struct sender_map *m)
{
	struct sender_map bigger = { .cap = m->cap ? m->cap * 2 : 1024 };

	if ((bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots))) ==
	    NULL)
		return -1;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key != NULL)
			*sm_slot(&bigger, m->slots[i].key) = m->slots[i];
	free(m->slots);
	m->slots = bigger.slots;
	m->cap = bigger.cap;
	return 0;
}

/* sm_add - key into the set; its slot (the one already there, if any:
 * the caller tells by its line), NULL when out of memory */
static struct sm_slot *
sm_add(struct sender_map *m, const char *key, unsigned line)
{
	struct sm_slot *sl;

	if ((m->n + 1) * 2 > m->cap && sm_grow(m) == -1)
		return NULL;
	sl = sm_slot(m, key);
	if (sl->key != NULL)
		return sl;
	if ((sl->key = strdup(key)) == NULL)
		return NULL;
	sl->line = line;
	m->n++;
	return sl;
}

/* sm_lower - s in lower case into out; -1 if it does not fit */
static int
sm_lower(const char *s, size_t n, char *out, size_t outlen)
{
	if (n >= outlen)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[n] = '\0';
	return 0;
}

/* sm_item - one address or @domain of the open entry */
static void
sm_item(struct sm_load *l, const char *item)
{
	char	 norm[CV_LOCALPART_MAX + 1 + CV_DOMAIN_MAX + 1], err[300];
	char	 key[SM_KEY_MAX + 1];
	int	 r;
	struct sm_slot *sl;

	if (item[0] == '@') {
		norm[0] = '@';
		r = cv_domain_norm(item + 1, norm + 1, sizeof(norm) - 1, err,
		    sizeof(err));
	} else {
		r = alias_address_norm(item, norm, sizeof(norm), err,
		    sizeof(err));
	}
	if (r == -1) {
		mapfile_error(&l->mf, l->line, "%s: %s (expected "
		    "local@domain or @domain)", l->login, err);
		return;
	}
	snprintf(key, sizeof(key), "%s\n", l->login);
	sm_lower(norm, strlen(norm), key + strlen(key), sizeof(key) -
	    strlen(key));
	if (l->m->pairs == SM_KEYS_MAX) {
		mapfile_error(&l->mf, l->line, "more than %d login/address "
		    "pairs", SM_KEYS_MAX);
		return;
	}
	if ((sl = sm_add(l->m, key, l->line)) == NULL) {
		l->mf.nomem = true;
		return;
	}
	if (sl->line == l->line)
		l->m->pairs++;		/* not a repeat of the same pair */
}

/* sm_entry - "login: items", continuation lines joined */
static void
sm_entry(struct mapfile *mf, char *text, unsigned line)
{
	struct sm_load	*l = (struct sm_load *)mf;
	char		*colon = strchr(text, ':'), *end;
	char		 key[SM_LOGIN_MAX + 2], item[CV_LINE_MAX + 1];
	const char	*s;
	struct sm_slot	*sl;

	l->line = line;
	if (colon == NULL) {
		mapfile_error(mf, line, "missing ':' (expected login: "
		    "addresses)");
		return;
	}
	for (end = colon; end > text && cv_isblank(end[-1]); end--)
		;
	for (char *c = text; c < end; c++)
		if (cv_isblank(*c)) {
			mapfile_error(mf, line, "a login has no blanks");
			return;
		}
	if (end == text || sm_lower(text, (size_t)(end - text), l->login,
	    sizeof(l->login)) == -1) {
		mapfile_error(mf, line, "a login of 1 to %d bytes before ':'",
		    SM_LOGIN_MAX);
		return;
	}
	snprintf(key, sizeof(key), "%s\n", l->login);
	if ((sl = sm_add(l->m, key, line)) == NULL) {
		mf->nomem = true;
		return;
	}
	if (sl->line != line) {
		mapfile_error(mf, line, "%s: listed already at line %u",
		    l->login, sl->line);
		return;
	}
	/* Items from an entry no longer than MAPFILE_ENTRY_MAX, cut to
	 * CV_LINE_MAX each; a cut one is no address. */
	for (s = colon + 1; (s = cv_next_item(s, item, sizeof(item))) !=
	    NULL && !mf->nomem && mf->nerrors < MAPFILE_ERRORS_MAX;)
		sm_item(l, item);
}

struct sender_map *
sender_map_load(const char *path, char **errors)
{
	struct sm_load	 l = { .line = 0 };

	*errors = NULL;
	if ((l.m = calloc(1, sizeof(*l.m))) == NULL || sm_grow(l.m) == -1) {
		free(l.m);
		return NULL;
	}
	mapfile_init(&l.mf, path, sm_entry);
	mapfile_read(&l.mf);
	if ((*errors = mapfile_errors(&l.mf)) != NULL || l.mf.nerrors > 0) {
		sender_map_free(l.m);
		return NULL;
	}
	return l.m;
}

void
sender_map_free(struct sender_map *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].key);
	free(m->slots);
	free(m);
}

bool
sender_map_owns(const struct sender_map *m, const char *login,
    const char *local, const char *domain)
{
	char	 key[SM_KEY_MAX + 1];
	size_t	 n, ll = strlen(local), dl = strlen(domain);

	if (m == NULL || sm_lower(login, strlen(login), key, SM_LOGIN_MAX +
	    1) == -1 || ll == 0 || ll > CV_LOCALPART_MAX || dl == 0 ||
	    dl > CV_DOMAIN_MAX)
		return false;
	n = strlen(key);
	key[n++] = '\n';
	sm_lower(local, ll, key + n, sizeof(key) - n);
	key[n + ll] = '@';
	sm_lower(domain, dl, key + n + ll + 1, sizeof(key) - n - ll - 1);
	if (sm_slot(m, key)->key != NULL)
		return true;
	/* the domain admin's @domain */
	memmove(key + n, key + n + ll, dl + 2);
	return sm_slot(m, key)->key != NULL;
}

unsigned long
sender_map_size(const struct sender_map *m)
{
	return m != NULL ? m->pairs : 0;
}
