/*
 * milter_put - the MTA's commands as whole packets: a 4-octet length in
 * network order (the command octet and its data), the command, the
 * data. A packet is written whole or not at all: on failure the buffer
 * is as it was, so the host never sends half a command.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "milter/milter.h"

struct pkt {
	struct buf	*out;
	size_t		 start;		/* where the packet begins in out */
	int		 failed;
};

static void
pkt_add(struct pkt *p, const void *data, size_t n)
{
	if (!p->failed && buf_append(p->out, data, n) == -1)
		p->failed = 1;
}

/* pkt_str - a string with its NUL, as every string field is sent */
static void
pkt_str(struct pkt *p, const char *s)
{
	pkt_add(p, s, strlen(s) + 1);
}

static void
pkt_open(struct pkt *p, struct buf *out, char cmd)
{
	char head[5] = { 0, 0, 0, 0, cmd };

	p->out = out;
	p->start = out->len;
	p->failed = 0;
	pkt_add(p, head, sizeof(head));
}

/* pkt_close - the length goes in front now that it is known */
static int
pkt_close(struct pkt *p)
{
	size_t n = p->out->len - p->start - 4;
	uint32_t len;

	if (!p->failed && n > UINT32_MAX)
		p->failed = 1;
	if (p->failed) {
		p->out->len = p->start;
		if (p->out->data != NULL)
			p->out->data[p->start] = '\0';
		return -1;
	}
	len = htonl((uint32_t)n);
	memcpy(p->out->data + p->start, &len, 4);
	return 0;
}

int
milter_put_optneg(struct buf *out, uint32_t actions, uint32_t protocol)
{
	struct pkt p;
	uint32_t v[3] = { htonl(MILTER_VERSION), htonl(actions),
	    htonl(protocol) };

	pkt_open(&p, out, MILTER_C_OPTNEG);
	pkt_add(&p, v, sizeof(v));
	return pkt_close(&p);
}

int
milter_put_macros(struct buf *out, char cmd, const char *const *names,
    const char *const *values, size_t n)
{
	struct pkt p;

	pkt_open(&p, out, MILTER_C_MACRO);
	pkt_add(&p, &cmd, 1);
	for (size_t i = 0; i < n; i++) {
		if (values[i] == NULL)
			continue;
		pkt_str(&p, names[i]);
		pkt_str(&p, values[i]);
	}
	return pkt_close(&p);
}

int
milter_put_connect(struct buf *out, const char *hostname,
    const struct sockaddr *sa)
{
	char text[INET6_ADDRSTRLEN], family = 'U';
	const void *addr = NULL;
	uint16_t port = 0;
	struct pkt p;

	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		family = '4';
		addr = &sin->sin_addr;
		port = sin->sin_port;
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		family = '6';
		addr = &sin6->sin6_addr;
		port = sin6->sin6_port;
		/* A client on a dual-stack socket is an IPv4 client, and
		 * milters (rspamd's IP checks) know it as such. */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			family = '4';
			addr = sin6->sin6_addr.s6_addr + 12;
		}
	}
	if (addr != NULL && inet_ntop(family == '4' ? AF_INET : AF_INET6,
	    addr, text, sizeof(text)) == NULL)
		family = 'U';

	pkt_open(&p, out, MILTER_C_CONNECT);
	pkt_str(&p, hostname);
	pkt_add(&p, &family, 1);
	if (family != 'U') {
		pkt_add(&p, &port, 2);		/* already in network order */
		pkt_str(&p, text);
	}
	return pkt_close(&p);
}

int
milter_put_helo(struct buf *out, const char *helo)
{
	struct pkt p;

	pkt_open(&p, out, MILTER_C_HELO);
	pkt_str(&p, helo);
	return pkt_close(&p);
}

/* put_envelope - "<addr>" then each parameter as its own string */
static int
put_envelope(struct buf *out, char cmd, const char *addr,
    const char *params)
{
	struct pkt p;

	pkt_open(&p, out, cmd);
	if (addr[0] == '<') {
		pkt_str(&p, addr);
	} else {
		pkt_add(&p, "<", 1);
		pkt_add(&p, addr, strlen(addr));
		pkt_add(&p, ">", 2);
	}
	while (params != NULL && *params != '\0') {
		size_t n;

		params += strspn(params, " ");
		if ((n = strcspn(params, " ")) == 0)
			break;
		pkt_add(&p, params, n);
		pkt_add(&p, "", 1);
		params += n;
	}
	return pkt_close(&p);
}

int
milter_put_mail(struct buf *out, const char *addr, const char *params)
{
	return put_envelope(out, MILTER_C_MAIL, addr, params);
}

int
milter_put_rcpt(struct buf *out, const char *addr, const char *params)
{
	return put_envelope(out, MILTER_C_RCPT, addr, params);
}

int
milter_put_header(struct buf *out, const char *name, const char *value)
{
	struct pkt p;

	pkt_open(&p, out, MILTER_C_HEADER);
	pkt_str(&p, name);
	pkt_str(&p, value);
	return pkt_close(&p);
}

int
milter_put_body(struct buf *out, const char *data, size_t len)
{
	struct pkt p;

	if (len > MILTER_CHUNK_MAX)
		return -1;
	pkt_open(&p, out, MILTER_C_BODY);
	pkt_add(&p, data, len);
	return pkt_close(&p);
}

int
milter_put_cmd(struct buf *out, char cmd)
{
	struct pkt p;

	pkt_open(&p, out, cmd);
	return pkt_close(&p);
}
