/*
 * test_ownaddr - which addresses are this server's, which listener a
 * smarthost would reach, and where an MX list is cut.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "conf/ownaddr.h"
#include "deliver/deliver_int.h"

static struct sockaddr_storage
sa(const char *text)
{
	struct sockaddr_storage ss;

	cr_assert_eq(netaddr_from_text(text, &ss), 0, "bad address %s", text);
	return ss;
}

static bool
own(const struct ownaddr *o, const char *text)
{
	struct sockaddr_storage ss = sa(text);

	return ownaddr_is_own(o, (struct sockaddr *)&ss);
}

static struct config *
conf(const char *text)
{
	char *errs = NULL;
	struct config *cfg = config_parse(text, "test.conf", &errs);

	cr_assert_not_null(cfg, "%s", errs ? errs : "");
	free(errs);
	return cfg;
}

#define BASE	"hostname = mx.example.test\nqueue_dir = /tmp/q\n"

Test(ownaddr, exact_addresses_only)
{
	struct ownaddr o;
	struct sockaddr_storage a = sa("192.0.2.7"), b = sa("2001:db8::7");

	memset(&o, 0, sizeof(o));
	cr_assert_eq(ownaddr_add(&o, (struct sockaddr *)&a), 0);
	cr_assert_eq(ownaddr_add(&o, (struct sockaddr *)&b), 0);
	cr_assert_eq(ownaddr_add(&o, (struct sockaddr *)&a), 0);
	cr_assert_eq(o.n, 2, "a duplicate is kept once");
	cr_assert(own(&o, "192.0.2.7"));
	cr_assert(own(&o, "::ffff:192.0.2.7"), "IPv4-mapped is the same");
	cr_assert(own(&o, "2001:db8::7"));
	cr_assert_not(own(&o, "192.0.2.8"));
	cr_assert_not(own(&o, "2001:db8::8"));
	ownaddr_free(&o);
}

Test(ownaddr, interfaces_listen_lines_and_own_addresses)
{
	struct config *cfg = conf(BASE "listen = 127.9.8.7:2525 mx\n"
	    "own_addresses = 198.51.100.25 2001:db8:25::/64\n");
	struct ownaddr o;
	char err[128];

	cr_assert_eq(ownaddr_load(&o, cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert(own(&o, "127.0.0.1"), "on lo");
	cr_assert(own(&o, "::1"), "on lo");
	cr_assert(own(&o, "127.23.4.5"), "on no interface, but Linux's");
	cr_assert(own(&o, "::ffff:127.0.0.2"), "IPv4-mapped loopback");
	cr_assert(own(&o, "0.0.0.0"), "unspecified: the local host");
	cr_assert(own(&o, "0.1.2.3"), "0.0.0.0/8");
	cr_assert(own(&o, "::"), "unspecified: the local host");
	cr_assert(own(&o, "::ffff:0.0.0.0"));
	cr_assert(own(&o, "127.9.8.7"), "a listen line");
	cr_assert(own(&o, "198.51.100.25"), "own_addresses");
	cr_assert(own(&o, "2001:db8:25::99"), "own_addresses");
	cr_assert_not(own(&o, "198.51.100.26"));
	ownaddr_free(&o);
	config_free(cfg);
}

Test(ownaddr, mx_allow_loopback_leaves_only_named_loopback)
{
	struct config *cfg = conf(BASE "listen = 127.9.8.7:2525 mx\n"
	    "mx_allow_loopback = yes\n");
	struct ownaddr o;
	char err[128];

	cr_assert_eq(ownaddr_load(&o, cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert(own(&o, "127.0.0.1"), "on lo");
	cr_assert(own(&o, "127.9.8.7"), "a listen line");
	cr_assert_not(own(&o, "127.23.4.5"), "a laboratory MX host");
	cr_assert(own(&o, "0.0.0.0"), "unspecified, whatever the setting");
	cr_assert(own(&o, "::"));
	ownaddr_free(&o);
	config_free(cfg);
	/* a wildcard listener takes every loopback address */
	cfg = conf(BASE "listen = 0.0.0.0:2525 mx\nmx_allow_loopback = yes\n");
	cr_assert_eq(ownaddr_load(&o, cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert(own(&o, "127.23.4.5"));
	ownaddr_free(&o);
	config_free(cfg);
}

Test(ownaddr, listener_by_address_and_port)
{
	struct config *cfg = conf(BASE "listen = 127.0.0.1:2525 mx\n"
	    "listen = *:26 mx\nown_addresses = 198.51.100.25\n");
	struct ownaddr o;
	struct sockaddr_storage lo = sa("127.0.0.1"), nat = sa("198.51.100.25"),
	    other = sa("127.23.4.5");
	char err[128];

	cr_assert_eq(ownaddr_load(&o, cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert(ownaddr_is_listener(&o, cfg, (struct sockaddr *)&lo, 2525));
	cr_assert_not(ownaddr_is_listener(&o, cfg, (struct sockaddr *)&lo,
	    2526), "a sink on another port of 127.0.0.1");
	cr_assert(ownaddr_is_listener(&o, cfg, (struct sockaddr *)&lo, 26),
	    "wildcard listen, own address");
	cr_assert(ownaddr_is_listener(&o, cfg, (struct sockaddr *)&nat, 26));
	cr_assert(ownaddr_is_listener(&o, cfg, (struct sockaddr *)&other,
	    26), "a wildcard takes all of 127.0.0.0/8");
	cr_assert_not(ownaddr_is_listener(&o, cfg, (struct sockaddr *)&other,
	    2525), "127.0.0.1:2525 only");
	ownaddr_free(&o);
	config_free(cfg);
}

Test(ownaddr, unspecified_listen_hosts_are_wildcards)
{
	const char *lines[] = { "listen = 0.0.0.0:2525 mx\n",
	    "listen = [::]:2525 mx\n" };
	struct sockaddr_storage lo = sa("127.0.0.1"), lo2 = sa("127.0.0.2"),
	    lo6 = sa("::1"), any = sa("0.0.0.0"), mapped = sa("::ffff:127.0.0.1");
	struct ownaddr o;
	char err[128];

	for (size_t i = 0; i < 2; i++) {
		char text[256];
		struct config *cfg;

		snprintf(text, sizeof(text), BASE "%s", lines[i]);
		cfg = conf(text);

		cr_assert_eq(ownaddr_load(&o, cfg, err, sizeof(err)), 0, "%s",
		    err);
		cr_assert(ownaddr_is_listener(&o, cfg, (struct sockaddr *)&lo,
		    2525), "%s", lines[i]);
		cr_assert(ownaddr_is_listener(&o, cfg, (struct sockaddr *)&lo2,
		    2525), "%s", lines[i]);
		cr_assert(ownaddr_is_listener(&o, cfg, (struct sockaddr *)&lo6,
		    2525), "%s", lines[i]);
		cr_assert(ownaddr_is_listener(&o, cfg, (struct sockaddr *)&any,
		    2525), "%s", lines[i]);
		cr_assert(ownaddr_is_listener(&o, cfg,
		    (struct sockaddr *)&mapped, 2525), "%s", lines[i]);
		cr_assert_not(ownaddr_is_listener(&o, cfg,
		    (struct sockaddr *)&lo, 2526), "%s", lines[i]);
		ownaddr_free(&o);
		config_free(cfg);
	}
}

static size_t
cut(const unsigned *pref, const bool *self, size_t n)
{
	struct mx_host mx[8];

	for (size_t i = 0; i < n; i++) {
		mx[i].pref = pref[i];
		snprintf(mx[i].name, sizeof(mx[i].name), "mx%zu.example", i);
	}
	return deliver_mx_cut(mx, self, n);
}

Test(ownaddr, mx_list_cut_at_our_preference)
{
	unsigned p[] = { 10, 20, 20, 30 };
	bool none[] = { false, false, false, false };
	bool backup[] = { false, true, false, false };
	bool tie[] = { false, false, true, false };
	bool best[] = { true, false, false, false };
	bool last[] = { false, false, false, true };

	cr_assert_eq(cut(p, none, 4), 4, "not ours: every host");
	cr_assert_eq(cut(p, backup, 4), 1, "a backup MX tries the primary");
	cr_assert_eq(cut(p, tie, 4), 1, "a host at our preference goes too");
	cr_assert_eq(cut(p, best, 4), 0, "the best MX: nothing left");
	cr_assert_eq(cut(p, last, 4), 3);
	cr_assert_eq(cut(p, none, 0), 0);
}
