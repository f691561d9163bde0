/*
 * selftest_main - the `--selftest` command: load the configuration, give
 * the in-process run a real resolver (c-ares on a libev loop of its
 * own) and, for --auth-user, the configured SASL backend on the same
 * loop, or run over the network; print; say the exit status.
 *
 * The password is read from a file, never from the command line, where
 * every user of the machine could read it (ps, /proc/PID/cmdline) and
 * the shell's history would keep it. It lives in secret buffers,
 * zeroed once the run is over.
 */
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "dns/dns.h"
#include "selftest/doctor.h"
#include "lib/buf.h"
#include "sec/sasl.h"
#include "selftest/selftest.h"
#include "smtp/policy.h"

struct resolver {
	struct ev_loop	*loop;
	struct dns	*dns;
};

struct answer {
	bool		 done;
	enum dns_result	 r;
};

static void
on_answer(void *arg, enum dns_result r)
{
	struct answer *a = arg;

	a->r = r;
	a->done = true;
}

/* resolve - one lookup, waiting on the loop (the engine is waiting too) */
static enum dns_result
resolve(void *arg, const char *domain)
{
	struct resolver *rv = arg;
	struct answer a = { false, DNS_TEMPFAIL };
	struct dns_req *req;

	req = dns_domain_exists(rv->dns, domain, on_answer, &a);
	while (!a.done) {
		/* No watcher left and no answer: dns lost the request. */
		if (!ev_run(rv->loop, EVRUN_ONCE) && !a.done) {
			if (req)
				dns_cancel(req);
			return DNS_TEMPFAIL;
		}
	}
	return a.r;
}

/* wait_once - one turn of the loop, for SASL's answer */
static bool
wait_once(void *arg)
{
	struct resolver *rv = arg;

	return ev_run(rv->loop, EVRUN_ONCE) != 0;
}

/* no_dump - before the password is read: no core file (it would hold
 * the password, say after a crash on a hostile server's reply), and no
 * other process of the user may attach and read the memory; 0, or -1
 * said on stderr */
static int
no_dump(void)
{
	const struct rlimit none = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &none) == -1 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1) {
		fprintf(stderr, "sallyport: selftest: cannot keep the password "
		    "out of a core file: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* load_creds - the AUTH PLAIN line of --auth-user and --auth-pass-file
 * into line (secret); 0, or -1 said on stderr */
static int
load_creds(const struct selftest_cli *cli, struct st_creds *creds,
    struct buf *line)
{
	char err[600], warn[600];
	struct buf pass;
	int rc = -1;

	if (cli->auth_user == NULL)
		return 0;
	if (no_dump() == -1)
		return -1;
	buf_init_secret(&pass, ST_LINE_MAX);
	if (st_read_password(cli->auth_pass_file, &pass, warn, sizeof(warn),
	    err, sizeof(err)) == -1) {
		fprintf(stderr, "sallyport: selftest: %s\n", err);
		goto out;
	}
	if (warn[0])
		fprintf(stderr, "sallyport: selftest: warning: %s\n", warn);
	if (st_creds_line(line, cli->auth_user, pass.data, pass.len) == -1) {
		fprintf(stderr, "sallyport: selftest: --auth-user and the "
		    "password are too long for one AUTH PLAIN line\n");
		goto out;
	}
	creds->user = cli->auth_user;
	creds->line = line;
	rc = 0;
out:
	buf_free(&pass);
	return rc;
}

static int
run_local(const struct selftest_cli *cli, const struct st_creds *creds,
    struct selftest *st)
{
	struct resolver rv = { NULL, NULL };
	struct st_local_opts o = { cli->server_name, cli->tester_domain,
	    resolve, &rv, creds, NULL, wait_once, &rv, NULL, NULL, NULL };
	struct config *cfg;
	char err[512];
	int rc = 2;

	cfg = config_load_tell(cli->config);
	if (cfg == NULL) {
		fprintf(stderr, "sallyport: selftest: %s: invalid "
		    "configuration\n", cli->config);
		return 2;
	}
	if ((rv.loop = ev_loop_new(EVFLAG_AUTO)) == NULL) {
		fprintf(stderr, "sallyport: selftest: cannot create an event "
		    "loop\n");
		goto out;
	}
	if ((rv.dns = dns_new(rv.loop, cfg->dns_servers.v, cfg->dns_servers.n,
	    cfg->dns_timeout, err, sizeof(err))) == NULL) {
		fprintf(stderr, "sallyport: selftest: dns: %s\n", err);
		goto out;
	}
	/* The daemon's backend, as the daemon makes it: AUTH only where
	 * TLS is possible. Without it the user's AUTH gets 454. */
	if (creds && policy_auth_possible(cfg) && (o.sasl =
	    sasl_server_create(rv.loop, cfg, err, sizeof(err))) == NULL)
		fprintf(stderr, "sallyport: selftest: sasl: %s\n", err);
	o.loop = rv.loop;
	o.dns = rv.dns;
	o.hooks = cli->hooks;
	if (selftest_local(cfg, &o, st, err, sizeof(err)) == -1) {
		fprintf(stderr, "sallyport: selftest: %s\n", err);
		goto out;
	}
	if (cli->json)
		selftest_print_json(st, stdout);
	else
		selftest_print_text(st, stdout);
	rc = st_exit_code(st);
out:
	selftest_free(st);
	if (o.sasl)
		sasl_server_free(o.sasl);
	if (rv.dns)
		dns_free(rv.dns);
	if (rv.loop)
		ev_loop_destroy(rv.loop);
	config_free(cfg);
	return rc;
}

static int
run_remote(const struct selftest_cli *cli, const struct st_creds *creds,
    struct selftest *st)
{
	struct st_remote_opts o = { cli->server_name, cli->tester_domain, 0,
	    cli->proxy, cli->target2, creds, cli->implicit_tls };
	char err[512];
	int rc;

	if (selftest_remote(cli->target, &o, st, err, sizeof(err)) == -1) {
		fprintf(stderr, "sallyport: selftest: %s\n", err);
		selftest_free(st);
		return 2;
	}
	if (cli->json)
		selftest_print_json(st, stdout);
	else
		selftest_print_text(st, stdout);
	rc = st_exit_code(st);
	selftest_free(st);
	return rc;
}

int
selftest_command(const struct selftest_cli *cli)
{
	struct selftest st;
	struct st_creds creds;
	struct buf line;
	int rc;

	memset(&st, 0, sizeof(st));
	buf_init_secret(&line, ST_LINE_MAX);
	if (load_creds(cli, &creds, &line) == -1) {
		buf_free(&line);
		return 2;
	}
	if (cli->dns)
		rc = doctor_command(cli);
	else
		rc = cli->target ? run_remote(cli, cli->auth_user ? &creds :
		    NULL, &st) : run_local(cli, cli->auth_user ? &creds : NULL,
		    &st);
	buf_free(&line);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "sallyport: selftest: cannot write the "
		    "report\n");
		return 2;
	}
	return rc;
}
