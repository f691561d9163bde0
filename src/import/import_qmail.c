/*
 * sallyport-import-qmail - a qmail "cocktail" setup (control files,
 * tcpserver's tcp.smtp, cmd5checkpw's /etc/poppasswd) as a sallyport
 * configuration.
 *
 * Everything is read and checked first: a control file qmail could not
 * have meant stops the import with its file and line, and nothing is
 * written. Then OUT/sasldb2 (when there are passwords) and
 * OUT/sallyport.conf are written, each key under a comment naming the
 * qmail file and line it came from; the result is loaded as sallyport
 * would load it, and `sallyport --selftest` replays the open-relay
 * probes against it. The report says what was mapped and what could
 * not be, and why.
 *
 * Exit: 0 all well, 1 an input or the result is wrong (or the
 * self-test fails), 2 a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf/config.h"
#include "import/import_qmail.h"

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR	"/var"
#endif

#define IMP_QMAIL_DIR	"/var/qmail"
#define IMP_TCPRULES	"/etc/tcp.smtp"
#define IMP_POPPASSWD	"/etc/poppasswd"
#define IMP_MECHS	"PLAIN LOGIN CRAM-MD5"

/* The order keys are written in; any other follows. */
static const char *const imp_order[] = {
	"hostname", "listen", "mynetworks", "client_deny", "local_domains",
	"relay_domains", "queue_dir", "max_message_size", "command_timeout",
	"dns_servers", "tls_cert", "sasl_mechanisms", "sasl_pwcheck_method",
	"sasl_sasldb_path", "local_delivery", "smarthost", NULL,
};

/* --- the run ----------------------------------------------------------- */

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: sallyport-import-qmail [--qmail-dir DIR] [--tcprules FILE]\n"
	    "           [--poppasswd FILE] [--dns-servers LIST] "
	    "--output-dir OUT\n"
	    "  --qmail-dir DIR     qmail's home, with control/ "
	    "(default " IMP_QMAIL_DIR ")\n"
	    "  --tcprules FILE     tcpserver rules for qmail-smtpd "
	    "(default " IMP_TCPRULES ")\n"
	    "  --poppasswd FILE    cmd5checkpw's accounts "
	    "(default " IMP_POPPASSWD ")\n"
	    "  --dns-servers LIST  dns_servers to write (default: none, "
	    "resolv.conf)\n"
	    "  --output-dir OUT    where sallyport.conf and sasldb2 go\n");
}

/* imp_fixed - the keys that do not come from a qmail file */
static int
imp_fixed(struct imp *imp, const char *outdir)
{
	char	 v[PATH_MAX + 32];

	imp_key_set(imp, "listen", "*:587 submission", "the cut-over plan: "
	    "submission first (STARTTLS, then AUTH);\nport 25 stays with "
	    "qmail-smtpd for now");
	imp_key_set(imp, "queue_dir", LOCALSTATEDIR "/spool/sallyport",
	    "sallyport's default");
	snprintf(v, sizeof(v), "qmail-queue:%s/bin/qmail-queue",
	    imp->qmail_dir);
	imp_key_set(imp, "local_delivery", v, "%s: mail goes on to "
	    "qmail-queue, so qmail-send keeps delivering", imp->qmail_dir);
	imp_mapped(imp, "local_delivery = %s (qmail-send keeps delivering)",
	    v);
	if (imp->dns_servers != NULL)
		imp_key_set(imp, "dns_servers", imp->dns_servers,
		    "--dns-servers");
	if (imp->nusers == 0)
		return 0;
	imp_key_set(imp, "sasl_mechanisms", IMP_MECHS, "%s: the passwords "
	    "are in clear there, so CRAM-MD5 keeps working", imp->poppasswd);
	imp_key_set(imp, "sasl_pwcheck_method", "auxprop", "%s (a sasldb)",
	    imp->poppasswd);
	if (snprintf(v, sizeof(v), "%s/sasldb2", outdir) >= (int)sizeof(v))
		return imp_fail(imp, "%s: path too long", outdir);
	imp_key_set(imp, "sasl_sasldb_path", v, "%s: %zu user%s, realm %s",
	    imp->poppasswd, imp->nusers, imp->nusers == 1 ? "" : "s",
	    imp->hostname);
	return 0;
}

/* imp_write_key - one key under its comment */
static void
imp_write_key(FILE *fp, const struct imp_key *k)
{
	fprintf(fp, "\n%s%s = %s\n", k->why, k->key, k->value);
	if (strcmp(k->key, "listen") == 0)
		fprintf(fp, "# later, when port 25 moves over too:\n"
		    "#listen = *:25 mx\n");
}

/* imp_write_conf - OUT/sallyport.conf, through a temporary name */
static int
imp_write_conf(struct imp *imp, const char *path)
{
	char		 tmp[PATH_MAX + 64];
	FILE		*fp;
	bool		*done;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return imp_fail(imp, "%s: path too long", path);
	if ((done = calloc(imp->nkeys + 1, sizeof(*done))) == NULL)
		return imp_fail(imp, "out of memory");
	if ((fp = fopen(tmp, "w")) == NULL) {
		free(done);
		return imp_fail(imp, "%s: %s", tmp, strerror(errno));
	}
	fprintf(fp, "# sallyport.conf - imported from qmail by "
	    "sallyport-import-qmail.\n"
	    "# qmail: %s, tcprules: %s, poppasswd: %s\n"
	    "# Each key says which qmail file and line it came from; see "
	    "sallyport.conf(5).\n", imp->qmail_dir, imp->tcprules,
	    imp->poppasswd);
	for (size_t o = 0; imp_order[o] != NULL; o++)
		for (size_t i = 0; i < imp->nkeys; i++)
			if (strcmp(imp->keys[i].key, imp_order[o]) == 0) {
				imp_write_key(fp, &imp->keys[i]);
				done[i] = true;
			}
	for (size_t i = 0; i < imp->nkeys; i++)
		if (!done[i])
			imp_write_key(fp, &imp->keys[i]);
	free(done);
	if (fflush(fp) != 0 || ferror(fp) || fsync(fileno(fp)) == -1) {
		fclose(fp);
		unlink(tmp);
		return imp_fail(imp, "%s: %s", tmp, strerror(errno));
	}
	fclose(fp);
	if (rename(tmp, path) == -1) {
		unlink(tmp);
		return imp_fail(imp, "%s: %s", path, strerror(errno));
	}
	return 0;
}

/* imp_write - sasldb (when there are users) and the configuration */
static int
imp_write(struct imp *imp, const char *outdir)
{
	char	 conf[PATH_MAX + 32], db[PATH_MAX + 32], tmp[PATH_MAX + 48];

	snprintf(conf, sizeof(conf), "%s/sallyport.conf", outdir);
	snprintf(db, sizeof(db), "%s/sasldb2", outdir);
	if (imp->nusers > 0) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", db);
		if (unlink(tmp) == -1 && errno != ENOENT)
			return imp_fail(imp, "%s: %s", tmp, strerror(errno));
		if (imp_sasldb_write(imp, tmp, imp->hostname) == -1) {
			unlink(tmp);
			return -1;
		}
		if (rename(tmp, db) == -1) {
			unlink(tmp);
			return imp_fail(imp, "%s: %s", db, strerror(errno));
		}
		for (size_t i = 0; i < imp->nusers; i++)
			imp_mapped(imp, "%s:%u: user %s -> %s (realm %s)",
			    imp->poppasswd, imp->users[i].line,
			    imp->users[i].name, db, imp->hostname);
	}
	return imp_write_conf(imp, conf);
}

/* imp_sallyport - the sallyport beside this program, else "sallyport" */
static void
imp_sallyport(char *out, size_t outlen)
{
	char	 self[PATH_MAX];
	ssize_t	 n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char	*slash;

	snprintf(out, outlen, "sallyport");
	if (n <= 0)
		return;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return;
	*slash = '\0';
	if ((size_t)snprintf(out, outlen, "%s/sallyport", self) >= outlen ||
	    access(out, X_OK) == -1)
		snprintf(out, outlen, "sallyport");
}

/* imp_check - load the result as sallyport would; 0 when it loads */
static int
imp_check(const char *conf)
{
	char		*errors = NULL;
	struct config	*cfg = config_load(conf, &errors);

	if (errors != NULL && errors[0] != '\0')
		fprintf(cfg != NULL ? stdout : stderr, "%s", errors);
	free(errors);
	if (cfg == NULL) {
		fprintf(stderr, "sallyport-import-qmail: %s does not load; "
		    "see above\n", conf);
		return -1;
	}
	printf("check:      %s loads as sallyport.conf\n", conf);
	config_free(cfg);
	return 0;
}

/* imp_selftest - sallyport --selftest -c conf; its report goes to our
 * stdout. 0 when every verdict passes. */
static int
imp_selftest(const char *conf)
{
	char	 prog[PATH_MAX + 16];
	pid_t	 pid;
	int	 status;

	imp_sallyport(prog, sizeof(prog));
	printf("selftest:   %s --selftest -c %s\n", prog, conf);
	fflush(stdout);
	if ((pid = fork()) == -1) {
		fprintf(stderr, "sallyport-import-qmail: fork: %s\n",
		    strerror(errno));
		return -1;
	}
	if (pid == 0) {
		char *const argv[] = { prog, "--selftest", "-c", (char *)conf,
		    NULL };

		execvp(prog, argv);
		fprintf(stderr, "sallyport-import-qmail: %s: %s\n", prog,
		    strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "sallyport-import-qmail: the self-test "
		    "failed; see its verdicts above\n");
		return -1;
	}
	return 0;
}

/* imp_dns_servers - --dns-servers checked now, not after writing */
static int
imp_dns_servers(const char *list)
{
	char	 item[CV_LINE_MAX + 1], out[NETADDR_PORT_STRLEN], err[256];
	int	 n = 0;

	if (strlen(list) > CV_LINE_MAX)
		return -1;
	while ((list = cv_next_item(list, item, sizeof(item))) != NULL) {
		if (cv_server_norm(item, out, sizeof(out), err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "sallyport-import-qmail: "
			    "--dns-servers: %s\n", err);
			return -1;
		}
		n++;
	}
	return n > 0 ? 0 : -1;
}

/* imp_run - read, map, write, check; the exit status */
static int
imp_run(struct imp *imp, const char *outarg)
{
	char	 outdir[PATH_MAX], conf[PATH_MAX + 32];

	if (imp_control(imp) == -1 || imp_tcprules(imp) == -1 ||
	    imp_poppasswd_read(imp) == -1)
		goto fail;
	if (imp->nusers > 0 && imp->hostname[0] == '\0' &&
	    (gethostname(imp->hostname, sizeof(imp->hostname)) == -1 ||
	    strchr(imp->hostname, '.') == NULL)) {
		imp_fail(imp, "%s/control/me: needed as the SASL realm of "
		    "the imported users", imp->qmail_dir);
		goto fail;
	}
	if (mkdir(outarg, 0755) == -1 && errno != EEXIST) {
		imp_fail(imp, "%s: %s", outarg, strerror(errno));
		goto fail;
	}
	if (realpath(outarg, outdir) == NULL) {
		imp_fail(imp, "%s: %s", outarg, strerror(errno));
		goto fail;
	}
	if (imp_fixed(imp, outdir) == -1)
		goto fail;
	if (imp->nomem) {
		imp_fail(imp, "out of memory");
		goto fail;
	}
	if (imp_write(imp, outdir) == -1)
		goto fail;
	fflush(imp->report);
	fputs(imp->report_text, stdout);
	snprintf(conf, sizeof(conf), "%s/sallyport.conf", outdir);
	printf("wrote:      %s\n", conf);
	if (imp->nusers > 0)
		printf("wrote:      %s/sasldb2 (%zu user%s)\n", outdir,
		    imp->nusers, imp->nusers == 1 ? "" : "s");
	if (imp_check(conf) == -1 || imp_selftest(conf) == -1)
		return 1;
	return 0;
fail:
	fprintf(stderr, "sallyport-import-qmail: %s\n", imp->err[0] != '\0' ?
	    imp->err : "out of memory");
	return 1;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "qmail-dir",	 required_argument, NULL, 'q' },
		{ "tcprules",	 required_argument, NULL, 't' },
		{ "poppasswd",	 required_argument, NULL, 'p' },
		{ "dns-servers", required_argument, NULL, 'd' },
		{ "output-dir",	 required_argument, NULL, 'o' },
		{ "help",	 no_argument,	    NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct imp	 imp;
	const char	*qdir = IMP_QMAIL_DIR, *out = NULL;
	char		 qabs[PATH_MAX], tabs[PATH_MAX], pabs[PATH_MAX];
	int		 ch, rc;

	memset(&imp, 0, sizeof(imp));
	imp.tcprules = IMP_TCPRULES;
	imp.poppasswd = IMP_POPPASSWD;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'q':
			qdir = optarg;
			break;
		case 't':
			imp.tcprules = optarg;
			imp.tcprules_given = true;
			break;
		case 'p':
			imp.poppasswd = optarg;
			imp.poppasswd_given = true;
			break;
		case 'd':
			imp.dns_servers = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || out == NULL || out[0] == '\0' ||
	    (imp.dns_servers != NULL && imp_dns_servers(imp.dns_servers) == -1)) {
		usage(stderr);
		return 2;
	}
	if (realpath(qdir, qabs) == NULL) {
		fprintf(stderr, "sallyport-import-qmail: %s: %s\n", qdir,
		    strerror(errno));
		return 1;
	}
	imp.qmail_dir = qabs;
	/* Absolute names in the comments; a missing file is said later. */
	if (realpath(imp.tcprules, tabs) != NULL)
		imp.tcprules = tabs;
	if (realpath(imp.poppasswd, pabs) != NULL)
		imp.poppasswd = pabs;
	if ((imp.report = open_memstream(&imp.report_text,
	    &imp.report_len)) == NULL) {
		fprintf(stderr, "sallyport-import-qmail: out of memory\n");
		return 1;
	}
	rc = imp_run(&imp, out);
	imp_free(&imp);
	return rc;
}
