/*
 * deliver_loop - the queue runner's guards against mail loops (RFC
 * 5321 6.3): the hop count of a message about to leave, and the MX
 * hosts and smarthost addresses that are this server itself.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "deliver/deliver_int.h"
#include "lib/hops.h"
#include "conf/ownaddr.h"

int
deliver_hops(const struct qentry *e, int fd, unsigned *count)
{
	struct hops h;
	char buf[8192];
	off_t left = e->body_size;
	ssize_t got;

	if (lseek(fd, e->body_offset, SEEK_SET) == (off_t)-1)
		return -1;
	hops_init(&h);
	while (!h.done && left > 0) {
		got = read(fd, buf, left < (off_t)sizeof(buf) ? (size_t)left :
		    sizeof(buf));
		if (got <= 0)
			return -1;
		hops_feed(&h, buf, (size_t)got);
		left -= got;
	}
	*count = h.count;
	return 0;
}

int
deliver_mx_list(const struct config *cfg, const char *domain,
    struct mx_target *t, size_t max, size_t *n)
{
	struct mx_host mx[DELIVER_MAX_MX + 1];
	struct resolve_sec sec;
	size_t nmx = 0, keep, i;
	int rc;

	*n = 0;
	if (max > DELIVER_MAX_MX)
		max = DELIVER_MAX_MX;
	/* One more than we keep: was a preference group cut? */
	if ((rc = resolve_mx_sec(cfg, domain, mx, max + 1, &nmx, &sec)) !=
	    RESOLVE_OK)
		return rc;
	keep = nmx;
	if (nmx > max) {
		/* We may be in the cut-off part of the last group, and its
		 * hosts we keep would pass the mail back: leave the group
		 * out, unless it is the whole list. */
		for (keep = max; keep > 0 && mx[keep - 1].pref ==
		    mx[max].pref; keep--)
			;
		if (keep == 0)
			keep = max;
	}
	for (i = 0; i < keep; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].mx = mx[i];
		t[i].rc = RESOLVE_TEMP;
		t[i].mx_secure = sec.secure;
	}
	*n = keep;
	return RESOLVE_OK;
}

int
deliver_mx_group(const struct config *cfg, struct mx_target *t, size_t i,
    size_t n, size_t *end)
{
	struct mx_host mx[DELIVER_MAX_MX];
	bool self[DELIVER_MAX_MX];
	struct ownaddr own;
	char err[128];
	size_t j, a, cut;

	for (*end = i; *end < n && t[*end].mx.pref == t[i].mx.pref; (*end)++)
		;
	if (ownaddr_load(&own, cfg, err, sizeof(err)) == -1)
		return -1;
	for (j = 0; j < *end; j++) {
		mx[j] = t[j].mx;
		self[j] = false;
		if (j < i)
			continue;	/* an earlier group: not ours */
		t[j].naddr = 0;
		t[j].rc = resolve_addrs_sec(cfg, t[j].mx.name, t[j].addrs,
		    DELIVER_MAX_ADDRS, &t[j].naddr, &t[j].sec);
		for (a = 0; t[j].rc == RESOLVE_OK && a < t[j].naddr; a++)
			if (ownaddr_is_own(&own,
			    (struct sockaddr *)&t[j].addrs[a]))
				self[j] = true;
	}
	ownaddr_free(&own);
	cut = deliver_mx_cut(mx, self, *end);
	return cut < *end ? 1 : 0;
}

size_t
deliver_mx_cut(const struct mx_host *mx, const bool *self, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (self[i])
			break;
	if (i == n)
		return n;	/* we are not among them */
	/* Hosts before i that share our preference go too. */
	while (i > 0 && mx[i - 1].pref >= mx[i].pref)
		i--;
	return i;
}

void
deliver_smarthost_target(const struct config *cfg, const char *host,
    unsigned port, struct mx_target *t)
{
	struct ownaddr own;
	char err[128];
	size_t a;

	memset(t, 0, sizeof(*t));
	snprintf(t->mx.name, sizeof(t->mx.name), "%s", host);
	t->rc = resolve_addrs_sec(cfg, host, t->addrs, DELIVER_MAX_ADDRS,
	    &t->naddr, &t->sec);
	if (t->rc != RESOLVE_OK ||
	    ownaddr_load(&own, cfg, err, sizeof(err)) == -1)
		return;		/* then the hop count still ends a loop */
	for (a = 0; a < t->naddr; a++)
		if (ownaddr_is_listener(&own, cfg,
		    (struct sockaddr *)&t->addrs[a], port))
			t->rc = DELIVER_LOOPS;
	ownaddr_free(&own);
}
