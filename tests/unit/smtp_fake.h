/*
 * smtp_fake - the host the engine's unit tests drive it with
 * (test_smtp, test_smtp_filter): an in-memory spool, DNS and SASL
 * answered as each test says, and helpers that read like a session.
 */
#ifndef SALLYPORT_SMTP_FAKE_H
#define SALLYPORT_SMTP_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/buf.h"
#include "conf/config.h"
#include "smtp/smtp.h"

struct fake {
	struct buf	 out;		/* replies not yet looked at */
	struct buf	 msg;		/* spooled message octets */
	char		 sender[300];
	char		 rcpts[8][300];
	size_t		 nrcpts;
	bool		 smtputf8;		/* the envelope's, at open */
	bool		 requiretls;		/* the envelope's, at open */
	int		 tls_optionals;		/* spool_tls_optional calls */
	int		 commits_at_tls_optional; /* fk.commits then */
	enum mail_body	 body;
	int		 opens, commits, aborts;
	bool		 fail_open, fail_write;
	int		 open_result;		/* with fail_open: -1 or -2 */
	bool		 disk_full;		/* space_ok says no */
	uint64_t	 space_asked;		/* last size space_ok saw */
	int		 space_checks;
	bool		 committing;
	int		 lookups;		/* domain_lookup calls */
	char		 looked_up[300];	/* last domain asked for */
	bool		 lookup_pending;	/* leave the answer to the test */
	enum dns_result	 answer;		/* else answer this at once */
	int		 starttls;		/* starttls hook calls */
	const char	*mechs;			/* what auth_mechanisms says */
	char		 auth_mech[32];		/* last auth_start */
	char		 auth_data[1024];	/* last decoded response */
	size_t		 auth_len;
	bool		 auth_initial;
	int		 auth_starts, auth_steps, auth_resets;
	bool		 auth_blocked;		/* auth_allowed says no */
	size_t		 room;			/* env->prepend_room at open */
	int		 prepends;		/* spool_prepend calls */
	int		 commits_at_prepend;	/* fk.commits then */
	struct buf	 fields;		/* what they put in front */
};

extern struct fake fk;
extern struct config *cfg;
extern struct smtp_session *s;		/* the session under test */
extern const struct smtp_io fake_io;
extern bool dnsbl_pending;		/* the next start() awaits a DNSBL verdict */
extern const struct smtp_io *fake_next_io;	/* the next start()'s host
						 * (NULL: fake_io) */
extern unsigned fake_next_listener;	/* the next start()'s `listen` line
					 * (then 0 again) */

/* start - a session from `client` under a config with `extra` lines */
void	start(const char *client, const char *extra);
/* start_as - a session from `client` with a listener role, a
 * certificate (tls_offer) and possibly inside TLS from the start */
void	start_as(const char *client, const char *extra, enum listen_role,
	    bool tls_offer, bool implicit_tls);
/* finish - the session and its config freed; a test that ends one
 * session to start another calls it too, before the suite's .fini */
void	finish(void);
/* say - send bytes; returns the replies they produced */
char	*say_n(const char *, size_t);
#define say(str)	say_n(str, strlen(str))
/* complete the pending commit; returns the replies */
char	*commit(int status);
/* body after the Received header we prepend */
const char *body(void);

#endif
