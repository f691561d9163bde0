/*
 * doctor_main - the `--selftest --dns` command: load the configuration,
 * give the doctor a resolver (c-ares on a libev loop of its own), run,
 * print, say the exit status.
 */
#include <ev.h>
#include <stdio.h>
#include <string.h>

#include "selftest/doctor.h"
#include "selftest/selftest.h"

int
doctor_command(const struct selftest_cli *cli)
{
	struct doctor d;
	struct config *cfg;
	char err[512];
	int rc = 2;

	memset(&d, 0, sizeof(d));
	if ((cfg = config_load_tell(cli->config)) == NULL) {
		fprintf(stderr, "sallyport: selftest: %s: invalid "
		    "configuration\n", cli->config);
		return 2;
	}
	d.cfg = cfg;
	d.hooks = cli->hooks;
	d.probe_domain = cli->probe_outbound;
	if ((d.loop = ev_loop_new(EVFLAG_AUTO)) == NULL) {
		fprintf(stderr, "sallyport: selftest: cannot create an event "
		    "loop\n");
		goto out;
	}
	if ((d.dns = dns_new(d.loop, cfg->dns_servers.v, cfg->dns_servers.n,
	    cfg->dns_timeout, err, sizeof(err))) == NULL) {
		fprintf(stderr, "sallyport: selftest: dns: %s\n", err);
		goto out;
	}
	if (doctor_run(&d, err, sizeof(err)) == -1) {
		fprintf(stderr, "sallyport: selftest: %s\n", err);
		goto out;
	}
	if (cli->json)
		doctor_print_json(&d, stdout);
	else
		doctor_print_text(&d, stdout);
	rc = doctor_exit_code(&d);
out:
	doctor_free(&d);
	if (d.dns)
		dns_free(d.dns);
	if (d.loop)
		ev_loop_destroy(d.loop);
	config_free(cfg);
	return rc;
}
