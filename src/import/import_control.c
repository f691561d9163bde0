/*
 * import_control - qmail's control files as sallyport keys.
 *
 *   me                          -> hostname
 *   rcpthosts, morercpthosts    -> local_domains (also in locals or
 *                                  virtualdomains), relay_domains (the
 *                                  rest); ".domain" wildcards: unmapped
 *   databytes                   -> max_message_size (0: the largest)
 *   smtproutes ":host[:port]"   -> smarthost "[host]:port" (qmail never
 *                                  looks up MX for a route); per-domain
 *                                  routes: unmapped
 *   servercert.pem              -> tls_cert (key in the same file)
 *   timeoutsmtpd                -> command_timeout
 * Any other file in control/ is reported as not imported. A line that
 * qmail itself could not have meant is a fatal error naming file and
 * line, so that nothing half-understood gets written.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "import/import_qmail.h"

#define CTL_SIZE_MIN	1024ULL		/* config_keys.c's max_message_size */
#define CTL_SIZE_MAX	(4ULL << 30)
#define CTL_TIMEOUT_MAX	3600		/* config_keys.c's command_timeout */

/* A domain of rcpthosts or morercpthosts and where it was. */
struct ctl_domain {
	char		 name[CV_DOMAIN_MAX + 3];	/* room for literals */
	const char	*file;
	unsigned	 line;
};

struct ctl_domains {
	struct ctl_domain *v;
	size_t		   n;
};

/* Files of control/ this import reads; the rest are reported. */
static const char *const ctl_known[] = {
	"me", "rcpthosts", "morercpthosts", "morercpthosts.cdb", "locals",
	"virtualdomains", "databytes", "smtproutes", "servercert.pem",
	"timeoutsmtpd", NULL,
};

/* ctl_path - qmail_dir/control/name */
static int
ctl_path(struct imp *imp, const char *name, char *out, size_t outlen)
{
	int	 n = snprintf(out, outlen, "%s/control/%s", imp->qmail_dir,
	    name);

	if (n < 0 || (size_t)n >= outlen)
		return imp_fail(imp, "%s/control/%s: path too long",
		    imp->qmail_dir, name);
	return 0;
}

/* ctl_read - control/name into lines; 1 if it does not exist */
static int
ctl_read(struct imp *imp, const char *name, char *path, size_t pathlen,
    struct imp_lines *l)
{
	memset(l, 0, sizeof(*l));
	if (ctl_path(imp, name, path, pathlen) == -1)
		return -1;
	return imp_lines_read(imp, path, l);
}

/* ctl_skip - a line qmail would not read: blank, or a comment */
static bool
ctl_skip(const char *s)
{
	return *s == '\0' || *s == '#';
}

/* ctl_word - the line (raw as read, s trimmed) as one word: a blank
 * inside is an error, and so is one before it: qmail strips blanks at
 * the end of a control line only, so it never matched such a line, and
 * imported it would widen what qmail accepted (a domain in rcpthosts). */
static int
ctl_word(struct imp *imp, const char *path, unsigned line, const char *raw,
    const char *s)
{
	char	 q[CV_QBUF];

	if (s != raw)
		return imp_fail(imp, "%s:%u: %s: blanks before the entry: "
		    "qmail keeps them, so it never matched this line; remove "
		    "the line (or the blanks, to use it from now on)", path,
		    line, cv_quote(raw, q, sizeof(q)));
	if (strpbrk(s, " \t") != NULL)
		return imp_fail(imp, "%s:%u: %s: a blank inside the entry "
		    "(one entry per line)", path, line, cv_quote(s, q,
		    sizeof(q)));
	return 0;
}

/* ctl_single - the first line of a one-value file (me, databytes...) */
static int
ctl_single(struct imp *imp, const char *name, char *path, size_t pathlen,
    struct imp_lines *l, char **val, unsigned *line)
{
	int	 rc;

	*val = NULL;
	if ((rc = ctl_read(imp, name, path, pathlen, l)) != 0)
		return rc;
	for (size_t i = 0; i < l->n; i++) {
		char *s = imp_trim(l->v[i]);

		if (ctl_skip(s))
			continue;
		if (ctl_word(imp, path, (unsigned)i + 1, l->v[i], s) == -1)
			return -1;
		*val = s;
		*line = (unsigned)i + 1;
		return 0;
	}
	return 0;
}

static int
ctl_me(struct imp *imp)
{
	char		 path[4096], err[256], *val;
	struct imp_lines l;
	unsigned	 line = 0;
	int		 rc;

	if ((rc = ctl_single(imp, "me", path, sizeof(path), &l, &val,
	    &line)) == -1) {
		imp_lines_free(&l);
		return -1;
	}
	if (val == NULL) {
		imp_unmapped(imp, "%s: missing or empty: hostname left to the "
		    "system's host name", path);
		imp_lines_free(&l);
		return 0;
	}
	if (cv_domain_norm(val, imp->hostname, sizeof(imp->hostname), err,
	    sizeof(err)) == -1) {
		imp_lines_free(&l);
		return imp_fail(imp, "%s:%u: %s", path, line, err);
	}
	imp_key_set(imp, "hostname", imp->hostname, "%s line %u", path, line);
	imp_mapped(imp, "%s:%u: hostname = %s", path, line, imp->hostname);
	imp_lines_free(&l);
	return 0;
}

/* ctl_domains_add - one domain of a list, made canonical */
static int
ctl_domains_add(struct imp *imp, struct ctl_domains *d, const char *path,
    const char *file, unsigned line, const char *s)
{
	struct ctl_domain *t;
	char		 err[256];

	if ((t = reallocarray(d->v, d->n + 1, sizeof(*t))) == NULL) {
		imp->nomem = true;
		return imp_fail(imp, "out of memory");
	}
	d->v = t;
	t = &d->v[d->n];
	if (cv_maildomain_norm(s, t->name, sizeof(t->name), err,
	    sizeof(err)) == -1)
		return imp_fail(imp, "%s:%u: %s", path, line, err);
	t->file = file;
	t->line = line;
	d->n++;
	return 0;
}

/* ctl_domains_has - is name in d? */
static bool
ctl_domains_has(const struct ctl_domains *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].name, name) == 0)
			return true;
	return false;
}

/* ctl_rcpthosts - the domains qmail-smtpd accepted mail for, from one
 * file; ".domain" entries are reported */
static int
ctl_rcpthosts(struct imp *imp, const char *name, struct ctl_domains *d,
    bool *found)
{
	char		 path[4096];
	struct imp_lines l;
	int		 rc;

	if ((rc = ctl_read(imp, name, path, sizeof(path), &l)) != 0)
		return rc == 1 ? 0 : -1;
	*found = true;
	for (size_t i = 0; i < l.n; i++) {
		char	 *s = imp_trim(l.v[i]);
		unsigned  line = (unsigned)i + 1;

		if (ctl_skip(s))
			continue;
		if (ctl_word(imp, path, line, l.v[i], s) == -1)
			goto fail;
		if (s[0] == '.') {
			imp_unmapped(imp, "%s:%u: %s: every subdomain of %s; "
			    "sallyport has no wildcard domains: list each "
			    "subdomain in local_domains or relay_domains",
			    path, line, s, s + 1);
			continue;
		}
		if (ctl_domains_add(imp, d, path, name, line, s) == -1)
			goto fail;
	}
	imp_lines_free(&l);
	return 0;
fail:
	imp_lines_free(&l);
	return -1;
}

/* ctl_locals - locals and the domains of virtualdomains: the domains
 * qmail delivers itself */
static int
ctl_locals(struct imp *imp, struct ctl_domains *d)
{
	static const char *const files[] = { "locals", "virtualdomains" };
	char		 path[4096];

	for (size_t f = 0; f < 2; f++) {
		struct imp_lines l;
		int		 rc;

		if ((rc = ctl_read(imp, files[f], path, sizeof(path), &l)) != 0)
			return rc == 1 ? 0 : -1;
		for (size_t i = 0; i < l.n; i++) {
			char	 *s = imp_trim(l.v[i]), *at, *colon;
			unsigned  line = (unsigned)i + 1;
			int	  bad;

			if (ctl_skip(s))
				continue;
			bad = ctl_word(imp, path, line, l.v[i], s);
			if (bad == 0 && f == 1) {
				/* [user@]domain:prefix; ".domain" is a
				 * wildcard, an empty prefix an exception */
				if ((colon = strchr(s, ':')) == NULL)
					bad = imp_fail(imp, "%s:%u: %s: "
					    "expected domain:prefix", path,
					    line, s);
				else
					*colon = '\0';
				if ((at = strrchr(s, '@')) != NULL)
					s = at + 1;
			}
			if (bad == 0 && (s[0] == '.' || s[0] == '\0'))
				continue;
			if (bad == 0)
				bad = ctl_domains_add(imp, d, path, files[f],
				    line, s);
			if (bad == -1) {
				imp_lines_free(&l);
				return -1;
			}
		}
		imp_lines_free(&l);
	}
	return 0;
}

/* ctl_domain_key - one of local_domains, relay_domains */
static void
ctl_domain_key(struct imp *imp, const char *key, const struct ctl_domains *d,
    const struct ctl_domains *locals, bool local)
{
	struct imp_text	 t[2];		/* the value, where it came from */
	char		*val, *why;

	if (imp_texts_open(t, 2) == -1) {
		imp->nomem = true;
		return;
	}
	for (size_t i = 0, n = 0; i < d->n; i++) {
		if (ctl_domains_has(locals, d->v[i].name) != local)
			continue;
		fprintf(t[0].fp, "%s%s", n > 0 ? " " : "", d->v[i].name);
		fprintf(t[1].fp, "%s%s:%u", n > 0 ? ", " : "", d->v[i].file,
		    d->v[i].line);
		n++;
	}
	val = imp_text_close(&t[0]);
	why = imp_text_close(&t[1]);
	imp_key_set(imp, key, val, "%s/control: the rcpthosts entries %s "
	    "locals or virtualdomains: %s", imp->qmail_dir, local ? "also in" :
	    "not in", why[0] != '\0' ? why : "none");
	imp_mapped(imp, "%s = %s (%s)", key, val, local ?
	    "accepted and delivered here" : "accepted and passed on");
	free(val);
	free(why);
}

static int
ctl_domains(struct imp *imp)
{
	struct ctl_domains rcpt = { NULL, 0 }, locals = { NULL, 0 };
	bool		 found = false;
	int		 rc = -1;

	if (ctl_rcpthosts(imp, "rcpthosts", &rcpt, &found) == -1 ||
	    ctl_rcpthosts(imp, "morercpthosts", &rcpt, &found) == -1 ||
	    ctl_locals(imp, &locals) == -1)
		goto out;
	if (!found) {
		imp_unmapped(imp, "%s/control/rcpthosts: missing: qmail-smtpd "
		    "then accepts every recipient (an open relay); "
		    "local_domains left to the hostname", imp->qmail_dir);
		rc = 0;
		goto out;
	}
	ctl_domain_key(imp, "local_domains", &rcpt, &locals, true);
	ctl_domain_key(imp, "relay_domains", &rcpt, &locals, false);
	for (size_t i = 0; i < locals.n; i++)
		if (!ctl_domains_has(&rcpt, locals.v[i].name))
			imp_unmapped(imp, "%s/control/%s:%u: %s: delivered "
			    "locally by qmail but not in rcpthosts, so never "
			    "accepted over SMTP: left out", imp->qmail_dir,
			    locals.v[i].file, locals.v[i].line,
			    locals.v[i].name);
	rc = 0;
out:
	free(rcpt.v);
	free(locals.v);
	return rc;
}

/* ctl_number - a whole line of digits */
static int
ctl_number(struct imp *imp, const char *path, unsigned line, const char *s,
    uint64_t *out)
{
	char	 q[CV_QBUF];

	*out = 0;
	if (*s == '\0')
		goto bad;
	for (const char *c = s; *c != '\0'; c++) {
		if (*c < '0' || *c > '9')
			goto bad;
		if (*out > (UINT64_MAX - 9) / 10)
			*out = UINT64_MAX / 10;		/* saturate */
		*out = *out * 10 + (uint64_t)(*c - '0');
	}
	return 0;
bad:
	return imp_fail(imp, "%s:%u: %s is not a number", path, line,
	    cv_quote(s, q, sizeof(q)));
}

/* ctl_numeric - a one-number file as a size or duration key */
static int
ctl_numeric(struct imp *imp, const char *file, const char *key,
    enum cv_units units, uint64_t min, uint64_t max)
{
	char		 path[4096], *val, text[32];
	struct imp_lines l;
	unsigned	 line = 0;
	uint64_t	 v;
	int		 rc;

	if ((rc = ctl_single(imp, file, path, sizeof(path), &l, &val,
	    &line)) != 0) {
		imp_lines_free(&l);
		return rc == 1 ? 0 : -1;
	}
	if (val == NULL) {
		imp_lines_free(&l);
		return 0;
	}
	if (ctl_number(imp, path, line, val, &v) == -1) {
		imp_lines_free(&l);
		return -1;
	}
	if (v == 0 && units == CV_UNITS_SIZE) {
		cv_number_format(max, units, text, sizeof(text));
		imp_unmapped(imp, "%s:%u: 0 means no limit in qmail; sallyport "
		    "always has one: %s = %s, the largest it allows", path,
		    line, key, text);
		v = max;
	} else if (v < min || v > max) {
		uint64_t was = v;

		v = v < min ? min : max;
		cv_number_format(v, units, text, sizeof(text));
		imp_unmapped(imp, "%s:%u: %llu is out of sallyport's range: "
		    "%s = %s instead", path, line, (unsigned long long)was,
		    key, text);
	} else {
		cv_number_format(v, units, text, sizeof(text));
		imp_mapped(imp, "%s:%u: %s = %s", path, line, key, text);
	}
	imp_key_set(imp, key, text, "%s line %u: %s", path, line, val);
	imp_lines_free(&l);
	return 0;
}

/* ctl_route_host - "host[:port]" of smtproutes as "[host]:port" */
static int
ctl_route_host(struct imp *imp, const char *path, unsigned line, char *s,
    char *out, size_t outlen)
{
	char		 host[CV_DOMAIN_MAX + 1], err[256], hp[CV_DOMAIN_MAX + 16];
	char		*colon = strchr(s, ':');
	uint64_t	 port = 25;
	unsigned char	 bin[4];

	if (colon != NULL) {
		*colon = '\0';
		if (ctl_number(imp, path, line, colon + 1, &port) == -1)
			return -1;
		if (port == 0 || port > 65535)
			return imp_fail(imp, "%s:%u: port %s out of range",
			    path, line, colon + 1);
	}
	if (inet_pton(AF_INET, s, bin) == 1)
		snprintf(host, sizeof(host), "%s", s);
	else if (cv_domain_norm(s, host, sizeof(host), err, sizeof(err)) == -1)
		return imp_fail(imp, "%s:%u: %s", path, line, err);
	snprintf(hp, sizeof(hp), "[%s]:%llu", host, (unsigned long long)port);
	if (cv_smarthost_norm(hp, out, outlen, err, sizeof(err)) == -1)
		return imp_fail(imp, "%s:%u: %s", path, line, err);
	return 0;
}

static int
ctl_smtproutes(struct imp *imp)
{
	char		 path[4096], host[CV_DOMAIN_MAX + 16];
	struct imp_lines l;
	int		 rc;
	bool		 dflt = false;

	if ((rc = ctl_read(imp, "smtproutes", path, sizeof(path), &l)) != 0)
		return rc == 1 ? 0 : -1;
	for (size_t i = 0; i < l.n; i++) {
		char	 *s = imp_trim(l.v[i]), *colon, *relay;
		unsigned  line = (unsigned)i + 1;

		if (ctl_skip(s))
			continue;
		if (ctl_word(imp, path, line, l.v[i], s) == -1)
			goto fail;
		if ((colon = strchr(s, ':')) == NULL) {
			imp_fail(imp, "%s:%u: %s: expected domain:relay or "
			    ":relay", path, line, s);
			goto fail;
		}
		relay = colon + 1;
		if (s != colon) {
			*colon = '\0';
			imp_unmapped(imp, "%s:%u: route for %s %s%s: sallyport "
			    "has one smarthost for all mail, no routes per "
			    "domain", path, line, s, *relay != '\0' ?
			    "through " : "by its MX", relay);
			continue;
		}
		if (dflt)
			continue;	/* qmail uses the first one */
		dflt = true;
		if (*relay == '\0') {
			imp_mapped(imp, "%s:%u: default route by MX: "
			    "sallyport's default too", path, line);
			continue;
		}
		if (ctl_route_host(imp, path, line, relay, host,
		    sizeof(host)) == -1)
			goto fail;
		imp_key_set(imp, "smarthost", host, "%s line %u (qmail routes "
		    "never look up MX, hence the brackets)", path, line);
		imp_mapped(imp, "%s:%u: smarthost = %s", path, line, host);
	}
	imp_lines_free(&l);
	return 0;
fail:
	imp_lines_free(&l);
	return -1;
}

static int
ctl_servercert(struct imp *imp)
{
	char	 path[4096];

	if (ctl_path(imp, "servercert.pem", path, sizeof(path)) == -1)
		return -1;
	if (access(path, F_OK) == -1) {
		imp_unmapped(imp, "%s: missing: no tls_cert, and the "
		    "submission listener needs one (STARTTLS before AUTH)",
		    path);
		return 0;
	}
	imp_key_set(imp, "tls_cert", path, "%s (certificate and key in one "
	    "file, so tls_key stays unset)", path);
	imp_mapped(imp, "%s: tls_cert = %s (the key is in the same file)",
	    path, path);
	return 0;
}

/* ctl_others - the files of control/ this import does not read */
static int
ctl_others(struct imp *imp)
{
	char		 path[4096];
	DIR		*dir;
	struct dirent	*de;

	if (ctl_path(imp, "", path, sizeof(path)) == -1)
		return -1;
	if ((dir = opendir(path)) == NULL)
		return imp_fail(imp, "%s: %s", path, strerror(errno));
	while ((de = readdir(dir)) != NULL) {
		size_t i;

		if (de->d_name[0] == '.')
			continue;
		for (i = 0; ctl_known[i] != NULL; i++)
			if (strcmp(de->d_name, ctl_known[i]) == 0)
				break;
		if (ctl_known[i] == NULL)
			imp_unmapped(imp, "%s%s: not imported (no sallyport "
			    "key for it)", path, de->d_name);
	}
	closedir(dir);
	return 0;
}

int
imp_control(struct imp *imp)
{
	if (ctl_others(imp) == -1 || ctl_me(imp) == -1 ||
	    ctl_domains(imp) == -1 ||
	    ctl_numeric(imp, "databytes", "max_message_size", CV_UNITS_SIZE,
	    CTL_SIZE_MIN, CTL_SIZE_MAX) == -1 ||
	    ctl_smtproutes(imp) == -1 || ctl_servercert(imp) == -1 ||
	    ctl_numeric(imp, "timeoutsmtpd", "command_timeout", CV_UNITS_TIME,
	    1, CTL_TIMEOUT_MAX) == -1)
		return -1;
	return 0;
}
