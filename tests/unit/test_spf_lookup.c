/*
 * test_spf_lookup - an SPF check on a real libev loop through c-ares
 * (daemon/spf_lookup.c), as the daemon runs it: answered by a dnsmasq on
 * loopback (and from the cache), cancelled while a question is out, cut
 * short by its time budget, finished before it starts when there is
 * nothing to ask.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <ev.h>

#include "auth/spf.h"
#include "daemon/spf_lookup.h"
#include "dns/dns.h"
#include "dnsmasq.h"

static struct ev_loop	*loop;
static struct dnsmasq	 dm;

struct outcome {
	int		 calls;
	enum spf_result	 result;
	char		 domain[256];
	char		 problem[256];
};

static void
on_done(void *arg, const struct spf *spf)
{
	struct outcome *o = arg;

	o->calls++;
	cr_assert_not_null(spf);
	o->result = spf_result(spf);
	snprintf(o->domain, sizeof(o->domain), "%s", spf_domain(spf));
	snprintf(o->problem, sizeof(o->problem), "%s", spf_problem(spf));
	ev_break(loop, EVBREAK_ALL);
}

/* start - a check of from, sent by ip */
static struct spf_lookup *
start(struct dns *d, const char *ip, const char *from, double budget,
    struct outcome *o)
{
	static unsigned char	addr[4];
	struct spf_params	p = { 0 };

	cr_assert_eq(inet_pton(AF_INET, ip, addr), 1);
	p.family = AF_INET;
	p.ip = addr;
	p.mail_from = from;
	p.helo = "client.example.org";
	return spf_lookup_start(loop, d, &p, budget, on_done, o);
}

static void
setup(void)
{
	loop = ev_loop_new(EVFLAG_AUTO);
	cr_assert_not_null(loop);
}

static void
teardown(void)
{
	dnsmasq_stop(&dm);
	ev_loop_destroy(loop);
}

TestSuite(spf_lookup, .init = setup, .fini = teardown, .timeout = 30);

Test(spf_lookup, answered_from_the_loop)
{
	static const char *const zone[] = {
		"--txt-record=example.test,v=spf1 ip4:192.0.2.1 a:mx.example.test -all",
		"--host-record=mx.example.test,192.0.2.25",
		NULL
	};
	struct outcome	 o = { 0 };
	struct dns	*d;

	dnsmasq_start(&dm, zone);
	d = dns_at(loop, dm.port, 2);
	cr_assert_not_null(start(d, "192.0.2.1", "a@example.test", 0, &o));
	cr_assert_eq(o.calls, 0);
	loop_run(loop, 10);
	cr_assert_eq(o.calls, 1);
	cr_assert_eq(o.result, SPF_PASS);
	cr_assert_str_eq(o.domain, "example.test");

	memset(&o, 0, sizeof(o));
	cr_assert_not_null(start(d, "192.0.2.25", "a@example.test", 5, &o));
	loop_run(loop, 10);
	cr_assert_eq(o.result, SPF_PASS);

	/* Every answer is in the cache now: with the server gone, the
	 * check is done before the call returns. */
	dnsmasq_stop(&dm);
	memset(&o, 0, sizeof(o));
	cr_assert_null(start(d, "192.0.2.9", "a@example.test", 5, &o));
	cr_assert_eq(o.calls, 1);
	cr_assert_eq(o.result, SPF_FAIL);
	dns_free(d);
}

Test(spf_lookup, cancelled_check_never_answers)
{
	unsigned		 port;
	int			 fd = udp_socket(&port);	/* never read */
	struct dns		*d = dns_at(loop, port, 1);
	struct outcome		 o = { 0 };
	struct spf_lookup	*l = start(d, "192.0.2.1", "a@example.test", 5,
				    &o);

	cr_assert_not_null(l);
	spf_lookup_cancel(l);
	loop_run(loop, 1.5);		/* past the lookup's own timeout */
	cr_assert_eq(o.calls, 0);
	dns_free(d);
	close(fd);
}

Test(spf_lookup, budget_ends_the_check)
{
	unsigned	 port;
	int		 fd = udp_socket(&port);	/* never read */
	struct dns	*d = dns_at(loop, port, 30);
	struct outcome	 o = { 0 };

	cr_assert_not_null(start(d, "192.0.2.1", "a@example.test", 0.3, &o));
	loop_run(loop, 20);
	cr_assert_eq(o.calls, 1);
	cr_assert_eq(o.result, SPF_TEMPERROR);
	cr_assert(strstr(o.problem, "spf_timeout") != NULL, "%s", o.problem);
	dns_free(d);
	close(fd);
}

Test(spf_lookup, nothing_to_ask)
{
	unsigned	 port;
	int		 fd = udp_socket(&port);
	struct dns	*d = dns_at(loop, port, 1);
	struct outcome	 o = { 0 };

	/* No domain to check: done before the call returns. */
	cr_assert_null(start(d, "192.0.2.1", "a@localhost", 5, &o));
	cr_assert_eq(o.calls, 1);
	cr_assert_eq(o.result, SPF_NONE);
	dns_free(d);
	close(fd);
}
