/*
 * config_addr - the values of sallyport.conf that name a place to
 * listen on, ask or deliver to: DNS servers, lists of networks, listen
 * lines with their roles, local delivery targets and the smarthost.
 *
 * Each is checked and written in canonical form here; the simple
 * values they are made of (numbers, domain names, paths, quoting) are
 * config_value.c's. Nothing here resolves names: addresses must be
 * numeric, and text goes through inet_pton/inet_ntop only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "conf/config_addr.h"

/* --- DNS servers and networks ----------------------------------------- */

int
cv_server_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	struct netaddr_port np;

	if (netaddr_port_parse(in, 0, &np, err, errlen) == -1)
		return -1;
	netaddr_port_format(&np, out, outlen);
	if (out[0] == '\0') {
		snprintf(err, errlen, "server address too long");
		return -1;
	}
	return 0;
}

int
cv_cidrs_parse(const char *val, struct cidr **out, size_t *nout, char *err,
    size_t errlen)
{
	struct cidr	*v = NULL, *t;
	size_t		 n = 0;
	char		 item[CV_LINE_MAX + 1];

	while ((val = cv_next_item(val, item, sizeof(item))) != NULL) {
		if ((t = reallocarray(v, n + 1, sizeof(*v))) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		v = t;
		if (cidr_parse(item, &v[n], err, errlen) == -1)
			goto fail;
		n++;
	}
	*out = v;
	*nout = n;
	return 0;
fail:
	free(v);
	return -1;
}

/* --- listen specs ------------------------------------------------------ */

static const struct {
	const char	*name;
	enum listen_role role;
	const char	*port;		/* the role's standard port; NULL:
					 * none, the role must be named */
} cv_roles[] = {
	{ "mx", ROLE_MX, "25" },
	{ "submission", ROLE_SUBMISSION, "587" },
	{ "submissions", ROLE_SUBMISSIONS, "465" },
	/* No port is the metrics port by nature: 9225 is a habit. */
	{ "metrics", ROLE_METRICS, NULL },
};

#define CV_NROLES	(sizeof(cv_roles) / sizeof(cv_roles[0]))

const char *
cv_role_name(enum listen_role role)
{
	for (size_t i = 0; i < CV_NROLES; i++)
		if (cv_roles[i].role == role)
			return cv_roles[i].name;
	return "unknown";
}

/*
 * The address must be numeric ("*", IPv4 or [IPv6]) because resolving
 * a name here would make startup depend on DNS and bind to whatever it
 * answered. A missing role is the one of a standard port.
 */
int
cv_listen_parse(const char *val, struct cv_listen *out, char *err,
    size_t errlen)
{
	struct cv_listen   l;
	struct netaddr_port np;
	char		   spec[CV_LINE_MAX + 1], role[CV_LINE_MAX + 1];
	char		   opt[CV_LINE_MAX + 1], q[CV_QBUF];
	const char	  *rest;
	size_t		   i;

	/* Three words at most; a comma would suggest several listeners on
	 * one line, which is not how this key works. */
	spec[0] = role[0] = opt[0] = '\0';
	if ((rest = cv_next_item(val, spec, sizeof(spec))) != NULL &&
	    (rest = cv_next_item(rest, role, sizeof(role))) != NULL &&
	    (rest = cv_next_item(rest, opt, sizeof(opt))) != NULL)
		while (cv_isblank(*rest))
			rest++;
	if (spec[0] == '\0' || strchr(val, ',') != NULL ||
	    (rest != NULL && *rest != '\0')) {
		snprintf(err, errlen, "%s is not ADDRESS:PORT [ROLE] [proxy]",
		    cv_quote(val, q, sizeof(q)));
		return -1;
	}
	/* The option alone: the role is the standard port's. */
	if (opt[0] == '\0' && strcmp(role, "proxy") == 0) {
		memcpy(opt, role, sizeof("proxy"));
		role[0] = '\0';
	}
	if (opt[0] != '\0' && strcmp(opt, "proxy") != 0) {
		snprintf(err, errlen, "unknown option %s (expected proxy)",
		    cv_quote(opt, q, sizeof(q)));
		return -1;
	}

	if (netaddr_port_parse(spec, NETADDR_PORT_NEEDED | NETADDR_PORT_STAR,
	    &np, err, errlen) == -1)
		return -1;
	/* Canonical text, so that duplicates are seen as such. */
	l.family = np.family == AF_INET6 ? AF_INET6 : AF_INET;
	l.host[0] = '\0';
	if (np.family != AF_UNSPEC)
		inet_ntop(np.family, np.addr, l.host, sizeof(l.host));
	snprintf(l.port, sizeof(l.port), "%u", np.port);

	for (i = 0; i < CV_NROLES; i++)
		if (role[0] != '\0' ? strcmp(role, cv_roles[i].name) == 0 :
		    cv_roles[i].port != NULL &&
		    strcmp(l.port, cv_roles[i].port) == 0)
			break;
	if (i == CV_NROLES) {
		if (role[0] == '\0')
			snprintf(err, errlen, "role required (mx, submission, "
			    "submissions or metrics)");
		else
			snprintf(err, errlen, "unknown role %s (expected mx, "
			    "submission, submissions or metrics)",
			    cv_quote(role, q, sizeof(q)));
		return -1;
	}
	l.role = cv_roles[i].role;
	/* The PROXY header comes before SMTP, and only SMTP has it. */
	l.proxy = opt[0] != '\0';
	if (l.proxy && l.role != ROLE_MX && l.role != ROLE_SUBMISSION &&
	    l.role != ROLE_SUBMISSIONS) {
		snprintf(err, errlen, "role %s takes no proxy option (only mx, "
		    "submission and submissions do)", cv_roles[i].name);
		return -1;
	}
	*out = l;
	return 0;
}

/* --- delivery targets ------------------------------------------------- */

/* cv_template_check - an absolute path with %u, %d and %% only */
static int
cv_template_check(const char *t, char *err, size_t errlen)
{
	char	 q[CV_QBUF];

	if (t[0] != '/') {
		snprintf(err, errlen, "%s is not an absolute path",
		    cv_quote(t, q, sizeof(q)));
		return -1;
	}
	for (const char *c = t; (c = strchr(c, '%')) != NULL; c += 2)
		if (c[1] != 'u' && c[1] != 'd' && c[1] != '%') {
			snprintf(err, errlen, "%s: '%%' must be followed by "
			    "u (user), d (domain) or %% (itself)",
			    cv_quote(t, q, sizeof(q)));
			return -1;
		}
	return 0;
}

/* cv_prefixed - prefix and checked text into out, whole or an error */
static int
cv_prefixed(const char *prefix, const char *text, char *out, size_t outlen,
    char *err, size_t errlen)
{
	if ((size_t)snprintf(out, outlen, "%s%s", prefix, text) >= outlen) {
		snprintf(err, errlen, "value too long");
		return -1;
	}
	return 0;
}

int
cv_local_delivery_norm(const char *in, char *out, size_t outlen,
    char *err, size_t errlen)
{
	static const char *const path_kinds[] = { "lmtp:unix:",
			    "qmail-queue:" };
	struct netaddr_port np;
	char		 text[CV_LINE_MAX + 1], q[CV_QBUF];

	if (strncasecmp(in, "maildir:", 8) == 0) {
		if (cv_template_check(in + 8, err, errlen) == -1)
			return -1;
		return cv_prefixed("maildir:", in + 8, out, outlen, err,
		    errlen);
	}
	/* An LMTP socket or the qmail-queue program: an absolute path. */
	for (size_t i = 0; i < sizeof(path_kinds) / sizeof(path_kinds[0]);
	    i++) {
		size_t	 plen = strlen(path_kinds[i]);

		if (strncasecmp(in, path_kinds[i], plen) != 0)
			continue;
		if (cv_path_norm(in + plen, text, sizeof(text), err,
		    errlen) == -1)
			return -1;
		return cv_prefixed(path_kinds[i], text, out, outlen, err,
		    errlen);
	}
	if (strncasecmp(in, "lmtp:", 5) == 0) {
		if (netaddr_port_parse(in + 5, NETADDR_PORT_NEEDED, &np, err,
		    errlen) == -1)
			return -1;
		netaddr_port_format(&np, text, sizeof(text));
		return cv_prefixed("lmtp:", text, out, outlen, err, errlen);
	}
	snprintf(err, errlen, "%s is not maildir:TEMPLATE, lmtp:unix:PATH, "
	    "lmtp:ADDRESS:PORT or qmail-queue:PATH", cv_quote(in, q,
	    sizeof(q)));
	return -1;
}

/*
 * As Postfix's relayhost: brackets around a name mean "this host, not
 * its MX"; an address never has an MX. Names are only checked here:
 * they are resolved when mail goes out, so that a smarthost down in DNS
 * does not stop the daemon from starting.
 */
int
cv_smarthost_parse(const char *in, struct cv_smarthost *out, char *err,
    size_t errlen)
{
	struct cv_smarthost sh = { .family = AF_UNSPEC, .port = 25,
			    .mx = true };
	char		 host[CV_LINE_MAX + 1], q[CV_QBUF], derr[128];
	const char	*end, *port;
	unsigned char	 bin[16];
	uint64_t	 v;
	size_t		 n;

	if (in[0] == '[') {
		if ((end = strchr(in, ']')) == NULL)
			goto bad;
		sh.mx = false;
		n = (size_t)(end - in - 1);
		memcpy(host, in + 1, n);
		port = end + 1;
	} else {
		n = strcspn(in, ":");
		memcpy(host, in, n);
		port = in + n;
	}
	host[n] = '\0';
	if (*port != '\0' && (*port++ != ':' ||
	    cv_number_parse(port, CV_UNITS_PLAIN, 1, 65535, &v, derr,
	    sizeof(derr)) == -1))
		goto bad;
	if (*port != '\0')
		sh.port = (unsigned)v;

	if (in[0] == '[' && inet_pton(AF_INET6, host, bin) == 1)
		sh.family = AF_INET6;
	else if (inet_pton(AF_INET, host, bin) == 1)
		sh.family = AF_INET;
	if (sh.family != AF_UNSPEC) {
		sh.mx = false;
		inet_ntop(sh.family, bin, sh.host, sizeof(sh.host));
	} else if (cv_domain_norm(host, sh.host, sizeof(sh.host), err,
	    errlen) == -1) {
		return -1;	/* its message says what is wrong */
	}
	*out = sh;
	return 0;
bad:
	snprintf(err, errlen, "%s is not HOST, HOST:PORT, [HOST]:PORT or "
	    "[IPv6]:PORT", cv_quote(in, q, sizeof(q)));
	return -1;
}

int
cv_smarthost_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	struct cv_smarthost sh;
	bool		 brackets;

	if (cv_smarthost_parse(in, &sh, err, errlen) == -1)
		return -1;
	brackets = sh.family == AF_INET6 || (sh.family == AF_UNSPEC &&
	    !sh.mx);
	if ((size_t)snprintf(out, outlen, "%s%s%s:%u", brackets ? "[" : "",
	    sh.host, brackets ? "]" : "", sh.port) >= outlen) {
		snprintf(err, errlen, "value too long");
		return -1;
	}
	return 0;
}
