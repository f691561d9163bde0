/*
 * milter_apply - what a milter changed, written into the spool before
 * the next milter sees the message: the envelope kept for the message
 * (a copy the milters change: recipients added and deleted, the
 * sender, the hold of a quarantine), and the message rewritten under
 * its id (spool_rewrite): the old one read back, its header copied
 * through the milter's header edits (milter_hedit), its body kept or
 * taken from the temporary file the new body went to. Blocking file
 * I/O on the loop, as the spool's own writes are.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/milter_int.h"
#include "smtp/address.h"

/* The envelope's strings the set owns, by index in env_strings. */
enum { ES_CLIENT, ES_HELO, ES_PROTO, ES_AUTH, ES_SENDER, ES_HOLD };

#define ADDR_MAX	(ADDR_PATH_MAX + 2)	/* an address as queued */

void
mf_env_free(struct milters *set)
{
	for (size_t i = 0; i < sizeof(set->env_strings) /
	    sizeof(set->env_strings[0]); i++) {
		free(set->env_strings[i]);
		set->env_strings[i] = NULL;
	}
	for (size_t i = 0; i < set->nrcpts; i++)
		free(set->rcpts[i]);
	free(set->rcpts);
	set->rcpts = NULL;
	set->nrcpts = 0;
	memset(&set->env, 0, sizeof(set->env));
	set->have_env = false;
}

/* env_string - one string of the copy: NULL stays NULL; -1: memory */
static int
env_string(struct milters *set, int i, const char *s, const char **field)
{
	free(set->env_strings[i]);
	set->env_strings[i] = NULL;
	*field = NULL;
	if (s == NULL)
		return 0;
	if ((set->env_strings[i] = strdup(s)) == NULL)
		return -1;
	*field = set->env_strings[i];
	return 0;
}

int
mf_env_copy(struct milters *set, const struct envelope *env)
{
	mf_env_free(set);
	set->env = *env;
	set->env.rcpts = NULL;
	set->env.nrcpts = 0;
	if (env_string(set, ES_CLIENT, env->client, &set->env.client) == -1 ||
	    env_string(set, ES_HELO, env->helo, &set->env.helo) == -1 ||
	    env_string(set, ES_PROTO, env->proto, &set->env.proto) == -1 ||
	    env_string(set, ES_AUTH, env->auth_user,
	    &set->env.auth_user) == -1 ||
	    env_string(set, ES_SENDER, env->sender, &set->env.sender) == -1 ||
	    env_string(set, ES_HOLD, env->hold, &set->env.hold) == -1 ||
	    (env->nrcpts > 0 && (set->rcpts = calloc(env->nrcpts,
	    sizeof(*set->rcpts))) == NULL))
		goto nomem;
	for (; set->nrcpts < env->nrcpts; set->nrcpts++)
		if ((set->rcpts[set->nrcpts] = strdup(
		    env->rcpts[set->nrcpts])) == NULL)
			goto nomem;
	set->have_env = true;
	return 0;
nomem:
	mf_env_free(set);
	return -1;
}

struct milters *
mf_env_save(struct milters *set)
{
	struct milters *saved = calloc(1, sizeof(*saved));

	if (saved == NULL)
		return NULL;
	set->env.rcpts = set->rcpts;
	set->env.nrcpts = set->nrcpts;
	if (mf_env_copy(saved, &set->env) == -1) {
		free(saved);
		return NULL;
	}
	return saved;
}

void
mf_env_drop(struct milters *saved)
{
	if (saved == NULL)
		return;
	mf_env_free(saved);
	free(saved);
}

int
mf_env_restore(struct milters *set, struct milters *saved)
{
	int rc;

	saved->env.rcpts = saved->rcpts;
	saved->env.nrcpts = saved->nrcpts;
	rc = mf_env_copy(set, &saved->env);
	mf_env_drop(saved);
	return rc;
}

/* addr_strip - a milter's address without its angle brackets, for
 * DELRCPT's comparison; -1 with err */
static int
addr_strip(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	size_t	 n;

	if (in == NULL)
		in = "";
	n = strlen(in);
	if (n >= 2 && in[0] == '<' && in[n - 1] == '>') {
		in++;
		n -= 2;
	}
	if (n >= outlen) {
		snprintf(err, errlen, "address longer than %zu octets",
		    outlen - 1);
		return -1;
	}
	memcpy(out, in, n);
	out[n] = '\0';
	return 0;
}

/* addr_check - a milter's new sender or recipient, held to what RCPT
 * TO and MAIL FROM take from a client (address_parse: RFC 5321's
 * lengths, a domain, no control octets, UTF-8 only in an SMTPUTF8
 * message) and queued in the same form, so that the queue entry and
 * its delivery see an address like any other; -1 with err */
static int
addr_check(struct milters *set, const char *in, bool null_ok, char *out,
    size_t outlen, char *err, size_t errlen)
{
	struct address	 a;
	const char	*why = "Syntax error";
	size_t		 n = in == NULL ? 0 : strlen(in);
	int		 used;

	if (null_ok && n == 0) {
		out[0] = '\0';
		return 0;
	}
	used = n == 0 ? -1 : address_parse(in, n, &a, &why);
	if (used < 0 || (size_t)used != n) {
		snprintf(err, errlen, "not an address (%s)", used < 0 ?
		    why : "text after it");
		return -1;
	}
	if (!null_ok && (a.flags & ADDR_F_NULL)) {
		snprintf(err, errlen, "the null address");
		return -1;
	}
	if (!(a.flags & ADDR_F_NULL) && (a.flags & ADDR_F_NODOMAIN)) {
		snprintf(err, errlen, "an address without a domain");
		return -1;
	}
	if ((a.flags & ADDR_F_UTF8) && !set->env.smtputf8) {
		snprintf(err, errlen, "a UTF-8 address in a message without "
		    "SMTPUTF8");
		return -1;
	}
	if (address_format(&a, out, outlen) == -1) {
		snprintf(err, errlen, "address too long");
		return -1;
	}
	return 0;
}

int
mf_env_addrcpt(struct milters *set, const char *addr, char *err,
    size_t errlen)
{
	char	 a[ADDR_MAX], *copy, **v;

	if (addr_check(set, addr, false, a, sizeof(a), err, errlen) == -1)
		return -1;
	if ((copy = strdup(a)) == NULL ||
	    (v = realloc(set->rcpts, (set->nrcpts + 1) * sizeof(*v))) ==
	    NULL) {
		free(copy);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	v[set->nrcpts++] = copy;
	set->rcpts = v;
	return 0;
}

int
mf_env_delrcpt(struct milters *set, const char *addr)
{
	char	 a[ADDR_MAX], err[128];
	size_t	 n = 0;
	int	 gone = 0;

	if (addr_strip(addr, a, sizeof(a), err, sizeof(err)) == -1)
		return 0;
	for (size_t i = 0; i < set->nrcpts; i++) {
		if (strcasecmp(set->rcpts[i], a) == 0) {
			free(set->rcpts[i]);
			gone++;
			continue;
		}
		set->rcpts[n++] = set->rcpts[i];
	}
	set->nrcpts = n;
	return gone;
}

int
mf_env_sender(struct milters *set, const char *addr, char *err,
    size_t errlen)
{
	char	 a[ADDR_MAX];

	if (addr_check(set, addr, true, a, sizeof(a), err, errlen) == -1)
		return -1;
	if (env_string(set, ES_SENDER, a, &set->env.sender) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
mf_env_hold(struct milters *set, const char *reason)
{
	char	 r[256];
	size_t	 n = 0;

	/* One line of printable text, as the envelope keeps it. */
	for (const char *c = reason; *c != '\0' && n < sizeof(r) - 1; c++)
		r[n++] = (unsigned char)*c < ' ' || *c == 0x7f ? ' ' : *c;
	r[n] = '\0';
	if (n == 0)
		snprintf(r, sizeof(r), "quarantined by a milter");
	return env_string(set, ES_HOLD, r, &set->env.hold);
}

/* --- the rewrite --------------------------------------------------------- */

struct apply_out {
	struct spool	*spool;
	int		 err;		/* errno of a failed write; 0 */
};

static void
apply_write(void *arg, const char *data, size_t len)
{
	struct apply_out *o = arg;

	if (o->err == 0 && spool_write(o->spool, data, len) == -1)
		o->err = errno ? errno : EIO;
}

/* copy_body - the new body from its file, ended by a CRLF */
static int
copy_body(struct apply_out *o, int fd)
{
	char	 buf[MF_READ], last[2] = { '\r', '\n' };
	off_t	 off = 0;
	ssize_t	 n;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		apply_write(o, buf, (size_t)n);
		last[0] = n > 1 ? buf[n - 2] : last[1];
		last[1] = buf[n - 1];
		off += n;
	}
	if (n == -1)
		return -1;
	if (off > 0 && (last[0] != '\r' || last[1] != '\n'))
		apply_write(o, "\r\n", 2);
	return 0;
}

int
mf_apply(struct milters *set, const struct milter_edits *edits, int body_fd,
    char *err, size_t errlen)
{
	struct apply_out	 o = { NULL, 0 };
	struct milter_hedit	*h;
	struct spool		*new;
	char			 buf[MF_READ];
	uint64_t		 off = 0;
	ssize_t			 n = 0;
	bool			 ok;

	set->env.rcpts = set->rcpts;
	set->env.nrcpts = set->nrcpts;
	set->env.prepend_room = 0;	/* the old fields are lines now */
	if ((new = spool_rewrite(set->spool, &set->env, err, errlen)) == NULL)
		return -1;
	o.spool = new;
	if ((h = milter_hedit_new(edits, apply_write, &o)) == NULL) {
		snprintf(err, errlen, "out of memory");
		(void)spool_rewrite_done(set->spool, new, false, buf,
		    sizeof(buf));
		return -1;
	}
	if (body_fd != -1)
		milter_hedit_header_only(h);
	while (o.err == 0 &&
	    (n = spool_pread(set->spool, buf, sizeof(buf), off)) > 0) {
		if (milter_hedit_feed(h, buf, (size_t)n) == -1)
			o.err = ENOMEM;
		off += (uint64_t)n;
	}
	if (n == -1)
		o.err = errno;
	if (o.err == 0 && milter_hedit_end(h) == -1)
		o.err = ENOMEM;
	milter_hedit_free(h);
	if (o.err == 0 && body_fd != -1 && copy_body(&o, body_fd) == -1)
		o.err = errno;
	ok = o.err == 0;
	if (!ok)
		snprintf(err, errlen, "%s", strerror(o.err));
	if (spool_rewrite_done(set->spool, new, ok, ok ? err : buf,
	    ok ? errlen : sizeof(buf)) == -1)
		return -1;
	return ok ? 0 : -1;
}
