/*
 * test_dns_cache - answers kept for their TTL and no longer, capped at
 * a day, replaced by newer ones, and the bound on entries: expired
 * ones make room first, then the oldest.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "dns/dns_cache.h"

/* has - the cached answer for name at time now, or -1 */
static int
has(struct dns_cache *c, const char *name, double now)
{
	enum dns_result	 r;

	return dns_cache_get(c, name, now, &r) ? (int)r : -1;
}

Test(dns_cache, kept_for_the_ttl)
{
	struct dns_cache *c = dns_cache_new(10);

	cr_assert_not_null(c);
	dns_cache_put(c, "a.test", DNS_FOUND, 60, 1000);
	dns_cache_put(c, "b.test", DNS_NOT_FOUND, 300, 1000);
	cr_assert_eq(has(c, "a.test", 1000), DNS_FOUND);
	cr_assert_eq(has(c, "a.test", 1059.9), DNS_FOUND);
	cr_assert_eq(has(c, "b.test", 1059.9), DNS_NOT_FOUND);
	cr_assert_eq(has(c, "a.test", 1060), -1, "expired");
	cr_assert_eq(dns_cache_count(c), 1, "and dropped when seen");
	cr_assert_eq(has(c, "c.test", 1000), -1);
	cr_assert_eq(has(c, "A.test", 1000), -1, "the key is exact");
	dns_cache_free(c);
}

Test(dns_cache, zero_ttl_keeps_nothing)
{
	struct dns_cache *c = dns_cache_new(10);

	dns_cache_put(c, "a.test", DNS_FOUND, 0, 1000);
	cr_assert_eq(has(c, "a.test", 1000), -1);
	cr_assert_eq(dns_cache_count(c), 0);

	/* ...and takes the place of an older answer. */
	dns_cache_put(c, "a.test", DNS_FOUND, 60, 1000);
	dns_cache_put(c, "a.test", DNS_NOT_FOUND, 0, 1001);
	cr_assert_eq(has(c, "a.test", 1001), -1);
	dns_cache_free(c);
}

Test(dns_cache, ttl_capped_at_a_day)
{
	struct dns_cache *c = dns_cache_new(10);

	dns_cache_put(c, "a.test", DNS_FOUND, 7 * 86400, 0);
	cr_assert_eq(has(c, "a.test", 86399), DNS_FOUND);
	cr_assert_eq(has(c, "a.test", 86400), -1);
	dns_cache_free(c);
}

Test(dns_cache, newer_answer_replaces)
{
	struct dns_cache *c = dns_cache_new(10);

	dns_cache_put(c, "a.test", DNS_NOT_FOUND, 300, 0);
	dns_cache_put(c, "a.test", DNS_FOUND, 10, 5);
	cr_assert_eq(dns_cache_count(c), 1);
	cr_assert_eq(has(c, "a.test", 14), DNS_FOUND);
	cr_assert_eq(has(c, "a.test", 15), -1, "the new TTL holds");
	dns_cache_free(c);
}

Test(dns_cache, full_drops_the_oldest)
{
	struct dns_cache *c = dns_cache_new(3);

	dns_cache_put(c, "a.test", DNS_FOUND, 300, 0);
	dns_cache_put(c, "b.test", DNS_FOUND, 300, 1);
	dns_cache_put(c, "c.test", DNS_FOUND, 300, 2);
	dns_cache_put(c, "d.test", DNS_FOUND, 300, 3);
	cr_assert_eq(dns_cache_count(c), 3);
	cr_assert_eq(has(c, "a.test", 3), -1);
	cr_assert_eq(has(c, "b.test", 3), DNS_FOUND);
	cr_assert_eq(has(c, "d.test", 3), DNS_FOUND);
	dns_cache_free(c);
}

Test(dns_cache, full_drops_expired_first)
{
	struct dns_cache *c = dns_cache_new(3);

	dns_cache_put(c, "a.test", DNS_FOUND, 300, 0);
	dns_cache_put(c, "b.test", DNS_FOUND, 5, 0);
	dns_cache_put(c, "c.test", DNS_FOUND, 5, 0);
	dns_cache_put(c, "d.test", DNS_FOUND, 300, 10);
	cr_assert_eq(dns_cache_count(c), 2, "both expired ones went");
	cr_assert_eq(has(c, "a.test", 10), DNS_FOUND, "the oldest stayed");
	cr_assert_eq(has(c, "d.test", 10), DNS_FOUND);

	/* Nothing expired now: the oldest goes. */
	dns_cache_put(c, "e.test", DNS_FOUND, 300, 11);
	dns_cache_put(c, "f.test", DNS_FOUND, 300, 12);
	cr_assert_eq(dns_cache_count(c), 3);
	cr_assert_eq(has(c, "a.test", 12), -1);
	cr_assert_eq(has(c, "f.test", 12), DNS_FOUND);
	dns_cache_free(c);
}

Test(dns_cache, many_names)
{
	struct dns_cache *c = dns_cache_new(10000);
	char		  name[32];

	for (unsigned i = 0; i < 25000; i++) {
		snprintf(name, sizeof(name), "host%u.test", i);
		dns_cache_put(c, name, i % 2 ? DNS_FOUND : DNS_NOT_FOUND,
		    600, i / 100.0);
	}
	cr_assert_eq(dns_cache_count(c), 10000);
	cr_assert_eq(has(c, "host14999.test", 250), -1);
	cr_assert_eq(has(c, "host15000.test", 250), DNS_NOT_FOUND);
	cr_assert_eq(has(c, "host24999.test", 250), DNS_FOUND);
	dns_cache_free(c);
}

Test(dns_cache, bad_size)
{
	cr_assert_null(dns_cache_new(0));
	dns_cache_free(NULL);
}

Test(dns_cache, messages_kept_with_their_answer)
{
	struct dns_cache	*c = dns_cache_new(10);
	const unsigned char	*msg;
	size_t			 len;
	enum dns_result		 r;

	cr_assert_not_null(c);
	dns_cache_put_msg(c, "k", DNS_FOUND, (const unsigned char *)"abc", 3,
	    60, 0);
	cr_assert(dns_cache_get_msg(c, "k", 10, &r, &msg, &len));
	cr_assert_eq(r, DNS_FOUND);
	cr_assert_eq(len, 3);
	cr_assert(memcmp(msg, "abc", 3) == 0);
	cr_assert_not(dns_cache_get_msg(c, "k", 60, &r, &msg, &len));
	/* Too long a message: not kept. */
	{
		static unsigned char big[DNS_CACHE_MSG_MAX + 1];

		dns_cache_put_msg(c, "big", DNS_FOUND, big, sizeof(big), 60, 0);
		cr_assert_not(dns_cache_get_msg(c, "big", 1, &r, &msg, &len));
	}
	dns_cache_free(c);
}

Test(dns_cache, messages_bounded_in_bytes)
{
	static unsigned char	 msg[DNS_CACHE_MSG_MAX];
	size_t			 fit = DNS_CACHE_BYTES / sizeof(msg);
	struct dns_cache	*c = dns_cache_new(10 * fit);
	char			 name[32];
	enum dns_result		 r;

	cr_assert_not_null(c);
	for (size_t i = 0; i < 2 * fit; i++) {
		snprintf(name, sizeof(name), "n%zu", i);
		dns_cache_put_msg(c, name, DNS_FOUND, msg, sizeof(msg), 600,
		    0);
	}
	/* The count bound is far; the bytes keep the newest that fit. */
	cr_assert_eq(dns_cache_count(c), fit);
	cr_assert_not(dns_cache_get(c, "n0", 1, &r));
	snprintf(name, sizeof(name), "n%zu", 2 * fit - 1);
	cr_assert(dns_cache_get(c, name, 1, &r));
	dns_cache_free(c);
}
