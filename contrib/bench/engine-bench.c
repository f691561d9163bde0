/*
 * engine-bench - the SMTP engine alone, driven like a client that does
 * not pipeline, for counting instructions per message (see
 * contrib/bench/engine-callgrind).
 *
 * One session: greeting, EHLO, then N transactions of MAIL (with
 * SIZE=), RCPT, DATA and a message of about -l octets in CRLF lines
 * with a few headers, then QUIT. The io callbacks do the least they
 * can: spool_write counts and discards, spool_commit is answered as
 * soon as smtp_input() returns. Every reply code is checked; any
 * surprise ends the run with status 1, so that an error path is never
 * what gets measured.
 *
 * Each client line is one smtp_input() call and the message goes in
 * 4 KiB chunks; -b gives the engine everything one byte at a time.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/config.h"
#include "lib/log.h"
#include "smtp/smtp.h"

#define CHUNK		4096		/* message octets per smtp_input() */
#define REPLY_MAX	4096		/* one reply, multi-line EHLO included */

struct bench {
	struct smtp_session	*s;
	char			 reply[REPLY_MAX];	/* replies since the last check */
	size_t			 replylen;
	bool			 overflow;		/* reply did not fit */
	bool			 commit_pending;	/* spool_commit not yet answered */
	uint64_t		 spooled;		/* octets written this transaction */
	bool			 bytewise;		/* -b */
	unsigned long		 txs;			/* transactions completed */
};

static void
b_send(void *ctx, const char *p, size_t n)
{
	struct bench *b = ctx;

	if (n > sizeof(b->reply) - b->replylen) {
		b->overflow = true;
		return;
	}
	memcpy(b->reply + b->replylen, p, n);
	b->replylen += n;
}

static bool
b_space_ok(void *ctx, uint64_t size)
{
	(void)ctx;
	(void)size;
	return true;
}

static int
b_spool_open(void *ctx, struct envelope *env)
{
	static const char id[] = "BENCH00000001";
	struct bench *b = ctx;

	memcpy(env->id, id, sizeof(id) < sizeof(env->id) ? sizeof(id) :
	    sizeof(env->id));
	env->id[sizeof(env->id) - 1] = '\0';
	b->spooled = 0;
	return 0;
}

static int
b_spool_write(void *ctx, const char *p, size_t n)
{
	struct bench *b = ctx;

	(void)p;
	b->spooled += n;
	return 0;
}

static void
b_spool_commit(void *ctx)
{
	struct bench *b = ctx;

	b->commit_pending = true;
}

static void
b_spool_abort(void *ctx)
{
	(void)ctx;
}

static void
b_domain_lookup(void *ctx, const char *domain)
{
	struct bench *b = ctx;

	(void)domain;
	smtp_lookup_done(b->s, DNS_FOUND);	/* allowed before returning */
}

/* b_unexpected - a hook this dialogue must never reach */
static void
b_unexpected(const char *what)
{
	fprintf(stderr, "engine-bench: unexpected call to %s\n", what);
	exit(1);
}

static void
b_starttls(void *ctx)
{
	(void)ctx;
	b_unexpected("starttls");
}

static const char *
b_auth_mechanisms(void *ctx)
{
	(void)ctx;
	return NULL;
}

static void
b_auth_start(void *ctx, const char *mech, const char *p, size_t n, bool has)
{
	(void)ctx;
	(void)mech;
	(void)p;
	(void)n;
	(void)has;
	b_unexpected("auth_start");
}

static void
b_auth_step(void *ctx, const char *p, size_t n)
{
	(void)ctx;
	(void)p;
	(void)n;
	b_unexpected("auth_step");
}

static void
b_auth_reset(void *ctx)
{
	(void)ctx;
}

static const struct smtp_io bench_io = {
	.send = b_send,
	.space_ok = b_space_ok,
	.spool_open = b_spool_open,
	.spool_write = b_spool_write,
	.spool_commit = b_spool_commit,
	.spool_abort = b_spool_abort,
	.domain_lookup = b_domain_lookup,
	.starttls = b_starttls,
	.auth_mechanisms = b_auth_mechanisms,
	.auth_start = b_auth_start,
	.auth_step = b_auth_step,
	.auth_reset = b_auth_reset,
	.auth_allowed = NULL,
};

/* expect - the replies so far are one reply with `code`, or none
 * (code NULL); fail the run otherwise */
static void
expect(struct bench *b, const char *code, const char *after)
{
	const char *last;
	size_t len = b->replylen;

	if (code == NULL && len == 0)
		return;
	if (code == NULL || b->overflow || len < 5 ||
	    memcmp(b->reply + len - 2, "\r\n", 2) != 0)
		goto bad;
	/* Every line starts with the code; the last one with "code ". */
	for (last = b->reply; ; ) {
		const char *nl = memchr(last, '\n', len - (size_t)(last - b->reply));

		if (memcmp(last, code, 3) != 0)
			goto bad;
		if (nl + 1 == b->reply + len)
			break;
		if (last[3] != '-')
			goto bad;
		last = nl + 1;
	}
	if (last[3] != ' ')
		goto bad;
	b->replylen = 0;
	return;
bad:
	/* First lines only: the reply is not NUL-terminated. */
	last = memchr(b->reply, '\r', len);
	fprintf(stderr, "engine-bench: transaction %lu: after \"%.*s\" expected "
	    "%s, got \"%.*s\"%s\n", b->txs + 1, (int)strcspn(after, "\r\n"),
	    after, code ? code : "no reply",
	    (int)(last ? (size_t)(last - b->reply) : len), b->reply,
	    b->overflow ? " (truncated)" : "");
	exit(1);
}

/* feed - give the engine bytes as a client would, all of which it
 * must take; answer a commit it asked for on the way */
static void
feed(struct bench *b, const char *p, size_t len)
{
	size_t step = b->bytewise ? 1 : len, i, used;

	for (i = 0; i < len; i += used) {
		size_t n = len - i < step ? len - i : step;

		used = smtp_input(b->s, p + i, n);
		if (b->commit_pending) {
			b->commit_pending = false;
			smtp_commit_done(b->s, 0);
		}
		if (used != n) {
			fprintf(stderr, "engine-bench: transaction %lu: engine "
			    "took %zu of %zu octets\n", b->txs + 1, used, n);
			exit(1);
		}
	}
}

/* say - one client line, then its reply */
static void
say(struct bench *b, const char *line, size_t len, const char *code)
{
	feed(b, line, len);
	expect(b, code, line);
}

/* append - add to the message being built; room was checked */
static void
append(char *msg, size_t *len, const char *s)
{
	size_t n = strlen(s);

	memcpy(msg + *len, s, n);
	*len += n;
}

/* make_message - a plain text message of `size` octets (give or take
 * two; at least its headers) in CRLF lines of at most 78, then the
 * final dot */
static char *
make_message(size_t size, size_t *wirelen, size_t *msglen)
{
	static const char headers[] =
	    "From: Alice Example <a@example.test>\r\n"
	    "To: Bob Example <b@example.test>\r\n"
	    "Subject: engine benchmark message\r\n"
	    "Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
	    "Message-ID: <engine-bench.1@example.test>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n";
	static const char text[] =
	    "The quick brown fox jumps over the lazy dog, and then does it "
	    "again, twice.";
	char *msg;
	size_t len = 0;

	if ((msg = malloc(size + sizeof(headers) + sizeof(text) + 8)) == NULL) {
		perror("engine-bench: malloc");
		exit(1);
	}
	append(msg, &len, headers);
	while (len + 2 < size) {
		size_t n = size - len - 2;

		if (n > sizeof(text) - 1)
			n = sizeof(text) - 1;
		memcpy(msg + len, text, n);
		len += n;
		append(msg, &len, "\r\n");
	}
	*msglen = len;
	append(msg, &len, ".\r\n");
	*wirelen = len;
	return msg;
}

static void
usage(void)
{
	fprintf(stderr, "usage: engine-bench [-b] [-n transactions] "
	    "[-l message size]\n");
	exit(2);
}

/* number - a positive count, with an optional k or m (binary) suffix */
static unsigned long
number(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*end == 'k' || *end == 'K')
		v *= 1024, end++;
	else if (*end == 'm' || *end == 'M')
		v *= 1024 * 1024, end++;
	if (end == s || *end != '\0' || v == 0)
		usage();
	return v;
}

int
main(int argc, char **argv)
{
	static const char config_text[] =
	    "hostname = mail.example.test\n"
	    "listen = 127.0.0.1:25 mx\n"
	    "local_domains = example.test\n"
	    "mynetworks = 127.0.0.0/8\n"
	    "queue_dir = /nonexistent\n";
	static const char ehlo[] = "EHLO client.example.test\r\n";
	static const char rcpt[] = "RCPT TO:<b@example.test>\r\n";
	static const char data[] = "DATA\r\n";
	static const char quit[] = "QUIT\r\n";
	static struct bench b;
	unsigned long n = 10000, size = 1024, i;
	struct sockaddr_in sin;
	struct smtp_peer peer = { 0 };
	struct config *cfg;
	char *errors = NULL, mail[128], *msg;
	size_t wirelen, msglen, off;
	int c, maillen;

	while ((c = getopt(argc, argv, "bl:n:")) != -1) {
		switch (c) {
		case 'b':
			b.bytewise = true;
			break;
		case 'l':
			size = number(optarg);
			break;
		case 'n':
			n = number(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	log_set_quiet(1);
	if ((cfg = config_parse(config_text, "engine-bench", &errors)) == NULL) {
		fprintf(stderr, "engine-bench: config: %s\n",
		    errors ? errors : "?");
		return 1;
	}
	msg = make_message(size, &wirelen, &msglen);
	maillen = snprintf(mail, sizeof(mail),
	    "MAIL FROM:<a@example.test> SIZE=%zu\r\n", msglen);
	if (maillen < 0 || (size_t)maillen >= sizeof(mail))
		return 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	peer.addr = (struct sockaddr *)&sin;
	peer.addr_text = "127.0.0.1";
	peer.role = ROLE_MX;
	peer.session_id = 1;
	if ((b.s = smtp_new(cfg, &peer, &bench_io, &b)) == NULL) {
		fprintf(stderr, "engine-bench: smtp_new failed\n");
		return 1;
	}
	expect(&b, "220", "connecting");
	say(&b, ehlo, sizeof(ehlo) - 1, "250");
	for (i = 0; i < n; i++) {
		say(&b, mail, (size_t)maillen, "250");
		say(&b, rcpt, sizeof(rcpt) - 1, "250");
		say(&b, data, sizeof(data) - 1, "354");
		for (off = 0; off < wirelen; off += CHUNK) {
			size_t len = wirelen - off < CHUNK ? wirelen - off : CHUNK;

			feed(&b, msg + off, len);
			expect(&b, off + len < wirelen ? NULL : "250",
			    "the message");
		}
		if (b.spooled < msglen) {
			fprintf(stderr, "engine-bench: transaction %lu: %llu "
			    "octets spooled for a message of %zu\n", i + 1,
			    (unsigned long long)b.spooled, msglen);
			return 1;
		}
		b.txs++;
	}
	say(&b, quit, sizeof(quit) - 1, "221");
	if (!smtp_closing(b.s)) {
		fprintf(stderr, "engine-bench: session still open after QUIT\n");
		return 1;
	}
	smtp_free(b.s);
	config_free(cfg);
	free(msg);
	printf("%lu transactions, %zu octet messages%s\n", b.txs, msglen,
	    b.bytewise ? ", byte at a time" : "");
	return 0;
}
