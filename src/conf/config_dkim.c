/*
 * config_dkim - the dkim_sign key: "DOMAIN SELECTOR KEYFILE", one line a
 * key, read with the configuration (at start, on reload and by
 * `sallyport -n`), so that a key that will not do is an error naming its
 * line, never a surprise at the first message.
 *
 * A key file must be a regular file that neither group nor others may
 * read or write (it signs for the domain), hold one unencrypted PEM
 * private key as `openssl genpkey` writes it, and the key must be RSA of
 * DKIM_SIGN_RSA_MIN_BITS or more (RFC 8301) or Ed25519 (RFC 8463).
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "conf/config_dkim.h"
#include "conf/config_value.h"

#define LABEL_MAX	63		/* RFC 1035 */
#define KEYFILE_MAX	(64 * 1024)	/* a 16384-bit RSA key is 13 KB */

/* dkim_selector_norm - a selector: dot-separated labels of letters,
 * digits and '-', neither end a '-' (RFC 6376 3.1, sub-domain); all
 * digits is fine here, unlike a domain's last label */
static int
dkim_selector_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	size_t	 len = strlen(in), label = 0;
	char	 q[CV_QBUF];

	if (len == 0 || len > CV_DOMAIN_MAX || len >= outlen)
		goto bad;
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? in[i] : '.';

		if (c == '.') {
			if (label == 0 || label > LABEL_MAX ||
			    in[i - 1] == '-')
				goto bad;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    (c == '-' && label > 0))
			label++;
		else if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a'), label++;
		else
			goto bad;
		if (i < len)
			out[i] = c;
	}
	out[len] = '\0';
	return 0;
bad:
	snprintf(err, errlen, "%s is not a DKIM selector (labels of letters, "
	    "digits and '-', separated by '.')", cv_quote(in, q, sizeof(q)));
	return -1;
}

/* read_keyfile - the whole file, if only its owner may read it */
static char *
read_keyfile(const char *path, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char	*buf = NULL, q[CV_QBUF];
	ssize_t	 n;
	int	 fd;

	cv_quote(path, q, sizeof(q));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK)) == -1) {
		snprintf(err, errlen, "key file %s: %s", q, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "key file %s: %s", q, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "key file %s: not a regular file", q);
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "key file %s: mode %04o lets group or "
		    "others at the private key (chmod 600)", q,
		    (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size > KEYFILE_MAX) {
		snprintf(err, errlen, "key file %s: larger than %d octets", q,
		    KEYFILE_MAX);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	*len = 0;
	while ((n = read(fd, buf + *len, (size_t)st.st_size + 1 - *len)) > 0)
		*len += (size_t)n;
	if (n == -1 || *len > (size_t)st.st_size) {
		snprintf(err, errlen, "key file %s: %s", q, n == -1 ?
		    strerror(errno) : "changed while read");
		free(buf);
		buf = NULL;
	}
out:
	close(fd);
	return buf;
}

/* no_passphrase - PEM's password callback: an encrypted key is refused
 * rather than asked for on the terminal */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

EVP_PKEY *
conf_dkim_key_load(const char *path, char *err, size_t errlen)
{
	EVP_PKEY *pkey = NULL;
	BIO	*bio;
	char	*pem, q[CV_QBUF];
	size_t	 len;
	int	 bits;

	if ((pem = read_keyfile(path, &len, err, errlen)) == NULL)
		return NULL;
	cv_quote(path, q, sizeof(q));
	if ((bio = BIO_new_mem_buf(pem, (int)len)) != NULL)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	OPENSSL_cleanse(pem, len);
	free(pem);
	ERR_clear_error();
	if (pkey == NULL) {
		snprintf(err, errlen, "key file %s: not an unencrypted PEM "
		    "private key", q);
		return NULL;
	}
	switch (EVP_PKEY_base_id(pkey)) {
	case EVP_PKEY_RSA:
		bits = EVP_PKEY_bits(pkey);
		if (bits >= DKIM_SIGN_RSA_MIN_BITS)
			return pkey;
		snprintf(err, errlen, "key file %s: an RSA key of %d bits; "
		    "DKIM wants %d or more (RFC 8301)", q, bits,
		    DKIM_SIGN_RSA_MIN_BITS);
		break;
	case EVP_PKEY_ED25519:
		return pkey;
	default:
		snprintf(err, errlen, "key file %s: neither an RSA nor an "
		    "Ed25519 key", q);
		break;
	}
	EVP_PKEY_free(pkey);
	return NULL;
}

int
conf_set_dkim_sign(struct conf_parse *p, const struct conf_key *k,
    const char *val, char *err, size_t errlen)
{
	struct dkim_sign_key *keys, key;
	char	 domain[CV_DOMAIN_MAX + 2], selector[CV_DOMAIN_MAX + 2];
	char	 w[3][CV_LINE_MAX + 1], path[CV_LINE_MAX + 1];
	const char *s = val;
	int	 n;

	(void)k;
	if (val[0] == '\0')
		return 0;
	for (n = 0; n < 3 && (s = cv_next_item(s, w[n], sizeof(w[n]))) != NULL;
	    n++)
		;
	if (n < 3 || cv_next_item(s, w[0], sizeof(w[0])) != NULL) {
		snprintf(err, errlen, "expected DOMAIN SELECTOR KEYFILE");
		return -1;
	}
	if (cv_domain_norm(w[0], domain, sizeof(domain), err, errlen) == -1 ||
	    dkim_selector_norm(w[1], selector, sizeof(selector), err,
	    errlen) == -1 ||
	    cv_path_norm(w[2], path, sizeof(path), err, errlen) == -1)
		return -1;
	for (size_t i = 0; i < p->cfg->ndkim_sign; i++)
		if (strcmp(p->cfg->dkim_sign[i].domain, domain) == 0 &&
		    strcmp(p->cfg->dkim_sign[i].selector, selector) == 0) {
			snprintf(err, errlen, "%s._domainkey.%s is listed "
			    "twice (line %u)", selector, domain,
			    p->cfg->dkim_sign[i].line);
			return -1;
		}
	memset(&key, 0, sizeof(key));
	if ((key.pkey = conf_dkim_key_load(path, err, errlen)) == NULL)
		return -1;
	key.domain = strdup(domain);
	key.selector = strdup(selector);
	key.keyfile = strdup(path);
	key.line = p->lineno;
	keys = realloc(p->cfg->dkim_sign, (p->cfg->ndkim_sign + 1) *
	    sizeof(*keys));
	if (key.domain == NULL || key.selector == NULL || key.keyfile == NULL ||
	    keys == NULL) {
		if (keys != NULL)
			p->cfg->dkim_sign = keys;
		free(key.domain);
		free(key.selector);
		free(key.keyfile);
		EVP_PKEY_free(key.pkey);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	keys[p->cfg->ndkim_sign++] = key;
	p->cfg->dkim_sign = keys;
	return 0;
}

void
conf_print_dkim_sign(const struct config *cfg, const struct conf_key *k,
    FILE *fp)
{
	for (size_t i = 0; i < cfg->ndkim_sign; i++)
		fprintf(fp, "%s = %s %s %s\n", k->name, cfg->dkim_sign[i].domain,
		    cfg->dkim_sign[i].selector, cfg->dkim_sign[i].keyfile);
}

void
conf_free_dkim_sign(struct config *cfg, const struct conf_key *k)
{
	(void)k;
	for (size_t i = 0; i < cfg->ndkim_sign; i++) {
		free(cfg->dkim_sign[i].domain);
		free(cfg->dkim_sign[i].selector);
		free(cfg->dkim_sign[i].keyfile);
		EVP_PKEY_free(cfg->dkim_sign[i].pkey);
	}
	free(cfg->dkim_sign);
	cfg->dkim_sign = NULL;
	cfg->ndkim_sign = 0;
}

void
conf_check_dkim_owner(struct conf_parse *p)
{
	const struct config *cfg = p->cfg;
	struct passwd *pw;
	struct stat st;
	char	 q[CV_QBUF];

	/* Root reads any file, but the queue runner and a reload read the
	 * keys again as `user`: a key only root may read would stop them
	 * at the first chance. Say so now, naming the line. */
	if (geteuid() != 0 || cfg->user == NULL || cfg->user[0] == '\0' ||
	    (pw = getpwnam(cfg->user)) == NULL || pw->pw_uid == 0)
		return;
	for (size_t i = 0; i < cfg->ndkim_sign; i++) {
		const struct dkim_sign_key *k = &cfg->dkim_sign[i];

		if (stat(k->keyfile, &st) == -1 || st.st_uid == pw->pw_uid)
			continue;
		p->lineno = k->line;
		conf_error(p, "dkim_sign: key file %s: owned by uid %u, not by "
		    "user %s, who reads it again on reload (chown %s)",
		    cv_quote(k->keyfile, q, sizeof(q)), (unsigned)st.st_uid,
		    cfg->user, cfg->user);
	}
	p->lineno = 0;
}

size_t
config_dkim_keys(const struct config *cfg, const char *domain,
    const struct dkim_sign_key **out, size_t max)
{
	const char *d = domain;
	size_t	 n;

	/* The domain itself, else (when allowed) the nearest parent with a
	 * key: a subdomain is signed with d= the parent, which DMARC's
	 * relaxed alignment accepts. */
	for (;;) {
		n = 0;
		for (size_t i = 0; i < cfg->ndkim_sign && n < max; i++)
			if (strcasecmp(cfg->dkim_sign[i].domain, d) == 0)
				out[n++] = &cfg->dkim_sign[i];
		if (n > 0 || !cfg->dkim_sign_subdomains ||
		    (d = strchr(d, '.')) == NULL)
			return n;
		d++;
	}
}
