/*
 * test_srs - the Sender Rewriting Scheme: a forward's sender made into
 * SRS0 and back, an SRS0 of another forwarder made into SRS1 and back to
 * that forwarder, an SRS1 signed again; what is refused (a forged or
 * truncated hash, an old timestamp, a secret rotated away, a malformed
 * address) and what is left alone (the null sender, a plain user);
 * the keys: srs_secret adding up, srs_secret_file after it, secrets
 * never printed, srs_domain's default.
 */
#include <criterion/criterion.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/srs.h"
#include "conf/config.h"

static const char *const key[] = { "first secret, long enough" };
static const char *const rotated[] = { "the new secret", "first secret, "
    "long enough" };
static const char *const other[] = { "somebody else's secret" };
static const time_t now = 1796256000;	/* 2026-12-02 */

/* fwd - sender forwarded by us (fwd.example) under key */
static void
fwd(const char *sender, char *out, size_t len)
{
	cr_assert_eq(srs_forward(key, 1, "fwd.example", sender, now, out,
	    len), SRS_OK, "%s", sender);
}

/* rev - the local part of addr reversed */
static enum srs_result
rev(const char *const *k, size_t n, const char *addr, time_t t, char *out,
    size_t len)
{
	char local[512];
	const char *at = strrchr(addr, '@');

	cr_assert_not_null(at);
	snprintf(local, sizeof(local), "%.*s", (int)(at - addr), addr);
	return srs_reverse(k, n, local, t, out, len);
}

Test(srs, srs0_round_trip)
{
	char a[512], b[512];

	fwd("Alice.Smith@Origin.example", a, sizeof(a));
	/* SRS0=HHHH=TT=domain=local@ours, the forms postsrsd sends */
	cr_assert(strncmp(a, "SRS0=", 5) == 0, "%s", a);
	cr_assert(strstr(a, "=Origin.example=Alice.Smith@fwd.example") != NULL,
	    "%s", a);
	cr_assert_eq(a[9], '=', "%s", a);
	cr_assert_eq(rev(key, 1, a, now, b, sizeof(b)), SRS_OK);
	cr_assert_str_eq(b, "Alice.Smith@Origin.example");
}

Test(srs, case_folded_on_the_way_back)
{
	char a[512], b[512];

	fwd("bob@origin.example", a, sizeof(a));
	for (char *p = a; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	cr_assert_eq(rev(key, 1, a, now, b, sizeof(b)), SRS_OK, "%s", a);
	cr_assert_str_eq(b, "bob@origin.example");
}

Test(srs, forged_hash_refused)
{
	char a[512], b[512];

	fwd("bob@origin.example", a, sizeof(a));
	/* another key's hash, or ours with one letter changed */
	cr_assert_eq(rev(other, 1, a, now, b, sizeof(b)), SRS_BAD_HASH);
	a[5] = a[5] == 'A' ? 'B' : 'A';
	cr_assert_eq(rev(key, 1, a, now, b, sizeof(b)), SRS_BAD_HASH);
	/* a made-up address that names another victim */
	cr_assert_eq(srs_reverse(key, 1, "SRS0=abcd=AA=victim.example=x",
	    now, b, sizeof(b)), SRS_BAD_HASH);
}

Test(srs, expired_after_21_days)
{
	char a[512], b[512];

	fwd("bob@origin.example", a, sizeof(a));
	cr_assert_eq(rev(key, 1, a, now + 21 * 86400, b, sizeof(b)), SRS_OK);
	cr_assert_eq(rev(key, 1, a, now + 22 * 86400, b, sizeof(b)),
	    SRS_EXPIRED);
	/* a day number from the future is no fresher */
	cr_assert_eq(rev(key, 1, a, now - 2 * 86400, b, sizeof(b)),
	    SRS_EXPIRED);
}

Test(srs, rotation)
{
	char a[512], b[512];

	fwd("bob@origin.example", a, sizeof(a));
	/* signed by the old key, still verified after the new one came
	 * first; gone once the old key is dropped */
	cr_assert_eq(rev(rotated, 2, a, now, b, sizeof(b)), SRS_OK);
	cr_assert_eq(rev(rotated, 1, a, now, b, sizeof(b)), SRS_BAD_HASH);
	cr_assert_eq(srs_forward(rotated, 2, "fwd.example",
	    "bob@origin.example", now, a, sizeof(a)), SRS_OK);
	cr_assert_eq(rev(key, 1, a, now, b, sizeof(b)), SRS_BAD_HASH);
	cr_assert_eq(rev(rotated, 2, a, now, b, sizeof(b)), SRS_OK);
}

Test(srs, srs0_of_another_forwarder_becomes_srs1)
{
	char first[512], a[512], b[512];

	/* first.example forwarded it (its own key), then we do */
	cr_assert_eq(srs_forward(other, 1, "first.example",
	    "bob@origin.example", now, first, sizeof(first)), SRS_OK);
	fwd(first, a, sizeof(a));
	cr_assert(strncmp(a, "SRS1=", 5) == 0, "%s", a);
	cr_assert(strstr(a, "=first.example==") != NULL, "%s", a);
	/* its bounce goes back to first.example's SRS0, unchanged */
	cr_assert_eq(rev(key, 1, a, now, b, sizeof(b)), SRS_OK);
	cr_assert_str_eq(b, first);
	/* which first.example reverses */
	cr_assert_eq(rev(other, 1, b, now, a, sizeof(a)), SRS_OK);
	cr_assert_str_eq(a, "bob@origin.example");
}

Test(srs, srs1_signed_again_keeps_the_first_forwarder)
{
	char first[512], second[512], a[512], b[512];

	cr_assert_eq(srs_forward(other, 1, "first.example",
	    "bob@origin.example", now, first, sizeof(first)), SRS_OK);
	cr_assert_eq(srs_forward(other, 1, "second.example", first, now,
	    second, sizeof(second)), SRS_OK);
	fwd(second, a, sizeof(a));
	cr_assert(strncmp(a, "SRS1=", 5) == 0, "%s", a);
	cr_assert(strstr(a, "=first.example==") != NULL, "%s", a);
	cr_assert(strstr(a, "second.example") == NULL, "%s", a);
	cr_assert_eq(rev(key, 1, a, now, b, sizeof(b)), SRS_OK);
	cr_assert_str_eq(b, first);
	/* SRS1 carries no time of its own: the SRS0 inside has it */
	cr_assert_eq(rev(key, 1, a, now + 400 * 86400, b, sizeof(b)), SRS_OK);
	cr_assert_eq(rev(other, 1, a, now, b, sizeof(b)), SRS_BAD_HASH);
}

Test(srs, left_alone)
{
	char a[512];

	cr_assert_eq(srs_forward(key, 1, "fwd.example", "", now, a,
	    sizeof(a)), SRS_NOT_SRS);
	cr_assert_eq(srs_forward(key, 1, "fwd.example", "postmaster", now, a,
	    sizeof(a)), SRS_NOT_SRS);
	cr_assert_eq(srs_forward(key, 0, "fwd.example", "a@b.example", now,
	    a, sizeof(a)), SRS_ERROR);
	cr_assert_eq(srs_reverse(key, 1, "alice", now, a, sizeof(a)),
	    SRS_NOT_SRS);
	cr_assert_eq(srs_reverse(key, 1, "srs0", now, a, sizeof(a)),
	    SRS_NOT_SRS);
	cr_assert_eq(srs_reverse(key, 1, "srs0x=a", now, a, sizeof(a)),
	    SRS_NOT_SRS);
}

Test(srs, malformed)
{
	static const char *const bad[] = { "SRS0=", "SRS0=abcd", "SRS0=abcd=AA",
	    "SRS0=abcd=AA=d", "SRS0=abcd=AA=d=", "SRS0=abcd=A=d=l",
	    "SRS0=abcd=A1=d=l", "SRS0=abcd=AA==l", "SRS1=", "SRS1=abcd=h",
	    "SRS1=abcd==x=l", "SRS1=abcd=h=x", "SRS1=abcd=h=" };
	char a[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		cr_assert_eq(srs_reverse(key, 1, bad[i], now, a, sizeof(a)),
		    SRS_MALFORMED, "%s", bad[i]);
}

Test(srs, too_long_for_the_buffer)
{
	char a[512], small[20];

	cr_assert_eq(srs_forward(key, 1, "fwd.example", "bob@origin.example",
	    now, small, sizeof(small)), SRS_TOO_LONG);
	fwd("bob@origin.example", a, sizeof(a));
	cr_assert_eq(rev(key, 1, a, now, small, 10), SRS_TOO_LONG);
}

/* --- the keys ------------------------------------------------------------ */

static struct config *
parse(const char *text, char **errors)
{
	*errors = NULL;
	return config_parse(text, "t.conf", errors);
}

Test(srs_config, keys_add_up_hidden_and_domain_defaults_to_hostname)
{
	char *errors, *out = NULL, path[] = "/tmp/test_srs.XXXXXX", text[256];
	size_t outlen = 0;
	struct config *cfg;
	FILE *fp;
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "# rotated out next month\n\nthird-one\n", 36), 36);
	close(fd);
	snprintf(text, sizeof(text), "hostname = mx.example.org\n"
	    "srs_secret = first-one, second\nsrs_secret = fourth\n"
	    "srs_secret_file = %s\n", path);
	cfg = parse(text, &errors);
	cr_assert_not_null(cfg, "%s", errors ? errors : "");
	cr_assert_null(errors, "%s", errors);
	cr_assert_eq(cfg->srs_secrets.n, 4);
	cr_assert_str_eq(cfg->srs_secrets.v[0], "first-one");
	cr_assert_str_eq(cfg->srs_secrets.v[2], "fourth");
	cr_assert_str_eq(cfg->srs_secrets.v[3], "third-one");
	cr_assert_str_eq(cfg->srs_domain, "mx.example.org");
	fp = open_memstream(&out, &outlen);
	config_print(cfg, fp);
	fclose(fp);
	cr_assert(strstr(out, "first-one") == NULL && strstr(out, "third-one")
	    == NULL, "a secret printed");
	cr_assert(strstr(out, "srs_secret = (secret 4, hidden)") != NULL);
	free(out);
	config_free(cfg);
	unlink(path);

	/* a file that is not there, or holds no secret */
	snprintf(text, sizeof(text), "srs_secret_file = %s\n", path);
	cr_assert_null(parse(text, &errors));
	cr_assert(strstr(errors, "t.conf:1: srs_secret_file: ") != NULL, "%s",
	    errors);
	free(errors);
	/* hostname given: the machine's own may draw a warning */
	cfg = parse("hostname = mx.example.org\nsrs_domain = "
	    "srs.example.org\n", &errors);
	cr_assert_not_null(cfg, "%s", errors ? errors : "");
	cr_assert_null(errors, "%s", errors);
	cr_assert_eq(cfg->srs_secrets.n, 0);
	cr_assert_str_eq(cfg->srs_domain, "srs.example.org");
	config_free(cfg);
	cr_assert_null(parse("srs_secret = caf\xc3\xa9\n", &errors));
	cr_assert(strstr(errors, "printable") != NULL, "%s", errors);
	free(errors);
}
