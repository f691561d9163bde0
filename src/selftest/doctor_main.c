/*
 * doctor_main - the `--selftest --dns` command: load the configuration,
 * give the doctor a resolver (c-ares on a libev loop of its own), run
 * the jobs of the table, print, say the exit status.
 */
#include <ev.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "selftest/doctor.h"
#include "selftest/selftest.h"

/* The jobs, in the report's order. Each adds its own checks. */
static void (*const jobs[])(struct doctor *) = {
	doc_job_mx,
	doc_job_ptr,
	doc_job_spf,
	doc_job_dkim,
	doc_job_dmarc,
	doc_job_mta_sts,
	doc_job_tlsa,
	doc_job_cert,
	doc_job_dnsbl,
	doc_job_probe,
};

int
doctor_run(struct doctor *d, char *err, size_t errlen)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (doc_find_addresses(d) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++)
		jobs[i](d);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	d->elapsed = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return 0;
}

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
