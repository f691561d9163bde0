/*
 * smtp_fake - the host the engine's unit tests drive it with
 * (test_smtp, test_smtp_filter): an in-memory spool, DNS and SASL
 * answered as each test says, and helpers that read like a session.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "conf/config.h"
#include "lib/log.h"
#include "smtp/smtp.h"
#include "smtp_fake.h"

struct fake fk;
struct config *cfg;

static void
f_send(void *ctx, const char *p, size_t n)
{
	(void)ctx;
	cr_assert_eq(buf_append(&fk.out, p, n), 0);
}

static bool
f_space_ok(void *ctx, uint64_t size)
{
	(void)ctx;
	fk.space_checks++;
	fk.space_asked = size;
	return !fk.disk_full;
}

static int
f_open(void *ctx, struct envelope *env)
{
	size_t i;

	(void)ctx;
	fk.opens++;
	if (fk.fail_open)
		return fk.open_result ? fk.open_result : -1;
	snprintf(env->id, sizeof(env->id), "TESTID%010u", (unsigned)fk.opens % 1000000000u);
	snprintf(fk.sender, sizeof(fk.sender), "%s", env->sender);
	for (i = 0; i < env->nrcpts && i < 8; i++)
		snprintf(fk.rcpts[i], sizeof(fk.rcpts[i]), "%s", env->rcpts[i]);
	fk.nrcpts = env->nrcpts;
	fk.smtputf8 = env->smtputf8;
	fk.requiretls = env->requiretls;
	fk.body = env->body;
	fk.room = env->prepend_room;
	buf_reset(&fk.msg);
	return 0;
}

static int
f_write(void *ctx, const char *p, size_t n)
{
	(void)ctx;
	if (fk.fail_write)
		return -1;
	return buf_append(&fk.msg, p, n);
}

static int
f_prepend(void *ctx, const char *p, size_t n)
{
	(void)ctx;
	fk.prepends++;
	fk.commits_at_prepend = fk.commits;
	cr_assert_leq(n, fk.room);
	cr_assert_eq(buf_append(&fk.fields, p, n), 0);
	return 0;
}

static int
f_tls_optional(void *ctx)
{
	(void)ctx;
	fk.tls_optionals++;
	fk.commits_at_tls_optional = fk.commits;
	cr_assert_not(fk.requiretls, "REQUIRETLS wins over the header");
	return 0;
}

static void
f_commit(void *ctx)
{
	(void)ctx;
	fk.commits++;
	fk.committing = true;
}

static void
f_abort(void *ctx)
{
	(void)ctx;
	fk.aborts++;
}

struct smtp_session *s;

static void
f_lookup(void *ctx, const char *domain)
{
	(void)ctx;
	fk.lookups++;
	snprintf(fk.looked_up, sizeof(fk.looked_up), "%s", domain);
	if (!fk.lookup_pending)
		smtp_lookup_done(s, fk.answer);
}

static void
f_starttls(void *ctx)
{
	(void)ctx;
	fk.starttls++;
}

static const char *
f_mechs(void *ctx)
{
	(void)ctx;
	return fk.mechs;
}

static void
f_auth_start(void *ctx, const char *mech, const char *p, size_t n, bool has)
{
	(void)ctx;
	fk.auth_starts++;
	snprintf(fk.auth_mech, sizeof(fk.auth_mech), "%s", mech);
	cr_assert_lt(n, sizeof(fk.auth_data));
	memcpy(fk.auth_data, p, n);
	fk.auth_len = n;
	fk.auth_initial = has;
}

static void
f_auth_step(void *ctx, const char *p, size_t n)
{
	(void)ctx;
	fk.auth_steps++;
	cr_assert_lt(n, sizeof(fk.auth_data));
	memcpy(fk.auth_data, p, n);
	fk.auth_len = n;
}

static void
f_auth_reset(void *ctx)
{
	(void)ctx;
	fk.auth_resets++;
}

static bool
f_auth_allowed(void *ctx)
{
	(void)ctx;
	return !fk.auth_blocked;
}

const struct smtp_io fake_io = {
	.send = f_send,
	.space_ok = f_space_ok,
	.spool_open = f_open,
	.spool_write = f_write,
	.spool_prepend = f_prepend,
	.spool_tls_optional = f_tls_optional,
	.spool_commit = f_commit,
	.spool_abort = f_abort,
	.domain_lookup = f_lookup,
	.starttls = f_starttls,
	.auth_mechanisms = f_mechs,
	.auth_start = f_auth_start,
	.auth_step = f_auth_step,
	.auth_reset = f_auth_reset,
	.auth_allowed = f_auth_allowed,
};

bool dnsbl_pending;
const struct smtp_io *fake_next_io;
unsigned fake_next_listener;

void
start(const char *client, const char *extra)
{
	start_as(client, extra, ROLE_MX, false, false);
}

void
start_as(const char *client, const char *extra, enum listen_role role,
    bool tls_offer, bool implicit_tls)
{
	static struct sockaddr_in sin;
	struct smtp_peer peer = { 0 };
	char text[2048], *errors = NULL;

	snprintf(text, sizeof(text),
	    "hostname = mail.example.test\n"
	    "listen = 127.0.0.1:2525 mx\n"
	    "local_domains = example.test\n"
	    "relay_domains = relay.example\n"
	    "mynetworks = 10.0.0.0/8\n"
	    "queue_dir = /nonexistent\n"
	    "%s", extra ? extra : "");
	cfg = config_parse(text, "test.conf", &errors);
	cr_assert_not_null(cfg, "config: %s", errors ? errors : "?");
	free(errors);
	log_set_quiet(1);
	memset(&fk, 0, sizeof(fk));
	fk.answer = DNS_FOUND;
	buf_init(&fk.out, 1 << 20);
	buf_init(&fk.msg, 64 << 20);
	buf_init(&fk.fields, 1 << 16);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, client, &sin.sin_addr);
	peer.addr = (struct sockaddr *)&sin;
	peer.addr_text = client;
	peer.role = role;
	peer.session_id = 1;
	peer.tls_offer = tls_offer;
	peer.tls_version = implicit_tls ? "TLSv1.3" : NULL;
	peer.tls_cipher = implicit_tls ? "TLS_AES_256_GCM_SHA384" : NULL;
	peer.tls_bits = implicit_tls ? 256 : 0;
	peer.dnsbl_pending = dnsbl_pending;
	dnsbl_pending = false;
	peer.listener = fake_next_listener;
	fake_next_listener = 0;
	s = smtp_new(cfg, &peer, fake_next_io ? fake_next_io : &fake_io, NULL);
	fake_next_io = NULL;
	cr_assert_not_null(s);
}

void
finish(void)
{
	smtp_free(s);
	s = NULL;
	config_free(cfg);
	cfg = NULL;
	buf_free(&fk.out);
	buf_free(&fk.msg);
	buf_free(&fk.fields);
}

char *
say_n(const char *p, size_t n)
{
	static char got[1 << 16];
	size_t used = smtp_input(s, p, n);

	cr_assert_eq(used, n, "engine stopped reading at %zu of %zu", used, n);
	snprintf(got, sizeof(got), "%.*s", (int)fk.out.len,
	    fk.out.data ? fk.out.data : "");
	buf_reset(&fk.out);
	return got;
}

char *
commit(int status)
{
	static char got[4096];

	cr_assert(fk.committing, "no commit pending");
	fk.committing = false;
	smtp_commit_done(s, status);
	snprintf(got, sizeof(got), "%.*s", (int)fk.out.len,
	    fk.out.data ? fk.out.data : "");
	buf_reset(&fk.out);
	return got;
}

const char *
body(void)
{
	const char *p = fk.msg.data;

	cr_assert_not_null(p);
	cr_assert_eq(strncmp(p, "Received: ", 10), 0);
	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (*p != '\t' && *p != ' ')
			return p;
	}
	cr_assert_fail("no end of Received header");
	return NULL;
}
