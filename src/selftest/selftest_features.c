/*
 * selftest_features - in process, a line for each feature of the
 * configuration that changes what an outside client may send, checked
 * the way the probes are, from the untrusted client on the first mx
 * listener:
 *
 *  - SMTPUTF8 (always offered): a UTF-8 sender with the SMTPUTF8
 *    parameter is accepted, and refused without it (RFC 6531 3.4);
 *  - DNSBL (with dnsbl) and SPF/DMARC enforcement (spf_policy or
 *    dmarc_policy = enforce): the daemon decides those from DNS at
 *    connect and at MAIL, outside the engine the self-test drives, so
 *    the line is N/A and says where it is checked instead.
 *
 * The loop check (max_hops) needs DATA and is in selftest_local.c.
 */
#include <stdio.h>
#include <string.h>

#include "selftest/selftest.h"

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
	if (st->listener->role != ROLE_MX || cfg->local_domains.n == 0) {
		snprintf(c->note, sizeof(c->note), "not applicable: %s",
		    st->listener->role != ROLE_MX ? "no mx listener" :
		    "no local domain to send to");
		return 0;
	}
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

	if (check_smtputf8(st, v) == -1)
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
