/*
 * selftest_auth - the submission listeners seen by the self-test, the
 * same sessions in process and over the network: the untrusted client
 * (AUTH never offered or taken in clear, no MAIL without it), then the
 * authenticated user of --auth-user (no relaying before AUTH, relaying
 * after it, and no sending as an address the login does not own).
 *
 * The real password goes only inside TLS, and only as AUTH PLAIN: the
 * AUTH tried in clear uses made-up credentials. The transcript shows
 * the AUTH line masked; the line itself lives in a secret buffer and
 * the transports zero their copies. No DATA is ever sent: each session
 * ends with RSET and QUIT, so nothing is queued or relayed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "selftest/selftest.h"

/* Credentials nobody has: "\0probe\0probe"; the only AUTH sent in clear. */
#define FAKE_AUTH	"AUTH PLAIN AHByb2JlAHByb2Jl"
#define MASKED_AUTH	"AUTH PLAIN ********"
#define PASS_MAX	512		/* the first line of the file, bytes */
#define CREDS_HINT	"give --auth-user USER --auth-pass-file FILE to test it"

/* --- credentials ------------------------------------------------------- */

int
st_creds_line(struct buf *line, const char *user, const char *pass,
    size_t passlen)
{
	static const char verb[] = "AUTH PLAIN ";
	char enc[ST_LINE_MAX];
	struct buf raw;
	size_t n = 0;
	int rc = -1;

	buf_init_secret(&raw, ST_LINE_MAX);
	buf_reset(line);
	/* RFC 4616: authzid (none), NUL, user, NUL, password. */
	if (buf_append(&raw, "", 1) == -1 || buf_append(&raw, user,
	    strlen(user) + 1) == -1 || buf_append(&raw, pass, passlen) == -1)
		goto out;
	/* The line and its CRLF must fit a command line we send. */
	if (BASE64_ENCODED_LEN(raw.len) + sizeof(verb) + 2 > ST_LINE_MAX)
		goto out;
	n = base64_encode(raw.data, raw.len, enc);
	if (buf_append(line, verb, sizeof(verb) - 1) == 0 &&
	    buf_append(line, enc, n) == 0 && buf_append(line, "", 1) == 0) {
		line->len--;		/* the NUL stays, not counted */
		rc = 0;
	}
out:
	explicit_bzero(enc, sizeof(enc));
	buf_free(&raw);
	if (rc == -1)
		buf_reset(line);
	return rc;
}

int
st_read_password(const char *path, struct buf *pass, char *warn,
    size_t warnlen, char *err, size_t errlen)
{
	char block[256];
	struct stat sb;
	ssize_t n;
	int fd;
	char *nl;

	warn[0] = '\0';
	/* O_NONBLOCK: a FIFO opens at once (and is refused below) instead
	 * of waiting forever for a writer; a regular file ignores it. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (sb.st_mode & (S_IROTH | S_IWOTH)) {
		snprintf(err, errlen, "%s: others may read or write it (mode "
		    "%03o): chmod o-rw %s, and change the password", path,
		    (unsigned)(sb.st_mode & 0777), path);
		close(fd);
		return -1;
	}
	if (sb.st_mode & (S_IRGRP | S_IWGRP))
		snprintf(warn, warnlen, "%s: its group may read it (mode "
		    "%03o); chmod 600 is safer", path,
		    (unsigned)(sb.st_mode & 0777));
	buf_reset(pass);
	for (;;) {
		n = read(fd, block, sizeof(block));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		nl = memchr(block, '\n', (size_t)n);
		if (buf_append(pass, block, nl ? (size_t)(nl - block) :
		    (size_t)n) == -1) {
			explicit_bzero(block, sizeof(block));
			snprintf(err, errlen, "%s: the first line is longer "
			    "than %d bytes", path, PASS_MAX);
			close(fd);
			buf_reset(pass);
			return -1;
		}
		if (nl)
			break;
	}
	explicit_bzero(block, sizeof(block));
	close(fd);
	if (n == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		buf_reset(pass);
		return -1;
	}
	if (pass->len > 0 && pass->data[pass->len - 1] == '\r')
		pass->len--;		/* a file written on Windows */
	if (pass->len == 0) {
		snprintf(err, errlen, "%s: the first line is empty", path);
		return -1;
	}
	if (memchr(pass->data, '\0', pass->len)) {
		snprintf(err, errlen, "%s: the password holds a NUL byte",
		    path);
		buf_reset(pass);
		return -1;
	}
	return 0;
}

/* --- sessions ---------------------------------------------------------- */

/* add - a check named "ROLE listener WHERE: what" */
static struct st_check *
add(struct selftest *st, const struct st_view *v, const char *what)
{
	char name[ST_NOTE_MAX];
	struct st_check *c;

	snprintf(name, sizeof(name), "%s listener %s: %s",
	    config_role_name(v->role), v->where, what);
	if ((c = st_add_check(st, name)) != NULL)
		snprintf(c->listener, sizeof(c->listener), "%s", v->listener);
	return c;
}

/* tls_lines - STARTTLS and EHLO again, unless TLS is there from the
 * first byte; returns how many lines were put in l */
static size_t
tls_lines(const struct st_view *v, struct st_line *l, char *ehlo,
    size_t ehlolen, const char *name)
{
	if (v->role == ROLE_SUBMISSIONS)
		return 0;
	snprintf(ehlo, ehlolen, "EHLO %s", name);
	l[0] = (struct st_line){ ST_STARTTLS, "STARTTLS", NULL };
	l[1] = (struct st_line){ ST_EHLO, ehlo, NULL };
	return 2;
}

void
st_check_submission(struct selftest *st, const struct st_transport *tr,
    const struct st_view *v)
{
	char mail[ST_LINE_MAX], ehlo[ST_LINE_MAX];
	struct st_line clear[2], in_tls[3];
	bool implicit = v->role == ROLE_SUBMISSIONS;
	struct st_check *c;
	size_t n, tls_from = 0;

	if ((c = add(st, v, implicit ? "AUTH offered inside TLS, MAIL "
	    "without AUTH refused" : "AUTH only after TLS, MAIL without "
	    "AUTH refused")) == NULL)
		return;
	snprintf(mail, sizeof(mail), "MAIL FROM:<ksch@%s>",
	    st->p.tester_domain);
	if (v->sasl_asked)
		*v->sasl_asked = false;
	if (!implicit) {
		clear[0] = (struct st_line){ ST_AUTH, FAKE_AUTH, NULL };
		clear[1] = (struct st_line){ ST_MAIL, mail, NULL };
		st_session_lines(tr, st->p.ehlo, clear, 2, &c->t);
		tls_from = c->t.n;
	}
	n = tls_lines(v, in_tls, ehlo, sizeof(ehlo), st->p.ehlo);
	in_tls[n++] = (struct st_line){ ST_MAIL, mail, NULL };
	st_session_lines(tr, st->p.ehlo, in_tls, n, &c->t);
	st_judge_submission(c, tls_from, v->sasl_asked && *v->sasl_asked);
}

/* logged_in_session - a session that logs in with creds, then sends
 * mail and, unless NULL, rcpt */
static void
logged_in_session(struct selftest *st, const struct st_transport *tr,
    const struct st_creds *creds, const struct st_view *v, const char *mail,
    const char *rcpt, struct st_check *c)
{
	char ehlo[ST_LINE_MAX];
	struct st_line l[5];
	size_t n;

	n = tls_lines(v, l, ehlo, sizeof(ehlo), st->p.ehlo);
	l[n++] = (struct st_line){ ST_AUTH, creds->line->data, MASKED_AUTH };
	l[n++] = (struct st_line){ ST_MAIL, mail, NULL };
	if (rcpt)
		l[n++] = (struct st_line){ ST_RCPT, rcpt, NULL };
	st_session_lines(tr, st->p.ehlo, l, n, &c->t);
}

void
st_check_auth(struct selftest *st, const struct st_transport *tr,
    const struct st_creds *creds, const struct st_view *v)
{
	char ehlo[ST_LINE_MAX], own[ST_LINE_MAX], foreign[ST_LINE_MAX];
	char rcpt[ST_LINE_MAX], what[ST_NOTE_MAX];
	const char *who = creds ? "user " : "a logged-in user";
	struct st_line l[4];
	struct st_check *c;
	size_t n;

	snprintf(own, sizeof(own), "MAIL FROM:<%s>", v->own);
	snprintf(foreign, sizeof(foreign), "MAIL FROM:<%s>", v->foreign);
	snprintf(rcpt, sizeof(rcpt), "RCPT TO:<%s@%s>", st->p.external_local,
	    st->p.external_domain);

	/* Inside TLS, not logged in: the outside recipient refused. */
	if ((c = add(st, v, "no relaying before AUTH")) == NULL)
		return;
	n = tls_lines(v, l, ehlo, sizeof(ehlo), st->p.ehlo);
	l[n++] = (struct st_line){ ST_MAIL, own, NULL };
	l[n++] = (struct st_line){ ST_RCPT, rcpt, NULL };
	st_session_lines(tr, st->p.ehlo, l, n, &c->t);
	st_judge_before_auth(c);

	snprintf(what, sizeof(what), "%s%s relays after AUTH", who,
	    creds ? creds->user : "");
	if ((c = add(st, v, what)) == NULL)
		return;
	if (creds) {
		logged_in_session(st, tr, creds, v, own, rcpt, c);
		st_judge_auth_relay(c);
	} else
		snprintf(c->note, sizeof(c->note), "not tested: %s",
		    CREDS_HINT);

	snprintf(what, sizeof(what), "%s%s cannot send as %s", who,
	    creds ? creds->user : "", creds ? v->foreign :
	    "another's address");
	if ((c = add(st, v, what)) == NULL)
		return;
	if (creds) {
		logged_in_session(st, tr, creds, v, foreign, NULL, c);
		st_judge_sender_login(c, v->login_check);
	} else
		snprintf(c->note, sizeof(c->note), "not tested: %s",
		    CREDS_HINT);
}

/* --- verdicts ---------------------------------------------------------- */

/* first - the first exchange of kind, or NULL */
static const struct st_exchange *
first(const struct st_transcript *t, enum st_kind kind)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].kind == kind)
			return &t->v[i];
	return NULL;
}

/* said - what x got: its reply, else why there was none */
static const char *
said(const struct st_exchange *x)
{
	return x == NULL ? "not sent" : x->reply ? x->reply : x->error ?
	    x->error : "no reply";
}

/* outcome - c gets verdict v and the note "why: what x got" */
static void
outcome(struct st_check *c, enum st_verdict v, const char *why,
    const struct st_exchange *x)
{
	c->verdict = v;
	if (x)
		snprintf(c->note, sizeof(c->note), "%s: %s", why, said(x));
	else
		snprintf(c->note, sizeof(c->note), "%s", why);
}

/* in_tls - the session got inside TLS (STARTTLS taken, or none asked);
 * else the check is an ERROR saying why */
static bool
in_tls(struct st_check *c)
{
	const struct st_exchange *s = first(&c->t, ST_STARTTLS);

	if (s == NULL || (s->code == 220 && s->error == NULL))
		return true;
	outcome(c, ST_ERROR, s->code ? "STARTTLS refused" :
	    "STARTTLS failed", s);
	return false;
}

void
st_judge_before_auth(struct st_check *c)
{
	const struct st_exchange *mail = first(&c->t, ST_MAIL);
	const struct st_exchange *rcpt = first(&c->t, ST_RCPT);

	if (!in_tls(c))
		return;
	if (rcpt && rcpt->code >= 200 && rcpt->code < 400)
		outcome(c, ST_FAIL, "relayed without AUTH", rcpt);
	else if (mail && mail->code >= 500)
		outcome(c, ST_PASS, "MAIL refused", mail);
	else if (rcpt && rcpt->code >= 500)
		outcome(c, ST_PASS, "RCPT refused", rcpt);
	else if ((mail && mail->code >= 400) || (rcpt && rcpt->code >= 400))
		outcome(c, ST_WEAK, "refused only temporarily",
		    mail && mail->code >= 400 ? mail : rcpt);
	else
		outcome(c, ST_ERROR, "no answer", rcpt ? rcpt : mail);
}

/* logged_in - AUTH succeeded; else the check is an ERROR (or N/A for
 * the second check on the same credentials) saying why */
static bool
logged_in(struct st_check *c, enum st_verdict otherwise)
{
	const struct st_exchange *a = first(&c->t, ST_AUTH);

	if (!in_tls(c))
		return false;
	if (a && a->code == 235)
		return true;
	if (a && a->code == 0)
		outcome(c, otherwise, "not logged in", a);
	else if (a && a->code == 535)
		outcome(c, otherwise, "authentication failed (check "
		    "--auth-user and the password file)", a);
	else if (a && a->code == 504)
		outcome(c, otherwise, "AUTH PLAIN is not offered here", a);
	else
		outcome(c, otherwise, "authentication failed", a);
	return false;
}

void
st_judge_auth_relay(struct st_check *c)
{
	const struct st_exchange *mail = first(&c->t, ST_MAIL);
	const struct st_exchange *rcpt = first(&c->t, ST_RCPT);

	if (!logged_in(c, ST_ERROR))
		return;
	if (mail == NULL || mail->code == 0 || (rcpt && rcpt->code == 0 &&
	    rcpt->error == NULL))
		outcome(c, ST_ERROR, "no answer", mail);
	else if (mail->code == 553)
		outcome(c, ST_ERROR, "the sender taken as the login's own was "
		    "refused (name the login as an address, user@domain)",
		    mail);
	else if (mail->code >= 400)
		outcome(c, ST_FAIL, "MAIL refused after AUTH", mail);
	else if (rcpt == NULL || rcpt->code == 0)
		outcome(c, ST_ERROR, "no answer", rcpt);
	else if (rcpt->code >= 400)
		outcome(c, ST_FAIL, "a logged-in user cannot relay", rcpt);
	else
		outcome(c, ST_PASS, "relay accepted (no DATA sent: nothing "
		    "queued)", rcpt);
}

void
st_judge_sender_login(struct st_check *c, int login_check)
{
	const struct st_exchange *mail = first(&c->t, ST_MAIL);

	if (!logged_in(c, ST_NA))
		return;
	if (mail == NULL || mail->code == 0)
		outcome(c, ST_ERROR, "no answer", mail);
	else if (mail->code >= 500)
		outcome(c, ST_PASS, "refused", mail);
	else if (mail->code >= 400)
		outcome(c, ST_WEAK, "refused only temporarily", mail);
	else if (login_check == 1)
		outcome(c, ST_FAIL, "accepted although sender_login_check or "
		    "sender_login_map is set", mail);
	else if (login_check == 0)
		outcome(c, ST_WEAK, "accepted: sender_login_check is off and "
		    "there is no sender_login_map, so a logged-in user may "
		    "send as anyone (by configuration)", mail);
	else
		outcome(c, ST_WEAK, "accepted: a logged-in user may send as "
		    "another's address; a remote audit cannot tell whether "
		    "that is the configuration (sallyport: sender_login_check)",
		    mail);
}
