/*
 * selftest - sessions, verdicts and the exit status of the self-test.
 *
 * Every probe gets a fresh session: greeting, EHLO, its MAIL and RCPT
 * lines, RSET, QUIT. No DATA is ever sent, so nothing can be queued.
 * The verdicts are pure functions of the transcript (st_judge), so the
 * same rules judge the engine in process and a server over the network.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/base64.h"
#include "selftest/selftest.h"

/* --- transcripts ------------------------------------------------------- */

struct st_exchange *
st_transcript_add(struct st_transcript *t, enum st_kind kind,
    const char *sent)
{
	struct st_exchange *x, *v;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;

		if ((v = realloc(t->v, cap * sizeof(*v))) == NULL)
			return NULL;
		t->v = v;
		t->cap = cap;
	}
	x = &t->v[t->n];
	memset(x, 0, sizeof(*x));
	x->kind = kind;
	if (sent && (x->sent = strdup(sent)) == NULL)
		return NULL;
	t->n++;
	return x;
}

void
st_transcript_free(struct st_transcript *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].sent);
		free(t->v[i].reply);
		free(t->v[i].dns);
	}
	free(t->v);
	memset(t, 0, sizeof(*t));
}

/* ehlo_has - an EHLO reply's keyword line, after "250-" or "250 " */
const char *
st_ehlo_has(const char *reply, const char *kw)
{
	size_t n = strlen(kw);

	for (const char *l = reply; l && *l; l = strchr(l, '\n') ?
	    strchr(l, '\n') + 1 : NULL)
		if (strlen(l) >= 4 + n && strncasecmp(l + 4, kw, n) == 0 &&
		    (l[4 + n] == ' ' || l[4 + n] == '\n' || l[4 + n] == '\0' ||
		    l[4 + n] == '='))
			return l + 4;
	return NULL;
}

/* --- sessions ---------------------------------------------------------- */

/* plain_offered - an AUTH line of the last EHLO of t ("AUTH LOGIN
 * PLAIN", "AUTH=PLAIN": a server may send both forms) names PLAIN */
static bool
plain_offered(const struct st_transcript *t)
{
	const char *reply = NULL, *auth, *m, *eol;

	for (size_t i = t->n; i-- > 0;)
		if (t->v[i].kind == ST_EHLO) {
			reply = t->v[i].reply;
			break;
		}
	for (auth = st_ehlo_has(reply, "AUTH"); auth != NULL; auth =
	    *eol ? st_ehlo_has(eol + 1, "AUTH") : NULL) {
		eol = auth + strcspn(auth, "\n");
		for (m = auth + 4; m < eol; m += strcspn(m, " =\n")) {
			m += strspn(m, " =");
			if (eol - m >= 5 && strncasecmp(m, "PLAIN", 5) == 0 &&
			    (m + 5 == eol || m[5] == ' '))
				return true;
		}
	}
	return false;
}

/* mask_in - every copy of secret[0..n) in *s becomes "********" (a new
 * string; the old one is zeroed and freed); out of memory, *s is
 * emptied in place */
static void
mask_in(char **s, const char *secret, size_t n)
{
	static const char stars[] = "********";
	const char *p, *hit;
	size_t len, hits = 0, o = 0;
	char *out;

	if (*s == NULL || n == 0)
		return;
	len = strlen(*s);
	for (p = *s; (hit = memmem(p, len - (size_t)(p - *s), secret, n)) !=
	    NULL; p = hit + n)
		hits++;
	if (hits == 0)
		return;
	if ((out = malloc(len + hits * (sizeof(stars) - 1) + 1)) == NULL) {
		explicit_bzero(*s, len);
		return;
	}
	for (p = *s; (hit = memmem(p, len - (size_t)(p - *s), secret, n)) !=
	    NULL; p = hit + n) {
		memcpy(out + o, p, (size_t)(hit - p));
		o += (size_t)(hit - p);
		memcpy(out + o, stars, sizeof(stars) - 1);
		o += sizeof(stars) - 1;
	}
	memcpy(out + o, p, len - (size_t)(p - *s) + 1);
	explicit_bzero(*s, len);
	free(*s);
	*s = out;
}

/* mask_secret - a reply to the AUTH PLAIN line `line` that quotes it
 * (its base64) or the password in it gets "********" there instead:
 * the report is shown and kept, the password never */
static void
mask_secret(struct st_exchange *x, const char *line)
{
	const char *blob = strrchr(line, ' ');
	unsigned char raw[ST_LINE_MAX];
	const unsigned char *pass;
	long n;

	if (blob == NULL || x->reply == NULL)
		return;
	blob++;
	mask_in(&x->reply, blob, strlen(blob));
	if (strlen(blob) / 4 * 3 > sizeof(raw) ||
	    (n = base64_decode(blob, strlen(blob), raw)) <= 0)
		return;
	/* authzid NUL user NUL password */
	if ((pass = memchr(raw, '\0', (size_t)n)) != NULL &&
	    (pass = memchr(pass + 1, '\0', (size_t)(raw + n - pass - 1))) !=
	    NULL)
		mask_in(&x->reply, (const char *)pass + 1,
		    (size_t)(raw + n - pass - 1));
	explicit_bzero(raw, sizeof(raw));
}

/* exchange - send one line unless the session is over; true when over.
 * The transcript keeps `shown` (NULL: line); line is sent. An AUTH
 * with a password (--auth-user's, shown masked) goes only to a server
 * whose last EHLO offered AUTH PLAIN: else the session ends there. */
static bool
exchange(const struct st_transport *tr, struct st_transcript *t,
    enum st_kind kind, const char *line, const char *shown, bool over)
{
	struct st_exchange *x = st_transcript_add(t, kind, shown ? shown :
	    line);
	int rc;

	if (x == NULL)
		return true;
	if (over) {
		x->error = "not sent: the session had ended";
		return true;
	}
	if (shown && kind == ST_AUTH && !plain_offered(t)) {
		x->error = "not sent: EHLO did not offer AUTH PLAIN";
		return true;
	}
	x->secret = shown ? line : NULL;
	rc = tr->command(tr->ctx, x);
	x->secret = NULL;
	if (shown && kind == ST_AUTH)
		mask_secret(x, line);
	return rc == -1;
}

int
st_session_lines(const struct st_transport *tr, const char *ehlo,
    const struct st_line *lines, size_t n, struct st_transcript *t)
{
	struct st_exchange *x;
	char line[ST_LINE_MAX];
	bool over;
	int code;

	if ((x = st_transcript_add(t, ST_GREETING, NULL)) == NULL)
		return -1;
	if (tr->open(tr->ctx, x) == -1)
		return -1;
	/* A 4xx or 5xx greeting ends it: RFC 5321 3.1, only QUIT remains. */
	over = x->code < 200 || x->code > 299;
	snprintf(line, sizeof(line), "EHLO %s", ehlo);
	over = exchange(tr, t, ST_EHLO, line, NULL, over);
	code = t->v[t->n - 1].code;
	if (!over && (code == 500 || code == 502)) {
		/* An old server without ESMTP: what the prober would do. */
		snprintf(line, sizeof(line), "HELO %s", ehlo);
		over = exchange(tr, t, ST_HELO, line, NULL, over);
	}
	for (size_t i = 0; i < n; i++)
		over = exchange(tr, t, lines[i].kind, lines[i].text,
		    lines[i].shown, over);
	over = exchange(tr, t, ST_RSET, "RSET", NULL, over);
	exchange(tr, t, ST_QUIT, "QUIT", NULL, over);
	tr->close(tr->ctx);
	return 0;
}

int
st_session(const struct st_transport *tr, const char *ehlo,
    const char *const *lines, const enum st_kind *kinds, size_t n,
    struct st_transcript *t)
{
	struct st_line l[1 + ST_MAX_RCPTS + 4];

	if (n > sizeof(l) / sizeof(l[0]))
		return -1;
	for (size_t i = 0; i < n; i++)
		l[i] = (struct st_line){ kinds[i], lines[i], NULL };
	return st_session_lines(tr, ehlo, l, n, t);
}

/* expand_probe - the probe's MAIL and RCPT lines; false if one does
 * not fit */
static bool
expand_probe(const struct selftest *st, const struct st_probe *pr,
    char text[][ST_LINE_MAX], enum st_kind *kinds, size_t *n)
{
	*n = 0;
	if (st_expand(&st->p, pr->mail, text[0], ST_LINE_MAX) == -1)
		return false;
	kinds[(*n)++] = ST_MAIL;
	for (size_t r = 0; r < ST_MAX_RCPTS && pr->rcpt[r]; r++) {
		if (st_expand(&st->p, pr->rcpt[r], text[*n], ST_LINE_MAX) == -1)
			return false;
		kinds[(*n)++] = ST_RCPT;
	}
	return true;
}

int
st_run_probes(struct selftest *st, const struct st_transport *tr)
{
	return st_run_rows(st, tr, st->rows, st->where, st->client);
}

int
st_run_rows(struct selftest *st, const struct st_transport *tr,
    struct st_row *rows, const char *listener, const char *client)
{
	char text[1 + ST_MAX_RCPTS][ST_LINE_MAX];
	const char *lines[1 + ST_MAX_RCPTS];
	enum st_kind kinds[1 + ST_MAX_RCPTS];

	for (size_t i = 0; i < ST_NPROBES; i++) {
		const struct st_probe *pr = &st_probes[i];
		struct st_row *row = &rows[i];
		size_t n;

		row->probe = pr;
		snprintf(row->listener, sizeof(row->listener), "%s", listener);
		snprintf(row->client, sizeof(row->client), "%s", client);
		if (!expand_probe(st, pr, text, kinds, &n)) {
			/* A name from the greeting or the command line too
			 * long for a command line: say so, send nothing. */
			struct st_exchange *x = st_transcript_add(&row->t,
			    ST_MAIL, pr->mail);

			if (x)
				x->error = "not sent: a placeholder makes the "
				    "line too long";
			row->verdict = ST_ERROR;
			snprintf(row->note, sizeof(row->note), "not run: a "
			    "placeholder makes a line too long");
			continue;
		}
		for (size_t k = 0; k < n; k++)
			lines[k] = text[k];
		if (st_session(tr, st->p.ehlo, lines, kinds, n, &row->t) == -1)
			return -1;
		row->verdict = st_judge(pr, &row->t, &row->relay_reached,
		    row->note, sizeof(row->note));
	}
	return 0;
}

/* --- verdicts ---------------------------------------------------------- */

/* note_add - append "; text" to a note */
static void
note_add(char *note, size_t len, const char *text)
{
	size_t n = strlen(note);

	snprintf(note + n, len - n, "%s%s", n ? "; " : "", text);
}

/* answer - the class of an exchange's outcome: 2 (accepted), 4, 5, or 0
 * when it has no reply and no earlier reply explains why */
static int
answer(const struct st_transcript *t, size_t i)
{
	const struct st_exchange *x = &t->v[i];

	if (x->code != 0)
		return x->code < 400 ? 2 : x->code / 100;
	/* Unanswered: the session was ended by the last reply before it. */
	while (i-- > 0)
		if (t->v[i].code != 0)
			return t->v[i].code >= 400 ? t->v[i].code / 100 : 0;
	return 0;
}

enum st_verdict
st_judge(const struct st_probe *pr, const struct st_transcript *t,
    bool *relay_reached, char *note, size_t notelen)
{
	bool temp = false, lost = false, accepted = false;
	const struct st_exchange *x;
	int mail = 0, a;
	char buf[ST_NOTE_MAX];

	note[0] = '\0';
	*relay_reached = false;
	for (size_t i = 0; i < t->n; i++) {
		x = &t->v[i];
		if (x->kind != ST_MAIL && x->kind != ST_RCPT)
			continue;
		a = answer(t, i);
		if (x->kind == ST_MAIL)
			mail = a;
		if (a == 0) {
			lost = true;
			snprintf(buf, sizeof(buf), "%s: %s", x->sent,
			    x->error ? x->error : "no reply");
			note_add(note, notelen, buf);
		} else if (a == 4) {
			temp = true;
		} else if (a == 2 && x->kind == ST_RCPT) {
			accepted = true;
			snprintf(buf, sizeof(buf), "relayed: %s accepted",
			    x->sent);
			note_add(note, notelen, buf);
		}
	}
	if (pr->flags & ST_P_SENDER_CHECK) {
		if (mail == 2)
			note_add(note, notelen, "sender accepted: this sender "
			    "check is off (not a relay)");
		else if (mail == 4)
			note_add(note, notelen, "sender refused only "
			    "temporarily");
		return mail == 5 ? ST_PASS : mail == 0 ? ST_ERROR : ST_WEAK;
	}
	*relay_reached = mail == 2;
	if ((pr->flags & ST_P_NULL_SENDER) && mail != 2)
		note_add(note, notelen, "null sender refused: bounces would "
		    "be lost (see the checks)");
	else if (mail == 5)
		note_add(note, notelen, "sender refused; relay not reached");
	else if (mail == 4)
		note_add(note, notelen, "sender refused only temporarily; "
		    "relay not reached");
	if (accepted)
		return ST_FAIL;
	if (lost)
		return ST_ERROR;
	return temp ? ST_WEAK : ST_PASS;
}

/* --- checks, counts ---------------------------------------------------- */

/* find - the first exchange of `kind` in t->v[from..to), or NULL */
static const struct st_exchange *
find(const struct st_transcript *t, size_t from, size_t to,
    enum st_kind kind)
{
	for (size_t i = from; i < to && i < t->n; i++)
		if (t->v[i].kind == kind)
			return &t->v[i];
	return NULL;
}

/* check_fail - the check fails; the note keeps the first reason */
static void
check_fail(struct st_check *c, const char *why, const struct st_exchange *x)
{
	if (c->verdict == ST_FAIL)
		return;
	c->verdict = ST_FAIL;
	snprintf(c->note, sizeof(c->note), "%s%s%s", why, x ? ": " : "",
	    x == NULL ? "" : x->reply ? x->reply : x->error ? x->error :
	    "no reply");
}

void
st_judge_submission(struct st_check *c, size_t tls_from, bool sasl_asked)
{
	const struct st_transcript *t = &c->t;
	const struct st_exchange *ehlo, *auth, *mail, *starttls;
	const char *offer = NULL;
	size_t from;

	c->verdict = ST_PASS;
	if (tls_from > 0) {
		ehlo = find(t, 0, tls_from, ST_EHLO);
		auth = find(t, 0, tls_from, ST_AUTH);
		mail = find(t, 0, tls_from, ST_MAIL);
		if (ehlo == NULL || ehlo->code != 250)
			check_fail(c, "EHLO before TLS failed", ehlo);
		else if (st_ehlo_has(ehlo->reply, "AUTH"))
			check_fail(c, "AUTH offered before TLS: passwords "
			    "would cross in clear", NULL);
		else if (!st_ehlo_has(ehlo->reply, "STARTTLS"))
			check_fail(c, "STARTTLS not offered: nobody can ever "
			    "log in here", NULL);
		if (auth == NULL || auth->code < 400 || sasl_asked)
			check_fail(c, "AUTH before TLS was not refused", auth);
		if (mail == NULL || mail->code / 100 != 5)
			check_fail(c, "MAIL without AUTH was not refused",
			    mail);
	}
	/* After STARTTLS, or from the greeting on (implicit TLS). */
	from = tls_from;
	if ((starttls = find(t, from, t->n, ST_STARTTLS)) != NULL)
		from = (size_t)(starttls - t->v) + 1;
	ehlo = find(t, from, t->n, ST_EHLO);
	mail = find(t, from, t->n, ST_MAIL);
	if (starttls != NULL && starttls->code != 220)
		check_fail(c, "STARTTLS failed", starttls);
	else if (ehlo == NULL || ehlo->code != 250)
		check_fail(c, "EHLO inside TLS failed", ehlo);
	else if ((offer = st_ehlo_has(ehlo->reply, "AUTH")) == NULL)
		check_fail(c, "AUTH not offered inside TLS: nobody can log "
		    "in", NULL);
	if (mail == NULL || mail->code / 100 != 5)
		check_fail(c, "MAIL inside TLS without AUTH was not refused",
		    mail);
	if (c->verdict == ST_PASS && offer != NULL)
		snprintf(c->note, sizeof(c->note), "%sinside TLS EHLO offers "
		    "%.*s; MAIL needs AUTH", tls_from > 0 ? "before TLS EHLO "
		    "offers STARTTLS and no AUTH; " : "",
		    (int)strcspn(offer, "\n"), offer);
}

struct st_check *
st_add_check(struct selftest *st, const char *name)
{
	struct st_check *v, *c;

	if ((v = realloc(st->checks, (st->nchecks + 1) * sizeof(*v))) == NULL)
		return NULL;
	st->checks = v;
	c = &v[st->nchecks++];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->verdict = ST_NA;
	return c;
}

struct st_run *
st_add_run(struct selftest *st, const char *title, const char *listener,
    const char *client)
{
	struct st_run *v, *r;

	if ((v = realloc(st->runs, (st->nruns + 1) * sizeof(*v))) == NULL)
		return NULL;
	st->runs = v;
	r = &v[st->nruns++];
	memset(r, 0, sizeof(*r));
	snprintf(r->title, sizeof(r->title), "%s", title);
	snprintf(r->listener, sizeof(r->listener), "%s", listener);
	snprintf(r->client, sizeof(r->client), "%s", client);
	return r;
}

/* codes_differ - do two transcripts of one probe get other answers to
 * their MAIL and RCPT lines? */
static bool
codes_differ(const struct st_transcript *a, const struct st_transcript *b)
{
	size_t i = 0, j = 0;

	for (;;) {
		while (i < a->n && a->v[i].kind != ST_MAIL &&
		    a->v[i].kind != ST_RCPT)
			i++;
		while (j < b->n && b->v[j].kind != ST_MAIL &&
		    b->v[j].kind != ST_RCPT)
			j++;
		if (i == a->n || j == b->n)
			return (i == a->n) != (j == b->n);
		if (a->v[i].code != b->v[j].code)
			return true;
		i++;
		j++;
	}
}

/* list_add - ", n" to a list of probe numbers in a note */
static void
list_add(char *note, size_t len, const char *sep, const char *text)
{
	size_t n = strlen(note);

	if (n < len)
		snprintf(note + n, len - n, "%s%s", n ? sep : "", text);
}

void
st_judge_run(struct st_check *c, const struct st_row *rows)
{
	char num[16];
	bool error = false;

	c->verdict = ST_PASS;
	for (size_t i = 0; i < ST_NPROBES; i++) {
		if (rows[i].probe == NULL)
			continue;
		if (rows[i].verdict == ST_FAIL) {
			snprintf(num, sizeof(num), "%s%d", c->verdict ==
			    ST_FAIL ? ", " : "", rows[i].probe->number);
			if (c->verdict != ST_FAIL)
				list_add(c->note, sizeof(c->note), "; ",
				    "would relay: probes ");
			c->verdict = ST_FAIL;
			list_add(c->note, sizeof(c->note), "", num);
		}
		error |= rows[i].verdict == ST_ERROR;
	}
	if (error) {
		c->verdict = ST_FAIL;
		list_add(c->note, sizeof(c->note), "; ", "a probe could not "
		    "run");
	}
}

void
st_compare_runs(struct st_check *c, const char *a_name, const struct st_row *a,
    const char *b_name, const struct st_row *b)
{
	char one[64];
	bool first = true;

	st_judge_run(c, b);
	for (size_t i = 0; i < ST_NPROBES; i++) {
		if (a[i].probe == NULL || b[i].probe == NULL)
			continue;
		if (a[i].verdict == b[i].verdict && !codes_differ(&a[i].t,
		    &b[i].t))
			continue;
		c->verdict = ST_FAIL;
		if (first) {
			snprintf(one, sizeof(one), "answers differ from %s's "
			    "(%s -> %s): ", a_name, a_name, b_name);
			list_add(c->note, sizeof(c->note), "; ", one);
		}
		snprintf(one, sizeof(one), "%sprobe %d %s -> %s%s", first ? "" :
		    ", ", a[i].probe->number, st_verdict_name(a[i].verdict),
		    st_verdict_name(b[i].verdict), a[i].verdict ==
		    b[i].verdict ? " (other reply codes)" : "");
		list_add(c->note, sizeof(c->note), "", one);
		first = false;
	}
}

void
st_check_null_sender(struct selftest *st)
{
	const struct st_row *r5 = NULL;
	struct st_check *c;

	for (size_t i = 0; i < ST_NPROBES; i++)
		if (st->rows[i].probe &&
		    (st->rows[i].probe->flags & ST_P_NULL_SENDER))
			r5 = &st->rows[i];
	if (r5 == NULL || (c = st_add_check(st, "bounces (MAIL FROM:<>) "
	    "are accepted (probe 5)")) == NULL)
		return;
	for (size_t i = 0; i < r5->t.n; i++) {
		const struct st_exchange *x = &r5->t.v[i];

		if (x->kind != ST_MAIL)
			continue;
		if (x->code == 0) {
			snprintf(c->note, sizeof(c->note), "no reply: %s",
			    x->error ? x->error : "?");
		} else if (x->code == 530) {
			/* RFC 4954: authentication required. A submission
			 * port, which bounces never come to. */
			snprintf(c->note, sizeof(c->note), "not applicable: "
			    "MAIL needs AUTH here (a submission port, not an "
			    "MX): %s", x->reply);
		} else if (x->code < 400) {
			c->verdict = ST_PASS;
		} else {
			c->verdict = ST_FAIL;
			snprintf(c->note, sizeof(c->note), "MAIL FROM:<> got: %s",
			    x->reply);
		}
	}
}

void
st_count(const struct selftest *st, struct st_counts *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < ST_NPROBES; i++) {
		const struct st_row *r = &st->rows[i];

		if (r->probe == NULL)
			continue;
		switch (r->verdict) {
		case ST_PASS:	c->pass++; break;
		case ST_WEAK:	c->weak++; break;
		case ST_FAIL:	c->fail++; break;
		default:	c->error++; break;
		}
		if (!(r->probe->flags & ST_P_SENDER_CHECK) && !r->relay_reached)
			c->unreached++;
	}
	for (size_t i = 0; i < st->nchecks; i++) {
		switch (st->checks[i].verdict) {
		case ST_PASS:	c->cpass++; break;
		case ST_FAIL:	c->cfail++; break;
		case ST_WEAK:	c->cweak++; break;
		case ST_ERROR:	c->cerror++; break;
		default:	c->cna++; break;
		}
	}
}

int
st_exit_code(const struct selftest *st)
{
	struct st_counts c;

	st_count(st, &c);
	if (c.fail || c.cfail)
		return 1;
	return c.error || c.cerror ? 2 : 0;
}

const char *
st_verdict_name(enum st_verdict v)
{
	switch (v) {
	case ST_PASS:	return "PASS";
	case ST_WEAK:	return "WEAK";
	case ST_FAIL:	return "FAIL";
	case ST_NA:	return "N/A";
	default:	return "ERROR";
	}
}

void
selftest_free(struct selftest *st)
{
	for (size_t i = 0; i < ST_NPROBES; i++)
		st_transcript_free(&st->rows[i].t);
	for (size_t i = 0; i < st->nchecks; i++)
		st_transcript_free(&st->checks[i].t);
	for (size_t k = 0; k < st->nruns; k++)
		for (size_t i = 0; i < ST_NPROBES; i++)
			st_transcript_free(&st->runs[k].rows[i].t);
	free(st->runs);
	st_transcript_free(&st->intro);
	free(st->checks);
	free(st->policy);
	memset(st, 0, sizeof(*st));
}
