/*
 * test_qentry - committed entries as delivery reads them: the strict
 * envelope parser (garbage, every truncation, random bytes), outcomes
 * recorded and read back, a torn last state line, remove and list.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/qentry.h"
#include "queue/queue.h"
#include "qfixture.h"

static char err[512];

QFIXTURE_SUITE(qentry, "qentry");

static const char body[] = "Subject: hi\r\n\r\nhello\r\n";

/* commit - a real entry through queue.c; its id in id */
static void
commit(const char *sender, char id[QUEUE_ID_LEN + 1])
{
	static char *rcpts[] = { "a@example.test", "\"b c\"@example.test",
	    "d@example.org" };
	struct envelope env = qfixture_env("192.0.2.7", "client.example.org",
	    sender, rcpts, 3);

	env.auth_user = "alice";
	qfixture_commit(q, &env, body);
	memcpy(id, env.id, QUEUE_ID_LEN + 1);
}

static void
path_of(char *out, size_t len, const char *sub, const char *id)
{
	snprintf(out, len, "%s/%s/%s", dir, sub, id);
}

static void
put_file(const char *sub, const char *id, const void *data, size_t len,
    int flags)
{
	char path[400];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	mkdir(path, 0700);
	path_of(path, sizeof(path), sub, id);
	cr_assert_neq(fd = open(path, O_WRONLY | O_CREAT | flags, 0600), -1,
	    "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static char *
get_file(const char *sub, const char *id, size_t *len)
{
	static char data[1 << 16];
	char path[400];
	ssize_t n;
	int fd;

	path_of(path, sizeof(path), sub, id);
	cr_assert_neq(fd = open(path, O_RDONLY), -1, "%s missing", path);
	n = read(fd, data, sizeof(data) - 1);
	close(fd);
	cr_assert_geq(n, 0);
	data[n] = '\0';
	*len = (size_t)n;
	return data;
}

static bool
exists(const char *sub, const char *id)
{
	char path[400];

	path_of(path, sizeof(path), sub, id);
	return access(path, F_OK) == 0;
}

Test(qentry, id_valid)
{
	cr_assert(qentry_id_valid("6B035034926088F8"));
	cr_assert_not(qentry_id_valid("6b035034926088F8"));
	cr_assert_not(qentry_id_valid("6B035034926088F"));
	cr_assert_not(qentry_id_valid("6B035034926088F80"));
	cr_assert_not(qentry_id_valid("../../etc/passwd"));
	cr_assert_not(qentry_id_valid(""));
}

Test(qentry, load_committed_entry)
{
	char id[QUEUE_ID_LEN + 1], buf[64];
	struct qentry *e;
	ssize_t n;
	int fd;

	commit("sender@example.org", id);
	cr_assert_not_null(e = qentry_load(dir, id, err, sizeof(err)), "%s",
	    err);
	cr_assert_str_eq(e->id, id);
	cr_assert_eq(e->arrival, 1700000000);
	cr_assert_str_eq(e->client, "192.0.2.7");
	cr_assert_str_eq(e->helo, "client.example.org");
	cr_assert_str_eq(e->proto, "ESMTP");
	cr_assert_str_eq(e->auth, "alice");
	cr_assert_str_eq(e->sender, "sender@example.org");
	cr_assert_eq(e->nrcpts, 3);
	cr_assert_str_eq(e->rcpts[1], "\"b c\"@example.test");
	cr_assert_eq(e->state[0], RCPT_PENDING);
	cr_assert_null(e->last_error[2]);
	cr_assert_eq(e->attempts, 0);
	cr_assert_eq(e->next_attempt, 0);
	cr_assert_not(qentry_done(e));
	cr_assert_eq(e->body_size, (off_t)strlen(body));
	cr_assert_neq(fd = qentry_open_body(dir, e), -1);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	cr_assert_eq(n, (ssize_t)strlen(body));
	cr_assert_eq(memcmp(buf, body, strlen(body)), 0);
	qentry_free(e);
}

/* read_body - the message as delivery reads it, from the entry's body */
static size_t
read_body(const struct qentry *e, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	cr_assert_neq(fd = qentry_open_body(dir, e), -1);
	n = read(fd, buf, len - 1);
	close(fd);
	cr_assert_geq(n, 0);
	buf[n] = '\0';
	return (size_t)n;
}

/* spool_with_room - a spool for one recipient with `room` octets
 * reserved for prepended fields, the message written */
static struct spool *
spool_with_room(struct envelope *env, char **rcpts, size_t room)
{
	struct spool *sp;

	memset(env, 0, sizeof(*env));
	env->arrival = 1700000000;
	env->client = "192.0.2.7";
	env->helo = "client.example.org";
	env->proto = "ESMTP";
	env->sender = "s@example.org";
	env->rcpts = rcpts;
	env->nrcpts = 1;
	env->prepend_room = room;
	cr_assert_not_null(sp = queue_spool_create(q, env, err, sizeof(err)),
	    "%s", err);
	cr_assert_eq(spool_write(sp, body, strlen(body)), 0);
	return sp;
}

/* Fields known only at the end of the message (a DKIM signature, then
 * an Authentication-Results) go in front of it, the later call on top;
 * the message as received stays where bounces quote it from. */
Test(qentry, prepended_fields_are_delivered_first)
{
	static char *rcpts[] = { "a@example.test" };
	static const char sig[] = "DKIM-Signature: v=1; a=ed25519-sha256;\r\n"
	    "\tb=abc\r\n", ar[] = "Authentication-Results: x; none\r\n";
	char buf[1024];
	struct envelope env;
	struct spool *sp;
	struct qentry *e;

	sp = spool_with_room(&env, rcpts, 200);
	cr_assert_eq(spool_prepend(sp, sig, strlen(sig)), 0);
	cr_assert_eq(spool_prepend(sp, ar, strlen(ar)), 0);
	/* More than the room left: refused, the message still good. */
	memset(buf, 'x', 200);
	cr_assert_eq(spool_prepend(sp, buf, 200 - strlen(sig) - strlen(ar)
	    - QUEUE_PREPEND_LINE + 1), -1);
	cr_assert_eq(errno, EMSGSIZE);
	cr_assert_eq(queue_commit(sp, err, sizeof(err)), 0, "%s", err);
	spool_free(sp);

	cr_assert_not_null(e = qentry_load(dir, env.id, err, sizeof(err)),
	    "%s", err);
	cr_assert_eq(read_body(e, buf, sizeof(buf)), strlen(ar) + strlen(sig) +
	    strlen(body));
	cr_assert_eq(e->body_size, (off_t)(strlen(ar) + strlen(sig) +
	    strlen(body)));
	cr_assert(strncmp(buf, ar, strlen(ar)) == 0, "%s", buf);
	cr_assert(strncmp(buf + strlen(ar), sig, strlen(sig)) == 0, "%s", buf);
	cr_assert_str_eq(buf + strlen(ar) + strlen(sig), body);
	cr_assert_eq(e->msg_offset, e->body_offset + (off_t)(strlen(ar) +
	    strlen(sig)));
	qentry_free(e);
}

/* Room reserved and nothing put there: the message alone. */
Test(qentry, unused_prepend_room)
{
	static char *rcpts[] = { "a@example.test" };
	char buf[1024];
	struct envelope env;
	struct spool *sp;
	struct qentry *e;

	sp = spool_with_room(&env, rcpts, 4096);
	cr_assert_eq(queue_commit(sp, err, sizeof(err)), 0, "%s", err);
	spool_free(sp);
	cr_assert_not_null(e = qentry_load(dir, env.id, err, sizeof(err)),
	    "%s", err);
	read_body(e, buf, sizeof(buf));
	cr_assert_str_eq(buf, body);
	cr_assert_eq(e->msg_offset, e->body_offset);
	qentry_free(e);
}

/* A slot whose length line is damaged or says more than the room is
 * refused whole, as every other malformed entry. */
Test(qentry, bad_prepend_slot_refused)
{
	static const char *bad[] = {
		"000000001x\n       Subject: a\r\n\r\nb\r\n",
		"0000000020\n         Subject: a\r\n\r\nb\r\n",
		"0000000000 ",
	};
	const char *id = "6B035034926088F8";
	struct qentry *e;
	char entry[512];
	size_t i;
	int n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = snprintf(entry, sizeof(entry), "sallyport-queue 1\nid %s\n"
		    "arrival 1\nclient 192.0.2.1\nhelo h\nproto ESMTP\n"
		    "prepend 20\nfrom \nrcpt a@example.test\n\n%s", id,
		    bad[i]);
		put_file("incoming", id, entry, (size_t)n, O_TRUNC);
		cr_assert_null(qentry_load(dir, id, err, sizeof(err)), "%zu", i);
		cr_assert_eq(errno, EINVAL, "%zu: %s", i, err);
	}
	/* and the same, well formed, loads */
	n = snprintf(entry, sizeof(entry), "sallyport-queue 1\nid %s\n"
	    "arrival 1\nclient 192.0.2.1\nhelo h\nproto ESMTP\n"
	    "prepend 20\nfrom \nrcpt a@example.test\n\n"
	    "0000000003\n      X\r\nSubject: a\r\n\r\nb\r\n", id);
	put_file("incoming", id, entry, (size_t)n, O_TRUNC);
	cr_assert_not_null(e = qentry_load(dir, id, err, sizeof(err)), "%s",
	    err);
	cr_assert_eq(e->body_size, (off_t)strlen("X\r\nSubject: a\r\n\r\nb\r\n"));
	qentry_free(e);
}

/* SMTPUTF8 and BODY= go through the queue and come back as given; an
 * entry written without them (an older sallyport) loads as neither. */
Test(qentry, smtputf8_and_body_kept)
{
	static char *rcpts[] = { "j\xc3\xb6rg@b\xc3\xbc" "cher.example" };
	static const enum mail_body bodies[] = { MAIL_BODY_NONE,
	    MAIL_BODY_7BIT, MAIL_BODY_8BITMIME };
	char id[QUEUE_ID_LEN + 1], *text;
	struct envelope env;
	struct spool *sp;
	struct qentry *e;
	size_t i, len;

	for (i = 0; i < 3; i++) {
		memset(&env, 0, sizeof(env));
		env.arrival = 1700000000;
		env.client = "192.0.2.7";
		env.helo = "client.example.org";
		env.proto = "UTF8SMTP";
		env.sender = "s\xc3\xa9@example.org";
		env.rcpts = rcpts;
		env.nrcpts = 1;
		env.smtputf8 = i > 0;
		env.body = bodies[i];
		cr_assert_not_null(sp = queue_spool_create(q, &env, err,
		    sizeof(err)), "%s", err);
		cr_assert_eq(spool_write(sp, body, strlen(body)), 0);
		cr_assert_eq(queue_commit(sp, err, sizeof(err)), 0, "%s", err);
		spool_free(sp);
		memcpy(id, env.id, sizeof(id));
		text = get_file("incoming", id, &len);
		cr_assert_eq(strstr(text, "smtputf8 yes\n") != NULL, i > 0);
		cr_assert_eq(strstr(text, "body 8BITMIME\n") != NULL, i == 2);
		cr_assert_eq(strstr(text, "body 7BIT\n") != NULL, i == 1);
		cr_assert_not_null(e = qentry_load(dir, id, err, sizeof(err)),
		    "%s", err);
		cr_assert_eq(e->smtputf8, i > 0);
		cr_assert_eq(e->body, bodies[i]);
		cr_assert_str_eq(e->sender, "s\xc3\xa9@example.org");
		cr_assert_str_eq(e->rcpts[0], rcpts[0]);
		qentry_free(e);
	}
}

/* RFC 8689: REQUIRETLS and "TLS-Required: No" go through the queue and
 * come back as given, the header's mark written in place after the
 * message (with a prepend slot too, and a message larger than the
 * spool's buffer); a REQUIRETLS entry cannot be marked; an entry
 * without either key (an older sallyport) loads as neither; both keys,
 * or a bad value, refuse the entry. */
Test(qentry, requiretls_and_tls_required_kept)
{
	static char *rcpts[] = { "a@example.test" };
	static const struct {
		bool	requiretls, mark, given;
		size_t	room, extra;
	} cases[] = {
		{ false, false, false, 0, 0 }, { true, false, false, 0, 0 },
		{ false, true, false, 0, 0 }, { false, true, false, 4096, 200000 },
		{ false, true, true, 0, 0 },	/* known at creation: a copy */
	};
	const char *id = "6B035034926088F8";
	char cid[QUEUE_ID_LEN + 1], *text, *big, entry[512];
	struct envelope env;
	struct spool *sp;
	struct qentry *e;
	size_t i, len;
	int n;

	cr_assert_not_null(big = malloc(200000));
	memset(big, 'x', 200000);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&env, 0, sizeof(env));
		env.arrival = 1700000000;
		env.client = "192.0.2.7";
		env.helo = "client.example.org";
		env.proto = "ESMTPS";
		env.sender = "s@example.org";
		env.rcpts = rcpts;
		env.nrcpts = 1;
		env.requiretls = cases[i].requiretls;
		env.tls_optional = cases[i].given;
		env.prepend_room = cases[i].room;
		cr_assert_not_null(sp = queue_spool_create(q, &env, err,
		    sizeof(err)), "%s", err);
		cr_assert_eq(spool_write(sp, body, strlen(body)), 0);
		if (cases[i].extra)
			cr_assert_eq(spool_write(sp, big, cases[i].extra), 0);
		if (cases[i].room)
			cr_assert_eq(spool_prepend(sp, "X-A: 1\r\n", 8), 0);
		if (cases[i].requiretls) {
			cr_assert_eq(spool_tls_optional(sp), -1);
			cr_assert_eq(errno, EINVAL);
		}
		if (cases[i].mark && !cases[i].given)
			cr_assert_eq(spool_tls_optional(sp), 0);
		cr_assert_eq(queue_commit(sp, err, sizeof(err)), 0, "%s", err);
		spool_free(sp);
		memcpy(cid, env.id, sizeof(cid));
		text = get_file("incoming", cid, &len);
		cr_assert_eq(strstr(text, "requiretls yes\n") != NULL,
		    cases[i].requiretls, "%zu", i);
		cr_assert_eq(strstr(text, "tlsrequired off\n") != NULL,
		    cases[i].mark, "%zu", i);
		cr_assert_eq(strstr(text, "tlsrequired yes\n") != NULL,
		    !cases[i].requiretls && !cases[i].mark, "%zu", i);
		cr_assert_not_null(e = qentry_load(dir, cid, err, sizeof(err)),
		    "%zu: %s", i, err);
		cr_assert_eq(e->requiretls, cases[i].requiretls, "%zu", i);
		cr_assert_eq(e->tls_optional, cases[i].mark, "%zu", i);
		cr_assert_eq(e->body_size, (off_t)(strlen(body) +
		    cases[i].extra + (cases[i].room ? 8 : 0)), "%zu", i);
		qentry_free(e);
	}
	free(big);

	/* written by hand: old, both, bad values */
	{
		static const struct {
			const char	*lines;
			int		 ok, rt, opt;
		} hand[] = {
			{ "", 1, 0, 0 },
			{ "requiretls yes\n", 1, 1, 0 },
			{ "tlsrequired off\n", 1, 0, 1 },
			{ "requiretls yes\ntlsrequired off\n", 0, 0, 0 },
			{ "tlsrequired yes\nrequiretls yes\n", 0, 0, 0 },
			{ "requiretls no\n", 0, 0, 0 },
			{ "tlsrequired no\n", 0, 0, 0 },
			{ "tlsrequired off\ntlsrequired off\n", 0, 0, 0 },
		};

		for (i = 0; i < sizeof(hand) / sizeof(hand[0]); i++) {
			n = snprintf(entry, sizeof(entry), "sallyport-queue 1\n"
			    "id %s\narrival 1\nclient 192.0.2.1\nhelo h\n"
			    "proto ESMTP\n%sfrom \nrcpt a@example.test\n\n"
			    "Subject: a\r\n\r\nb\r\n", id, hand[i].lines);
			put_file("incoming", id, entry, (size_t)n, O_TRUNC);
			e = qentry_load(dir, id, err, sizeof(err));
			cr_assert_eq(e != NULL, hand[i].ok, "%zu: %s", i, err);
			if (e == NULL) {
				cr_assert_eq(errno, EINVAL);
				continue;
			}
			cr_assert_eq(e->requiretls, hand[i].rt, "%zu", i);
			cr_assert_eq(e->tls_optional, hand[i].opt, "%zu", i);
			qentry_free(e);
		}
	}
}

Test(qentry, null_sender)
{
	char id[QUEUE_ID_LEN + 1];
	struct qentry *e;

	commit("", id);
	cr_assert_not_null(e = qentry_load(dir, id, err, sizeof(err)), "%s",
	    err);
	cr_assert_str_eq(e->sender, "");
	qentry_free(e);
}

Test(qentry, outcomes_recorded_and_reloaded)
{
	char id[QUEUE_ID_LEN + 1];
	struct qentry *e;
	struct stat st;
	char path[400];

	commit("s@example.org", id);
	cr_assert_not_null(e = qentry_load(dir, id, err, sizeof(err)));
	cr_assert_eq(qentry_record(dir, e, 0, "sent", "250 ok", err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_eq(qentry_record(dir, e, 1, "deferred",
	    "451 4.3.0 busy\r\nreally", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(qentry_record(dir, e, 2, "bounced", "550 5.1.1 no",
	    err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(qentry_schedule(dir, e, 1800000000, err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(e->attempts, 1);
	cr_assert_str_eq(e->last_error[1], "451 4.3.0 busy  really");
	/* a final outcome stays final */
	cr_assert_eq(qentry_record(dir, e, 0, "deferred", "x", err,
	    sizeof(err)), -1);
	cr_assert_eq(qentry_record(dir, e, 5, "sent", "x", err,
	    sizeof(err)), -1);
	cr_assert_eq(qentry_record(dir, e, 1, "lost", "x", err,
	    sizeof(err)), -1);
	qentry_free(e);

	snprintf(path, sizeof(path), "%s/state", dir);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700);
	cr_assert_not_null(e = qentry_load(dir, id, err, sizeof(err)), "%s",
	    err);
	cr_assert_eq(e->state[0], RCPT_SENT);
	cr_assert_eq(e->state[1], RCPT_PENDING);
	cr_assert_eq(e->state[2], RCPT_BOUNCED);
	cr_assert_null(e->last_error[0]);
	cr_assert_str_eq(e->last_error[1], "451 4.3.0 busy  really");
	cr_assert_str_eq(e->last_error[2], "550 5.1.1 no");
	cr_assert_eq(e->attempts, 1);
	cr_assert_eq(e->next_attempt, 1800000000);
	cr_assert_not(qentry_done(e));
	cr_assert_eq(qentry_record(dir, e, 1, "sent", "250", err,
	    sizeof(err)), 0);
	cr_assert(qentry_done(e));
	qentry_free(e);
}

Test(qentry, latest_line_wins_but_final_stays)
{
	static const char state[] =
	    "rcpt 1 deferred 1700000001 first\n"
	    "next 1700000100 1\n"
	    "rcpt 1 deferred 1700000101 second\n"
	    "rcpt 0 sent 1700000102 250 ok\n"
	    "rcpt 0 deferred 1700000103 late\n"
	    "rcpt 2 bounced 1700000104 550 gone\n"
	    "rcpt 2 sent 1700000105 250\n"
	    "next 1700000200 2\n";
	char id[QUEUE_ID_LEN + 1];
	struct qentry *e;

	commit("s@example.org", id);
	put_file("state", id, state, strlen(state), O_TRUNC);
	cr_assert_not_null(e = qentry_load(dir, id, err, sizeof(err)), "%s",
	    err);
	cr_assert_eq(e->state[0], RCPT_SENT);
	cr_assert_str_eq(e->last_error[1], "second");
	cr_assert_eq(e->state[2], RCPT_BOUNCED);
	cr_assert_str_eq(e->last_error[2], "550 gone");
	cr_assert_eq(e->attempts, 2);
	cr_assert_eq(e->next_attempt, 1700000200);
	qentry_free(e);
}

Test(qentry, torn_last_line_ignored_then_cut)
{
	static const char state[] = "rcpt 0 sent 1700000000 250 ok\nrcpt 1 se";
	char id[QUEUE_ID_LEN + 1], *data;
	struct qentry *e;
	size_t len;

	commit("s@example.org", id);
	put_file("state", id, state, strlen(state), O_TRUNC);
	cr_assert_not_null(e = qentry_load(dir, id, err, sizeof(err)), "%s",
	    err);
	cr_assert_eq(e->state[0], RCPT_SENT);
	cr_assert_eq(e->state[1], RCPT_PENDING);
	cr_assert_eq(qentry_record(dir, e, 1, "deferred", "later", err,
	    sizeof(err)), 0, "%s", err);
	qentry_free(e);
	data = get_file("state", id, &len);
	cr_assert_eq(strncmp(data, "rcpt 0 sent 1700000000 250 ok\nrcpt 1 "
	    "deferred ", 39), 0, "%s", data);
	cr_assert_eq(data[len - 1], '\n');
	cr_assert_not_null(e = qentry_load(dir, id, err, sizeof(err)), "%s",
	    err);
	cr_assert_str_eq(e->last_error[1], "later");
	qentry_free(e);
}

Test(qentry, bad_state_refused)
{
	static const char *bad[] = {
		"hello\n",
		"\n",
		"rcpt 3 sent 1 x\n",		/* only 3 recipients */
		"rcpt 0 lost 1 x\n",
		"rcpt 0 sent\n",
		"rcpt -1 sent 1 x\n",
		"rcpt 0 sent 1x x\n",
		"next 1\n",
		"next 1 2 3\n",
		"rcpt 0 sent 1 a\rb\n",
		"rcpt 0 sent 1 a\0b\n",
	};
	char id[QUEUE_ID_LEN + 1];
	size_t i;

	commit("s@example.org", id);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i]);

		if (i == sizeof(bad) / sizeof(bad[0]) - 1)
			len = 18;
		put_file("state", id, bad[i], len, O_TRUNC);
		err[0] = '\0';
		cr_assert_null(qentry_load(dir, id, err, sizeof(err)),
		    "state %zu accepted", i);
		cr_assert_neq(err[0], '\0');
		cr_assert(strstr(err, "state/") != NULL, "%s", err);
	}
}

/* A valid entry written by hand, for the parser tests. */
#define GOOD_ID "6B035034926088F8"
static const char good[] =
    "sallyport-queue 1\n"
    "id " GOOD_ID "\n"
    "arrival 1795379252\n"
    "client 192.0.2.7\n"
    "helo client.example.org\n"
    "proto ESMTP\n"
    "from \n"
    "rcpt user@example.test\n"
    "\n"
    "Subject: x\r\n\r\nbody\r\n";

Test(qentry, hand_written_entry)
{
	struct qentry *e;

	put_file("incoming", GOOD_ID, good, strlen(good), O_TRUNC);
	cr_assert_not_null(e = qentry_load(dir, GOOD_ID, err, sizeof(err)),
	    "%s", err);
	cr_assert_null(e->auth);
	/* written before smtputf8 and body existed: neither was given */
	cr_assert_not(e->smtputf8);
	cr_assert_eq(e->body, MAIL_BODY_NONE);
	cr_assert_str_eq(e->sender, "");
	cr_assert_eq(e->body_offset, (off_t)(strstr(good, "\n\n") - good + 2));
	cr_assert_eq(e->body_size, 20);
	qentry_free(e);
}

Test(qentry, bad_envelopes_refused)
{
	static const struct {
		const char	*text;
		const char	*why;
	} bad[] = {
		{ "sallyport-queue 2\nid " GOOD_ID "\n", "sallyport-queue 1" },
		{ "\n", "sallyport-queue 1" },
		{ "sallyport-queue 1\nid 0000000000000000\narrival 1\nclient c\n"
		  "helo h\nproto SMTP\nfrom \nrcpt r@x\n\n", "file name" },
		{ "sallyport-queue 1\nid " GOOD_ID "\narrival 1\nclient c\n"
		  "helo h\nproto SMTP\nfrom \ncolour red\nrcpt r@x\n\n",
		  "unknown key" },
		{ "sallyport-queue 1\nid " GOOD_ID "\narrival 1\nclient c\n"
		  "helo h\nproto SMTP\nfrom \nfrom \nrcpt r@x\n\n", "repeated" },
		{ "sallyport-queue 1\nid " GOOD_ID "\narrival 1\nclient c\n"
		  "helo h\nproto SMTP\nfrom \n\n", "no recipient" },
		{ "sallyport-queue 1\nid " GOOD_ID "\narrival 1\nclient c\n"
		  "helo h\nproto SMTP\nrcpt r@x\n\n", "missing" },
		{ "sallyport-queue 1\nid " GOOD_ID "\narrival -1\nclient c\n"
		  "helo h\nproto SMTP\nfrom \nrcpt r@x\n\n", "arrival" },
		{ "sallyport-queue 1\nid " GOOD_ID "\narrival 99999999999999999999"
		  "9\nclient c\nhelo h\nproto SMTP\nfrom \nrcpt r@x\n\n",
		  "arrival" },
		{ "sallyport-queue 1\nid " GOOD_ID "\narrival 1\nclient c\n"
		  "helo h\nproto SMTP\nfrom\nrcpt r@x\n\n", "without a value" },
		{ "sallyport-queue 1\nid " GOOD_ID "\narrival 1\nclient c\n"
		  "helo h\nproto SMTP\nfrom \nrcpt \n\n", "empty recipient" },
		{ "sallyport-queue 1\nid " GOOD_ID "\narrival 1\nclient c\r\n"
		  "helo h\nproto SMTP\nfrom \nrcpt r@x\n\n", "CR" },
		{ "sallyport-queue 1\nid " GOOD_ID "\narrival 1\nclient c\n"
		  "helo h\nproto SMTP\nfrom \nrcpt r@x\n", "empty line" },
		{ "", "empty line" },
		{ "sallyport-queue 1\nid " GOOD_ID "\narrival 1\nclient c\n"
		  "helo h\nproto SMTP\nsmtputf8 no\nfrom \nrcpt r@x\n\n",
		  "smtputf8" },
		{ "sallyport-queue 1\nid " GOOD_ID "\narrival 1\nclient c\n"
		  "helo h\nproto SMTP\nbody 8bitmime\nfrom \nrcpt r@x\n\n",
		  "body" },
		{ "sallyport-queue 1\nid " GOOD_ID "\narrival 1\nclient c\n"
		  "helo h\nproto SMTP\nbody 7BIT\nbody 7BIT\nfrom \n"
		  "rcpt r@x\n\n", "repeated" },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put_file("incoming", GOOD_ID, bad[i].text, strlen(bad[i].text),
		    O_TRUNC);
		err[0] = '\0';
		cr_assert_null(qentry_load(dir, GOOD_ID, err, sizeof(err)),
		    "entry %zu accepted", i);
		cr_assert(strstr(err, bad[i].why) != NULL,
		    "entry %zu: \"%s\" does not say %s", i, err, bad[i].why);
	}
	/* a NUL in the envelope */
	put_file("incoming", GOOD_ID, good, strlen(good), O_TRUNC);
	{
		char copy[sizeof(good)];

		memcpy(copy, good, sizeof(good));
		copy[strstr(good, "client.example") - good + 3] = '\0';
		put_file("incoming", GOOD_ID, copy, sizeof(good) - 1, O_TRUNC);
		cr_assert_null(qentry_load(dir, GOOD_ID, err, sizeof(err)));
		cr_assert(strstr(err, "NUL") != NULL, "%s", err);
	}
	cr_assert_null(qentry_load(dir, "../incoming/x", err, sizeof(err)));
	cr_assert_null(qentry_load(dir, "0000000000000001", err, sizeof(err)));
	cr_assert(strstr(err, "No such file") != NULL, "%s", err);
}

Test(qentry, long_line_and_too_many_recipients)
{
	static const char head[] = "sallyport-queue 1\nid " GOOD_ID
	    "\narrival 1\nclient c\nhelo h\nproto SMTP\nfrom \n";
	char *text, *p;
	size_t i, n = 100001;
	struct qentry *e;

	cr_assert_not_null(text = malloc(sizeof(head) + n * 16 + 16));
	p = text + sprintf(text, "%shelo ", head);
	memset(p, 'x', 9000);
	strcpy(p + 9000, "\nrcpt r@x\n\n");
	put_file("incoming", GOOD_ID, text, strlen(text), O_TRUNC);
	cr_assert_null(qentry_load(dir, GOOD_ID, err, sizeof(err)));
	cr_assert(strstr(err, "longer than") != NULL, "%s", err);

	p = text + sprintf(text, "%s", head);
	for (i = 0; i < n; i++)
		p += sprintf(p, "rcpt r%zu@x\n", i);
	strcpy(p, "\n");
	put_file("incoming", GOOD_ID, text, strlen(text), O_TRUNC);
	cr_assert_null(qentry_load(dir, GOOD_ID, err, sizeof(err)));
	cr_assert(strstr(err, "100000") != NULL, "%s", err);

	/* exactly the limit is fine */
	p = strstr(text, "rcpt r100000@x\n");
	strcpy(p, "\n");
	put_file("incoming", GOOD_ID, text, strlen(text), O_TRUNC);
	cr_assert_not_null(e = qentry_load(dir, GOOD_ID, err, sizeof(err)),
	    "%s", err);
	cr_assert_eq(e->nrcpts, 100000);
	qentry_free(e);
	free(text);
}

/* Every prefix of a valid entry: refused until the blank line is in. */
Test(qentry, truncated_at_every_offset)
{
	size_t k, hdr = (size_t)(strstr(good, "\n\n") - good) + 2;
	struct qentry *e;

	for (k = 0; k < strlen(good); k++) {
		put_file("incoming", GOOD_ID, good, k, O_TRUNC);
		e = qentry_load(dir, GOOD_ID, err, sizeof(err));
		if (k < hdr)
			cr_assert_null(e, "prefix %zu accepted", k);
		else {
			cr_assert_not_null(e, "prefix %zu: %s", k, err);
			cr_assert_eq(e->body_size, (off_t)(k - hdr));
		}
		qentry_free(e);
	}
}

/* Random bytes, and valid files with random bytes changed: no crash,
 * and whatever loads is whole. */
Test(qentry, random_garbage)
{
	static const char state[] = "rcpt 0 deferred 1 x\nnext 5 1\n";
	unsigned char buf[512];
	struct qentry *e;
	size_t len, i, j;

	srand(42);
	for (i = 0; i < 3000; i++) {
		if (i % 2) {
			len = (size_t)rand() % sizeof(buf);
			for (j = 0; j < len; j++)
				buf[j] = (unsigned char)rand();
		} else {
			len = strlen(good);
			memcpy(buf, good, len);
			for (j = 0; j < 1 + (size_t)rand() % 3; j++)
				buf[(size_t)rand() % len] =
				    (unsigned char)rand();
		}
		put_file("incoming", GOOD_ID, buf, len, O_TRUNC);
		if ((e = qentry_load(dir, GOOD_ID, err, sizeof(err))) != NULL) {
			cr_assert_geq(e->nrcpts, 1);
			cr_assert_not_null(e->client);
			cr_assert_not_null(e->sender);
			cr_assert_eq(e->body_offset + e->body_size, (off_t)len);
			qentry_free(e);
		} else
			cr_assert_neq(err[0], '\0');
		/* and garbage state for a good entry */
		memcpy(buf, state, sizeof(state) - 1);
		for (j = 0; j < 1 + (size_t)rand() % 3; j++)
			buf[(size_t)rand() % (sizeof(state) - 1)] =
			    (unsigned char)rand();
		put_file("incoming", GOOD_ID, good, strlen(good), O_TRUNC);
		put_file("state", GOOD_ID, buf, sizeof(state) - 1, O_TRUNC);
		qentry_free(qentry_load(dir, GOOD_ID, err, sizeof(err)));
	}
}

Test(qentry, remove)
{
	char id[QUEUE_ID_LEN + 1], other[QUEUE_ID_LEN + 1];
	struct qentry *e;

	commit("s@example.org", id);
	commit("s@example.org", other);
	cr_assert_not_null(e = qentry_load(dir, id, err, sizeof(err)));
	cr_assert_eq(qentry_record(dir, e, 0, "sent", "ok", err,
	    sizeof(err)), 0);
	cr_assert(exists("state", id));
	cr_assert_eq(qentry_remove(dir, id, err, sizeof(err)), 0, "%s", err);
	cr_assert_not(exists("state", id));
	cr_assert_not(exists("incoming", id));
	/* recording for an entry removed meanwhile makes no state file */
	cr_assert_eq(qentry_record(dir, e, 1, "sent", "ok", err,
	    sizeof(err)), -1);
	cr_assert_not(exists("state", id));
	qentry_free(e);
	cr_assert_eq(qentry_remove(dir, id, err, sizeof(err)), -1);
	cr_assert_eq(errno, ENOENT);
	cr_assert(strstr(err, "no such queue entry") != NULL, "%s", err);
	cr_assert_eq(qentry_remove(dir, "../x", err, sizeof(err)), -1);
	/* without a state file */
	cr_assert_eq(qentry_remove(dir, other, err, sizeof(err)), 0, "%s",
	    err);
	cr_assert_not(exists("incoming", other));
}

Test(qentry, list)
{
	char ids[3][QUEUE_ID_LEN + 1], **list;
	size_t n, i;

	cr_assert_not_null(list = qentry_list(dir, &n));
	cr_assert_eq(n, 0);
	qentry_list_free(list, n);
	for (i = 0; i < 3; i++)
		commit("s@example.org", ids[i]);
	put_file("incoming", "junk", "x", 1, O_TRUNC);
	put_file("incoming", ".hidden", "x", 1, O_TRUNC);
	cr_assert_not_null(list = qentry_list(dir, &n));
	cr_assert_eq(n, 3);
	for (i = 0; i < 3; i++)
		cr_assert_str_eq(list[i], ids[i]);
	qentry_list_free(list, n);
	cr_assert_null(qentry_list("/nonexistent/sallyport", &n));
	cr_assert_eq(n, 0);
}
