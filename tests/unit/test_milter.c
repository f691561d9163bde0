/*
 * test_milter - the milter protocol's packets, octet for octet as the
 * protocol (libmilter, Postfix's milter8) lays them out: a 4-octet
 * length in network order counting the command and its data, the
 * command, the data with NUL-terminated strings. Replies are fed one
 * octet at a time as a slow milter would send them, and every broken
 * packet a milter could send is refused with a message.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "milter/milter.h"

/* A literal with its embedded NULs, and its length (its own final NUL
 * left out). */
#define LIT(s)	(s), sizeof(s) - 1

/* expect - the packet `out` holds is exactly cmd + data */
static void
expect(const struct buf *out, char cmd, const char *data, size_t len)
{
	unsigned char head[5];
	uint32_t n = htonl((uint32_t)len + 1);

	memcpy(head, &n, 4);
	head[4] = (unsigned char)cmd;
	cr_assert_eq(out->len, 5 + len, "packet of %zu octets, want %zu",
	    out->len, 5 + len);
	cr_assert_eq(memcmp(out->data, head, 5), 0, "length or command");
	cr_assert_eq(memcmp(out->data + 5, data, len), 0, "packet data");
}

Test(milter_put, optneg)
{
	struct buf out;

	buf_init(&out, 1024);
	cr_assert_eq(milter_put_optneg(&out, MILTER_F_ALL, MILTER_P_MTA), 0);
	expect(&out, 'O', "\0\0\0\6" "\0\0\1\xff" "\0\x1f\xf7\xff", 12);
	buf_free(&out);
}

Test(milter_put, macros_leave_out_null_values)
{
	const char *names[] = { "j", "{daemon_name}", "{auth_authen}",
	    "{client_addr}" };
	const char *values[] = { "mx.example.org", "sallyport", NULL,
	    "192.0.2.7" };
	static const char want[] = "C" "j\0mx.example.org\0"
	    "{daemon_name}\0sallyport\0" "{client_addr}\0" "192.0.2.7\0";
	struct buf out;

	buf_init(&out, 1024);
	cr_assert_eq(milter_put_macros(&out, MILTER_C_CONNECT, names, values,
	    4), 0);
	expect(&out, 'D', want, sizeof(want) - 1);
	buf_free(&out);
}

Test(milter_put, connect_ipv4_ipv6_mapped_and_other)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_port = htons(40123) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
	    .sin6_port = htons(25) };
	struct sockaddr_storage un = { .ss_family = AF_UNIX };
	struct buf out;
	static const char v4[] = "client.example\0" "4" "\x9c\xbb"
	    "192.0.2.1";
	static const char v6[] = "[2001:db8::5]\0" "6" "\0\x19"
	    "2001:db8::5";
	static const char mapped[] = "[198.51.100.9]\0" "4" "\0\x19"
	    "198.51.100.9";

	buf_init(&out, 1024);
	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	cr_assert_eq(milter_put_connect(&out, "client.example",
	    (struct sockaddr *)&sin), 0);
	expect(&out, 'C', v4, sizeof(v4));	/* with the address's NUL */
	buf_reset(&out);
	inet_pton(AF_INET6, "2001:db8::5", &sin6.sin6_addr);
	cr_assert_eq(milter_put_connect(&out, "[2001:db8::5]",
	    (struct sockaddr *)&sin6), 0);
	expect(&out, 'C', v6, sizeof(v6));
	buf_reset(&out);
	inet_pton(AF_INET6, "::ffff:198.51.100.9", &sin6.sin6_addr);
	cr_assert_eq(milter_put_connect(&out, "[198.51.100.9]",
	    (struct sockaddr *)&sin6), 0);
	expect(&out, 'C', mapped, sizeof(mapped));
	buf_reset(&out);
	cr_assert_eq(milter_put_connect(&out, "localhost",
	    (struct sockaddr *)&un), 0);
	expect(&out, 'C', "localhost\0U", 11);
	buf_free(&out);
}

Test(milter_put, helo_mail_rcpt)
{
	struct buf out;
	static const char mail[] = "<a@example.org>\0SIZE=1200\0"
	    "BODY=8BITMIME";

	buf_init(&out, 1024);
	cr_assert_eq(milter_put_helo(&out, "client.example"), 0);
	expect(&out, 'H', "client.example", 15);
	buf_reset(&out);
	cr_assert_eq(milter_put_mail(&out, "a@example.org",
	    " SIZE=1200  BODY=8BITMIME "), 0);
	expect(&out, 'M', mail, sizeof(mail));
	buf_reset(&out);
	cr_assert_eq(milter_put_mail(&out, "", NULL), 0);
	expect(&out, 'M', "<>", 3);
	buf_reset(&out);
	cr_assert_eq(milter_put_rcpt(&out, "<b@example.net>", ""), 0);
	expect(&out, 'R', "<b@example.net>", 16);
	buf_free(&out);
}

Test(milter_put, header_body_and_bare_commands)
{
	struct buf out;
	char *big = calloc(1, MILTER_CHUNK_MAX + 1);

	buf_init(&out, 2 * MILTER_CHUNK_MAX);
	cr_assert_eq(milter_put_header(&out, "Subject", "hi\n there"), 0);
	expect(&out, 'L', "Subject\0hi\n there", 18);
	buf_reset(&out);
	cr_assert_eq(milter_put_body(&out, "a\0b\r\n", 5), 0);
	expect(&out, 'B', "a\0b\r\n", 5);
	buf_reset(&out);
	cr_assert_eq(milter_put_body(&out, big, MILTER_CHUNK_MAX), 0);
	expect(&out, 'B', big, MILTER_CHUNK_MAX);
	buf_reset(&out);
	cr_assert_eq(milter_put_body(&out, big, MILTER_CHUNK_MAX + 1), -1,
	    "a chunk is at most MILTER_CHUNK_MAX octets");
	cr_assert_eq(out.len, 0);
	const char cmds[] = { 'T', 'N', 'E', 'A', 'Q' };
	for (size_t i = 0; i < sizeof(cmds); i++) {
		buf_reset(&out);
		cr_assert_eq(milter_put_cmd(&out, cmds[i]), 0);
		expect(&out, cmds[i], "", 0);
	}
	free(big);
	buf_free(&out);
}

Test(milter_put, full_buffer_is_left_as_it_was)
{
	struct buf out;

	buf_init(&out, 20);
	cr_assert_eq(milter_put_helo(&out, "a"), 0);
	cr_assert_eq(milter_put_header(&out, "Subject", "too long"), -1);
	cr_assert_eq(out.len, 7, "half a packet would desync the milter");
	expect(&out, 'H', "a", 2);
	buf_free(&out);
}

/* --- Replies. */

/* packet - cmd and data as a milter sends them, in *out (malloc'd) */
static size_t
packet(char **out, char cmd, const char *data, size_t len)
{
	uint32_t n = htonl((uint32_t)len + 1);

	*out = malloc(len + 5);
	memcpy(*out, &n, 4);
	(*out)[4] = cmd;
	memcpy(*out + 5, data, len);
	return len + 5;
}

/* slow - feed one octet at a time: no reply before the last octet, one
 * reply on it, each octet taken. Returns the feed's result. */
static int
slow(struct milter_dec *d, const char *p, size_t n, struct milter_reply *r,
    const char **err)
{
	size_t used;
	int rc;

	for (size_t i = 0; i < n; i++) {
		rc = milter_dec_feed(d, p + i, 1, &used, r, err);
		if (rc == -1)
			return -1;
		cr_assert_eq(used, 1, "octet %zu of %zu taken", i, n);
		if (i + 1 < n)
			cr_assert_eq(rc, 0, "a reply before octet %zu of %zu",
			    i + 1, n);
		else
			return rc;
	}
	return 0;
}

/* reply - one well-formed reply, fed octet by octet */
static void
reply(struct milter_dec *d, struct milter_reply *r, char cmd,
    const char *data, size_t len)
{
	const char *err = NULL;
	char *p;
	size_t n = packet(&p, cmd, data, len);

	milter_dec_init(d);
	cr_assert_eq(slow(d, p, n, r, &err), 1, "reply '%c': %s", cmd,
	    err ? err : "(no error)");
	cr_assert_eq(r->cmd, cmd);
	free(p);
}

/* refused - a packet the decoder must refuse, with a message naming
 * what is wrong */
static void
refused(char cmd, const char *data, size_t len, const char *why)
{
	struct milter_dec d;
	struct milter_reply r;
	const char *err = NULL;
	char *p;
	size_t n = packet(&p, cmd, data, len);

	milter_dec_init(&d);
	cr_assert_eq(slow(&d, p, n, &r, &err), -1, "'%c' taken", cmd);
	cr_assert_not_null(err);
	cr_assert_not_null(strstr(err, why), "error \"%s\" lacks \"%s\"",
	    err, why);
	free(p);
	milter_dec_free(&d);
}

Test(milter_dec, replies_without_data)
{
	const char cmds[] = { 'a', 'c', 'd', 'r', 't', 's', 'p', '4', 'f' };
	struct milter_dec d;
	struct milter_reply r;

	for (size_t i = 0; i < sizeof(cmds); i++) {
		reply(&d, &r, cmds[i], "", 0);
		milter_dec_free(&d);
		refused(cmds[i], "x", 1, "1 octets after its last field");
	}
}

Test(milter_dec, optneg_with_macro_lists)
{
	static const char data[] = "\0\0\0\6" "\0\0\0\x31" "\0\x10\0\x7f"
	    "\0\0\0\0" "j {client_addr}\0"
	    "\0\0\0\2" "{mail_addr} {auth_type}\0"
	    "\0\0\0\x09" "{from_the_future}\0"
	    "\0\0\0\5" "i";
	struct milter_dec d;
	struct milter_reply r;

	reply(&d, &r, 'O', data, 12);
	cr_assert_eq(r.version, 6);
	cr_assert_eq(r.actions, MILTER_F_ADDHDRS | MILTER_F_CHGHDRS |
	    MILTER_F_QUARANTINE);
	cr_assert_eq(r.protocol, 0x10007f);
	for (int i = 0; i < MILTER_M_COUNT; i++)
		cr_assert_null(r.symlist[i], "no list given");
	milter_dec_free(&d);

	reply(&d, &r, 'O', data, sizeof(data));
	cr_assert_str_eq(r.symlist[MILTER_M_CONNECT], "j {client_addr}");
	cr_assert_str_eq(r.symlist[MILTER_M_MAIL], "{mail_addr} {auth_type}");
	cr_assert_str_eq(r.symlist[MILTER_M_EOM], "i");
	cr_assert_null(r.symlist[MILTER_M_HELO]);
	milter_dec_free(&d);

	refused('O', data, 11, "version, actions and steps cut short");
	refused('O', data, 14, "macro list stage cut short");
	refused('O', data, 20, "macro list missing or not NUL-terminated");
}

Test(milter_dec, setsymlist)
{
	struct milter_dec d;
	struct milter_reply r;

	reply(&d, &r, 'l', LIT("\0\0\0\3{rcpt_addr}\0"));
	cr_assert_str_eq(r.symlist[MILTER_M_RCPT], "{rcpt_addr}");
	milter_dec_free(&d);
	refused('l', LIT("\0\0\0\3{rcpt_addr}"), "not NUL-terminated");
}

Test(milter_dec, replycode_checked_and_normalized)
{
	static const char ml[] = "550-5.7.1 first\r\n550-5.7.1 second\r\n"
	    "550 5.7.1 last";
	static const char loose[] = "451 4.7.1 first\r\n451 4.7.1 last\r\n";
	struct milter_dec d;
	struct milter_reply r;

	reply(&d, &r, 'y', LIT("554 5.7.1 Spam (score 12%%)\0"));
	cr_assert_str_eq(r.text, "554 5.7.1 Spam (score 12%)",
	    "%% is a percent sign, as libmilter escapes it");
	milter_dec_free(&d);
	reply(&d, &r, 'y', ml, sizeof(ml));
	cr_assert_str_eq(r.text, ml);
	milter_dec_free(&d);
	reply(&d, &r, 'y', loose, sizeof(loose));
	cr_assert_str_eq(r.text, "451-4.7.1 first\r\n451 4.7.1 last",
	    "continuation marks set right, the final CRLF dropped");
	milter_dec_free(&d);

	refused('y', LIT("250 2.0.0 ok\0"), "not a 4xx or 5xx reply");
	refused('y', LIT("550 rejected\0"), "no enhanced status code");
	refused('y', LIT("550 4.7.1 mixed\0"), "no enhanced status code");
	refused('y', LIT("5x0 5.7.1 no\0"), "does not start with the reply");
	refused('y', LIT("550\0"), "does not start with the reply's code");
	refused('y', LIT("550-5.7.1 a\r\n451 4.7.1 b\0"), "reply's code");
	refused('y', LIT("550 5.7.1 a\nb\0"), "control or 8-bit");
	refused('y', LIT("550 5.7.1 \x1b[2J\0"), "control or 8-bit");
	refused('y', LIT("550 5.7.1 caf\xc3\xa9\0"), "control or 8-bit");
	refused('y', LIT("550 5.7.1 a\r\n\r\n550 5.7.1 b\0"), "reply's code");
	refused('y', LIT("550 5.7.1 no NUL"), "not NUL-terminated");
	refused('y', LIT("550 5.7.1 x\0yz"), "2 octets after its last field");
}

Test(milter_dec, header_changes)
{
	struct milter_dec d;
	struct milter_reply r;

	reply(&d, &r, 'h', LIT("X-Spam\0yes\0"));
	cr_assert_str_eq(r.name, "X-Spam");
	cr_assert_str_eq(r.value, "yes");
	milter_dec_free(&d);
	reply(&d, &r, 'i', LIT("\0\0\1\2DKIM-Signature\0v=1;\n\tb=x\0"));
	cr_assert_eq(r.index, 258, "index in network order");
	cr_assert_str_eq(r.name, "DKIM-Signature");
	cr_assert_str_eq(r.value, "v=1;\n\tb=x");
	milter_dec_free(&d);
	reply(&d, &r, 'm', LIT("\0\0\0\2Received\0\0"));
	cr_assert_eq(r.index, 2);
	cr_assert_str_eq(r.value, "", "an empty value: delete");
	milter_dec_free(&d);

	refused('h', LIT("X-Spam\0yes"), "header value missing or not NUL");
	refused('h', LIT("X-Spam"), "header name missing or not NUL");
	refused('m', LIT("\0\0\1"), "index cut short");
	refused('i', LIT("\0\0\0\0X\0v\0extra"), "5 octets after");
}

Test(milter_dec, recipients_sender_body_quarantine)
{
	struct milter_dec d;
	struct milter_reply r;

	reply(&d, &r, '+', LIT("<new@example.org>\0"));
	cr_assert_str_eq(r.addr, "<new@example.org>");
	cr_assert_null(r.args);
	milter_dec_free(&d);
	reply(&d, &r, '-', LIT("<old@example.org>\0"));
	cr_assert_str_eq(r.addr, "<old@example.org>");
	milter_dec_free(&d);
	reply(&d, &r, '2', LIT("<p@example.org>\0NOTIFY=NEVER\0"));
	cr_assert_str_eq(r.addr, "<p@example.org>");
	cr_assert_str_eq(r.args, "NOTIFY=NEVER");
	milter_dec_free(&d);
	reply(&d, &r, '2', LIT("<p@example.org>\0"));
	cr_assert_null(r.args, "the parameters are optional");
	milter_dec_free(&d);
	reply(&d, &r, 'e', LIT("<bounce@example.org>\0SIZE=10 BODY=7BIT\0"));
	cr_assert_str_eq(r.addr, "<bounce@example.org>");
	cr_assert_str_eq(r.args, "SIZE=10 BODY=7BIT");
	milter_dec_free(&d);
	reply(&d, &r, 'b', LIT("new\0body\r\n"));
	cr_assert_eq(r.len, 10);
	cr_assert_eq(memcmp(r.data, "new\0body\r\n", 10), 0);
	milter_dec_free(&d);
	reply(&d, &r, 'q', LIT("virus found\0"));
	cr_assert_str_eq(r.reason, "virus found");
	milter_dec_free(&d);

	refused('+', LIT("<new@example.org>"), "address missing or not NUL");
	refused('e', LIT("<a>\0SIZE=1"), "ESMTP parameters missing or not");
	refused('2', LIT("<a>\0X\0Y\0"), "2 octets after");
	refused('q', LIT(""), "reason missing or not NUL-terminated");
}

Test(milter_dec, bad_lengths_and_unknown_replies)
{
	struct milter_dec d;
	struct milter_reply r;
	const char *err = NULL;
	size_t used;

	refused('Z', LIT(""), "unknown milter reply 'Z'");
	refused('\x01', "", 0, "unknown milter reply 0x01");
	refused('O', LIT(""), "version, actions and steps cut short");

	milter_dec_init(&d);
	cr_assert_eq(milter_dec_feed(&d, "\0\0\0\0", 4, &used, &r, &err),
	    -1);
	cr_assert_str_eq(err, "milter packet of length 0 (no reply code)");
	cr_assert_eq(milter_dec_feed(&d, "\0\0\0\1a", 5, &used, &r, &err),
	    -1, "a broken stream stays broken");
	milter_dec_free(&d);

	milter_dec_init(&d);
	cr_assert_eq(milter_dec_feed(&d, "\0\x10\0\1", 4, &used, &r, &err),
	    -1, "one octet past MILTER_PACKET_MAX");
	cr_assert_not_null(strstr(err, "1048577 octets"), "%s", err);
	cr_assert_eq(d.in.len, 4, "refused before any of its data is held");
	milter_dec_free(&d);
}

Test(milter_dec, largest_packet_taken)
{
	struct milter_dec d;
	struct milter_reply r;
	const char *err = NULL;
	size_t n, used;
	char *p, *body = malloc(MILTER_PACKET_MAX - 1);

	memset(body, 'x', MILTER_PACKET_MAX - 1);
	n = packet(&p, 'b', body, MILTER_PACKET_MAX - 1);
	milter_dec_init(&d);
	cr_assert_eq(milter_dec_feed(&d, p, n, &used, &r, &err), 1, "%s",
	    err ? err : "");
	cr_assert_eq(r.len, MILTER_PACKET_MAX - 1);
	milter_dec_free(&d);
	free(p);
	free(body);
}

Test(milter_dec, several_replies_in_one_read_and_a_truncated_one)
{
	static const char stream[] = "\0\0\0\x09hX-A\0one\0" "\0\0\0\1c" "\0\0\0\x07+<x";
	struct milter_dec d;
	struct milter_reply r;
	const char *err = NULL, *p = stream;
	size_t left = sizeof(stream) - 1, used;

	milter_dec_init(&d);
	cr_assert_eq(milter_dec_feed(&d, p, left, &used, &r, &err), 1);
	cr_assert_eq(used, 13, "only the first packet taken");
	cr_assert_str_eq(r.name, "X-A");
	cr_assert_str_eq(r.value, "one");
	p += used, left -= used;
	cr_assert_eq(milter_dec_feed(&d, p, left, &used, &r, &err), 1);
	cr_assert_eq(r.cmd, 'c');
	p += used, left -= used;
	cr_assert_eq(milter_dec_feed(&d, p, left, &used, &r, &err), 0,
	    "a packet cut short is no reply yet");
	cr_assert_eq(used, left, "what came is kept");
	cr_assert_eq(milter_dec_feed(&d, "@y>\0", 4, &used, &r, &err), 1);
	cr_assert_str_eq(r.addr, "<x@y>");
	cr_assert_eq(milter_dec_feed(&d, "", 0, &used, &r, &err), 0);
	cr_assert_eq(d.in.len, 0, "nothing held between replies");
	milter_dec_free(&d);
}
