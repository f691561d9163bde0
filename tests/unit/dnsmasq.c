/*
 * dnsmasq - a real DNS server on loopback for the DNS tests, and free
 * UDP ports of our own.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <ev.h>

#include "dns/dns.h"
#include "dnsmasq.h"

#ifndef DNSMASQ
#define DNSMASQ		"/usr/sbin/dnsmasq"
#endif

/* udp_socket - a UDP socket bound to a free port of 127.0.0.1 */
int
udp_socket(unsigned *port)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd = socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert_geq(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* tcp_port_free - can we bind TCP on 127.0.0.1:port too? */
bool
tcp_port_free(unsigned port)
{
	struct sockaddr_in	 sin;
	int			 fd = socket(AF_INET, SOCK_STREAM, 0), rc;

	cr_assert_geq(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	rc = bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
	return rc == 0;
}

/* dnsmasq_exec - in the child: serve the records on port */
static void
dnsmasq_exec(unsigned port, const char *const *records)
{
	static const char *const head[] = {
		DNSMASQ, "--keep-in-foreground", NULL /* the port */,
		"--listen-address=127.0.0.1", "--bind-interfaces",
		"--no-resolv", "--no-hosts", "--conf-file=/dev/null",
		"--pid-file=", "--log-facility=/dev/null",
		/* Every other name under .test is NXDOMAIN. */
		"--local=/test/", "--local-ttl=300",
	};
	enum { NHEAD = sizeof(head) / sizeof(head[0]), NREC = 256 };
	char	 portarg[32];
	char	*argv[NHEAD + NREC + 1];
	size_t	 n = 0;
	int	 null = open("/dev/null", O_WRONLY);

	snprintf(portarg, sizeof(portarg), "--port=%u", port);
	for (size_t i = 0; i < NHEAD; i++)
		argv[n++] = (char *)(head[i] != NULL ? head[i] : portarg);
	for (size_t i = 0; records[i] != NULL && i < NREC; i++)
		argv[n++] = (char *)records[i];
	argv[n] = NULL;
	/* Do not outlive a test that crashes. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (null >= 0)
		dup2(null, STDOUT_FILENO);
	execv(DNSMASQ, argv);
	fprintf(stderr, "%s: %s\n", DNSMASQ, strerror(errno));
	_exit(127);
}

/* dnsmasq_ready - wait until it takes TCP connections, or has died */
static bool
dnsmasq_ready(const struct dnsmasq *dm)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)dm->port);
	for (int i = 0; i < 300; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

		cr_assert_geq(fd, 0);
		rc = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
		close(fd);
		/* Someone answers; make sure it is our dnsmasq, not another
		 * test's server that took the port while ours gave up. */
		if (rc == 0) {
			usleep(50000);
			if (waitpid(dm->pid, NULL, WNOHANG) == 0)
				return true;
			return false;
		}
		if (waitpid(dm->pid, NULL, WNOHANG) == dm->pid)
			return false;
		usleep(10000);
	}
	kill(dm->pid, SIGKILL);
	waitpid(dm->pid, NULL, 0);
	return false;
}

void
dnsmasq_start(struct dnsmasq *dm, const char *const *records)
{
	if (access(DNSMASQ, X_OK) != 0) {
		if (getenv("SALLYPORT_SKIP_DNS_TESTS") != NULL)
			cr_skip_test("%s missing, SALLYPORT_SKIP_DNS_TESTS set",
			    DNSMASQ);
		cr_assert_fail("%s is missing: apt-get install dnsmasq-base, or set "
		    "SALLYPORT_SKIP_DNS_TESTS=1 to skip these tests", DNSMASQ);
	}
	/* A free port could be taken before dnsmasq binds it: try again
	 * with another. */
	for (int attempt = 0; attempt < 10; attempt++) {
		int fd = udp_socket(&dm->port);

		close(fd);
		if (!tcp_port_free(dm->port))
			continue;
		dm->pid = fork();
		cr_assert_geq(dm->pid, 0);
		if (dm->pid == 0)
			dnsmasq_exec(dm->port, records);
		if (dnsmasq_ready(dm))
			return;
	}
	cr_assert_fail("dnsmasq did not start");
}

void
dnsmasq_stop(struct dnsmasq *dm)
{
	if (dm->pid <= 0)
		return;
	kill(dm->pid, SIGTERM);
	waitpid(dm->pid, NULL, 0);
	dm->pid = 0;
}


struct dns *
dns_at(struct ev_loop *loop, unsigned port, unsigned timeout)
{
	char		 server[32], err[256];
	char		*servers[] = { server };
	struct dns	*d;

	snprintf(server, sizeof(server), "127.0.0.1:%u", port);
	d = dns_new(loop, servers, 1, timeout, err, sizeof(err));
	cr_assert_not_null(d, "dns_new: %s", err);
	return d;
}

static void
loop_stop_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(l, EVBREAK_ALL);
}

void
loop_run(struct ev_loop *loop, double secs)
{
	ev_timer t;

	ev_timer_init(&t, loop_stop_cb, secs, 0.);
	ev_timer_start(loop, &t);
	ev_run(loop, 0);
	ev_timer_stop(loop, &t);
}
