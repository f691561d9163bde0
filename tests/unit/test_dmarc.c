/*
 * test_dmarc - DMARC's verdict on a message (RFC 7489 6.6, RFC 9091),
 * the evaluator driven as the daemon drives it: each question it asks
 * is answered from a small zone, and the test checks both the verdict
 * (result, policy to apply, reason) and the questions asked, in order.
 * The Organizational Domains come from the packaged public suffix list.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "auth/dmarc.h"

/* one name of the zone: TXT records, or how the lookup fails */
struct rr {
	const char	*name;		/* "_dmarc.example.com", or a host
					 * name for an exists question */
	enum dmarc_dns	 dns;
	const char	*txt[3];	/* TXT records (NULL-ended) */
};

struct msg {
	const char	*from;		/* the From: value */
	enum dmarc_auth	 spf;
	const char	*spf_domain;	/* NULL: no SPF result fed */
	enum dmarc_auth	 dkim[3];
	const char	*dkim_d[3];	/* NULL-ended */
	unsigned	 sample;
};

static struct orgdomain *psl;
static char asked[1024];	/* the questions, "TXT name;EXISTS name;" */

static void
setup(void)
{
	char err[256];

	psl = orgdomain_load(NULL, err, sizeof(err));
	cr_assert_not_null(psl, "%s", err);
}

static void
teardown(void)
{
	orgdomain_free(psl);
}

TestSuite(dmarc, .init = setup, .fini = teardown);

/* answer - q from the zone: absent names are NXDOMAIN */
static void
answer(struct dmarc *d, const struct dmarc_query *q, const struct rr *zone)
{
	const struct rr *r;
	size_t lens[3], n = 0;

	for (r = zone; r->name != NULL; r++)
		if (strcmp(r->name, q->name) == 0)
			break;
	if (q->type == DMARC_Q_EXISTS) {
		dmarc_answer_exists(d, r->name == NULL ? DMARC_DNS_NXDOMAIN :
		    r->dns);
		return;
	}
	if (r->name == NULL) {
		dmarc_answer_txt(d, DMARC_DNS_NXDOMAIN, NULL, NULL, 0);
		return;
	}
	while (n < 3 && r->txt[n] != NULL) {
		lens[n] = strlen(r->txt[n]);
		n++;
	}
	dmarc_answer_txt(d, r->dns, r->txt, lens, n);
}

/* run - the whole check of m against zone; the outcome is copied out */
static struct dmarc_outcome
run(const struct msg *m, const struct rr *zone, char *domain, char *recdom)
{
	struct dmarc_params p = { psl, NULL, m->sample };
	struct dmarc_outcome out;
	struct dmarc_from from;
	struct dmarc_query q;
	struct dmarc *d;
	unsigned i;

	dmarc_from_init(&from);
	if (m->from != NULL)
		dmarc_from_field(&from, m->from, strlen(m->from));
	p.from = &from;
	d = dmarc_new(&p);
	cr_assert_not_null(d);
	asked[0] = '\0';
	if (m->spf_domain != NULL)
		dmarc_spf(d, m->spf, m->spf_domain);
	for (i = 0; i < 3 && m->dkim_d[i] != NULL; i++)
		dmarc_dkim(d, m->dkim[i], m->dkim_d[i]);
	for (i = 0; dmarc_step(d, &q); i++) {
		cr_assert_lt(i, 5, "the lookups end");
		snprintf(asked + strlen(asked), sizeof(asked) - strlen(asked),
		    "%s %s;", q.type == DMARC_Q_TXT ? "TXT" : "EXISTS",
		    q.name);
		answer(d, &q, zone);
	}
	out = *dmarc_evaluate(d);
	snprintf(domain, ORGDOMAIN_MAX, "%s", out.domain);
	snprintf(recdom, ORGDOMAIN_MAX, "%s", out.record_domain);
	dmarc_free(d);
	return out;
}

#define CHECK(m, zone, res, pol) \
	struct dmarc_outcome o; \
	char dom[ORGDOMAIN_MAX], recdom[ORGDOMAIN_MAX]; \
	o = run(&(m), zone, dom, recdom); \
	cr_assert_eq(o.result, res, "result %s, reason: %s", \
	    dmarc_result_name(o.result), o.reason); \
	cr_assert_eq(o.policy, pol, "policy %s, reason: %s", \
	    dmarc_policy_name(o.policy), o.reason)

static const struct rr example_reject[] = {
	{ "_dmarc.example.com", DMARC_DNS_OK,
	    { "v=spf1 -all", "v=DMARC1; p=reject; rua=mailto:d@example.com",
	    NULL } },
	{ NULL, DMARC_DNS_OK, { NULL } },
};

Test(dmarc, aligned_spf_passes_relaxed)
{
	struct msg m = { "Alice <alice@example.com>", DMARC_AUTH_PASS,
	    "bounces.example.com", { 0 }, { NULL }, 0 };
	CHECK(m, example_reject, DMARC_RESULT_PASS, DMARC_POLICY_NONE);
	cr_assert(o.spf_aligned && !o.dkim_aligned);
	cr_assert_str_eq(dom, "example.com");
	cr_assert_str_eq(recdom, "example.com");
	cr_assert_str_eq(asked, "TXT _dmarc.example.com;",
	    "the record is at the From domain: one question");
	cr_assert(strstr(o.reason, "pass for bounces.example.com, aligned"),
	    "%s", o.reason);
}

Test(dmarc, unaligned_spf_fails_with_the_domains_policy)
{
	struct msg m = { "alice@example.com", DMARC_AUTH_PASS,
	    "mailer.example.net", { DMARC_AUTH_FAIL }, { "example.com" }, 0 };
	CHECK(m, example_reject, DMARC_RESULT_FAIL, DMARC_POLICY_REJECT);
	cr_assert_eq(o.requested, DMARC_POLICY_REJECT);
	cr_assert(strstr(o.reason, "mailer.example.net, not aligned"), "%s",
	    o.reason);
	cr_assert(strstr(o.reason, "p=reject"), "%s", o.reason);
}

Test(dmarc, strict_spf_alignment_wants_the_same_name)
{
	static const struct rr zone[] = {
		{ "_dmarc.example.com", DMARC_DNS_OK,
		    { "v=DMARC1; p=quarantine; aspf=s", NULL } },
		{ NULL, DMARC_DNS_OK, { NULL } },
	};
	struct msg m = { "alice@example.com", DMARC_AUTH_PASS,
	    "bounces.example.com", { 0 }, { NULL }, 0 };
	struct msg exact = { "alice@example.com", DMARC_AUTH_PASS,
	    "EXAMPLE.com.", { 0 }, { NULL }, 0 };

	{
		CHECK(m, zone, DMARC_RESULT_FAIL, DMARC_POLICY_QUARANTINE);
	}
	{
		CHECK(exact, zone, DMARC_RESULT_PASS, DMARC_POLICY_NONE);
	}
}

Test(dmarc, spf_that_did_not_pass_does_not_count)
{
	struct msg m = { "alice@example.com", DMARC_AUTH_FAIL, "example.com",
	    { 0 }, { NULL }, 0 };
	CHECK(m, example_reject, DMARC_RESULT_FAIL, DMARC_POLICY_REJECT);
	cr_assert(!o.spf_aligned);
}

Test(dmarc, aligned_dkim_passes_relaxed_not_strict)
{
	static const struct rr strict[] = {
		{ "_dmarc.example.com", DMARC_DNS_OK,
		    { "v=DMARC1; p=reject; adkim=s", NULL } },
		{ NULL, DMARC_DNS_OK, { NULL } },
	};
	struct msg m = { "alice@example.com", DMARC_AUTH_FAIL, "example.net",
	    { DMARC_AUTH_FAIL, DMARC_AUTH_PASS, DMARC_AUTH_PASS },
	    { "example.com", "other.example", "mail.example.com" }, 0 };

	{
		CHECK(m, example_reject, DMARC_RESULT_PASS, DMARC_POLICY_NONE);
		cr_assert(o.dkim_aligned && !o.spf_aligned);
	}
	{
		CHECK(m, strict, DMARC_RESULT_FAIL, DMARC_POLICY_REJECT);
		cr_assert(!o.dkim_aligned,
		    "d=mail.example.com is not example.com, and the "
		    "d=example.com signature failed");
	}
}

Test(dmarc, strict_dkim_with_the_exact_domain_passes)
{
	static const struct rr strict[] = {
		{ "_dmarc.example.com", DMARC_DNS_OK,
		    { "v=DMARC1; p=reject; adkim=s; aspf=s", NULL } },
		{ NULL, DMARC_DNS_OK, { NULL } },
	};
	struct msg m = { "alice@example.com", DMARC_AUTH_PASS, "example.net",
	    { DMARC_AUTH_PASS }, { "Example.COM" }, 0 };
	CHECK(m, strict, DMARC_RESULT_PASS, DMARC_POLICY_NONE);
}

static const struct rr org_policy[] = {
	{ "_dmarc.example.com", DMARC_DNS_OK,
	    { "v=DMARC1; p=reject; sp=quarantine", NULL } },
	{ "_dmarc.lists.example.com", DMARC_DNS_OK,
	    { "v=spf1 include:example.net -all", NULL } },
	{ NULL, DMARC_DNS_OK, { NULL } },
};

Test(dmarc, a_subdomain_gets_sp_from_the_organizational_domain)
{
	struct msg m = { "bob@lists.example.com", DMARC_AUTH_PASS,
	    "example.net", { 0 }, { NULL }, 0 };
	CHECK(m, org_policy, DMARC_RESULT_FAIL, DMARC_POLICY_QUARANTINE);
	cr_assert_str_eq(asked, "TXT _dmarc.lists.example.com;"
	    "TXT _dmarc.example.com;",
	    "the From domain first, then its Organizational Domain; a TXT "
	    "that is not DMARC does not stop the search");
	cr_assert_str_eq(recdom, "example.com");
	cr_assert(strstr(o.reason, "sp=quarantine"), "%s", o.reason);
}

Test(dmarc, the_organizational_domain_itself_gets_p)
{
	struct msg m = { "bob@example.com", DMARC_AUTH_PASS, "example.net",
	    { 0 }, { NULL }, 0 };
	CHECK(m, org_policy, DMARC_RESULT_FAIL, DMARC_POLICY_REJECT);
}

Test(dmarc, a_record_at_the_subdomain_itself_gives_p_not_sp)
{
	static const struct rr zone[] = {
		{ "_dmarc.example.com", DMARC_DNS_OK,
		    { "v=DMARC1; p=reject; sp=none", NULL } },
		{ "_dmarc.news.example.com", DMARC_DNS_OK,
		    { "v=DMARC1; p=quarantine; sp=reject", NULL } },
		{ NULL, DMARC_DNS_OK, { NULL } },
	};
	struct msg m = { "news@news.example.com", DMARC_AUTH_PASS,
	    "example.net", { 0 }, { NULL }, 0 };
	CHECK(m, zone, DMARC_RESULT_FAIL, DMARC_POLICY_QUARANTINE);
	cr_assert_str_eq(asked, "TXT _dmarc.news.example.com;");
}

Test(dmarc, a_subdomain_aligns_relaxed_with_its_parent)
{
	struct msg m = { "bob@lists.example.com", DMARC_AUTH_FAIL,
	    "example.net", { DMARC_AUTH_PASS }, { "example.com" }, 0 };
	CHECK(m, org_policy, DMARC_RESULT_PASS, DMARC_POLICY_NONE);
}

static const struct rr np_zone[] = {
	{ "_dmarc.example.com", DMARC_DNS_OK,
	    { "v=DMARC1; p=reject; sp=none; np=reject", NULL } },
	{ "real.example.com", DMARC_DNS_OK, { NULL } },
	{ "flaky.example.com", DMARC_DNS_TEMPFAIL, { NULL } },
	{ NULL, DMARC_DNS_OK, { NULL } },
};

Test(dmarc, np_for_a_subdomain_that_does_not_exist)
{
	struct msg m = { "ceo@ghost.example.com", DMARC_AUTH_FAIL,
	    "ghost.example.com", { 0 }, { NULL }, 0 };
	CHECK(m, np_zone, DMARC_RESULT_FAIL, DMARC_POLICY_REJECT);
	cr_assert_str_eq(asked, "TXT _dmarc.ghost.example.com;"
	    "TXT _dmarc.example.com;EXISTS ghost.example.com;");
	cr_assert(strstr(o.reason, "np=reject"), "%s", o.reason);
}

Test(dmarc, sp_for_a_subdomain_that_exists)
{
	struct msg m = { "ceo@real.example.com", DMARC_AUTH_FAIL,
	    "real.example.com", { 0 }, { NULL }, 0 };
	CHECK(m, np_zone, DMARC_RESULT_FAIL, DMARC_POLICY_NONE);
	cr_assert(strstr(o.reason, "sp=none"), "%s", o.reason);
}

Test(dmarc, sp_when_existence_cannot_be_told)
{
	struct msg m = { "ceo@flaky.example.com", DMARC_AUTH_FAIL,
	    "flaky.example.com", { 0 }, { NULL }, 0 };
	CHECK(m, np_zone, DMARC_RESULT_FAIL, DMARC_POLICY_NONE);
	cr_assert(strstr(o.reason, "could not tell"), "%s", o.reason);
}

Test(dmarc, np_is_not_asked_when_it_changes_nothing)
{
	static const struct rr zone[] = {
		{ "_dmarc.example.com", DMARC_DNS_OK,
		    { "v=DMARC1; p=reject; np=reject", NULL } },
		{ NULL, DMARC_DNS_OK, { NULL } },
	};
	struct msg m = { "ceo@ghost.example.com", DMARC_AUTH_FAIL,
	    "ghost.example.com", { 0 }, { NULL }, 0 };
	CHECK(m, zone, DMARC_RESULT_FAIL, DMARC_POLICY_REJECT);
	cr_assert_str_eq(asked, "TXT _dmarc.ghost.example.com;"
	    "TXT _dmarc.example.com;");
}

Test(dmarc, no_record_is_none)
{
	static const struct rr zone[] = { { NULL, DMARC_DNS_OK, { NULL } } };
	struct msg m = { "bob@a.example.org", DMARC_AUTH_FAIL, "example.net",
	    { 0 }, { NULL }, 0 };
	struct msg top = { "bob@example.org", DMARC_AUTH_FAIL, "example.net",
	    { 0 }, { NULL }, 0 };

	{
		CHECK(m, zone, DMARC_RESULT_NONE, DMARC_POLICY_NONE);
		cr_assert_str_eq(asked, "TXT _dmarc.a.example.org;"
		    "TXT _dmarc.example.org;");
		cr_assert(!o.has_record);
		cr_assert_str_eq(recdom, "");
	}
	{
		CHECK(top, zone, DMARC_RESULT_NONE, DMARC_POLICY_NONE);
		cr_assert_str_eq(asked, "TXT _dmarc.example.org;",
		    "the Organizational Domain is not asked twice");
	}
}

Test(dmarc, the_organizational_domain_through_the_psl)
{
	static const struct rr zone[] = {
		{ "_dmarc.example.co.uk", DMARC_DNS_OK,
		    { "v=DMARC1; p=reject", NULL } },
		{ "_dmarc.co.uk", DMARC_DNS_OK,
		    { "v=DMARC1; p=none", NULL } },
		{ NULL, DMARC_DNS_OK, { NULL } },
	};
	struct msg m = { "x@a.b.example.co.uk", DMARC_AUTH_PASS,
	    "mail.example.co.uk", { 0 }, { NULL }, 0 };
	struct msg suffix = { "x@a.b.example.co.uk", DMARC_AUTH_PASS,
	    "co.uk", { DMARC_AUTH_PASS }, { "other.co.uk" }, 0 };

	{
		CHECK(m, zone, DMARC_RESULT_PASS, DMARC_POLICY_NONE);
		cr_assert_str_eq(asked, "TXT _dmarc.a.b.example.co.uk;"
		    "TXT _dmarc.example.co.uk;",
		    "example.co.uk, not b.example.co.uk nor co.uk");
		cr_assert_str_eq(recdom, "example.co.uk");
	}
	{
		CHECK(suffix, zone, DMARC_RESULT_FAIL, DMARC_POLICY_REJECT);
		cr_assert(!o.spf_aligned && !o.dkim_aligned,
		    "co.uk and other.co.uk do not align with example.co.uk");
	}
}

Test(dmarc, pct_samples_with_the_callers_number)
{
	static const struct rr zone[] = {
		{ "_dmarc.example.com", DMARC_DNS_OK,
		    { "v=DMARC1; p=reject; pct=30", NULL } },
		{ "_dmarc.example.org", DMARC_DNS_OK,
		    { "v=DMARC1; p=quarantine; pct=0", NULL } },
		{ NULL, DMARC_DNS_OK, { NULL } },
	};
	struct msg in = { "a@example.com", DMARC_AUTH_FAIL, "example.com",
	    { 0 }, { NULL }, 29 };
	struct msg out = { "a@example.com", DMARC_AUTH_FAIL, "example.com",
	    { 0 }, { NULL }, 30 };
	struct msg q = { "a@example.org", DMARC_AUTH_FAIL, "example.org",
	    { 0 }, { NULL }, 0 };

	{
		CHECK(in, zone, DMARC_RESULT_FAIL, DMARC_POLICY_REJECT);
		cr_assert(!o.sampled_out);
	}
	{
		CHECK(out, zone, DMARC_RESULT_FAIL, DMARC_POLICY_QUARANTINE);
		cr_assert(o.sampled_out);
		cr_assert_eq(o.requested, DMARC_POLICY_REJECT);
		cr_assert(strstr(o.reason, "pct="), "%s", o.reason);
	}
	{
		CHECK(q, zone, DMARC_RESULT_FAIL, DMARC_POLICY_NONE);
	}
}

Test(dmarc, an_invalid_record_is_none_and_ends_the_search)
{
	static const struct rr zone[] = {
		{ "_dmarc.sub.example.com", DMARC_DNS_OK,
		    { "v=DMARC1; p=block", NULL } },
		{ "_dmarc.example.com", DMARC_DNS_OK,
		    { "v=DMARC1; p=reject", NULL } },
		{ NULL, DMARC_DNS_OK, { NULL } },
	};
	struct msg m = { "a@sub.example.com", DMARC_AUTH_FAIL, "example.net",
	    { 0 }, { NULL }, 0 };
	CHECK(m, zone, DMARC_RESULT_NONE, DMARC_POLICY_NONE);
	cr_assert_str_eq(asked, "TXT _dmarc.sub.example.com;");
	cr_assert(strstr(o.reason, "invalid DMARC record"), "%s", o.reason);
}

Test(dmarc, the_reason_quotes_a_hostile_record_safely)
{
	static const struct rr zone[] = {
		{ "_dmarc.example.com", DMARC_DNS_OK,
		    { "v=DMARC1; p=reject; x\r\n550 \xff; ", NULL } },
		{ NULL, DMARC_DNS_OK, { NULL } },
	};
	struct msg m = { "a@example.com", DMARC_AUTH_FAIL, "example.net",
	    { 0 }, { NULL }, 0 };
	const char *p;

	CHECK(m, zone, DMARC_RESULT_FAIL, DMARC_POLICY_REJECT);
	cr_assert(strstr(o.reason, "ignored \"x??550 ?\""), "%s", o.reason);
	for (p = o.reason; *p != '\0'; p++)
		cr_assert(*p >= 0x20 && *p <= 0x7e,
		    "the reason can go into an SMTP reply: %s", o.reason);
}

Test(dmarc, a_broken_p_with_rua_is_monitoring)
{
	static const struct rr zone[] = {
		{ "_dmarc.example.com", DMARC_DNS_OK,
		    { "v=DMARC1; p=block; rua=mailto:r@example.com", NULL } },
		{ NULL, DMARC_DNS_OK, { NULL } },
	};
	struct msg m = { "a@example.com", DMARC_AUTH_FAIL, "example.net",
	    { 0 }, { NULL }, 0 };
	CHECK(m, zone, DMARC_RESULT_FAIL, DMARC_POLICY_NONE);
}

Test(dmarc, two_dmarc_records_are_none)
{
	static const struct rr zone[] = {
		{ "_dmarc.example.com", DMARC_DNS_OK,
		    { "v=DMARC1; p=reject", "v=DMARC1; p=none", NULL } },
		{ NULL, DMARC_DNS_OK, { NULL } },
	};
	struct msg m = { "a@example.com", DMARC_AUTH_FAIL, "example.net",
	    { 0 }, { NULL }, 0 };
	CHECK(m, zone, DMARC_RESULT_NONE, DMARC_POLICY_NONE);
	cr_assert(strstr(o.reason, "2 DMARC records"), "%s", o.reason);
}

Test(dmarc, a_dns_failure_is_temperror_never_a_policy)
{
	static const struct rr zone[] = {
		{ "_dmarc.example.com", DMARC_DNS_TEMPFAIL, { NULL } },
		{ NULL, DMARC_DNS_OK, { NULL } },
	};
	struct msg m = { "a@example.com", DMARC_AUTH_FAIL, "example.net",
	    { 0 }, { NULL }, 0 };
	CHECK(m, zone, DMARC_RESULT_TEMPERROR, DMARC_POLICY_NONE);
}

Test(dmarc, an_aligned_temporary_error_is_temperror)
{
	struct msg m = { "a@example.com", DMARC_AUTH_TEMPERROR, "example.com",
	    { DMARC_AUTH_FAIL }, { "example.com" }, 0 };
	struct msg unaligned = { "a@example.com", DMARC_AUTH_TEMPERROR,
	    "example.net", { 0 }, { NULL }, 0 };
	struct msg passed = { "a@example.com", DMARC_AUTH_TEMPERROR,
	    "example.com", { DMARC_AUTH_PASS }, { "example.com" }, 0 };

	{
		CHECK(m, example_reject, DMARC_RESULT_TEMPERROR,
		    DMARC_POLICY_NONE);
	}
	{
		CHECK(unaligned, example_reject, DMARC_RESULT_FAIL,
		    DMARC_POLICY_REJECT);
	}
	{
		CHECK(passed, example_reject, DMARC_RESULT_PASS,
		    DMARC_POLICY_NONE);
	}
}

Test(dmarc, giving_up_is_temperror)
{
	struct dmarc_params p = { psl, NULL, 0 };
	struct dmarc_from from;
	struct dmarc_query q;
	struct dmarc *d;

	dmarc_from_init(&from);
	dmarc_from_field(&from, "a@example.com", 13);
	p.from = &from;
	d = dmarc_new(&p);
	cr_assert(dmarc_step(d, &q));
	dmarc_abort(d, "DMARC lookups took too long");
	cr_assert(!dmarc_step(d, &q));
	cr_assert_eq(dmarc_evaluate(d)->result, DMARC_RESULT_TEMPERROR);
	cr_assert_str_eq(dmarc_evaluate(d)->reason,
	    "DMARC lookups took too long");
	dmarc_free(d);
}

Test(dmarc, no_single_author_domain_is_permerror)
{
	static const char *const bad[] = {
		NULL, "a@example.com, b@example.net", "(nobody)",
		"user@[192.0.2.1]",
	};
	static const char *const why[] = {
		"no From: field", "several domains", "no address",
		"no readable author domain",
	};
	size_t i;

	for (i = 0; i < 4; i++) {
		struct msg m = { bad[i], DMARC_AUTH_PASS, "example.com",
		    { 0 }, { NULL }, 0 };
		CHECK(m, example_reject, DMARC_RESULT_PERMERROR,
		    DMARC_POLICY_REJECT);
		cr_assert_str_eq(asked, "", "nothing to look up");
		cr_assert(strstr(o.reason, why[i]), "%s", o.reason);
	}
}

Test(dmarc, two_from_fields_are_permerror)
{
	struct dmarc_params p = { psl, NULL, 0 };
	struct dmarc_from from;
	struct dmarc_query q;
	struct dmarc *d;

	dmarc_from_init(&from);
	dmarc_from_field(&from, "a@example.com", 13);
	dmarc_from_field(&from, "a@example.com", 13);
	p.from = &from;
	d = dmarc_new(&p);
	cr_assert(!dmarc_step(d, &q));
	cr_assert_eq(dmarc_evaluate(d)->result, DMARC_RESULT_PERMERROR);
	cr_assert_str_eq(dmarc_evaluate(d)->reason, "several From: fields");
	dmarc_free(d);
}

Test(dmarc, a_from_domain_too_long_for_its_dmarc_name)
{
	static const struct rr zone[] = {
		{ "_dmarc.example.com", DMARC_DNS_OK,
		    { "v=DMARC1; p=reject", NULL } },
		{ NULL, DMARC_DNS_OK, { NULL } },
	};
	char from[300], label[64];
	struct msg m = { from, DMARC_AUTH_FAIL, "example.net", { 0 },
	    { NULL }, 0 };

	memset(label, 'a', 63);
	label[63] = '\0';
	/* 63 * 3 + 47 + 4 dots + 11 = 251 octets: a name, but with
	 * "_dmarc." in front it would be 258, past DNS's 253 */
	snprintf(from, sizeof(from), "x@%s.%s.%s.%.47s.example.com", label,
	    label, label, label);
	{
		CHECK(m, zone, DMARC_RESULT_FAIL, DMARC_POLICY_REJECT);
		cr_assert_str_eq(asked, "TXT _dmarc.example.com;",
		    "no question for a name DNS cannot hold");
	}
}
