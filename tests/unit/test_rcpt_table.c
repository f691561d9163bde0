/*
 * test_rcpt_table - the recipient table keyed by whole address: the
 * file's mistakes (each with file:line), per-domain mailboxes, aliases,
 * forwards and catch-alls, address extensions, the single-domain
 * shorthand beside it, and a lookup among 100000 entries timed.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/aliases.h"
#include "conf/config.h"
#include "conf/rcpt_table.h"
#include "smtp/policy.h"
#include "scratch.h"

static char path[64], apath[64];
static struct config *cfg;

/* afile - write an aliases file; its path is `apath` */
static const char *
afile(const char *text)
{
	scratch_file(apath, sizeof(apath), "rcpta", text);
	return apath;
}

/* file - write a recipients file; its path is `path` */
static const char *
file(const char *text)
{
	FILE	*fp;
	int	 fd;

	if (path[0] == '\0') {
		snprintf(path, sizeof(path), "/tmp/sallyport-test-rcpt.XXXXXX");
		fd = mkstemp(path);
		cr_assert_geq(fd, 0);
		close(fd);
	}
	fp = fopen(path, "w");
	cr_assert_not_null(fp);
	cr_assert_eq(fputs(text, fp) >= 0, true);
	fclose(fp);
	return path;
}

static void
cleanup(void)
{
	if (path[0] != '\0')
		unlink(path);
	if (apath[0] != '\0')
		unlink(apath);
	config_free(cfg);
	cfg = NULL;
}

TestSuite(rcpt_table, .fini = cleanup);

#define CONF_TOP "hostname = mail.a.example\nlisten = 127.0.0.1:25 mx\n" \
	"local_domains = a.example b.example c.example\n"

/* setup - a configuration: CONF_TOP, `keys`, and recipients = the
 * file with `table` (none when NULL) */
static void
setup(const char *keys, const char *table)
{
	char	 text[8192], *errors = NULL;

	snprintf(text, sizeof(text), CONF_TOP "%s\n%s%s\n", keys,
	    table != NULL ? "recipients = " : "",
	    table != NULL ? file(table) : "");
	config_free(cfg);
	cfg = config_parse(text, "t.conf", &errors);
	cr_assert_not_null(cfg, "%s", errors ? errors : "");
}

/* errors_of - the configuration's messages for a table that must not
 * load, "F" standing for the file's path at the start of a line */
static void
fails_with(const char *table, const char *want)
{
	char	 text[4096], expect[4096], *errors = NULL;
	size_t	 n = 0;
	struct config *c;

	snprintf(text, sizeof(text), CONF_TOP "mailbox_users = carol\n"
	    "recipients = %s\n", file(table));
	c = config_parse(text, "t.conf", &errors);
	cr_assert_null(c, "for \"%s\"", table);
	cr_assert_not_null(errors);
	for (const char *w = want; *w != '\0' && n + 64 < sizeof(expect); w++)
		if (*w == 'F' && (w == want || w[-1] == '\n'))
			n += (size_t)snprintf(expect + n, sizeof(expect) - n,
			    "%s", path);
		else
			expect[n++] = *w;
	expect[n] = '\0';
	cr_assert_not_null(strstr(errors, expect), "for \"%s\":\n%s\nwanted:"
	    "\n%s", table, errors, expect);
	free(errors);
}

/* local_rcpt - what deliver_local asks: ours, and a recipient */
static bool
local_rcpt(const struct config *c, const char *local, const char *domain)
{
	return policy_local_rcpt(c, local, domain) &&
	    policy_local_user(c, local, domain);
}

/* expands - local@domain's copies, "addr" for a mailbox, "addr/folder"
 * with a folder, ">addr" for elsewhere, joined by blanks in order */
static void
expands(const char *addr, const char *want)
{
	struct rcpt_dest v[32];
	char		 local[128], got[2048] = "";
	const char	*at = strrchr(addr, '@');
	int		 n;

	snprintf(local, sizeof(local), "%.*s", (int)(at - addr), addr);
	n = rcpt_expand(cfg->rcpt_table, local, at + 1, local_rcpt, cfg, v,
	    32);
	cr_assert_geq(n, 0, "%s: %d", addr, n);
	for (int i = 0; i < n; i++) {
		size_t	 len = strlen(got);

		snprintf(got + len, sizeof(got) - len, "%s%s%s%s%s",
		    i ? " " : "", v[i].mailbox ? "" : ">", v[i].addr,
		    v[i].folder ? "/" : "", v[i].folder ? v[i].folder : "");
	}
	rcpt_dest_free(v, (size_t)n);
	cr_assert_str_eq(got, want, "%s: %s", addr, got);
}

static bool
known(const char *addr)
{
	char		 local[128];
	const char	*at = strrchr(addr, '@');

	snprintf(local, sizeof(local), "%.*s", (int)(at - addr), addr);
	return policy_local_user(cfg, local, at + 1);
}

Test(rcpt_table, mistakes_have_file_and_line)
{
	fails_with("alice@a.example\n\nbob@a.example bob@x.example\n",
	    "F:3: missing ':' after the address (expected ADDRESS, or "
	    "ADDRESS: TARGETS)\n");
	fails_with("alice\n", "F:1: \"alice\" is not an address (user@domain, "
	    "or @domain for a catch-all)\n");
	fails_with("# people\nalice@d.example\n", "F:2: \"d.example\" is not "
	    "in local_domains: mail for it is never delivered here\n");
	fails_with("alice@a.example\nbob@a.example\nALICE@A.example: bob\n",
	    "F:3: \"alice@a.example\" defined twice (lines 1 and 3)\n");
	fails_with("a/b@a.example\n", "F:1: \"a/b\" is not a local part (only "
	    "letters, digits, '.', '-', '_' and '+')\n");
	fails_with("info@a.example: alice\n", "F:1: info@a.example: target "
	    "\"alice@a.example\" is no recipient here (neither in this file "
	    "nor in aliases or mailbox_users)\n");
	fails_with("@b.example:\n", "F:1: @b.example: no targets (a catch-all "
	    "names where the mail goes)\n");
	fails_with("info@a.example:\n  bob@\n", "F:1: info@a.example: ");
	/* A catch-all does not vouch for a target: it would send the mail
	 * round to itself and make up a mailbox. */
	fails_with("@b.example: x\n", "F:1: @b.example: target "
	    "\"x@b.example\" is no recipient here");
	fails_with("alice@a.example\n  , bob\n", "F:1: missing ':'");
}

Test(rcpt_table, the_maildir_template_must_name_the_domain)
{
	char	 text[4096], *errors = NULL;

	snprintf(text, sizeof(text), CONF_TOP "local_delivery = "
	    "maildir:/var/mail/%%u/Maildir\nrecipients = %s\n",
	    file("bob@a.example\nbob@b.example\n"));
	cr_assert_null(config_parse(text, "t.conf", &errors));
	cr_assert_not_null(strstr(errors, "t.conf:4: local_delivery: the "
	    "maildir template has no %d"), "%s", errors);
	free(errors);
	/* One domain: no two users can meet in one Maildir. */
	setup("local_delivery = maildir:/var/mail/%u/Maildir",
	    "bob@a.example\n");
}

Test(rcpt_table, same_local_part_in_two_domains)
{
	setup("", "# a.example\nbob@a.example\ninfo@a.example: bob, "
	    "bob@b.example\n# b.example: another bob\nbob@b.example\n"
	    "sales@b.example: bob,\n  partner@elsewhere.example\n"
	    "Fwd@C.example: bob@gmail.example\n");
	expands("bob@a.example", "bob@a.example");
	expands("BOB@B.Example.", "bob@b.example");
	expands("info@a.example", "bob@a.example bob@b.example");
	expands("sales@b.example", "bob@b.example >partner@elsewhere.example");
	expands("fwd@c.example", ">bob@gmail.example");
	cr_assert_not(known("sales@a.example"));
	cr_assert_not(known("info@b.example"));
	cr_assert_not(known("bob@c.example"));
	/* The shorthand is closed beside a table: no open mailboxes, but
	 * postmaster everywhere (RFC 5321 4.5.1), to root as before. */
	cr_assert_not(known("anyone@a.example"));
	expands("postmaster@b.example", "root@b.example");
}

Test(rcpt_table, a_mailbox_that_also_forwards)
{
	setup("", "bob@a.example: bob, bob@elsewhere.example\n"
	    "loop1@a.example: loop2\nloop2@a.example: loop1, x@y.example\n");
	expands("bob@a.example", "bob@a.example >bob@elsewhere.example");
	/* An address that comes back to itself is its own mailbox, as with
	 * Postfix's virtual aliases. */
	expands("loop1@a.example", "loop1@a.example >x@y.example");
}

Test(rcpt_table, catch_all_per_domain)
{
	setup("", "bob@a.example\nbob@b.example\n@b.example: bob\n");
	cr_assert(known("nobody@b.example"));
	cr_assert(known("\"user evil\"@b.example"));
	expands("nobody@b.example", "bob@b.example");
	cr_assert_not(known("nobody@a.example"));
	/* A listed address wins over the catch-all. */
	expands("bob@b.example", "bob@b.example");
	/* The shorthand's names come before a domain's catch-all
	 * (Postfix's order: user@domain, user, @domain). */
	setup("mailbox_users = carol", "bob@b.example\n@b.example: bob\n");
	expands("carol@b.example", "carol@b.example");
	expands("dave@b.example", "bob@b.example");
	cr_assert_not(known("dave@a.example"));
}

Test(rcpt_table, extensions)
{
	setup("recipient_delimiter = +-", "bob@a.example\nbob@b.example\n"
	    "bob-lists@a.example: bob@b.example\n"
	    "team@a.example: bob, carol@elsewhere.example\n@c.example: "
	    "bob@a.example\n");
	expands("bob+News@a.example", "bob@a.example/News");
	expands("bob-x.y@b.example", "bob@b.example/x.y");
	/* The whole address listed comes first. */
	expands("bob-lists@a.example", "bob@b.example");
	/* Only a known user takes extensions. */
	cr_assert_not(known("alice+x@a.example"));
	cr_assert_not(known("+x@a.example"));
	/* An alias's mailboxes get the tag; an address elsewhere not. */
	expands("team+t@a.example", "bob@a.example/t "
	    ">carol@elsewhere.example");
	/* A catch-all takes the whole address, with no tag. */
	expands("who+x@c.example", "bob@a.example");
	/* Without a delimiter, no extensions. */
	setup("", "bob@a.example\n");
	cr_assert_not(known("bob+x@a.example"));
}

Test(rcpt_table, extensions_with_the_shorthand)
{
	setup("recipient_delimiter = +\nmailbox_users = bob\n"
	    "catchall = bob", NULL);
	expands("bob+x@a.example", "bob@a.example/x");
	expands("someone+x@b.example", "bob@b.example");
	/* Open: every name with a mailbox of its own, the tag a folder. */
	setup("recipient_delimiter = +", NULL);
	expands("ann+x@a.example", "ann@a.example/x");
	expands("ann@a.example", "ann@a.example");
}

/* The aliases file keeps its meaning beside a table: an address of ours
 * that the shorthand knows is a mailbox, not expanded again; one the
 * table lists is the table's. */
Test(rcpt_table, shorthand_address_targets)
{
	char	 keys[256];

	snprintf(keys, sizeof(keys), "aliases = %s", afile("bob: bob@a.example, "
	    "bob@elsewhere.example\nroot: postmaster@a.example\npostmaster: "
	    "root, carol@b.example\nsales: team@b.example\n"));
	setup(keys, "carol@b.example\nteam@b.example: carol, x@partner.example\n");
	expands("bob@a.example", "bob@a.example >bob@elsewhere.example");
	expands("root@a.example", "postmaster@a.example");
	expands("postmaster@a.example", "postmaster@a.example carol@b.example");
	expands("sales@c.example", "carol@b.example >x@partner.example");
}

Test(rcpt_table, shorthand_unchanged_without_a_table)
{
	setup("mailbox_users = alice bob", NULL);
	cr_assert(known("alice@a.example"));
	cr_assert(known("alice@b.example"));
	expands("alice@b.example", "alice@b.example");
	cr_assert_not(known("carol@a.example"));
	expands("postmaster@a.example", "alice@a.example");
	cr_assert_not(known("alice+x@a.example"));
}

Test(rcpt_table, delimiter_values)
{
	char	*errors = NULL;

	cr_assert_null(config_parse(CONF_TOP "recipient_delimiter = a\n",
	    "t.conf", &errors));
	cr_assert_not_null(strstr(errors, "t.conf:4: recipient_delimiter: "
	    "\"a\" is not a delimiter"), "%s", errors);
	free(errors);
	errors = NULL;
	cr_assert_null(config_parse(CONF_TOP "recipient_delimiter = /\n",
	    "t.conf", &errors));
	free(errors);
}

/* A lookup among 100000 addresses: one hash probe, whatever the size.
 * Timed and printed, not asserted (the machine is shared). */
Test(rcpt_table, lookup_among_100k, .timeout = 120)
{
	struct rcpt_table *t;
	struct alias_table *sh;
	struct timespec	 a, b;
	char		*errors = NULL, (*names)[16];
	FILE		*fp;
	const struct strlist doms = { (char *[]){ "a.example", "b.example" },
			    2 };
	unsigned	 found = 0, want = 0;
	const unsigned	 rounds = 1000000;
	double		 ns;

	file("");
	fp = fopen(path, "w");
	cr_assert_not_null(fp);
	for (unsigned i = 0; i < 100000; i++)
		fprintf(fp, "user%u@%s\n", i, i % 2 ? "a.example" :
		    "b.example");
	fclose(fp);
	sh = alias_table_load(NULL, NULL, 0, NULL, true, &errors);
	cr_assert_not_null(sh, "%s", errors);
	t = rcpt_table_load(path, &doms, sh, "+", &errors);
	cr_assert_not_null(t, "%s", errors);
	/* The names asked, made before the clock starts. */
	names = calloc(200000, sizeof(*names));
	cr_assert_not_null(names);
	for (unsigned k = 0; k < 200000; k++)
		snprintf(names[k], sizeof(names[k]), "user%u", k);
	/* CPU time of this process: the machine is shared. */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	for (unsigned i = 0; i < rounds; i++) {
		unsigned k = (i * 7919u) % 200000;

		found += rcpt_known(t, names[k], i % 2 ? "a.example" :
		    "b.example");
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	for (unsigned i = 0; i < rounds; i++) {
		unsigned k = (i * 7919u) % 200000;

		want += k < 100000 && k % 2 == i % 2;
	}
	ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec -
	    a.tv_nsec)) / rounds;
	/* user<k> exists in a.example for odd k, b.example for even. */
	cr_assert_eq(found, want);
	cr_assert(rcpt_known(t, "User99999", "A.example"));
	cr_assert_not(rcpt_known(t, "user99999", "b.example"));
	fprintf(stderr, "rcpt_known among 100000 entries: %.0f ns of CPU a "
	    "lookup (%u lookups, a quarter of them found)\n", ns, rounds);
	free(names);
	rcpt_table_free(t);
	alias_table_free(sh);
}
