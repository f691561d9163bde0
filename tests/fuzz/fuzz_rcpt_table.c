/*
 * fuzz_rcpt_table - the recipients file: any text either loads or is
 * refused with "file:line: message" lines (never both, never neither);
 * a loaded table answers for every address of the input and for some
 * fixed ones, and its expansion agrees with its predicate (an address
 * is expanded exactly when it is known), gives mailboxes only in the
 * local domains, and a folder only with a recipient_delimiter.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf/aliases.h"
#include "conf/config.h"
#include "conf/rcpt_table.h"
#include "lib/idna.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char *doms_v[] = { "a.example", "b.example" };
static const struct strlist doms = { doms_v, 2 };

static bool
ours(const char *domain)
{
	return strcasecmp(domain, "a.example") == 0 ||
	    strcasecmp(domain, "b.example") == 0;
}

/* same_domain - is got the asked domain as the table writes it: case
 * aside, with one trailing dot dropped (only one: "a.." is "a.") */
static bool
same_domain(const char *got, const char *asked)
{
	size_t	 lg = strlen(got), la = strlen(asked);

	la -= la > 0 && asked[la - 1] == '.';
	return lg == la && strncasecmp(got, asked, la) == 0;
}

static bool
is_local(const struct config *cfg, const char *local, const char *domain)
{
	(void)cfg;
	(void)local;
	return ours(domain);
}

/* ask - local@domain of one table: the predicate and the expansion */
static void
ask(const struct rcpt_table *t, const char *addr, bool delim)
{
	struct rcpt_dest v[16];
	char		 local[128], asked[256];
	const char	*at = strrchr(addr, '@'), *why;
	int		 n;

	if (at == NULL || at - addr >= (long)sizeof(local))
		return;
	snprintf(local, sizeof(local), "%.*s", (int)(at - addr), addr);
	if (idna_to_dns(at + 1, asked, sizeof(asked), &why) == -1)
		snprintf(asked, sizeof(asked), "%s", at + 1);
	n = rcpt_expand(t, local, at + 1, is_local, NULL, v, 16);
	if (n < -2 || (n == -1) == rcpt_known(t, local, at + 1))
		abort();
	for (int i = 0; i < n; i++) {
		const char *d = strrchr(v[i].addr, '@');

		/* The shorthand's names are in any domain asked of it, in
		 * its DNS form (a UTF-8 domain's A-label). */
		if (d == NULL || (v[i].mailbox && !ours(d + 1) &&
		    !same_domain(d + 1, asked)))
			abort();
		if (v[i].folder != NULL && (!delim || !v[i].mailbox))
			abort();
	}
	if (n > 0)
		rcpt_dest_free(v, (size_t)n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[] = "/tmp/fuzz_rcpt_table.XXXXXX";
	static int fd = -1;
	static const char *fixed[] = { "bob@a.example", "bob+x@b.example",
	    "postmaster@a.example", "carol-y@b.example", "nobody@c.example",
	    "x@A.EXAMPLE." };
	char		*errors = NULL, *text, *line, *save;
	char		*carol[] = { "carol" };
	struct alias_table *sh;
	struct rcpt_table *t;
	bool		 delim = size > 0 && (data[0] & 1);

	if (fd == -1 && (fd = mkstemp(path)) == -1)
		abort();
	if (ftruncate(fd, 0) == -1 || pwrite(fd, data, size, 0) !=
	    (ssize_t)size)
		abort();
	if ((sh = alias_table_load(NULL, carol, 1, NULL, true, &errors)) ==
	    NULL)
		abort();
	t = rcpt_table_load(path, &doms, sh, delim ? "+-" : NULL, &errors);
	if ((t == NULL) != (errors != NULL))
		abort();
	if (errors != NULL) {
		for (line = errors; *line != '\0'; line = strchr(line, '\n') +
		    1)
			if (strncmp(line, path, strlen(path)) != 0 ||
			    strchr(line, '\n') == NULL)
				abort();
		free(errors);
		alias_table_free(sh);
		return 0;
	}
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		ask(t, fixed[i], delim);
	if ((text = malloc(size + 1)) != NULL) {
		memcpy(text, data, size);
		text[size] = '\0';
		for (line = strtok_r(text, " \t\n:,", &save); line != NULL;
		    line = strtok_r(NULL, " \t\n:,", &save))
			ask(t, line, delim);
		free(text);
	}
	rcpt_table_free(t);
	alias_table_free(sh);
	return 0;
}
