/*
 * main - command line, start-up, privilege drop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "conf/config.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/notify.h"
#include "lib/proc.h"
#include "deliver/deliver.h"
#include "deliver/dsn.h"
#include "smtp/policy.h"
#include "deliver/qmailq.h"
#include "deliver/sts.h"
#include "queue/queue.h"
#include "queue/queuectl.h"
#include "sec/sasl.h"
#include "selftest/doctor.h"
#include "selftest/selftest.h"
#include "daemon/dnsbl.h"
#include "daemon/mxcheck.h"
#include "daemon/server.h"
#include "daemon/spf_command.h"
#include "daemon/spf_lookup.h"
#include "deliver/tls_policy.h"
#include "daemon/workers.h"
#include "keygen.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG	SYSCONFDIR "/sallyport/sallyport.conf"
#define ROOT_REFUSED	"refusing to run as root: set user = (a service " \
			"account) or run_as_root = yes"

/* Long options without a short form. */
enum {
	OPT_SELFTEST = 256,
	OPT_QUEUE_RUNNER,	/* internal: the daemon starts its runner */
	OPT_JSON,
	OPT_SERVER_NAME,
	OPT_TESTER_DOMAIN,
	OPT_AUTH_USER,
	OPT_AUTH_PASS_FILE,
	OPT_IMPLICIT_TLS,
	OPT_QUEUE,
	OPT_DKIM_KEYGEN,
	OPT_SPF_CHECK,
	OPT_TLS_POLICY,
	OPT_DNS,
	OPT_PROBE_OUTBOUND,
	OPT_PROXY,
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: sallyport [-fnVh] [-c file]\n"
	    "       sallyport [-c file] --dkim-keygen DOMAIN SELECTOR "
	    "[rsa|ed25519] DIR\n"
	    "       sallyport --selftest [--json] [--tester-domain NAME] "
	    "[--server-name NAME]\n"
	    "                 [--auth-user USER --auth-pass-file FILE]\n"
	    "                 [-c file | [--proxy] [--implicit-tls] HOST[:PORT] "
	    "[HOST2[:PORT]]]\n"
	    "       sallyport --selftest --dns [--json] "
	    "[--probe-outbound DOMAIN] [-c file]\n"
	    QUEUECTL_USAGE
	    SPF_COMMAND_USAGE
	    TLS_POLICY_USAGE
	    "  -c, --config FILE    configuration file (default %s)\n"
	    "  -f, --foreground     stay in the foreground, log to stderr\n"
	    "  -n, --check-config   check the configuration, print it, exit\n"
	    "  --selftest           replay the 19 open-relay probes against the\n"
	    "                       configuration in process (no port, no queue),\n"
	    "                       or against HOST[:PORT] (port 25, [IPv6]:PORT),\n"
	    "                       and HOST2 (its other family) compared with it;\n"
	    "                       exit 0 no relay, 1 relay or broken, 2 error\n"
	    "  --proxy              with --selftest HOST: start each connection\n"
	    "                       with a PROXY v1 header naming an outside client\n"
	    "  --dns                with --selftest: the deployment doctor, what\n"
	    "                       DNS says of this server (MX, PTR, SPF, DKIM,\n"
	    "                       DMARC, DNSBLs, MTA-STS, TLSA, the certificate)\n"
	    "                       with the fix for each problem;\n"
	    "                       exit 0 no FAIL (WARN allowed), 1 a FAIL,\n"
	    "                       2 no answer or error\n"
	    "  --probe-outbound DOMAIN\n"
	    "                       with --dns: also connect to port 25 of\n"
	    "                       DOMAIN's first MX\n"
	    "  --json               the self-test's report or the queue as JSON\n"
	    "  --server-name NAME   SERVER_HOST for the probes\n"
	    "  --tester-domain NAME the prober's own domain (TESTER_DOMAIN)\n"
	    "  --auth-user USER     log in as USER on the submission listeners\n"
	    "  --auth-pass-file FILE\n"
	    "                       USER's password: FILE's first line (never\n"
	    "                       on the command line, where ps shows it)\n"
	    "  --implicit-tls       HOST[:PORT] speaks TLS from the first byte\n"
	    "                       (the default for port 465)\n"
	    "  --queue [list | show ID | flush | tlsrpt | delete ID... |\n"
	    "           hold|release|requeue ID...|all | bounce ID...]\n"
	    "                       list the queue (filtered), show one entry\n"
	    "                       whole, have every entry tried now, send the\n"
	    "                       TLS-RPT reports, delete entries, hold them,\n"
	    "                       release held ones, make them due now, or\n"
	    "                       return them to their senders (the rest of\n"
	    "                       the command line is for --queue); exit 0\n"
	    "                       done, 1 failed, 2 usage or configuration\n"
	    "                       error\n"
	    "  --dkim-keygen DOMAIN SELECTOR [rsa|ed25519] DIR\n"
	    "                       write a DKIM key to DIR/DOMAIN.SELECTOR.key\n"
	    "                       and print the DNS record to publish\n"
	    "  --spf-check IP MAILFROM [HELO]\n"
	    "                       evaluate SPF (RFC 7208) through dns_servers\n"
	    "                       and print result=, domain=, explanation=...;\n"
	    "                       MAILFROM \"\" checks HELO; exit 0 with a\n"
	    "                       result, 2 usage or configuration error\n"
	    "  --tls-policy DOMAIN  the outbound TLS a delivery to DOMAIN would\n"
	    "                       use, per MX host, from DNS alone (DNSSEC,\n"
	    "                       TLSA: DANE); exit 0 hosts printed, 1 none,\n"
	    "                       2 usage or configuration error\n"
	    "  -V, --version        print the version and exit\n"
	    "  -h, --help           this text\n", DEFAULT_CONFIG);
}

/* raise_nofile - one descriptor per connection: take all we may have */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* check_qmail_postmaster - the bare postmaster is queued as
 * postmaster@hostname and, with the qmail-queue hand-off, handed to
 * qmail like any recipient: unless hostname is one of qmail's locals,
 * qmail-send sends it out. Said by `sallyport -n` when it can tell. */
static void
check_qmail_postmaster(const struct config *cfg)
{
	char file[4096];

	if (config_qmail_queue(cfg) && qmailq_locals_has(cfg->local_delivery +
	    strlen("qmail-queue:"), cfg->hostname, file, sizeof(file)) == 0)
		fprintf(stderr, "sallyport: warning: %s is not in %s: mail for "
		    "the bare postmaster (queued as postmaster@%s) is handed "
		    "to qmail-queue, and qmail would send it out; add %s to "
		    "qmail's control/locals\n", cfg->hostname, file,
		    cfg->hostname, cfg->hostname);
}

/* LOOPBACK_MX_WARNING - said by `sallyport -n` and at start-up: a
 * setting for test laboratories, never for a server on the Internet */
#define LOOPBACK_MX_WARNING "mx_allow_loopback = yes: MX hosts on " \
	"loopback addresses that are not ours (127.0.0.2 and up) are " \
	"connected to, so DNS can send mail to whatever else listens on " \
	"port 25 of this machine's loopback (a setting for test " \
	"laboratories only)"

/* root_refused - started as root with nobody to become */
static bool
root_refused(const struct config *cfg)
{
	return geteuid() == 0 && !cfg->run_as_root &&
	    (cfg->user == NULL || *cfg->user == '\0');
}

/* drop_privileges - become cfg->user (and group) once the ports are
 * bound and the TLS key is read; then no way back to root. No new
 * privileges through exec is set later, per process, after each fork
 * (proc_no_new_privs): the runner may have to run a set-user-ID
 * qmail-queue, and the flag is inherited and cannot be cleared. */
static int
drop_privileges(const struct config *cfg)
{
	struct passwd *pw;
	struct group *gr;
	char err[512];
	gid_t gid;

	if (cfg->user == NULL || *cfg->user == '\0') {
		if (cfg->group != NULL)
			log_warn("group = %s ignored: no user", cfg->group);
	} else if (geteuid() != 0) {
		log_warn("user = %s ignored: not started as root", cfg->user);
	} else {
		if ((pw = getpwnam(cfg->user)) == NULL) {
			log_err("user %s: no such user", cfg->user);
			return -1;
		}
		if (pw->pw_uid == 0 && !cfg->run_as_root) {
			log_err("user %s is root; %s", cfg->user, ROOT_REFUSED);
			return -1;
		}
		gid = pw->pw_gid;
		if (cfg->group != NULL) {
			if ((gr = getgrnam(cfg->group)) == NULL) {
				log_err("group %s: no such group", cfg->group);
				return -1;
			}
			gid = gr->gr_gid;
		}
		/* The queue belongs to the service user. */
		if (queue_chown(cfg->queue_dir, pw->pw_uid, gid, err,
		    sizeof(err)) == -1) {
			log_err("queue: %s", err);
			return -1;
		}
		if (err[0] != '\0')
			log_warn("queue: %s", err);
		/* initgroups: the user's supplementary groups count (e.g.
		 * `sasl` for saslauthd's socket or a sasldb readable by
		 * that group). */
		if (initgroups(pw->pw_name, gid) == -1 ||
		    setgid(gid) == -1 || setuid(pw->pw_uid) == -1) {
			log_err("cannot become user %s: %s", cfg->user,
			    strerror(errno));
			return -1;
		}
		if (pw->pw_uid != 0 && (setuid(0) != -1 || seteuid(0) != -1 ||
		    (gid != 0 && setgid(0) != -1))) {
			log_err("privileges could not be dropped");
			return -1;
		}
	}
	return 0;
}

/* runner_metrics_open - the queue runner counts into its slot of the
 * daemon's mapping, passed on fd (-1: none: it counts privately). The
 * descriptor is closed on exec again: no program the runner starts
 * (qmail-queue) may write the counters. */
static void
runner_metrics_open(int fd)
{
	if (fd < 0)
		return;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (metrics_open(fd) == -1) {
		log_warn("queue runner: metrics: %s; not counted",
		    strerror(errno));
		close(fd);
		return;
	}
	metrics_attach(METRICS_SLOT_RUNNER);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config",		required_argument,	NULL, 'c' },
		{ "foreground",		no_argument,		NULL, 'f' },
		{ "check-config",	no_argument,		NULL, 'n' },
		{ "version",		no_argument,		NULL, 'V' },
		{ "help",		no_argument,		NULL, 'h' },
		{ "selftest",		no_argument,		NULL, OPT_SELFTEST },
		{ "json",		no_argument,		NULL, OPT_JSON },
		{ "server-name",	required_argument,	NULL, OPT_SERVER_NAME },
		{ "tester-domain",	required_argument,	NULL, OPT_TESTER_DOMAIN },
		{ "auth-user",		required_argument,	NULL, OPT_AUTH_USER },
		{ "auth-pass-file",	required_argument,	NULL, OPT_AUTH_PASS_FILE },
		{ "implicit-tls",	no_argument,		NULL, OPT_IMPLICIT_TLS },
		{ "queue",		no_argument,		NULL, OPT_QUEUE },
		{ "spf-check",		no_argument,		NULL, OPT_SPF_CHECK },
		{ "tls-policy",		no_argument,		NULL, OPT_TLS_POLICY },
		{ "dns",		no_argument,		NULL, OPT_DNS },
		{ "probe-outbound",	required_argument,	NULL, OPT_PROBE_OUTBOUND },
		{ "proxy",		no_argument,		NULL, OPT_PROXY },
		{ "queue-runner",	required_argument,	NULL, OPT_QUEUE_RUNNER },
		{ "dkim-keygen",	no_argument,		NULL, OPT_DKIM_KEYGEN },
		{ NULL,			0,			NULL, 0 },
	};
	/* The deployment doctor borrows the daemon's SPF check and the
	 * queue runner's MTA-STS policy fetch. */
	static const struct doctor_hooks hooks = { spf_lookup_start,
	    spf_lookup_cancel, spf_limits_from, sts_fetch, dnsbl_start,
	    dnsbl_cancel, mxcheck_forged };
	struct selftest_cli st = { NULL, NULL, false, NULL, NULL, false, NULL,
	    &hooks, NULL, false, NULL, NULL, false };
	const char *path = DEFAULT_CONFIG;
	int queue = 0;		/* --queue: the rest is for queuectl */
	int keygen = 0;		/* --dkim-keygen: the rest is for keygen */
	int spf_check = 0;
	int tls_policy = 0;
	int foreground = 0, check = 0, selftest = 0, config_given = 0, ch;
	bool st_only;
	int status, runner_fd = -1, runner_ctl = -1, runner_metrics = -1, rc;
	struct config *cfg;
	struct server *srv;
	char *abspath, *comma, err[512];

	while (!queue && !keygen &&
	    (ch = getopt_long(argc, argv, "c:fnVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			config_given = 1;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'V':
			printf("sallyport %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_SELFTEST:
			selftest = 1;
			break;
		case OPT_JSON:
			st.json = true;
			break;
		case OPT_SERVER_NAME:
			st.server_name = optarg;
			break;
		case OPT_TESTER_DOMAIN:
			st.tester_domain = optarg;
			break;
		case OPT_AUTH_USER:
			st.auth_user = optarg;
			break;
		case OPT_AUTH_PASS_FILE:
			st.auth_pass_file = optarg;
			break;
		case OPT_IMPLICIT_TLS:
			st.implicit_tls = true;
			break;
		case OPT_QUEUE:
			queue = 1;
			break;
		case OPT_DKIM_KEYGEN:
			keygen = 1;
			break;
		case OPT_SPF_CHECK:
			spf_check = 1;
			break;
		case OPT_TLS_POLICY:
			tls_policy = 1;
			break;
		case OPT_DNS:
			st.dns = true;
			break;
		case OPT_PROXY:
			st.proxy = true;
			break;
		case OPT_PROBE_OUTBOUND:
			st.probe_outbound = optarg;
			break;
		case OPT_QUEUE_RUNNER:
			/* "PIPE[,CONTROL[,METRICS]]", -1: none (runner_fork) */
			runner_fd = atoi(optarg);
			if ((comma = strchr(optarg, ',')) != NULL) {
				runner_ctl = atoi(++comma);
				if ((comma = strchr(comma, ',')) != NULL)
					runner_metrics = atoi(comma + 1);
			}
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	/* The self-test's own options, refused by the other commands. */
	st_only = st.server_name || st.tester_domain || st.auth_user ||
	    st.auth_pass_file || st.implicit_tls;
	if (queue) {
		if (foreground || check || selftest || st_only) {
			usage(stderr);
			return 2;
		}
		/* The command line tools run no program: no gain through
		 * exec for them (root included). */
		if (proc_no_new_privs("sallyport") == -1)
			return 2;
		return queuectl_command(path, st.json, dsn_return,
		    argc - optind, argv + optind);
	}
	if (keygen) {
		if (foreground || check || selftest || st.json || st_only) {
			usage(stderr);
			return 2;
		}
		return keygen_command(path, argc - optind, argv + optind);
	}
	if (spf_check) {
		if (foreground || check || selftest || st.json || st_only) {
			usage(stderr);
			return 2;
		}
		if (proc_no_new_privs("sallyport") == -1)
			return 2;
		return spf_check_command(path, argc - optind, argv + optind);
	}
	if (tls_policy) {
		if (foreground || check || selftest || spf_check || st.json ||
		    st_only) {
			usage(stderr);
			return 2;
		}
		if (proc_no_new_privs("sallyport") == -1)
			return 2;
		return tls_policy_command(path, argc - optind, argv + optind);
	}
	if ((st.dns || st.probe_outbound) && !selftest) {
		usage(stderr);
		return 2;
	}
	if (selftest) {
		/* One optional HOST[:PORT] (and a second to compare it
		 * with), instead of a configuration; --proxy only with one;
		 * the doctor (--dns) takes none, and no prober names. */
		if (foreground || check || argc - optind > 2 ||
		    (optind < argc && config_given) || (st.dns &&
		    (optind < argc || st.server_name || st.tester_domain ||
		    st.auth_user || st.implicit_tls)) ||
		    (st.probe_outbound && !st.dns) ||
		    (st.proxy && optind == argc) ||
		    (st.auth_user == NULL) != (st.auth_pass_file == NULL) ||
		    (st.implicit_tls && optind == argc)) {
			usage(stderr);
			return 2;
		}
		st.config = path;
		st.target = optind < argc ? argv[optind] : NULL;
		st.target2 = argc - optind > 1 ? argv[optind + 1] : NULL;
		if (proc_no_new_privs("sallyport") == -1)
			return 2;
		return selftest_command(&st);
	}
	if (optind != argc || st.json || st_only) {
		usage(stderr);
		return 2;
	}
	if (runner_fd >= 0) {
		log_open("sallyport/runner", foreground);
		runner_metrics_open(runner_metrics);
		deliver_main(path, runner_fd, runner_ctl);
	}

	/* TERM, INT and HUP wait until the daemon watches them (the loop,
	 * or the master's sigtimedwait): one sent during start-up is acted
	 * on then, instead of killing us half started. */
	proc_signals(SIG_BLOCK);

	/* SIGHUP reads the file again after daemon() moved us to "/". */
	if ((abspath = realpath(path, NULL)) != NULL)
		path = abspath;
	cfg = config_load_tell(path);
	free(abspath);
	if (cfg == NULL)
		return 1;
	if (check) {
		/* What start-up would warn of, where AUTH can be offered. */
		if (policy_auth_possible(cfg) &&
		    (rc = sasl_config_check(cfg, err, sizeof(err))) != 0)
			fprintf(stderr, "sallyport: warning: sasl: %s%s\n", err,
			    rc == -1 ? "; AUTH is not offered" : "");
		check_qmail_postmaster(cfg);
		if (cfg->mx_allow_loopback)
			fprintf(stderr, "sallyport: warning: %s\n",
			    LOOPBACK_MX_WARNING);
		config_print(cfg, stdout);
		config_free(cfg);
		return 0;
	}

	if (root_refused(cfg)) {
		fprintf(stderr, "sallyport: %s\n", ROOT_REFUSED);
		config_free(cfg);
		return 1;
	}
	log_open("sallyport", foreground);
	if (cfg->mx_allow_loopback)
		log_warn("%s", LOOPBACK_MX_WARNING);
	notify_init();
	raise_nofile();
	if ((srv = server_new(cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "sallyport: %s\n", err);
		return 1;
	}
	if (drop_privileges(cfg) == -1) {
		server_free(srv);
		return 1;
	}
	if (!foreground && daemon(0, 0) == -1) {
		fprintf(stderr, "sallyport: daemon: %s\n", strerror(errno));
		server_free(srv);
		return 1;
	}
	/* No event loop exists yet: workers_run() makes it, after the fork. */
	srv->foreground = foreground;
	status = workers_run(srv);
	server_free(srv);
	return status;
}
