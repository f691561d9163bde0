/*
 * keygen - `sallyport --dkim-keygen DOMAIN SELECTOR [rsa|ed25519] DIR`:
 * a new DKIM private key in DIR/DOMAIN.SELECTOR.key (mode 0600, never
 * over an existing file, given to the service user when run as root),
 * then, on standard output, the TXT record to publish at
 * SELECTOR._domainkey.DOMAIN in zone-file syntax, its value cut into
 * character-strings of at most 255 octets (RFC 1035 3.3.14, RFC 6376
 * 3.6.2.2), and the dkim_sign line for sallyport.conf.
 *
 * RSA keys have 2048 bits (RFC 8301: at least 1024 to verify, 2048 to
 * sign; longer keys make records past what some DNS hosting takes).
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "auth/dkim_key.h"
#include "conf/config_dkim.h"
#include "keygen.h"

#define KEYGEN_RSA_BITS	2048

/* name_ok - a domain or selector as a file name and a DNS name: letters,
 * digits, '-' and '.', no empty label (checked again by the
 * configuration when the dkim_sign line is added) */
static int
name_ok(const char *s)
{
	size_t	 n = strlen(s);

	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.' ||
	    strstr(s, "..") != NULL)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == n;
}

/* path_ok - can the path stand as KEYFILE in a dkim_sign line? Its
 * items are parted by blanks and commas, and a line holds no control
 * character (config_value.c, config.c) */
static int
path_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s == ' ' || *s == ',' || (unsigned char)*s < 0x20 ||
		    *s == 0x7f)
			return 0;
	return 1;
}

/* service_user - the `user` line of the configuration file ("" if
 * none; -1 when the file cannot be read): the file may not load yet (its
 * dkim_sign line names the key we make) */
static int
service_user(const char *config, char *user, size_t len)
{
	char	 line[4096], *s, *e;
	FILE	*fp;

	user[0] = '\0';
	if ((fp = fopen(config, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		for (s = line; *s == ' ' || *s == '\t'; s++)
			;
		if (strncmp(s, "user", 4) != 0 || strchr(" \t=", s[4]) == NULL)
			continue;
		for (s += 4; *s == ' ' || *s == '\t'; s++)
			;
		if (*s++ != '=')
			continue;
		s += strspn(s, " \t\"");
		e = s + strcspn(s, "\"#\r\n");
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		snprintf(user, len, "%.*s", (int)(e - s), s);
	}
	fclose(fp);
	return 0;
}

/* new_key - a fresh RSA or Ed25519 private key */
static EVP_PKEY *
new_key(int rsa)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pkey = NULL;

	ctx = EVP_PKEY_CTX_new_id(rsa ? EVP_PKEY_RSA : EVP_PKEY_ED25519, NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 ||
	    (rsa && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, KEYGEN_RSA_BITS) <=
	    0) || EVP_PKEY_keygen(ctx, &pkey) <= 0)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* write_key - the PEM private key in a new file of mode 0600 */
static int
write_key(const char *path, EVP_PKEY *pkey, const struct passwd *pw)
{
	BIO	*bio = NULL;
	FILE	*fp = NULL;
	int	 fd, ok = 0;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		fprintf(stderr, "sallyport: %s: %s%s\n", path, strerror(errno),
		    errno == EEXIST ? " (a key is never overwritten: choose "
		    "another selector)" : "");
		return -1;
	}
	if (pw != NULL && fchown(fd, pw->pw_uid, pw->pw_gid) == -1)
		fprintf(stderr, "sallyport: chown %s: %s\n", path,
		    strerror(errno));
	else if ((fp = fdopen(fd, "w")) != NULL &&
	    (bio = BIO_new_fp(fp, BIO_NOCLOSE)) != NULL &&
	    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) &&
	    BIO_flush(bio) == 1 && fflush(fp) == 0 && fsync(fd) == 0)
		ok = 1;
	else
		fprintf(stderr, "sallyport: write %s: %s\n", path,
		    errno ? strerror(errno) : "OpenSSL failed");
	BIO_free(bio);
	if (fp != NULL)
		fclose(fp);
	else
		close(fd);
	if (!ok)
		unlink(path);
	return ok ? 0 : -1;
}

int
keygen_command(const char *config, int argc, char **argv)
{
	const char *domain, *selector, *dir, *alg = "rsa";
	struct passwd *pw = NULL;
	EVP_PKEY *pkey;
	char	 path[4096], cwd[4096], user[256], err[512], *p;
	int	 rsa;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: sallyport --dkim-keygen DOMAIN SELECTOR "
		    "[rsa|ed25519] DIR\n");
		return 2;
	}
	domain = argv[0];
	selector = argv[1];
	if (argc == 4)
		alg = argv[2];
	dir = argv[argc - 1];
	if (strcmp(alg, "rsa") != 0 && strcmp(alg, "ed25519") != 0) {
		fprintf(stderr, "sallyport: %s: the key type is rsa or "
		    "ed25519\n", alg);
		return 2;
	}
	rsa = strcmp(alg, "rsa") == 0;
	if (!name_ok(domain) || !name_ok(selector)) {
		fprintf(stderr, "sallyport: %s: not a domain name\n",
		    name_ok(domain) ? selector : domain);
		return 2;
	}
	if (geteuid() == 0) {
		/* The daemon reads its keys again on reload, as `user`. */
		/* Without a user line the daemon stays root (run_as_root):
		 * so does the key. */
		if (service_user(config, user, sizeof(user)) == -1)
			fprintf(stderr, "sallyport: warning: %s: %s: the key "
			    "stays root's\n", config, strerror(errno));
		else if (user[0] != '\0' && (pw = getpwnam(user)) == NULL) {
			fprintf(stderr, "sallyport: user %s (%s): unknown\n",
			    user, config);
			return 1;
		}
	}
	/* The configuration wants the key by an absolute path: a relative
	 * DIR is taken from here, so that the line printed is usable. */
	if (dir[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL) {
		fprintf(stderr, "sallyport: getcwd: %s\n", strerror(errno));
		return 1;
	}
	if (snprintf(path, sizeof(path), "%s%s%s/%s.%s.key", dir[0] != '/' ?
	    cwd : "", dir[0] != '/' ? "/" : "", dir, domain, selector) >=
	    (int)sizeof(path)) {
		fprintf(stderr, "sallyport: %s: name too long\n", dir);
		return 2;
	}
	if (!path_ok(path)) {
		fprintf(stderr, "sallyport: %s: a path with a blank, ',' or "
		    "a control character cannot stand in a dkim_sign line\n",
		    dir);
		return 2;
	}
	if ((pkey = new_key(rsa)) == NULL) {
		fprintf(stderr, "sallyport: key generation failed\n");
		return 1;
	}
	if (write_key(path, pkey, pw) == -1) {
		EVP_PKEY_free(pkey);
		return 1;
	}
	EVP_PKEY_free(pkey);
	/* Read back as the daemon will, so what we print is what it uses. */
	if ((pkey = conf_dkim_key_load(path, err, sizeof(err))) == NULL ||
	    (p = dkim_key_record(pkey, selector, domain)) == NULL) {
		fprintf(stderr, "sallyport: %s\n", pkey ? "OpenSSL failed" :
		    err);
		EVP_PKEY_free(pkey);
		return 1;
	}
	EVP_PKEY_free(pkey);
	fprintf(stderr, "sallyport: wrote %s\n", path);
	printf("; publish in the DNS zone of %s:\n%s\n", domain, p);
	printf("; and add to sallyport.conf:\n");
	printf("; dkim_sign = %s %s %s\n", domain, selector, path);
	free(p);
	return 0;
}
