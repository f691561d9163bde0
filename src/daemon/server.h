/*
 * server - the libev loop: listeners, connections, signals, reload.
 */
#ifndef SALLYPORT_SERVER_H
#define SALLYPORT_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <ev.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "conf/config.h"
#include "daemon/generation.h"

struct conn;
struct committer;
struct iptable;
struct metrics_http;
struct netaddr_key;
struct dns;
struct orgdomain;
struct queue;
struct sasl_server;
struct tls_ctx;

struct listener {
	int		 fd;
	enum listen_role role;
	unsigned	 line;		/* its `listen` line, as the metrics
					 * count it (lib/metrics.h) */
	bool		 proxy;		/* a PROXY header first (a reload
					 * changes it: server_reload.c) */
	char		 name[80];	/* "127.0.0.1:25 mx", for logs */
	struct sockaddr_storage addr;	/* bound to, when a single address:
					 * every client's local address */
	bool		 wildcard;	/* bound to every address: each
					 * client's is asked (getsockname) */
	ev_io		 io;
	struct server	*srv;
};

/* A client the master accepted before the first workers started, for
 * the worker its address is steered to (workers.c). */
struct early_conn {
	int		 fd;
	size_t		 role_index;	/* its `listen` line */
	int		 worker;
	struct sockaddr_storage peer;
};

struct server {
	struct ev_loop	*loop;
	struct cfg_ref	*cfg;		/* current configuration */
	struct queue	*queue;
	struct committer *committer;
	struct dns	*dns;
	struct orgdomain *psl;		/* the public suffix list (DMARC);
					 * NULL: DMARC is not checked */
	struct tls_ctx	*tls;		/* NULL without a certificate */
	struct sasl_server *sasl;	/* NULL: AUTH unavailable */
	bool		 foreground;	/* logs to stderr (the runner too) */
	pid_t		 runner;	/* the queue runner process, or 0 */
	int		 notify_rd;	/* the runner reads "ID\n" here; kept
					 * open so a restarted runner gets
					 * what its predecessor did not read */
	int		 notify_wr;	/* ... for each new entry */
	unsigned	 nworkers;	/* event loops; > 1: worker processes */
	int		 worker;	/* this process's index; -1: the only
					 * process, or the master */
	ev_child	 runner_watch;
	ev_io		 runner_ctl;	/* its control socket (one process) */
	struct gens	 gens;		/* master: what each child serves */
	unsigned long	 generation;	/* the configuration this one serves */
	int		 ctl_fd;	/* a worker: its socket to the master */
	ev_io		 ctl_io;
	ev_timer	 runner_restart;
	struct listener	*listeners;	/* nworkers sockets per `listen`:
					 * worker i has [i * nlisten, ...) */
	size_t		 nlisteners;
	size_t		 nlisten;	/* `listen` lines */
	struct listener	 local;		/* local_socket (every worker's);
					 * fd -1: none */
	char		 local_path[108];	/* where it was bound */
	dev_t		 local_dev;	/* ... as which file */
	ino_t		 local_ino;
	bool		 local_owner;	/* this process removes it at the end */
	int		 metrics_fd;	/* the metrics listener; -1: none */
	char		 metrics_name[80];	/* ... for logs */
	struct metrics_http *metrics;	/* its scrapes, where they are
					 * served: the master or the only
					 * process (metrics_http.h) */
	time_t		 started;	/* sallyport_process_start_time */
	bool		 steered;	/* every group steered by address */
	struct early_conn *early;	/* a worker: served before the rest */
	size_t		 nearly;
	struct conn	*conns;		/* open connections (list) */
	unsigned	 nconns;
	struct iptable	*per_ip;	/* open connections by client address */
	struct iptable	*auth_fails;	/* AUTH failures by client address */
	ev_timer	 auth_sweep;	/* ages auth_fails out */
	bool		 stressed;	/* over 80% of max_connections */
	unsigned long	 next_sid;	/* worker i: i, i + n, i + 2n, ... */
	uint64_t	 space_avail;	/* queue disk, as last seen ... */
	ev_tstamp	 space_at;	/* ... then (conn_hooks.c) */
	bool		 stopping;
	ev_signal	 sig_term, sig_int, sig_hup;
	ev_timer	 stop_timer;	/* shutdown_timeout */
	ev_timer	 pause_timer;	/* accept paused after EMFILE */
};

/* Create the server and bind every listener (still privileged). */
struct server	*server_new(struct config *, char *err, size_t errlen);
/* The event loop of one process: the only one, or worker srv->worker
 * (queue already open, runner managed by the master). */
int		 server_serve(struct server *);
void		 server_free(struct server *);
/* Close the local submission socket (and remove it, in the process
 * that made it). */
void		 server_local_close(struct server *);

/* Read the configuration file again as generation gen: true when it was
 * taken, false when refused (logged; the running one stays; why holds
 * the first reason). A worker passes the digest the master sent (the
 * file must be what the master read), the master NULL. server_reload.c. */
bool		 server_reload(struct server *, unsigned long gen,
		    const char *digest, char *why, size_t whylen);
/* SIGHUP in the only process (reload, then pass it to the runner) or in
 * a worker (ignored: the master passes reloads on). */
void		 server_hup(struct server *);
/* A worker: answer the master's reload requests on srv->ctl_fd, and say
 * which generation it started with. */
void		 server_control_start(struct server *);
/* --- server_clients.c: what the server keeps across its clients ------- */

/* Start ageing the AUTH failures (on srv->loop). */
void		 server_clients_start(struct server *);
/* A new entry is in the queue: tell the runner. */
void		 server_queued(struct server *, const char *id);
/* A connection from peer is open: counted, under its client address
 * in *key (family 0: not counted), which the connection keeps so that
 * it is uncounted under the same key after a reload changes the prefix.
 * Peer NULL: its client is not known yet (a PROXY header to come), and
 * server_conn_client counts it under that client once it is. */
void		 server_conn_added(struct server *, const struct sockaddr *peer,
		    struct netaddr_key *key);
void		 server_conn_client(struct server *,
		    const struct sockaddr *peer, struct netaddr_key *key);
/* Would one more connection from peer pass max_connections_per_ip
 * (logged as refused on listener `where`)? mynetworks are exempt if
 * `exempt`. */
bool		 server_per_ip_full(struct server *,
		    const struct sockaddr *peer, bool exempt, const char *where);
/* ... and gone. */
void		 server_conn_gone(struct server *, const struct netaddr_key *key);
/* A timeout, shortened while the server is under stress. */
double		 server_timeout(const struct server *, unsigned seconds);
/* AUTH failures from this address: count one; may it try again? */
void		 server_auth_failed(struct server *, const struct sockaddr *);
bool		 server_auth_allowed(struct server *, const struct sockaddr *);

#endif
