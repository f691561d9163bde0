/*
 * selftest_engine - the in-process transport (selftest_engine.h): the
 * struct smtp_io the engine talks to, answers to what it waits for
 * (lookups, the "handshake", SASL), and the sessions' open, command
 * and close.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "sec/sasl.h"
#include "selftest/selftest_engine.h"
#include "smtp/address.h"
#include "smtp/smtp.h"

#define LOCAL_OUT_MAX	(64 * 1024)	/* replies to one command */
/* What a session "inside TLS" reports, for the Received line it never
 * writes. */
#define FAKE_TLS_VERSION	"TLSv1.3"
#define FAKE_TLS_CIPHER		"TLS_AES_256_GCM_SHA384"
#define FAKE_TLS_BITS		256

/* --- struct smtp_io ---------------------------------------------------- */

static void
l_send(void *ctx, const char *data, size_t len)
{
	struct st_local *l = ctx;

	/* Past the maximum the reply is cut; the parser then says so. */
	buf_append(&l->out, data, len);
}

static bool
l_space_ok(void *ctx, uint64_t size)
{
	(void)ctx;
	(void)size;
	return true;		/* no spool: nothing to fill */
}

/* The spool keeps nothing: only the loop check sends DATA, its
 * message is dropped as it comes, and a commit always fails (451), so
 * the self-test never queues. */
static int
l_spool_open(void *ctx, struct envelope *env)
{
	(void)ctx;
	snprintf(env->id, sizeof(env->id), "selftest");
	return 0;
}

static int
l_spool_write(void *ctx, const char *data, size_t len)
{
	(void)ctx;
	(void)data;
	(void)len;
	return 0;
}

static void
l_spool_commit(void *ctx)
{
	struct st_local *l = ctx;

	l->commit_wanted = true;	/* answered by answer(): failed */
}

static void
l_spool_abort(void *ctx)
{
	(void)ctx;
}

static void
l_domain_lookup(void *ctx, const char *domain)
{
	struct st_local *l = ctx;

	snprintf(l->lookup, sizeof(l->lookup), "%s", domain);
	l->lookup_wanted = true;
}

/* l_starttls - the engine took STARTTLS: l_command completes the
 * "handshake" once the 220 is out */
static void
l_starttls(void *ctx)
{
	struct st_local *l = ctx;

	l->tls_wanted = true;
}

static const char *
l_auth_mechanisms(void *ctx)
{
	struct st_local *l = ctx;

	if (l->sasl)
		return sasl_session_mechanisms(l->sasl);
	return l->real_sasl ? "" : l->mechs;
}

/* on_sasl - the backend's answer, on the caller's loop */
static void
on_sasl(void *arg, enum sasl_status st, const char *challenge, size_t len,
    const char *user)
{
	struct st_local *l = arg;

	l->sasl_pending = false;
	smtp_auth_done(l->s, st, challenge, len, user);
}

/* l_auth - no backend: a temporary failure, and a note that the engine
 * asked (before TLS, that alone fails the check) */
static void
l_auth(struct st_local *l)
{
	l->sasl_asked = true;
	smtp_auth_done(l->s, SASL_STATUS_TEMP, NULL, 0, NULL);
}

static void
l_auth_start(void *ctx, const char *mech, const char *initial, size_t len,
    bool has_initial)
{
	struct st_local *l = ctx;

	if (l->sasl == NULL) {
		l_auth(l);
		return;
	}
	l->sasl_asked = l->sasl_pending = true;
	sasl_session_start(l->sasl, mech, initial, len, has_initial, on_sasl,
	    l);
}

static void
l_auth_step(void *ctx, const char *resp, size_t len)
{
	struct st_local *l = ctx;

	if (l->sasl == NULL) {
		l_auth(l);
		return;
	}
	l->sasl_pending = true;
	sasl_session_step(l->sasl, resp, len, on_sasl, l);
}

static void
l_auth_reset(void *ctx)
{
	struct st_local *l = ctx;

	if (l->sasl)
		sasl_session_reset(l->sasl);
}

static const struct smtp_io local_io = {
	.send = l_send,
	.space_ok = l_space_ok,
	.spool_open = l_spool_open,
	.spool_write = l_spool_write,
	.spool_commit = l_spool_commit,
	.spool_abort = l_spool_abort,
	.domain_lookup = l_domain_lookup,
	.starttls = l_starttls,
	.auth_mechanisms = l_auth_mechanisms,
	.auth_start = l_auth_start,
	.auth_step = l_auth_step,
	.auth_reset = l_auth_reset,
};

/* --- lookups ----------------------------------------------------------- */

static const char *
result_words(enum dns_result r)
{
	switch (r) {
	case DNS_FOUND:		return "exists";
	case DNS_NOT_FOUND:	return "does not exist";
	default:		return "temporary failure";
	}
}

/* resolve - answer the engine's lookup and say how in the exchange */
static enum dns_result
resolve(struct st_local *l, const char *domain)
{
	char line[ADDR_DOMAIN_MAX + 128], *v;
	enum dns_result r;
	const char *how;

	if (domain_equal(domain, l->p->tester_domain) ||
	    domain_equal(domain, l->p->external_domain)) {
		r = DNS_FOUND;
		how = "the prober's own domain, answered by the self-test";
	} else if (l->o->resolve) {
		r = l->o->resolve(l->o->resolve_arg, domain);
		how = "DNS";
	} else {
		r = DNS_TEMPFAIL;
		how = "no resolver";
	}
	snprintf(line, sizeof(line), "%s: %s (%s)", domain, result_words(r),
	    how);
	if (l->x) {
		size_t old = l->x->dns ? strlen(l->x->dns) : 0;

		if ((v = realloc(l->x->dns, old + strlen(line) + 3)) != NULL) {
			snprintf(v + old, strlen(line) + 3, "%s%s",
			    old ? "; " : "", line);
			l->x->dns = v;
		}
	}
	return r;
}

/* --- transport --------------------------------------------------------- */

/* take_reply - the replies in out into x; false when there is none */
static bool
take_reply(struct st_local *l, struct st_exchange *x)
{
	size_t used = 0;
	long n;
	int code;
	char *text, *v;

	while (used < l->out.len && (n = st_parse_reply(l->out.data + used,
	    l->out.len - used, &code, &text)) > 0) {
		used += (size_t)n;
		if (x->reply == NULL) {
			x->reply = text;
			x->code = code;
			continue;
		}
		/* More than one reply (a 421 after an error): keep all. */
		if ((v = realloc(x->reply, strlen(x->reply) +
		    strlen(text) + 2)) != NULL) {
			strcat(strcat(v, "\n"), text);
			x->reply = v;
		}
		free(text);
	}
	buf_reset(&l->out);
	if (x->reply == NULL)
		x->error = l->s && smtp_closing(l->s) ?
		    "session closed without a reply" : "no complete reply";
	return x->reply != NULL;
}

static int
l_open(void *ctx, struct st_exchange *greeting)
{
	struct st_local *l = ctx;
	struct smtp_peer peer;

	memset(&peer, 0, sizeof(peer));
	peer.addr = (const struct sockaddr *)&l->addr;
	peer.addr_text = l->addr_text;
	peer.role = l->role;
	peer.session_id = ++l->sid;
	peer.tls_offer = l->cfg->tls_cert != NULL;
	l->in_tls = l->tls;
	l->tls_wanted = l->sasl_pending = false;
	if (l->real_sasl && l->o->sasl && (l->sasl = sasl_session_new(
	    l->o->sasl, l->cfg->hostname, l->local_end, l->remote_end,
	    FAKE_TLS_BITS)) == NULL) {
		greeting->error = "out of memory";
		return -1;
	}
	if (l->tls) {
		peer.tls_version = FAKE_TLS_VERSION;
		peer.tls_cipher = FAKE_TLS_CIPHER;
		peer.tls_bits = FAKE_TLS_BITS;
	}
	buf_reset(&l->out);
	l->x = greeting;
	greeting->tls = l->tls;
	if ((l->s = smtp_new(l->cfg, &peer, &local_io, l)) == NULL) {
		greeting->error = "out of memory";
		return -1;
	}
	take_reply(l, greeting);
	return 0;
}

/* answer - give the waiting engine what it waits for: a lookup, the
 * end of a "handshake", SASL's answer (one turn of the caller's loop);
 * false when it is nothing the self-test can give */
static bool
answer(struct st_local *l)
{
	if (l->lookup_wanted) {
		l->lookup_wanted = false;
		smtp_lookup_done(l->s, resolve(l, l->lookup));
		return true;
	}
	if (l->commit_wanted) {
		l->commit_wanted = false;
		smtp_commit_done(l->s, -1);
		return true;
	}
	if (l->tls_wanted) {
		l->tls_wanted = false;
		l->in_tls = true;
		smtp_tls_done(l->s, true, FAKE_TLS_VERSION, FAKE_TLS_CIPHER,
		    FAKE_TLS_BITS);
		return true;
	}
	return l->sasl_pending && l->o->wait != NULL &&
	    l->o->wait(l->o->wait_arg);
}

static int
l_command(void *ctx, struct st_exchange *x)
{
	struct st_local *l = ctx;
	char line[ST_LINE_MAX + 2];
	const char *data = line;
	size_t used = 0;
	int n;

	line[0] = '\0';
	if (x->kind == ST_BODY) {
		/* A message, sent as it is: its lines and the ".". */
		data = x->secret ? x->secret : x->sent;
		n = (int)strlen(data);
	} else if ((n = snprintf(line, sizeof(line), "%s\r\n", x->secret ?
	    x->secret : x->sent)) < 0 || (size_t)n >= sizeof(line)) {
		explicit_bzero(line, sizeof(line));
		x->error = "not sent: command too long";
		return -1;
	}
	l->x = x;
	x->tls = l->in_tls;
	while (used < (size_t)n && !smtp_closing(l->s)) {
		size_t took = smtp_input(l->s, data + used, (size_t)n - used);

		used += took;
		while (smtp_waiting(l->s) && answer(l))
			;
		if (smtp_waiting(l->s) || (took == 0 && !smtp_closing(l->s))) {
			explicit_bzero(line, sizeof(line));
			x->error = "the engine waits for something the "
			    "self-test cannot give";
			return -1;
		}
	}
	explicit_bzero(line, sizeof(line));
	l->x = NULL;
	if (!take_reply(l, x))
		return -1;
	return smtp_closing(l->s) ? -1 : 0;
}

static void
l_close(void *ctx)
{
	struct st_local *l = ctx;

	smtp_free(l->s);
	l->s = NULL;
	/* After the engine: its auth_reset may still use the session. */
	sasl_session_free(l->sasl);
	l->sasl = NULL;
	l->lookup_wanted = l->sasl_pending = l->commit_wanted = false;
}

void
st_engine_from(struct st_local *l, const struct sockaddr_storage *ss,
    const char *text)
{
	memcpy(&l->addr, ss, sizeof(l->addr));
	snprintf(l->addr_text, sizeof(l->addr_text), "%s", text);
	snprintf(l->remote_end, sizeof(l->remote_end), "%s;49152", text);
}

/* stand_in_mechs - what SASL offers in process: the configured
 * sasl_mechanisms, else the usual two */
static void
stand_in_mechs(const struct config *cfg, char *out, size_t outlen)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < cfg->sasl_mechanisms.n && o < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%s%s", i ? " " : "",
		    cfg->sasl_mechanisms.v[i]);
	if (out[0] == '\0' || o >= outlen)
		snprintf(out, outlen, "PLAIN LOGIN");
}

/* --- the run ----------------------------------------------------------- */
void
st_engine_init(struct st_local *l, const struct config *cfg,
    const struct st_places *p, const struct st_local_opts *o,
    enum listen_role role, struct st_transport *tr)
{
	memset(l, 0, sizeof(*l));
	l->cfg = cfg;
	l->p = p;
	l->o = o;
	l->role = role;
	/* The probes see what a client of that listener sees: on an
	 * implicit TLS listener, a session inside TLS. */
	l->tls = role == ROLE_SUBMISSIONS;
	stand_in_mechs(cfg, l->mechs, sizeof(l->mechs));
	buf_init(&l->out, LOCAL_OUT_MAX);
	*tr = (struct st_transport){ l_open, l_command, l_close, l };
}

void
st_engine_free(struct st_local *l)
{
	buf_free(&l->out);
}
