/*
 * test_conn_proxy - the PROXY header taken off a real socket (a
 * non-blocking socket pair): whole, in pieces, with the client's bytes
 * right behind it (which must stay on the socket), and the ways it
 * fails.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/conn_proxy.h"

static int	 fds[2];	/* [0] the server's end, [1] the proxy's */
static struct buf in;

static void
setup(void)
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	cr_assert_eq(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	buf_init(&in, PROXY_V2_MAX);
}

static void
teardown(void)
{
	buf_free(&in);
	close(fds[0]);
	if (fds[1] != -1)
		close(fds[1]);
}

static void
put(const void *data, size_t len)
{
	cr_assert_eq(write(fds[1], data, len), (ssize_t)len);
}

static enum conn_proxy_step
step(struct proxy_hdr *hdr, char *why, size_t whylen)
{
	why[0] = '\0';
	return conn_proxy_read(fds[0], &in, hdr, why, whylen);
}

/* rest - what is left on the socket for the session */
static size_t
rest(char *out, size_t outlen)
{
	ssize_t n = read(fds[0], out, outlen - 1);

	out[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

static const unsigned char v2_tcp4[] = {
	'\r', '\n', '\r', '\n', 0, '\r', '\n', 'Q', 'U', 'I', 'T', '\n',
	0x21, 0x11, 0x00, 0x0c,
	192, 0, 2, 7,  127, 0, 0, 1,  0x0f, 0xa0,  0x00, 0x19,
};

TestSuite(conn_proxy, .init = setup, .fini = teardown);

Test(conn_proxy, v1_with_the_client_behind_it)
{
	static const char data[] = "PROXY TCP4 192.0.2.7 127.0.0.1 4000 25\r\n"
	    "EHLO client.example\r\n";
	struct proxy_hdr hdr;
	char why[256], left[256];
	const struct sockaddr_in *src = (const void *)&hdr.src;

	put(data, sizeof(data) - 1);
	cr_assert_eq(step(&hdr, why, sizeof(why)), CONN_PROXY_DONE, "%s", why);
	cr_assert(!hdr.local);
	cr_assert_eq(src->sin_family, AF_INET);
	cr_assert_eq(ntohl(src->sin_addr.s_addr), 0xc0000207);
	cr_assert_eq(ntohs(src->sin_port), 4000);
	rest(left, sizeof(left));
	cr_assert_str_eq(left, "EHLO client.example\r\n", "the session's bytes "
	    "stay on the socket");
}

Test(conn_proxy, v2_one_octet_at_a_time)
{
	struct proxy_hdr hdr;
	char why[256], left[64];

	for (size_t i = 0; i < sizeof(v2_tcp4); i++) {
		cr_assert_eq(step(&hdr, why, sizeof(why)), CONN_PROXY_WAIT,
		    "at %zu: %s", i, why);
		put(&v2_tcp4[i], 1);
	}
	/* A TLS ClientHello's first octets, as on a submissions listener. */
	put("\x16\x03\x01", 3);
	cr_assert_eq(step(&hdr, why, sizeof(why)), CONN_PROXY_DONE, "%s", why);
	cr_assert_eq(hdr.version, 2);
	cr_assert_eq(hdr.len, sizeof(v2_tcp4));
	cr_assert_eq(rest(left, sizeof(left)), 3);
	cr_assert_eq(memcmp(left, "\x16\x03\x01", 3), 0);
}

Test(conn_proxy, v2_local)
{
	static const unsigned char local[] = {
		'\r', '\n', '\r', '\n', 0, '\r', '\n', 'Q', 'U', 'I', 'T', '\n',
		0x20, 0x00, 0x00, 0x00, 'E', 'H', 'L', 'O',
	};
	struct proxy_hdr hdr;
	char why[256], left[64];

	put(local, sizeof(local));
	cr_assert_eq(step(&hdr, why, sizeof(why)), CONN_PROXY_DONE, "%s", why);
	cr_assert(hdr.local);
	rest(left, sizeof(left));
	cr_assert_str_eq(left, "EHLO");
}

Test(conn_proxy, nothing_yet)
{
	struct proxy_hdr hdr;
	char why[256];

	cr_assert_eq(step(&hdr, why, sizeof(why)), CONN_PROXY_WAIT);
	cr_assert_eq(in.len, 0);
}

Test(conn_proxy, not_a_header)
{
	struct proxy_hdr hdr;
	char why[256];

	put("EHLO client.example\r\n", 21);
	cr_assert_eq(step(&hdr, why, sizeof(why)), CONN_PROXY_FAIL);
	cr_assert(strncmp(why, "bad header: ", 12) == 0, "%s", why);
}

Test(conn_proxy, closed_before_and_within)
{
	struct proxy_hdr hdr;
	char why[256];

	put("PROXY TCP4 192.0.2.7", 20);
	cr_assert_eq(step(&hdr, why, sizeof(why)), CONN_PROXY_WAIT, "%s", why);
	cr_assert_eq(in.len, 20, "a valid beginning is taken off the socket");
	close(fds[1]);
	fds[1] = -1;
	cr_assert_eq(step(&hdr, why, sizeof(why)), CONN_PROXY_FAIL);
	cr_assert_str_eq(why, "truncated PROXY header: connection closed "
	    "after 20 octets");
}

Test(conn_proxy, closed_at_once)
{
	struct proxy_hdr hdr;
	char why[256];

	close(fds[1]);
	fds[1] = -1;
	cr_assert_eq(step(&hdr, why, sizeof(why)), CONN_PROXY_FAIL);
	cr_assert_str_eq(why, "connection closed before the PROXY header");
}
