/*
 * test_dns - lookups through c-ares on a real libev loop.
 *
 * Queries never leave the machine: they go to a dnsmasq started here on
 * 127.0.0.1 with the records below, or to sockets of our own (one that
 * never answers, one that is closed, a fake server answering what a
 * test needs: SERVFAIL, TTLs, SOAs, damaged messages).
 *
 * dnsmasq is required: without it the tests that need it fail, unless
 * SALLYPORT_SKIP_DNS_TESTS is set.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <ev.h>

#include "dns/dns.h"
#include "dns/dns_answer.h"
#include "dns_msg.h"
#include "dnsmasq.h"

static struct ev_loop *loop;

static void
setup(void)
{
	loop = ev_loop_new(EVFLAG_AUTO);
	cr_assert_not_null(loop);
}

static void
teardown(void)
{
	ev_loop_destroy(loop);
}

/* --- answers and the loop ---------------------------------------------- */

struct answer {
	int		 calls;
	enum dns_result	 result;
	struct dns_req	*req;		/* for a callback that cancels */
};

static void
on_answer(void *arg, enum dns_result r)
{
	struct answer *a = arg;

	a->calls++;
	a->result = r;
	ev_break(loop, EVBREAK_ALL);
}

/* run - the loop, until a (if any) has an answer or secs have passed */
static void
run(const struct answer *a, double secs)
{
	if (a != NULL && a->calls > 0)
		return;
	loop_run(loop, secs);
}

/* When the answer must come. */
enum when {
	ANY_TIME,
	AT_ONCE,		/* from the cache, before the call returns */
	LATER,			/* from the loop: the server was asked */
};

/* ask - ask, wait for the one answer, and check it */
static void
ask(struct dns *d, const char *name, enum when when, enum dns_result want)
{
	struct answer	 a = { 0, DNS_TEMPFAIL, NULL };
	struct dns_req	*r = dns_domain_exists(d, name, on_answer, &a);

	if (r == NULL)
		cr_assert_eq(a.calls, 1, "%s: no handle, and no answer", name);
	else
		cr_assert_eq(a.calls, 0, "%s: a handle, and an answer", name);
	cr_assert(when != AT_ONCE || r == NULL, "%s: not answered at once",
	    name);
	cr_assert(when != LATER || r != NULL, "%s: answered at once", name);
	run(&a, 5);
	cr_assert_eq(a.calls, 1, "%s: %d answers", name, a.calls);
	cr_assert_eq(a.result, want, "%s: %s, wanted %s", name,
	    dns_result_name(a.result), dns_result_name(want));
}

static void
lookup(struct dns *d, const char *name, enum dns_result want)
{
	ask(d, name, ANY_TIME, want);
}

static void
cached(struct dns *d, const char *name, enum dns_result want)
{
	ask(d, name, AT_ONCE, want);
}

static void
not_cached(struct dns *d, const char *name, enum dns_result want)
{
	ask(d, name, LATER, want);
}

/* --- sockets of our own ------------------------------------------------ */

/* What the fake server answers. */
enum fake_mode {
	FAKE_MX,		/* an MX of `ttl`; NODATA for other types */
	FAKE_RCODE,		/* nothing but `rcode` */
	FAKE_NX_SOA,		/* NXDOMAIN, SOA of `ttl` and `minimum` */
	FAKE_GARBAGE,		/* one answer announced, half of it sent */
};

struct fake {
	int		 fd;
	unsigned	 port;
	ev_io		 io;
	int		 queries;
	enum fake_mode	 mode;
	unsigned	 rcode;
	uint32_t	 ttl, minimum;
};

static void
fake_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct fake		*f = w->data;
	unsigned char		 q[512];
	struct sockaddr_storage	 from;
	socklen_t		 fromlen = sizeof(from);
	struct dns_msg		 m;
	ssize_t			 n;
	size_t			 end = DNS_MSG_QNAME;
	unsigned		 id, qtype;

	(void)l;
	(void)revents;
	n = recvfrom(f->fd, q, sizeof(q), 0, (struct sockaddr *)&from,
	    &fromlen);
	if (n < DNS_MSG_QNAME + 5)
		return;
	f->queries++;
	while (end < (size_t)n && q[end] != 0)
		end += q[end] + 1u;
	end += 5;		/* the root, type and class */
	cr_assert_leq(end, (size_t)n, "query cut short");
	id = (unsigned)q[0] << 8 | q[1];
	qtype = (unsigned)q[end - 4] << 8 | q[end - 3];

	switch (f->mode) {
	case FAKE_MX:
		msg_header(&m, id, 0, 1, qtype == DNS_TYPE_MX, 0);
		msg_bytes(&m, q + DNS_MSG_QNAME, end - DNS_MSG_QNAME);
		if (qtype == DNS_TYPE_MX)
			msg_mx(&m, NULL, f->ttl, 10, "mail.example.test");
		break;
	case FAKE_RCODE:
		msg_header(&m, id, f->rcode, 1, 0, 0);
		msg_bytes(&m, q + DNS_MSG_QNAME, end - DNS_MSG_QNAME);
		break;
	case FAKE_NX_SOA:
		msg_header(&m, id, 3, 1, 0, 1);
		msg_bytes(&m, q + DNS_MSG_QNAME, end - DNS_MSG_QNAME);
		msg_soa(&m, "test", f->ttl, f->minimum);
		break;
	case FAKE_GARBAGE:
		msg_header(&m, id, 0, 1, 1, 0);
		msg_bytes(&m, q + DNS_MSG_QNAME, end - DNS_MSG_QNAME);
		msg_bytes(&m, "\300\14\0\17\0", 5);
		break;
	}
	(void)sendto(f->fd, m.b, m.len, 0, (struct sockaddr *)&from, fromlen);
}

static void
fake_start(struct fake *f, enum fake_mode mode)
{
	memset(f, 0, sizeof(*f));
	f->mode = mode;
	f->fd = udp_socket(&f->port);
	ev_io_init(&f->io, fake_cb, f->fd, EV_READ);
	f->io.data = f;
	ev_io_start(loop, &f->io);
}

static void
fake_stop(struct fake *f)
{
	ev_io_stop(loop, &f->io);
	close(f->fd);
}

/* --- against dnsmasq ------------------------------------------------------ */

/* The test zone. */
static const char *const zone[] = {
	"--mx-host=mx.example.test,mail.example.test,10",
	"--host-record=mail.example.test,192.0.2.25",
	"--host-record=a-only.example.test,192.0.2.10",
	"--host-record=aaaa-only.example.test,2001:db8::10",
	"--txt-record=txt-only.example.test,no address here",
	/* RFC 7505 null MX, "0 .", beside an address. */
	"--dns-rr=nullmx.example.test,15,000000",
	"--host-record=nullmx.example.test,192.0.2.99",
	"--cname=alias.example.test,mx.example.test",
	"--cname=dangling.example.test,txt-only.example.test",
	NULL
};

static struct dnsmasq dm;

/* dnsmasq_dns - start dnsmasq (in the test, so that a missing one is
 * a plain failure) and a resolver asking it */
static struct dns *
dnsmasq_dns(unsigned timeout)
{
	dnsmasq_start(&dm, zone);
	return dns_at(loop, dm.port, timeout);
}

static void
dnsmasq_teardown(void)
{
	dnsmasq_stop(&dm);
	teardown();
}

TestSuite(dnsmasq, .init = setup, .fini = dnsmasq_teardown,
    .timeout = 20);

Test(dnsmasq, each_kind_of_domain)
{
	static const struct {
		const char	*name;
		enum dns_result	 want;
	} cases[] = {
		{ "mx.example.test", DNS_FOUND },
		{ "alias.example.test", DNS_FOUND },	/* CNAME to an MX */
		{ "a-only.example.test", DNS_FOUND },
		{ "aaaa-only.example.test", DNS_FOUND },
		{ "nonexistent.example.test", DNS_NOT_FOUND },	/* NXDOMAIN */
		{ "txt-only.example.test", DNS_NOT_FOUND },	/* NODATA */
		{ "dangling.example.test", DNS_NOT_FOUND },	/* CNAME to it */
		/* Its A record does not matter: it takes no mail. */
		{ "nullmx.example.test", DNS_NOT_FOUND },
	};
	struct dns *d = dnsmasq_dns(2);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		lookup(d, cases[i].name, cases[i].want);
	dns_free(d);
}

Test(dnsmasq, second_lookup_from_the_cache)
{
	struct dns *d = dnsmasq_dns(1);

	lookup(d, "mx.example.test", DNS_FOUND);
	lookup(d, "aaaa-only.example.test", DNS_FOUND);
	lookup(d, "nonexistent.example.test", DNS_NOT_FOUND);
	lookup(d, "txt-only.example.test", DNS_NOT_FOUND);
	dnsmasq_stop(&dm);

	cached(d, "mx.example.test", DNS_FOUND);
	cached(d, "MX.Example.TEST.", DNS_FOUND);
	cached(d, "aaaa-only.example.test", DNS_FOUND);
	cached(d, "nonexistent.example.test", DNS_NOT_FOUND);
	cached(d, "txt-only.example.test", DNS_NOT_FOUND);
	/* The server is gone indeed. */
	not_cached(d, "a-only.example.test", DNS_TEMPFAIL);
	dns_free(d);
}

Test(dnsmasq, cancelled_lookup_never_answers)
{
	struct dns	*d = dnsmasq_dns(2);
	struct answer	 a = { 0, DNS_TEMPFAIL, NULL };
	struct dns_req	*r = dns_domain_exists(d, "mx.example.test", on_answer,
			    &a);

	cr_assert_not_null(r);
	dns_cancel(r);
	run(NULL, 0.3);		/* time enough for dnsmasq's answer */
	cr_assert_eq(a.calls, 0);
	dns_free(d);
}

static void
on_answer_cancel(void *arg, enum dns_result r)
{
	struct answer *a = arg;

	/* The asker cleaning up from its own callback, say because the
	 * answer ended its session: harmless. */
	dns_cancel(a->req);
	on_answer(arg, r);
}

Test(dnsmasq, cancel_from_the_callback)
{
	struct dns	*d = dnsmasq_dns(2);
	struct answer	 a = { 0, DNS_TEMPFAIL, NULL };

	a.req = dns_domain_exists(d, "mx.example.test", on_answer_cancel, &a);
	cr_assert_not_null(a.req);
	run(&a, 5);
	cr_assert_eq(a.calls, 1);
	cr_assert_eq(a.result, DNS_FOUND);
	dns_free(d);
}

Test(dnsmasq, free_with_lookups_pending)
{
	struct dns	*d = dnsmasq_dns(2);
	struct answer	 a = { 0, DNS_TEMPFAIL, NULL };
	struct answer	 b = { 0, DNS_TEMPFAIL, NULL };

	cr_assert_not_null(dns_domain_exists(d, "a-only.example.test",
	    on_answer, &a));
	cr_assert_not_null(dns_domain_exists(d, "txt-only.example.test",
	    on_answer, &b));
	dns_free(d);
	run(NULL, 0.2);
	cr_assert_eq(a.calls + b.calls, 0);
}

/* --- dns_query: the records themselves ------------------------------------ */

struct msg_answer {
	int		 calls;
	enum dns_result	 result;
	unsigned	 records;
	char		 txt[64];
};

static void
on_txt(void *arg, unsigned type, const void *data, size_t len)
{
	struct msg_answer *a = arg;

	(void)type;
	a->records++;
	snprintf(a->txt, sizeof(a->txt), "%.*s", (int)len, (const char *)data);
}

static void
on_msg(void *arg, enum dns_result r, const unsigned char *msg, size_t len)
{
	struct msg_answer *a = arg;

	a->calls++;
	a->result = r;
	if (msg != NULL)
		cr_assert_eq(dns_answer_each(msg, len, DNS_TYPE_TXT, on_txt,
		    a), 0);
	ev_break(loop, EVBREAK_ALL);
}

/* query - a dns_query and its one answer, at once or from the loop */
static struct msg_answer
query(struct dns *d, const char *name, unsigned type)
{
	struct msg_answer	 a = { 0 };
	struct dns_req		*r = dns_query(d, name, type, on_msg, &a);

	if (r != NULL) {
		cr_assert_eq(a.calls, 0);
		loop_run(loop, 5);
	}
	cr_assert_eq(a.calls, 1, "%s: %d answers", name, a.calls);
	return a;
}

Test(dnsmasq, query_gives_the_records)
{
	struct dns		*d = dnsmasq_dns(2);
	struct msg_answer	 a;

	a = query(d, "txt-only.example.test", DNS_TYPE_TXT);
	cr_assert_eq(a.result, DNS_FOUND);
	cr_assert_eq(a.records, 1);
	cr_assert_str_eq(a.txt, "\017no address here");
	/* Through a CNAME, and with the final dot. */
	a = query(d, "dangling.example.test.", DNS_TYPE_TXT);
	cr_assert_eq(a.result, DNS_FOUND);
	cr_assert_eq(a.records, 1);
	a = query(d, "mx.example.test", DNS_TYPE_TXT);
	cr_assert_eq(a.result, DNS_NOT_FOUND);		/* no data */
	cr_assert_eq(a.records, 0);
	a = query(d, "nonexistent.example.test", DNS_TYPE_TXT);
	cr_assert_eq(a.result, DNS_NOT_FOUND);		/* NXDOMAIN */
	/* Kept for their TTL, records and all: with the server gone, the
	 * same questions are answered at once, in any case; another one
	 * fails. */
	dnsmasq_stop(&dm);
	a = query(d, "TXT-only.example.test", DNS_TYPE_TXT);
	cr_assert_eq(a.result, DNS_FOUND);
	cr_assert_str_eq(a.txt, "\017no address here");
	a = query(d, "nonexistent.example.test", DNS_TYPE_TXT);
	cr_assert_eq(a.result, DNS_NOT_FOUND);
	a = query(d, "txt-only.example.test", DNS_TYPE_A);
	cr_assert_eq(a.result, DNS_TEMPFAIL);
	dns_free(d);
}

/* --- against the fake server --------------------------------------------- */

static struct fake fk;
static struct dns *fdns;	/* asking fk */

static void
fake_setup(void)
{
	setup();
	fake_start(&fk, FAKE_MX);
	fdns = dns_at(loop, fk.port, 2);
}

static void
fake_teardown(void)
{
	dns_free(fdns);
	fake_stop(&fk);
	teardown();
}

TestSuite(fake, .init = fake_setup, .fini = fake_teardown, .timeout = 20);

Test(fake, names_that_are_not_asked)
{
	char		 longname[300];
	static const char *const bad[] = {
		"", ".", "..", "a..test", "-a.test", "a-.test",
		"under_score.test", "192.0.2.1", "[192.0.2.1]", "a b.test",
		"caf\303\251.test", "x.test..",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cached(fdns, bad[i], DNS_NOT_FOUND);
	/* 254 bytes: one too many (RFC 1035, without the final dot). */
	memset(longname, 'a', 254);
	for (size_t i = 63; i < 254; i += 64)
		longname[i] = '.';
	longname[254] = '\0';
	cached(fdns, longname, DNS_NOT_FOUND);
	cr_assert_eq(fk.queries, 0, "nothing was asked");

	longname[253] = '\0';	/* 253: fine */
	lookup(fdns, longname, DNS_FOUND);
	lookup(fdns, "Example.TEST.", DNS_FOUND);
}

Test(fake, servfail_and_refused_are_temporary)
{
	static const unsigned rcodes[] = { 2, 5 };	/* SERVFAIL, REFUSED */

	fk.mode = FAKE_RCODE;
	for (size_t i = 0; i < 2; i++) {
		int	 before = fk.queries;

		fk.rcode = rcodes[i];
		lookup(fdns, "example.test", DNS_TEMPFAIL);
		cr_assert_gt(fk.queries, before);
		before = fk.queries;
		not_cached(fdns, "example.test", DNS_TEMPFAIL);
		cr_assert_gt(fk.queries, before, "asked again");
	}
}

Test(fake, damaged_answer_is_temporary)
{
	fk.mode = FAKE_GARBAGE;
	lookup(fdns, "example.test", DNS_TEMPFAIL);
}

Test(fake, kept_for_the_answer_ttl)
{
	fk.ttl = 1;
	lookup(fdns, "example.test", DNS_FOUND);
	cached(fdns, "example.test", DNS_FOUND);
	cr_assert_eq(fk.queries, 1);

	usleep(1100 * 1000);
	ev_now_update(loop);
	not_cached(fdns, "example.test", DNS_FOUND);
	cr_assert_eq(fk.queries, 2, "asked again once the TTL ran out");

	/* TTL 0: not kept at all. */
	fk.ttl = 0;
	lookup(fdns, "zero.example.test", DNS_FOUND);
	not_cached(fdns, "zero.example.test", DNS_FOUND);
}

Test(fake, negative_answer_kept_for_the_soa_ttl)
{
	/* RFC 2308: min(SOA TTL, minimum); 0 keeps nothing. */
	fk.mode = FAKE_NX_SOA;
	fk.ttl = 3600;
	fk.minimum = 0;
	lookup(fdns, "a.example.test", DNS_NOT_FOUND);
	not_cached(fdns, "a.example.test", DNS_NOT_FOUND);
	fk.ttl = 0;
	fk.minimum = 3600;
	lookup(fdns, "b.example.test", DNS_NOT_FOUND);
	not_cached(fdns, "b.example.test", DNS_NOT_FOUND);
	fk.ttl = 600;
	lookup(fdns, "c.example.test", DNS_NOT_FOUND);
	cached(fdns, "c.example.test", DNS_NOT_FOUND);
	cr_assert_eq(fk.queries, 5, "NXDOMAIN asks nothing more");
}

/* --- against sockets of our own ----------------------------------------- */

TestSuite(dns, .init = setup, .fini = teardown, .timeout = 20);

Test(dns, silent_server_fails_within_the_timeout)
{
	unsigned	 port;
	int		 fd = udp_socket(&port);	/* never read */
	struct dns	*d = dns_at(loop, port, 1);
	struct answer	 a = { 0, DNS_TEMPFAIL, NULL };
	double		 start = ev_time(), took;

	lookup(d, "example.test", DNS_TEMPFAIL);
	took = ev_time() - start;
	cr_assert(took >= 0.9 && took <= 2.0, "took %.2f s", took);

	/* A failure is not kept: the next lookup asks again. */
	cr_assert_not_null(dns_domain_exists(d, "example.test", on_answer,
	    &a));
	dns_free(d);
	cr_assert_eq(a.calls, 0, "dns_free says nothing");
	close(fd);
}

Test(dns, closed_port_fails_at_once)
{
	unsigned	 port;
	struct dns	*d;
	double		 start, took;

	close(udp_socket(&port));	/* nobody listens there now */
	d = dns_at(loop, port, 2);
	start = ev_time();
	lookup(d, "example.test", DNS_TEMPFAIL);
	took = ev_time() - start;
	cr_assert_lt(took, 1.0, "took %.2f s", took);
	dns_free(d);
}

Test(dns, cancel_then_free)
{
	unsigned	 port;
	int		 fd = udp_socket(&port);
	struct dns	*d = dns_at(loop, port, 1);
	struct answer	 a = { 0, DNS_TEMPFAIL, NULL };
	struct dns_req	*r = dns_domain_exists(d, "example.test", on_answer,
			    &a);

	cr_assert_not_null(r);
	dns_cancel(r);
	run(NULL, 0.1);
	dns_free(d);		/* frees what c-ares still held */
	cr_assert_eq(a.calls, 0);
	close(fd);
}

Test(dns, servers_as_written)
{
	char		 err[256];
	struct dns	*d;
	char		*good[] = { "127.0.0.1", "127.0.0.1:5353", "[::1]",
			    "[2001:db8::53]:53" };
	char		*bad[] = { "localhost" };

	d = dns_new(loop, good, 4, 5, err, sizeof(err));
	cr_assert_not_null(d, "%s", err);
	dns_free(d);
	d = dns_new(loop, NULL, 0, 5, err, sizeof(err));
	cr_assert_not_null(d, "resolv.conf: %s", err);
	dns_free(d);

	cr_assert_null(dns_new(loop, bad, 1, 5, err, sizeof(err)));
	cr_assert(strstr(err, "numeric address required") != NULL, "%s", err);
	cr_assert_null(dns_new(loop, good, 1, 0, err, sizeof(err)));
}

Test(dns, result_names)
{
	cr_assert_str_eq(dns_result_name(DNS_FOUND), "found");
	cr_assert_str_eq(dns_result_name(DNS_NOT_FOUND), "not-found");
	cr_assert_str_eq(dns_result_name(DNS_TEMPFAIL), "tempfail");
}
