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
 *  - DNSBL (with dnsbl): each list, asked through dns_servers, lists
 *    its test entry 127.0.0.2 (RFC 5782 5), and the daemon's verdict
 *    at connect (its own code, lent by main.c) refuses that client;
 *  - SPF/DMARC enforcement (spf_policy or dmarc_policy = enforce): the
 *    daemon's verdict code, fed an SPF fail and a DMARC failure of a
 *    p=reject domain for an outside sender, refuses both; no DNS.
 * Without the daemon's hooks (a unit test) those two lines are N/A.
 */
#include <stdio.h>
#include <string.h>

#include <netinet/in.h>

#include "conf/dnsbl_site.h"
#include "dns/dns.h"
#include "dns/dns_answer.h"
#include "lib/buf.h"
#include "lib/netaddr.h"
#include "selftest/doctor.h"
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

/* One list's answer for 127.0.0.2. */
struct bl_ask {
	struct dnsbl_site site;
	bool		 done;
	enum dns_result	 r;
	bool		 listed;
	bool		 error_code;	/* 127.255.255.x: resolver refused */
};

static void
bl_feed(void *arg, unsigned type, const void *data, size_t len)
{
	struct bl_ask *a = arg;
	const uint8_t *ip = data;

	if (type != DNS_TYPE_A || len != 4)
		return;
	if (dnsbl_error_code(ip))
		a->error_code = true;
	else if (dnsbl_site_match(&a->site, ip))
		a->listed = true;
}

static void
bl_answered(void *arg, enum dns_result r, const unsigned char *msg,
    size_t len)
{
	struct bl_ask *a = arg;

	a->done = true;
	a->r = r;
	if (r == DNS_FOUND && msg != NULL)
		(void)dns_answer_each(msg, len, DNS_TYPE_A, bl_feed, a);
}

/* The daemon's verdict on 127.0.0.2. */
struct bl_verdict {
	bool		 done;
	char		 reply[ST_NOTE_MAX];
};

static void
bl_decided(void *arg, const char *reply)
{
	struct bl_verdict *v = arg;

	v->done = true;
	snprintf(v->reply, sizeof(v->reply), "%s", reply ? reply : "");
}

/* check_list - one list asked for its test entry: PASS listed, WEAK
 * not, ERROR no answer */
static int
check_list(struct selftest *st, const struct st_local_opts *o,
    const char *item, const struct sockaddr *test, size_t *listed)
{
	char name[ST_NOTE_MAX], q[DNSBL_ZONE_MAX + 80], err[256];
	struct bl_ask a;
	struct st_check *c;

	memset(&a, 0, sizeof(a));
	if (dnsbl_site_parse(item, &a.site, err, sizeof(err)) == -1)
		return 0;	/* the configuration was checked with it */
	snprintf(name, sizeof(name), "DNSBL %s answers for its test entry "
	    "127.0.0.2 (RFC 5782 5)", a.site.zone);
	if ((c = st_add_check(st, name)) == NULL)
		return -1;
	if (netaddr_reverse(test, a.site.zone, q, sizeof(q)) == -1) {
		c->verdict = ST_ERROR;
		snprintf(c->note, sizeof(c->note), "the name to ask is too "
		    "long");
		return 0;
	}
	if (dns_query(o->dns, q, DNS_TYPE_A, bl_answered, &a) != NULL)
		while (!a.done && o->wait(o->wait_arg))
			;
	if (!a.done || a.r == DNS_TEMPFAIL) {
		c->verdict = ST_ERROR;
		snprintf(c->note, sizeof(c->note), "no answer for %.120s through "
		    "dns_servers (a timeout or a server failure)", q);
	} else if (a.listed) {
		c->verdict = ST_PASS;
		(*listed)++;
	} else {
		c->verdict = ST_WEAK;
		snprintf(c->note, sizeof(c->note), "the list does not answer "
		    "for its test entry (typo in the zone name, or the "
		    "resolver is blocked by the list)%s: %.120s",
		    a.error_code ? "; it answered an error code" : "", q);
	}
	return 0;
}

/* check_dnsbl - each list lists 127.0.0.2, and the daemon refuses it */
static int
check_dnsbl(struct selftest *st, const struct st_local_opts *o)
{
	const struct config *cfg = st->cfg;
	struct sockaddr_in test;
	struct bl_verdict v;
	struct st_check *c;
	struct dnsbl *b;
	size_t listed = 0;

	memset(&test, 0, sizeof(test));
	test.sin_family = AF_INET;
	test.sin_addr.s_addr = htonl(0x7f000002);
	for (size_t i = 0; i < cfg->dnsbl.n; i++)
		if (check_list(st, o, cfg->dnsbl.v[i],
		    (const struct sockaddr *)&test, &listed) == -1)
			return -1;
	if ((c = st_add_check(st, "DNSBL: a client listed on the "
	    "configured lists (the test address 127.0.0.2) is refused")) ==
	    NULL)
		return -1;
	memset(&v, 0, sizeof(v));
	b = o->hooks->dnsbl_start(o->loop, o->dns, cfg,
	    (const struct sockaddr *)&test, "127.0.0.2", 0, bl_decided, &v);
	while (!v.done && o->wait(o->wait_arg))
		;
	if (!v.done) {
		o->hooks->dnsbl_cancel(b);
		c->verdict = ST_ERROR;
		snprintf(c->note, sizeof(c->note), "the daemon's check did "
		    "not finish");
	} else if (v.reply[0]) {
		c->verdict = ST_PASS;
		snprintf(c->note, sizeof(c->note), "refused at connect: %.290s",
		    v.reply);
	} else if (listed == 0) {
		snprintf(c->note, sizeof(c->note), "not checked: no list "
		    "answered for 127.0.0.2 (see the lines above)");
	} else {
		c->verdict = ST_WEAK;
		snprintf(c->note, sizeof(c->note), "listed by %zu of %zu "
		    "lists, yet taken: their weights add up to less than "
		    "dnsbl_threshold (%u)", listed, cfg->dnsbl.n,
		    cfg->dnsbl_threshold);
	}
	return 0;
}

/* enforced - one policy's part of the SPF/DMARC line, into note */
static void
enforced(const char *key, const char *value, const char *reply,
    const char *what, enum st_verdict *verdict, char *note, size_t len)
{
	size_t l = strlen(note);

	if (strcmp(value, "enforce") == 0 && reply[0] == '\0') {
		*verdict = ST_FAIL;
		snprintf(note + l, len - l, "%s%s = enforce, yet %s is taken",
		    l ? "; " : "", key, what);
	} else if (reply[0] != '\0') {
		snprintf(note + l, len - l, "%s%s refused: %s", l ? "; " : "",
		    what, reply);
	} else {
		if (*verdict == ST_PASS)
			*verdict = ST_WEAK;
		snprintf(note + l, len - l, "%s%s = %s: %s is only %s, not "
		    "refused", l ? "; " : "", key, value, what,
		    strcmp(value, "off") == 0 ? "let through" :
		    "recorded in Authentication-Results");
	}
}

/* check_enforcement - the daemon's verdicts on a forged outside sender */
static int
check_enforcement(struct selftest *st, const struct st_local_opts *o)
{
	const struct config *cfg = st->cfg;
	char spf[ST_NOTE_MAX], dmarc[ST_NOTE_MAX];
	struct st_check *c;

	if ((c = st_add_check(st, "SPF/DMARC enforcement: a forged sender "
	    "of an outside domain (SPF fail, DMARC p=reject) is refused")) ==
	    NULL)
		return -1;
	o->hooks->mx_forged(cfg, st->client, st->p.tester_domain, spf,
	    sizeof(spf), dmarc, sizeof(dmarc));
	c->verdict = ST_PASS;
	enforced("spf_policy", cfg->spf_policy, spf, "an SPF fail at "
	    "MAIL", &c->verdict, c->note, sizeof(c->note));
	enforced("dmarc_policy", cfg->dmarc_policy, dmarc, "a DMARC "
	    "failure (p=reject) at the end of DATA", &c->verdict, c->note,
	    sizeof(c->note));
	return 0;
}

int
st_features_local(struct selftest *st, const struct st_viewer *v,
    const struct st_local_opts *o)
{
	const struct config *cfg = st->cfg;
	bool lent = o->hooks != NULL && o->dns != NULL && o->wait != NULL &&
	    o->hooks->dnsbl_start != NULL && o->hooks->mx_forged != NULL;
	bool enforce = strcmp(cfg->spf_policy, "enforce") == 0 ||
	    strcmp(cfg->dmarc_policy, "enforce") == 0;

	if (check_smtputf8(st, v) == -1 || check_loops(st, v) == -1)
		return -1;
	if (lent && cfg->dnsbl.n > 0 && check_dnsbl(st, o) == -1)
		return -1;
	if (lent && enforce && check_enforcement(st, o) == -1)
		return -1;
	if (lent)
		return 0;
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
