/*
 * fuzz_inject - sallyport-sendmail's readers of hostile input: any
 * bytes as an address list give addresses of at most INJECT_ADDR_MAX
 * octets without a control character or white space outside quotes
 * and domain literals, or an error with a reason;
 * any bytes as a message (the first byte picks -t and -i) spool as
 * CRLF lines of at most INJECT_LINE_MAX octets (a stuffed dot more),
 * within the size limit (a bare CR or a NUL stays, for the daemon to
 * refuse as from any client).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inject/inject.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
check_addr(void *arg, const char *a)
{
	bool quoted = false, literal = false;

	(void)arg;
	if (strlen(a) > INJECT_ADDR_MAX || a[0] == '\0')
		abort();
	for (const char *p = a; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
		if (literal)
			literal = *p != ']';
		else if (*p == '\\' && quoted && p[1] != '\0')
			p++;	/* a quoted-pair: only inside quotes */
		else if (*p == '[' && !quoted)
			literal = true;
		else if (*p == '"')
			quoted = !quoted;
		else if (!quoted && (*p == ' ' || *p == '\t' || *p == '\r' ||
		    *p == '\n'))
			abort();
	}
	return 0;
}

static void
check_spool(FILE *fp, uint64_t size, uint64_t max)
{
	char *line = NULL;
	size_t cap = 0;
	uint64_t total = 0;
	ssize_t n;

	if (size > max)
		abort();
	while ((n = getline(&line, &cap, fp)) != -1) {
		/* CRLF-ended, nothing before it longer than a line */
		if (n < 2 || line[n - 1] != '\n' || line[n - 2] != '\r' ||
		    (size_t)n - 2 > INJECT_LINE_MAX + 1)
			abort();
		total += (uint64_t)n;
	}
	free(line);
	if (total < size)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct inject_opts o = { false, false, "<me@host.example>",
	    "host.example", 65536 };
	struct inject_msg m;
	char err[INJECT_ERR];
	FILE *in;

	if (inject_addr_list((const char *)data, size, check_addr, NULL, err,
	    sizeof(err)) != 0 && err[0] == '\0')
		abort();
	if (size == 0)
		return 0;
	o.extract = data[0] & 1;
	o.ignore_dots = data[0] & 2;
	if ((in = fmemopen((void *)(data + 1), size - 1, "r")) == NULL)
		return 0;
	if (inject_msg_read(in, &o, &m, err, sizeof(err)) == 0)
		check_spool(m.fp, m.size, o.max_size);
	else if (err[0] == '\0')
		abort();
	fclose(in);
	inject_msg_free(&m);
	return 0;
}
