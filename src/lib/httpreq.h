/*
 * httpreq - an HTTP/1.x request head (RFC 9112) read in pieces, without
 * I/O: the request line and the header fields, up to the empty line.
 *
 * For the small HTTP servers of the daemon (the metrics listener): GET
 * and HEAD, HTTP/1.0 and 1.1, lines ending in CRLF or a bare LF. Fed any
 * split of the bytes, it keeps only what its caller needs (method,
 * target, version, whether OpenMetrics is accepted) in fixed space, and
 * refuses a head past HTTPREQ_HEAD_MAX bytes. A request with a body
 * (Content-Length other than 0, or Transfer-Encoding) is refused too:
 * the servers never read one.
 */
#ifndef SALLYPORT_HTTPREQ_H
#define SALLYPORT_HTTPREQ_H

#include <stdbool.h>
#include <stddef.h>

#define HTTPREQ_HEAD_MAX	8192	/* request line and fields, bytes */
#define HTTPREQ_TARGET_MAX	1024	/* the request target */
#define HTTPREQ_FIELDS_MAX	64	/* header fields */
#define HTTPREQ_VALUE_MAX	1024	/* of a field we read (Accept): the
					 * rest of a longer one is skipped */

enum httpreq_method {
	HTTPREQ_GET,
	HTTPREQ_HEAD,
	HTTPREQ_OTHER,		/* a valid method we do not serve: 405 */
};

enum httpreq_status {
	HTTPREQ_MORE,		/* the head goes on: feed more */
	HTTPREQ_DONE,		/* the head is whole: the fields below */
	HTTPREQ_BAD,		/* malformed or too large: 400, `error` */
};

struct httpreq {
	/* The result, once HTTPREQ_DONE. */
	enum httpreq_method method;
	char		 target[HTTPREQ_TARGET_MAX + 1];
	unsigned	 minor;		/* HTTP/1.minor */
	bool		 openmetrics;	/* Accept: application/openmetrics-text */
	const char	*error;		/* HTTPREQ_BAD: why, for the log */

	/* The parser's own. */
	int		 state;
	size_t		 total;		/* bytes of the head so far */
	size_t		 len;		/* of tok */
	char		 tok[HTTPREQ_VALUE_MAX + 1];	/* the method, a
					 * field name, a value we keep */
	int		 field;		/* which field's value is read */
	unsigned	 nfields;
	unsigned	 hosts;		/* Host fields seen */
};

void	httpreq_init(struct httpreq *);
/* httpreq_feed - len more bytes of the head; *used says how many were
 * taken (all of them unless the head ends among them: the rest is not
 * the head's). Once DONE or BAD, it stays so. */
enum httpreq_status httpreq_feed(struct httpreq *, const char *, size_t len,
	    size_t *used);
/* httpreq_path_is - is the target's path `path` (a query is ignored; an
 * absolute-form "http://host/path" counts by its path)? */
bool	httpreq_path_is(const struct httpreq *, const char *path);

#endif
