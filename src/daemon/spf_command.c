/*
 * spf_command - sallyport --spf-check: evaluate SPF for a client
 * address, a MAIL FROM address (empty: the HELO identity) and a HELO
 * name, as an mx listener would, through the dns_servers of the
 * configuration, and print the outcome one "key=value" a line:
 *
 *	result=fail
 *	identity=mailfrom
 *	domain=example.com
 *	explanation=...		(fail, when the record's exp= gave one)
 *	problem=...		(permerror and temperror: why)
 *	lookups=N		(DNS questions asked)
 *
 * Values never hold a line end: the explanation is printable ASCII by
 * construction, the problem is ours.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <ev.h>

#include "auth/spf.h"
#include "conf/config.h"
#include "daemon/spf_command.h"
#include "daemon/spf_lookup.h"
#include "dns/dns.h"

struct outcome {
	struct ev_loop	*loop;
	int		 done;
};

/* put - a value with anything unprintable escaped, so one line */
static void
put(const char *key, const char *v)
{
	printf("%s=", key);
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;

		if (c < 0x20 || c > 0x7e || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	putchar('\n');
}

static void
print_result(void *arg, const struct spf *spf)
{
	struct outcome	*o = arg;
	const char	*s;

	o->done = 1;
	ev_break(o->loop, EVBREAK_ALL);
	if (spf == NULL) {
		put("result", "temperror");
		put("problem", "out of memory");
		return;
	}
	put("result", spf_result_name(spf_result(spf)));
	put("identity", spf_identity_name(spf_identity(spf)));
	put("domain", spf_domain(spf));
	if ((s = spf_explanation(spf)) != NULL)
		put("explanation", s);
	if ((s = spf_problem(spf)) != NULL && *s != '\0')
		put("problem", s);
	printf("lookups=%u\n", spf_queries(spf));
}

int
spf_check_command(const char *config, int argc, char **argv)
{
	struct spf_params	 p;
	struct spf_limits	 lim;
	struct outcome		 o = { NULL, 0 };
	struct config		*cfg;
	struct dns		*dns = NULL;
	unsigned char		 ip[16];
	char			 err[512];
	int			 rc = 2;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage:\n" SPF_COMMAND_USAGE);
		return 2;
	}
	memset(&p, 0, sizeof(p));
	if (inet_pton(AF_INET, argv[0], ip) == 1)
		p.family = AF_INET;
	else if (inet_pton(AF_INET6, argv[0], ip) == 1)
		p.family = AF_INET6;
	else {
		fprintf(stderr, "sallyport: --spf-check: %s is not an IP "
		    "address\n", argv[0]);
		return 2;
	}
	cfg = config_load_tell(config);
	if (cfg == NULL)
		return 2;
	p.ip = ip;
	p.mail_from = argv[1];
	p.helo = argc > 2 ? argv[2] : "";
	p.receiver = cfg->hostname;
	p.now = (unsigned long long)time(NULL);
	spf_limits_from(cfg, &lim);
	p.limits = &lim;
	if ((o.loop = ev_loop_new(EVFLAG_AUTO)) == NULL) {
		fprintf(stderr, "sallyport: --spf-check: no event loop\n");
		goto out;
	}
	if ((dns = dns_new(o.loop, cfg->dns_servers.v, cfg->dns_servers.n,
	    cfg->dns_timeout, err, sizeof(err))) == NULL) {
		fprintf(stderr, "sallyport: --spf-check: dns: %s\n", err);
		goto out;
	}
	(void)spf_lookup_start(o.loop, dns, &p, cfg->spf_timeout,
	    print_result, &o);
	if (!o.done)
		ev_run(o.loop, 0);
	rc = o.done ? 0 : 2;
out:
	fflush(stdout);
	if (dns != NULL)
		dns_free(dns);
	if (o.loop != NULL)
		ev_loop_destroy(o.loop);
	config_free(cfg);
	return rc;
}
