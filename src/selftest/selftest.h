/*
 * selftest - `sallyport --selftest`: the 19 open-relay probes of
 * doc/selftest.md replayed as an untrusted client, plus the checks
 * that the server is not so closed that it is broken.
 *
 * One runner drives SMTP sessions through a transport: the real engine
 * in process (selftest_engine.c) or a TCP connection to a running server
 * (selftest_remote.c). The probe table is data (selftest_probes.c);
 * verdicts are pure functions of the transcript; selftest_report.c
 * prints the result for a person or as JSON.
 *
 *	selftest_probes.c	probe table, placeholders, client choice
 *	selftest.c		sessions, verdicts, checks, exit code
 *	selftest_engine.c	in-process transport over smtp.c
 *	selftest_local.c	the in-process run and its checks
 *	selftest_views.c	the other viewpoints: IPv6, each listener,
 *				PROXY headers; a run compared with another
 *	selftest_features.c	SMTPUTF8, DNSBL, SPF/DMARC lines
 *	selftest_remote.c	TCP transport (TLS too), HOST[:PORT]
 *	selftest_auth.c		the submission listeners, untrusted and
 *				authenticated: sessions and verdicts
 *	selftest_report.c	policy in words, table, summary
 *	selftest_json.c		the same as JSON
 *	selftest_main.c		the command: config, DNS on libev, output
 */
#ifndef SALLYPORT_SELFTEST_H
#define SALLYPORT_SELFTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "conf/config.h"
#include "dns/dns.h"
#include "lib/netaddr.h"

#define ST_NPROBES	20	/* the baseline (0) and probes 1-19 */
#define ST_MAX_RCPTS	3	/* probe 17 sends three */
#define ST_NAME_MAX	255	/* a domain name */
#define ST_LINE_MAX	512	/* a command line we send, CRLF included */
#define ST_NOTE_MAX	320

enum st_verdict {
	ST_PASS,	/* refused with 5xx (probe), or as expected (check) */
	ST_WEAK,	/* refused only with 4xx, or a sender check is off */
	ST_FAIL,	/* would relay (probe), or broken (check) */
	ST_NA,		/* check not applicable */
	ST_ERROR,	/* could not be completed (network failure) */
};

enum st_kind { ST_GREETING, ST_EHLO, ST_HELO, ST_MAIL, ST_RCPT, ST_RSET,
	ST_QUIT, ST_AUTH, ST_STARTTLS, ST_DATA,
	ST_BODY };	/* the message and its ".", sent as it is (in process) */

/* One command and its reply. */
struct st_exchange {
	enum st_kind	 kind;
	char		*sent;		/* without CRLF; NULL for the greeting */
	char		*reply;		/* lines joined by "\n", no CRLF; NULL: none */
	int		 code;		/* 0: no reply */
	const char	*error;		/* why there is no reply */
	char		*dns;		/* lookups this command caused, in words */
	bool		 tls;		/* sent inside TLS (in process: as if) */
	/* The line to send when `sent` is what the report shows instead
	 * (a password masked): set during command() only, never kept. */
	const char	*secret;
};

struct st_transcript {
	struct st_exchange *v;
	size_t		 n, cap;
};

/* One row of the probe table, as written in selftest_probes.c. */
enum {
	ST_P_SENDER_CHECK = 1 << 0,	/* no RCPT: the sender alone is tested */
	ST_P_NULL_SENDER  = 1 << 1,	/* MAIL FROM:<> must be accepted */
	ST_P_PROBER_SENDER = 1 << 2,	/* sender in TESTER_DOMAIN */
};

struct st_probe {
	int		 number;
	const char	*idea;
	const char	*mail;			/* template of the MAIL line */
	const char	*rcpt[ST_MAX_RCPTS];	/* templates; NULL ends */
	unsigned	 flags;
};

extern const struct st_probe st_probes[ST_NPROBES];

/* The values the templates' {NAME} placeholders stand for. */
struct st_places {
	char	server_host[ST_NAME_MAX + 1];
	char	server_ip[NETADDR_STRLEN];	/* plain: "192.0.2.1", "::1" */
	char	other_ip[NETADDR_STRLEN];
	char	tester_domain[ST_NAME_MAX + 1];
	char	tester_ip[NETADDR_STRLEN];
	char	external_local[65];
	char	external_domain[ST_NAME_MAX + 1];
	char	bad_domain[ST_NAME_MAX + 1];
	char	ehlo[64];			/* first label of tester_domain */
	char	server_ip_note[ST_NOTE_MAX];	/* where SERVER_IP came from */
	char	server_host_note[ST_NOTE_MAX];
	char	tester_domain_note[ST_NOTE_MAX];
};

/* Is s[0..len) a plain domain name (letters, digits, dots, hyphens; at
 * most 255)? What may stand for SERVER_HOST and TESTER_DOMAIN. */
bool	st_domain_name(const char *s, size_t len);
/* Fill `out` from template `tmpl`; 0, or -1 (unknown name, too long). */
int	st_expand(const struct st_places *, const char *tmpl, char *out,
	    size_t outlen);
/* "192.0.2.1" -> "192.0.2.1", "::1" -> "IPv6:::1": the text between
 * the brackets of an address literal. */
void	st_literal(const char *ip, char *out, size_t outlen);
/* OTHER_IP: close to the server's IPv4 address, not it. */
void	st_other_ip(const char *server_ip, char *out, size_t outlen);
/* Prober domains that are not ours under cfg (cfg may be NULL);
 * tester_domain may force one. 0, or -1 with a message. */
int	st_pick_domains(const struct config *, const char *tester_domain,
	    struct st_places *, char *err, size_t errlen);
/* Placeholders for an in-process run: SERVER_* from hostname and the
 * listeners; the listener the probes talk to in *target. */
int	st_places_from_config(const struct config *, const char *server_name,
	    const char *tester_domain, struct st_places *,
	    const struct listen_spec **target, char *err, size_t errlen);
/* The untrusted client: the first documentation address of `family`
 * not in mynetworks, nor in proxy_trusted with a proxy listener (from
 * there a PROXY header may name a client of mynetworks). Returns false
 * when every one is trusted: ss then holds the first anyway, or, with
 * *via_proxy set, the client of mynetworks such a header would name. */
bool	st_pick_client(const struct config *, int family,
	    struct sockaddr_storage *ss, char *text, size_t textlen,
	    bool *via_proxy);
/* The same against any list: the first documentation address of
 * `family` outside nets[0..n). */
bool	st_pick_outside(const struct cidr *nets, size_t n, int family,
	    struct sockaddr_storage *ss, char *text, size_t textlen);
/* The first host of the first mynetworks entry; false when empty. */
bool	st_trusted_client(const struct config *, struct sockaddr_storage *,
	    char *text, size_t textlen);

/* How the runner reaches a server: open a session and read its
 * greeting, then one command at a time. command() returns -1 when the
 * session is over (the exchange says why, or holds a last reply). */
struct st_transport {
	int	(*open)(void *ctx, struct st_exchange *greeting);
	int	(*command)(void *ctx, struct st_exchange *);
	void	(*close)(void *ctx);
	void	*ctx;
};

/* Outcome of one probe, in table order. */
struct st_row {
	const struct st_probe *probe;
	char		 listener[ST_NOTE_MAX];	/* "192.0.2.25:25 mx", target */
	char		 client[NETADDR_STRLEN];
	struct st_transcript t;
	enum st_verdict	 verdict;
	bool		 relay_reached;	/* MAIL accepted, RCPTs judged */
	char		 note[ST_NOTE_MAX];
};

/* A check of the other side: a server that refuses everything is
 * broken too. */
struct st_check {
	char		 name[ST_NOTE_MAX];
	char		 listener[ST_NOTE_MAX];	/* "" or as rows name it */
	enum st_verdict	 verdict;	/* PASS, FAIL or NA; WEAK or ERROR
					 * for an authenticated user's */
	struct st_transcript t;
	char		 note[ST_NOTE_MAX];
};

/* The probes once more from another viewpoint: another family, another
 * listener, through a PROXY header, another target. */
struct st_run {
	char		 title[ST_NOTE_MAX];	/* "IPv6 client ... on ..." */
	char		 listener[ST_NOTE_MAX];
	char		 client[NETADDR_STRLEN];
	char		 via[ST_NOTE_MAX];	/* how the client came to be */
	struct st_row	 rows[ST_NPROBES];
};

struct selftest {
	bool		 remote;
	const struct config *cfg;	/* in process; NULL when remote */
	char		 target[300];	/* remote: HOST[:PORT] as asked */
	struct st_transcript intro;	/* remote: greeting and EHLO seen */
	const struct listen_spec *listener;	/* in process: probed */
	char		 where[ST_NOTE_MAX];	/* the rows' listener: its
						 * name, or the target */
	char		 client[NETADDR_STRLEN];	/* TESTER_IP */
	char		 client_note[ST_NOTE_MAX];
	struct st_places p;
	char		*policy;	/* the paragraph in words */
	struct st_row	 rows[ST_NPROBES];
	struct st_check	*checks;
	size_t		 nchecks;
	struct st_run	*runs;		/* the other viewpoints */
	size_t		 nruns;
	double		 elapsed;	/* seconds */
};

/* Run one session: greeting, EHLO, the commands given, RSET, QUIT.
 * Returns -1 when the transport could not open a session. */
int	st_session(const struct st_transport *, const char *ehlo,
	    const char *const *lines, const enum st_kind *kinds, size_t n,
	    struct st_transcript *);
/* One line of a session: `shown` (NULL: text) is what the transcript
 * keeps, text what is sent (a password in clear). */
struct st_line {
	enum st_kind	 kind;
	const char	*text;
	const char	*shown;
};
int	st_session_lines(const struct st_transport *, const char *ehlo,
	    const struct st_line *, size_t n, struct st_transcript *);
/* Run every probe of the table through the transport. -1 when a
 * session could not be opened at all. */
int	st_run_probes(struct selftest *, const struct st_transport *);
/* The same into rows, naming listener and client in each (st->p fills
 * the placeholders). */
int	st_run_rows(struct selftest *, const struct st_transport *,
	    struct st_row *rows, const char *listener, const char *client);
/* A new run, empty; NULL when out of memory. */
struct st_run *st_add_run(struct selftest *, const char *title,
	    const char *listener, const char *client);
/* The check that run b got the answers run a got (same verdict and
 * reply codes, probe by probe) and relays nothing; FAIL names the
 * probes (pure). */
void	st_compare_runs(struct st_check *, const char *a_name,
	    const struct st_row *a, const char *b_name, const struct st_row *b);
/* The check that no probe of rows relays. */
void	st_judge_run(struct st_check *, const struct st_row *rows);

/* How the in-process viewpoints move the client: the next sessions come
 * from ss (text) on a listener of that role, inside TLS or not. */
struct st_viewer {
	const struct st_transport *tr;
	void	(*from)(void *ctx, const struct sockaddr_storage *ss,
		    const char *text, enum listen_role, bool tls);
	/* the in-process second look at rows that relayed (kept here) */
	void	(*judge)(void *ctx, struct st_row *rows);
	void	*ctx;
};
/* The other viewpoints in process (selftest_views.c): the probes as an
 * untrusted IPv6 client, on every other mx listener, through every
 * proxy listener; each a run and a check. -1: out of memory. */
int	st_views_local(struct selftest *, const struct st_viewer *);
/* A line for each feature that changes what an outside client may
 * send (selftest_features.c): SMTPUTF8; DNSBL and SPF/DMARC
 * enforcement when configured. -1: the engine failed. */
struct st_local_opts;
int	st_features_local(struct selftest *, const struct st_viewer *,
	    const struct st_local_opts *);
/* The first host of the first of v[0..n) (its .1 when wider than /31);
 * false when n is 0. */
bool	st_first_host(const struct cidr *v, size_t n,
	    struct sockaddr_storage *, char *text, size_t textlen);
/* The verdict of one probe from its transcript (pure). */
enum st_verdict st_judge(const struct st_probe *, const struct st_transcript *,
	    bool *relay_reached, char *note, size_t notelen);

/* The verdict of a submission listener's check (pure). Its transcript
 * holds a session in clear, t.v[0..tls_from), with EHLO, AUTH and MAIL,
 * then one with EHLO, STARTTLS, EHLO and MAIL (from the first byte
 * inside TLS with EHLO and MAIL when tls_from is 0: implicit TLS);
 * sasl_asked: the engine started SASL in clear. */
void	st_judge_submission(struct st_check *, size_t tls_from, bool sasl_asked);
struct st_check *st_add_check(struct selftest *, const char *name);
/* The check that probe 5's null sender was accepted at MAIL. */
void	st_check_null_sender(struct selftest *);
void	st_transcript_free(struct st_transcript *);
struct st_exchange *st_transcript_add(struct st_transcript *, enum st_kind,
	    const char *sent);
/* The line of an EHLO reply whose keyword is kw (after the code), or NULL. */
const char *st_ehlo_has(const char *ehlo, const char *kw);
void	selftest_free(struct selftest *);

/* Counts over rows and checks; the exit status: 0 nothing relays and
 * the checks hold, 1 a probe or check failed, 2 a probe could not run. */
struct st_counts {
	unsigned pass, weak, fail, error;		/* probes */
	unsigned cpass, cfail, cna, cweak, cerror;	/* checks */
	unsigned unreached;	/* probes whose MAIL was refused */
};
void	st_count(const struct selftest *, struct st_counts *);
int	st_exit_code(const struct selftest *);
const char *st_verdict_name(enum st_verdict);

/* In process: answer for the domain_lookup of the engine. The prober's
 * own domains are answered by the self-test; others go here. */
typedef enum dns_result st_resolve_fn(void *arg, const char *domain);

/* In process: run the caller's event loop once, for an answer of SASL
 * (which comes back on the loop); false when nothing is left to wait
 * for. */
typedef bool st_wait_fn(void *arg);

struct buf;
struct dns;
struct ev_loop;

/* The authenticated user: --auth-user and the AUTH PLAIN line made
 * from the password file (a buf_init_secret buffer: zeroed when
 * freed). */
struct st_creds {
	const char	*user;
	struct buf	*line;		/* "AUTH PLAIN base64", no CRLF */
};

struct sasl_server;

struct st_local_opts {
	const char	*server_name;	/* --server-name, or NULL */
	const char	*tester_domain;	/* --tester-domain, or NULL */
	st_resolve_fn	*resolve;	/* NULL: every lookup is "not found" */
	void		*resolve_arg;
	const struct st_creds *creds;	/* NULL: no authenticated checks */
	struct sasl_server *sasl;	/* the configured backend, or NULL */
	st_wait_fn	*wait;		/* for SASL's and DNS's answers */
	void		*wait_arg;
	/* The DNSBL and SPF/DMARC lines: the configured resolver on the
	 * loop `wait` runs, and what main.c lends; NULL: N/A lines. */
	struct ev_loop	*loop;
	struct dns	*dns;
	const struct doctor_hooks *hooks;
};

/* The whole in-process run against cfg. 0, or -1 with a message (the
 * configuration cannot be probed: exit 2). */
int	selftest_local(const struct config *, const struct st_local_opts *,
	    struct selftest *, char *err, size_t errlen);

struct st_remote_opts {
	const char	*server_name;
	const char	*tester_domain;
	unsigned	 timeout;	/* seconds per reply; 0: 10 */
	/* --proxy: each connection starts with a PROXY v1 header naming
	 * an outside client (this machine must be in proxy_trusted) */
	bool		 proxy;
	/* a second HOST[:PORT] (the server's other family, say): its
	 * probes are a run compared with the first target's; or NULL */
	const char	*second;
	const struct st_creds *creds;	/* NULL: no authenticated checks */
	bool		 implicit_tls;	/* TLS from the first byte */
};

/* The probes over TCP against target "HOST[:PORT]" (port 25 by default,
 * "[v6]:port"). 0, or -1 with a message when it cannot be reached. */
int	selftest_remote(const char *target, const struct st_remote_opts *,
	    struct selftest *, char *err, size_t errlen);
/* Split "HOST[:PORT]"; 0, or -1 when malformed. */
int	st_split_target(const char *target, char *host, size_t hostlen,
	    char *port, size_t portlen);
/* Parse a reply from `in`: returns bytes used when a whole reply is
 * there (code and text set), 0 when more is needed, -1 when malformed. */
long	st_parse_reply(const char *in, size_t len, int *code, char **text);

/* The submission listeners (selftest_auth.c), in process and remote:
 * how one is seen by the checks. */
struct st_view {
	const char	*where;		/* "127.0.0.1:587", the target */
	const char	*listener;	/* as rows name it: "127.0.0.1:587
					 * submission", the target */
	enum listen_role role;		/* ROLE_SUBMISSION(S) */
	bool		*sasl_asked;	/* in process: SASL was started */
	char		 own[ST_LINE_MAX / 2];	/* a sender the login owns;
						 * "": the null sender */
	char		 foreign[ST_LINE_MAX / 2]; /* one it does not own */
	int		 login_check;	/* sender_login_check or a map: 1
					 * on, 0 off, -1 not known (remote) */
};
/* The untrusted client on a submission listener: before TLS no AUTH
 * offered or taken and no MAIL; inside TLS AUTH offered, still no MAIL
 * without it. One check. */
void	st_check_submission(struct selftest *, const struct st_transport *,
	    const struct st_view *);
/* The authenticated user: no relaying before AUTH; after AUTH with
 * creds, relaying to an outside domain accepted; a sender the login
 * does not own refused. Three checks (the last two N/A without creds).
 * No DATA is ever sent. */
void	st_check_auth(struct selftest *, const struct st_transport *,
	    const struct st_creds *, const struct st_view *);
/* Their verdicts, from each check's transcript (pure). */
void	st_judge_before_auth(struct st_check *);
void	st_judge_auth_relay(struct st_check *);
void	st_judge_sender_login(struct st_check *, int login_check);
/* The AUTH PLAIN line (RFC 4616, no authorization identity) for user
 * and the password into line, a secret buffer. 0, or -1 (too long). */
int	st_creds_line(struct buf *line, const char *user, const char *pass,
	    size_t passlen);
/* The password: the first line of path, its newline dropped, into
 * pass (a secret buffer). -1 with a message when it cannot be read,
 * is empty, or others may read it; warn gets a warning ("" for none)
 * when the file's group may. */
int	st_read_password(const char *path, struct buf *pass, char *warn,
	    size_t warnlen, char *err, size_t errlen);

/* The command line of `sallyport --selftest` (selftest_main.c). */
struct doctor_hooks;
struct selftest_cli {
	const char	*config;	/* in process: the file to load */
	const char	*target;	/* HOST[:PORT]: over the network */
	bool		 json;
	const char	*server_name;	/* --server-name */
	const char	*tester_domain;	/* --tester-domain */
	bool		 dns;		/* --dns: the deployment doctor */
	const char	*probe_outbound; /* --probe-outbound DOMAIN */
	const struct doctor_hooks *hooks;	/* what main.c lends --dns */
	const char	*target2;	/* a second HOST[:PORT], compared */
	bool		 proxy;		/* --proxy: send a PROXY v1 header */
	const char	*auth_user;	/* --auth-user */
	const char	*auth_pass_file; /* --auth-pass-file */
	bool		 implicit_tls;	/* --implicit-tls (remote) */
};

/* Run, print to stdout, return the exit status (0, 1 or 2). */
int	selftest_command(const struct selftest_cli *);

/* Output (selftest_report.c, selftest_json.c). */
struct buf;
char	*st_policy_text(const struct selftest *);
void	 st_summary(const struct selftest *, struct buf *);	/* one line */
void	 st_listener_text(char *out, size_t outlen, const struct listen_spec *);
/* "192.0.2.25:25 mx", "[::1]:2525 mx proxy": what a probe row names */
void	 st_listener_name(char *out, size_t outlen, const struct listen_spec *);
/* Where a listener offers AUTH under cfg, in words ("after STARTTLS,
 * and MAIL requires it"). */
const char *st_listener_auth(const struct config *, const struct listen_spec *);
void	selftest_print_text(const struct selftest *, FILE *);
void	selftest_print_json(const struct selftest *, FILE *);
/* s as a JSON string (null for NULL), escaped as the report's are. */
void	st_json_string(FILE *, const char *s);
void	st_json_strings(FILE *, char *const *v, size_t n);	/* an array */

#endif
