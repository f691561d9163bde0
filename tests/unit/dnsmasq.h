/*
 * dnsmasq - a real DNS server for tests: dnsmasq on a free port of
 * 127.0.0.1, serving the records given on its command line, and UDP
 * sockets of a test's own on free ports.
 *
 * dnsmasq is required: without it dnsmasq_start fails the test, or
 * skips it when SALLYPORT_SKIP_DNS_TESTS is set.
 */
#ifndef SALLYPORT_TEST_DNSMASQ_H
#define SALLYPORT_TEST_DNSMASQ_H

#include <stdbool.h>
#include <sys/types.h>

struct dns;
struct ev_loop;

struct dnsmasq {
	pid_t		 pid;
	unsigned	 port;
};

/* A UDP socket bound to a free port of 127.0.0.1. */
int	udp_socket(unsigned *port);
/* Can we bind TCP on 127.0.0.1:port too? */
bool	tcp_port_free(unsigned port);

/* Start dnsmasq with `records` (options such as "--mx-host=...", NULL
 * last) after options that make it answer for .test only, from those
 * records; every other name under .test is NXDOMAIN. Returns once it
 * answers. */
void	dnsmasq_start(struct dnsmasq *, const char *const *records);
void	dnsmasq_stop(struct dnsmasq *);

/* A resolver (dns/dns.h) on loop asking 127.0.0.1:port only. */
struct dns	*dns_at(struct ev_loop *, unsigned port, unsigned timeout);
/* Run loop until a callback breaks it or secs have passed. */
void		 loop_run(struct ev_loop *, double secs);

#endif
