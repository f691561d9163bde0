/*
 * milter_macro - the macros a milter is sent before a command: its own
 * lists (OPTNEG's, by stage) or, when it gave none, Postfix's default
 * lists but for what sallyport has no value of; each with its value in
 * the session now (the session's own through its host).
 */
#include <stdio.h>
#include <string.h>

#include "daemon/milter_int.h"
#include "lib/netaddr.h"

/* The macros sent when a milter asked for no list of its own: Postfix's
 * milter_*_macros, but for what we have no value of. */
static const char *const default_macros[MILTER_M_COUNT] = {
	[MILTER_M_CONNECT] = "j {daemon_name} {daemon_addr} v {client_addr} "
	    "{client_name} {client_port}",
	[MILTER_M_HELO] = "{tls_version} {cipher} {cipher_bits}",
	[MILTER_M_MAIL] = "i {auth_type} {auth_authen} {mail_addr}",
	[MILTER_M_RCPT] = "{rcpt_addr}",
	[MILTER_M_DATA] = "i",
	[MILTER_M_EOM] = "i",
	[MILTER_M_EOH] = "i",
};

/* macro_value - a macro's value now; NULL: none */
static const char *
macro_value(struct milters *set, const char *name, char *buf, size_t len)
{
	const struct config *cfg = set->p.cfg;

	if (strcmp(name, "j") == 0)
		return cfg->hostname;
	if (strcmp(name, "{daemon_name}") == 0)
		return config_role_name(set->p.role);
	if (strcmp(name, "{daemon_addr}") == 0) {
		netaddr_format(set->p.local, buf, len);
		return buf;
	}
	if (strcmp(name, "v") == 0)
		return "sallyport";
	if (strcmp(name, "{client_addr}") == 0)
		return set->p.client_addr;
	if (strcmp(name, "{client_name}") == 0) {
		snprintf(buf, len, "[%s]", set->p.client_addr);
		return buf;
	}
	if (strcmp(name, "{client_port}") == 0)
		return set->client_port;
	if (strcmp(name, "{mail_addr}") == 0)
		return set->sender;
	if (strcmp(name, "{rcpt_addr}") == 0)
		return set->rcpt;
	if (strcmp(name, "i") == 0)
		return set->spool != NULL ? spool_id(set->spool) : NULL;
	return set->host->macro(set->ctx, name, buf, len);
}

#define MACROS_MAX	32		/* macros sent at one stage */
#define MACRO_VALUE_MAX	1024

int
milters_put_macros(struct mfilter *mf, enum milter_stage st, char cmd)
{
	const char	*list = mf->macros[st] ? mf->macros[st] :
			    default_macros[st];
	const char	*names[MACROS_MAX], *values[MACROS_MAX];
	char		 namebuf[MACROS_MAX][64];
	char		 valbuf[MACROS_MAX][MACRO_VALUE_MAX];
	char		 lookup[64];
	size_t		 n = 0, len;

	while (*list != '\0' && n < MACROS_MAX) {
		list += strspn(list, " ,");
		len = strcspn(list, " ,");
		if (len == 0)
			break;
		if (len + 2 < sizeof(namebuf[n])) {
			memcpy(namebuf[n], list, len);
			namebuf[n][len] = '\0';
			names[n] = namebuf[n];
			/* "{x}" and "x" name the same long macro (libmilter
			 * finds either): looked up as "{x}", sent as asked. */
			if (len > 1 && list[0] != '{')
				snprintf(lookup, sizeof(lookup), "{%s}",
				    namebuf[n]);
			else
				snprintf(lookup, sizeof(lookup), "%s",
				    namebuf[n]);
			values[n] = macro_value(mf->set, lookup, valbuf[n],
			    sizeof(valbuf[n]));
			if (values[n] != NULL)
				n++;
		}
		list += len;
	}
	if (n == 0)
		return 0;
	return milter_put_macros(&mf->out, cmd, names, values, n);
}

