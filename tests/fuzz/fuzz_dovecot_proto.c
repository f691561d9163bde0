/*
 * fuzz_dovecot_proto - Dovecot auth-client reply lines from a hostile
 * or broken auth service: the parser stays inside the line, what it
 * returns is what the header promises, and a CONT line we build with
 * the same bytes parses back to them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "sec/dovecot_proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_dovecot_proto: %s\n", what);
		abort();
	}
}

static void
one_line(const uint8_t *data, size_t size)
{
	struct dovecot_reply r;
	char err[128], *line;
	size_t i;

	/* Exactly the line and the byte where its LF was, for ASan. */
	line = malloc(size + 1);
	check(line != NULL, "out of memory");
	memcpy(line, data, size);
	line[size] = '\n';
	err[0] = '\0';
	if (dovecot_reply_parse(line, size, &r, err, sizeof(err)) == -1) {
		check(err[0] != '\0', "an error without a message");
		free(line);
		return;
	}
	switch (r.kind) {
	case DOVECOT_MECH:
		check(r.mech[0] != '\0' && strlen(r.mech) <= DOVECOT_MECH_MAX,
		    "mechanism name");
		for (i = 0; r.mech[i] != '\0'; i++)
			check(r.mech[i] < 'a' || r.mech[i] > 'z',
			    "mechanism not upper case");
		break;
	case DOVECOT_CONT:
		check(r.id != 0, "CONT id 0");
		check(r.data >= line && r.data + r.datalen <= line + size,
		    "CONT data outside the line");
		break;
	case DOVECOT_OK:
	case DOVECOT_FAIL:
		check(r.id != 0, "id 0");
		if (r.user != NULL) {
			size_t n = strlen(r.user);

			check(r.user >= line && r.user + n <= line + size,
			    "user outside the line");
			check(n > 0 && n <= DOVECOT_USER_MAX, "user length");
			for (i = 0; i < n; i++)
				check((unsigned char)r.user[i] >= 0x20 &&
				    r.user[i] != 0x7f, "control byte in user");
		}
		break;
	default:
		break;
	}
	free(line);
}

static void
cont_round_trip(const uint8_t *data, size_t size)
{
	struct dovecot_reply r;
	struct buf b;
	char err[128];
	unsigned id = 1 + (size > 0 ? data[0] : 0);

	if (size > DOVECOT_LINE_MAX / 2)
		return;
	buf_init(&b, DOVECOT_LINE_MAX);
	check(dovecot_cont(&b, id, data, size) == 0, "CONT not built");
	check(b.len > 0 && b.data[b.len - 1] == '\n', "CONT without LF");
	check(memchr(b.data, '\n', b.len - 1) == NULL, "LF inside CONT");
	check(dovecot_reply_parse(b.data, b.len - 1, &r, err,
	    sizeof(err)) == 0, "our CONT does not parse");
	check(r.kind == DOVECOT_CONT && r.id == id, "CONT kind or id");
	check(r.datalen == size && (size == 0 ||
	    memcmp(r.data, data, size) == 0), "CONT data changed");
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one_line(data, size);
	cont_round_trip(data, size);
	return 0;
}
