/*
 * milter - the Sendmail/Postfix milter protocol, version 6, without I/O.
 *
 * Packets are a 4-octet length in network order, one command octet and
 * its data. milter_put_* append one whole command packet to a buffer
 * for the host to write; milter_dec takes the milter's bytes as they
 * arrive and hands out its replies one by one, bounded (a milter is a
 * peer like any other: a hostile or broken one gets a protocol error,
 * never unbounded memory). milter_msg cuts a spooled message into what
 * the protocol sends (header fields, end of header, body chunks);
 * milter_edits keeps what milters asked to change and applies the
 * header changes to a message as it is copied (the daemon does the
 * copying and the recipients, daemon/milter*.c).
 */
#ifndef SALLYPORT_MILTER_H
#define SALLYPORT_MILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/buf.h"

#define MILTER_VERSION		6
#define MILTER_CHUNK_MAX	65535	/* body octets per SMFIC_BODY */
/* The largest packet taken from a milter (a body chunk, a header
 * change, a reply text); past it the milter is broken. */
#define MILTER_PACKET_MAX	(1024 * 1024)

/* Commands (SMFIC_*): the MTA's side. */
#define MILTER_C_ABORT		'A'
#define MILTER_C_BODY		'B'
#define MILTER_C_CONNECT	'C'
#define MILTER_C_MACRO		'D'
#define MILTER_C_EOM		'E'
#define MILTER_C_HELO		'H'
#define MILTER_C_QUIT_NC	'K'
#define MILTER_C_HEADER		'L'
#define MILTER_C_MAIL		'M'
#define MILTER_C_EOH		'N'
#define MILTER_C_OPTNEG		'O'
#define MILTER_C_QUIT		'Q'
#define MILTER_C_RCPT		'R'
#define MILTER_C_DATA		'T'
#define MILTER_C_UNKNOWN	'U'

/* Replies and actions (SMFIR_*): the milter's side. */
#define MILTER_R_ADDRCPT	'+'
#define MILTER_R_DELRCPT	'-'
#define MILTER_R_ADDRCPT_PAR	'2'
#define MILTER_R_SHUTDOWN	'4'
#define MILTER_R_ACCEPT		'a'
#define MILTER_R_REPLBODY	'b'
#define MILTER_R_CONTINUE	'c'
#define MILTER_R_DISCARD	'd'
#define MILTER_R_CHGFROM	'e'
#define MILTER_R_CONN_FAIL	'f'
#define MILTER_R_ADDHEADER	'h'
#define MILTER_R_INSHEADER	'i'
#define MILTER_R_SETSYMLIST	'l'
#define MILTER_R_CHGHEADER	'm'
#define MILTER_R_PROGRESS	'p'
#define MILTER_R_QUARANTINE	'q'
#define MILTER_R_REJECT		'r'
#define MILTER_R_SKIP		's'
#define MILTER_R_TEMPFAIL	't'
#define MILTER_R_REPLYCODE	'y'
#define MILTER_R_OPTNEG		'O'

/* Actions a milter may take (SMFIF_*), offered in OPTNEG. */
#define MILTER_F_ADDHDRS	0x001
#define MILTER_F_CHGBODY	0x002
#define MILTER_F_ADDRCPT	0x004
#define MILTER_F_DELRCPT	0x008
#define MILTER_F_CHGHDRS	0x010
#define MILTER_F_QUARANTINE	0x020
#define MILTER_F_CHGFROM	0x040
#define MILTER_F_ADDRCPT_PAR	0x080
#define MILTER_F_SETSYMLIST	0x100
#define MILTER_F_ALL		0x1ff

/* Protocol steps (SMFIP_*): what the milter does not want, or does not
 * answer, and what the MTA can do. */
#define MILTER_P_NOCONNECT	0x000001
#define MILTER_P_NOHELO		0x000002
#define MILTER_P_NOMAIL		0x000004
#define MILTER_P_NORCPT		0x000008
#define MILTER_P_NOBODY		0x000010
#define MILTER_P_NOHDRS		0x000020
#define MILTER_P_NOEOH		0x000040
#define MILTER_P_NR_HDR		0x000080
#define MILTER_P_NOUNKNOWN	0x000100
#define MILTER_P_NODATA		0x000200
#define MILTER_P_SKIP		0x000400
#define MILTER_P_RCPT_REJ	0x000800
#define MILTER_P_NR_CONN	0x001000
#define MILTER_P_NR_HELO	0x002000
#define MILTER_P_NR_MAIL	0x004000
#define MILTER_P_NR_RCPT	0x008000
#define MILTER_P_NR_DATA	0x010000
#define MILTER_P_NR_UNKN	0x020000
#define MILTER_P_NR_EOH		0x040000
#define MILTER_P_NR_BODY	0x080000
#define MILTER_P_HDR_LEADSPC	0x100000
/* The steps sallyport can leave out or not wait for (all of the above
 * but RCPT_REJ: rejected recipients are never shown to milters). */
#define MILTER_P_MTA		0x1ff7ff

/* Macro stages (SMFIM_*), for the macro lists a milter asks for. */
enum milter_stage {
	MILTER_M_CONNECT,
	MILTER_M_HELO,
	MILTER_M_MAIL,
	MILTER_M_RCPT,
	MILTER_M_DATA,
	MILTER_M_EOM,
	MILTER_M_EOH,
	MILTER_M_COUNT
};

/* --- Commands, appended to `out` as whole packets; 0, or -1 (out of
 * room: buf's max, or memory). Strings are sent as NUL-terminated. */
int	milter_put_optneg(struct buf *out, uint32_t actions, uint32_t protocol);
/* SMFIC_MACRO for the command `cmd` that follows: n name/value pairs,
 * names[i] as given ("j", "{client_addr}"); a NULL value is left out. */
int	milter_put_macros(struct buf *out, char cmd, const char *const *names,
	    const char *const *values, size_t n);
/* SMFIC_CONNECT: the client's name ("[192.0.2.1]" when it has none),
 * address and port; families other than IPv4 and IPv6 are sent as
 * unknown ('U'). */
int	milter_put_connect(struct buf *out, const char *hostname,
	    const struct sockaddr *);
int	milter_put_helo(struct buf *out, const char *helo);
/* SMFIC_MAIL and SMFIC_RCPT: the address in angle brackets (addr as
 * the envelope has it, "" for the null sender; one already in brackets
 * is sent as it is), then each ESMTP parameter of `params` (space
 * separated, as the client sent them; NULL: none) as its own string. */
int	milter_put_mail(struct buf *out, const char *addr, const char *params);
int	milter_put_rcpt(struct buf *out, const char *addr, const char *params);
int	milter_put_header(struct buf *out, const char *name, const char *value);
int	milter_put_body(struct buf *out, const char *, size_t);	/* <= CHUNK_MAX */
/* A command without data: DATA, EOH, EOM, ABORT, QUIT. */
int	milter_put_cmd(struct buf *out, char cmd);

/* --- Replies. Strings point into the decoder, valid until the next
 * milter_dec_feed; all NUL-terminated and checked to be so. */
struct milter_reply {
	char		 cmd;		/* MILTER_R_* */
	/* OPTNEG */
	uint32_t	 version, actions, protocol;
	/* the macro names asked for per stage (OPTNEG's optional lists, or
	 * SETSYMLIST's one): space-separated, NULL when not given */
	const char	*symlist[MILTER_M_COUNT];
	/* REPLYCODE: "550 5.7.1 text" (may be several lines, CRLF
	 * between), checked: 4xx or 5xx, printable */
	const char	*text;
	/* ADDHEADER, INSHEADER, CHGHEADER: the name and value (CHGHEADER
	 * with an empty value deletes); index for INSHEADER (position
	 * among the fields, 0 the first) and CHGHEADER (the index-th field
	 * of that name, 1 the first) */
	uint32_t	 index;
	const char	*name;
	const char	*value;
	/* ADDRCPT, DELRCPT, ADDRCPT_PAR, CHGFROM: the address (angle
	 * brackets as the milter sent them) and, for the _PAR forms and
	 * CHGFROM, the ESMTP parameters (NULL: none) */
	const char	*addr;
	const char	*args;
	/* REPLBODY: a chunk of the new body */
	const char	*data;
	size_t		 len;
	/* QUARANTINE: the reason */
	const char	*reason;
};

struct milter_dec {
	struct buf	 in;		/* bytes not yet handed out */
	size_t		 done;		/* the packet handed out last */
	char		 err[160];	/* the last protocol error */
};

void	milter_dec_init(struct milter_dec *);
void	milter_dec_free(struct milter_dec *);
/* Take up to len octets from the milter; *used says how many were
 * taken. 1: a reply is in *r (call again with the rest); 0: all taken,
 * no whole reply yet; -1: a protocol error (a packet too long or too
 * short, an unknown reply, a malformed field), *err says which (and
 * r->cmd is the reply's command octet, or 0 when none was read); the
 * decoder is then of no further use but to be freed. */
int	milter_dec_feed(struct milter_dec *, const char *in, size_t len,
	    size_t *used, struct milter_reply *r, const char **err);

/* --- A message cut into what the protocol sends: header fields as name
 * and value (the value's folding kept, its lines joined by a bare LF as
 * Sendmail and Postfix send them; the one space after the colon dropped
 * unless the milter asked HDR_LEADSPC), the end
 * of the header, body chunks of at most MILTER_CHUNK_MAX. Fed with the
 * message in pieces of any size; a field longer than MILTER_FIELD_MAX
 * is cut there (as Postfix's header_size_limit does), a bound that keeps
 * its SMFIC_HEADER within the 65535 octets libmilter takes in a command
 * (past them libmilter drops the connection). Pull: after each
 * feed, call milter_msg_next until it says MILTER_EV_NEED.
 * Where the header ends, as Postfix has it: at the first blank line
 * (CRLF or a bare LF); at the end of the message (no blank line: all
 * header, then EOH and no body); or at the first line that is no field
 * (no colon, a blank, control or 8-bit octet in the name, a name past
 * MILTER_FIELD_MAX, a continuation line with no field before it), which
 * is then the first line of the body (no blank line is made up). A
 * message that starts with a blank line has no field: EOH comes first.
 * Blanks between a name and its colon are allowed (obsolete syntax). */
#define MILTER_FIELD_MAX	65533	/* name, value, 2 NULs, command: 65535 */

enum milter_ev {
	MILTER_EV_NEED,		/* feed more (or end) */
	MILTER_EV_HEADER,	/* name, value */
	MILTER_EV_EOH,
	MILTER_EV_BODY,		/* data, len */
	MILTER_EV_END,		/* the whole message was handed out */
};

struct milter_event {
	enum milter_ev	 ev;
	const char	*name;
	const char	*value;
	const char	*data;
	size_t		 len;
};

struct milter_msg;

struct milter_msg *milter_msg_new(bool leadspc);
void	milter_msg_free(struct milter_msg *);
/* 0, or -1 when out of memory. The octets are copied as needed. */
int	milter_msg_feed(struct milter_msg *, const char *, size_t);
void	milter_msg_eof(struct milter_msg *);	/* no more octets */
/* The next event; its strings are valid until the next call. */
void	milter_msg_next(struct milter_msg *, struct milter_event *);

/* --- What milters asked to change in one message, in the order asked.
 * Bounded: more than MILTER_EDITS_MAX edits, or more than
 * MILTER_EDITS_BYTES octets of names and values, and milter_edits_add
 * fails (the message then gets the milter's default action). */
#define MILTER_EDITS_MAX	1024
#define MILTER_EDITS_BYTES	(1024 * 1024)

struct milter_edits;

/* leadspc: the milter asked HDR_LEADSPC, so its values carry their own
 * leading space ("Name:" value); otherwise one is put ("Name: " value),
 * as Sendmail and Postfix do. */
struct milter_edits *milter_edits_new(bool leadspc);
void	milter_edits_free(struct milter_edits *);
/* Keep a header change (ADDHEADER, INSHEADER, CHGHEADER); other
 * replies are the caller's. 0, or -1 with *err. */
int	milter_edits_add(struct milter_edits *, const struct milter_reply *,
	    const char **err);
bool	milter_edits_any(const struct milter_edits *);

/* Copy a message's header through the edits: milter_hedit_feed takes
 * the message (header and body) in pieces, and `out` gets the header
 * with the fields changed, deleted, inserted and added, then the body
 * unchanged; milter_hedit_end after the last octet. Indices count as
 * the milter saw the header (milter_msg's fields, in order): CHGHEADER
 * changes the index-th field of that name (names without case; an
 * empty value deletes it; past the last of that name the field is
 * added at the end, as Sendmail does; several changes of one field:
 * the last asked wins); INSHEADER puts the field before the one at that
 * position (several at one position: the last asked on top, as Sendmail
 * and Postfix leave them; at or past the end: appended); ADDHEADER
 * appends; appended fields come in the order asked. Values are written
 * as valid folded fields (any CR, LF or CRLF a line break, CRLF in the
 * output, continuation lines starting with a blank, empty lines left
 * out). Fields are copied as they come: only a line's start is held
 * until its colon (at most MILTER_FIELD_MAX). feed and end return 0. */
typedef void milter_out(void *arg, const char *, size_t);

struct milter_hedit;

struct milter_hedit *milter_hedit_new(const struct milter_edits *,
	    milter_out *out, void *arg);
void	milter_hedit_free(struct milter_hedit *);
int	milter_hedit_feed(struct milter_hedit *, const char *, size_t);
int	milter_hedit_end(struct milter_hedit *);
/* Stop after the header (the body is being replaced). */
void	milter_hedit_header_only(struct milter_hedit *);

#endif
