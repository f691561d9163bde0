/*
 * milter_int - the milter client's insides, shared by its files:
 * milter_conn.c (one milter's socket, its packets and deadlines),
 * milter_session.c (the stages walked through the milters in order,
 * macros, verdicts), milter_eom.c (the message streamed to a milter at
 * its end, its changes collected) and milter_apply.c (the changes
 * written into the spool). Private to them.
 */
#ifndef SALLYPORT_MILTER_INT_H
#define SALLYPORT_MILTER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <ev.h>

#include "daemon/milter_client.h"
#include "lib/buf.h"
#include "milter/milter.h"

#define MF_OUT_MAX	(4 * MILTER_CHUNK_MAX)	/* packets not yet written */
#define MF_OUT_LOW	MILTER_CHUNK_MAX	/* below it, the body goes on */
#define MF_READ		65536			/* octets read at once */

/* The stages a milter is walked through (smtp_filter_stage's, and the
 * connection before them). */
enum mf_stage {
	MF_S_CONNECT,
	MF_S_HELO,
	MF_S_MAIL,
	MF_S_RCPT,
	MF_S_DATA,
	MF_S_END,
	MF_S_NONE,
};

/* One milter for one session. */
struct mfilter {
	struct milters	*set;
	const struct milter_spec *spec;
	int		 fd;		/* -1: not connected (any more) */
	ev_io		 rio, wio;
	ev_timer	 timer;		/* the step's deadline */
	struct buf	 out;		/* packets to write */
	struct milter_dec dec;
	bool		 ready;		/* connected, OPTNEG answered */
	bool		 waiting;	/* a reply is due */
	bool		 kicked;	/* the session waits on it to be idle */
	uint32_t	 actions;	/* MILTER_F_* it may take */
	uint32_t	 protocol;	/* MILTER_P_* it asked */
	char		*macros[MILTER_M_COUNT];	/* its lists, or NULL */
	bool		 off;		/* out of this session (accepted at
					 * connect or HELO, or failed with
					 * default action accept) */
	bool		 off_msg;	/* accepted this message */
	bool		 in_msg;	/* saw MAIL; ABORT it when it ends */
	bool		 freed;		/* out and dec freed (closed) */
	bool		 saw_eom;	/* got EOM: the message is over for it */
	int		 failed;	/* -1, or the milter_action a failure
					 * left: every later stage refused */
};

/* The end of message at one milter (milter_eom.c). */
struct mf_eom;

/* How milter_conn.c tells the session about a milter. */
struct mf_ops {
	void	(*reply)(struct mfilter *, const struct milter_reply *);
	void	(*idle)(struct mfilter *);	/* negotiated, or drained
						 * with no reply due */
	void	(*failed)(struct mfilter *, const char *why);
};

/* One session's milters (milter_session.c). */
struct milters {
	const struct mf_ops *ops;
	struct milters_params p;
	const struct milters_host *host;
	void		*ctx;
	ev_timer	 kick;		/* starts the connect stage */
	ev_timer	 answer_timer;	/* the verdict, from the loop */
	bool		 answer_connect;	/* ... on the connection */
	enum smtp_filter_action answer;
	bool		 opening;	/* in the connects: no walk */
	struct mfilter	*f;
	size_t		 nf;
	size_t		 cur;		/* the milter the walk is at */
	enum mf_stage	 stage;		/* MF_S_NONE: no walk */
	char		*arg, *params;	/* the stage's, copied */
	char		*sender;	/* MAIL's, for {mail_addr} */
	char		*rcpt;		/* the last RCPT's, for {rcpt_addr} */
	char		 client_port[8];
	bool		 discard_session;	/* a milter said discard at
					 * connect or HELO */
	bool		 discard_msg;	/* ... since MAIL */
	/* the message (END) */
	struct envelope	 env;		/* the copy milters may change */
	char		*env_strings[6];	/* owned strings of env */
	char		**rcpts;	/* env.rcpts, owned */
	size_t		 nrcpts;
	bool		 have_env;
	struct spool	*spool;
	struct mf_eom	*eom;
	char		*refusal;	/* the reply of a refused stage */
	char		 summary[256];
};

/* --- milter_conn.c --- */
/* Start connecting mf (its socket, OPTNEG); -1 when it failed at once
 * (mf_fail was called). */
int	mf_open(struct mfilter *);
/* Packets are in mf->out: write them, and with expect wait for the
 * milter's replies (each to ops->reply) for up to `timeout` (0: the
 * deadline already running). */
void	mf_send(struct mfilter *, bool expect, unsigned timeout);
/* Write what the socket takes of mf->out, no reply due, no callback
 * (the rest when it drains: ops->idle); -1 when mf failed. */
int	mf_write(struct mfilter *);
/* The milter failed (down, slow, broken, an action not negotiated):
 * one log line, the socket closed, its default action taken. Goes on
 * with the session's walk (ops->failed). */
void	mf_fail(struct mfilter *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* The reply that restarts the deadline (PROGRESS). */
void	mf_progress(struct mfilter *, unsigned timeout);
/* Close the socket, after QUIT when it is connected. */
void	mf_close(struct mfilter *, bool quit);
/* Is everything written? */
bool	mf_drained(const struct mfilter *);

/* The timeout of a step for mf (milter_timeout_*). */
unsigned mf_timeout(const struct mfilter *, enum milter_step_timeout);

/* --- milter_macro.c --- */
/* Put the macros of a stage for mf, before its command `cmd`. */
int	milters_put_macros(struct mfilter *, enum milter_stage, char cmd);

/* --- milter_eom.c --- */
/* What the end of message at a milter came to, for the session. */
enum mf_eom_result {
	MF_EOM_WAIT,		/* more to come from the loop */
	MF_EOM_GONE,		/* the milter failed (mf_fail said so) */
	MF_EOM_NEXT,		/* done, its changes written: the next one */
	MF_EOM_ERROR,		/* ours (memory, the spool): 451 */
	MF_EOM_DISCARD,		/* every recipient deleted */
	MF_EOM_VERDICT,		/* the reply is a verdict: reject, ... */
};
/* Start the end of message at the current milter (its walk step). */
enum mf_eom_result mf_eom_start(struct mfilter *);
/* A reply during it. */
enum mf_eom_result mf_eom_reply(struct mfilter *,
	    const struct milter_reply *);
/* mf's output drained: stream on. */
enum mf_eom_result mf_eom_pump(struct mfilter *);
void	mf_eom_free(struct mf_eom *);
/* The milter at the end of the message failed: the envelope changes it
 * asked for are dropped. */
void	mf_eom_undo(struct milters *);

/* --- milter_apply.c --- */
/* The message in the spool rewritten with what one milter changed:
 * its header edits, a body replaced (body_fd, from its start; -1:
 * kept), the envelope of set->env. 0, or -1 with err. */
int	mf_apply(struct milters *, const struct milter_edits *, int body_fd,
	    char *err, size_t errlen);
/* An envelope recipient added or deleted, the sender changed (the
 * milter's address, brackets or not); 0, or -1 with err. */
int	mf_env_addrcpt(struct milters *, const char *addr, char *err,
	    size_t errlen);
int	mf_env_delrcpt(struct milters *, const char *addr);
int	mf_env_sender(struct milters *, const char *addr, char *err,
	    size_t errlen);
int	mf_env_hold(struct milters *, const char *reason);
void	mf_env_free(struct milters *);
int	mf_env_copy(struct milters *, const struct envelope *);
/* The envelope as the milters before this one left it, kept while it
 * asks for changes (a set holding only a copy of it), to be put back
 * when it fails after some (its changes are dropped, as its default
 * action says) or dropped once they are written. save: NULL when out
 * of memory; restore: -1 when out of memory (no envelope then). */
struct milters *mf_env_save(struct milters *);
int	mf_env_restore(struct milters *, struct milters *saved);
void	mf_env_drop(struct milters *saved);

#endif
