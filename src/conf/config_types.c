/*
 * config_types - what each type of configuration value does: set a
 * key's field in struct config from file text (through config_value.c's
 * checks), print it back as "key = value" lines that parse again, and
 * free it. Indexed by enum conf_type; the keys are in config_keys.c.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conf/aliases.h"
#include "conf/config_addr.h"
#include "conf/config_dkim.h"
#include "conf/config_milter.h"
#include "conf/config_types.h"
#include "conf/config_value.h"
#include "conf/dnsbl_site.h"
#include "conf/rcpt_table.h"

/* conf_field - where a key's value lives in cfg */
static void *
conf_field(struct config *cfg, size_t off)
{
	return (char *)cfg + off;
}

/* --- setters: parse `val` into the key's field, replacing it whole ---- */

typedef int conf_set_fn(struct conf_parse *, const struct conf_key *,
    const char *, char *, size_t);
typedef void conf_print_fn(const struct config *, const struct conf_key *,
    FILE *);
typedef void conf_free_fn(struct config *, const struct conf_key *);
/* A value, or one list item, checked and made canonical (config_value). */
typedef int conf_norm_fn(const char *, char *, size_t, char *, size_t);

static conf_norm_fn *conf_norm_of(enum conf_type);

/* conf_set_string - one word through the type's norm; empty is NULL */
static int
conf_set_string(struct conf_parse *p, const struct conf_key *k,
    const char *val, char *err, size_t errlen)
{
	char	**field = conf_field(p->cfg, k->off);
	char	  word[CV_LINE_MAX + 1], *s = NULL;

	if (val[0] != '\0') {
		if (conf_norm_of(k->type)(val, word, sizeof(word), err,
		    errlen) == -1)
			return -1;
		if ((s = strdup(word)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	free(*field);
	*field = s;
	return 0;
}

/* conf_units_of - the units a numeric type accepts */
static enum cv_units
conf_units_of(enum conf_type type)
{
	if (type == CONF_SIZE)
		return CV_UNITS_SIZE;
	if (type == CONF_DURATION)
		return CV_UNITS_TIME;
	return CV_UNITS_PLAIN;
}

/* conf_set_number - sizes are uint64_t fields, other numbers unsigned */
static int
conf_set_number(struct conf_parse *p, const struct conf_key *k,
    const char *val, char *err, size_t errlen)
{
	void		*field = conf_field(p->cfg, k->off);
	uint64_t	 v;

	if (cv_number_parse(val, conf_units_of(k->type), k->min, k->max, &v,
	    err, errlen) == -1)
		return -1;
	if (k->type == CONF_SIZE)
		*(uint64_t *)field = v;
	else
		*(unsigned *)field = (unsigned)v;  /* bounds keep it small */
	return 0;
}

static int
conf_set_cidrs(struct conf_parse *p, const struct conf_key *k,
    const char *val, char *err, size_t errlen)
{
	struct cidr	**field = conf_field(p->cfg, k->off);
	size_t		 *nfield = conf_field(p->cfg, k->off_n);
	struct cidr	 *v;
	size_t		  n;

	if (cv_cidrs_parse(val, &v, &n, err, errlen) == -1)
		return -1;
	free(*field);
	*field = v;
	*nfield = n;
	return 0;
}

static void
conf_strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
conf_set_bool(struct conf_parse *p, const struct conf_key *k,
    const char *val, char *err, size_t errlen)
{
	return cv_bool_parse(val, conf_field(p->cfg, k->off), err, errlen);
}

/* conf_set_strlist - a list, each item made canonical; one listed
 * twice is only a warning: the list means the same with it once */
static int
conf_set_strlist(struct conf_parse *p, const struct conf_key *k,
    const char *val, char *err, size_t errlen)
{
	struct strlist	*field = conf_field(p->cfg, k->off);
	struct strlist	 l = { NULL, 0 };
	char		 item[CV_LINE_MAX + 1], name[CV_LINE_MAX + 1];
	char		 q[CV_QBUF], **t;
	conf_norm_fn	*norm = conf_norm_of(k->type);

	while ((val = cv_next_item(val, item, sizeof(item))) != NULL) {
		if (norm(item, name, sizeof(name), err, errlen) == -1)
			goto fail;
		for (size_t i = 0; i < l.n; i++)
			if (strcmp(l.v[i], name) == 0) {
				conf_warn(p, "%s: %s is listed twice",
				    k->name, cv_quote(name, q, sizeof(q)));
				goto next;
			}
		if ((t = reallocarray(l.v, l.n + 1, sizeof(*l.v))) == NULL)
			goto nomem;
		l.v = t;
		if ((l.v[l.n] = strdup(name)) == NULL)
			goto nomem;
		l.n++;
next:		;
	}
	conf_strlist_free(field);
	*field = l;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	conf_strlist_free(&l);
	return -1;
}

/* conf_set_secrets - srs_secret: each line adds its items (the first
 * signs, all verify); printable, without blanks */
static int
conf_set_secrets(struct conf_parse *p, const struct conf_key *k,
    const char *val, char *err, size_t errlen)
{
	struct strlist	*field = conf_field(p->cfg, k->off);
	char		 item[CV_LINE_MAX + 1], **t;

	while ((val = cv_next_item(val, item, sizeof(item))) != NULL) {
		for (const char *c = item; *c != '\0'; c++)
			if (*c < 0x21 || *c > 0x7e) {
				snprintf(err, errlen, "a secret is printable "
				    "ASCII");
				return -1;
			}
		if ((t = reallocarray(field->v, field->n + 1,
		    sizeof(*t))) == NULL || (t[field->n] = strdup(item)) ==
		    NULL) {
			if (t != NULL)
				field->v = t;
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		field->v = t;
		field->n++;
	}
	return 0;
}

/* conf_set_listen - add one listener; unlike other keys, each line
 * adds to the list, so a repeat is caught here */
static int
conf_set_listen(struct conf_parse *p, const struct conf_key *k,
    const char *val, char *err, size_t errlen)
{
	struct listen_spec **field = conf_field(p->cfg, k->off);
	size_t		  *nfield = conf_field(p->cfg, k->off_n);
	struct listen_spec ls = { 0 }, *t;
	struct cv_listen   l;
	const char	  *hostp;

	if (cv_listen_parse(val, &l, err, errlen) == -1)
		return -1;
	hostp = l.host[0] != '\0' ? l.host : NULL;
	for (size_t i = 0; i < *nfield; i++) {
		const struct listen_spec *o = &(*field)[i];

		if (strcmp(o->port, l.port) == 0 && (o->host == hostp ||
		    (o->host != NULL && hostp != NULL &&
		    strcmp(o->host, hostp) == 0))) {
			snprintf(err, errlen, "%s%s%s:%s is listed twice",
			    l.family == AF_INET6 ? "[" : "",
			    hostp ? hostp : "*",
			    l.family == AF_INET6 ? "]" : "", l.port);
			return -1;
		}
	}

	/* One endpoint serves every process's counters: a second would
	 * only serve the same numbers again. */
	if (l.role == ROLE_METRICS && p->role_line[ROLE_METRICS] != 0) {
		snprintf(err, errlen, "a second metrics listener (the first "
		    "is on line %u): one serves every counter",
		    p->role_line[ROLE_METRICS]);
		return -1;
	}
	if (p->role_line[l.role] == 0)
		p->role_line[l.role] = p->lineno;
	if (l.proxy && p->proxy_line == 0)
		p->proxy_line = p->lineno;
	ls.role = l.role;
	ls.proxy = l.proxy;
	ls.host = hostp != NULL ? strdup(hostp) : NULL;
	ls.port = strdup(l.port);
	t = reallocarray(*field, *nfield + 1, sizeof(**field));
	if ((hostp != NULL && ls.host == NULL) || ls.port == NULL ||
	    t == NULL) {
		free(ls.host);
		free(ls.port);
		if (t != NULL)
			*field = t;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*field = t;
	t[(*nfield)++] = ls;
	return 0;
}

/* --- printers: one or more whole "key = value" lines ----------------- */

static void
conf_print_string(const struct config *cfg, const struct conf_key *k,
    FILE *fp)
{
	char *const *field = (const void *)((const char *)cfg + k->off);

	if (*field != NULL)
		fprintf(fp, "%s = %s\n", k->name, *field);
	else
		fprintf(fp, "%s =\n", k->name);
}

static void
conf_print_number(const struct config *cfg, const struct conf_key *k,
    FILE *fp)
{
	const void	*field = (const char *)cfg + k->off;
	uint64_t	 v;
	char		 out[32];

	if (k->type == CONF_SIZE)
		v = *(const uint64_t *)field;
	else
		v = *(const unsigned *)field;
	cv_number_format(v, conf_units_of(k->type), out, sizeof(out));
	fprintf(fp, "%s = %s\n", k->name, out);
}

static void
conf_print_bool(const struct config *cfg, const struct conf_key *k, FILE *fp)
{
	const bool *field = (const void *)((const char *)cfg + k->off);

	fprintf(fp, "%s = %s\n", k->name, cv_bool_name(*field));
}

static void
conf_print_cidrs(const struct config *cfg, const struct conf_key *k, FILE *fp)
{
	const struct cidr *v = *(struct cidr *const *)
	    (const void *)((const char *)cfg + k->off);
	size_t		 n = *(const size_t *)(const void *)
	    ((const char *)cfg + k->off_n);
	char		 buf[CIDR_STRLEN];

	fprintf(fp, "%s =", k->name);
	for (size_t i = 0; i < n; i++) {
		cidr_format(&v[i], buf, sizeof(buf));
		fprintf(fp, " %s", buf);
	}
	fputc('\n', fp);
}

static void
conf_print_strlist(const struct config *cfg, const struct conf_key *k,
    FILE *fp)
{
	const struct strlist *l = (const void *)((const char *)cfg + k->off);

	fprintf(fp, "%s =", k->name);
	for (size_t i = 0; i < l->n; i++)
		fprintf(fp, " %s", l->v[i]);
	fputc('\n', fp);
}

/* conf_print_secrets - how many, never what: the output may be shown */
static void
conf_print_secrets(const struct config *cfg, const struct conf_key *k,
    FILE *fp)
{
	const struct strlist *l = (const void *)((const char *)cfg + k->off);

	for (size_t i = 0; i < l->n; i++)
		fprintf(fp, "%s = (secret %zu, hidden)\n", k->name, i + 1);
	if (l->n == 0)
		fprintf(fp, "%s =\n", k->name);
}

static void
conf_print_listen(const struct config *cfg, const struct conf_key *k,
    FILE *fp)
{
	for (size_t i = 0; i < cfg->nlisten; i++) {
		const struct listen_spec *l = &cfg->listen[i];
		bool v6 = l->host != NULL && strchr(l->host, ':') != NULL;

		fprintf(fp, "%s = %s%s%s:%s %s%s\n", k->name, v6 ? "[" : "",
		    l->host != NULL ? l->host : "*", v6 ? "]" : "", l->port,
		    cv_role_name(l->role), l->proxy ? " proxy" : "");
	}
}

/* --- freers ----------------------------------------------------------- */

static void
conf_free_ptr(struct config *cfg, const struct conf_key *k)
{
	void	**field = conf_field(cfg, k->off);

	free(*field);
	*field = NULL;
	if (k->off_n != 0)
		*(size_t *)conf_field(cfg, k->off_n) = 0;
}

static void
conf_free_none(struct config *cfg, const struct conf_key *k)
{
	(void)cfg;
	(void)k;
}

static void
conf_free_strlist(struct config *cfg, const struct conf_key *k)
{
	conf_strlist_free(conf_field(cfg, k->off));
}

static void
conf_free_listen(struct config *cfg, const struct conf_key *k)
{
	for (size_t i = 0; i < cfg->nlisten; i++) {
		free(cfg->listen[i].host);
		free(cfg->listen[i].port);
	}
	conf_free_ptr(cfg, k);
}

/* What each type does, indexed by enum conf_type. `expect` ends the
 * message for a missing value; `norm` checks a word or list item. */
static const struct {
	conf_set_fn	*set;
	conf_print_fn	*print;
	conf_free_fn	*free;
	conf_norm_fn	*norm;
	const char	*expect;
} conf_types[] = {
	[CONF_STRING] = { conf_set_string, conf_print_string, conf_free_ptr,
	    cv_user_norm, "a name" },
	[CONF_PATH] = { conf_set_string, conf_print_string, conf_free_ptr,
	    cv_path_norm, "an absolute path" },
	[CONF_HOSTNAME] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_domain_norm, "a domain name" },
	[CONF_CIPHERS] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_ciphers_norm, "a cipher list" },
	[CONF_PWCHECK] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_pwcheck_norm, "auxprop or saslauthd" },
	[CONF_SASLBACKEND] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_sasl_backend_norm, "cyrus or dovecot" },
	[CONF_LOCALPART] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_localpart_norm, "a local part" },
	[CONF_DELIVERY] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_local_delivery_norm, "maildir:TEMPLATE, "
	    "lmtp:unix:PATH or lmtp:ADDRESS:PORT" },
	[CONF_SMARTHOST] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_smarthost_norm, "HOST:PORT or [HOST]:PORT" },
	[CONF_TLSMODE] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_smarthost_tls_norm, "required, opportunistic, "
	    "none or dane" },
	[CONF_DOWNGRADE] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_mime_8bit_downgrade_norm, "convert or bounce" },
	[CONF_UINT] = { conf_set_number, conf_print_number, conf_free_none,
	    NULL, "a number" },
	[CONF_BOOL] = { conf_set_bool, conf_print_bool, conf_free_none,
	    NULL, "yes or no" },
	[CONF_SIZE] = { conf_set_number, conf_print_number, conf_free_none,
	    NULL, "a size such as 25M" },
	[CONF_DURATION] = { conf_set_number, conf_print_number,
	    conf_free_none, NULL, "a duration such as 5m" },
	[CONF_CIDRS] = { conf_set_cidrs, conf_print_cidrs, conf_free_ptr,
	    NULL, "networks" },
	[CONF_DOMAINS] = { conf_set_strlist, conf_print_strlist,
	    conf_free_strlist, cv_maildomain_norm, "domains" },
	[CONF_SERVERS] = { conf_set_strlist, conf_print_strlist,
	    conf_free_strlist, cv_server_norm, "servers" },
	[CONF_PROTOCOLS] = { conf_set_strlist, conf_print_strlist,
	    conf_free_strlist, cv_tls_protocol_norm, "TLSv1.2 and/or "
	    "TLSv1.3" },
	[CONF_MECHS] = { conf_set_strlist, conf_print_strlist,
	    conf_free_strlist, cv_sasl_mech_norm, "mechanism names" },
	[CONF_LOCALPARTS] = { conf_set_strlist, conf_print_strlist,
	    conf_free_strlist, cv_localpart_norm, "local parts" },
	[CONF_LISTEN] = { conf_set_listen, conf_print_listen,
	    conf_free_listen, NULL, "ADDRESS:PORT [ROLE] [proxy]" },
	[CONF_BARE_NL] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_bare_newline_norm, "reject or normalize" },
	[CONF_BARE_NL_CLIENTS] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_bare_newline_clients_norm, "trusted or all" },
	[CONF_DKIM_SIGN] = { conf_set_dkim_sign, conf_print_dkim_sign,
	    conf_free_dkim_sign, NULL, "DOMAIN SELECTOR KEYFILE" },
	[CONF_AUTH_POLICY] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_auth_policy_norm, "off, header or enforce" },
	[CONF_DKIM_POLICY] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_dkim_policy_norm, "off or header" },
	[CONF_ADDRESS] = { conf_set_string, conf_print_string,
	    conf_free_ptr, alias_address_norm, "an address local@domain" },
	[CONF_DNSBL] = { conf_set_strlist, conf_print_strlist,
	    conf_free_strlist, dnsbl_site_norm, "ZONE[=FILTER][*WEIGHT] ..." },
	[CONF_TEXT] = { conf_set_string, conf_print_string,
	    conf_free_ptr, dnsbl_reply_norm, "a line of text" },
	[CONF_MILTER] = { conf_set_milter, conf_print_milter,
	    conf_free_milter, NULL, "NAME unix:PATH|inet:HOST:PORT "
	    "[option=value ...]" },
	[CONF_MILTER_ACTION] = { conf_set_string, conf_print_string,
	    conf_free_ptr, conf_milter_action_norm, "accept, tempfail or "
	    "reject" },
	[CONF_DELIMITER] = { conf_set_string, conf_print_string,
	    conf_free_ptr, rcpt_delimiter_norm, "delimiter characters such "
	    "as +" },
	[CONF_COMMIT] = { conf_set_string, conf_print_string,
	    conf_free_ptr, cv_queue_commit_norm, "journal or files" },
	[CONF_SECRETS] = { conf_set_secrets, conf_print_secrets,
	    conf_free_strlist, NULL, "secrets" },
};

static conf_norm_fn *
conf_norm_of(enum conf_type type)
{
	return conf_types[type].norm;
}

/* conf_set - run the key's setter on one value and report its error */
void
conf_set(struct conf_parse *p, const struct conf_key *k, const char *val)
{
	char	 err[CONF_ERR_LEN];

	if (val[0] == '\0' && !(k->flags & CONF_F_EMPTY)) {
		conf_error(p, "%s: value missing (expected %s)", k->name,
		    conf_types[k->type].expect);
		return;
	}
	if (conf_types[k->type].set(p, k, val, err, sizeof(err)) == -1)
		conf_error(p, "%s: %s", k->name, err);
}

int
conf_type_set(struct conf_parse *p, const struct conf_key *k,
    const char *val, char *err, size_t errlen)
{
	return conf_types[k->type].set(p, k, val, err, errlen);
}

void
conf_type_print(const struct config *cfg, const struct conf_key *k,
    FILE *fp)
{
	conf_types[k->type].print(cfg, k, fp);
}

void
conf_type_free(struct config *cfg, const struct conf_key *k)
{
	conf_types[k->type].free(cfg, k);
}
