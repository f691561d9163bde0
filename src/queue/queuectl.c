/*
 * queuectl - the queue from the command line, while the daemon runs.
 *
 *	list	every entry: arrival, size, state, sender, each recipient's
 *		state and last error, attempts and the next one (text or
 *		JSON); --sender, --recipient, --older-than, --newer-than
 *		and --state choose which (qfilter.c)
 *	show	one entry whole: envelope, recipients, the history of its
 *		attempts, its header (qshow.c)
 *	flush	create queue_dir/flush; the delivery runner sees it within
 *		a second, removes it and tries every entry now
 *	delete	remove entries
 *	hold	move entries from incoming/ into hold/: never delivered
 *		there
 *	release	move held entries (hold/, a milter's quarantine or a
 *		hold) into incoming/, due at once
 *	requeue	forget the retry timer: due now, the attempts kept
 *	bounce	return entries to their senders now, with a DSN
 *	tlsrpt	create queue_dir/tlsrpt-now; the runner sends the TLS-RPT
 *		reports of the sessions recorded so far, today's too
 *
 * Every change is made under the entry's lock (qentry_lock), which the
 * runner holds for a whole delivery: a command waits for it (--wait,
 * default QUEUECTL_WAIT seconds), then says the entry is busy. Changes
 * go through the runner's own durable updates (qentry_record,
 * qentry_requeue, qentry_remove, renames fsync'd in both directories),
 * and a marker has the runner look again within a second.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/config.h"
#include "queue/qentry.h"
#include "queue/qfilter.h"
#include "queue/qshow.h"
#include "queue/queuectl.h"

#define EXIT_USAGE	2
#define WAIT_MAX	3600
/* What the DSN of `bounce` and the state file say. */
#define BOUNCE_TEXT	"returned to the sender by the mail system's " \
			"administrator (sallyport --queue bounce)"

enum qcmd { QCMD_NONE, QCMD_LIST, QCMD_FLUSH, QCMD_DELETE, QCMD_TLSRPT,
	QCMD_RELEASE, QCMD_HOLD, QCMD_REQUEUE, QCMD_BOUNCE, QCMD_SHOW };

/* What each command takes: ids, `all`, filters (with all), --json. */
enum {
	TAKES_IDS = 1, TAKES_ALL = 2, TAKES_FILTER = 4, TAKES_JSON = 8,
	CHANGES = 16,		/* under the lock, as the queue's owner */
	ONE_ID = 32,
};

static const struct command {
	const char	*name;
	enum qcmd	 cmd;
	unsigned	 flags;
} commands[] = {
	{ "list",	QCMD_LIST,	TAKES_FILTER | TAKES_JSON },
	{ "show",	QCMD_SHOW,	TAKES_IDS | ONE_ID | TAKES_JSON },
	{ "flush",	QCMD_FLUSH,	0 },
	{ "tlsrpt",	QCMD_TLSRPT,	0 },
	{ "delete",	QCMD_DELETE,	TAKES_IDS | CHANGES },
	{ "hold",	QCMD_HOLD,	TAKES_IDS | TAKES_ALL | TAKES_FILTER |
					CHANGES },
	{ "release",	QCMD_RELEASE,	TAKES_IDS | TAKES_ALL | TAKES_FILTER |
					CHANGES },
	{ "requeue",	QCMD_REQUEUE,	TAKES_IDS | TAKES_ALL | TAKES_FILTER |
					CHANGES },
	{ "bounce",	QCMD_BOUNCE,	TAKES_IDS | CHANGES },
	{ NULL,		QCMD_NONE,	0 },
};

/* One run of the command line. */
struct qrun {
	const struct command	*c;
	const struct config	*cfg;
	const char		*dir;
	queuectl_dsn_fn		 dsn;
	bool			 json, all;
	struct qfilter		 filter;
	unsigned		 wait_ms;
	bool			 rescan;	/* the runner is to look */
	size_t			 done;
};

static const struct command *
command_named(const char *name)
{
	const struct command *c;

	for (c = commands; c->name; c++)
		if (strcmp(name, c->name) == 0)
			return c;
	return NULL;
}

/* load_entries - the ids in incoming/ (held: hold/), NULL with a
 * message on error; a missing hold/ is an empty one */
static char **
load_ids(const char *dir, bool held, size_t *n)
{
	char **ids = held ? qentry_list_held(dir, n) : qentry_list(dir, n);

	if (ids == NULL && held && errno == ENOENT) {
		*n = 0;
		return calloc(1, sizeof(char *));
	}
	if (ids == NULL)
		fprintf(stderr, "sallyport: %s/%s: %s\n", dir, held ? "hold" :
		    "incoming", qentry_strerror(errno));
	return ids;
}

/* cmd_list - the entries of incoming/, then the held ones, filtered */
static int
cmd_list(struct qrun *r)
{
	struct qentry *e;
	char err[512], **ids[2] = { NULL, NULL };
	size_t n[2] = { 0, 0 }, k, i, shown = 0, held = 0;
	time_t now = time(NULL);
	int status = 0;

	for (k = 0; k < 2; k++)
		if ((ids[k] = load_ids(r->dir, k == 1, &n[k])) == NULL) {
			qentry_list_free(ids[0], n[0]);
			return 1;
		}
	if (r->json) {
		printf("{\"queue_dir\": ");
		qshow_json(stdout, r->dir);
		printf(",\n  \"entries\": [");
	}
	for (k = 0; k < 2; k++)
		for (i = 0; i < n[k]; i++) {
			e = k ? qentry_load_held(r->dir, ids[k][i], err,
			    sizeof(err)) : qentry_load(r->dir, ids[k][i], err,
			    sizeof(err));
			if (e == NULL) {
				if (errno != ENOENT) {	/* not just gone */
					fprintf(stderr, "sallyport: %s\n", err);
					status = 1;
				}
				continue;
			}
			if (qfilter_match(&r->filter, e, now)) {
				if (r->json)
					qshow_list_json(e, shown == 0, now);
				else
					qshow_list_text(e, now);
				shown++;
				held += k;
			}
			qentry_free(e);
		}
	if (r->json)
		printf("]}\n");
	else if (shown == 0)
		printf(qfilter_any(&r->filter) ? "no entry of queue %s "
		    "matches\n" : "queue %s is empty\n", r->dir);
	else if (held > 0)
		printf("%zu %s, %zu held\n", shown, shown == 1 ? "entry" :
		    "entries", held);
	else
		printf("%zu %s\n", shown, shown == 1 ? "entry" : "entries");
	for (k = 0; k < 2; k++)
		qentry_list_free(ids[k], n[k]);
	return status;
}

/* cmd_show - one entry, whole */
static int
cmd_show(struct qrun *r, const char *id)
{
	struct qentry *e;
	char err[512];
	int status;

	if ((e = qentry_load_any(r->dir, id, true, err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "sallyport: %s\n", err);
		return 1;
	}
	status = qshow_entry(r->dir, e, r->json, time(NULL));
	qentry_free(e);
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

/* --- changes, one entry each, under its lock ---------------------------- */

/* bounce_entry - the DSN first, then every pending recipient bounced,
 * then the entry removed: the runner's own order, so that a crash can
 * repeat the DSN but never lose it */
static int
bounce_entry(struct qrun *r, const char *id)
{
	struct qentry *e;
	char err[512], dsn[QUEUE_ID_LEN + 1] = "";
	size_t *idx, i, n = 0;
	int status = 1;

	if ((e = qentry_load_any(r->dir, id, false, err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "sallyport: %s\n", err);
		return 1;
	}
	if ((idx = calloc(e->nrcpts, sizeof(*idx))) == NULL) {
		fprintf(stderr, "sallyport: out of memory\n");
		qentry_free(e);
		return 1;
	}
	for (i = 0; i < e->nrcpts; i++)
		if (e->state[i] == RCPT_PENDING)
			idx[n++] = i;
	if (r->dsn(r->cfg, e, idx, n, BOUNCE_TEXT, dsn, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "sallyport: %s: no DSN, nothing bounced: %s\n",
		    id, err);
		goto out;
	}
	for (i = 0; i < n; i++)
		if (qentry_record(r->dir, e, idx[i], "bounced", BOUNCE_TEXT,
		    err, sizeof(err)) == -1) {
			fprintf(stderr, "sallyport: %s\n", err);
			goto out;
		}
	if (qentry_remove(r->dir, id, err, sizeof(err)) == -1) {
		fprintf(stderr, "sallyport: %s\n", err);
		goto out;
	}
	status = 0;
	r->rescan = true;	/* the DSN, if any; the removal's count */
	if (dsn[0] != '\0') {
		printf("%s bounced: %zu %s returned to <", id, n, n == 1 ?
		    "recipient" : "recipients");
		qshow_text(stdout, e->sender, strlen(e->sender), false);
		printf("> by DSN %s\n", dsn);
	} else
		printf("%s bounced: %zu %s, no DSN (%s)\n", id, n, n == 1 ?
		    "recipient" : "recipients", n == 0 ? "none was pending" :
		    "the null sender");
out:
	free(idx);
	qentry_free(e);
	return status;
}

/* requeue_entry - due now, the attempts kept */
static int
requeue_entry(struct qrun *r, const char *id)
{
	struct qentry *e;
	char err[512];
	int status = 0;

	if ((e = qentry_load_any(r->dir, id, false, err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "sallyport: %s\n", err);
		return 1;
	}
	if (e->held) {
		fprintf(stderr, "sallyport: %s is held: release it to have it "
		    "delivered\n", id);
		status = 1;
	} else if (qentry_requeue(r->dir, e, time(NULL), err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "sallyport: %s\n", err);
		status = 1;
	} else {
		printf("%s requeued: due now (%u %s so far)\n", id,
		    e->attempts, e->attempts == 1 ? "attempt" : "attempts");
		r->rescan = true;
	}
	qentry_free(e);
	return status;
}

/* due_now - a released entry that was held while it waited for a
 * retry is due at once, as one never tried is */
static void
due_now(struct qrun *r, const char *id)
{
	struct qentry *e;
	char err[512];

	if ((e = qentry_load(r->dir, id, err, sizeof(err))) == NULL ||
	    (e->next_attempt > time(NULL) && qentry_requeue(r->dir, e,
	    time(NULL), err, sizeof(err)) == -1))
		fprintf(stderr, "sallyport: %s (it is tried when its retry "
		    "time comes)\n", err);
	qentry_free(e);
}

/* change - one entry changed as the command says, under its lock.
 * quiet_gone: an entry gone meanwhile is no error (`all`). */
static int
change(struct qrun *r, const char *id, bool quiet_gone)
{
	char err[512] = "";
	int lock, old = -1, rc, saved = 0;

	if ((lock = qentry_lock(r->dir, id, r->wait_ms, err,
	    sizeof(err))) == -1 || (old = qentry_lock_old(r->dir, id,
	    r->wait_ms, err, sizeof(err))) == -1) {
		saved = errno;
		qentry_unlock(lock);
		errno = saved;
		if (quiet_gone && errno == ENOENT)
			return 0;
		if (errno == ENOENT && r->c->cmd == QCMD_RELEASE)
			fprintf(stderr, "sallyport: %s: no such held entry\n",
			    id);
		else
			fprintf(stderr, "sallyport: %s\n", err);
		return 1;
	}
	switch (r->c->cmd) {
	case QCMD_HOLD:
		rc = qentry_hold(r->dir, id, err, sizeof(err));
		saved = errno;
		if (rc == 0) {
			printf("%s held\n", id);
			r->rescan = true;	/* its count (metrics) */
		}
		else if (saved == EEXIST) {
			printf("%s is held already\n", id);
			rc = 0;
		}
		break;
	case QCMD_RELEASE:
		rc = qentry_release(r->dir, id, err, sizeof(err));
		saved = errno;
		if (rc == 0) {
			printf("%s released\n", id);
			due_now(r, id);
			r->rescan = true;
		}
		break;
	case QCMD_DELETE:
		rc = qentry_remove(r->dir, id, err, sizeof(err));
		saved = errno;
		if (rc == 0) {
			printf("%s deleted\n", id);
			r->rescan = true;	/* its count (metrics) */
		}
		break;
	case QCMD_REQUEUE:
		rc = requeue_entry(r, id);	/* says its own errors */
		break;
	default:
		rc = bounce_entry(r, id);
		break;
	}
	qentry_unlock(old);
	qentry_unlock(lock);
	if (rc != 0 && quiet_gone && saved == ENOENT)
		return 0;
	if (rc != 0 && err[0] != '\0')
		fprintf(stderr, "sallyport: %s\n", err);
	r->done += rc == 0;
	return rc != 0;
}

/* change_all - `all`: every entry the command applies to (held ones
 * for release, the others for hold and requeue) that the filters
 * choose */
static int
change_all(struct qrun *r)
{
	bool held = r->c->cmd == QCMD_RELEASE;
	struct qentry *e;
	char err[512], **ids;
	size_t n, i;
	time_t now = time(NULL);
	int status = 0;

	if ((ids = load_ids(r->dir, held, &n)) == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		if (qfilter_any(&r->filter)) {
			e = held ? qentry_load_held(r->dir, ids[i], err,
			    sizeof(err)) : qentry_load(r->dir, ids[i], err,
			    sizeof(err));
			if (e == NULL && errno != ENOENT) {
				fprintf(stderr, "sallyport: %s\n", err);
				status = 1;
			}
			if (e == NULL || !qfilter_match(&r->filter, e, now)) {
				qentry_free(e);
				continue;
			}
			qentry_free(e);
		}
		if (change(r, ids[i], true) != 0)
			status = 1;
	}
	qentry_list_free(ids, n);
	if (r->done == 0)
		printf("%s\n", qfilter_any(&r->filter) ? "no entry matches" :
		    held ? "no entry is held" : "no entry in the queue");
	return status;
}

/* as_queue_owner - root acts on the queue as its owner, the user the
 * daemon runs as: what it writes (state lines, a DSN's entry) stays
 * readable by the runner, and no link planted in the queue can take
 * root's writes anywhere else. 0, or 1 (said why). */
static int
as_queue_owner(const char *dir)
{
	struct stat st;

	if (geteuid() != 0)
		return 0;
	if (stat(dir, &st) == -1) {
		fprintf(stderr, "sallyport: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (st.st_uid == 0)
		return 0;
	if (setgroups(0, NULL) == -1 || setgid(st.st_gid) == -1 ||
	    setuid(st.st_uid) == -1) {
		fprintf(stderr, "sallyport: cannot become the owner of %s "
		    "(uid %ld): %s\n", dir, (long)st.st_uid, strerror(errno));
		return 1;
	}
	return 0;
}

static int
run(struct qrun *r, int nids, char **ids)
{
	char err[512];
	int i, status = 0;

	switch (r->c->cmd) {
	case QCMD_LIST:
		return cmd_list(r);
	case QCMD_SHOW:
		return cmd_show(r, ids[0]);
	case QCMD_FLUSH:
		return cmd_flush(r->dir);
	case QCMD_TLSRPT:
		return cmd_tlsrpt(r->cfg);
	default:
		break;
	}
	if (as_queue_owner(r->dir) != 0)
		return 1;
	if (qentry_lock_setup(r->dir, err, sizeof(err)) == -1) {
		fprintf(stderr, "sallyport: %s\n", err);
		return 1;
	}
	if (r->all)
		status = change_all(r);
	for (i = 0; i < nids; i++)
		if (change(r, ids[i], false) != 0)
			status = 1;
	/* The runner learns of new mail from the daemon; of these, from
	 * the marker (or its rescan every minute, were that to fail). */
	if (r->rescan && marker(r->dir, QUEUECTL_RESCAN_MARKER,
	    "delivery") != 0)
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

/* option - a filter or --wait and its value (argv[*i + 1]); NULL, or
 * why not; -1 in *used: not one of them */
static const char *
option(struct qrun *r, int argc, char **argv, int *i, bool *used)
{
	const char *a = argv[*i], *v;
	time_t secs;

	*used = strcmp(a, "--sender") == 0 || strcmp(a, "--recipient") == 0 ||
	    strcmp(a, "--older-than") == 0 || strcmp(a, "--newer-than") == 0 ||
	    strcmp(a, "--state") == 0 || strcmp(a, "--wait") == 0;
	if (!*used)
		return NULL;
	if (*i + 1 >= argc)
		return "needs a value";
	/* Twice would mean both or either: say which is meant instead. */
	if ((strcmp(a, "--sender") == 0 && r->filter.sender) ||
	    (strcmp(a, "--recipient") == 0 && r->filter.recipient) ||
	    (strcmp(a, "--older-than") == 0 && r->filter.older_than != -1) ||
	    (strcmp(a, "--newer-than") == 0 && r->filter.newer_than != -1) ||
	    (strcmp(a, "--state") == 0 && r->filter.states != 0))
		return "given twice (each filter once; a glob chooses "
		    "several addresses, commas several states)";
	v = argv[++*i];
	if (strcmp(a, "--sender") == 0)
		r->filter.sender = v;
	else if (strcmp(a, "--recipient") == 0)
		r->filter.recipient = v;
	else if (strcmp(a, "--state") == 0) {
		if (qfilter_states(v, &r->filter.states) == -1)
			return "states are active, deferred, held (commas "
			    "between)";
	} else if (qfilter_duration(v, &secs) == -1)
		return "a duration is a number and s, m, h, d or w";
	else if (strcmp(a, "--older-than") == 0)
		r->filter.older_than = secs;
	else if (strcmp(a, "--newer-than") == 0)
		r->filter.newer_than = secs;
	else if (secs > WAIT_MAX)
		return "at most an hour";
	else
		r->wait_ms = (unsigned)secs * 1000;
	return NULL;
}

int
queuectl_command(const char *config, bool json, queuectl_dsn_fn dsn,
    int argc, char **argv)
{
	struct qrun r;
	struct config *cfg;
	char **ids, msg[320];
	const char *why = NULL;
	bool used, wait_given = false;
	unsigned flags;
	int i, nids = 0, status;

	memset(&r, 0, sizeof(r));
	qfilter_init(&r.filter);
	r.json = json;
	r.dsn = dsn;
	r.wait_ms = QUEUECTL_WAIT * 1000;
	if ((ids = calloc((size_t)argc + 1, sizeof(*ids))) == NULL)
		return 1;
	for (i = 0; i < argc && why == NULL; i++) {
		const char *a = argv[i];

		flags = r.c ? r.c->flags : 0;
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 < argc)
				config = argv[++i];
			else
				why = "-c needs a file";
		} else if (strncmp(a, "--config=", 9) == 0)
			config = a + 9;
		else if (strcmp(a, "--json") == 0)
			r.json = true;
		else if ((why = option(&r, argc, argv, &i, &used)) != NULL ||
		    used)
			wait_given |= strcmp(a, "--wait") == 0;
		else if (r.c == NULL && command_named(a) != NULL)
			r.c = command_named(a);
		else if ((flags & TAKES_IDS) && qentry_id_valid(a))
			ids[nids++] = argv[i];
		else if ((flags & TAKES_ALL) && strcmp(a, "all") == 0)
			r.all = true;
		else if ((flags & TAKES_IDS) && a[0] != '-')
			why = "an id is 16 of 0-9 A-F";
		else
			why = "unexpected argument";
		if (why) {
			snprintf(msg, sizeof(msg), "%.200s: %s", a, why);
			why = msg;
		}
	}
	if (r.c == NULL)
		r.c = command_named("list");
	flags = r.c->flags;
	if (why == NULL && (flags & TAKES_IDS) && !(flags & TAKES_ALL) &&
	    nids == 0)
		why = "needs an id";
	else if (why == NULL && (flags & ONE_ID) && nids > 1)
		why = "takes one id";
	else if (why == NULL && (flags & TAKES_ALL) && (nids == 0) == !r.all)
		why = "needs ids, or all alone";
	else if (why == NULL && qfilter_any(&r.filter) &&
	    (!(flags & TAKES_FILTER) || nids > 0))
		why = "--sender, --recipient, --older-than, --newer-than and "
		    "--state choose entries for list, or with all";
	else if (why == NULL && r.json && !(flags & TAKES_JSON))
		why = "--json is for list and show";
	else if (why == NULL && wait_given && !(flags & CHANGES))
		why = "--wait is for the commands that change entries";
	if (why) {
		if (why != msg) {
			snprintf(msg, sizeof(msg), "%s %.200s", r.c->name,
			    why);
			why = msg;
		}
		free(ids);
		return queue_usage(why);
	}

	cfg = config_load_tell(config);
	if (cfg == NULL) {
		free(ids);
		return EXIT_USAGE;
	}
	r.cfg = cfg;
	r.dir = cfg->queue_dir;
	status = run(&r, nids, ids);
	fflush(stdout);
	if (ferror(stdout) && status == 0)
		status = 1;
	config_free(cfg);
	free(ids);
	return status;
}
