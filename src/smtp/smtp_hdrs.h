/*
 * smtp_hdrs - the header of a message on its way to the spool, for the
 * checks of mail from others (SPF, DKIM, DMARC): an
 * Authentication-Results field that claims our authserv-id is dropped
 * (a forger's, RFC 8601 5: only we may say what we checked), and one
 * without a readable authserv-id (which readers must ignore), every
 * other field passes unchanged, each From: field is handed to the
 * DMARC author-domain reader, and a "TLS-Required: No" field (RFC 8689
 * 5) is noted. The body passes untouched. Without an authserv-id
 * (ours NULL: a trusted client's mail) nothing is dropped.
 *
 * The message comes in as smtp_data writes it (dot-unstuffed, CRLF line
 * ends), in chunks of any size; what is to be spooled comes out through
 * `out`, in order. A field is held until its end is known (the next line
 * does not begin with a blank), up to SMTP_HDRS_FIELD_MAX octets; a
 * longer field is judged on what was held: an Authentication-Results
 * field is dropped whole (what it claims may come after what was
 * held), anything else goes out as it is.
 */
#ifndef SALLYPORT_SMTP_HDRS_H
#define SALLYPORT_SMTP_HDRS_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/dmarc_from.h"
#include "lib/buf.h"

#define SMTP_HDRS_FIELD_MAX	65536	/* octets of one field held */

typedef void smtp_hdrs_out(void *arg, const char *data, size_t len);

struct smtp_hdrs {
	const char	*ours;		/* our authserv-id (the host name) */
	smtp_hdrs_out	*out;
	void		*arg;
	struct buf	 field;		/* the field being held */
	int		 mode;		/* what happens to the current field */
	bool		 bol;		/* at the beginning of a line */
	bool		 in_body;
	unsigned	 dropped;	/* Authentication-Results fields */
	bool		 tls_required_no; /* a "TLS-Required: No" field */
	struct dmarc_from from;		/* every From: field read */
};

void	smtp_hdrs_init(struct smtp_hdrs *, const char *ours,
	    smtp_hdrs_out *out, void *arg);
/* The next octets of the message. */
void	smtp_hdrs_feed(struct smtp_hdrs *, const char *data, size_t len);
/* End of the message (a message without a body ends in its header). */
void	smtp_hdrs_end(struct smtp_hdrs *);
void	smtp_hdrs_free(struct smtp_hdrs *);

#endif
