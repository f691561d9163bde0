/*
 * test_resolve - blocking MX and address lookups against dnsmasq on
 * 127.0.0.1, and against sockets that never answer or are closed.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "conf/config.h"
#include "dnsmasq.h"
#include "dns/resolve.h"

static const char *const zone[] = {
	"--mx-host=multi.test,mx-far.multi.test,20",
	"--mx-host=multi.test,mx-a.multi.test,10",
	"--mx-host=multi.test,mx-b.multi.test,10",
	"--mx-host=multi.test,mx-near.multi.test,5",
	"--mx-host=one.test,mail.one.test,10",
	"--host-record=mail.one.test,192.0.2.25",
	"--host-record=a-only.test,192.0.2.10",
	"--host-record=aaaa-only.test,2001:db8::10",
	"--host-record=both.test,192.0.2.11,2001:db8::11",
	"--txt-record=txt-only.test,no address here",
	/* RFC 7505 null MX, "0 .", beside an address. */
	"--dns-rr=nullmx.test,15,000000",
	"--host-record=nullmx.test,192.0.2.99",
	/* TLSA 3 1 1 <4 bytes>, 2 0 2 <1 byte>, and one too short */
	"--dns-rr=_25._tcp.mail.one.test,52,03010101020304",
	"--dns-rr=_25._tcp.mail.one.test,52,020002ff",
	"--dns-rr=_25._tcp.mail.one.test,52,0301",
	/* TXT of two strings, and a second record */
	"--txt-record=_mta-sts.one.test,v=STSv1; ,id=2024",
	"--txt-record=_smtp._tls.one.test,v=TLSRPTv1; rua=mailto:r@one.test",
	"--cname=alias.one.test,mail.one.test",
	NULL
};

static struct dnsmasq	 dm;
static struct config	 cfg;
static char		 server[32];
static char		*servers[] = { server };

/* ask - the config asking 127.0.0.1:port, with timeout */
static void
ask(unsigned port, unsigned timeout)
{
	memset(&cfg, 0, sizeof(cfg));
	snprintf(server, sizeof(server), "127.0.0.1:%u", port);
	cfg.dns_servers.v = servers;
	cfg.dns_servers.n = 1;
	cfg.dns_timeout = timeout;
}

static void
setup(void)
{
	dnsmasq_start(&dm, zone);
	ask(dm.port, 2);
}

static void
teardown(void)
{
	dnsmasq_stop(&dm);
}

TestSuite(resolve, .init = setup, .fini = teardown, .timeout = 30);

static const char *
addr_text(const struct sockaddr_storage *ss, char *out, size_t len)
{
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
		    out, (socklen_t)len);
	else
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->
		    sin6_addr, out, (socklen_t)len);
	return out;
}

Test(resolve, mx_in_preference_order)
{
	struct mx_host	 mx[8];
	size_t		 n;
	bool		 a_first = false, b_first = false;

	for (int i = 0; i < 40; i++) {
		cr_assert_eq(resolve_mx(&cfg, "multi.test", mx, 8, &n),
		    RESOLVE_OK);
		cr_assert_eq(n, 4);
		cr_assert_str_eq(mx[0].name, "mx-near.multi.test");
		cr_assert_eq(mx[0].pref, 5);
		cr_assert_eq(mx[1].pref, 10);
		cr_assert_eq(mx[2].pref, 10);
		cr_assert_str_eq(mx[3].name, "mx-far.multi.test");
		cr_assert_eq(mx[3].pref, 20);
		if (strcmp(mx[1].name, "mx-a.multi.test") == 0)
			a_first = true;
		else {
			cr_assert_str_eq(mx[1].name, "mx-b.multi.test");
			b_first = true;
		}
	}
	/* Equal preferences in random order: both orders seen. */
	cr_assert(a_first && b_first);
}

Test(resolve, mx_fewer_slots_keeps_the_best)
{
	struct mx_host	 mx[1];
	size_t		 n;

	cr_assert_eq(resolve_mx(&cfg, "MULTI.test.", mx, 1, &n), RESOLVE_OK);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(mx[0].name, "mx-near.multi.test");
}

Test(resolve, long_mx_list_sorted_before_it_is_cut)
{
	/* 65 records, the best first and last in the answer: whichever
	 * order the server keeps, one of them comes after the 64th. Short
	 * names, so that the answer fits one EDNS datagram. */
	enum { FAR = 63 };
	static char	 rec[FAR + 2][64];
	const char	*records[FAR + 3];
	struct dnsmasq	 long_dm;
	struct mx_host	 mx[4];
	size_t		 n, k = 0;

	snprintf(rec[k], sizeof(rec[k]), "--mx-host=long.test,a.long.test,5");
	records[k] = rec[k];
	k++;
	for (int i = 0; i < FAR; i++, k++) {
		snprintf(rec[k], sizeof(rec[k]),
		    "--mx-host=long.test,f.long.test,%d", 50 + i);
		records[k] = rec[k];
	}
	snprintf(rec[k], sizeof(rec[k]), "--mx-host=long.test,b.long.test,5");
	records[k] = rec[k];
	records[++k] = NULL;
	dnsmasq_start(&long_dm, records);
	ask(long_dm.port, 2);
	cr_assert_eq(resolve_mx(&cfg, "long.test", mx, 4, &n), RESOLVE_OK);
	dnsmasq_stop(&long_dm);
	cr_assert_eq(n, 4);
	cr_assert_eq(mx[0].pref, 5, "%s %u", mx[0].name, mx[0].pref);
	cr_assert_eq(mx[1].pref, 5, "%s %u", mx[1].name, mx[1].pref);
	cr_assert_eq(mx[2].pref, 50, "%s %u", mx[2].name, mx[2].pref);
	cr_assert_eq(mx[3].pref, 51, "%s %u", mx[3].name, mx[3].pref);
}

Test(resolve, implicit_mx_and_none)
{
	struct mx_host	 mx[4];
	size_t		 n;

	/* No MX, an address: the domain itself (RFC 5321 5.1). */
	cr_assert_eq(resolve_mx(&cfg, "a-only.test", mx, 4, &n), RESOLVE_OK);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(mx[0].name, "a-only.test");
	cr_assert_eq(mx[0].pref, 0);
	cr_assert_eq(resolve_mx(&cfg, "aaaa-only.test", mx, 4, &n),
	    RESOLVE_OK);
	cr_assert_str_eq(mx[0].name, "aaaa-only.test");
	/* Neither MX nor address. */
	cr_assert_eq(resolve_mx(&cfg, "txt-only.test", mx, 4, &n),
	    RESOLVE_NONE);
	cr_assert_eq(n, 0);
	/* NXDOMAIN. */
	cr_assert_eq(resolve_mx(&cfg, "nonexistent.test", mx, 4, &n),
	    RESOLVE_NONE);
	/* Not a host name at all: not asked. */
	cr_assert_eq(resolve_mx(&cfg, "[192.0.2.1]", mx, 4, &n),
	    RESOLVE_NONE);
}

Test(resolve, null_mx_takes_no_mail)
{
	struct mx_host	 mx[4];
	size_t		 n;

	cr_assert_eq(resolve_mx(&cfg, "nullmx.test", mx, 4, &n),
	    RESOLVE_NONE);
	cr_assert_eq(n, 0);
}

Test(resolve, addresses_ipv4_first)
{
	struct sockaddr_storage	 a[4];
	size_t			 n;
	char			 t[64];

	cr_assert_eq(resolve_addrs(&cfg, "both.test", a, 4, &n), RESOLVE_OK);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(addr_text(&a[0], t, sizeof(t)), "192.0.2.11");
	cr_assert_str_eq(addr_text(&a[1], t, sizeof(t)), "2001:db8::11");
	cr_assert_eq(resolve_addrs(&cfg, "aaaa-only.test", a, 4, &n),
	    RESOLVE_OK);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(addr_text(&a[0], t, sizeof(t)), "2001:db8::10");
	cr_assert_eq(resolve_addrs(&cfg, "mail.one.test", a, 1, &n),
	    RESOLVE_OK);
	cr_assert_eq(n, 1);
	cr_assert_eq(resolve_addrs(&cfg, "txt-only.test", a, 4, &n),
	    RESOLVE_NONE);
	cr_assert_eq(resolve_addrs(&cfg, "nonexistent.test", a, 4, &n),
	    RESOLVE_NONE);
	cr_assert_eq(n, 0);
}

Test(resolve, literals_without_a_query)
{
	struct sockaddr_storage	 a[2];
	size_t			 n;
	char			 t[64];

	dnsmasq_stop(&dm);	/* nobody to ask */
	cr_assert_eq(resolve_addrs(&cfg, "192.0.2.7", a, 2, &n), RESOLVE_OK);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(addr_text(&a[0], t, sizeof(t)), "192.0.2.7");
	cr_assert_eq(resolve_addrs(&cfg, "2001:db8::7", a, 2, &n),
	    RESOLVE_OK);
	cr_assert_str_eq(addr_text(&a[0], t, sizeof(t)), "2001:db8::7");
	cr_assert_eq(((struct sockaddr_in6 *)&a[0])->sin6_port, 0);
}

static double
since(const struct timespec *t0)
{
	struct timespec	 t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

Test(resolve, server_that_never_answers)
{
	struct mx_host		 mx[4];
	struct sockaddr_storage	 a[4];
	struct timespec		 t0;
	size_t			 n;
	unsigned		 port;
	int			 fd = udp_socket(&port);	/* never read */

	ask(port, 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(resolve_mx(&cfg, "one.test", mx, 4, &n), RESOLVE_TEMP);
	cr_assert(since(&t0) >= 0.9 && since(&t0) < 4.0, "%.2fs",
	    since(&t0));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(resolve_addrs(&cfg, "both.test", a, 4, &n),
	    RESOLVE_TEMP);
	/* A, then AAAA: one timeout each (slack for a busy machine). */
	cr_assert(since(&t0) < 5.0, "%.2fs", since(&t0));
	close(fd);
}

Test(resolve, server_gone)
{
	struct mx_host	 mx[4];
	size_t		 n;
	unsigned	 port;

	close(udp_socket(&port));	/* nobody listens there now */
	ask(port, 1);
	cr_assert_eq(resolve_mx(&cfg, "one.test", mx, 4, &n), RESOLVE_TEMP);
}

/* --- TLSA, TXT, CNAME; with dnssec = yes, a server that does not
 * validate (dnsmasq here) makes nothing secure --------------------------- */

static bool
has_tlsa(const struct dns_tlsa_set *s, const char *text)
{
	char buf[128];

	for (size_t i = 0; i < s->n; i++)
		if (dns_tlsa_format(&s->v[i], buf, sizeof(buf)) == 0 &&
		    strcmp(buf, text) == 0)
			return true;
	return false;
}

Test(resolve, tlsa_records)
{
	struct dns_tlsa_set	 s;
	bool			 secure = true;

	cfg.dnssec = true;
	cr_assert_eq(resolve_tlsa(&cfg, "mail.one.test.", 25, &s, &secure),
	    RESOLVE_OK);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.malformed, 1);
	cr_assert(has_tlsa(&s, "3 1 1 01020304"));
	cr_assert(has_tlsa(&s, "2 0 2 FF"));
	cr_assert_not(secure, "dnsmasq does not validate");
	dns_tlsa_set_free(&s);
	/* another port, or a host without them: none */
	cr_assert_eq(resolve_tlsa(&cfg, "mail.one.test", 465, &s, NULL),
	    RESOLVE_NONE);
	cr_assert_eq(s.n, 0);
	dns_tlsa_set_free(&s);
	cr_assert_eq(resolve_tlsa(&cfg, "nowhere.test", 25, &s, NULL),
	    RESOLVE_NONE);
	dns_tlsa_set_free(&s);
}

Test(resolve, txt_records_joined)
{
	struct dns_txt_set	 s;
	bool			 secure = true;

	cr_assert_eq(resolve_txt(&cfg, "_mta-sts.one.test", &s, &secure),
	    RESOLVE_OK);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.v[0].text, "v=STSv1; id=2024");
	cr_assert_eq(s.v[0].len, strlen("v=STSv1; id=2024"));
	cr_assert_not(secure);
	dns_txt_set_free(&s);
	cr_assert_eq(resolve_txt(&cfg, "_smtp._tls.one.test", &s, NULL),
	    RESOLVE_OK);
	cr_assert_str_eq(s.v[0].text, "v=TLSRPTv1; rua=mailto:r@one.test");
	dns_txt_set_free(&s);
	cr_assert_eq(resolve_txt(&cfg, "mail.one.test", &s, NULL),
	    RESOLVE_NONE);
	dns_txt_set_free(&s);
	cr_assert_eq(resolve_txt(&cfg, "nowhere.test", &s, NULL),
	    RESOLVE_NONE);
	dns_txt_set_free(&s);
	/* a name longer than DNS allows has no record, and is not asked */
	char long_name[300];

	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	for (size_t i = 60; i < sizeof(long_name) - 1; i += 61)
		long_name[i] = '.';
	cr_assert_eq(resolve_txt(&cfg, long_name, &s, NULL), RESOLVE_NONE);
	dns_txt_set_free(&s);
}

Test(resolve, cname_end_and_no_dnssec)
{
	struct sockaddr_storage	 a[4];
	struct resolve_sec	 sec;
	size_t			 n;

	cr_assert_eq(resolve_addrs_sec(&cfg, "alias.one.test", a, 4, &n,
	    &sec), RESOLVE_OK);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(sec.cname, "mail.one.test");
	cr_assert_not(sec.secure);
	cr_assert_eq(resolve_addrs_sec(&cfg, "mail.one.test", a, 4, &n,
	    &sec), RESOLVE_OK);
	cr_assert_str_eq(sec.cname, "");
}

Test(resolve, tlsa_and_txt_fail_when_nobody_answers)
{
	struct dns_tlsa_set	 s;
	struct dns_txt_set	 t;
	unsigned		 port;
	bool			 secure = true;

	close(udp_socket(&port));
	ask(port, 1);
	cr_assert_eq(resolve_tlsa(&cfg, "mail.one.test", 25, &s, &secure),
	    RESOLVE_TEMP);
	cr_assert_not(secure);
	dns_tlsa_set_free(&s);
	cr_assert_eq(resolve_txt(&cfg, "_mta-sts.one.test", &t, NULL),
	    RESOLVE_TEMP);
	dns_txt_set_free(&t);
}
