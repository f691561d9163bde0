/*
 * dovecot_proto - the client side of Dovecot's authentication protocol
 * (the auth-client socket, protocol 1.x), without I/O.
 *
 * Lines are TAB separated fields ending in LF; values use Dovecot's
 * tab-escaping (\001 then 0, 1, t, r, n or l). The reply parser reads
 * one line, LF already cut off, in place; the builders write the lines
 * sallyport sends: the handshake, AUTH, CONT and CANCEL.
 */
#ifndef SALLYPORT_DOVECOT_PROTO_H
#define SALLYPORT_DOVECOT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/buf.h"

/* Dovecot's own bound on a line (AUTH_CLIENT_MAX_LINE_LENGTH). */
#define DOVECOT_LINE_MAX	16384
#define DOVECOT_MAJOR		1	/* the protocol version we speak */
#define DOVECOT_MINOR		2
#define DOVECOT_MECH_MAX	32	/* longest mechanism name kept */
#define DOVECOT_USER_MAX	255	/* longest user name accepted */

enum dovecot_kind {
	DOVECOT_VERSION,	/* major, minor */
	DOVECOT_MECH,		/* mech, plaintext */
	DOVECOT_DONE,		/* end of the server's handshake */
	DOVECOT_CONT,		/* id, data: the challenge, decoded */
	DOVECOT_OK,		/* id, user (NULL: none, or not usable) */
	DOVECOT_FAIL,		/* id, temp */
	DOVECOT_OTHER,		/* SPID, CUID, COOKIE, anything newer */
};

struct dovecot_reply {
	enum dovecot_kind kind;
	unsigned	 major, minor;
	char		 mech[DOVECOT_MECH_MAX + 1];
	bool		 plaintext;	/* MECH's "plaintext" flag */
	unsigned	 id;
	const char	*data;		/* CONT: into the line */
	size_t		 datalen;
	const char	*user;		/* OK, FAIL: into the line, NUL ended */
	bool		 temp;		/* FAIL: "temp" or code=temp_fail */
};

/* Parse one reply line of len bytes (no LF; it may hold NULs), which
 * is rewritten in place, line[len] too (where the LF was). 0, or -1 for a line that breaks the protocol
 * (a bad id, bad base64 in CONT, a VERSION without numbers, an empty
 * command, ...), with a message in err. */
int	dovecot_reply_parse(char *line, size_t len, struct dovecot_reply *,
	    char *err, size_t errlen);

/* What sallyport sends about the client with every AUTH. */
struct dovecot_client {
	const char	*lip, *rip;	/* local and remote IP; NULL: unknown */
	unsigned	 lport, rport;	/* 0: unknown */
	bool		 secured;	/* inside TLS */
};

/* The client's handshake: VERSION and CPID. */
int	dovecot_handshake(struct buf *, pid_t pid);
/* AUTH for mechanism mech on behalf of the client, with the client's
 * initial response (raw, encoded here) when has_initial. */
int	dovecot_auth(struct buf *, unsigned id, const char *mech,
	    const struct dovecot_client *, const void *initial, size_t len,
	    bool has_initial);
/* CONT with the client's raw response. */
int	dovecot_cont(struct buf *, unsigned id, const void *resp, size_t len);
/* CANCEL: the exchange is abandoned. */
int	dovecot_cancel(struct buf *, unsigned id);

#endif
