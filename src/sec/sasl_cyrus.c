/*
 * sasl_cyrus - the process's one Cyrus SASL set-up.
 *
 * sasl_server_init runs once, with a getopt callback that answers
 * Cyrus's options from our config (pwcheck_method, auxprop_plugin,
 * sasldb_path, saslauthd_path, mech_list, log_level) and a log callback
 * into our log. Cyrus cannot be set up again with other options in the
 * same process, so a later sasl_cyrus_start keeps the first settings
 * (it only narrows the mechanisms offered), and sasl_server_done is
 * never called. Options we do not answer fall back to Cyrus's file for
 * the application "sallyport" (/etc/sasl2/sallyport.conf), never to
 * smtp.conf: the place for a Cyrus option we do not know (ldapdb_uri).
 *
 * The two lists of mechanisms we offer (without TLS: no plaintext ones;
 * with TLS: all) come from sasl_listmech on throwaway conns at set-up;
 * they cannot change later, as the plug-ins and mech_list cannot, so
 * sasl_session_mechanisms needs no Cyrus call.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/log.h"
#include "sec/sasl_cyrus.h"

#define CYRUS_APPNAME	"sallyport"	/* names Cyrus's own config file */
#define CYRUS_LOG_LEVEL	"3"		/* SASL_LOG_WARN and more serious */
#define SASLAUTHD_MECHS	"PLAIN LOGIN"	/* all that saslauthd can check */
/* Offered when sasl_mechanisms is empty and passwords are in a sasldb,
 * those of them that the installed plug-ins have: what every client
 * does inside TLS, and SCRAM, which never shows the server a password.
 * Not the rest Cyrus may have (CRAM-MD5, DIGEST-MD5, NTLM, ...): old
 * or weak, and asked for by name when needed (sallyport-import-qmail
 * does, for cmd5checkpw's users). */
#define DEFAULT_MECHS	"PLAIN LOGIN SCRAM-SHA-256"

/* The options Cyrus asks cyrus_getopt for; NULL: not answered. */
struct cyrus_opts {
	char	*pwcheck_method;	/* "auxprop" or "saslauthd" */
	char	*sasldb_path;
	char	*saslauthd_path;	/* the socket itself: ".../mux" */
	char	*mech_list;
};

static pthread_mutex_t	 cyrus_init_lock = PTHREAD_MUTEX_INITIALIZER;
static bool		 cyrus_ready;		/* guarded by cyrus_init_lock */
static struct cyrus_opts cyrus_opts;		/* read-only once ready */
static char		*cyrus_mechs[2];	/* Cyrus's lists, as mechs[] */

/* Cyrus's own locks are no-ops unless the application gives it real
 * ones; with them, Cyrus is thread-safe as long as one conn is used by
 * one thread at a time (its documentation's condition), which
 * sasl_cyrus_jobs.c keeps. */
static void *
cyrus_mutex_alloc(void)
{
	pthread_mutex_t *m;

	if ((m = malloc(sizeof(*m))) != NULL &&
	    pthread_mutex_init(m, NULL) != 0) {
		free(m);
		m = NULL;
	}
	return m;
}

static int
cyrus_mutex_lock(void *m)
{
	return pthread_mutex_lock(m) == 0 ? SASL_OK : SASL_FAIL;
}

static int
cyrus_mutex_unlock(void *m)
{
	return pthread_mutex_unlock(m) == 0 ? SASL_OK : SASL_FAIL;
}

static void
cyrus_mutex_free(void *m)
{
	if (m != NULL)
		pthread_mutex_destroy(m);
	free(m);
}

/* cyrus_getopt - Cyrus's options, from the config of the first server */
static int
cyrus_getopt(void *ctx, const char *plugin, const char *option,
    const char **result, unsigned *len)
{
	const struct cyrus_opts *o = &cyrus_opts;
	const char *v = NULL;

	(void)ctx;
	(void)plugin;
	if (strcmp(option, "pwcheck_method") == 0)
		v = o->pwcheck_method;
	else if (strcmp(option, "auxprop_plugin") == 0)
		v = strcmp(o->pwcheck_method, "auxprop") == 0 ? "sasldb" : NULL;
	else if (strcmp(option, "sasldb_path") == 0)
		v = o->sasldb_path;
	else if (strcmp(option, "saslauthd_path") == 0)
		v = o->saslauthd_path;
	else if (strcmp(option, "mech_list") == 0)
		v = o->mech_list;
	else if (strcmp(option, "log_level") == 0)
		v = CYRUS_LOG_LEVEL;
	if (v == NULL)
		return SASL_FAIL;
	*result = v;
	if (len != NULL)
		*len = (unsigned)strlen(v);
	return SASL_OK;
}

/* sasl_cyrus_log - Cyrus's messages in our log, with the client's
 * "IP;port" (ctx) when there is one */
int
sasl_cyrus_log(void *ctx, int level, const char *msg)
{
	const char *remote = ctx;
	enum log_level lvl;
	char esc[512];

	switch (level) {
	case SASL_LOG_ERR:	lvl = LOG_LVL_ERR; break;
	case SASL_LOG_FAIL:	lvl = LOG_LVL_INFO; break;
	case SASL_LOG_WARN:	lvl = LOG_LVL_WARN; break;
	case SASL_LOG_NOTE:	lvl = LOG_LVL_INFO; break;
	case SASL_LOG_DEBUG:	lvl = LOG_LVL_DEBUG; break;
	default:		return SASL_OK;	/* traces may hold secrets */
	}
	log_escape(esc, sizeof(esc), msg, strlen(msg));
	if (remote != NULL)
		log_msg(lvl, "sasl remote=%s: %s", remote, esc);
	else
		log_msg(lvl, "sasl: %s", esc);
	return SASL_OK;
}

static const sasl_callback_t cyrus_callbacks[] = {
	{ SASL_CB_GETOPT, SASL_CYRUS_PROC(cyrus_getopt), NULL },
	{ SASL_CB_LOG, SASL_CYRUS_PROC(sasl_cyrus_log), NULL },
	{ SASL_CB_LIST_END, NULL, NULL },
};

/* strlist_join - the names, space separated; NULL when there are none */
static char *
strlist_join(const struct strlist *l)
{
	size_t i, n = 0;
	char *s;

	if (l->n == 0)
		return NULL;
	for (i = 0; i < l->n; i++)
		n += strlen(l->v[i]) + 1;
	if ((s = malloc(n)) == NULL)
		return NULL;
	for (i = 0, n = 0; i < l->n; i++) {
		if (i > 0)
			s[n++] = ' ';
		memcpy(s + n, l->v[i], strlen(l->v[i]));
		n += strlen(l->v[i]);
	}
	s[n] = '\0';
	return s;
}

static void
opts_free(struct cyrus_opts *o)
{
	free(o->pwcheck_method);
	free(o->sasldb_path);
	free(o->saslauthd_path);
	free(o->mech_list);
	memset(o, 0, sizeof(*o));
}

static bool
same(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool
opts_equal(const struct cyrus_opts *a, const struct cyrus_opts *b)
{
	return same(a->pwcheck_method, b->pwcheck_method) &&
	    same(a->sasldb_path, b->sasldb_path) &&
	    same(a->saslauthd_path, b->saslauthd_path) &&
	    same(a->mech_list, b->mech_list);
}

/* opts_from - Cyrus's options for cfg */
static int
opts_from(struct cyrus_opts *o, const struct config *cfg, char *err,
    size_t errlen)
{
	const char *pw = cfg->sasl_pwcheck_method ? cfg->sasl_pwcheck_method :
	    "auxprop";
	const char *sock = cfg->sasl_saslauthd_path;
	size_t n;

	memset(o, 0, sizeof(*o));
	if (strcmp(pw, "auxprop") != 0 && strcmp(pw, "saslauthd") != 0) {
		snprintf(err, errlen, "sasl_pwcheck_method %s: auxprop or "
		    "saslauthd", pw);
		return -1;
	}
	if ((o->pwcheck_method = strdup(pw)) == NULL)
		goto nomem;
	if (cfg->sasl_sasldb_path != NULL &&
	    (o->sasldb_path = strdup(cfg->sasl_sasldb_path)) == NULL)
		goto nomem;
	/* Our setting is saslauthd's directory; Cyrus wants its socket. */
	if (sock != NULL) {
		n = strlen(sock);
		if ((o->saslauthd_path = malloc(n + sizeof("/mux"))) == NULL)
			goto nomem;
		memcpy(o->saslauthd_path, sock, n + 1);
		if (n < 4 || strcmp(sock + n - 4, "/mux") != 0)
			memcpy(o->saslauthd_path + n, "/mux", sizeof("/mux"));
	}
	if (cfg->sasl_mechanisms.n > 0)
		o->mech_list = strlist_join(&cfg->sasl_mechanisms);
	else
		o->mech_list = strdup(strcmp(pw, "saslauthd") == 0 ?
		    SASLAUTHD_MECHS : DEFAULT_MECHS);
	if (o->mech_list == NULL)
		goto nomem;
	return 0;
nomem:
	opts_free(o);
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* sasl_cyrus_secure - plaintext mechanisms only over TLS, never
 * anonymous, no SASL security layer (SMTP does not use one) */
int
sasl_cyrus_secure(sasl_conn_t *conn, unsigned ssf)
{
	sasl_security_properties_t sp;
	sasl_ssf_t ext = ssf;
	int rc;

	if ((rc = sasl_setprop(conn, SASL_SSF_EXTERNAL, &ext)) != SASL_OK)
		return rc;
	memset(&sp, 0, sizeof(sp));
	sp.min_ssf = 0;
	sp.max_ssf = 0;
	sp.security_flags = SASL_SEC_NOANONYMOUS;
	if (ssf == 0)
		sp.security_flags |= SASL_SEC_NOPLAINTEXT;
	return sasl_setprop(conn, SASL_SEC_PROPS, &sp);
}

/* cyrus_list - the mechanisms Cyrus allows a conn of strength ssf;
 * NULL when Cyrus cannot say */
static char *
cyrus_list(const char *hostname, unsigned ssf)
{
	sasl_conn_t *conn = NULL;
	const char *list = "";
	char *copy = NULL;
	int rc;

	rc = sasl_server_new(SASL_CYRUS_SERVICE, hostname, NULL, NULL, NULL, NULL, 0,
	    &conn);
	if (rc == SASL_OK && (rc = sasl_cyrus_secure(conn, ssf)) == SASL_OK)
		rc = sasl_listmech(conn, NULL, "", " ", "", &list, NULL, NULL);
	if (rc == SASL_OK || rc == SASL_NOMECH)
		copy = strdup(rc == SASL_OK ? list : "");
	else
		log_err("sasl: listing mechanisms: %s",
		    sasl_errstring(rc, NULL, NULL));
	if (conn != NULL)
		sasl_dispose(&conn);
	return copy;
}

/* cyrus_setup - sasl_server_init with o, which it adopts on success */
static int
cyrus_setup(struct cyrus_opts *o, const char *hostname, char *err,
    size_t errlen)
{
	int rc;

	cyrus_opts = *o;		/* what cyrus_getopt answers from now on */
	/* Before any other Cyrus call; cyrus_init_lock is held. */
	sasl_set_mutex(cyrus_mutex_alloc, cyrus_mutex_lock,
	    cyrus_mutex_unlock, cyrus_mutex_free);
	rc = sasl_server_init(cyrus_callbacks, CYRUS_APPNAME);
	if (rc == SASL_OK) {
		cyrus_mechs[0] = cyrus_list(hostname, 0);
		cyrus_mechs[1] = cyrus_list(hostname, 256);
	}
	if (rc != SASL_OK) {
		memset(&cyrus_opts, 0, sizeof(cyrus_opts));	/* o keeps them */
		snprintf(err, errlen, "sasl_server_init: %s",
		    sasl_errstring(rc, NULL, NULL));
		return -1;
	}
	memset(o, 0, sizeof(*o));
	cyrus_ready = true;
	return 0;
}

/* sasldb_check - Cyrus says nothing of a sasldb it cannot open (every
 * user is unknown): say it here, as the user we run as */
static int
sasldb_check(const char *pwcheck_method, const char *path, char *err,
    size_t errlen)
{
	if (pwcheck_method != NULL && strcmp(pwcheck_method, "auxprop") != 0)
		return 0;
	if (path != NULL && access(path, R_OK) == -1) {
		snprintf(err, errlen, "sasl_sasldb_path %s: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
sasl_cyrus_check(const struct config *cfg, char *err, size_t errlen)
{
	return sasldb_check(cfg->sasl_pwcheck_method, cfg->sasl_sasldb_path,
	    err, errlen);
}

/* cyrus_start - set Cyrus up for the process with o, or check that it
 * is; o is used up */
static int
cyrus_start(struct cyrus_opts *o, const char *hostname, char *err,
    size_t errlen)
{
	const struct cyrus_opts *eff;
	int rc = 0;

	pthread_mutex_lock(&cyrus_init_lock);
	eff = cyrus_ready ? &cyrus_opts : o;
	if (sasldb_check(eff->pwcheck_method, eff->sasldb_path, err,
	    errlen) == -1) {
		rc = -1;
	} else if (!cyrus_ready) {
		rc = cyrus_setup(o, hostname, err, errlen);
	} else if (!opts_equal(o, &cyrus_opts)) {
		log_warn("sasl: new SASL settings take effect at the next "
		    "restart; pwcheck_method=%s stays",
		    cyrus_opts.pwcheck_method);
	}
	if (rc == 0 && (cyrus_mechs[0] == NULL || cyrus_mechs[1] == NULL)) {
		snprintf(err, errlen, "Cyrus SASL cannot list its mechanisms "
		    "(restart to retry)");
		rc = -1;
	}
	pthread_mutex_unlock(&cyrus_init_lock);
	opts_free(o);
	return rc;
}

/* --- mechanism lists --------------------------------------------------- */

/* word - the next space separated word at *p, and its length; NULL at
 * the end */
static const char *
word(const char **p, size_t *len)
{
	const char *w = *p + strspn(*p, " ");

	if (*w == '\0')
		return NULL;
	*len = strcspn(w, " ");
	*p = w + *len;
	return w;
}

/* list_find - the word of list that is name, ignoring case, or NULL */
static const char *
list_find(const char *list, const char *name, size_t len)
{
	const char *w;
	size_t n;

	while ((w = word(&list, &n)) != NULL)
		if (n == len && strncasecmp(w, name, len) == 0)
			return w;
	return NULL;
}

bool
sasl_cyrus_listed(const char *list, const char *mech)
{
	return list_find(list, mech, strlen(mech)) != NULL;
}

/* mechs_offer - the names of have that want lists, in want's order and
 * have's spelling; all of have when want is NULL */
static char *
mechs_offer(const char *have, const char *want)
{
	const char *w, *h;
	size_t n = 0, len;
	char *out;

	if (want == NULL)
		return strdup(have);
	if ((out = malloc(strlen(have) + 1)) == NULL)
		return NULL;
	out[0] = '\0';
	while ((w = word(&want, &len)) != NULL) {
		if ((h = list_find(have, w, len)) == NULL ||
		    list_find(out, w, len) != NULL)
			continue;	/* each name of have once: n stays in */
		if (n > 0)
			out[n++] = ' ';
		memcpy(out + n, h, len);
		n += len;
		out[n] = '\0';
	}
	return out;
}

int
sasl_cyrus_start(const struct config *cfg, char *mechs[2], char *err,
    size_t errlen)
{
	struct cyrus_opts o;
	const char *w, *p;
	char *want = NULL;
	size_t len;

	mechs[0] = mechs[1] = NULL;
	if (opts_from(&o, cfg, err, errlen) == -1)
		return -1;
	if (o.mech_list != NULL && (want = strdup(o.mech_list)) == NULL) {
		opts_free(&o);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (cyrus_start(&o, cfg->hostname, err, errlen) == -1) {
		free(want);
		return -1;
	}
	/* Only names asked for: the default takes what there is. */
	p = cfg->sasl_mechanisms.n > 0 ? want : NULL;
	while (p != NULL && (w = word(&p, &len)) != NULL)
		if (list_find(cyrus_mechs[1], w, len) == NULL)
			log_warn("sasl: mechanism %.*s is not available",
			    (int)len, w);
	if ((mechs[0] = mechs_offer(cyrus_mechs[0], want)) == NULL ||
	    (mechs[1] = mechs_offer(cyrus_mechs[1], want)) == NULL)
		snprintf(err, errlen, "out of memory");
	else if (mechs[1][0] == '\0')
		snprintf(err, errlen, "no SASL mechanism to offer");
	free(want);
	if (mechs[1] == NULL || mechs[1][0] == '\0') {
		free(mechs[0]);
		free(mechs[1]);
		mechs[0] = mechs[1] = NULL;
		return -1;
	}
	return 0;
}
