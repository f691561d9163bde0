/*
 * test_aliases - the local recipient table: the file's syntax and its
 * mistakes (each with its line), mailbox users, the catch-all, the
 * open table, and expansion with precedence, loops, depth and
 * duplicates.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/aliases.h"
#include "scratch.h"

static char path[64];

/* file - write an aliases file; its path is `path` */
static const char *
file(const char *text)
{
	scratch_file(path, sizeof(path), "aliases", text);
	return path;
}

static void
cleanup(void)
{
	if (path[0] != '\0')
		unlink(path);
}

TestSuite(aliases, .fini = cleanup);

/* load - a table that must load cleanly */
static struct alias_table *
load(const char *text, char *const *users, size_t nusers,
    const char *catchall)
{
	char			*errors = NULL;
	struct alias_table	*t;

	t = alias_table_load(text != NULL ? file(text) : NULL, users, nusers,
	    catchall, false, &errors);
	cr_assert_not_null(t, "%s", errors ? errors : "");
	cr_assert_null(errors, "%s", errors);
	return t;
}

/* fails_with - the messages for text are exactly `want`, with "F"
 * standing for the file's path */
static void
fails_with(const char *text, char *const *users, size_t nusers,
    const char *want)
{
	char	*errors = NULL, expect[4096];
	size_t	 n = 0;

	cr_assert_null(alias_table_load(file(text), users, nusers, NULL,
	    false, &errors), "for \"%s\"", text);
	cr_assert_not_null(errors);
	for (const char *w = want; *w != '\0' && n + 64 < sizeof(expect); w++)
		if (*w == 'F' && (w == want || w[-1] == '\n'))
			n += (size_t)snprintf(expect + n, sizeof(expect) - n,
			    "%s", path);
		else
			expect[n++] = *w;
	expect[n] = '\0';
	cr_assert_str_eq(errors, expect, "for \"%s\"", text);
	free(errors);
}

/* expands - local expands to exactly the targets in `want`, blank
 * separated, in order */
static void
expands(const struct alias_table *t, const char *local, const char *want)
{
	char	*v[32], got[1024] = "";
	int	 n = alias_table_expand(t, local, v, 32);

	cr_assert_geq(n, 0, "%s unknown", local);
	for (int i = 0; i < n; i++) {
		if (i > 0)
			strcat(got, " ");
		strcat(got, v[i]);
		free(v[i]);
	}
	cr_assert_str_eq(got, want, "expanding %s: \"%s\", not \"%s\"", local,
	    got, want);
}

static char *users[] = { "alice", "bob", "carol" };

Test(aliases, file_syntax)
{
	struct alias_table *t = load(
	    "# the team\n"
	    "\n"
	    "info: alice, bob\n"
	    "Sales:alice\tcarol , dave@example.org\n"
	    "   # a comment inside an entry\n"
	    "team: info,\n"
	    "   sales\r\n"
	    "\tbob\n"
	    "ext: Someone.Else@Example.NET.\n", users, 3, NULL);

	expands(t, "info", "alice bob");
	expands(t, "SALES", "alice carol dave@example.org");
	expands(t, "team", "alice bob carol dave@example.org");
	expands(t, "ext", "Someone.Else@example.net");
	expands(t, "Alice", "alice");
	cr_assert(alias_table_known(t, "Team"));
	cr_assert(alias_table_known(t, "carol"));
	cr_assert_not(alias_table_known(t, "dave"));
	cr_assert_eq(alias_table_expand(t, "dave", NULL, 0), -1);
	alias_table_free(t);
}

Test(aliases, postmaster_is_always_known)
{
	struct alias_table *t = load("info: bob\n", users, 3, NULL);

	cr_assert(alias_table_known(t, "postmaster"));
	cr_assert(alias_table_known(t, "PostMaster"));
	expands(t, "postmaster", "alice");
	alias_table_free(t);

	t = load("info: x@example.org\n", NULL, 0, NULL);
	expands(t, "postmaster", "root");
	cr_assert_not(alias_table_known(t, "root"));
	alias_table_free(t);

	t = load("postmaster: carol\n", users, 3, NULL);
	expands(t, "postmaster", "carol");
	alias_table_free(t);

	t = load(NULL, (char *[]){ "postmaster", "bob" }, 2, NULL);
	expands(t, "postmaster", "postmaster");
	alias_table_free(t);
}

Test(aliases, mailbox_users_without_a_file)
{
	struct alias_table *t = load(NULL, users, 3, NULL);

	cr_assert(alias_table_known(t, "Bob"));
	cr_assert_not(alias_table_known(t, "dave"));
	expands(t, "BOB", "bob");
	expands(t, "postmaster", "alice");
	alias_table_free(t);
}

Test(aliases, catchall)
{
	struct alias_table *t = load("info: bob, carol\n", users, 3, "alice");

	cr_assert(alias_table_known(t, "anything"));
	expands(t, "anything", "alice");
	expands(t, "bob", "bob");
	expands(t, "info", "bob carol");
	alias_table_free(t);

	/* The catch-all may be an alias, or a mailbox user of its own. */
	t = load("info: bob, carol\n", users, 3, "info");
	expands(t, "zed", "bob carol");
	alias_table_free(t);
	t = load(NULL, NULL, 0, "Catcher");
	expands(t, "zed", "catcher");
	expands(t, "postmaster", "root");
	alias_table_free(t);
}

Test(aliases, open_table)
{
	char		*errors = NULL;
	struct alias_table *t = alias_table_load(NULL, NULL, 0, NULL, false,
	    &errors);
	char		*v[4];

	cr_assert_not_null(t);
	cr_assert_null(errors);
	cr_assert(alias_table_known(t, "anyone"));
	cr_assert_not(alias_table_known(t, "x%example.org"),
	    "routing syntax is no mailbox name");
	expands(t, "Anyone", "anyone");
	expands(t, "postmaster", "root");
	cr_assert_eq(alias_table_expand(t, "../etc", v, 4), -1,
	    "no mailbox of such a name");
	cr_assert_eq(alias_table_expand(t, "x%example.org", v, 4), -1);
	alias_table_free(t);

	/* A NULL table is open too. */
	cr_assert(alias_table_known(NULL, "anyone"));
	expands(NULL, "Anyone", "anyone");
}

Test(aliases, alias_takes_precedence_over_a_mailbox)
{
	struct alias_table *t = load("bob: alice\n", users, 3, NULL);

	expands(t, "bob", "alice");
	alias_table_free(t);
}

Test(aliases, self_reference_keeps_a_copy)
{
	struct alias_table *t = load(
	    "bob: bob, bob@elsewhere.example\n"
	    "dave: dave, dave@elsewhere.example\n", users, 3, NULL);

	expands(t, "bob", "bob bob@elsewhere.example");
	/* dave is no mailbox user: the cycle is cut. */
	expands(t, "dave", "dave@elsewhere.example");
	alias_table_free(t);
}

Test(aliases, loops_are_cut)
{
	struct alias_table *t = load(
	    "a: b, a@x.example\n"
	    "b: c, b@x.example\n"
	    "c: a, alice\n"
	    "alice: bob, alice\n"
	    "bob: alice\n", users, 3, NULL);

	/* a -> b -> c -> a is cut (a has no mailbox); alice -> bob ->
	 * alice ends in alice's mailbox. */
	expands(t, "a", "alice b@x.example a@x.example");
	expands(t, "c", "b@x.example a@x.example alice");
	expands(t, "bob", "bob alice");
	alias_table_free(t);
}

Test(aliases, depth_is_bounded)
{
	char	 text[2048] = "";
	size_t	 n = 0;
	struct alias_table *t;

	/* n0 -> n1 -> ... -> n15 -> alice, each with an address too */
	for (int i = 0; i < 15; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "n%d: n%d@x.example, n%d\n", i, i, i + 1);
	snprintf(text + n, sizeof(text) - n, "n15: alice\n");
	t = load(text, users, 3, NULL);
	expands(t, "n0", "n0@x.example n1@x.example n2@x.example "
	    "n3@x.example n4@x.example n5@x.example n6@x.example "
	    "n7@x.example n8@x.example n9@x.example");
	expands(t, "n10", "n10@x.example n11@x.example n12@x.example "
	    "n13@x.example n14@x.example alice");
	alias_table_free(t);
}

Test(aliases, duplicates_removed_and_max_respected)
{
	struct alias_table *t = load(
	    "all: alice, bob, team, ALICE, x@Y.example, x@y.example\n"
	    "team: bob, carol\n", users, 3, NULL);
	char	*v[2];

	expands(t, "all", "alice bob carol x@y.example");
	cr_assert_eq(alias_table_expand(t, "all", v, 2), 2);
	cr_assert_str_eq(v[0], "alice");
	cr_assert_str_eq(v[1], "bob");
	free(v[0]);
	free(v[1]);
	alias_table_free(t);
}

Test(aliases, mistakes_with_their_lines)
{
	fails_with("a: alice\nb alice\n", users, 3,
	    "F:2: missing ':' (expected name: targets)\n");
	fails_with("a: alice\n\nA: bob\n", users, 3,
	    "F:3: \"a\" defined twice (lines 1 and 3)\n");
	fails_with(" alice\n", users, 3,
	    "F:1: continuation line without an entry above it\n");
	fails_with("a:\n", users, 3, "F:1: a: no targets\n");
	fails_with("a: alcie\n", users, 3,
	    "F:1: a: target \"alcie\" is neither an alias nor in "
	    "mailbox_users\n");
	fails_with("a: |/bin/cat\n", users, 3,
	    "F:1: a: \"|/bin/cat\" is not a local part (only letters, digits, "
	    "'.', '-', '_' and '+')\n");
	fails_with("a: x@\n", users, 3,
	    "F:1: a: \"\" is not a domain name (empty)\n");
	fails_with("a/b: alice\n", users, 3,
	    "F:1: alias name: \"a/b\" is not a local part (only letters, "
	    "digits, '.', '-', '_' and '+')\n");
	fails_with("a: ali\001ce\n", users, 3,
	    "F:1: control character 0x01 in line\n");
	/* Several at once, each at its line. */
	fails_with("a: alice\nb\n  more\nc: bob\nc: carol\n", users, 3,
	    "F:2: missing ':' (expected name: targets)\n"
	    "F:5: \"c\" defined twice (lines 4 and 5)\n");
}

Test(aliases, duplicate_found_after_other_entries)
{
	fails_with("c: bob\nx alice\n", users, 3,
	    "F:2: missing ':' (expected name: targets)\n");
	fails_with("c: bob\nd: alice\nc: carol\n", users, 3,
	    "F:3: \"c\" defined twice (lines 1 and 3)\n");
}

Test(aliases, long_lines)
{
	char	*text = malloc(10000);

	memset(text, 'a', 5000);
	memcpy(text, "x: ", 3);
	strcpy(text + 5000, "\ny: alice\n");
	fails_with(text, users, 3,
	    "F:1: line too long (more than 4096 bytes)\n");
	free(text);
}

Test(aliases, missing_file)
{
	char	*errors = NULL;

	cr_assert_null(alias_table_load("/nonexistent/aliases", NULL, 0, NULL,
	    false, &errors));
	cr_assert_str_eq(errors, "/nonexistent/aliases: cannot open: No such "
	    "file or directory\n");
	free(errors);
}

/* Local parts as the address parser hands them over (unquoted), and
 * whether an open table takes each as a mailbox of its own name. */
static const struct {
	const char	*local;
	bool		 mailbox;
} names[] = {
	{ "anyone", true },
	{ "a=b", true },
	{ "first.last", true },
	{ "o'brien", true },
	{ "x+tag", true },
	{ "#$&'*+-=?^_`{|}~", true },
	{ "UPPER", true },
	{ "user evil", false },		/* was "user evil"@ */
	{ "a,b", false },		/* was "a,b"@ */
	{ "say \"hi\"", false },
	{ "back\\slash", false },
	{ "a@b", false },
	{ "a/b", false },
	{ "../etc", false },
	{ ".hidden", false },
	{ "dot.", false },
	{ "a..b", false },
	{ "x%example.org", false },
	{ "host!user", false },
	{ "jos\xc3\xa9", false },		/* UTF-8 */
	{ "\xe7\x94\xa8\xe6\x88\xb7", false },
	{ "\xff", false },		/* not even UTF-8 */
	{ "", false },
	{ "a b(c)d:e;f<g>h[i]j", false },
};

/* expand_agrees - alias_table_expand delivers exactly what
 * alias_table_known accepts: the RCPT check and delivery cannot part */
static void
expand_agrees(const struct alias_table *t, const char *local)
{
	char	*v[4];
	int	 n = alias_table_expand(t, local, v, 4);

	cr_assert_eq(n >= 1, alias_table_known(t, local), "\"%s\": known "
	    "%d, expanded to %d", local, alias_table_known(t, local), n);
	for (int i = 0; i < n; i++)
		free(v[i]);
}

Test(aliases, one_predicate_open_table)
{
	struct alias_table *t = load(NULL, NULL, 0, NULL);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		cr_assert_eq(alias_table_known(t, names[i].local),
		    names[i].mailbox, "\"%s\"", names[i].local);
		cr_assert_eq(alias_table_known(NULL, names[i].local),
		    names[i].mailbox, "\"%s\", NULL table", names[i].local);
		expand_agrees(t, names[i].local);
		expand_agrees(NULL, names[i].local);
	}
	expands(t, "A=B", "a=b");
	expands(t, "O'Brien", "o'brien");
	cr_assert(alias_table_open(t));
	cr_assert(alias_table_open(NULL));
	alias_table_free(t);
}

Test(aliases, one_predicate_catchall_takes_every_name)
{
	struct alias_table *t = load(NULL, users, 3, "alice");

	cr_assert_not(alias_table_open(t));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		cr_assert(alias_table_known(t, names[i].local), "\"%s\"",
		    names[i].local);
		expands(t, names[i].local, "alice");
	}
	alias_table_free(t);
}

Test(aliases, one_predicate_listed_names_only)
{
	struct alias_table *t = load("info: bob\n", users, 3, NULL);

	cr_assert_not(alias_table_open(t));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		cr_assert_not(alias_table_known(t, names[i].local), "\"%s\"",
		    names[i].local);
		expand_agrees(t, names[i].local);
	}
	cr_assert(alias_table_known(t, "Info"));
	expand_agrees(t, "Info");
	alias_table_free(t);
}
