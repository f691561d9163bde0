/*
 * smtpload - an SMTP load client for the benchmark.
 *
 * Speaks like smtp-source(1) (one command per round trip, no PIPELINING)
 * and adds what it lacks: STARTTLS, an idle mode that holds thousands of
 * sessions open for memory measurements, and a probe mode that times the
 * greeting while the server is under load. Not installed.
 *
 * Send mode: -s sessions, each a thread with a blocking socket, share -m
 * messages through one atomic counter, so exactly -m are sent. The final
 * line on stdout is "msgs=N secs=S rate=R failed=F"; the exit status is
 * 0 only when every message got its 250 after the final dot.
 *
 * This file has main, the options and what the modes share; the blocking
 * connection is in smtpload_conn.c and each mode in its own file
 * (smtpload_send.c, smtpload_idle.c, smtpload_probe.c).
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "smtpload.h"

#define ERRORS_SHOWN	10	/* error lines printed without -q */

struct opts opt;
struct cmds cmd;
SSL_CTX *tls_ctx;
static atomic_uint errors_seen;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: smtpload [-Tq] [-s sessions] [-m msgs] [-n msgs_per_conn]"
	    " [-l size]\n"
	    "\t[-A user:password (AUTH PLAIN, after STARTTLS with -T)]\n"
	    "\t[-f from] [-t to] [-H ehlo_name] [-I idle_conns]"
	    " [-P rate [-d secs]]\n"
	    "\thost:port\n");
	exit(1);
}

/* auth_plain - "AUTH PLAIN" with "\0user\0password" (RFC 4616) from
 * "user:password", formatted once into cmd.auth */
static void
auth_plain(const char *up)
{
	unsigned char raw[CMD_MAX];
	const char *colon = strchr(up, ':');
	size_t n = strlen(up), k;

	if (colon == NULL || n + 2 > sizeof(raw)) {
		fprintf(stderr, "smtpload: -A wants user:password\n");
		exit(1);
	}
	raw[0] = '\0';
	memcpy(raw + 1, up, (size_t)(colon - up));
	k = 1 + (size_t)(colon - up);
	raw[k++] = '\0';
	memcpy(raw + k, colon + 1, n - (size_t)(colon - up) - 1);
	k += n - (size_t)(colon - up) - 1;
	memcpy(cmd.auth, "AUTH PLAIN ", 11);
	n = (size_t)EVP_EncodeBlock((unsigned char *)cmd.auth + 11, raw, (int)k);
	memcpy(cmd.auth + 11 + n, "\r\n", 3);
}

/* number - the value of option -flag, within [min, max], or exit */
static unsigned long
number(const char *s, int flag, unsigned long min, unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno == ERANGE ||
	    v < min || v > max) {
		fprintf(stderr, "smtpload: -%c %s: not a number from %lu to %lu\n",
		    flag, s, min, max);
		exit(1);
	}
	return v;
}

static const char *
name(const char *s, int flag)
{
	if (*s == '\0' || strlen(s) > NAME_MAX_LEN ||
	    strpbrk(s, "\r\n<> ") != NULL) {
		fprintf(stderr, "smtpload: -%c %s: empty, too long or has"
		    " spaces, brackets or line breaks\n", flag, s);
		exit(1);
	}
	return s;
}

double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* resolve - HOST:PORT or [HOST]:PORT into opt.addr */
static void
resolve(const char *target)
{
	struct addrinfo hints, *res;
	char host[256];
	const char *colon, *h = target;
	size_t hlen;
	int e;

	if ((colon = strrchr(target, ':')) == NULL || colon[1] == '\0')
		goto bad;
	hlen = (size_t)(colon - target);
	if (*h == '[' && hlen >= 2 && target[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((e = getaddrinfo(host, colon + 1, &hints, &res)) != 0) {
		fprintf(stderr, "smtpload: %s: %s\n", target, gai_strerror(e));
		exit(1);
	}
	memcpy(&opt.addr, res->ai_addr, res->ai_addrlen);
	opt.addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return;
bad:
	fprintf(stderr, "smtpload: %s: expected HOST:PORT\n", target);
	exit(1);
}

/* raise_nofile - soft descriptor limit up to the hard one; returns it */
rlim_t
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur;
}

static void
tls_init(void)
{
	if ((tls_ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION)) {
		fprintf(stderr, "smtpload: cannot make a TLS context\n");
		exit(1);
	}
	/* A benchmark against a self-signed test certificate. */
	SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
	/* Idle sessions would otherwise hold ~34 KB of TLS buffers each. */
	if (opt.idle)
		SSL_CTX_set_mode(tls_ctx, SSL_MODE_RELEASE_BUFFERS);
}

/* report - the first error always, a few more unless -q */
void
report(const char *who, unsigned long id, const char *err)
{
	unsigned n = atomic_fetch_add(&errors_seen, 1);

	if (n == 0 || (!opt.quiet && n < ERRORS_SHOWN))
		fprintf(stderr, "smtpload: %s %lu: %s\n", who, id, err);
	else if (!opt.quiet && n == ERRORS_SHOWN)
		fprintf(stderr, "smtpload: further errors not shown\n");
}

int
main(int argc, char *argv[])
{
	int ch;

	opt.sessions = 1;
	opt.msgs = 100;
	opt.per_conn = 1;
	opt.size = 1024;
	opt.from = "bench@example.test";
	opt.to = "bench@example.test";
	opt.helo = "smtpload.example.test";
	opt.duration = 10;
	while ((ch = getopt(argc, argv, "s:m:n:l:f:t:H:TI:P:d:qA:")) != -1) {
		switch (ch) {
		case 's':
			opt.sessions = number(optarg, ch, 1, 100000);
			break;
		case 'm':
			opt.msgs = number(optarg, ch, 0, ULONG_MAX / 2);
			break;
		case 'n':
			opt.per_conn = number(optarg, ch, 0, ULONG_MAX);
			break;
		case 'l':
			opt.size = number(optarg, ch, 0, 1024UL * 1024 * 1024);
			break;
		case 'f':
			opt.from = name(optarg, ch);
			break;
		case 't':
			opt.to = name(optarg, ch);
			break;
		case 'H':
			opt.helo = name(optarg, ch);
			break;
		case 'T':
			opt.tls = 1;
			break;
		case 'I':
			opt.idle = number(optarg, ch, 1, 10000000);
			break;
		case 'P':
			opt.probe_rate = number(optarg, ch, 1, 100000);
			break;
		case 'd':
			opt.duration = number(optarg, ch, 1, 86400);
			break;
		case 'q':
			opt.quiet = 1;
			break;
		case 'A':
			opt.auth = name(optarg, ch);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1 || (opt.idle && opt.probe_rate))
		usage();
	if (opt.probe_rate * opt.duration > 100000000UL) {
		fprintf(stderr, "smtpload: -P times -d is over 100000000"
		    " probes\n");
		return 1;
	}
	opt.target = argv[optind];
	resolve(opt.target);
	signal(SIGPIPE, SIG_IGN);
	snprintf(cmd.ehlo, sizeof(cmd.ehlo), "EHLO %s\r\n", opt.helo);
	snprintf(cmd.mail, sizeof(cmd.mail), "MAIL FROM:<%s>\r\n", opt.from);
	snprintf(cmd.rcpt, sizeof(cmd.rcpt), "RCPT TO:<%s>\r\n", opt.to);
	if (opt.auth != NULL)
		auth_plain(opt.auth);
	/* The greeting comes before STARTTLS: probes never need TLS. */
	if (opt.tls && !opt.probe_rate)
		tls_init();
	if (opt.idle)
		return run_idle();
	if (opt.probe_rate)
		return run_probe();
	raise_nofile();
	return run_send();
}
