/*
 * tlsrpt_msg - the report message (RFC 8460 5.3):
 *
 *	From, To, Subject: Report Domain: D Submitter: S Report-ID: <R>,
 *	TLS-Report-Domain, TLS-Report-Submitter, multipart/report;
 *	report-type="tlsrpt": a text/plain part, then the report as
 *	application/tlsrpt+gzip in base64, named as 5.3 says:
 *	SUBMITTER!DOMAIN!BEGIN!END!UNIQUE.json.gz (times in epoch seconds)
 *
 * Every value in it is ours or checked before (host names, addresses
 * from tlsrpt_mailto, the A-label policy domain), so every line is
 * short; the JSON travels gzip'd and base64-encoded.
 *
 * Signed (RFC 8460 3) as mail from our users is at reception: each
 * line goes to the spool and to smtp_sign alike, and the DKIM-Signature
 * fields go on top (spool_prepend) in room reserved when the entry was
 * created.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "deliver/tlsrpt_msg.h"
#include "lib/base64.h"
#include "smtp/smtp_sign.h"

#define B64_LINE	76		/* RFC 2045 6.8 */

int
tlsrpt_gzip(const void *in, size_t len, unsigned char **out, size_t *outlen)
{
	z_stream zs;
	uLong bound;
	int rc;

	memset(&zs, 0, sizeof(zs));
	/* 15 + 16: a gzip wrapper, not zlib's */
	if (len > UINT32_MAX || deflateInit2(&zs, Z_BEST_COMPRESSION,
	    Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	bound = deflateBound(&zs, (uLong)len) + 32;
	if ((*out = malloc(bound)) == NULL) {
		deflateEnd(&zs);
		return -1;
	}
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = *out;
	zs.avail_out = (uInt)bound;
	rc = deflate(&zs, Z_FINISH);
	*outlen = zs.total_out;
	deflateEnd(&zs);
	if (rc != Z_STREAM_END) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* Where the message goes; the first write error sticks. */
struct out {
	struct spool	*sp;
	struct smtp_sign *sg;		/* NULL: unsigned */
	int		 rc;
};

static void
put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* put - one line of ours (short: see above), CRLF added */
static void
put(struct out *o, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf) - 2) {
		o->rc = -1;
		errno = EMSGSIZE;
		return;
	}
	memcpy(buf + n, "\r\n", 2);
	if (o->rc != 0)
		return;
	o->rc = spool_write(o->sp, buf, (size_t)n + 2);
	/* the signer sees exactly what the spool got */
	if (o->sg != NULL)
		smtp_sign_feed(o->sg, buf, (size_t)n + 2);
}

/* sign - the DKIM-Signature fields on top of the spooled message;
 * out->signatures and out->dkim say how it went. -1 only when the
 * spool failed (a message that cannot be signed goes unsigned). */
static int
sign(struct out *o, const struct tlsrpt_msg *m, struct tlsrpt_queued *out)
{
	struct buf fields;
	int n;

	buf_init(&fields, QUEUE_PREPEND_MAX);
	n = smtp_sign_finish(o->sg, m->sign, (uint64_t)time(NULL), &fields,
	    out->dkim, sizeof(out->dkim));
	if (n > 0 && spool_prepend(o->sp, fields.data, fields.len) == -1) {
		buf_free(&fields);
		return -1;
	}
	buf_free(&fields);
	out->signatures = n;
	return 0;
}

static void
rfc5322_now(char *out, size_t outlen)
{
	time_t t = time(NULL);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outlen, "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
		snprintf(out, outlen, "Thu, 01 Jan 1970 00:00:00 +0000");
}

static void
compose(struct out *o, const struct tlsrpt_msg *m, const char *id,
    const unsigned char *gz, size_t gzlen)
{
	char date[64], boundary[QUEUE_ID_LEN + 32];
	char b64[B64_LINE + 1];
	size_t i;

	rfc5322_now(date, sizeof(date));
	snprintf(boundary, sizeof(boundary), "=_%s.tlsrpt/sallyport", id);
	put(o, "Received: by %s (sallyport) with LOCAL id %s;", m->hostname,
	    id);
	put(o, "\t%s", date);
	put(o, "From: <%s>", m->from);
	for (i = 0; i < m->nrcpts; i++)
		put(o, "%s<%s>%s", i == 0 ? "To: " : "\t", m->rcpts[i],
		    i + 1 < m->nrcpts ? "," : "");
	put(o, "Subject: Report Domain: %s", m->domain);
	put(o, "\tSubmitter: %s", m->hostname);
	put(o, "\tReport-ID: <%s>", m->report_id);
	put(o, "Date: %s", date);
	put(o, "Message-ID: <%s.tlsrpt@%s>", id, m->hostname);
	put(o, "TLS-Report-Domain: %s", m->domain);
	put(o, "TLS-Report-Submitter: %s", m->hostname);
	put(o, "Auto-Submitted: auto-generated");
	/* RFC 8460 5.3: reports are delivered despite any TLS failure
	 * (they may be what tells the domain its TLS is broken): DANE and
	 * MTA-STS failures do not hold this one back, here or at the next
	 * hops (RFC 8689 5) */
	put(o, "TLS-Required: No");
	put(o, "MIME-Version: 1.0");
	put(o, "Content-Type: multipart/report; report-type=\"tlsrpt\";");
	put(o, "\tboundary=\"%s\"", boundary);
	put(o, "%s", "");
	put(o, "This is a MIME-encapsulated message.");
	put(o, "%s", "");
	put(o, "--%s", boundary);
	put(o, "Content-Type: text/plain; charset=us-ascii");
	put(o, "%s", "");
	put(o, "This is an aggregate TLS report (RFC 8460) from %s", m->hostname);
	put(o, "for %s.", m->domain);
	put(o, "%s", "");
	put(o, "--%s", boundary);
	put(o, "Content-Type: application/tlsrpt+gzip");
	put(o, "Content-Transfer-Encoding: base64");
	put(o, "Content-Disposition: attachment;");
	put(o, "\tfilename=\"%s!%s!%lld!%lld!%s.json.gz\"", m->hostname,
	    m->domain, (long long)m->start, (long long)m->end, id);
	put(o, "%s", "");
	for (i = 0; i < gzlen; i += B64_LINE / 4 * 3) {
		size_t n = gzlen - i < B64_LINE / 4 * 3 ? gzlen - i :
		    B64_LINE / 4 * 3;

		base64_encode(gz + i, n, b64);
		put(o, "%s", b64);
	}
	put(o, "%s", "");
	put(o, "--%s--", boundary);
}

int
tlsrpt_msg_queue(struct queue *q, const struct tlsrpt_msg *m,
    struct tlsrpt_queued *out, char *err, size_t errlen)
{
	char what[300];
	struct envelope env;
	unsigned char *gz;
	size_t gzlen, room = 0;
	struct out o;

	memset(out, 0, sizeof(*out));
	if (m->nrcpts == 0) {
		snprintf(err, errlen, "no recipient");
		return -1;
	}
	if (tlsrpt_gzip(m->json, m->json_len, &gz, &gzlen) == -1) {
		snprintf(err, errlen, "gzip failed");
		return -1;
	}
	memset(&env, 0, sizeof(env));
	env.arrival = time(NULL);
	env.client = "127.0.0.1";
	env.helo = m->hostname;
	env.proto = "LOCAL";
	env.sender = m->from;
	env.rcpts = m->rcpts;
	env.nrcpts = m->nrcpts;
	env.body = MAIL_BODY_7BIT;
	env.tls_optional = true;	/* as its TLS-Required: No says */
	/* the report is ours, as an authenticated user's mail is */
	o.sg = m->sign != NULL ? smtp_sign_start(m->sign, true, &room) : NULL;
	if (o.sg == NULL && m->sign != NULL && m->sign->ndkim_sign > 0) {
		out->signatures = -1;
		snprintf(out->dkim, sizeof(out->dkim), "out of memory");
	}
	env.prepend_room = room;
	if ((o.sp = queue_spool_create(q, &env, err, errlen)) == NULL) {
		smtp_sign_free(o.sg);
		free(gz);
		return -1;
	}
	o.rc = 0;
	compose(&o, m, env.id, gz, gzlen);
	free(gz);
	if (o.rc == 0 && o.sg != NULL)
		o.rc = sign(&o, m, out);
	smtp_sign_free(o.sg);
	snprintf(what, sizeof(what), "report for %s", m->domain);
	return queue_commit_own(o.sp, o.rc, what, out->id, err, errlen);
}
