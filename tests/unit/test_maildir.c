/*
 * test_maildir - delivery into a Maildir under a temporary directory:
 * the file in new/ and its bytes, the directories made, the template,
 * names refused for good, and failures that leave nothing behind.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "deliver/maildir.h"
#include "scratch.h"

static char base[256];
static char err[512];

static void
setup(void)
{
	scratch_make(base, sizeof(base), "maildir");
}

static void
teardown(void)
{
	scratch_remove(base);
}

TestSuite(maildir, .init = setup, .fini = teardown);

/* body - a file holding text, at its start */
static int
body(const char *text)
{
	int fd = memfd_create("body", 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* deliver - text to user@domain with the template under base */
static int
deliver(const char *tpl, const char *user, const char *domain,
    const char *sender, const char *text)
{
	char	 t[512];
	int	 fd = body(text), rc;

	snprintf(t, sizeof(t), "%s/%s", base, tpl);
	rc = maildir_deliver(t, user, domain, NULL, sender, fd,
	    (off_t)strlen(text), err, sizeof(err));
	close(fd);
	return rc;
}

/* names - how many files in dir (under base); the last one's name */
static unsigned
names(const char *dir, char *last, size_t lastlen)
{
	char		 path[512];
	struct dirent	*de;
	unsigned	 n = 0;
	DIR		*d;

	snprintf(path, sizeof(path), "%s/%s", base, dir);
	cr_assert_not_null(d = opendir(path), "%s", path);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.') {
			n++;
			if (last != NULL)
				snprintf(last, lastlen, "%s", de->d_name);
		}
	closedir(d);
	return n;
}

/* only_message - the one file in dir/new, whole */
static char *
only_message(const char *dir)
{
	static char	 data[8192];
	char		 sub[300], name[300], path[900];
	ssize_t		 n;
	int		 fd;

	snprintf(sub, sizeof(sub), "%s/new", dir);
	cr_assert_eq(names(sub, name, sizeof(name)), 1);
	snprintf(path, sizeof(path), "%s/%s/%s", base, sub, name);
	cr_assert_geq(fd = open(path, O_RDONLY), 0);
	n = read(fd, data, sizeof(data) - 1);
	cr_assert_geq(n, 0);
	data[n] = '\0';
	close(fd);
	return data;
}

static mode_t
mode_of(const char *sub)
{
	char		 path[512];
	struct stat	 st;

	snprintf(path, sizeof(path), "%s/%s", base, sub);
	cr_assert_eq(stat(path, &st), 0, "%s", path);
	return st.st_mode & 07777;
}

Test(maildir, delivers_with_headers_and_unix_line_ends)
{
	cr_assert_eq(deliver("%d/%u/Maildir", "alice", "example.org",
	    "bob@example.net", "Subject: hi\r\n\r\nbody\r\n.dot\r\n"), 0,
	    "%s", err);
	cr_assert_str_eq(only_message("example.org/alice/Maildir"),
	    "Return-Path: <bob@example.net>\n"
	    "Delivered-To: alice@example.org\n"
	    "Subject: hi\n\nbody\n.dot\n");
	cr_assert_eq(names("example.org/alice/Maildir/tmp", NULL, 0), 0);
	cr_assert_eq(names("example.org/alice/Maildir/cur", NULL, 0), 0);
	cr_assert_eq(mode_of("example.org"), 0700);
	cr_assert_eq(mode_of("example.org/alice/Maildir"), 0700);
	cr_assert_eq(mode_of("example.org/alice/Maildir/new"), 0700);
}

Test(maildir, null_sender_and_lone_cr)
{
	cr_assert_eq(deliver("m", "u", "d.example", "", "a\rb\r\nc\r"), 0,
	    "%s", err);
	cr_assert_str_eq(only_message("m"), "Return-Path: <>\n"
	    "Delivered-To: u@d.example\na\rb\nc\r");
}

Test(maildir, only_body_len_bytes)
{
	char	 t[512];
	int	 fd = body("one\r\ntwo\r\n");

	snprintf(t, sizeof(t), "%s/m", base);
	cr_assert_eq(maildir_deliver(t, "u", "d", NULL, "s@d", fd, 5, err,
	    sizeof(err)), 0, "%s", err);
	close(fd);
	cr_assert_str_eq(only_message("m"), "Return-Path: <s@d>\n"
	    "Delivered-To: u@d\none\n");
}

Test(maildir, unique_names)
{
	for (int i = 0; i < 20; i++)
		cr_assert_eq(deliver("m", "u", "d", "s@d", "x\r\n"), 0, "%s",
		    err);
	cr_assert_eq(names("m/new", NULL, 0), 20);
}

Test(maildir, template_percent_and_unknown)
{
	cr_assert_eq(deliver("100%%/%u-%d", "u", "d", "", "x\r\n"), 0, "%s",
	    err);
	cr_assert_eq(names("100%/u-d/new", NULL, 0), 1);
	/* A template error is the administrator's to fix: temporary. */
	cr_assert_eq(deliver("%x/%u", "u", "d", "", "x\r\n"), -1);
	cr_assert(strstr(err, "unknown %x") != NULL, "%s", err);
}

Test(maildir, names_that_could_escape_are_refused_for_good)
{
	static const char *const bad[][2] = {
		{ "..", "d" }, { ".hidden", "d" }, { "a/b", "d" },
		{ "u", "../etc" }, { "u", "a/b" }, { "", "d" },
		{ "u", ".d" }, { "a\nb", "d" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(deliver("%d/%u", bad[i][0], bad[i][1], "",
		    "x\r\n"), -2, "%s@%s", bad[i][0], bad[i][1]);
		cr_assert(strstr(err, "invalid mailbox name") != NULL, "%s",
		    err);
	}
	cr_assert_eq(names(".", NULL, 0), 0);
}

Test(maildir, structure_problem_is_temporary)
{
	char	 path[512];
	int	 fd;

	/* A file where the maildir's new/ should be. */
	snprintf(path, sizeof(path), "%s/m", base);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/m/new", base);
	cr_assert_geq(fd = open(path, O_CREAT | O_WRONLY, 0600), 0);
	close(fd);
	cr_assert_eq(deliver("m", "u", "d", "", "x\r\n"), -1);
	cr_assert(strstr(err, "m/new") != NULL, "%s", err);
	cr_assert_eq(names("m/tmp", NULL, 0), 0);
}

Test(maildir, short_message_leaves_nothing)
{
	char	 t[512];
	int	 fd = body("short\r\n");

	snprintf(t, sizeof(t), "%s/m", base);
	cr_assert_eq(maildir_deliver(t, "u", "d", NULL, "", fd, 100, err,
	    sizeof(err)), -1);
	close(fd);
	cr_assert(strstr(err, "cut short") != NULL, "%s", err);
	cr_assert_eq(names("m/tmp", NULL, 0), 0);
	cr_assert_eq(names("m/new", NULL, 0), 0);
}
