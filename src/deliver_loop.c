/*
 * deliver_loop - the queue runner's guards against mail loops (RFC
 * 5321 6.3): the hop count of a message about to leave, and the MX
 * hosts and smarthost addresses that are this server itself.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "deliver_int.h"
#include "hops.h"
#include "ownaddr.h"

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
deliver_mx_targets(const struct config *cfg, const char *domain,
    struct mx_target *t, size_t max, size_t *n, bool *ours)
{
	struct mx_host mx[DELIVER_MAX_MX];
	bool self[DELIVER_MAX_MX];
	struct ownaddr own;
	char err[128];
	size_t nmx = 0, i, a;
	int rc;

	*n = 0;
	*ours = false;
	if (max > DELIVER_MAX_MX)
		max = DELIVER_MAX_MX;
	if ((rc = resolve_mx(cfg, domain, mx, max, &nmx)) != RESOLVE_OK)
		return rc;
	if (ownaddr_load(&own, cfg, err, sizeof(err)) == -1)
		return RESOLVE_TEMP;	/* cannot tell: not now */
	for (i = 0; i < nmx; i++) {
		t[i].mx = mx[i];
		t[i].naddr = 0;
		t[i].rc = resolve_addrs(cfg, mx[i].name, t[i].addrs,
		    DELIVER_MAX_ADDRS, &t[i].naddr);
		self[i] = false;
		for (a = 0; t[i].rc == RESOLVE_OK && a < t[i].naddr; a++)
			if (ownaddr_is_own(&own,
			    (struct sockaddr *)&t[i].addrs[a]))
				self[i] = *ours = true;
	}
	ownaddr_free(&own);
	*n = ownaddr_mx_cut(mx, self, nmx);
	return RESOLVE_OK;
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
	t->rc = resolve_addrs(cfg, host, t->addrs, DELIVER_MAX_ADDRS,
	    &t->naddr);
	if (t->rc != RESOLVE_OK ||
	    ownaddr_load(&own, cfg, err, sizeof(err)) == -1)
		return;		/* then the hop count still ends a loop */
	for (a = 0; a < t->naddr; a++)
		if (ownaddr_is_listener(&own, cfg,
		    (struct sockaddr *)&t->addrs[a], port))
			t->rc = DELIVER_LOOPS;
	ownaddr_free(&own);
}
