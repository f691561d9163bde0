/*
 * milter_int - inside the milter layer: a message's header cut into
 * fields, shared by milter_msg (what a milter is shown) and milter_hedit
 * (where its header edits land), so that both count the same fields.
 *
 * The cut follows Postfix's (is_header(), mime_state): a field is a
 * name of printable ASCII without ':' (white space may come between it
 * and the colon), then its value, then the lines that start with a
 * space or a tab. The header ends at the first blank line (CRLF or a
 * bare LF), at the end of the message, or at the first line that is
 * not a field (no colon, a space inside the name, a control or 8-bit
 * octet, a name longer than MILTER_FIELD_MAX, a continuation line with
 * no field before it): that line is the first line of the body, as
 * Postfix has it, and no blank line is made up.
 */
#ifndef SALLYPORT_MILTER_INT_H
#define SALLYPORT_MILTER_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

enum cut_kind {
	CUT_NEED,	/* all taken: feed more, or say eof */
	CUT_FIELD,	/* a field starts: data is its name, up to the colon */
	CUT_DATA,	/* octets of the field, its line ends included */
	CUT_FIELD_END,	/* the field is whole */
	CUT_EOH,	/* the header ends: data is the blank line, if any */
	CUT_BODY,	/* body octets */
	CUT_END,	/* the whole message was handed out */
};

struct cut_tok {
	enum cut_kind	 tok;
	const char	*data;
	size_t		 len;
	size_t		 name_len;	/* CUT_FIELD: the name, without blanks */
};

struct milter_cut {
	int		 state;
	bool		 open;		/* a field is open (its lines go on) */
	struct buf	 hold;		/* a line's start, until it is a field */
	size_t		 hold_off;	/* of hold, handed out as body */
	size_t		 name_len;	/* in hold: the name, once known */
};

void	milter_cut_init(struct milter_cut *);
void	milter_cut_free(struct milter_cut *);
/* Cut from the n octets at p (eof: no more will come); one token in *t,
 * the octets taken returned. CUT_BODY tokens are at most body_room
 * octets long (at least 1). */
size_t	milter_cut_step(struct milter_cut *, const char *p, size_t n,
	    bool eof, size_t body_room, struct cut_tok *t);

/* After CUT_EOH, the body's first octet (p and n as the next step would
 * take them), or -1 when none is known yet. */
int	milter_cut_peek(const struct milter_cut *, const char *p, size_t n);

#endif
