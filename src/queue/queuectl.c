/*
 * queuectl - the queue from the command line, while the daemon runs.
 *
 *	list	every entry: arrival, size, sender, each recipient's state
 *		and last error, attempts and the next one (text or JSON)
 *	flush	create queue_dir/flush; the delivery runner sees it within
 *		a second, removes it and tries every entry now
 *	delete	qentry_remove for each id; the runner tolerates entries
 *		that vanish under it
 *	release	held entries (hold/, a milter's quarantine) moved into
 *		incoming/, each id or all of them, and a marker that has
 *		the runner look at the queue within a second
 *	tlsrpt	create queue_dir/tlsrpt-now; the runner sends the TLS-RPT
 *		reports of the sessions recorded so far, today's too
 *
 * Everything printed from an entry is escaped: recipients and remote
 * replies are other people's bytes and must not drive the terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/config.h"
#include "queue/qentry.h"
#include "queue/queuectl.h"

#define EXIT_USAGE	2

enum qcmd { QCMD_NONE, QCMD_LIST, QCMD_FLUSH, QCMD_DELETE, QCMD_TLSRPT,
	QCMD_RELEASE };

static const struct {
	const char	*name;
	enum qcmd	 cmd;
} commands[] = {
	{ "list",	QCMD_LIST },
	{ "flush",	QCMD_FLUSH },
	{ "delete",	QCMD_DELETE },
	{ "tlsrpt",	QCMD_TLSRPT },
	{ "release",	QCMD_RELEASE },
};

static enum qcmd
command_named(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i].name) == 0)
			return commands[i].cmd;
	return QCMD_NONE;
}

/* rcpt_state_name - pending until a try failed: then deferred */
static const char *
rcpt_state_name(const struct qentry *e, size_t i)
{
	switch (e->state[i]) {
	case RCPT_SENT:
		return "sent";
	case RCPT_BOUNCED:
		return "bounced";
	default:
		return e->last_error[i] ? "deferred" : "pending";
	}
}

/* put_text - s with control characters as \xNN */
static void
put_text(FILE *fp, const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '\\')
			fprintf(fp, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, fp);
}

/* utf8_len - length of the valid UTF-8 sequence at s, 0 if invalid */
static size_t
utf8_len(const unsigned char *s)
{
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* put_json - a JSON string: UTF-8 kept, invalid bytes as U+FFFD */
static void
put_json(FILE *fp, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	if (s == NULL) {
		fputs("null", fp);
		return;
	}
	fputc('"', fp);
	while (*p) {
		if (*p == '"' || *p == '\\')
			fprintf(fp, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(fp, "\\u%04x", *p);
		else if ((n = utf8_len(p)) == 0)
			fputs("\\ufffd", fp);
		else {
			fwrite(p, 1, n, fp);
			p += n;
			continue;
		}
		p++;
	}
	fputc('"', fp);
}

/* iso_time - "2026-11-22T20:27:32Z" */
static const char *
iso_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
	return buf;
}

/* tls_request - what the sender asked of TLS (RFC 8689), in its words */
static const char *
tls_request(const struct qentry *e)
{
	return e->requiretls ? "REQUIRETLS" : "TLS-Required: No";
}

static void
list_text(const struct qentry *e)
{
	char when[40];
	size_t i;

	printf("%s\n  arrival   %s\n  size      %lld\n  sender    <", e->id,
	    iso_time(e->arrival, when, sizeof(when)),
	    (long long)e->body_size);
	put_text(stdout, e->sender);
	printf(">\n");
	if (e->requiretls || e->tls_optional)
		printf("  tls       %s\n", tls_request(e));
	if (e->held) {
		printf("  held      ");
		put_text(stdout, e->hold ? e->hold : "");
		printf("\n");
	}
	for (i = 0; i < e->nrcpts; i++) {
		printf("  rcpt      <");
		put_text(stdout, e->rcpts[i]);
		printf("> %s", rcpt_state_name(e, i));
		if (e->last_error[i]) {
			printf(": ");
			put_text(stdout, e->last_error[i]);
		}
		printf("\n");
	}
	printf("  attempts  %u\n  next      %s\n\n", e->attempts,
	    e->held ? "when released" : e->next_attempt == 0 ? "now" :
	    iso_time(e->next_attempt, when, sizeof(when)));
}

static void
list_json(const struct qentry *e, bool first)
{
	char when[40];
	size_t i;

	printf("%s\n    {\"id\": \"%s\", \"arrival\": \"%s\", \"size\": %lld,"
	    "\n     \"sender\": ", first ? "" : ",", e->id,
	    iso_time(e->arrival, when, sizeof(when)),
	    (long long)e->body_size);
	put_json(stdout, e->sender);
	printf(",\n     \"tls\": ");
	if (e->requiretls || e->tls_optional)
		printf("\"%s\"", tls_request(e));
	else
		printf("null");
	/* The reason when held (perhaps ""), null when not. */
	printf(",\n     \"held\": ");
	put_json(stdout, e->held ? (e->hold ? e->hold : "") : NULL);
	printf(",\n     \"recipients\": [");
	for (i = 0; i < e->nrcpts; i++) {
		printf("%s\n       {\"address\": ", i ? "," : "");
		put_json(stdout, e->rcpts[i]);
		printf(", \"state\": \"%s\", \"last_error\": ",
		    rcpt_state_name(e, i));
		put_json(stdout, e->last_error[i]);
		printf("}");
	}
	printf("],\n     \"attempts\": %u, \"next_attempt\": ", e->attempts);
	if (e->next_attempt == 0)
		printf("null}");
	else
		printf("\"%s\"}", iso_time(e->next_attempt, when,
		    sizeof(when)));
}

/* cmd_list - the entries of incoming/, then the held ones */
static int
cmd_list(const char *dir, bool json)
{
	static const char *const subs[] = { "incoming", "hold" };
	struct qentry *e;
	char err[512], **ids[2] = { NULL, NULL };
	size_t n[2] = { 0, 0 }, k, i, shown = 0, held = 0;
	int status = 0;

	for (k = 0; k < 2; k++) {
		ids[k] = k ? qentry_list_held(dir, &n[k]) :
		    qentry_list(dir, &n[k]);
		/* No hold/: a queue nothing was ever held in. */
		if (ids[k] == NULL && !(k == 1 && errno == ENOENT)) {
			fprintf(stderr, "sallyport: %s/%s: %s\n", dir,
			    subs[k], qentry_strerror(errno));
			qentry_list_free(ids[0], n[0]);
			return 1;
		}
	}
	if (json) {
		printf("{\"queue_dir\": ");
		put_json(stdout, dir);
		printf(",\n  \"entries\": [");
	}
	for (k = 0; k < 2; k++)
		for (i = 0; i < n[k]; i++) {
			e = k ? qentry_load_held(dir, ids[k][i], err,
			    sizeof(err)) : qentry_load(dir, ids[k][i], err,
			    sizeof(err));
			if (e == NULL) {
				if (errno != ENOENT) {	/* not just gone */
					fprintf(stderr, "sallyport: %s\n", err);
					status = 1;
				}
				continue;
			}
			if (json)
				list_json(e, shown == 0);
			else
				list_text(e);
			shown++;
			held += k;
			qentry_free(e);
		}
	if (json)
		printf("]}\n");
	else if (shown == 0)
		printf("queue %s is empty\n", dir);
	else if (held > 0)
		printf("%zu %s, %zu held\n", shown, shown == 1 ? "entry" :
		    "entries", held);
	else
		printf("%zu %s\n", shown, shown == 1 ? "entry" : "entries");
	for (k = 0; k < 2; k++)
		qentry_list_free(ids[k], n[k]);
	return status;
}

/* marker - create queue_dir/name, a request the runner takes. Made in
 * the directory opened first, never through a link (O_NOFOLLOW,
 * O_EXCL): the queue is the service user's, and this may run as root,
 * who must not be made to create or open a file anywhere else. One
 * already there is a request not yet taken. 0, or 1 (said why). */
static int
marker(const char *dir, const char *name, const char *what)
{
	struct stat st;
	int dfd, fd, saved;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "sallyport: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	saved = errno;
	if (fd == -1 && saved == EEXIST && fstatat(dfd, name, &st,
	    AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
		fprintf(stderr, "sallyport: %s/%s is not a regular file "
		    "(%s): not followed, no %s requested; remove it\n", dir,
		    name, S_ISLNK(st.st_mode) ? "a symbolic link" :
		    "something else", what);
		close(dfd);
		return 1;
	}
	if (fd == -1 && saved != EEXIST) {
		fprintf(stderr, "sallyport: %s/%s: %s\n", dir, name,
		    qentry_strerror(saved));
		close(dfd);
		return 1;
	}
	if (fd != -1)
		close(fd);
	close(dfd);
	return 0;
}

/* cmd_flush - every entry tried now */
static int
cmd_flush(const char *dir)
{
	size_t n = 0;
	char **ids;

	if (marker(dir, "flush", "flush") != 0)
		return 1;
	ids = qentry_list(dir, &n);
	qentry_list_free(ids, n);
	printf("flush requested (%s/flush): the delivery runner tries all "
	    "%zu %s now\n", dir, n, n == 1 ? "entry" : "entries");
	return 0;
}

/* cmd_tlsrpt - the TLS-RPT reports of what is recorded, now */
static int
cmd_tlsrpt(const struct config *cfg)
{
	if (!cfg->tls_reporting) {
		fprintf(stderr, "sallyport: tls_reporting = no: no session is "
		    "recorded and no report sent\n");
		return 1;
	}
	if (marker(cfg->queue_dir, QUEUECTL_TLSRPT_MARKER, "report") != 0)
		return 1;
	printf("TLS-RPT reports requested (%s/%s): the delivery runner sends "
	    "the reports of the sessions recorded so far, today's too\n",
	    cfg->queue_dir, QUEUECTL_TLSRPT_MARKER);
	return 0;
}

static int
cmd_delete(const char *dir, int n, char **ids)
{
	char err[512];
	int i, status = 0;

	for (i = 0; i < n; i++) {
		if (qentry_remove(dir, ids[i], err, sizeof(err)) == -1) {
			fprintf(stderr, "sallyport: %s\n", err);
			status = 1;
		} else
			printf("%s deleted\n", ids[i]);
	}
	return status;
}

/* cmd_release - the held entries named (all: every one) into
 * incoming/, and the runner told to look */
static int
cmd_release(const char *dir, bool all, int n, char **ids)
{
	char err[512], **held = NULL;
	size_t nheld = 0, i, done = 0;
	int status = 0;

	if (all) {
		if ((held = qentry_list_held(dir, &nheld)) == NULL &&
		    errno != ENOENT) {
			fprintf(stderr, "sallyport: %s/hold: %s\n", dir,
			    qentry_strerror(errno));
			return 1;
		}
		ids = held;
		n = (int)nheld;
	}
	for (i = 0; i < (size_t)n; i++) {
		if (qentry_release(dir, ids[i], err, sizeof(err)) == -1) {
			/* release all: one deleted meanwhile is no error */
			if (!(all && errno == ENOENT)) {
				fprintf(stderr, "sallyport: %s\n", err);
				status = 1;
			}
		} else {
			printf("%s released\n", ids[i]);
			done++;
		}
	}
	qentry_list_free(held, nheld);
	if (all && done == 0)
		printf("no entry is held\n");
	/* The runner learns of new mail from the daemon; of these, from
	 * the marker (or its rescan every minute, were that to fail). */
	if (done > 0 && marker(dir, QUEUECTL_RELEASE_MARKER, "delivery") != 0)
		status = 1;
	return status;
}

static int
queue_usage(const char *why)
{
	fprintf(stderr, "sallyport --queue: %s\nusage:\n" QUEUECTL_USAGE
	    "  -c FILE  the configuration whose queue_dir to use\n", why);
	return EXIT_USAGE;
}

int
queuectl_command(const char *config, bool json, int argc, char **argv)
{
	enum qcmd cmd = QCMD_NONE;
	struct config *cfg;
	char **ids, msg[256];
	const char *why = NULL;
	bool all = false;
	int i, nids = 0, status;

	if ((ids = calloc((size_t)argc + 1, sizeof(*ids))) == NULL)
		return 1;
	for (i = 0; i < argc && why == NULL; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 < argc)
				config = argv[++i];
			else
				why = "-c needs a file";
		} else if (strncmp(a, "--config=", 9) == 0)
			config = a + 9;
		else if (strcmp(a, "--json") == 0)
			json = true;
		else if (cmd == QCMD_NONE && command_named(a) != QCMD_NONE)
			cmd = command_named(a);
		else if ((cmd == QCMD_DELETE || cmd == QCMD_RELEASE) &&
		    qentry_id_valid(a))
			ids[nids++] = argv[i];
		else if (cmd == QCMD_RELEASE && strcmp(a, "all") == 0)
			all = true;
		else if ((cmd == QCMD_DELETE || cmd == QCMD_RELEASE) &&
		    a[0] != '-')
			why = "an id is 16 of 0-9 A-F";
		else
			why = "unexpected argument";
		if (why) {
			snprintf(msg, sizeof(msg), "%.200s: %s", a, why);
			why = msg;
		}
	}
	if (cmd == QCMD_NONE)
		cmd = QCMD_LIST;
	if (why == NULL && cmd == QCMD_DELETE && nids == 0)
		why = "delete needs an id";
	if (why == NULL && cmd == QCMD_RELEASE && (nids == 0) == !all)
		why = "release needs ids, or all alone";
	if (why == NULL && json && cmd != QCMD_LIST)
		why = "--json is for list";
	if (why) {
		free(ids);
		return queue_usage(why);
	}

	cfg = config_load_tell(config);
	if (cfg == NULL) {
		free(ids);
		return EXIT_USAGE;
	}
	switch (cmd) {
	case QCMD_LIST:
		status = cmd_list(cfg->queue_dir, json);
		break;
	case QCMD_FLUSH:
		status = cmd_flush(cfg->queue_dir);
		break;
	case QCMD_TLSRPT:
		status = cmd_tlsrpt(cfg);
		break;
	case QCMD_RELEASE:
		status = cmd_release(cfg->queue_dir, all, nids, ids);
		break;
	default:
		status = cmd_delete(cfg->queue_dir, nids, ids);
		break;
	}
	fflush(stdout);
	if (ferror(stdout) && status == 0)
		status = 1;
	config_free(cfg);
	free(ids);
	return status;
}
