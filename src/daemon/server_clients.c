/*
 * server_clients - what a serving process keeps across its clients:
 * the open connections counted by client address, stress mode, AUTH
 * failures by address, and the note to the queue runner for each new
 * entry. The connections report here; the listeners read it.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "daemon/server.h"
#include "lib/iptable.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "queue/queue.h"
#include "smtp/policy.h"

#define STRESS_DIVISOR	5	/* timeouts under stress, as Postfix does */
#define AUTH_SWEEP	60.0	/* seconds between ageing AUTH failures */

void
server_queued(struct server *srv, const char *id)
{
	char line[QUEUE_ID_LEN + 2];
	int n = snprintf(line, sizeof(line), "%s\n", id);

	/* A full pipe only delays it: the runner rescans the queue. */
	if (srv->notify_wr != -1 && n > 0)
		(void)!write(srv->notify_wr, line, (size_t)n);
}

/* stress_check - enter or leave stress mode (Postfix's name): over 80%
 * of max_connections, clients get a fifth of the usual timeouts */
static void
stress_check(struct server *srv)
{
	bool stressed = (uint64_t)srv->nconns * 5 >
	    (uint64_t)srv->cfg->cfg->max_connections * 4;

	if (stressed == srv->stressed)
		return;
	srv->stressed = stressed;
	if (stressed)
		log_warn("stress mode: %u connections open (max_connections "
		    "%u); timeouts divided by %d", srv->nconns,
		    srv->cfg->cfg->max_connections, STRESS_DIVISOR);
	else
		log_info("stress mode ended: %u connections open",
		    srv->nconns);
}

double
server_timeout(const struct server *srv, unsigned seconds)
{
	double t = seconds;

	if (srv->stressed)
		t /= STRESS_DIVISOR;
	return t < 1.0 ? 1.0 : t;
}

void
server_conn_added(struct server *srv, const struct sockaddr *peer,
    struct netaddr_key *key)
{
	srv->nconns++;
	key->family = 0;
	if (peer != NULL)
		server_conn_client(srv, peer, key);
	stress_check(srv);
}

void
server_conn_client(struct server *srv, const struct sockaddr *peer,
    struct netaddr_key *key)
{
	struct iptable_entry *e;

	/* Out of memory: this one goes uncounted, which is harmless. */
	if (netaddr_client_key(peer, srv->cfg->cfg->ipv6_client_prefix,
	    key) == 0 && (e = iptable_get(srv->per_ip, key, true)) != NULL)
		e->count++;
	else
		key->family = 0;
}

bool
server_per_ip_full(struct server *srv, const struct sockaddr *peer,
    bool exempt, const char *where)
{
	const struct config *cfg = srv->cfg->cfg;
	const struct iptable_entry *e = NULL;
	unsigned max = cfg->max_connections_per_ip;
	struct netaddr_key key;
	char ip[NETADDR_STRLEN];

	if (netaddr_client_key(peer, cfg->ipv6_client_prefix, &key) == 0)
		e = iptable_get(srv->per_ip, &key, false);
	/* mynetworks are exempt, as in Postfix (smtpd_client_event_limit_
	 * exceptions): a local relay or a busy web server is not an attack. */
	if (e == NULL || e->count < max || (exempt &&
	    policy_trusted(cfg, peer)))
		return false;
	netaddr_format(peer, ip, sizeof(ip));
	log_warn("refused connection from [%s] on %s: max_connections_per_ip "
	    "(%u) reached", ip, where, max);
	return true;
}

void
server_conn_gone(struct server *srv, const struct netaddr_key *key)
{
	struct iptable_entry *e;

	if (key->family != 0 &&
	    (e = iptable_get(srv->per_ip, key, false)) != NULL &&
	    --e->count == 0)
		iptable_remove(srv->per_ip, key);
	srv->nconns--;
	stress_check(srv);
	if (srv->stopping && srv->nconns == 0)
		ev_break(srv->loop, EVBREAK_ALL);
}

/* --- AUTH failures across connections ------------------------------------ */

void
server_auth_failed(struct server *srv, const struct sockaddr *sa)
{
	const struct config *cfg = srv->cfg->cfg;
	struct iptable_entry *e;
	struct netaddr_key key;
	time_t now = time(NULL);

	if (netaddr_client_key(sa, cfg->ipv6_client_prefix, &key) == -1 ||
	    (e = iptable_get(srv->auth_fails, &key, true)) == NULL)
		return;
	if (e->count == 0 || now - e->since >= (time_t)cfg->auth_failure_window) {
		e->count = 0;		/* a new window */
		e->since = now;
	}
	e->count++;
}

bool
server_auth_allowed(struct server *srv, const struct sockaddr *sa)
{
	const struct config *cfg = srv->cfg->cfg;
	const struct iptable_entry *e = NULL;
	struct netaddr_key key;

	if (netaddr_client_key(sa, cfg->ipv6_client_prefix, &key) == 0)
		e = iptable_get(srv->auth_fails, &key, false);
	return e == NULL || e->count < cfg->max_auth_failures_per_ip ||
	    time(NULL) - e->since >= (time_t)cfg->auth_failure_window;
}

static void
on_auth_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *srv = w->data;

	(void)loop;
	(void)revents;
	iptable_expire(srv->auth_fails,
	    time(NULL) - (time_t)srv->cfg->cfg->auth_failure_window);
}

void
server_clients_start(struct server *srv)
{
	ev_timer_init(&srv->auth_sweep, on_auth_sweep, AUTH_SWEEP, AUTH_SWEEP);
	srv->auth_sweep.data = srv;
	ev_timer_start(srv->loop, &srv->auth_sweep);
}
