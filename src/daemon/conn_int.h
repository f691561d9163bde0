/*
 * conn_int - one client connection, shared by conn.c (socket, TLS
 * transport, timers, life cycle) and conn_hooks.c (what the engine asks
 * of the world: queue, DNS, STARTTLS, SASL). Private to those two.
 */
#ifndef SALLYPORT_CONN_INT_H
#define SALLYPORT_CONN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <ev.h>

#include "lib/buf.h"
#include "conf/config.h"
#include "lib/metrics.h"
#include "lib/netaddr.h"
#include "sec/sasl.h"

#define CONN_INBUF	16384
#define CONN_OUT_HIGH	65536		/* stop reading above this */
#define CONN_OUT_MAX	(1024 * 1024)	/* a client that never reads */
#define AUTH_DELAY_MAX	5		/* seconds before the Nth 535 */
#define TARPIT_DELAY	1.0		/* an error reply past soft_error_limit */
#define DATA_RATE_GRACE	30.0		/* seconds of DATA before min_data_rate */

struct conn {
	struct server	*srv;
	/* conn_process (conn.c), for conn_hooks.c, which conn.c uses: an
	 * answer that came back outside the engine's own call (a commit,
	 * a DNS answer, SASL) is the connection's to go on with. -1 when
	 * the connection was closed. */
	int		(*process)(struct conn *);
	struct cfg_ref	*cfg;		/* the config this session started with */
	int		 fd;
	enum listen_role role;
	unsigned	 line;		/* its `listen` line (metrics) */
	bool		 denied;	/* refused from its start: client_deny,
					 * DNSBL, a milter, talking first */
	ev_io		 rio, wio;
	ev_timer	 timer;		/* command, data or handshake timeout;
					 * greet_pause before the greeting */
	ev_timer	 guard;		/* each second: command_deadline and
					 * min_data_rate */
	ev_timer	 hold;		/* error replies held (soft_error_limit) */
	bool		 holding;	/* output and input wait for `hold` */
	bool		 greet_pending;	/* in greet_pause */
	unsigned	 errors_seen;	/* smtp_errors() at the last batch */
	ev_tstamp	 line_start;	/* first byte of a partial command line; 0: none */
	ev_tstamp	 data_start;	/* DATA began; 0: not in DATA */
	uint64_t	 data_bytes;	/* read since data_start */
	struct smtp_session *smtp;	/* NULL until the greeting */
	struct spool	*spool;
	struct dns_req	*lookup;	/* sender domain lookup in flight */
	bool		 looking_up;	/* inside dns_domain_exists() */
	struct mxcheck	*mx;		/* the transaction's checks */
	struct dnsbl	*dnsbl;		/* blocklist lookups in flight */
	char		*dnsbl_reply;	/* their verdict */
	struct milters	*milters;	/* NULL: none on this session */
	bool		 milter_pending;	/* their connect verdict */
	char		*milter_reply;	/* ... when it refuses */
	bool		 in_check_call;	/* inside mxcheck_end() */
	struct tls_ctx	*tlsctx;	/* certificate for this session */
	struct tls_conn	*tls;		/* set once TLS starts */
	bool		 handshaking;
	bool		 starttls_pending; /* after the 220 is out */
	bool		 read_wants_write; /* TLS read waits for writability */
	struct sasl_session *sasl;
	bool		 in_sasl_call;	/* inside sasl_session_start/step */
	ev_timer	 auth_delay;	/* holds back a 535 */
	unsigned	 auth_failures;
	struct buf	 out;
	bool		 committing;	/* spool is with the committer */
	bool		 closed;	/* socket gone; freed after the commit */
	unsigned long	 sid;
	char		 addr_text[64];
	char		 local_user[48];	/* ROLE_LOCAL: "UID (name)" */
	struct sockaddr_storage local, peer;	/* behind a proxy: the
					 * header's (but for `proxy_local`) */
	struct netaddr_key limit_key;	/* counted under (server_conn_added) */
	/* A proxy listener: its header is awaited (proxy_in holds what
	 * was read of it), then the proxy is known by proxy_text. */
	bool		 proxy_pending;
	struct buf	 proxy_in;
	char		 proxy_text[64];	/* "" unless behind a proxy */
	/* The proxy's own connection (v2 LOCAL, v1 UNKNOWN): its health
	 * checks. Served at the proxy's address, never trusted, and said
	 * at the debug level only. */
	bool		 proxy_local;
	bool		 quiet;		/* closing is said at debug level:
					 * said already, or proxy_local */
	/* Refused before its session began, for the metrics: no PROXY
	 * header, or max_connections_per_ip by the header's client
	 * (MCO_SERVED: not so; `denied` is the session's own refusal). */
	enum metrics_conn_outcome refused_as;
	bool		 counted;	/* its end is in the metrics */
	const char	*listener_name;	/* for log lines (the listener
					 * outlives its connections) */
	struct conn	*prev, *next;
	/* Input not yet taken by the engine: allocated when a read needs
	 * it and freed once empty, so an idle connection holds none. */
	char		*in;
	size_t		 inlen;
};

/* conn.c */
int	conn_process(struct conn *);
void	conn_close(struct conn *, const char *why);
int	conn_start_tls(struct conn *);

/* conn_hooks.c, under conn.c */
extern const struct smtp_io conn_smtp_io;
void	conn_hooks_close(struct conn *);	/* cancel what is in flight */
void	conn_destroy(struct conn *);		/* free it (socket closed) */
void	conn_dnsbl_start(struct conn *);	/* at connect, if it applies */
void	conn_milter_start(struct conn *);	/* at connect, if it applies */
/* The first command waits for the DNSBL and milter verdicts: are they
 * still out, and what is the reply to every command when they refuse
 * (NULL: none)? */
bool	conn_first_pending(const struct conn *);
/* ... the reply once they are all in, which the engine then gets: a
 * refusal is counted (the connection denied) when it is asked for. */
const char *conn_first_reply(struct conn *);

#endif
