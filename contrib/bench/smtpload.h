/*
 * smtpload.h - what the parts of the benchmark load client share: the
 * options, the fixed commands, the blocking connection (smtpload_conn.c)
 * and the three modes, send (smtpload_send.c), idle (smtpload_idle.c)
 * and probe (smtpload_probe.c); main and the common helpers are in
 * smtpload.c.
 */
#ifndef SMTPLOAD_H
#define SMTPLOAD_H

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <stddef.h>

#include <openssl/ssl.h>

#define NAME_MAX_LEN	255	/* longest -f, -t or -H */
#define CMD_MAX		(NAME_MAX_LEN + 32)
#define REPLY_MAX	512	/* reply text kept for error messages */
#define RBUF_SIZE	4096
#define STACK_SIZE	(256 * 1024)

struct opts {
	unsigned long	 sessions;	/* -s */
	unsigned long	 msgs;		/* -m */
	unsigned long	 per_conn;	/* -n, 0 for no limit */
	unsigned long	 size;		/* -l */
	const char	*from;		/* -f */
	const char	*to;		/* -t */
	const char	*helo;		/* -H */
	int		 tls;		/* -T */
	const char	*auth;		/* -A USER:PASS, AUTH PLAIN after TLS */
	unsigned long	 idle;		/* -I, 0 when not idle mode */
	unsigned long	 probe_rate;	/* -P, 0 when not probe mode */
	unsigned long	 duration;	/* -d */
	int		 quiet;		/* -q */
	const char	*target;	/* HOST:PORT as given */
	struct sockaddr_storage addr;
	socklen_t	 addrlen;
};

/* Commands that never change, formatted once. */
struct cmds {
	char	 ehlo[CMD_MAX];
	char	 mail[CMD_MAX];
	char	 rcpt[CMD_MAX];
	char	 auth[2 * CMD_MAX];	/* "AUTH PLAIN ...", "" without -A */
};

struct conn {
	int	 fd;
	SSL	*ssl;
	int	 broken;		/* I/O failed: no QUIT, just close */
	size_t	 rpos, rlen;		/* unread input in rbuf */
	char	 rbuf[RBUF_SIZE];
	char	 err[REPLY_MAX + 64];	/* why the last call failed */
};

struct reply {
	int	 code;
	char	 text[REPLY_MAX];	/* first line, without CRLF */
};

/* smtpload.c: the options and what main sets up from them */
extern struct opts opt;
extern struct cmds cmd;
extern SSL_CTX *tls_ctx;

double	now(void);
rlim_t	raise_nofile(void);
void	report(const char *, unsigned long, const char *);

/* smtpload_conn.c: one blocking connection */
void	conn_fail(struct conn *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	conn_close(struct conn *);
int	conn_write(struct conn *, const char *, size_t);
int	conn_reply(struct conn *, struct reply *);
int	reply_code(const char *, size_t);
int	step(struct conn *, const char *, const char *, size_t, int);
int	session_open(struct conn *);
void	session_quit(struct conn *);

/* the modes: each returns the exit status */
int	run_send(void);
int	run_idle(void);
int	run_probe(void);

#endif
