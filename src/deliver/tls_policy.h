/*
 * tls_policy - sallyport --tls-policy DOMAIN: what outbound TLS the
 * queue runner would ask of DOMAIN's MX hosts, found from DNS alone,
 * without connecting (Postfix's posttls-finger connects; this does
 * not): the MX hosts, what DNSSEC said of each lookup, the TLSA
 * records and the resulting plan per host.
 */
#ifndef SALLYPORT_TLS_POLICY_H
#define SALLYPORT_TLS_POLICY_H

#define TLS_POLICY_USAGE \
	"       sallyport --tls-policy [-c file] DOMAIN\n"

/* Exit status: 0 with the hosts and their plans printed, 1 when the
 * domain has no host to deliver to now (no MX and no address, a null
 * MX, a DNS failure: printed too), 2 for a usage or configuration
 * error. */
int	tls_policy_command(const char *config, int argc, char **argv);

#endif
