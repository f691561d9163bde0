/*
 * selftest_main - the `--selftest` command: load the configuration, give
 * the in-process run a real resolver (c-ares on a libev loop of its
 * own), or run over the network; print; say the exit status.
 */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"
#include "selftest/doctor.h"
#include "selftest/selftest.h"

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

static int
run_local(const struct selftest_cli *cli, struct selftest *st)
{
	struct resolver rv = { NULL, NULL };
	struct st_local_opts o = { cli->server_name, cli->tester_domain,
	    resolve, &rv };
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
	if (rv.dns)
		dns_free(rv.dns);
	if (rv.loop)
		ev_loop_destroy(rv.loop);
	config_free(cfg);
	return rc;
}

static int
run_remote(const struct selftest_cli *cli, struct selftest *st)
{
	struct st_remote_opts o = { cli->server_name, cli->tester_domain, 0,
	    cli->proxy, cli->target2 };
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
	int rc;

	memset(&st, 0, sizeof(st));
	if (cli->dns)
		rc = doctor_command(cli);
	else
		rc = cli->target ? run_remote(cli, &st) : run_local(cli, &st);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "sallyport: selftest: cannot write the "
		    "report\n");
		return 2;
	}
	return rc;
}
