/*
 * test_dmarc_parse - what DMARC reads before it asks DNS anything: the
 * policy record (RFC 7489 6.3, RFC 9091's np=), the author domain in
 * From: (RFC 5322 mailbox lists, RFC 7489 6.6.1) and Organizational
 * Domains through the packaged public suffix list.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "auth/dmarc_from.h"
#include "auth/dmarc_record.h"
#include "auth/orgdomain.h"

static enum dmarc_record_status
rec(const char *txt, struct dmarc_record *r)
{
	char why[96];

	return dmarc_record_parse(txt, strlen(txt), r, why, sizeof(why));
}

Test(dmarc_record, minimal_record_takes_the_defaults)
{
	struct dmarc_record r;

	cr_assert_eq(rec("v=DMARC1; p=reject", &r), DMARC_REC_OK);
	cr_assert_eq(r.p, DMARC_POLICY_REJECT);
	cr_assert_eq(r.sp, DMARC_POLICY_REJECT, "sp= defaults to p=");
	cr_assert(!r.has_sp && !r.has_np);
	cr_assert_eq(r.pct, 100);
	cr_assert(!r.adkim_strict && !r.aspf_strict);
	cr_assert_eq(r.fo, DMARC_FO_0);
	cr_assert(r.rf_afrf);
	cr_assert_eq(r.ri, 86400);
}

Test(dmarc_record, every_tag)
{
	struct dmarc_record r;

	cr_assert_eq(rec("v=DMARC1;p=quarantine; sp=none ;np=reject; pct=25;"
	    " adkim=s; aspf=S; rua=mailto:agg@example.com!10m, "
	    "https://r.example.net/x; ruf=mailto:f@example.com; fo=1:d:s; "
	    "rf=afrf; ri=3600;", &r), DMARC_REC_OK);
	cr_assert_eq(r.p, DMARC_POLICY_QUARANTINE);
	cr_assert_eq(r.sp, DMARC_POLICY_NONE);
	cr_assert(r.has_sp);
	cr_assert(r.has_np);
	cr_assert_eq(r.np, DMARC_POLICY_REJECT);
	cr_assert_eq(r.pct, 25);
	cr_assert(r.adkim_strict && r.aspf_strict);
	cr_assert_eq(r.rua_count, 2);
	cr_assert_eq(r.ruf_count, 1);
	cr_assert_eq(r.fo, DMARC_FO_1 | DMARC_FO_D | DMARC_FO_S);
	cr_assert_eq(r.ri, 3600);
}

Test(dmarc_record, policy_words_ignore_case_and_white_space)
{
	struct dmarc_record r;

	cr_assert_eq(rec("v = DMARC1 ;\t P=x; p = REJECT ; ", &r),
	    DMARC_REC_OK, "P= is not p= (tag names are case-sensitive)");
	cr_assert_eq(r.p, DMARC_POLICY_REJECT);
}

Test(dmarc_record, not_a_dmarc_record)
{
	struct dmarc_record r;

	cr_assert_eq(rec("v=spf1 -all", &r), DMARC_REC_NOT_DMARC);
	cr_assert_eq(rec("p=reject; v=DMARC1", &r), DMARC_REC_NOT_DMARC,
	    "v= must come first");
	cr_assert_eq(rec("v=dmarc1; p=reject", &r), DMARC_REC_NOT_DMARC,
	    "the version is %%x44 %%x4d ...: case-sensitive");
	cr_assert_eq(rec("v=DMARC1 p=reject", &r), DMARC_REC_NOT_DMARC,
	    "no separator after the version");
	cr_assert_eq(rec("v=DMARC2; p=reject", &r), DMARC_REC_NOT_DMARC);
	cr_assert_eq(rec("", &r), DMARC_REC_NOT_DMARC);
}

Test(dmarc_record, without_a_valid_p_the_record_is_invalid)
{
	struct dmarc_record r;

	cr_assert_eq(rec("v=DMARC1", &r), DMARC_REC_INVALID);
	cr_assert_eq(rec("v=DMARC1; sp=reject", &r), DMARC_REC_INVALID);
	cr_assert_eq(rec("v=DMARC1; p=rejected", &r), DMARC_REC_INVALID);
	cr_assert_eq(rec("v=DMARC1; p=reject; sp=bogus", &r),
	    DMARC_REC_INVALID, "an invalid sp= too (6.6.3 step 6)");
	cr_assert_eq(rec("v=DMARC1; p=reject; rua=nowhere", &r),
	    DMARC_REC_OK, "an invalid rua= is only ignored");
}

Test(dmarc_record, a_valid_rua_makes_a_broken_p_none)
{
	struct dmarc_record r;

	cr_assert_eq(rec("v=DMARC1; p=bogus; rua=mailto:d@example.com", &r),
	    DMARC_REC_OK);
	cr_assert_eq(r.p, DMARC_POLICY_NONE);
	cr_assert_eq(r.sp, DMARC_POLICY_NONE);
	cr_assert(r.p_from_rua);
	cr_assert_eq(rec("v=DMARC1; rua=mailto:d@example.com; sp=reject", &r),
	    DMARC_REC_OK);
	cr_assert_eq(r.sp, DMARC_POLICY_NONE, "all of it taken as none");
}

Test(dmarc_record, p_may_come_after_other_tags)
{
	struct dmarc_record r;

	cr_assert_eq(rec("v=DMARC1; rua=mailto:d@example.com; p=reject", &r),
	    DMARC_REC_OK);
	cr_assert_eq(r.p, DMARC_POLICY_REJECT);
	cr_assert(!r.p_from_rua);
}

Test(dmarc_record, wrong_values_keep_the_defaults)
{
	struct dmarc_record r;

	cr_assert_eq(rec("v=DMARC1; p=none; pct=101; adkim=x; aspf=; fo=2; "
	    "rf=xml; ri=99999999999; np=maybe", &r), DMARC_REC_OK);
	cr_assert_eq(r.pct, 100);
	cr_assert(!r.adkim_strict && !r.aspf_strict);
	cr_assert_eq(r.fo, DMARC_FO_0);
	cr_assert(r.rf_afrf);
	cr_assert_eq(r.ri, 86400);
	cr_assert(!r.has_np, "an invalid np= is ignored");
	cr_assert_eq(rec("v=DMARC1; p=none; pct=-1", &r), DMARC_REC_OK);
	cr_assert_eq(r.pct, 100);
	cr_assert_eq(rec("v=DMARC1; p=none; pct=0", &r), DMARC_REC_OK);
	cr_assert_eq(r.pct, 0);
}

Test(dmarc_record, unknown_duplicate_and_broken_tags)
{
	struct dmarc_record r;

	cr_assert_eq(rec("v=DMARC1; p=reject; p=none; x-new=1; junk; =x; "
	    "9a=b;;", &r), DMARC_REC_OK);
	cr_assert_eq(r.p, DMARC_POLICY_REJECT, "the first p= holds");
}

Test(dmarc_record, hostile_bytes)
{
	struct dmarc_record r;
	static const char nul[] = "v=DMARC1; p=reject\0; p=none";
	char big[DMARC_RECORD_MAX + 2];

	cr_assert_eq(dmarc_record_parse(nul, sizeof(nul) - 1, &r, NULL, 0),
	    DMARC_REC_INVALID, "a NUL in p='s value makes p= invalid");
	memset(big, ' ', sizeof(big));
	memcpy(big, "v=DMARC1; p=reject;", 19);
	cr_assert_eq(dmarc_record_parse(big, sizeof(big), &r, NULL, 0),
	    DMARC_REC_INVALID);
	cr_assert_eq(dmarc_record_parse(big, DMARC_RECORD_MAX, &r, NULL, 0),
	    DMARC_REC_OK);
}

/* --- From: ------------------------------------------------------------ */

static enum dmarc_from_status
from1(const char *value, struct dmarc_from *f)
{
	dmarc_from_init(f);
	return dmarc_from_field(f, value, strlen(value));
}

static void
from_is(const char *value, const char *domain)
{
	struct dmarc_from f;

	cr_assert_eq(from1(value, &f), DMARC_FROM_OK, "%s", value);
	cr_assert_str_eq(f.domain, domain, "%s", value);
}

Test(dmarc_from, the_usual_forms)
{
	from_is(" user@example.com", "example.com");
	from_is(" User Name <user@Example.COM>\r\n", "example.com");
	from_is("\"Doe, John <john@evil.test>\" <john@example.org>",
	    "example.org");
	from_is("(comment (nested) \\) ) a.b@mail.example.net (x)",
	    "mail.example.net");
	from_is(" \"quoted local\"@example.com", "example.com");
	from_is(" Name\r\n\t<user@example.com>", "example.com");
	from_is("<@relay.test,@other.test:user@example.com>", "example.com");
	from_is(" Dr. J. Smith <js@example.com>", "example.com");
	from_is("user @ example . com", "example.com");
}

Test(dmarc_from, utf8_domains_are_looked_up_as_a_labels)
{
	from_is(" <jos\xc3\xa9@b\xc3\xbc" "cher.example>", "xn--bcher-kva.example");
}

Test(dmarc_from, several_addresses_in_one_domain)
{
	struct dmarc_from f;

	cr_assert_eq(from1("a@example.com, B <b@EXAMPLE.com>, , ", &f),
	    DMARC_FROM_OK);
	cr_assert_eq(f.addresses, 2);
	cr_assert_str_eq(f.domain, "example.com");
}

Test(dmarc_from, what_has_no_author_domain)
{
	struct dmarc_from f;

	cr_assert_eq(from1("a@example.com, b@example.net", &f),
	    DMARC_FROM_DOMAINS);
	cr_assert_str_eq(f.domain, "");
	cr_assert_eq(from1("  (nobody) ", &f), DMARC_FROM_EMPTY);
	cr_assert_eq(from1("", &f), DMARC_FROM_EMPTY);
	cr_assert_eq(from1("user@[192.0.2.1]", &f), DMARC_FROM_SYNTAX);
	cr_assert_eq(from1("user", &f), DMARC_FROM_SYNTAX);
	cr_assert_eq(from1("Name <user@example.com", &f), DMARC_FROM_SYNTAX);
	cr_assert_eq(from1("\"open <user@example.com>", &f),
	    DMARC_FROM_SYNTAX);
	cr_assert_eq(from1("(open user@example.com", &f), DMARC_FROM_SYNTAX);
	cr_assert_eq(from1("group: a@example.com;", &f), DMARC_FROM_SYNTAX);
	cr_assert_eq(from1("a@example.com b@example.com", &f),
	    DMARC_FROM_SYNTAX);
	cr_assert_eq(from1("a@exa_mple..com", &f), DMARC_FROM_SYNTAX);
	cr_assert_eq(from1("a@example.com.", &f), DMARC_FROM_SYNTAX,
	    "RFC 5322 has no final dot");
	cr_assert_eq(from1("a@-", &f), DMARC_FROM_OK,
	    "a syntactically valid name, looked up like any");
}

Test(dmarc_from, the_number_of_fields)
{
	struct dmarc_from f;

	dmarc_from_init(&f);
	cr_assert_eq(f.status, DMARC_FROM_MISSING);
	cr_assert_str_eq(dmarc_from_problem(&f), "no From: field");
	cr_assert_eq(dmarc_from_field(&f, "a@example.com", 13), DMARC_FROM_OK);
	cr_assert_str_eq(dmarc_from_problem(&f), "");
	cr_assert_eq(dmarc_from_field(&f, "a@example.com", 13),
	    DMARC_FROM_FIELDS);
	cr_assert_str_eq(f.domain, "");
	cr_assert_eq(dmarc_from_field(&f, "a@example.com", 13),
	    DMARC_FROM_FIELDS);
}

Test(dmarc_from, hostile_values_are_bounded)
{
	static char big[DMARC_FROM_MAX_FIELD + 2];
	struct dmarc_from f;
	char deep[200];
	size_t i;

	for (i = 0; i < 40; i++)
		deep[i] = '(';
	for (; i < 80; i++)
		deep[i] = ')';
	snprintf(deep + 80, sizeof(deep) - 80, " a@example.com");
	cr_assert_eq(from1(deep, &f), DMARC_FROM_SYNTAX,
	    "comments nested past the bound");
	memset(deep, '(', DMARC_FROM_MAX_DEPTH);
	memset(deep + DMARC_FROM_MAX_DEPTH, ')', DMARC_FROM_MAX_DEPTH);
	snprintf(deep + 2 * DMARC_FROM_MAX_DEPTH, sizeof(deep) -
	    2 * DMARC_FROM_MAX_DEPTH, " a@example.com");
	cr_assert_eq(from1(deep, &f), DMARC_FROM_OK, "at the bound: %s",
	    deep);
	dmarc_from_init(&f);
	cr_assert_eq(dmarc_from_field(&f, "a@exa\0mple.com", 14),
	    DMARC_FROM_SYNTAX);
	memset(big, 'a', sizeof(big));
	memcpy(big + sizeof(big) - 12, "@example.com", 12);
	dmarc_from_init(&f);
	cr_assert_eq(dmarc_from_field(&f, big, sizeof(big)), DMARC_FROM_SYNTAX);
	for (i = 0; i + 14 < sizeof(big); i += 14)
		memcpy(big + i, "a@example.com,", 14);
	dmarc_from_init(&f);
	cr_assert_eq(dmarc_from_field(&f, big, i - 1), DMARC_FROM_OK,
	    "a thousand addresses in one domain, read in one pass");
	cr_assert_gt(f.addresses, 1000);
	memset(big, 'x', 300);
	memcpy(big + 300, "@", 1);
	dmarc_from_init(&f);
	cr_assert_eq(dmarc_from_field(&f, big, 301), DMARC_FROM_SYNTAX);
}

/* --- Organizational Domains ------------------------------------------- */

static struct orgdomain *psl;

static void
load_psl(void)
{
	char err[256];

	psl = orgdomain_load(NULL, err, sizeof(err));
	cr_assert_not_null(psl, "%s", err);
}

static void
free_psl(void)
{
	orgdomain_free(psl);
}

static void
org_is(const char *domain, const char *org)
{
	char out[ORGDOMAIN_MAX];

	orgdomain_of(psl, domain, out);
	cr_assert_str_eq(out, org, "%s", domain);
}

Test(orgdomain, through_the_public_suffix_list, .init = load_psl,
    .fini = free_psl)
{
	org_is("a.b.example.co.uk", "example.co.uk");
	org_is("example.co.uk", "example.co.uk");
	org_is("co.uk", "co.uk");
	org_is("mail.example.com", "example.com");
	org_is("x.y.example.com.au", "example.com.au");
	org_is("a.b.c.unknowntld", "c.unknowntld");
	org_is("a.xn--p1ai", "a.xn--p1ai");
}

Test(orgdomain, alignment, .init = load_psl, .fini = free_psl)
{
	cr_assert(orgdomain_aligned(psl, "mail.example.co.uk",
	    "a.b.example.co.uk", 0));
	cr_assert(!orgdomain_aligned(psl, "mail.example.co.uk",
	    "a.b.example.co.uk", 1));
	cr_assert(!orgdomain_aligned(psl, "other.co.uk", "example.co.uk", 0));
	cr_assert(!orgdomain_aligned(psl, "co.uk", "example.co.uk", 0),
	    "a public suffix aligns with nothing under it");
	cr_assert(orgdomain_aligned(psl, "example.com", "example.com", 1));
}

Test(orgdomain, normal_form)
{
	char out[ORGDOMAIN_MAX];
	char long_label[80];

	cr_assert_eq(orgdomain_norm("Mail.Example.COM.", 17, out), 0);
	cr_assert_str_eq(out, "mail.example.com");
	cr_assert_eq(orgdomain_norm("a..b", 4, out), -1);
	cr_assert_eq(orgdomain_norm(".", 1, out), -1);
	cr_assert_eq(orgdomain_norm("", 0, out), -1);
	cr_assert_eq(orgdomain_norm("a b.com", 7, out), -1);
	cr_assert_eq(orgdomain_norm("[1.2.3.4]", 9, out), -1);
	memset(long_label, 'a', 64);
	memcpy(long_label + 64, ".com", 5);
	cr_assert_eq(orgdomain_norm(long_label, 68, out), -1);
	cr_assert_eq(orgdomain_norm(long_label + 1, 67, out), 0);
}

/* addrs_of - the addresses kept for the sender map, joined by spaces */
static const char *
addrs_of(const struct dmarc_from *f)
{
	static char out[DMARC_FROM_ADDRS_MAX + 1];
	size_t i;

	for (i = 0; i < f->addrs_len; i++)
		out[i] = f->addrs[i] == '\0' ? ' ' : f->addrs[i];
	out[i > 0 ? i - 1 : 0] = '\0';
	return out;
}

Test(dmarc_from, every_address_is_kept_for_the_sender_map)
{
	struct dmarc_from f;
	static char many[DMARC_FROM_MAX_FIELD];
	size_t n = 0;

	cr_assert_eq(from1("Alice <Alice.S@Example.COM>", &f), DMARC_FROM_OK);
	cr_assert_str_eq(addrs_of(&f), "Alice.S@example.com");
	cr_assert_eq(from1("a@example.com, \"B\" <b@example.org>", &f),
	    DMARC_FROM_DOMAINS, "a second domain is still read");
	cr_assert_str_eq(addrs_of(&f), "a@example.com b@example.org");
	cr_assert_eq(from1("\"x y\"@example.com", &f), DMARC_FROM_OK);
	cr_assert_str_eq(addrs_of(&f), "\"x y\"@example.com");
	cr_assert_eq(from1("a@example.com, b@", &f), DMARC_FROM_SYNTAX);
	cr_assert_not(f.addrs_cut);
	while (n + 40 < sizeof(many) - 1)
		n += (size_t)sprintf(many + n, "%s%030zu@example.com",
		    n ? "," : "", n);
	cr_assert_eq(from1(many, &f), DMARC_FROM_OK);
	cr_assert(f.addrs_cut, "past DMARC_FROM_ADDRS_MAX: said, not lost");
}
