/*
 * httpresp - an HTTP/1.1 response (RFC 9112) read without I/O, for the
 * MTA-STS policy fetch: the status, Content-Type, and a body delimited
 * by Content-Length, chunked transfer coding or the end of the
 * connection, into the caller's buffer of a fixed size. Bytes come in
 * pieces of any size, as a socket gives them; every line and the body
 * are bounded, so a hostile server costs no more than the buffer.
 */
#ifndef SALLYPORT_HTTPRESP_H
#define SALLYPORT_HTTPRESP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTPRESP_LINE_MAX	2048	/* a status, header or chunk-size line */
#define HTTPRESP_FIELDS_MAX	100	/* header (and trailer) fields */

enum httpresp_status {
	HTTPRESP_MORE,		/* give more bytes (or the end: httpresp_eof) */
	HTTPRESP_DONE,		/* the response is complete */
	HTTPRESP_ERROR,		/* malformed, or past a limit: why */
};

struct httpresp {
	int		 state;		/* where the parser is */
	int		 status;	/* 200; 0 until the status line */
	bool		 headers_done;	/* status and fields read */
	bool		 too_large;	/* the body passed body_max */
	bool		 chunked;
	bool		 has_length;
	unsigned long long length;	/* Content-Length */
	unsigned long long left;	/* of the body or the chunk */
	char		 content_type[64]; /* media type, lower case, no
					 * parameters: "text/plain" */
	char		*body;		/* the caller's buffer */
	size_t		 body_len, body_max;
	char		 line[HTTPRESP_LINE_MAX];
	size_t		 line_len;
	unsigned	 fields;
	char		 why[96];	/* the error, for a log line */
};

/* Start reading a response; the body goes to body[0..body_max). */
void			 httpresp_init(struct httpresp *, char *body,
			    size_t body_max);
/* The next bytes of the response; *used says how many were taken (all
 * of them unless DONE or ERROR). */
enum httpresp_status	 httpresp_feed(struct httpresp *, const char *data,
			    size_t len, size_t *used);
/* The connection ended: DONE for a body delimited by the close, ERROR
 * for a response cut short. */
enum httpresp_status	 httpresp_eof(struct httpresp *);

#endif
