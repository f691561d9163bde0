/*
 * smtp_params - MAIL/RCPT argument prefixes and ESMTP parameters.
 */
#ifndef SALLYPORT_SMTP_PARAMS_H
#define SALLYPORT_SMTP_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/queue.h"

struct esmtp_mail_params {
	uint64_t	size;		/* SIZE=, 0 when absent */
	enum mail_body	body;		/* BODY=, MAIL_BODY_NONE when absent */
	bool		smtputf8;	/* SMTPUTF8 */
	bool		requiretls;	/* REQUIRETLS (RFC 8689) */
};

/* Match `prefix` ("FROM:", "TO:") case-insensitively and skip the
 * blanks after it; advances *arg and *len. */
bool		 esmtp_skip_prefix(const char **arg, size_t *len,
		    const char *prefix);

/* Check the parameters after the path of MAIL (SIZE, BODY, SMTPUTF8, AUTH,
 * REQUIRETLS; none at all after HELO). `tls`: the session is inside TLS.
 * Returns NULL, or the reply for the first problem: unknown or repeated
 * parameter 555, bad value 501, SIZE over max_size 552, REQUIRETLS
 * outside TLS 530 5.7.10. */
const char	*esmtp_mail_params(const char *, size_t, bool esmtp, bool tls,
		    uint64_t max_size, struct esmtp_mail_params *);
/* Same for RCPT, which takes no parameter yet. */
const char	*esmtp_rcpt_params(const char *, size_t, bool esmtp);

#endif
