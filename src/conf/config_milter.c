/*
 * config_milter - the milter key: "NAME unix:PATH|inet:HOST:PORT
 * [option=value ...]", repeatable, applied in the file's order. The
 * options are the global keys' per-milter forms, as Postfix's
 * per-milter settings are: timeout_connect, timeout_command,
 * timeout_eom and default_action. An inet HOST is a numeric address
 * ("127.0.0.1", "[::1]") or "localhost", which stands for 127.0.0.1:
 * nothing here resolves names, and a milter is expected on this
 * machine or on a network the admin knows by address.
 */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "conf/config_milter.h"
#include "conf/config_value.h"
#include "lib/netaddr.h"

static const char *const action_names[] = {
	[MILTER_ACTION_ACCEPT] = "accept",
	[MILTER_ACTION_TEMPFAIL] = "tempfail",
	[MILTER_ACTION_REJECT] = "reject",
};

/* The options a line may carry, by the bit they set in spec->set. */
static const char *const timeout_options[MILTER_TIMEOUT_COUNT] = {
	[MILTER_TIMEOUT_CONNECT] = "timeout_connect",
	[MILTER_TIMEOUT_COMMAND] = "timeout_command",
	[MILTER_TIMEOUT_EOM] = "timeout_eom",
};
#define SET_ACTION	(1u << MILTER_TIMEOUT_COUNT)

const char *
conf_milter_action_name(enum milter_action a)
{
	return action_names[a];
}

static int
action_parse(const char *in, enum milter_action *out, char *err,
    size_t errlen)
{
	char	 q[CV_QBUF];

	for (size_t i = 0; i < sizeof(action_names) / sizeof(action_names[0]);
	    i++)
		if (strcasecmp(in, action_names[i]) == 0) {
			*out = (enum milter_action)i;
			return 0;
		}
	snprintf(err, errlen, "%s is not accept, tempfail or reject",
	    cv_quote(in, q, sizeof(q)));
	return -1;
}

int
conf_milter_action_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	enum milter_action a;

	if (action_parse(in, &a, err, errlen) == -1)
		return -1;
	snprintf(out, outlen, "%s", action_names[a]);
	return 0;
}

/* name_check - letters, digits, '-', '_' and '.': it is logged */
static int
name_check(const char *name, char *err, size_t errlen)
{
	char	 q[CV_QBUF];
	size_t	 n = strlen(name);

	if (n > MILTER_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_.") != n || n == 0) {
		snprintf(err, errlen, "name %s: letters, digits, '-', '_' and "
		    "'.' only, at most %d", cv_quote(name, q, sizeof(q)),
		    MILTER_NAME_MAX);
		return -1;
	}
	return 0;
}

/* socket_parse - "unix:/abs/path" or "inet:HOST:PORT" into the spec's
 * address and canonical text (canon, CV_LINE_MAX + 1 octets) */
static int
socket_parse(const char *in, struct milter_spec *m, char *canon,
    char *err, size_t errlen)
{
	struct sockaddr_un	*sun = (struct sockaddr_un *)&m->addr;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&m->addr;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&m->addr;
	struct netaddr_port	 np;
	char			 path[CV_LINE_MAX + 1], host[CV_LINE_MAX + 1];
	char			 text[NETADDR_PORT_STRLEN], q[CV_QBUF];

	memset(&m->addr, 0, sizeof(m->addr));
	if (strncasecmp(in, "unix:", 5) == 0) {
		if (cv_path_norm(in + 5, path, sizeof(path), err,
		    errlen) == -1)
			return -1;
		if (strlen(path) >= sizeof(sun->sun_path)) {
			snprintf(err, errlen, "socket path %s: longer than "
			    "%zu octets", cv_quote(path, q, sizeof(q)),
			    sizeof(sun->sun_path) - 1);
			return -1;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, path, strlen(path) + 1);
		m->addrlen = sizeof(*sun);
		/* Shorter than sun_path, checked above. */
		snprintf(canon, CV_LINE_MAX + 1, "unix:%.*s",
		    (int)sizeof(sun->sun_path), path);
		return 0;
	}
	if (strncasecmp(in, "inet:", 5) != 0) {
		snprintf(err, errlen, "socket %s is not unix:PATH or "
		    "inet:HOST:PORT", cv_quote(in, q, sizeof(q)));
		return -1;
	}
	snprintf(host, sizeof(host), "%s", in + 5);
	/* localhost: the one name taken, as the loopback address. */
	if (strncasecmp(host, "localhost:", 10) == 0)
		snprintf(host, sizeof(host), "127.0.0.1:%s", in + 15);
	if (netaddr_port_parse(host, NETADDR_PORT_NEEDED, &np, err,
	    errlen) == -1) {
		snprintf(err, errlen, "socket %s: inet:HOST:PORT with HOST "
		    "a numeric address ([IPv6] in brackets) or localhost",
		    cv_quote(in, q, sizeof(q)));
		return -1;
	}
	if (np.family == AF_INET) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, np.addr, 4);
		sin->sin_port = htons((uint16_t)np.port);
		m->addrlen = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, np.addr, 16);
		sin6->sin6_port = htons((uint16_t)np.port);
		m->addrlen = sizeof(*sin6);
	}
	netaddr_port_format(&np, text, sizeof(text));
	snprintf(canon, CV_LINE_MAX + 1, "inet:%s", text);
	return 0;
}

/* option_parse - one "option=value" of a milter line */
static int
option_parse(const char *opt, struct milter_spec *m, char *err,
    size_t errlen)
{
	const char	*eq = strchr(opt, '=');
	char		 q[CONF_ERR_LEN];
	uint64_t	 v;
	size_t		 n;

	n = eq != NULL ? (size_t)(eq - opt) : 0;
	for (unsigned i = 0; eq != NULL && i < MILTER_TIMEOUT_COUNT; i++) {
		if (strlen(timeout_options[i]) != n ||
		    strncasecmp(opt, timeout_options[i], n) != 0)
			continue;
		if (cv_number_parse(eq + 1, CV_UNITS_TIME, 1, 3600, &v, q,
		    sizeof(q)) == -1) {
			snprintf(err, errlen, "%s: %s", timeout_options[i], q);
			return -1;
		}
		m->timeout[i] = (unsigned)v;
		m->set |= 1u << i;
		return 0;
	}
	if (eq != NULL && n == 14 && strncasecmp(opt, "default_action",
	    n) == 0) {
		if (action_parse(eq + 1, &m->default_action, err,
		    errlen) == -1)
			return -1;
		m->set |= SET_ACTION;
		return 0;
	}
	snprintf(err, errlen, "option %s: not timeout_connect=, "
	    "timeout_command=, timeout_eom= or default_action=",
	    cv_quote(opt, q, sizeof(q)));
	return -1;
}

int
conf_set_milter(struct conf_parse *p, const struct conf_key *k,
    const char *val, char *err, size_t errlen)
{
	struct config		*cfg = p->cfg;
	struct milter_spec	 m, *v;
	char			 name[CV_LINE_MAX + 1], word[CV_LINE_MAX + 1];
	char			 canon[CV_LINE_MAX + 1];
	const char		*s = val;

	(void)k;
	if (val[0] == '\0')
		return 0;
	memset(&m, 0, sizeof(m));
	if ((s = cv_next_item(s, name, sizeof(name))) == NULL ||
	    (s = cv_next_item(s, word, sizeof(word))) == NULL) {
		snprintf(err, errlen, "expected NAME unix:PATH|inet:HOST:PORT "
		    "[option=value ...]");
		return -1;
	}
	if (name_check(name, err, errlen) == -1 ||
	    socket_parse(word, &m, canon, err, errlen) == -1)
		return -1;
	while ((s = cv_next_item(s, word, sizeof(word))) != NULL)
		if (option_parse(word, &m, err, errlen) == -1)
			return -1;
	for (size_t i = 0; i < cfg->nmilters; i++)
		if (strcasecmp(cfg->milters[i].name, name) == 0) {
			snprintf(err, errlen, "name %s is taken (line %u)",
			    name, cfg->milters[i].line);
			return -1;
		}
	m.line = p->lineno;
	m.name = strdup(name);
	m.socket = strdup(canon);
	v = realloc(cfg->milters, (cfg->nmilters + 1) * sizeof(*v));
	if (v != NULL)
		cfg->milters = v;
	if (m.name == NULL || m.socket == NULL || v == NULL) {
		free(m.name);
		free(m.socket);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cfg->milters[cfg->nmilters++] = m;
	return 0;
}

void
conf_print_milter(const struct config *cfg, const struct conf_key *k,
    FILE *fp)
{
	char	 d[32];

	for (size_t i = 0; i < cfg->nmilters; i++) {
		const struct milter_spec *m = &cfg->milters[i];

		fprintf(fp, "%s = %s %s", k->name, m->name, m->socket);
		for (unsigned t = 0; t < MILTER_TIMEOUT_COUNT; t++) {
			if (!(m->set & (1u << t)))
				continue;
			cv_number_format(m->timeout[t], CV_UNITS_TIME, d,
			    sizeof(d));
			fprintf(fp, " %s=%s", timeout_options[t], d);
		}
		if (m->set & SET_ACTION)
			fprintf(fp, " default_action=%s",
			    action_names[m->default_action]);
		fputc('\n', fp);
	}
}

void
conf_free_milter(struct config *cfg, const struct conf_key *k)
{
	(void)k;
	for (size_t i = 0; i < cfg->nmilters; i++) {
		free(cfg->milters[i].name);
		free(cfg->milters[i].socket);
	}
	free(cfg->milters);
	cfg->milters = NULL;
	cfg->nmilters = 0;
}

void
conf_milter_finish(struct conf_parse *p)
{
	struct config		*cfg = p->cfg;
	enum milter_action	 a = MILTER_ACTION_TEMPFAIL;
	char			 err[CONF_ERR_LEN];

	if (cfg->milter_default_action != NULL)
		(void)action_parse(cfg->milter_default_action, &a, err,
		    sizeof(err));
	for (size_t i = 0; i < cfg->nmilters; i++) {
		struct milter_spec *m = &cfg->milters[i];

		for (unsigned t = 0; t < MILTER_TIMEOUT_COUNT; t++)
			if (!(m->set & (1u << t)))
				m->timeout[t] = cfg->milter_timeout[t];
		if (!(m->set & SET_ACTION))
			m->default_action = a;
	}
}
