/*
 * conn_proxy - the PROXY header on a `proxy` listener, read off the
 * socket before anything else.
 *
 * What has arrived is peeked at (MSG_PEEK) and given to proxy_parse
 * with what earlier reads took; nothing past the header may be read,
 * for the client's first bytes (a ClientHello on an implicit-TLS
 * listener) may follow in the same segment. While the parser wants
 * more, every octet that has arrived is the header's, so it is read,
 * not left to make the socket readable again at once; once the header
 * is whole, exactly its remaining octets are.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/conn_proxy.h"

/* One header is looked at at a time in a process: peeked at here. */
static unsigned char proxy_peek[PROXY_V2_MAX];

/* proxy_take - read n octets that a peek saw, to `keep` or nowhere */
static int
proxy_take(int fd, size_t n, struct buf *keep, char *why, size_t whylen)
{
	unsigned char	 sink[512];
	ssize_t		 got;

	while (n > 0) {
		got = read(fd, sink, n < sizeof(sink) ? n : sizeof(sink));
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0) {
			snprintf(why, whylen, "PROXY header: %s", got == 0 ?
			    "connection closed" : strerror(errno));
			return -1;
		}
		if (keep != NULL && buf_append(keep, sink, (size_t)got) == -1) {
			snprintf(why, whylen, "PROXY header: out of memory");
			return -1;
		}
		n -= (size_t)got;
	}
	return 0;
}

enum conn_proxy_step
conn_proxy_read(int fd, struct buf *in, struct proxy_hdr *hdr, char *why,
    size_t whylen)
{
	size_t	 have = in->len, need, known = 0;
	ssize_t	 n;
	char	 err[128];

	/* Past a v2 preamble the parser knows the whole length: until
	 * that much is here it has nothing new to say, so what arrives is
	 * only kept, not copied and parsed again (once per read, a header
	 * sent an octet at a time would cost its length squared). */
	if (have >= PROXY_V2_MIN && proxy_parse(in->data, have, hdr, &known,
	    err, sizeof(err)) != PROXY_MORE)
		known = 0;
	do
		n = recv(fd, proxy_peek + have, sizeof(proxy_peek) - have,
		    MSG_PEEK);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return CONN_PROXY_WAIT;
	if (n <= 0) {
		if (n == -1)
			snprintf(why, whylen, "before the PROXY header: %s",
			    strerror(errno));
		else if (have == 0)
			snprintf(why, whylen, "connection closed before the "
			    "PROXY header");
		else
			snprintf(why, whylen, "truncated PROXY header: "
			    "connection closed after %zu octets", have);
		return CONN_PROXY_FAIL;
	}
	if (have + (size_t)n < known)
		return proxy_take(fd, (size_t)n, in, why, whylen) == -1 ?
		    CONN_PROXY_FAIL : CONN_PROXY_WAIT;
	if (have > 0)
		memcpy(proxy_peek, in->data, have);
	switch (proxy_parse(proxy_peek, have + (size_t)n, hdr, &need, err,
	    sizeof(err))) {
	case PROXY_BAD:
		snprintf(why, whylen, "bad header: %s", err);
		return CONN_PROXY_FAIL;
	case PROXY_MORE:
		if (have + (size_t)n >= sizeof(proxy_peek)) {
			snprintf(why, whylen, "bad header: PROXY header too "
			    "long");
			return CONN_PROXY_FAIL;
		}
		return proxy_take(fd, (size_t)n, in, why, whylen) == -1 ?
		    CONN_PROXY_FAIL : CONN_PROXY_WAIT;
	case PROXY_DONE:
		break;
	}
	if (hdr->len < have || hdr->len > have + (size_t)n) {
		snprintf(why, whylen, "bad header: PROXY header of %zu octets",
		    hdr->len);
		return CONN_PROXY_FAIL;
	}
	if (proxy_take(fd, hdr->len - have, NULL, why, whylen) == -1)
		return CONN_PROXY_FAIL;
	buf_free(in);
	return CONN_PROXY_DONE;
}
