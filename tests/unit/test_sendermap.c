/*
 * test_sendermap - sender_login_map: the file's syntax and its mistakes
 * (each with its file:line), and the lookups: own addresses, a shared
 * mailbox under several logins, a domain admin's @domain, case, and
 * what nobody may use.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/sendermap.h"
#include "scratch.h"

static char path[64];

static const char *
file(const char *text)
{
	scratch_file(path, sizeof(path), "sendermap", text);
	return path;
}

static void
cleanup(void)
{
	if (path[0] != '\0')
		unlink(path);
}

TestSuite(sendermap, .fini = cleanup);

static struct sender_map *
load(const char *text)
{
	char			*errors = NULL;
	struct sender_map	*m = sender_map_load(file(text), &errors);

	cr_assert_not_null(m, "%s", errors ? errors : "");
	cr_assert_null(errors, "%s", errors);
	return m;
}

/* fails_with - the messages for text, "F" standing for the path */
static void
fails_with(const char *text, const char *want)
{
	char	*errors = NULL, expect[2048], *o = expect;

	cr_assert_null(sender_map_load(file(text), &errors));
	cr_assert_not_null(errors);
	for (const char *w = want; *w != '\0'; w++)
		if (*w == 'F') {
			strcpy(o, path);
			o += strlen(path);
		} else {
			*o++ = *w;
		}
	*o = '\0';
	cr_assert_str_eq(errors, expect);
	free(errors);
}

static const char sample[] =
    "# who may send as whom\n"
    "alice@example.org: alice@example.org, A.Smith@Example.ORG,\n"
    "    info@example.org\n"
    "\n"
    "bob@example.org:\tbob@example.org info@example.org\r\n"
    "  # a comment between continuation lines\n"
    "admin: @example.org @example.net admin@example.com\n";

Test(sendermap, own_addresses_and_aliases)
{
	struct sender_map *m = load(sample);

	cr_assert(sender_map_owns(m, "alice@example.org", "alice",
	    "example.org"));
	cr_assert(sender_map_owns(m, "alice@example.org", "a.smith",
	    "example.org"));
	cr_assert(sender_map_owns(m, "ALICE@example.ORG", "A.SMITH",
	    "EXAMPLE.org"), "logins and addresses without regard to case");
	cr_assert_not(sender_map_owns(m, "alice@example.org", "bob",
	    "example.org"));
	cr_assert_not(sender_map_owns(m, "alice@example.org", "alice",
	    "example.net"), "an address is not a domain");
	cr_assert_not(sender_map_owns(m, "alice", "alice", "example.org"),
	    "the login as written in the file, not its local part");
	cr_assert_eq(sender_map_size(m), 8);
	sender_map_free(m);
}

Test(sendermap, shared_mailbox)
{
	struct sender_map *m = load(sample);

	cr_assert(sender_map_owns(m, "alice@example.org", "info",
	    "example.org"));
	cr_assert(sender_map_owns(m, "bob@example.org", "info",
	    "example.org"));
	cr_assert_not(sender_map_owns(m, "bob@example.org", "alice",
	    "example.org"));
	sender_map_free(m);
}

Test(sendermap, domain_admin)
{
	struct sender_map *m = load(sample);

	cr_assert(sender_map_owns(m, "admin", "anyone", "example.org"));
	cr_assert(sender_map_owns(m, "admin", "x", "example.net"));
	cr_assert(sender_map_owns(m, "admin", "admin", "example.com"));
	cr_assert_not(sender_map_owns(m, "admin", "other", "example.com"));
	cr_assert_not(sender_map_owns(m, "admin", "x", "sub.example.org"),
	    "@domain is that domain, not its subdomains");
	cr_assert_not(sender_map_owns(m, "admin", "", "example.org"));
	sender_map_free(m);
}

Test(sendermap, unknown_login_and_no_map)
{
	struct sender_map *m = load(sample);

	cr_assert_not(sender_map_owns(m, "carol@example.org", "carol",
	    "example.org"));
	cr_assert_not(sender_map_owns(m, "", "alice", "example.org"));
	cr_assert_not(sender_map_owns(NULL, "alice@example.org", "alice",
	    "example.org"));
	sender_map_free(m);
}

Test(sendermap, empty_file)
{
	struct sender_map *m = load("# nobody yet\n\n");

	cr_assert_eq(sender_map_size(m), 0);
	cr_assert_not(sender_map_owns(m, "a", "a", "example.org"));
	sender_map_free(m);
}

Test(sendermap, many_logins)
{
	char	*text = malloc(5000 * 64), *o = text;
	struct sender_map *m;
	char	 login[32], local[32];

	for (int i = 0; i < 5000; i++)
		o += sprintf(o, "u%d@example.org: u%d@example.org @d%d.example\n",
		    i, i, i);
	m = load(text);
	free(text);
	cr_assert_eq(sender_map_size(m), 10000);
	for (int i = 0; i < 5000; i += 499) {
		snprintf(login, sizeof(login), "u%d@example.org", i);
		snprintf(local, sizeof(local), "u%d", i);
		cr_assert(sender_map_owns(m, login, local, "example.org"));
		cr_assert_not(sender_map_owns(m, login, "u1", i == 1 ?
		    "x.example" : "example.org"));
	}
	sender_map_free(m);
}

Test(sendermap, mistakes_with_their_lines)
{
	fails_with("alice@example.org alice@example.org\n",
	    "F:1: missing ':' (expected login: addresses)\n");
	fails_with("a: a@example.org\nb: not-an-address\n",
	    "F:2: b: \"not-an-address\" is not an address (a local part of "
	    "1 to 64 letters, digits and !#$%&'*+-/=?^_`{|}~.) (expected "
	    "local@domain or @domain)\n");
	fails_with("# x\na: a@example.org\n\nA: b@example.org\n",
	    "F:4: a: listed already at line 2\n");
	fails_with("  a@example.org\n",
	    "F:1: continuation line without an entry above it\n");
	fails_with("a b: a@example.org\n", "F:1: a login has no blanks\n");
	fails_with(": a@example.org\n",
	    "F:1: a login of 1 to 255 bytes before ':'\n");
	fails_with("a: a@example.org\nb: b@exa\001mple.org\n",
	    "F:2: control character 0x01 in line\n");
}

Test(sendermap, bad_domain_pattern)
{
	char	*errors = NULL;

	cr_assert_null(sender_map_load(file("a: @\n"), &errors));
	cr_assert_not_null(errors);
	cr_assert(strncmp(errors, path, strlen(path)) == 0 &&
	    strncmp(errors + strlen(path), ":1: a: ", 7) == 0, "%s", errors);
	free(errors);
}

Test(sendermap, missing_file)
{
	char	*errors = NULL;

	cr_assert_null(sender_map_load("/nonexistent/sender-map", &errors));
	cr_assert_str_eq(errors,
	    "/nonexistent/sender-map: cannot open: No such file or "
	    "directory\n");
	free(errors);
}

Test(sendermap, long_line)
{
	char	*text = malloc(6000);

	memset(text, 'a', 5000);
	strcpy(text + 5000, ": a@example.org\nb: b@example.org\n");
	fails_with(text, "F:1: line too long (more than 4096 bytes)\n");
	free(text);
}
