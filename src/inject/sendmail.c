/*
 * sendmail - sallyport-sendmail's command line: sendmail(1)'s flags as
 * Postfix's sendmail takes them, the few keys it needs from
 * sallyport.conf, the message read, and the hand-off to the daemon.
 * Exit status as sendmail(1): 0, or a sysexits.h code, with one line
 * on stderr saying why.
 */
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "conf/config.h"
#include "inject/inject.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc"
#endif
#define DEFAULT_CONFIG	SYSCONFDIR "/sallyport/sallyport.conf"

#define USAGE	"usage: sallyport-sendmail [-t] [-i] [-f sender] " \
		"[-F fullname] [-C config] [-bm | -bs] [recipient ...]"

struct args {
	const char	*config;
	const char	*sender;	/* -f, -r; NULL: the user's */
	const char	*fullname;	/* -F */
	bool		 extract;	/* -t */
	bool		 ignore_dots;	/* -i, -oi */
	bool		 smtp;		/* -bs */
	bool		 verbose;	/* -v */
	char		**rcpts;	/* the arguments after the flags */
	int		 nrcpts;
};

static int
fail(int code, const char *what)
{
	fprintf(stderr, "sallyport-sendmail: %s\n", what);
	return code;
}

/* parse_args - sendmail's flags; a sysexits code (EX_USAGE) or 0 */
static int
parse_args(int argc, char **argv, struct args *a)
{
	char why[256];
	int c;

	memset(a, 0, sizeof(*a));
	a->config = DEFAULT_CONFIG;
	opterr = 0;
	/* Postfix's list: the flags sendmail programs are called with,
	 * most of them meaningless here and ignored as Postfix does. */
	while ((c = getopt(argc, argv,
	    "+B:C:F:GIL:N:R:UV:X:b:e:f:h:imno:p:q:r:tv")) != -1) {
		switch (c) {
		case 'C':
			a->config = optarg;
			break;
		case 'F':
			a->fullname = optarg;
			break;
		case 'f':
		case 'r':
			a->sender = optarg;
			break;
		case 't':
			a->extract = true;
			break;
		case 'i':
			a->ignore_dots = true;
			break;
		case 'o':	/* -oi; -oem, -odi, -om, -o7 ...: ignored */
			if (strcmp(optarg, "i") == 0)
				a->ignore_dots = true;
			break;
		case 'v':
			a->verbose = true;
			break;
		case 'b':
			if (strcmp(optarg, "s") == 0)
				a->smtp = true;
			else if (strcmp(optarg, "m") != 0) {
				snprintf(why, sizeof(why), "-b%s is not "
				    "supported (only -bm and -bs); the queue "
				    "is shown and run by sallyport --queue",
				    optarg);
				fail(EX_USAGE, why);
				return fail(EX_USAGE, USAGE);
			}
			break;
		case 'I':
		case 'q':
			snprintf(why, sizeof(why), "-%c is not supported: "
			    "aliases and the queue are sallyport's own (see "
			    "sallyport --queue)", c);
			fail(EX_USAGE, why);
			return fail(EX_USAGE, USAGE);
		case 'B': case 'G': case 'L': case 'N': case 'R': case 'U':
		case 'V': case 'X': case 'e': case 'h': case 'm': case 'n':
		case 'p':
			break;
		default:
			snprintf(why, sizeof(why), optopt > ' ' && optopt < 0x7f ?
			    "unknown flag -%c, or it lacks its value" :
			    "unknown flag", optopt);
			fail(EX_USAGE, why);
			return fail(EX_USAGE, USAGE);
		}
	}
	a->rcpts = argv + optind;
	a->nrcpts = argc - optind;
	return 0;
}

/* qualify - addr, with @hostname when it has no domain (as Postfix
 * appends @$myorigin); NULL when out of memory */
static char *
qualify(const char *addr, const char *hostname)
{
	char *out;

	if (inject_addr_has_domain(addr))
		return strdup(addr);
	if (asprintf(&out, "%s@%s", addr, hostname) == -1)
		return NULL;
	return out;
}

/* quoted_name - name as an RFC 5322 display name (a quoted string) */
static void
quoted_name(const char *name, char *out, size_t outlen)
{
	size_t n = 0;

	if (outlen < 3)
		return;
	out[n++] = '"';
	for (; *name != '\0' && n + 3 < outlen; name++) {
		if (*name == '\r' || *name == '\n')
			continue;
		if (*name == '"' || *name == '\\')
			out[n++] = '\\';
		out[n++] = *name;
	}
	out[n++] = '"';
	out[n] = '\0';
}

struct qual {
	struct inject_rcpts *out;
	const char	*hostname;
	bool		 utf8;
};

static int
add_qualified(void *arg, const char *addr)
{
	struct qual *q = arg;
	char *a = qualify(addr, q->hostname);
	int rc;

	if (a == NULL)
		return 1;
	for (const char *p = a; *p != '\0'; p++)
		q->utf8 |= (unsigned char)*p >= 0x80;
	rc = inject_rcpts_add(q->out, a) == -1 ? 1 : 0;
	free(a);
	return rc;
}

/* recipients - the arguments' (each an address list) and, with -t,
 * the header's, qualified; 0 or a sysexits code */
static int
recipients(const struct args *a, const struct inject_msg *msg,
    struct qual *q)
{
	char err[INJECT_ERR], why[INJECT_ERR + 256];
	int rc;

	for (int i = 0; i < a->nrcpts; i++) {
		rc = inject_addr_list(a->rcpts[i], strlen(a->rcpts[i]),
		    add_qualified, q, err, sizeof(err));
		if (rc == 1)
			return fail(EX_SOFTWARE, "too many recipients, or out "
			    "of memory");
		if (rc != 0) {
			snprintf(why, sizeof(why), "recipient \"%.200s\": %s",
			    a->rcpts[i], err);
			return fail(EX_DATAERR, why);
		}
	}
	for (size_t i = 0; i < msg->rcpts.n; i++)
		if (add_qualified(q, msg->rcpts.v[i]) != 0)
			return fail(EX_SOFTWARE, "too many recipients, or "
			    "out of memory");
	if (q->out->n == 0)
		return fail(EX_USAGE, a->extract ? "no recipient addresses "
		    "found in the message header" : "no recipients: name "
		    "them as arguments, or use -t");
	return 0;
}

/* sender - the envelope sender: -f (qualified, <> for none) or the
 * user's login @hostname; its From: in from */
static int
sender(const struct args *a, const struct config *cfg, char **env,
    char *from, size_t fromlen)
{
	struct passwd *pw = getpwuid(getuid());
	const char *name = a->fullname;
	char *s, qname[512], *comma;

	if (a->sender != NULL) {
		size_t len = strlen(a->sender);

		for (const char *c = a->sender; *c != '\0'; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				return fail(EX_USAGE, "the sender (-f) holds a "
				    "control character");

		if (len >= 2 && a->sender[0] == '<' && a->sender[len - 1] == '>')
			s = len == 2 ? strdup("") :
			    strndup(a->sender + 1, len - 2);
		else
			s = a->sender[0] == '\0' ? strdup("") :
			    qualify(a->sender, cfg->hostname);
	} else if (pw == NULL) {
		return fail(EX_NOUSER, "no login name for this user ID: give "
		    "the sender with -f");
	} else
		s = qualify(pw->pw_name, cfg->hostname);
	if (s == NULL)
		return fail(EX_OSERR, "out of memory");
	/* An angle bracket inside would close MAIL's path and pass what
	 * follows (from a web form, say) to the daemon as parameters. */
	if (strpbrk(s, "<>") != NULL) {
		free(s);
		return fail(EX_USAGE, "the sender (-f) is not one address: "
		    "an angle bracket inside it");
	}
	/* The From: to add: -F's name, else the user's passwd name. */
	if (name == NULL && pw != NULL && pw->pw_gecos != NULL &&
	    pw->pw_gecos[0] != '\0' && a->sender == NULL) {
		snprintf(qname, sizeof(qname), "%s", pw->pw_gecos);
		if ((comma = strchr(qname, ',')) != NULL)
			*comma = '\0';
		name = qname[0] != '\0' ? qname : NULL;
	}
	if (name != NULL) {
		char q[600];

		quoted_name(name, q, sizeof(q));
		snprintf(from, fromlen, "%s <%s>", q, s);
	} else
		snprintf(from, fromlen, "<%s>", s);
	*env = s;
	return 0;
}

/* submit - read the message and hand it over; the exit status */
static int
submit(const struct args *a, const struct config *cfg)
{
	struct inject_opts o;
	struct inject_msg msg;
	struct inject_rcpts rcpts = { 0 };
	struct qual q = { &rcpts, cfg->hostname, false };
	struct inject_send s;
	char from[INJECT_ADDR_MAX + 700], err[INJECT_ERR + INJECT_REPLY_MAX];
	char *env = NULL;
	int rc;

	if ((rc = sender(a, cfg, &env, from, sizeof(from))) != 0)
		return rc;
	memset(&o, 0, sizeof(o));
	o.extract = a->extract;
	o.ignore_dots = a->ignore_dots;
	o.from = from;
	o.hostname = cfg->hostname;
	o.max_size = cfg->max_message_size;
	if ((rc = inject_msg_read(stdin, &o, &msg, err, sizeof(err))) != 0) {
		fail(rc, err);
	} else if ((rc = recipients(a, &msg, &q)) == 0) {
		memset(&s, 0, sizeof(s));
		s.socket = cfg->local_socket;
		s.sender = env;
		s.rcpts = &rcpts;
		s.msg = &msg;
		s.verbose = a->verbose;
		for (const char *p = env; *p != '\0'; p++)
			q.utf8 |= (unsigned char)*p >= 0x80;
		s.smtputf8 = q.utf8;
		if ((rc = inject_smtp_send(&s, err, sizeof(err))) != 0)
			fail(rc, err);
	}
	inject_msg_free(&msg);
	inject_rcpts_free(&rcpts);
	free(env);
	return rc;
}

int
main(int argc, char **argv)
{
	static const char *const keys[] = { "hostname", "local_socket",
	    "max_message_size", NULL };
	struct config *cfg;
	struct args a;
	char *errors = NULL, err[INJECT_ERR + INJECT_REPLY_MAX];
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if ((rc = parse_args(argc, argv, &a)) != 0)
		return rc;
	if ((cfg = config_load_keys(a.config, keys, &errors)) == NULL) {
		fprintf(stderr, "sallyport-sendmail: %s", errors ? errors :
		    "cannot read the configuration\n");
		free(errors);
		return EX_CONFIG;
	}
	free(errors);
	if (cfg->local_socket == NULL) {
		snprintf(err, sizeof(err), "local submission is off "
		    "(local_socket is empty in %s)", a.config);
		rc = fail(EX_UNAVAILABLE, err);
	} else if (a.smtp) {
		if ((rc = inject_smtp_relay(cfg->local_socket, err,
		    sizeof(err))) != 0)
			fail(rc, err);
	} else
		rc = submit(&a, cfg);
	config_free(cfg);
	return rc;
}
