/*
 * test_inject - sallyport-sendmail's parts without the daemon: the
 * address lists -t reads (inject_addr.c), the message as it is spooled
 * (inject_msg.c: line ends, Bcc:, added fields, lone dots, long lines,
 * the size limit), and config_load_keys, which reads the file for it.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "conf/config.h"
#include "inject/inject.h"

static int
collect(void *arg, const char *addr)
{
	return inject_rcpts_add(arg, addr) == -1 ? 1 : 0;
}

/* addrs - the list's addresses joined by '|', or "ERR: why" */
static char *
addrs(const char *value)
{
	static char out[4096];
	struct inject_rcpts r = { 0 };
	char err[INJECT_ERR];

	out[0] = '\0';
	if (inject_addr_list(value, strlen(value), collect, &r, err,
	    sizeof(err)) != 0)
		snprintf(out, sizeof(out), "ERR: %s", err);
	for (size_t i = 0; i < r.n && out[0] != 'E'; i++) {
		if (i > 0)
			strcat(out, "|");
		strcat(out, r.v[i]);
	}
	inject_rcpts_free(&r);
	return out;
}

Test(inject_addr, the_forms_of_rfc5322)
{
	cr_assert_str_eq(addrs(" bob@example.org"), "bob@example.org");
	cr_assert_str_eq(addrs("Bob <bob@example.org>, carol@example.org"),
	    "bob@example.org|carol@example.org");
	cr_assert_str_eq(addrs("\"Smith, Bob\" <bob@example.org> (work)"),
	    "bob@example.org");
	cr_assert_str_eq(addrs("bob@example.org (Bob, at work),\r\n\tcarol"),
	    "bob@example.org|carol");
	cr_assert_str_eq(addrs("friends: a@x.example, B <b@y.example>;, "
	    "c@z.example"), "a@x.example|b@y.example|c@z.example");
	cr_assert_str_eq(addrs("undisclosed-recipients:;"), "");
	cr_assert_str_eq(addrs("<@relay.example,@r2.example:bob@example.org>"),
	    "bob@example.org");
	/* a route's end is no ':' of a domain literal's, nor after a '"'
	 * in one */
	cr_assert_str_eq(addrs("<@relay.example:root@[IPv6:::1]>"),
	    "root@[IPv6:::1]");
	cr_assert_str_eq(addrs("<@[192.0.2.1\":x]:bob@example.org>"),
	    "bob@example.org");
	cr_assert_str_eq(addrs("\"john q\"@example.org"),
	    "\"john q\"@example.org");
	cr_assert_str_eq(addrs("bob @ example . org"), "bob@example.org");
	cr_assert_str_eq(addrs("root@[IPv6:::1]"), "root@[IPv6:::1]");
	cr_assert_str_eq(addrs("<>, ,bob"), "bob");
}

Test(inject_addr, what_cannot_be_read)
{
	cr_assert_str_eq(addrs("Bob Smith"), "ERR: no address in \"Bob"
	    "Smith\"");
	cr_assert(strncmp(addrs("\"unclosed@example.org"), "ERR:", 4) == 0);
	cr_assert(strncmp(addrs("bob@example.org (unclosed"), "ERR:", 4) == 0);
	cr_assert(strncmp(addrs("Bob <bob@example.org"), "ERR:", 4) == 0);
	{
		char *big = malloc(3000);

		memset(big, 'a', 2999);
		big[2999] = '\0';
		cr_assert_str_eq(addrs(big), "ERR: address longer than 998 "
		    "octets");
		free(big);
	}
}

Test(inject_addr, has_domain)
{
	cr_assert(inject_addr_has_domain("bob@example.org"));
	cr_assert_not(inject_addr_has_domain("bob"));
	cr_assert_not(inject_addr_has_domain("\"a@b\""));
	cr_assert(inject_addr_has_domain("\"a@b\"@example.org"));
}

/* spool - inject_msg_read of text; the spooled file's text in out */
static int
spool(const char *text, bool extract, bool dots, uint64_t max, char *out,
    size_t outlen, struct inject_msg *msg)
{
	struct inject_opts o = { extract, dots, "<me@host.example>",
	    "host.example", max };
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	char err[INJECT_ERR];
	size_t n = 0;
	int rc;

	cr_assert_not_null(in);
	rc = inject_msg_read(in, &o, msg, err, sizeof(err));
	fclose(in);
	out[0] = '\0';
	if (rc == 0)
		n = fread(out, 1, outlen - 1, msg->fp);
	else
		n = (size_t)snprintf(out, outlen, "%s", err);
	out[n] = '\0';
	return rc;
}

Test(inject_msg, header_kept_bcc_dropped_fields_added)
{
	struct inject_msg m;
	char out[8192];

	cr_assert_eq(spool("From: a@x.example\nTo: b@x.example\n"
	    "Bcc: c@x.example,\n d@x.example\nSubject: s\n\n.hidden\nbody\n",
	    true, false, 1 << 20, out, sizeof(out), &m), 0);
	cr_assert(strncmp(out, "From: a@x.example\r\nTo: b@x.example\r\n"
	    "Subject: s\r\nDate: ", 51) == 0, "%s", out);
	cr_assert_null(strstr(out, "Bcc"), "%s", out);
	cr_assert_null(strstr(out, "\r\nFrom: <me"), "%s", out);
	cr_assert_not_null(strstr(out, "\r\nMessage-ID: <"), "%s", out);
	cr_assert_not_null(strstr(out, "@host.example>\r\n\r\n..hidden\r\n"
	    "body\r\n"), "%s", out);
	cr_assert_eq(m.rcpts.n, 3);
	cr_assert_str_eq(m.rcpts.v[0], "b@x.example");
	cr_assert_str_eq(m.rcpts.v[2], "d@x.example");
	cr_assert_eq(m.size, strlen(out) - 1);	/* the stuffed dot */
	inject_msg_free(&m);
}

Test(inject_msg, no_header_and_lone_dots)
{
	struct inject_msg m;
	char out[8192];

	cr_assert_eq(spool("just text\r\n.\r\nmore\n", false, false, 1 << 20,
	    out, sizeof(out), &m), 0);
	cr_assert(strncmp(out, "Date: ", 6) == 0, "%s", out);
	cr_assert_not_null(strstr(out, "\r\nFrom: <me@host.example>\r\n"));
	cr_assert_not_null(strstr(out, ">\r\n\r\njust text\r\n"), "%s", out);
	cr_assert_null(strstr(out, "more"), "%s", out);
	inject_msg_free(&m);
	cr_assert_eq(spool("Subject: x\n\n.\nmore", false, true, 1 << 20,
	    out, sizeof(out), &m), 0);
	cr_assert_not_null(strstr(out, "\r\n\r\n..\r\nmore\r\n"), "%s", out);
	inject_msg_free(&m);
}

Test(inject_msg, long_lines_broken_and_size_limit)
{
	struct inject_msg m;
	char *text = malloc(3000), out[8192];

	memcpy(text, "Subject: x\n\n", 12);
	memset(text + 12, 'y', 2000);
	strcpy(text + 2012, "\n");
	cr_assert_eq(spool(text, false, false, 1 << 20, out, sizeof(out), &m),
	    0);
	for (char *l = strstr(out, "\r\n\r\n") + 4; *l != '\0';
	    l = strstr(l, "\r\n") + 2)
		cr_assert_leq(strcspn(l, "\r"), INJECT_LINE_MAX);
	inject_msg_free(&m);
	cr_assert_eq(spool(text, false, false, 1024, out, sizeof(out), &m),
	    EX_DATAERR);
	cr_assert_str_eq(out, "message larger than max_message_size (1024 "
	    "octets)");
	inject_msg_free(&m);
	free(text);
}

Test(inject_msg, long_header_line_folded_whole)
{
	struct inject_msg m;
	char *text = malloc(8192), out[16384], *hdr, *unfolded, *p, *q;
	size_t n = 0;

	n += (size_t)sprintf(text, "To: ");
	for (int i = 0; i < 150; i++)
		n += (size_t)sprintf(text + n, "%su%03d@example.org",
		    i ? ", " : "", i);
	n += (size_t)sprintf(text + n, "\nSubject: many\n\nbody\n");
	cr_assert_eq(spool(text, true, false, 1 << 20, out, sizeof(out), &m),
	    0);
	cr_assert_eq(m.rcpts.n, 150);
	cr_assert_str_eq(m.rcpts.v[149], "u149@example.org");
	for (p = out; *p != '\0'; p = strstr(p, "\r\n") + 2)
		cr_assert_leq(strcspn(p, "\r"), INJECT_LINE_MAX);
	/* Unfolded (CRLF before white space removed), the field is as sent. */
	hdr = strndup(out, (size_t)(strstr(out, "\r\nSubject:") - out));
	unfolded = calloc(1, strlen(hdr) + 1);
	for (p = hdr, q = unfolded; *p != '\0'; p++)
		if (!(p[0] == '\r' && p[1] == '\n' && (p[2] == ' ' ||
		    p[2] == '\t')))
			*q++ = *p;
		else
			p++;
	cr_assert(strncmp(unfolded, text, strlen(unfolded)) == 0 &&
	    text[strlen(unfolded)] == '\n', "%s", unfolded);
	cr_assert_not_null(strstr(out, "\r\nSubject: many\r\n"));
	free(hdr);
	free(unfolded);
	free(text);
	inject_msg_free(&m);
}

Test(inject_msg, unreadable_recipients_refused)
{
	struct inject_msg m;
	char out[8192];

	cr_assert_eq(spool("To: Bob Smith\n\nx\n", true, false, 1 << 20, out,
	    sizeof(out), &m), EX_DATAERR);
	cr_assert_str_eq(out, "cannot read the addresses of To: no address "
	    "in \"BobSmith\"");
	inject_msg_free(&m);
}

Test(config_load_keys, only_the_keys_named)
{
	static const char *const keys[] = { "local_socket",
	    "max_message_size", NULL };
	char path[] = "/tmp/test_inject_confXXXXXX", *errors = NULL;
	struct config *cfg;
	FILE *fp;
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	fp = fdopen(fd, "w");
	/* A key it does not read may be anything, even a file no user
	 * may read (dkim_sign) or a mistake. */
	fputs("dkim_sign = example.org sel /nonexistent/key\n"
	    "no_such_key = 1\nmax_message_size = 2m\n", fp);
	fclose(fp);
	cfg = config_load_keys(path, keys, &errors);
	cr_assert_not_null(cfg, "%s", errors ? errors : "");
	cr_assert_str_eq(cfg->local_socket, "/run/sallyport/sendmail.sock");
	cr_assert_eq(cfg->max_message_size, 2 * 1024 * 1024);
	cr_assert_eq(cfg->ndkim_sign, 0);
	config_free(cfg);
	cr_assert_null(config_load(path, &errors));
	free(errors);
	unlink(path);
}
