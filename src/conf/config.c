/*
 * config - sallyport.conf parsed into an immutable snapshot.
 *
 * This file reads the file and walks its lines: load, parse, free and
 * print. Every key is one row of conf_keys[] (config_keys.c): its type,
 * where it lives in struct config, its default as file text, and its
 * bounds. The defaults go through the same setters as the file
 * (config_types.c), so a default can never be something the file could
 * not say, and config_print walks the same table, so its output always
 * parses back. The checks across keys are config_check.c's.
 *
 * Parsing never stops at the first mistake: every error is collected
 * as "file:line: message" (config_msg.c) so that one run shows them
 * all. Nothing here logs and nothing here resolves names (the hostname
 * default comes from gethostname(), listen addresses must be numeric).
 * What a valid value of each kind looks like is config_value.c's
 * business.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "conf/aliases.h"
#include "conf/rcpt_table.h"
#include "conf/sendermap.h"
#include "conf/config.h"
#include "conf/config_addr.h"
#include "conf/config_check.h"
#include "conf/config_keys.h"
#include "conf/config_msg.h"
#include "conf/config_types.h"
#include "conf/config_value.h"

#define CONF_FILE_MAX	(1024 * 1024)	/* a config file is small */
#define CONF_ERRORS_MAX	100		/* then we stop reading */

/* --- the parse ---------------------------------------------------------- */

/* conf_sysname - the system's host name: the hostname default */
static void
conf_sysname(char *out, size_t outlen)
{
	if (gethostname(out, outlen) == -1)
		out[0] = '\0';
	out[outlen - 1] = '\0';
}

/* conf_defaults - every key's default, before the file is read. A
 * system name that is no domain name is not an error yet: the file may
 * set hostname (conf_finish checks). */
static void
conf_defaults(struct conf_parse *p, const char *sysname)
{
	char	 item[CV_LINE_MAX + 1], err[CONF_ERR_LEN];

	for (size_t i = 0; i < conf_nkeys; i++) {
		const struct conf_key *k = &conf_keys[i];
		const char *d = k->def;

		if ((k->flags & CONF_F_SYSNAME) && sysname[0] != '\0') {
			(void)conf_type_set(p, k, sysname, err,
			    sizeof(err));
			continue;
		}
		if (d == NULL)
			continue;
		if (!(k->flags & CONF_F_REPEAT)) {
			conf_set(p, k, d);
			continue;
		}
		/* A repeating key's default stands for several lines. */
		while (*d != '\0') {
			size_t n = strcspn(d, ",");

			memcpy(item, d, n);
			item[n] = '\0';
			conf_set(p, k, item);
			d += n + (d[n] == ',');
		}
	}
}

/* conf_wanted - is key among only (a NULL-ended list; NULL: all)? */
static bool
conf_wanted(const char *const *only, const char *key)
{
	if (only == NULL)
		return true;
	for (; *only != NULL; only++)
		if (strcmp(*only, key) == 0)
			return true;
	return false;
}

/* conf_line - one line: blank, comment or "key = value"; a key not in
 * only (config_load_keys) is passed over unread */
static void
conf_line(struct conf_parse *p, char *line, const char *const *only)
{
	char			*s = line, *eq, *end, *val;
	const struct conf_key	*k;
	size_t			 i;
	char			 q[CV_QBUF];

	while (cv_isblank(*s))
		s++;
	if (*s == '\0' || *s == '#')
		return;
	if ((eq = strchr(s, '=')) == NULL) {
		conf_error(p, "missing '=' (expected key = value)");
		return;
	}
	for (end = eq; end > s && cv_isblank(end[-1]); end--)
		;
	*end = '\0';
	if (*s == '\0') {
		conf_error(p, "missing key before '='");
		return;
	}
	/* A '#' starts a comment at the value's start or after a blank;
	 * elsewhere it belongs to the value (a path may hold one). */
	val = eq + 1;
	while (cv_isblank(*val))
		val++;
	for (end = val; *end != '\0'; end++)
		if (*end == '#' && (end == val || cv_isblank(end[-1])))
			break;
	while (end > val && cv_isblank(end[-1]))
		end--;
	*end = '\0';

	if (!conf_wanted(only, s))
		return;
	if ((i = conf_key_index(s)) == conf_nkeys) {
		conf_error(p, "unknown key %s", cv_quote(s, q, sizeof(q)));
		return;
	}
	k = &conf_keys[i];
	if (p->seen[i] != 0 && !(k->flags & CONF_F_REPEAT)) {
		conf_error(p, "duplicate key '%s' (first set at line %u)",
		    k->name, p->seen[i]);
		return;
	}
	if (p->seen[i] == 0) {
		p->seen[i] = p->lineno;
		/* The first line of a repeating key replaces the default
		 * rather than adding to it. */
		if (k->flags & CONF_F_REPEAT)
			conf_type_free(p->cfg, k);
	}
	conf_set(p, k, val);
}

/* conf_parse_text - config_parse, or with only the keys of only read
 * and no checks across keys (config_load_keys) */
static struct config *
conf_parse_text(const char *text, const char *name,
    const char *const *only, char **errors)
{
	struct conf_parse p;
	struct config	*cfg;
	char		 line[CV_LINE_MAX + 1], sysname[256];
	const char	*s = text;

	memset(&p, 0, sizeof(p));
	p.name = name;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
	    (cfg->path = strdup(name)) == NULL) {
		free(cfg);
		p.nomem = true;
		conf_report(&p, errors);
		return NULL;
	}
	p.cfg = cfg;
	conf_sysname(sysname, sizeof(sysname));
	conf_defaults(&p, sysname);

	while (*s != '\0' && p.nerrors < CONF_ERRORS_MAX) {
		size_t	 len = strcspn(s, "\n");
		bool	 ok = true;

		p.lineno++;
		if (len > 0 && s[len - 1] == '\r')
			len--;		/* CRLF files are common enough */
		if (len > CV_LINE_MAX) {
			conf_error(&p, "line too long (more than %d bytes)",
			    CV_LINE_MAX);
			ok = false;
		}
		for (size_t i = 0; ok && i < len; i++) {
			unsigned char c = (unsigned char)s[i];

			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				conf_error(&p, "control character 0x%02x "
				    "in line", c);
				ok = false;
			}
		}
		if (ok) {
			memcpy(line, s, len);
			line[len] = '\0';
			conf_line(&p, line, only);
		}
		s += strcspn(s, "\n");
		if (*s == '\n')
			s++;
	}
	if (*s != '\0')
		conf_error(&p, "too many errors, stopped reading at line %u",
		    p.lineno);
	else if (only == NULL)
		conf_finish(&p, sysname);

	if (p.nerrors > 0 || p.nomem) {
		config_free(cfg);
		cfg = NULL;
	}
	conf_report(&p, errors);
	return cfg;
}

struct config *
config_parse(const char *text, const char *name, char **errors)
{
	return conf_parse_text(text, name, NULL, errors);
}

/* conf_digest - SHA-256 of len bytes at data, as hex into out; 0, or
 * -1 (libcrypto could not, out of memory) */
static int
conf_digest(const char *data, size_t len, char out[CONFIG_DIGEST_HEX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen, i;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen * 2 + 1 != CONFIG_DIGEST_HEX)
		return -1;
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * mdlen] = '\0';
	return 0;
}

struct config *
config_load_tell(const char *path)
{
	char		*errors = NULL;
	struct config	*cfg = config_load(path, &errors);

	if (errors != NULL && *errors != '\0')
		fputs(errors, stderr);
	free(errors);
	return cfg;
}

/* conf_load_file - config_load, or config_load_keys with only */
static struct config *
conf_load_file(const char *path, const char *const *only, char **errors)
{
	struct conf_parse p;
	FILE		*fp;
	char		*data;
	size_t		 len;
	struct config	*cfg;

	memset(&p, 0, sizeof(p));
	p.name = path;
	if ((data = malloc(CONF_FILE_MAX + 1)) == NULL) {
		p.nomem = true;
		goto fail;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		conf_error(&p, "cannot open: %s", strerror(errno));
		goto fail;
	}
	/* One byte more than allowed tells a file at the limit from one
	 * past it. */
	len = fread(data, 1, CONF_FILE_MAX + 1, fp);
	if (ferror(fp)) {
		conf_error(&p, "cannot read: %s", strerror(errno));
		fclose(fp);
		goto fail;
	}
	fclose(fp);
	if (len > CONF_FILE_MAX) {
		conf_error(&p, "file too large (more than %d bytes)",
		    CONF_FILE_MAX);
		goto fail;
	}
	data[len] = '\0';
	if (strlen(data) != len) {
		/* config_parse sees C strings: a NUL would end the file
		 * early and silently. */
		p.lineno = 1;
		for (const char *c = data; *c != '\0'; c++)
			p.lineno += *c == '\n';
		conf_error(&p, "NUL byte in line");
		goto fail;
	}
	cfg = conf_parse_text(data, path, only, errors);
	/* Which bytes these were: the processes that read the file after
	 * the master tell an edit in between from the file it took. */
	if (cfg != NULL && conf_digest(data, len, cfg->digest) == -1) {
		config_free(cfg);
		cfg = NULL;
		if (errors != NULL) {
			free(*errors);
			*errors = strdup("out of memory (SHA-256 of the "
			    "file)\n");
		}
	}
	free(data);
	return cfg;
fail:
	free(data);
	conf_report(&p, errors);
	return NULL;
}

struct config *
config_load(const char *path, char **errors)
{
	return conf_load_file(path, NULL, errors);
}

struct config *
config_load_keys(const char *path, const char *const *only, char **errors)
{
	return conf_load_file(path, only, errors);
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < conf_nkeys; i++)
		conf_type_free(cfg, &conf_keys[i]);
	rcpt_table_free(cfg->rcpt_table);
	alias_table_free(cfg->alias_table);
	sender_map_free(cfg->sender_map);
	free(cfg->path);
	free(cfg);
}

void
config_print(const struct config *cfg, FILE *fp)
{
	for (size_t i = 0; i < conf_nkeys; i++)
		conf_type_print(cfg, &conf_keys[i], fp);
}

bool
config_qmail_queue(const struct config *cfg)
{
	return cfg->local_delivery != NULL &&
	    strncmp(cfg->local_delivery, "qmail-queue:", 12) == 0;
}

const char *
config_role_name(enum listen_role role)
{
	/* No `listen` line may name it: the local socket's alone. */
	if (role == ROLE_LOCAL)
		return "local";
	return cv_role_name(role);
}

void
config_listen_name(const struct listen_spec *ls, bool proxy, char *out,
    size_t outlen)
{
	bool	 v6 = ls->host != NULL && strchr(ls->host, ':') != NULL;

	snprintf(out, outlen, "%s%s%s:%s %s%s", v6 ? "[" : "",
	    ls->host ? ls->host : "*", v6 ? "]" : "", ls->port,
	    config_role_name(ls->role), proxy ? " proxy" : "");
}
