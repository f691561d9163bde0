/*
 * selftest_features - in process, a line for each feature of the
 * configuration that changes what an outside client may send, checked
 * the way the probes are, from the untrusted client on the first mx
 * listener:
 *
 *  - SMTPUTF8 (always offered): a UTF-8 sender with the SMTPUTF8
 *    parameter is accepted, and refused without it (RFC 6531 3.4);
 *  - loops (max_hops, always set): a message with one Received field
 *    more than max_hops is refused at the end of DATA (RFC 5321 6.3);
 *    the only message the self-test sends, and the in-process spool
 *    keeps nothing (a commit there fails), so nothing is queued;
 *  - DNSBL (with dnsbl) and SPF/DMARC enforcement (spf_policy or
 *    dmarc_policy = enforce): the daemon decides those from DNS at
 *    connect and at MAIL, outside the engine the self-test drives, so
 *    the line is N/A and says where it is checked instead.
 */
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "selftest/selftest.h"
#include "smtp/smtp_reply.h"

/* A local part in UTF-8 (U+00FC): "prüfer". */
#define UTF8_LOCAL	"pr\xc3\xbc" "fer"

/* first_code - the reply code of the first exchange of a kind, from
 * index `from`; 0 when none */
static int
first_code(const struct st_transcript *t, size_t from, enum st_kind kind)
{
	for (size_t i = from; i < t->n; i++)
		if (t->v[i].kind == kind)
			return t->v[i].code;
	return 0;
}

/* first_reply - the reply of the first exchange of a kind, or NULL */
static const char *
first_reply(const struct st_transcript *t, enum st_kind kind)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].kind == kind)
			return t->v[i].reply;
	return NULL;
}

/* applies - a check of mail to us needs an mx listener and a local
 * domain; false (the check N/A, saying which is missing) without */
static bool
applies(const struct selftest *st, struct st_check *c)
{
	if (st->listener->role == ROLE_MX && st->cfg->local_domains.n > 0)
		return true;
	snprintf(c->note, sizeof(c->note), "not applicable: %s",
	    st->listener->role != ROLE_MX ? "no mx listener" :
	    "no local domain to send to");
	return false;
}

/* check_smtputf8 - with the parameter a UTF-8 sender is taken, without
 * it refused, and EHLO offers it */
static int
check_smtputf8(struct selftest *st, const struct st_viewer *v)
{
	const struct config *cfg = st->cfg;
	char mail[ST_LINE_MAX], bare[ST_LINE_MAX], rcpt[ST_LINE_MAX];
	const char *with[2] = { mail, rcpt }, *without[1] = { bare };
	const enum st_kind kinds[2] = { ST_MAIL, ST_RCPT };
	struct st_check *c;
	size_t second;
	int m, r, b;

	if ((c = st_add_check(st, "SMTPUTF8: a UTF-8 sender is accepted "
	    "with the SMTPUTF8 parameter, and refused without it")) == NULL)
		return -1;
	if (!applies(st, c))
		return 0;
	snprintf(mail, sizeof(mail), "MAIL FROM:<" UTF8_LOCAL "@%s> SMTPUTF8",
	    st->p.tester_domain);
	snprintf(bare, sizeof(bare), "MAIL FROM:<" UTF8_LOCAL "@%s>",
	    st->p.tester_domain);
	snprintf(rcpt, sizeof(rcpt), "RCPT TO:<postmaster@%s>",
	    cfg->local_domains.v[0]);
	if (st_session(v->tr, st->p.ehlo, with, kinds, 2, &c->t) == -1)
		return -1;
	second = c->t.n;
	if (st_session(v->tr, st->p.ehlo, without, kinds, 1, &c->t) == -1)
		return -1;
	m = first_code(&c->t, 0, ST_MAIL);
	r = first_code(&c->t, 0, ST_RCPT);
	b = first_code(&c->t, second, ST_MAIL);
	if (c->t.n == 0 || c->t.v[1].reply == NULL ||
	    st_ehlo_has(c->t.v[1].reply, "SMTPUTF8") == NULL) {
		c->verdict = ST_FAIL;
		snprintf(c->note, sizeof(c->note), "EHLO does not offer "
		    "SMTPUTF8");
	} else if (m / 100 != 2 || r / 100 != 2) {
		c->verdict = ST_FAIL;
		snprintf(c->note, sizeof(c->note), "refused with SMTPUTF8: "
		    "MAIL got %d, RCPT got %d", m, r);
	} else if (b / 100 != 5) {
		c->verdict = ST_FAIL;
		snprintf(c->note, sizeof(c->note), "a UTF-8 sender without "
		    "SMTPUTF8 got %d, not a refusal (RFC 6531 3.4)", b);
	} else
		c->verdict = ST_PASS;
	return 0;
}

/* loop_message - the header of a message that has passed max_hops + 1
 * hosts, a line of body, the "."; -1 when out of memory */
static int
loop_message(const struct selftest *st, unsigned hops, struct buf *b)
{
	for (unsigned i = 0; i < hops; i++)
		if (buf_printf(b, "Received: from hop%u.%s by hop%u.%s; "
		    "Thu, 1 Jan 2026 00:00:00 +0000\r\n", i + 1,
		    st->p.tester_domain, i + 2, st->p.tester_domain) == -1)
			return -1;
	return buf_printf(b, "From: <ksch@%s>\r\nSubject: sallyport "
	    "self-test, a mail loop\r\n\r\nNever queued.\r\n.\r\n",
	    st->p.tester_domain);
}

/* check_loops - too many Received fields: refused at the end of DATA */
static int
check_loops(struct selftest *st, const struct st_viewer *v)
{
	const struct config *cfg = st->cfg;
	char name[ST_NOTE_MAX], mail[ST_LINE_MAX], rcpt[ST_LINE_MAX];
	char shown[ST_LINE_MAX];
	unsigned hops = cfg->max_hops + 1;
	struct st_line lines[4];
	struct st_check *c;
	struct buf b;
	const char *end;
	int d, e, rc = -1;

	snprintf(name, sizeof(name), "loops: a message with %u Received "
	    "fields (max_hops %u) is refused", hops, cfg->max_hops);
	if ((c = st_add_check(st, name)) == NULL)
		return -1;
	if (!applies(st, c))
		return 0;
	buf_init(&b, (size_t)hops * 128 + 4096);
	if (loop_message(st, hops, &b) == -1 || buf_append(&b, "", 1) == -1)
		goto out;
	snprintf(mail, sizeof(mail), "MAIL FROM:<ksch@%s>",
	    st->p.tester_domain);
	snprintf(rcpt, sizeof(rcpt), "RCPT TO:<postmaster@%s>",
	    cfg->local_domains.v[0]);
	snprintf(shown, sizeof(shown), "(a message with %u Received fields, "
	    "then \".\")", hops);
	lines[0] = (struct st_line){ ST_MAIL, mail, NULL };
	lines[1] = (struct st_line){ ST_RCPT, rcpt, NULL };
	lines[2] = (struct st_line){ ST_DATA, "DATA", NULL };
	lines[3] = (struct st_line){ ST_BODY, b.data, shown };
	if (st_session_lines(v->tr, st->p.ehlo, lines, 4, &c->t) == -1)
		goto out;
	d = first_code(&c->t, 0, ST_DATA);
	e = first_code(&c->t, 0, ST_BODY);
	end = first_reply(&c->t, ST_BODY);
	if (d != 354) {
		c->verdict = ST_FAIL;
		snprintf(c->note, sizeof(c->note), "DATA got %d, not 354: the "
		    "message could not be sent", d);
	} else if (end && strncmp(end, R_TOO_MANY_HOPS,
	    strlen(R_TOO_MANY_HOPS)) == 0)
		c->verdict = ST_PASS;
	else if (e / 100 == 5) {
		/* Refused before the hops were counted (the size comes
		 * first): nothing said of loops either way. */
		snprintf(c->note, sizeof(c->note), "not checked: the message "
		    "was refused for another reason first (%.80s); with a "
		    "max_message_size of at least %u bytes it fits",
		    end ? end : "", hops * 128 + 1024);
	} else {
		c->verdict = ST_FAIL;
		snprintf(c->note, sizeof(c->note), "the end of DATA got %d: "
		    "the message was taken (the self-test's spool failed it; "
		    "a server would have queued it)", e);
	}
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

/* elsewhere - a feature decided outside the engine: N/A, saying where */
static int
elsewhere(struct selftest *st, const char *name, const char *note)
{
	struct st_check *c;

	if ((c = st_add_check(st, name)) == NULL)
		return -1;
	snprintf(c->note, sizeof(c->note), "not checked in process: %s", note);
	return 0;
}

int
st_features_local(struct selftest *st, const struct st_viewer *v)
{
	const struct config *cfg = st->cfg;

	if (check_smtputf8(st, v) == -1 || check_loops(st, v) == -1)
		return -1;
	if (cfg->dnsbl.n > 0 && elsewhere(st, "DNSBL: a client listed on "
	    "the configured lists (the test address 127.0.0.2) is refused",
	    "the daemon asks the lists at connect, through DNS; that "
	    "127.0.0.2 is listed is the list's word, asked off this machine; "
	    "`sallyport --selftest --dns` checks that our own addresses are "
	    "on none") == -1)
		return -1;
	if ((strcmp(cfg->spf_policy, "enforce") == 0 ||
	    strcmp(cfg->dmarc_policy, "enforce") == 0) && elsewhere(st,
	    "SPF/DMARC enforcement: a forged sender of an outside domain "
	    "with -all is refused", "the daemon evaluates SPF and DMARC "
	    "from DNS during the session, and a domain publishing -all is "
	    "an outside domain's record; `sallyport --spf-check IP SENDER` "
	    "evaluates one through the configured dns_servers") == -1)
		return -1;
	return 0;
}
