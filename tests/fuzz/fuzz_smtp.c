/*
 * fuzz_smtp - the SMTP engine fed whole client byte streams.
 *
 * Input layout: byte 0 picks how the rest is cut into chunks (as TCP
 * might: 0 all at once, else pieces of 1..N bytes); byte 1 the session
 * (bits 0-1 listener role, 2 a certificate, 3 a client in mynetworks,
 * 4-5 the config, 6-7 the SASL mechanisms on offer); bytes 2-4 seed the
 * host's answers (DNS, spool, commit, TLS and SASL outcomes, timeouts,
 * shutdown, whether the host has filters and what they say); the rest
 * is what the client sends.
 * Lookups are answered inside the hook (the API allows it); commits,
 * STARTTLS and SASL are answered as conn.c does, once smtp_input has
 * returned and before more input is offered; the filters either way,
 * with every verdict, well-formed replies, malformed ones and verdicts
 * no stage waits for. Input left over after a
 * STARTTLS is thrown away, as the daemon does.
 *
 * Invariants checked besides memory safety: a commit only after the
 * client sent a <CRLF>.<CRLF> and only for an open spool, no spool
 * write outside a transaction, smtp_input never claims more than it
 * was given and stops early only when it waits or closes, and every
 * reply line is "NNN" plus ' ' or '-', at most 512 octets, ending CRLF,
 * and no open relay: a client neither in mynetworks nor authenticated
 * gets no message spooled for a domain not ours (as the relay probes of
 * --selftest try), nor, unless allow_untrusted_routing, one whose local
 * part routes elsewhere (%, !, @). Filters: one stage asked at a time,
 * END only for a complete message in an open spool, filter_abort only
 * for a transaction the filters saw since MAIL and not after END's
 * answer, and always before that transaction's spool is dropped or the
 * session freed.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/address.h"
#include "conf/config.h"
#include "lib/log.h"
#include "smtp/smtp.h"

#define FUZZ_REPLY_MAX	512		/* RFC 5321 4.5.3.1.5, CRLF included */

static struct config *configs[3];

struct host {
	struct smtp_session *s;
	uint32_t	 rng;		/* choices from the input's seed */
	const uint8_t	*fed;		/* what the client sent so far ... */
	size_t		 fedlen;	/* ... up to the end of this chunk */
	size_t		 commits;
	bool		 spool_open, committing, tls_pending;
	bool		 auth_pending;
	bool		 filter_pending;	/* a stage awaits the verdict */
	enum smtp_filter_stage stage;
	bool		 filter_tx;		/* the filters saw MAIL, END unanswered */
	bool		 free_to_relay;	/* trusted, or has authenticated */
	bool		 routing_ok;	/* allow_untrusted_routing */
	char		 line[FUZZ_REPLY_MAX + 1];	/* reply line so far */
	size_t		 linelen;
	char		 mechs[64];
};

static struct host h;

static uint32_t
pick(uint32_t n)
{
	h.rng ^= h.rng << 13;
	h.rng ^= h.rng >> 17;
	h.rng ^= h.rng << 5;
	return n ? h.rng % n : 0;
}

static void
check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_smtp: invariant broken: %s\n", what);
		abort();
	}
}

/* final_dots - how many <CRLF>.<CRLF> the client has sent (overlaps
 * counted: an upper bound on the messages it may have ended). Only that
 * form ends DATA: "DATA<LF>.<CRLF>" does not (the engine starts DATA
 * mid-line after a bare-LF command; the fuzzer found it did not). */
static size_t
final_dots(void)
{
	size_t i, n = 0;

	/* "DATA\r\n.\r\n": the command's CRLF is the dot line's first. */
	for (i = 0; i + 5 <= h.fedlen; i++)
		if (memcmp(h.fed + i, "\r\n.\r\n", 5) == 0)
			n++;
	return n;
}

static void
f_send(void *ctx, const char *p, size_t n)
{
	size_t i;

	(void)ctx;
	for (i = 0; i < n; i++) {
		check(h.linelen < FUZZ_REPLY_MAX, "reply line too long");
		h.line[h.linelen++] = p[i];
		if (p[i] != '\n')
			continue;
		check(h.linelen >= 6 && h.line[h.linelen - 2] == '\r',
		    "reply line without CRLF or text");
		check(h.line[0] >= '2' && h.line[0] <= '5' &&
		    h.line[1] >= '0' && h.line[1] <= '9' &&
		    h.line[2] >= '0' && h.line[2] <= '9' &&
		    (h.line[3] == ' ' || h.line[3] == '-'),
		    "reply line not NNN SP or NNN -");
		h.linelen = 0;
	}
}

/* check_not_relayed - a recipient accepted from a client that may not
 * relay is ours, or a relay domain's, or the bare postmaster (stored
 * as postmaster@hostname) */
static void
check_not_relayed(const char *rcpt)
{
	struct address a;
	const char *err;

	check(address_parse(rcpt, strlen(rcpt), &a, &err) > 0,
	    "spooled recipient does not parse");
	check(!(a.flags & ADDR_F_NODOMAIN), "stored without a domain");
	check(domain_equal(a.domain, "example.test") ||
	    domain_equal(a.domain, "relay.example") ||
	    (strcmp(a.local, "postmaster") == 0 &&
	    domain_equal(a.domain, "mail.example.test")), "open relay");
	check(h.routing_ok || !(a.flags & ADDR_F_ROUTING),
	    "relayed through the local part");
}

static int
f_open(void *ctx, struct envelope *env)
{
	size_t i;

	(void)ctx;
	check(!h.spool_open, "spool opened twice");
	check(env->nrcpts > 0, "spool opened without recipients");
	for (i = 0; i < env->nrcpts && !h.free_to_relay; i++)
		check_not_relayed(env->rcpts[i]);
	switch (pick(64)) {
	case 0:
		return -1;
	case 1:
		return SMTP_SPOOL_NO_SPACE;
	}
	snprintf(env->id, sizeof(env->id), "%016zX", h.commits + 1);
	h.spool_open = true;
	return 0;
}

static int
f_write(void *ctx, const char *p, size_t n)
{
	(void)ctx;
	(void)p;
	(void)n;
	check(h.spool_open && !h.committing, "spool write outside a transaction");
	return pick(512) == 0 ? -1 : 0;
}

static void
f_commit(void *ctx)
{
	(void)ctx;
	check(h.spool_open && !h.committing, "commit without an open spool");
	check(final_dots() > h.commits, "commit before a final dot");
	h.commits++;
	h.committing = true;
}

static void
f_abort(void *ctx)
{
	(void)ctx;
	check(h.spool_open && !h.committing, "abort without an open spool");
	check(!h.filter_tx, "spool dropped before the filters were told");
	h.spool_open = false;
}

/* filter_verdict - what the filters say: every action, replies good,
 * multi-line, odd and malformed, and now and then an unknown action */
static void
filter_verdict(void)
{
	static const char *const replies[] = {
		"550 5.7.1 Command rejected",
		"451 4.7.1 Service unavailable - try again later",
		"550-5.7.1 first\r\n550 5.7.1 second",
		"550 5.7.1 a\r\n550 5.7.1 b\r\n",
		"421 4.7.0 bye",
		"250 2.0.0 not a refusal", "", "550 4.7.1 wrong class",
		"550-x\r\n451-y", "550 a\r\n\r\n550 b", "5", NULL,
	};
	static const enum smtp_filter_action acts[] = {
		SMTP_FILTER_CONTINUE, SMTP_FILTER_CONTINUE,
		SMTP_FILTER_CONTINUE, SMTP_FILTER_REFUSE, SMTP_FILTER_DISCARD,
		(enum smtp_filter_action)7,
	};
	struct smtp_filter_verdict v = { acts[pick(6)], NULL, "fuzz" };
	char junk[1200];
	size_t i, n;

	if (pick(4) == 0) {
		/* bytes of any kind, CRLFs and lone CRs and LFs among them */
		n = 4 + pick(sizeof(junk) - 4);
		memcpy(junk, pick(2) ? "550 " : "451-", 4);
		for (i = 4; i < n; i++)
			junk[i] = (char)(pick(8) == 0 ? "\r\n"[pick(2)] :
			    1 + pick(255));
		junk[n] = '\0';
		v.reply = junk;
	} else {
		v.reply = replies[pick(sizeof(replies) / sizeof(replies[0]))];
	}
	if (h.stage == SMTP_FILTER_END && h.filter_pending)
		h.filter_tx = false;	/* answered: nothing to abort now */
	h.filter_pending = false;
	smtp_filter_done(h.s, &v);
}

static void
f_filter(void *ctx, enum smtp_filter_stage st, const char *arg,
    const char *params)
{
	(void)ctx;
	check(!h.filter_pending, "a stage asked while another waits");
	check(arg != NULL && params != NULL, "filter arguments");
	check(st != SMTP_FILTER_END || (h.spool_open && !h.committing &&
	    final_dots() > h.commits), "END without a complete message");
	if (st == SMTP_FILTER_MAIL)
		h.filter_tx = true;
	h.filter_pending = true;
	h.stage = st;
	if (pick(2) == 0)
		filter_verdict();	/* at once, before returning */
}

static void
f_filter_abort(void *ctx)
{
	(void)ctx;
	check(h.filter_tx, "filter_abort for no transaction of theirs");
	h.filter_tx = h.filter_pending = false;
}

static void
f_lookup(void *ctx, const char *domain)
{
	static const enum dns_result answers[] = {
		DNS_FOUND, DNS_FOUND, DNS_NOT_FOUND, DNS_TEMPFAIL,
	};

	(void)ctx;
	check(domain != NULL && strlen(domain) <= 255, "lookup of a bad name");
	smtp_lookup_done(h.s, answers[pick(4)]);
}

static void
f_starttls(void *ctx)
{
	(void)ctx;
	h.tls_pending = true;
}

static const char *
f_mechs(void *ctx)
{
	(void)ctx;
	return h.mechs;
}

static void
f_auth_start(void *ctx, const char *mech, const char *p, size_t n, bool has)
{
	(void)ctx;
	(void)has;
	check(mech != NULL && (n == 0 || p != NULL), "auth_start arguments");
	h.auth_pending = true;
}

static void
f_auth_step(void *ctx, const char *p, size_t n)
{
	(void)ctx;
	check(n == 0 || p != NULL, "auth_step arguments");
	h.auth_pending = true;
}

static void
f_auth_reset(void *ctx)
{
	(void)ctx;
	h.auth_pending = false;
}

/* The queue's free space and the per-address AUTH limit. */
static bool
f_space_ok(void *ctx, uint64_t size)
{
	(void)ctx;
	(void)size;
	return pick(64) != 0;
}

static bool
f_auth_allowed(void *ctx)
{
	(void)ctx;
	return pick(8) != 0;
}

static const struct smtp_io fuzz_io = {
	.send = f_send,
	.spool_open = f_open,
	.spool_write = f_write,
	.spool_commit = f_commit,
	.spool_abort = f_abort,
	.domain_lookup = f_lookup,
	.starttls = f_starttls,
	.auth_mechanisms = f_mechs,
	.auth_start = f_auth_start,
	.auth_step = f_auth_step,
	.auth_reset = f_auth_reset,
	.space_ok = f_space_ok,
	.auth_allowed = f_auth_allowed,
};

/* The same host, with filters (LLVMFuzzerInitialize). */
static struct smtp_io fuzz_io_filters;

static struct config *
make_config(const char *extra)
{
	char text[1024], *errors = NULL;
	struct config *cfg;

	snprintf(text, sizeof(text),
	    "hostname = mail.example.test\n"
	    "listen = 127.0.0.1:2525 mx\n"
	    "local_domains = example.test\n"
	    "relay_domains = relay.example\n"
	    "mynetworks = 10.0.0.0/8\n"
	    "queue_dir = /nonexistent\n"
	    "%s", extra);
	if ((cfg = config_parse(text, "fuzz.conf", &errors)) == NULL) {
		fprintf(stderr, "fuzz_smtp: config: %s\n", errors ? errors : "?");
		abort();
	}
	free(errors);
	return cfg;
}

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_quiet(1);
	fuzz_io_filters = fuzz_io;
	fuzz_io_filters.filter = f_filter;
	fuzz_io_filters.filter_abort = f_filter_abort;
	configs[0] = make_config("");
	configs[1] = make_config("max_message_size = 1024\nmax_recipients = 3\n"
	    "sender_login_check = yes\n");
	configs[2] = make_config("reject_unknown_sender_domain = no\n"
	    "allow_untrusted_routing = yes\n");
	return 0;
}

/* answer - what the host says to whatever the engine waits for */
static void
answer(void)
{
	static const enum sasl_status st[] = {
		SASL_STATUS_OK, SASL_STATUS_CONTINUE, SASL_STATUS_CONTINUE,
		SASL_STATUS_BADAUTH, SASL_STATUS_BADMECH, SASL_STATUS_BADPROT,
		SASL_STATUS_TEMP,
	};
	char challenge[64];
	size_t i, n;

	/* The filters first: END's verdict may start the commit. */
	if (h.filter_pending)
		filter_verdict();
	else if (pick(64) == 0)
		filter_verdict();	/* no stage waits: ignored */
	if (h.committing) {
		h.committing = h.spool_open = false;
		smtp_commit_done(h.s, pick(16) == 0 ? -1 : 0);
	}
	if (h.tls_pending) {
		h.tls_pending = false;
		smtp_tls_done(h.s, pick(8) != 0, "TLSv1.3",
		    "TLS_AES_256_GCM_SHA384", 256);
	}
	if (h.auth_pending) {
		h.auth_pending = false;
		n = pick(sizeof(challenge));
		for (i = 0; i < n; i++)
			challenge[i] = (char)pick(256);
		i = pick(7);
		if (st[i] == SASL_STATUS_OK)
			h.free_to_relay = true;
		smtp_auth_done(h.s, st[i], challenge, n, "fuzzuser");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum listen_role roles[] = {
		ROLE_MX, ROLE_SUBMISSION, ROLE_SUBMISSIONS, ROLE_MX,
	};
	static const char *const mechs[] = {
		"", "PLAIN LOGIN", "PLAIN LOGIN CRAM-MD5", "CRAM-MD5",
	};
	struct sockaddr_in sin;
	struct smtp_peer peer;
	const struct config *cfg;
	size_t off, n, used, chunk;
	bool implicit;
	uint8_t how;

	if (size < 5)
		return 0;
	memset(&h, 0, sizeof(h));
	chunk = data[0];
	how = data[1];
	h.rng = (uint32_t)data[2] | (uint32_t)data[3] << 8 |
	    (uint32_t)data[4] << 16 | 1u << 24;
	data += 5;
	size -= 5;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(how & 8 ? 0x0a000001 : 0xc0000207);
	memset(&peer, 0, sizeof(peer));
	peer.addr = (struct sockaddr *)&sin;
	peer.addr_text = how & 8 ? "10.0.0.1" : "192.0.2.7";
	peer.role = roles[how & 3];
	peer.session_id = 1;
	peer.tls_offer = how & 4;
	implicit = peer.role == ROLE_SUBMISSIONS;
	peer.tls_version = implicit ? "TLSv1.3" : NULL;
	peer.tls_cipher = implicit ? "TLS_AES_256_GCM_SHA384" : NULL;
	peer.tls_bits = implicit ? 256 : 0;
	snprintf(h.mechs, sizeof(h.mechs), "%s", mechs[how >> 6 & 3]);
	cfg = configs[(how >> 4 & 3) % 3];
	h.free_to_relay = how & 8;
	h.routing_ok = cfg == configs[2];

	h.fed = data;
	h.s = smtp_new(cfg, &peer, pick(2) ? &fuzz_io_filters : &fuzz_io,
	    NULL);
	check(h.s != NULL, "smtp_new failed");

	for (off = 0; off < size && !smtp_closing(h.s); ) {
		/* 0: everything at once; else chunks of 1..chunk bytes */
		n = chunk == 0 ? size - off : 1 + pick((uint32_t)chunk);
		if (n > size - off)
			n = size - off;
		h.fedlen = off + n;
		used = smtp_input(h.s, (const char *)data + off, n);
		check(used <= n, "smtp_input used more than it was given");
		check(used == n || smtp_waiting(h.s) || smtp_closing(h.s) ||
		    h.tls_pending, "smtp_input stopped early for nothing");
		off += used;
		if (h.tls_pending)
			off += n - used;	/* never run what came after */
		if (pick(2048) == 0)
			smtp_shutdown(h.s);
		else if (pick(4096) == 0 && !smtp_waiting(h.s))
			smtp_timeout(h.s);	/* conn.c: no timer while waiting */
		answer();
		/* Everything asked was answered: the client's turn again. */
		check(used > 0 || !smtp_waiting(h.s) || smtp_closing(h.s),
		    "engine waits for an answer it never asked for");
	}
	smtp_free(h.s);
	check(!h.filter_tx, "session freed, the filters not told");
	return 0;
}
