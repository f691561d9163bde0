/*
 * sts - which MTA-STS policy applies to a destination domain now (RFC
 * 8461 3.3, 5.1, 5.2): the _mta-sts TXT record's id against the cached
 * policy's, the cached policy while max_age lasts, a fetch when there
 * is no policy yet, the id changed or max_age passed.
 *
 * A failed fetch never takes a policy away: the cached one stays in
 * force, and so does an expired one until a new one is fetched (an
 * attacker who can block the fetch must not be able to turn the policy
 * off; RFC 8461 10.2's way to retire one is "mode: none"). A failure is
 * remembered for five minutes per domain and id, as 3.3 suggests, so
 * that the deliveries queued behind it do not fetch again in turn.
 * Threads fetching for one domain take turns: the second one finds the
 * first one's policy in the cache, or its failure.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliver/sts.h"
#include "dns/dns_rdata.h"
#include "dns/resolve.h"
#include "lib/idna.h"

#define STS_RETRY_AFTER	300	/* seconds between failed fetches (3.3) */
#define STS_FETCHING	64	/* domains fetched at once */
#define STS_FAILURES	64	/* failures remembered */

/* --- one fetch per domain at a time ------------------------------------ */

static pthread_mutex_t sts_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sts_cond = PTHREAD_COND_INITIALIZER;
static char sts_busy[STS_FETCHING][MTASTS_NAME_MAX + 1];	/* "": free */

/* A failed fetch. */
struct sts_failure {
	char			 domain[MTASTS_NAME_MAX + 1];
	char			 id[MTASTS_ID_MAX + 1];
	time_t			 at;
	enum tlsrpt_result	 result;
	char			 detail[240];
};
static struct sts_failure sts_failures[STS_FAILURES];	/* guarded too */

/* busy_slot - domain's slot in sts_busy, or a free one (create), or
 * NULL; under sts_mutex */
static char *
busy_slot(const char *domain, bool create)
{
	size_t	 i;

	for (i = 0; i < STS_FETCHING; i++)
		if (strcmp(sts_busy[i], domain) == 0 && sts_busy[i][0] != '\0')
			return sts_busy[i];
	for (i = 0; create && i < STS_FETCHING; i++)
		if (sts_busy[i][0] == '\0')
			return sts_busy[i];
	return NULL;
}

static void
sts_lock(const char *domain)
{
	char	*slot;

	pthread_mutex_lock(&sts_mutex);
	while (busy_slot(domain, false) != NULL ||
	    (slot = busy_slot(domain, true)) == NULL)
		pthread_cond_wait(&sts_cond, &sts_mutex);
	snprintf(slot, MTASTS_NAME_MAX + 1, "%s", domain);
	pthread_mutex_unlock(&sts_mutex);
}

static void
sts_unlock(const char *domain)
{
	char	*slot;

	pthread_mutex_lock(&sts_mutex);
	if ((slot = busy_slot(domain, false)) != NULL)
		slot[0] = '\0';
	pthread_cond_broadcast(&sts_cond);
	pthread_mutex_unlock(&sts_mutex);
}

/* failure_recent - a fetch for domain and id failed less than
 * STS_RETRY_AFTER ago: its result and detail into st */
static bool
failure_recent(const char *domain, const char *id, time_t now,
    struct sts_state *st)
{
	bool	 found = false;
	size_t	 i;

	pthread_mutex_lock(&sts_mutex);
	for (i = 0; i < STS_FAILURES && !found; i++) {
		const struct sts_failure *f = &sts_failures[i];

		if (f->at != 0 && strcmp(f->domain, domain) == 0 &&
		    strcmp(f->id, id) == 0 && now >= f->at &&
		    now - f->at < STS_RETRY_AFTER) {
			st->failure = f->result;
			snprintf(st->detail, sizeof(st->detail), "%s",
			    f->detail);
			found = true;
		}
	}
	pthread_mutex_unlock(&sts_mutex);
	return found;
}

/* failure_note - remember a failed fetch in place of the oldest */
static void
failure_note(const char *domain, const char *id, time_t now,
    const struct sts_state *st)
{
	struct sts_failure *f = &sts_failures[0];
	size_t	 i;

	pthread_mutex_lock(&sts_mutex);
	for (i = 0; i < STS_FAILURES; i++)
		if (strcmp(sts_failures[i].domain, domain) == 0 ||
		    sts_failures[i].at < f->at) {
			f = &sts_failures[i];
			if (strcmp(f->domain, domain) == 0)
				break;
		}
	snprintf(f->domain, sizeof(f->domain), "%s", domain);
	snprintf(f->id, sizeof(f->id), "%s", id);
	f->at = now;
	f->result = st->failure;
	snprintf(f->detail, sizeof(f->detail), "%s", st->detail);
	pthread_mutex_unlock(&sts_mutex);
}

/* --- the policy ------------------------------------------------------------ */

/* sts_name - the domain as DNS and a file name take it: A-labels, lower
 * case, letters, digits, hyphens and inner dots only: 0, or -1 */
static int
sts_name(const char *domain, char *out, size_t outlen)
{
	const char *why;
	size_t	 i;

	if (idna_to_dns(domain, out, outlen, &why) == -1 || out[0] == '\0' ||
	    out[0] == '.' || strlen(out) > MTASTS_NAME_MAX)
		return -1;
	for (i = 0; out[i] != '\0'; i++) {
		if (out[i] >= 'A' && out[i] <= 'Z')
			out[i] = (char)(out[i] - 'A' + 'a');
		else if (!((out[i] >= 'a' && out[i] <= 'z') ||
		    (out[i] >= '0' && out[i] <= '9') || out[i] == '-' ||
		    (out[i] == '.' && out[i + 1] != '.' && out[i + 1] != '\0')))
			return -1;
	}
	return 0;
}

/* sts_txt - the id of _mta-sts.DOMAIN's record: 0, or -1 when there is
 * no usable one (none, several, invalid, or no answer now) */
static int
sts_txt(const struct config *cfg, const char *domain,
    char id[MTASTS_ID_MAX + 1])
{
	struct dns_txt_set set = { NULL, 0 };
	const char	**txts = NULL;
	size_t		*lens = NULL, i;
	char		 name[MTASTS_NAME_MAX + 16];
	bool		 secure;
	int		 rc = -1;

	id[0] = '\0';
	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	if (resolve_txt(cfg, name, &set, &secure) != RESOLVE_OK)
		goto done;
	if ((txts = calloc(set.n, sizeof(*txts))) == NULL ||
	    (lens = calloc(set.n, sizeof(*lens))) == NULL)
		goto done;
	for (i = 0; i < set.n; i++) {
		txts[i] = set.v[i].text;
		lens[i] = set.v[i].len;
	}
	rc = mtasts_record_pick(txts, lens, set.n, id, NULL, 0);
done:
	free(txts);
	free(lens);
	dns_txt_set_free(&set);
	return rc;
}

/* current - the cached policy applies as it is: within max_age, and
 * the TXT record (when there is one) has its id */
static bool
current(const struct sts_cached *c, const char *id, bool have_id,
    time_t now)
{
	return now >= c->fetched && (unsigned long)(now - c->fetched) <
	    c->policy.max_age && (!have_id || strcmp(id, c->id) == 0);
}

/* refresh - fetch and parse the policy, cache it: 0, or -1 with the
 * failure in st */
static int
refresh(const struct config *cfg, const char *domain, const char *id,
    time_t now, bool keep, struct sts_state *st)
{
	struct mtasts_policy p;
	char	*body, why[MTASTS_WHY_MAX], err[160];
	size_t	 len;

	if ((body = malloc(cfg->mta_sts_max_size)) == NULL) {
		st->failure = TLSRPT_STS_POLICY_FETCH_ERROR;
		snprintf(st->detail, sizeof(st->detail), "out of memory");
		return -1;
	}
	st->failure = sts_fetch(cfg, domain, body, cfg->mta_sts_max_size,
	    &len, st->detail, sizeof(st->detail));
	if (st->failure == TLSRPT_SUCCESS && mtasts_policy_parse(body, len,
	    &p, why, sizeof(why)) == -1) {
		st->failure = TLSRPT_STS_POLICY_INVALID;
		snprintf(st->detail, sizeof(st->detail), "invalid policy: %s",
		    why);
	}
	free(body);
	if (st->failure != TLSRPT_SUCCESS)
		return -1;
	st->c.policy = p;
	snprintf(st->c.id, sizeof(st->c.id), "%s", id);
	st->c.fetched = now;
	st->have = true;
	st->source = "fetched";
	if (keep && sts_cache_write(cfg, domain, &st->c, err, sizeof(err)) ==
	    -1)
		snprintf(st->detail, sizeof(st->detail), "not cached: %s",
		    err);
	return 0;
}

/* sts_find - sts_policy's work; keep: a delivery's (the cache written,
 * the lock taken, a failure remembered), else a look only */
static void
sts_find(const struct config *cfg, const char *domain, bool keep,
    struct sts_state *st)
{
	char	 name[MTASTS_NAME_MAX + 1], id[MTASTS_ID_MAX + 1];
	struct sts_cached cached;
	bool	 have_cache, have_id;
	time_t	 now = time(NULL);

	memset(st, 0, sizeof(*st));
	st->failure = TLSRPT_SUCCESS;
	if (!cfg->mta_sts || sts_name(domain, name, sizeof(name)) == -1)
		return;
	have_id = sts_txt(cfg, name, id) == 0;
	have_cache = sts_cache_read(cfg, name, &cached) == 0;
	if (have_cache && current(&cached, id, have_id, now))
		goto use_cache;
	if (!have_cache && !have_id)
		return;			/* no policy, nothing to fetch */
	if (!keep) {		/* sallyport --tls-policy: fetch, keep nothing */
		if (!have_id)
			snprintf(id, sizeof(id), "%s", cached.id);
		if (refresh(cfg, name, id, now, false, st) == 0 || !have_cache)
			return;
		goto use_cache;
	}
	/* A fetch is due: none cached, a new id, or max_age passed. One
	 * thread at a time per domain; whoever waited looks again. */
	sts_lock(name);
	if (sts_cache_read(cfg, name, &cached) == 0) {
		have_cache = true;
		if (current(&cached, id, have_id, now))
			goto unlock;
	}
	if (!have_id)			/* refreshing with no record: the id */
		snprintf(id, sizeof(id), "%s", cached.id);	/* stays */
	if (!failure_recent(name, id, now, st) &&
	    refresh(cfg, name, id, now, true, st) == -1)
		failure_note(name, id, now, st);
unlock:
	sts_unlock(name);
	if (st->have)
		return;
	if (!have_cache)
		return;
use_cache:
	st->have = true;
	st->c = cached;
	st->source = "cache";
	st->expired = (unsigned long)(now - cached.fetched) >=
	    cached.policy.max_age;
}

void
sts_policy(const struct config *cfg, const char *domain,
    struct sts_state *st)
{
	sts_find(cfg, domain, true, st);
}

void
sts_policy_look(const struct config *cfg, const char *domain,
    struct sts_state *st)
{
	sts_find(cfg, domain, false, st);
}
