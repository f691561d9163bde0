/*
 * test_dovecot_proto - Dovecot's auth-client protocol: the lines we
 * send, byte for byte, and the replies Dovecot 2.3 sends parsed, as
 * seen in its "auth_debug" traces.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "lib/buf.h"
#include "sec/dovecot_proto.h"

/* parse - a copy of text (with room for the LF byte) parsed */
static int
parse(const char *text, size_t len, struct dovecot_reply *r, char *copy)
{
	char err[128];

	memcpy(copy, text, len);
	copy[len] = 'X';		/* where the LF was: may be written */
	return dovecot_reply_parse(copy, len, r, err, sizeof(err));
}

#define PARSE(lit, r, copy)	parse((lit), sizeof(lit) - 1, (r), (copy))

static void
assert_buf(struct buf *b, const char *want)
{
	cr_assert_eq(b->len, strlen(want), "%.*s", (int)b->len, b->data);
	cr_assert_arr_eq(b->data, want, b->len, "%.*s", (int)b->len, b->data);
}

Test(dovecot_proto, handshake_line)
{
	struct buf b;

	buf_init(&b, 1024);
	cr_assert_eq(dovecot_handshake(&b, 4242), 0);
	assert_buf(&b, "VERSION\t1\t2\nCPID\t4242\n");
	buf_free(&b);
}

Test(dovecot_proto, auth_plain_with_initial_response_inside_tls)
{
	struct dovecot_client c = { "192.0.2.1", "198.51.100.7", 587, 50123,
	    true };
	struct buf b;

	buf_init(&b, 4096);
	cr_assert_eq(dovecot_auth(&b, 7, "PLAIN", &c, "\0alice\0secret", 13,
	    true), 0);
	assert_buf(&b, "AUTH\t7\tPLAIN\tservice=smtp\tnologin\tsecured"
	    "\tlip=192.0.2.1\trip=198.51.100.7\tlport=587\trport=50123"
	    "\tresp=AGFsaWNlAHNlY3JldA==\n");
	buf_free(&b);
}

Test(dovecot_proto, auth_login_without_initial_response)
{
	struct dovecot_client c = { "::1", "::1", 0, 0, false };
	struct buf b;

	buf_init(&b, 4096);
	cr_assert_eq(dovecot_auth(&b, 1, "LOGIN", &c, NULL, 0, false), 0);
	assert_buf(&b, "AUTH\t1\tLOGIN\tservice=smtp\tnologin\tlip=::1"
	    "\trip=::1\n");
	buf_free(&b);
}

Test(dovecot_proto, auth_with_empty_initial_response)
{
	/* "AUTH PLAIN =": an initial response that is empty, not none. */
	struct dovecot_client c = { NULL, NULL, 0, 0, true };
	struct buf b;

	buf_init(&b, 4096);
	cr_assert_eq(dovecot_auth(&b, 3, "PLAIN", &c, "", 0, true), 0);
	assert_buf(&b, "AUTH\t3\tPLAIN\tservice=smtp\tnologin\tsecured"
	    "\tresp=\n");
	buf_free(&b);
}

Test(dovecot_proto, a_value_with_a_tab_is_refused_and_nothing_written)
{
	struct dovecot_client c = { "192.0.2.1", "evil\tuser=root", 0, 0,
	    true };
	struct buf b;

	buf_init(&b, 4096);
	cr_assert_eq(dovecot_handshake(&b, 1), 0);
	cr_assert_eq(dovecot_auth(&b, 1, "PLAIN", &c, NULL, 0, false), -1);
	assert_buf(&b, "VERSION\t1\t2\nCPID\t1\n");
	buf_free(&b);
}

Test(dovecot_proto, a_full_buffer_leaves_it_as_it_was)
{
	struct buf b;

	buf_init(&b, 20);
	cr_assert_eq(dovecot_cancel(&b, 9), 0);
	cr_assert_eq(dovecot_cont(&b, 9, "alice", 5), -1);
	assert_buf(&b, "CANCEL\t9\n");
	buf_free(&b);
}

Test(dovecot_proto, cont_and_cancel_lines)
{
	struct buf b;

	buf_init(&b, 4096);
	cr_assert_eq(dovecot_cont(&b, 12, "alice", 5), 0);
	cr_assert_eq(dovecot_cont(&b, 12, "", 0), 0);
	cr_assert_eq(dovecot_cancel(&b, 4294967295u), 0);
	assert_buf(&b, "CONT\t12\tYWxpY2U=\nCONT\t12\t\nCANCEL\t4294967295\n");
	buf_free(&b);
}

Test(dovecot_proto, server_handshake_of_dovecot_2_3)
{
	struct dovecot_reply r;
	char copy[256];

	cr_assert_eq(PARSE("VERSION\t1\t2", &r, copy), 0);
	cr_assert_eq(r.kind, DOVECOT_VERSION);
	cr_assert_eq(r.major, 1);
	cr_assert_eq(r.minor, 2);
	cr_assert_eq(PARSE("MECH\tPLAIN\tplaintext", &r, copy), 0);
	cr_assert_eq(r.kind, DOVECOT_MECH);
	cr_assert_str_eq(r.mech, "PLAIN");
	cr_assert(r.plaintext);
	cr_assert_eq(PARSE("MECH\tscram-sha-256\tmutual-auth", &r, copy), 0);
	cr_assert_str_eq(r.mech, "SCRAM-SHA-256");
	cr_assert_not(r.plaintext);
	cr_assert_eq(PARSE("SPID\t1234", &r, copy), 0);
	cr_assert_eq(r.kind, DOVECOT_OTHER);
	cr_assert_eq(PARSE("CUID\t5", &r, copy), 0);
	cr_assert_eq(r.kind, DOVECOT_OTHER);
	cr_assert_eq(PARSE("COOKIE\t0123456789abcdef0123456789abcdef", &r,
	    copy), 0);
	cr_assert_eq(r.kind, DOVECOT_OTHER);
	cr_assert_eq(PARSE("DONE", &r, copy), 0);
	cr_assert_eq(r.kind, DOVECOT_DONE);
}

Test(dovecot_proto, cont_decodes_the_challenge)
{
	struct dovecot_reply r;
	char copy[256];

	cr_assert_eq(PARSE("CONT\t2\tVXNlcm5hbWU6", &r, copy), 0);
	cr_assert_eq(r.kind, DOVECOT_CONT);
	cr_assert_eq(r.id, 2);
	cr_assert_eq(r.datalen, 9);
	cr_assert_arr_eq(r.data, "Username:", 9);
	/* PLAIN without an initial response: an empty challenge. */
	cr_assert_eq(PARSE("CONT\t3\t", &r, copy), 0);
	cr_assert_eq(r.datalen, 0);
	cr_assert_eq(PARSE("CONT\t3", &r, copy), 0);
	cr_assert_eq(r.datalen, 0);
}

Test(dovecot_proto, ok_gives_the_unescaped_user)
{
	struct dovecot_reply r;
	char copy[256];

	cr_assert_eq(PARSE("OK\t5\tuser=alice@example.org", &r, copy), 0);
	cr_assert_eq(r.kind, DOVECOT_OK);
	cr_assert_eq(r.id, 5);
	cr_assert_str_eq(r.user, "alice@example.org");
	/* An escaped "=" and a bare one in a value, more parameters. */
	cr_assert_eq(PARSE("OK\t6\tuser=b\001=ob=x\tnologin\toriginal_user=b",
	    &r, copy), 0);
	cr_assert_str_eq(r.user, "b=ob=x");
}

Test(dovecot_proto, ok_with_a_user_unfit_for_a_log_has_none)
{
	struct dovecot_reply r;
	char copy[512];
	char longname[300];

	cr_assert_eq(PARSE("OK\t5\tuser=eve\001nroot", &r, copy), 0);
	cr_assert_eq(r.kind, DOVECOT_OK);
	cr_assert_null(r.user, "a LF in a name");
	cr_assert_eq(PARSE("OK\t5\tuser=eve\0010", &r, copy), 0);
	cr_assert_null(r.user, "a NUL in a name");
	cr_assert_eq(PARSE("OK\t5\tuser=", &r, copy), 0);
	cr_assert_null(r.user);
	cr_assert_eq(PARSE("OK\t5", &r, copy), 0);
	cr_assert_null(r.user);
	memcpy(longname, "OK\t5\tuser=", 10);
	memset(longname + 10, 'a', 256);
	cr_assert_eq(parse(longname, 266, &r, copy), 0);
	cr_assert_null(r.user, "longer than %d", DOVECOT_USER_MAX);
}

Test(dovecot_proto, fail_permanent_and_temporary)
{
	struct dovecot_reply r;
	char copy[256];

	cr_assert_eq(PARSE("FAIL\t8\tuser=alice", &r, copy), 0);
	cr_assert_eq(r.kind, DOVECOT_FAIL);
	cr_assert_eq(r.id, 8);
	cr_assert_not(r.temp);
	cr_assert_eq(PARSE("FAIL\t8", &r, copy), 0);
	cr_assert_not(r.temp);
	cr_assert_eq(PARSE("FAIL\t9\ttemp", &r, copy), 0);
	cr_assert(r.temp);
	cr_assert_eq(PARSE("FAIL\t9\tcode=temp_fail\treason=try later", &r,
	    copy), 0);
	cr_assert(r.temp);
	cr_assert_eq(PARSE("FAIL\t9\tcode=authz_fail\ttemporary", &r, copy),
	    0);
	cr_assert_not(r.temp, "only the exact boolean");
}

Test(dovecot_proto, broken_lines_are_errors)
{
	static const char *const bad[] = {
		"", "\tOK", "VERSION", "VERSION\t1", "VERSION\tone\t2",
		"VERSION\t1\t99999999999", "MECH", "MECH\t", "MECH\tPL AIN",
		"OK", "OK\t", "OK\t0", "OK\t-1", "OK\t12345678901",
		"FAIL\tx", "CONT\t1\tnot base64!", "CONT\t1\tYQ",
		"CONT\t1\tYQ==YQ==",
	};
	struct dovecot_reply r;
	char copy[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse(bad[i], strlen(bad[i]), &r, copy), -1,
		    "%s", bad[i]);
}

Test(dovecot_proto, unknown_commands_and_parameters_are_ignored)
{
	struct dovecot_reply r;
	char copy[256];

	cr_assert_eq(PARSE("CANCELLED\t3", &r, copy), 0);
	cr_assert_eq(r.kind, DOVECOT_OTHER);
	cr_assert_eq(PARSE("ok\t3\tuser=a", &r, copy), 0);
	cr_assert_eq(r.kind, DOVECOT_OTHER, "commands are case-sensitive");
	cr_assert_eq(PARSE("OK\t3\tfuture-flag\tuser=a\tx=y", &r, copy), 0);
	cr_assert_str_eq(r.user, "a");
}
