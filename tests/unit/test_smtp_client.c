/*
 * test_smtp_client - the outbound client against a fake server: a
 * thread listening on 127.0.0.1 that answers from a script, takes
 * STARTTLS with a throwaway certificate (made with the openssl command
 * once per run), and keeps every command line and the DATA bytes it
 * heard, which the tests compare byte for byte.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/base64.h"
#include "deliver/smtp_client.h"
#include "deliver/smtp_client_int.h"

#define CN		"mx.test"
#define MAX_REPLIES	8

/* --- the certificate ------------------------------------------------------ */

static char certdir[64];

static const char *
certpath(const char *name)
{
	static char	 p[2][128];
	static int	 i;

	i ^= 1;
	snprintf(p[i], sizeof(p[i]), "%s/%s", certdir, name);
	return p[i];
}

static void
setup(void)
{
	char	 cmd[512];

	signal(SIGPIPE, SIG_IGN);
	snprintf(certdir, sizeof(certdir), "/tmp/sallyport-test-client.XXXXXX");
	cr_assert_not_null(mkdtemp(certdir));
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=" CN " -addext "
	    "subjectAltName=DNS:" CN " -keyout %s -out %s 2>/dev/null",
	    certpath("k.pem"), certpath("c.pem"));
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void
teardown(void)
{
	char	 cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certdir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

TestSuite(client, .init = setup, .fini = teardown, .timeout = 30);

/* --- the fake server --------------------------------------------------------- */

struct fake {
	/* The script: NULL means the usual. */
	const char	*greeting;		/* "220 fake" */
	const char	*ehlo;			/* "250 fake" */
	const char	*ehlo_tls;		/* inside TLS; NULL: ehlo */
	const char	*helo;			/* after a refused EHLO */
	const char	*mail;			/* "250 ok" */
	const char	*rcpt[MAX_REPLIES];	/* "250 ok", in order */
	const char	*data;			/* "354 go" */
	const char	*end[MAX_REPLIES];	/* after the dot; LMTP: each */
	const char	*auth[3];		/* AUTH, and further lines */
	bool		 starttls;		/* take STARTTLS */
	bool		 tls_breaks;		/* 220 to STARTTLS, then junk */
	const char	*cert, *key;		/* NULL: c.pem, k.pem */
	unsigned	 hold;			/* RCPTs read before MAIL's reply */
	bool		 hold_data;		/* ... and then DATA too */
	bool		 silent;		/* never say anything */
	unsigned	 again;			/* connections after the first */
	unsigned	 hangup_mail;		/* hang up at this MAIL (1: the
						 * first, counting every
						 * connection's); 0: never */
	unsigned	 idle421_mail;		/* answer this MAIL with 421
						 * (an idle timeout), hang up */
	bool		 hangup_after;		/* close our side after the
						 * first message's reply, and
						 * listen on */
	unsigned	 mails, conns;
	bool		 first_closed;		/* with again: the first
						 * connection is closed */
	/* What was heard. */
	char		 heard[16384];		/* command lines, CRLF kept */
	size_t		 heard_len;
	char		 body[1 << 18];		/* DATA, final dot included */
	size_t		 body_len;
	bool		 early;			/* input before our reply */
	bool		 tls_done;
	char		 cipher[64];		/* the suite it agreed on */
	/* The connection. */
	int		 lfd, fd;
	unsigned	 port;
	SSL_CTX		*ctx;
	SSL		*ssl;
	char		 in[1 << 16];
	size_t		 inpos, inlen;
	pthread_t	 thread;
};

static ssize_t
f_recv(struct fake *f, char *buf, size_t len)
{
	if (f->ssl != NULL) {
		int n = SSL_read(f->ssl, buf, (int)len);

		return n > 0 ? n : -1;
	}
	return recv(f->fd, buf, len, 0);
}

/* f_say - one reply (lines joined by CRLF in it), CRLF added */
static void
f_say(struct fake *f, const char *reply)
{
	char	 out[8192];
	int	 n = snprintf(out, sizeof(out), "%s\r\n", reply);

	if (f->ssl != NULL)
		(void)SSL_write(f->ssl, out, n);
	else
		(void)send(f->fd, out, (size_t)n, MSG_NOSIGNAL);
}

/* f_line - the next line, LF or CRLF and all; false at the end */
static bool
f_line(struct fake *f, char *line, size_t max)
{
	char	*nl;
	ssize_t	 n;
	size_t	 len;

	while ((nl = memchr(f->in + f->inpos, '\n', f->inlen - f->inpos)) ==
	    NULL) {
		memmove(f->in, f->in + f->inpos, f->inlen - f->inpos);
		f->inlen -= f->inpos;
		f->inpos = 0;
		if (f->inlen == sizeof(f->in))
			return false;
		n = f_recv(f, f->in + f->inlen, sizeof(f->in) - f->inlen);
		if (n <= 0)
			return false;
		f->inlen += (size_t)n;
	}
	len = (size_t)(nl - (f->in + f->inpos)) + 1;
	if (len >= max)
		return false;
	memcpy(line, f->in + f->inpos, len);
	line[len] = '\0';
	f->inpos += len;
	return true;
}

static void
f_heard(struct fake *f, const char *line)
{
	size_t	 n = strlen(line);

	if (f->heard_len + n < sizeof(f->heard)) {
		memcpy(f->heard + f->heard_len, line, n);
		f->heard_len += n;
	}
}

static bool
f_is(const char *line, const char *verb)
{
	return strncasecmp(line, verb, strlen(verb)) == 0;
}

/* f_reply - what the script says, or the usual */
static void
f_reply(struct fake *f, const char *scripted, const char *usual)
{
	if (f->inpos != f->inlen)
		f->early = true;
	f_say(f, scripted != NULL ? scripted : usual);
}

/* f_data - the message up to and with its final dot */
static void
f_data(struct fake *f)
{
	char	 line[8192];

	while (f_line(f, line, sizeof(line))) {
		size_t n = strlen(line);

		cr_assert_lt(f->body_len + n, sizeof(f->body));
		memcpy(f->body + f->body_len, line, n);
		f->body_len += n;
		if (strcmp(line, ".\r\n") == 0)
			return;
	}
}

static bool
f_starttls(struct fake *f)
{
	f_reply(f, NULL, "220 go ahead");
	cr_assert_not_null(f->ssl = SSL_new(f->ctx));
	SSL_set_fd(f->ssl, f->fd);
	if (SSL_accept(f->ssl) != 1)
		return false;
	f->tls_done = true;
	snprintf(f->cipher, sizeof(f->cipher), "%s",
	    SSL_get_cipher_name(f->ssl));
	return true;
}

static void f_session(struct fake *);

static void *
f_serve(void *arg)
{
	struct fake	*f = arg;

	for (unsigned n = 0; n <= f->again; n++) {
		if (n > 0)
			f->inpos = f->inlen = 0;
		f_session(f);
		if (n == 0 && f->again > 0) {
			if (f->ssl != NULL)
				SSL_free(f->ssl);
			f->ssl = NULL;
			close(f->fd);
			f->fd = -1;
			__atomic_store_n(&f->first_closed, true,
			    __ATOMIC_SEQ_CST);
		}
	}
	return NULL;
}

/* f_session - one connection, as the script says */
/* f_data_cmd - DATA heard: its reply, and the message after a 354 */
static void
f_data_cmd(struct fake *f, unsigned *ends)
{
	f_reply(f, f->data, "354 go");
	if (f->data != NULL && f->data[0] != '3')
		return;
	f_data(f);
	do
		f_reply(f, f->end[*ends], "250 queued");
	while (++*ends < MAX_REPLIES && f->end[*ends] != NULL);
	if (f->hangup_after && f->conns == 1) {
		/* our side closed; what the client still sends here is
		 * heard (and counted) */
		shutdown(f->fd, SHUT_WR);
		__atomic_store_n(&f->first_closed, true, __ATOMIC_SEQ_CST);
	}
}

static void
f_session(struct fake *f)
{
	char		 line[8192];
	unsigned	 rcpts = 0, ends = 0, auths = 0;
	struct timeval	 tv = { 5, 0 };

	if ((f->fd = accept(f->lfd, NULL, NULL)) == -1)
		return;
	f->conns++;
	setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (f->silent) {
		while (recv(f->fd, line, sizeof(line), 0) > 0)
			;
		return;
	}
	f_say(f, f->greeting != NULL ? f->greeting : "220 fake ESMTP");
	while (f_line(f, line, sizeof(line))) {
		f_heard(f, line);
		if (f_is(line, "EHLO") || f_is(line, "LHLO"))
			f_reply(f, f->ssl != NULL && f->ehlo_tls != NULL ?
			    f->ehlo_tls : f->ehlo, "250 fake");
		else if (f_is(line, "HELO"))
			f_reply(f, f->helo, "250 fake");
		else if (f_is(line, "STARTTLS") && f->tls_breaks) {
			f_say(f, "220 go ahead\r\nthis is no TLS");
			break;
		} else if (f_is(line, "STARTTLS") && f->starttls) {
			if (!f_starttls(f))
				break;
		} else if (f_is(line, "AUTH") || (auths > 0 && auths < 3 &&
		    f->auth[auths] != NULL))
			f_reply(f, f->auth[auths++], "235 ok");
		else if (f_is(line, "MAIL") && ++f->mails == f->hangup_mail)
			break;
		else if (f_is(line, "MAIL") && f->mails == f->idle421_mail) {
			f_say(f, "421 4.4.2 fake: idle for too long");
			break;
		}
		else if (f_is(line, "MAIL")) {
			for (unsigned i = 0; i < f->hold; i++) {
				if (!f_line(f, line, sizeof(line)))
					return;
				f_heard(f, line);
			}
			if (f->hold_data) {
				if (!f_line(f, line, sizeof(line)))
					return;
				f_heard(f, line);
			}
			f_reply(f, f->mail, "250 ok");
			for (unsigned i = 0; i < f->hold; i++, rcpts++)
				f_say(f, f->rcpt[rcpts] != NULL ?
				    f->rcpt[rcpts] : "250 ok");
			if (f->hold_data && f_is(line, "DATA"))
				f_data_cmd(f, &ends);
		} else if (f_is(line, "RCPT")) {
			f_reply(f, rcpts < MAX_REPLIES ? f->rcpt[rcpts] : NULL,
			    "250 ok");
			rcpts++;
		} else if (f_is(line, "DATA"))
			f_data_cmd(f, &ends);
		else if (f_is(line, "QUIT")) {
			f_say(f, "221 bye");
			break;
		} else
			f_say(f, "500 what?");
	}
}

static void
fake_start(struct fake *f)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);

	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(f->lfd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(f->lfd, 1), 0);
	cr_assert_eq(getsockname(f->lfd, (struct sockaddr *)&sin, &len), 0);
	f->port = ntohs(sin.sin_port);
	if (f->starttls) {
		cr_assert_not_null(f->ctx = SSL_CTX_new(TLS_server_method()));
		cr_assert_eq(SSL_CTX_use_certificate_chain_file(f->ctx,
		    f->cert != NULL ? f->cert : certpath("c.pem")), 1);
		cr_assert_eq(SSL_CTX_use_PrivateKey_file(f->ctx,
		    f->key != NULL ? f->key : certpath("k.pem"),
		    SSL_FILETYPE_PEM), 1);
	}
	cr_assert_eq(pthread_create(&f->thread, NULL, f_serve, f), 0);
}

static void
fake_stop(struct fake *f)
{
	pthread_join(f->thread, NULL);
	if (f->ssl != NULL)
		SSL_free(f->ssl);
	SSL_CTX_free(f->ctx);
	close(f->fd);
	close(f->lfd);
	f->heard[f->heard_len] = '\0';
	f->body[f->body_len] = '\0';
}

/* --- the client's side --------------------------------------------------- */

struct run {
	struct smtp_client_opts	 o;
	char			 port[8];
	struct smtp_client_reply session;
	struct smtp_client_reply rr[MAX_REPLIES];
	struct smtp_client_tls	 tls;
	double			 secs;
};

static void
opts(struct run *r, const struct fake *f)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->port, sizeof(r->port), "%u", f->port);
	r->o.host = "127.0.0.1";
	r->o.port = r->port;
	r->o.helo = "client.test";
	r->o.timeout = 3;
	r->o.tls_out = &r->tls;
}

/* send_len - len bytes of body to the rcpts */
static void
send_len(struct run *r, char *const *rcpts, size_t n, const char *body,
    size_t len)
{
	struct timespec	 t0, t1;
	int		 fd = memfd_create("body", 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, body, len), (ssize_t)len);
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	smtp_client_send(&r->o, "s@example.org", rcpts, n, fd, (off_t)len,
	    &r->session, r->rr);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	r->secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	close(fd);
}

static void
send_body(struct run *r, char *const *rcpts, size_t n, const char *body)
{
	send_len(r, rcpts, n, body, strlen(body));
}

/* deliver - the usual: one recipient, the body, against f */
static void
deliver(struct fake *f, struct run *r, const char *body)
{
	static char *const one[] = { "r@example.net" };

	send_body(r, one, 1, body);
	fake_stop(f);
}

#define HEARD_HAS(f, s) \
	cr_assert(strstr((f)->heard, (s)) != NULL, "%s not in:\n%s", (s), \
	    (f)->heard)
#define HEARD_HASNT(f, s) \
	cr_assert(strstr((f)->heard, (s)) == NULL, "%s in:\n%s", (s), \
	    (f)->heard)

/* --- the message ------------------------------------------------------------ */

Test(client, plain_delivery_and_its_dialogue)
{
	struct fake	 f = { 0 };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	deliver(&f, &r, "Subject: x\r\n\r\nhello\r\n");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	cr_assert_eq(r.rr[0].code, 250);
	cr_assert_str_eq(r.rr[0].text, "250 queued");
	cr_assert_str_eq(f.heard, "EHLO client.test\r\n"
	    "MAIL FROM:<s@example.org>\r\n"
	    "RCPT TO:<r@example.net>\r\n"
	    "DATA\r\n"
	    "QUIT\r\n");
	cr_assert_str_eq(f.body, "Subject: x\r\n\r\nhello\r\n.\r\n");
}

Test(client, dot_stuffing_and_line_ends_byte_for_byte)
{
	struct fake	 f = { 0 };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	deliver(&f, &r, ".one\r\n..two\r\nbare\nlf\rcr\r\r\n.\n.\r."
	    "\r\n \r\nmid.dot\r\nlast");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	cr_assert_str_eq(f.body, "..one\r\n...two\r\nbare\r\nlf\r\ncr\r\n"
	    "\r\n..\r\n..\r\n..\r\n \r\nmid.dot\r\nlast\r\n.\r\n");
}

Test(client, empty_message_and_lone_final_cr)
{
	struct fake	 f = { 0 };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	deliver(&f, &r, "");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	cr_assert_str_eq(f.body, ".\r\n");

	memset(&f, 0, sizeof(f));
	fake_start(&f);
	opts(&r, &f);
	deliver(&f, &r, "x\r");
	cr_assert_str_eq(f.body, "x\r\n.\r\n");
}

/* normalise - what the wire must carry, worked out the slow way */
static size_t
normalise(const char *in, size_t n, char *out)
{
	size_t	 o = 0;
	bool	 bol = true;

	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\r' || in[i] == '\n') {
			if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
				i++;
			out[o++] = '\r';
			out[o++] = '\n';
			bol = true;
			continue;
		}
		if (bol && in[i] == '.')
			out[o++] = '.';
		out[o++] = in[i];
		bol = false;
	}
	if (!bol) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	return o + 3;
}

Test(client, large_message_across_buffer_boundaries)
{
	static const char	 alphabet[] = "a.\r\n";
	static char		 body[100000], want[2 * sizeof(body) + 8];
	static char *const	 one[] = { "r@example.net" };
	struct fake		*f = calloc(1, sizeof(*f));
	struct run		 r;
	size_t			 wlen;
	unsigned		 seed = 7;

	for (size_t i = 0; i < sizeof(body); i++) {
		seed = seed * 1103515245 + 12345;
		body[i] = alphabet[(seed >> 16) % 4];
	}
	wlen = normalise(body, sizeof(body), want);
	fake_start(f);
	opts(&r, f);
	send_len(&r, one, 1, body, sizeof(body));
	fake_stop(f);
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	cr_assert_eq(f->body_len, wlen);
	cr_assert(memcmp(f->body, want, wlen) == 0);
	free(f);
}

Test(client, message_file_cut_short_never_ends_data)
{
	static char *const one[] = { "r@example.net" };
	struct fake	 f = { 0 };
	struct run	 r;
	int		 fd = memfd_create("body", 0);

	fake_start(&f);
	opts(&r, &f);
	cr_assert_eq(write(fd, "abc\r\n", 5), 5);
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	smtp_client_send(&r.o, "", one, 1, fd, 100, &r.session, r.rr);
	close(fd);
	fake_stop(&f);
	cr_assert_eq(r.session.code, 0);
	cr_assert(strstr(r.session.text, "95 bytes missing") != NULL, "%s",
	    r.session.text);
	cr_assert_eq(r.rr[0].code, 0);
	HEARD_HASNT(&f, "QUIT");
	cr_assert(strstr(f.body, "\r\n.\r\n") == NULL);
}

/* --- SMTPUTF8 and 8BITMIME ------------------------------------------------ */

#define EHLO_BOTH	"250-fake\r\n250-8BITMIME\r\n250 SMTPUTF8"
#define EHLO_8BIT	"250-fake\r\n250 8BITMIME"

/* send_from - body from sender to one recipient, then stop f */
static void
send_from(struct fake *f, struct run *r, const char *sender,
    const char *rcpt, const char *body)
{
	char	*rcpts[1] = { (char *)rcpt };
	int	 fd = memfd_create("body", 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	smtp_client_send(&r->o, sender, rcpts, 1, fd, (off_t)strlen(body),
	    &r->session, r->rr);
	close(fd);
	fake_stop(f);
}

Test(client, smtputf8_and_body_sent_when_offered)
{
	struct fake	 f = { .ehlo = EHLO_BOTH };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.smtputf8 = true;
	r.o.body_8bitmime = true;
	send_from(&f, &r, "j\xc3\xb6rg@example.org", "r@example.net",
	    "Subject: \xc3\xa9\r\n\r\n\xc3\xa9\r\n");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	HEARD_HAS(&f, "MAIL FROM:<j\xc3\xb6rg@example.org> BODY=8BITMIME "
	    "SMTPUTF8\r\n");
	cr_assert_str_eq(f.body, "Subject: \xc3\xa9\r\n\r\n\xc3\xa9\r\n.\r\n");
}

Test(client, utf8_address_to_a_server_without_smtputf8_is_refused)
{
	struct fake	 f = { .ehlo = EHLO_8BIT };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.smtputf8 = true;
	send_from(&f, &r, "s@example.org", "j\xc3\xb6rg@example.net",
	    "Subject: x\r\n\r\nx\r\n");
	cr_assert_eq(r.session.code, 550);
	cr_assert(strncmp(r.rr[0].text, "550 5.6.7 SMTPUTF8 is required", 30)
	    == 0, "%s", r.rr[0].text);
	HEARD_HASNT(&f, "MAIL");
	HEARD_HAS(&f, "QUIT");
}

Test(client, smtputf8_not_needed_for_an_ascii_message)
{
	struct fake	 f = { .ehlo = EHLO_8BIT };
	struct run	 r;

	/* SMTPUTF8 was given, but addresses and header are ASCII: it goes,
	 * without the parameter (as Postfix does) */
	fake_start(&f);
	opts(&r, &f);
	r.o.smtputf8 = true;
	send_from(&f, &r, "s@example.org", "r@example.net",
	    "Subject: x\r\n\r\nbody \xc3\xa9\r\n");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	HEARD_HAS(&f, "MAIL FROM:<s@example.org>\r\n");

	/* a UTF-8 header needs it */
	memset(&f, 0, sizeof(f));
	f.ehlo = EHLO_8BIT;
	fake_start(&f);
	opts(&r, &f);
	r.o.smtputf8 = true;
	send_from(&f, &r, "s@example.org", "r@example.net",
	    "Subject: \xc3\xa9\r\n\r\nbody\r\n");
	cr_assert_eq(r.session.code, 550);
	cr_assert(strstr(r.session.text, "5.6.7") != NULL, "%s",
	    r.session.text);
	HEARD_HASNT(&f, "MAIL");
}

Test(client, eight_bit_body_converted_for_a_seven_bit_server)
{
	struct fake	 f = { 0 };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.body_8bitmime = true;
	send_from(&f, &r, "s@example.org", "r@example.net",
	    "Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n"
	    ".caf\xc3\xa9\r\n");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	HEARD_HAS(&f, "MAIL FROM:<s@example.org>\r\n");
	cr_assert_str_eq(f.body, "Subject: x\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "..caf=C3=A9\r\n.\r\n");
}

Test(client, eight_bit_body_refused_when_not_to_be_converted)
{
	struct fake	 f = { 0 };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.no_downgrade = true;
	send_from(&f, &r, "s@example.org", "r@example.net",
	    "Subject: x\r\n\r\ncaf\xc3\xa9\r\n");
	cr_assert_eq(r.session.code, 554);
	cr_assert(strstr(r.rr[0].text, "554 5.6.3 ") == r.rr[0].text &&
	    strstr(r.rr[0].text, "mime_8bit_downgrade = bounce") != NULL,
	    "%s", r.rr[0].text);
	HEARD_HASNT(&f, "MAIL");

	/* 8-bit in a header cannot be converted */
	memset(&f, 0, sizeof(f));
	fake_start(&f);
	opts(&r, &f);
	send_from(&f, &r, "s@example.org", "r@example.net",
	    "Subject: caf\xc3\xa9\r\n\r\ncaf\xc3\xa9\r\n");
	cr_assert_eq(r.session.code, 554);
	cr_assert(strstr(r.rr[0].text, "cannot convert to 7-bit: 8-bit "
	    "octets in a header") != NULL, "%s", r.rr[0].text);
	HEARD_HASNT(&f, "MAIL");

	/* a 7-bit message goes as it is */
	memset(&f, 0, sizeof(f));
	fake_start(&f);
	opts(&r, &f);
	r.o.no_downgrade = true;
	send_from(&f, &r, "s@example.org", "r@example.net",
	    "Subject: x\r\n\r\nplain = \r\n");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	cr_assert_str_eq(f.body, "Subject: x\r\n\r\nplain = \r\n.\r\n");
}

/* --- the envelope ------------------------------------------------------------ */

Test(client, pipelined_when_offered)
{
	static char *const rcpts[] = { "a@x.test", "b@x.test", "c@x.test" };
	struct fake	 f = { .ehlo = "250-fake\r\n250-PIPELINING\r\n250 SIZE "
			    "1000000", .hold = 3,
			    .rcpt = { NULL, "550 5.1.1 no such user b" } };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	/* Not pipelined, the MAIL would wait for its reply, which comes
	 * only after the three RCPTs: a timeout. */
	send_body(&r, rcpts, 3, "hi\r\n");
	fake_stop(&f);
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	cr_assert_eq(r.rr[0].code, 250);
	cr_assert_eq(r.rr[1].code, 550);
	cr_assert_str_eq(r.rr[1].text, "550 5.1.1 no such user b");
	cr_assert_eq(r.rr[2].code, 250);
	HEARD_HAS(&f, "MAIL FROM:<s@example.org> SIZE=4\r\nRCPT TO:<a@x.test>"
	    "\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n");
}

Test(client, data_pipelined_with_the_envelope)
{
	static char *const rcpts[] = { "a@x.test", "b@x.test" };
	struct fake	 f = { .ehlo = "250-fake\r\n250 PIPELINING", .hold = 2,
			    .hold_data = true };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	/* MAIL's reply comes only once DATA is in: a client that waited
	 * for the RCPT replies before DATA would time out. */
	send_body(&r, rcpts, 2, "hi\r\n");
	fake_stop(&f);
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	cr_assert_eq(r.rr[0].code, 250);
	cr_assert_eq(r.rr[1].code, 250);
	HEARD_HAS(&f, "RCPT TO:<b@x.test>\r\nDATA\r\nQUIT\r\n");
	cr_assert_eq(f.body_len, 7);
	cr_assert(memcmp(f.body, "hi\r\n.\r\n", 7) == 0);
}

Test(client, nobody_accepted_yet_data_taken_ends_an_empty_message)
{
	static char *const rcpts[] = { "a@x.test", "b@x.test" };
	/* A server that answers 354 to DATA with no recipient: the client
	 * ends the message at once, and the refusals stand. */
	struct fake	 f = { .ehlo = "250-fake\r\n250 PIPELINING", .hold = 2,
			    .hold_data = true,
			    .rcpt = { "550 5.1.1 no a", "450 4.2.2 full b" } };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	send_body(&r, rcpts, 2, "hi\r\n");
	fake_stop(&f);
	cr_assert_eq(r.session.code, 550, "%s", r.session.text);
	cr_assert_str_eq(r.rr[0].text, "550 5.1.1 no a");
	cr_assert_str_eq(r.rr[1].text, "450 4.2.2 full b");
	cr_assert_eq(f.body_len, 3, "%zu bytes of body", f.body_len);
	cr_assert(memcmp(f.body, ".\r\n", 3) == 0);
	HEARD_HAS(&f, "QUIT\r\n");	/* in step all along */
}

Test(client, mail_refused_pipelined_with_data_taken)
{
	static char *const rcpts[] = { "a@x.test", "b@x.test" };
	struct fake	 f = { .ehlo = "250-fake\r\n250 PIPELINING", .hold = 2,
			    .hold_data = true, .mail = "553 5.1.8 bad sender",
			    .rcpt = { "503 5.5.1 MAIL first",
			    "503 5.5.1 MAIL first" } };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	send_body(&r, rcpts, 2, "hi\r\n");
	fake_stop(&f);
	cr_assert_eq(r.session.code, 553, "%s", r.session.text);
	cr_assert_str_eq(r.rr[0].text, "553 5.1.8 bad sender");
	cr_assert_str_eq(r.rr[1].text, "553 5.1.8 bad sender");
	cr_assert_eq(f.body_len, 3);		/* ended empty */
	HEARD_HAS(&f, "QUIT\r\n");
}

Test(client, one_by_one_without_pipelining)
{
	static char *const rcpts[] = { "a@x.test", "b@x.test", "c@x.test" };
	struct fake	 f = { .rcpt = { "450 4.2.1 later", NULL, "250 ok c" } };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	send_body(&r, rcpts, 3, "hi\r\n");
	fake_stop(&f);
	cr_assert_not(f.early, "a command came before the last reply");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	cr_assert_eq(r.rr[0].code, 450);
	cr_assert_str_eq(r.rr[0].text, "450 4.2.1 later");
	cr_assert_eq(r.rr[1].code, 250);
	cr_assert_str_eq(r.rr[1].text, "250 queued");
	cr_assert_eq(r.rr[2].code, 250);
	HEARD_HAS(&f, "MAIL FROM:<s@example.org>\r\n");
}

Test(client, nobody_accepted_no_data)
{
	static char *const rcpts[] = { "a@x.test", "b@x.test" };
	struct fake	 f = { .rcpt = { "550 5.1.1 no a", "450 4.2.2 full b" } };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	send_body(&r, rcpts, 2, "hi\r\n");
	fake_stop(&f);
	HEARD_HASNT(&f, "DATA");
	HEARD_HAS(&f, "QUIT");
	cr_assert_eq(r.session.code, 550);
	cr_assert_str_eq(r.rr[0].text, "550 5.1.1 no a");
	cr_assert_str_eq(r.rr[1].text, "450 4.2.2 full b");
}

Test(client, mail_refused)
{
	static char *const rcpts[] = { "a@x.test", "b@x.test" };
	struct fake	 f = { .mail = "553 5.1.8 bad sender" };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	send_body(&r, rcpts, 2, "hi\r\n");
	fake_stop(&f);
	HEARD_HASNT(&f, "RCPT");
	cr_assert_eq(r.session.code, 553);
	cr_assert_str_eq(r.rr[0].text, "553 5.1.8 bad sender");
	cr_assert_str_eq(r.rr[1].text, "553 5.1.8 bad sender");
}

Test(client, data_refused_goes_to_the_accepted)
{
	static char *const rcpts[] = { "a@x.test", "b@x.test" };
	struct fake	 f = { .rcpt = { "550 5.1.1 no a" },
			    .data = "554 5.3.0 no data today" };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	send_body(&r, rcpts, 2, "hi\r\n");
	fake_stop(&f);
	cr_assert_eq(r.session.code, 554);
	cr_assert_str_eq(r.rr[0].text, "550 5.1.1 no a");
	cr_assert_eq(r.rr[1].code, 554);
	cr_assert_str_eq(r.rr[1].text, "554 5.3.0 no data today");
	cr_assert_eq(f.body_len, 0);
}

Test(client, message_refused_after_the_dot)
{
	struct fake	 f = { .end = { "552-5.3.4 too big\r\n552 5.3.4 really" } };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 552);
	cr_assert_eq(r.rr[0].code, 552);
	cr_assert_str_eq(r.rr[0].text, "552-5.3.4 too big 5.3.4 really");
}

Test(client, lmtp_one_reply_per_accepted_recipient)
{
	static char *const rcpts[] = { "a@x.test", "b@x.test", "c@x.test",
	    "d@x.test" };
	struct fake	 f = { .rcpt = { NULL, "550 5.1.1 no b" },
			    .end = { "250 2.0.0 a saved", "452 4.2.2 c full",
			    "250 2.0.0 d saved" } };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.lmtp = true;
	send_body(&r, rcpts, 4, "hi\r\n");
	fake_stop(&f);
	HEARD_HAS(&f, "LHLO client.test\r\n");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	cr_assert_str_eq(r.rr[0].text, "250 2.0.0 a saved");
	cr_assert_str_eq(r.rr[1].text, "550 5.1.1 no b");
	cr_assert_eq(r.rr[2].code, 452);
	cr_assert_str_eq(r.rr[2].text, "452 4.2.2 c full");
	cr_assert_str_eq(r.rr[3].text, "250 2.0.0 d saved");
}

Test(client, helo_when_ehlo_is_refused)
{
	struct fake	 f = { .ehlo = "502 5.5.1 no EHLO here" };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	HEARD_HAS(&f, "EHLO client.test\r\nHELO client.test\r\nMAIL");
}

Test(client, greeting_refused)
{
	struct fake	 f = { .greeting = "554 5.7.1 go away" };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 554);
	cr_assert_str_eq(r.rr[0].text, "554 5.7.1 go away");
	cr_assert_str_eq(f.heard, "QUIT\r\n");
}

/* --- AUTH ------------------------------------------------------------------ */

Test(client, auth_plain)
{
	struct fake	 f = { .ehlo = "250-fake\r\n250 AUTH LOGIN PLAIN" };
	struct run	 r;
	char		 want[128], b64[64];

	fake_start(&f);
	opts(&r, &f);
	r.o.auth_user = "user";
	r.o.auth_pass = "pass word";
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	base64_encode("\0user\0pass word", 15, b64);
	snprintf(want, sizeof(want), "EHLO client.test\r\nAUTH PLAIN %s\r\n"
	    "MAIL", b64);
	HEARD_HAS(&f, want);
	cr_assert_str_eq(b64, "AHVzZXIAcGFzcyB3b3Jk");
}

Test(client, auth_login_when_only_that)
{
	struct fake	 f = { .ehlo = "250-fake\r\n250 AUTH=LOGIN",
			    .auth = { "334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6",
			    "235 2.7.0 ok" } };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.auth_user = "user";
	r.o.auth_pass = "pass";
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	HEARD_HAS(&f, "AUTH LOGIN\r\ndXNlcg==\r\ncGFzcw==\r\nMAIL");
}

Test(client, auth_refused_or_missing_is_temporary)
{
	struct fake	 f = { .ehlo = "250-fake\r\n250 AUTH PLAIN",
			    .auth = { "535 5.7.8 bad credentials" } };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.auth_user = "user";
	r.o.auth_pass = "wrong";
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 0);
	cr_assert(strstr(r.session.text, "AUTH failed: 535 5.7.8 bad "
	    "credentials") != NULL, "%s", r.session.text);
	HEARD_HASNT(&f, "MAIL");

	memset(&f, 0, sizeof(f));
	fake_start(&f);
	opts(&r, &f);
	r.o.auth_user = "user";
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 0);
	cr_assert(strstr(r.session.text, "not offered") != NULL, "%s",
	    r.session.text);
	HEARD_HASNT(&f, "MAIL");
}

Test(client, auth_never_in_clear_unless_tls_is_off)
{
	struct fake	 f = { .ehlo = "250-fake\r\n250 AUTH PLAIN LOGIN" };
	struct run	 r;

	/* Opportunistic TLS, and no STARTTLS offered (stripped, perhaps):
	 * no AUTH, no password, no mail; a temporary failure of ours. */
	fake_start(&f);
	opts(&r, &f);
	r.o.tls = CLIENT_TLS_OPPORTUNISTIC;
	r.o.auth_user = "user";
	r.o.auth_pass = "secret";
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 0);
	cr_assert(strstr(r.session.text, "password is not sent in clear") !=
	    NULL, "%s", r.session.text);
	HEARD_HASNT(&f, "AUTH");
	HEARD_HASNT(&f, "MAIL");
}

/* --- STARTTLS ---------------------------------------------------------------- */

#define EHLO_TLS	"250-fake\r\n250 STARTTLS"

Test(client, opportunistic_tls_when_offered)
{
	struct fake	 f = { .ehlo = EHLO_TLS, .starttls = true };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.tls = CLIENT_TLS_OPPORTUNISTIC;
	deliver(&f, &r, "secret\r\n");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	cr_assert(f.tls_done);
	cr_assert_str_eq(f.heard, "EHLO client.test\r\nSTARTTLS\r\n"
	    "EHLO client.test\r\nMAIL FROM:<s@example.org>\r\n"
	    "RCPT TO:<r@example.net>\r\nDATA\r\nQUIT\r\n");
	cr_assert_str_eq(f.body, "secret\r\n.\r\n");
	/* what the log line and TLS-RPT are told */
	cr_assert(r.tls.offered && r.tls.used);
	cr_assert_str_eq(r.tls.version, "TLSv1.3");
	cr_assert_str_eq(r.tls.cipher, f.cipher);
	cr_assert_eq(r.tls.auth, CLIENT_AUTH_NONE);
	cr_assert_eq(r.tls.result, TLSRPT_SUCCESS);
	cr_assert_str_eq(r.tls.peer_ip, "127.0.0.1");
}

Test(client, opportunistic_plain_when_not_offered)
{
	struct fake	 f = { 0 };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.tls = CLIENT_TLS_OPPORTUNISTIC;
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	HEARD_HASNT(&f, "STARTTLS");
	cr_assert_not(r.tls.offered);
	cr_assert_not(r.tls.used);
	cr_assert_eq(r.tls.result, TLSRPT_STARTTLS_NOT_SUPPORTED);
	cr_assert_str_eq(r.tls.peer_ip, "127.0.0.1");
}

Test(client, no_tls_says_starttls_was_offered)
{
	struct fake	 f = { .ehlo = EHLO_TLS, .starttls = true };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.tls = CLIENT_TLS_NONE;
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	HEARD_HASNT(&f, "STARTTLS");
	cr_assert(r.tls.offered);
	cr_assert_not(r.tls.used);
	cr_assert_eq(r.tls.result, TLSRPT_SUCCESS);
}

Test(client, required_tls_not_offered)
{
	struct fake	 f = { 0 };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.tls = CLIENT_TLS_REQUIRED;
	r.o.verify_name = CN;
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 0);
	cr_assert(strncmp(r.session.text, "TLS required but STARTTLS not "
	    "offered", 37) == 0, "%s", r.session.text);
	cr_assert_eq(r.rr[0].code, 0);
	HEARD_HASNT(&f, "MAIL");
}

Test(client, required_tls_untrusted_certificate)
{
	struct fake	 f = { .ehlo = EHLO_TLS, .starttls = true };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.tls = CLIENT_TLS_REQUIRED;
	r.o.verify_name = CN;		/* the system store: no such CA */
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 0);
	cr_assert(strncmp(r.session.text, "TLS required but", 16) == 0, "%s",
	    r.session.text);
	cr_assert(strstr(r.session.text, "self-signed") != NULL, "%s",
	    r.session.text);
	cr_assert_not(f.tls_done);
	HEARD_HASNT(&f, "MAIL");
}

Test(client, required_tls_with_the_ca_file)
{
	struct fake	 f = { .ehlo = EHLO_TLS, .starttls = true };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.tls = CLIENT_TLS_REQUIRED;
	r.o.ca_file = certpath("c.pem");
	r.o.verify_name = CN;
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	cr_assert(f.tls_done);
	HEARD_HAS(&f, "STARTTLS\r\nEHLO client.test\r\nMAIL");
	cr_assert(r.tls.used);
	cr_assert_eq(r.tls.auth, CLIENT_AUTH_CA);
}

Test(client, required_tls_wrong_name)
{
	struct fake	 f = { .ehlo = EHLO_TLS, .starttls = true };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.tls = CLIENT_TLS_REQUIRED;
	r.o.ca_file = certpath("c.pem");
	r.o.verify_name = "other.test";
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 0);
	cr_assert(strstr(r.session.text, "hostname mismatch") != NULL, "%s",
	    r.session.text);
	HEARD_HASNT(&f, "MAIL");
	cr_assert_not(r.tls.used);
	cr_assert_eq(r.tls.result, TLSRPT_CERT_HOST_MISMATCH);
}

/* --- a certificate checked, not enforced (verify_report) ------------------- */

/* report_run - opportunistic TLS with verify_report against f, the
 * certificate checked with ca_file (NULL: the system store) for name:
 * the mail goes through whatever the check finds */
static void
report_run(struct fake *f, struct run *r, const char *ca_file,
    const char *name)
{
	static char	 ca[128];

	/* a copy: certpath's buffers are reused by fake_start */
	snprintf(ca, sizeof(ca), "%s", ca_file != NULL ? ca_file : "");
	fake_start(f);
	opts(r, f);
	r->o.tls = CLIENT_TLS_OPPORTUNISTIC;
	r->o.verify_report = true;
	r->o.ca_file = ca_file != NULL ? ca : NULL;
	r->o.verify_name = name;
	deliver(f, r, "hi\r\n");
	cr_assert_eq(r->session.code, 250, "%s", r->session.text);
	cr_assert(f->tls_done);
	HEARD_HAS(f, "STARTTLS\r\nEHLO client.test\r\nMAIL");
	cr_assert_str_eq(f->body, "hi\r\n.\r\n");
	cr_assert(r->tls.used);
	cr_assert_str_eq(r->tls.version, "TLSv1.3");
	/* checked, not enforced: not authenticated for the log */
	cr_assert_eq(r->tls.auth, CLIENT_AUTH_NONE);
}

/* REPORTS - what tls_out says the check found, and words of its detail */
#define REPORTS(r, res, words) do {					\
	cr_assert_eq((r)->tls.result, (res), "%s", (r)->tls.detail);	\
	cr_assert(strstr((r)->tls.detail, (words)) != NULL, "%s",	\
	    (r)->tls.detail);						\
} while (0)

Test(client, report_good_certificate_is_a_success)
{
	struct fake	 f = { .ehlo = EHLO_TLS, .starttls = true };
	struct run	 r;

	report_run(&f, &r, certpath("c.pem"), CN);
	cr_assert_eq(r.tls.result, TLSRPT_SUCCESS, "%s", r.tls.detail);
	cr_assert_str_eq(r.tls.detail, "");
}

Test(client, report_wrong_name_delivered_and_said)
{
	struct fake	 f = { .ehlo = EHLO_TLS, .starttls = true };
	struct run	 r;

	report_run(&f, &r, certpath("c.pem"), "other.test");
	REPORTS(&r, TLSRPT_CERT_HOST_MISMATCH, "hostname mismatch");
}

Test(client, report_untrusted_delivered_and_said)
{
	struct fake	 f = { .ehlo = EHLO_TLS, .starttls = true };
	struct run	 r;

	/* the system store: no such CA */
	report_run(&f, &r, NULL, CN);
	REPORTS(&r, TLSRPT_CERT_NOT_TRUSTED, "self-signed");
}

Test(client, report_expired_delivered_and_said)
{
	struct fake	 f = { .ehlo = EHLO_TLS, .starttls = true };
	struct run	 r;
	char		 cmd[2048];
	FILE		*fp;

	/* A certificate for CN that expired in 2020 (openssl ca, the only
	 * one that takes dates in the past), itself the trusted CA. */
	cr_assert_not_null(fp = fopen(certpath("old.cnf"), "w"));
	fprintf(fp, "[ca]\ndefault_ca = d\n[d]\ndatabase = %s/index\n"
	    "new_certs_dir = %s\nserial = %s/serial\ndefault_md = sha256\n"
	    "policy = p\ncopy_extensions = copy\n[p]\ncommonName = "
	    "supplied\n", certdir, certdir, certdir);
	fclose(fp);
	snprintf(cmd, sizeof(cmd), "cd %s && : > index && echo 01 > serial "
	    "&& openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
	    "-nodes -subj /CN=" CN " -addext subjectAltName=DNS:" CN
	    " -keyout old.key -out old.csr 2>/dev/null && openssl ca -batch "
	    "-config old.cnf -selfsign -keyfile old.key -in old.csr -out "
	    "old.pem -notext -startdate 20200101000000Z -enddate "
	    "20200201000000Z 2>/dev/null", certdir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	f.cert = certpath("old.pem");
	f.key = certpath("old.key");
	report_run(&f, &r, certpath("old.pem"), CN);
	REPORTS(&r, TLSRPT_CERT_EXPIRED, "expired");
}

Test(client, report_unreadable_ca_file_is_a_failure)
{
	struct fake	 f = { .ehlo = EHLO_TLS, .starttls = true };
	struct run	 r;

	report_run(&f, &r, certpath("missing.pem"), CN);
	REPORTS(&r, TLSRPT_VALIDATION_FAILURE, "missing.pem");
}

Test(client, opportunistic_failed_handshake_is_temporary)
{
	/* STARTTLS answered 220, then no TLS at all: never plain text
	 * after that, but a failure of the moment. */
	struct fake	 f = { .ehlo = EHLO_TLS, .tls_breaks = true };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.tls = CLIENT_TLS_OPPORTUNISTIC;
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 0);
	cr_assert(strstr(r.session.text, "STARTTLS") != NULL, "%s",
	    r.session.text);
	HEARD_HASNT(&f, "MAIL");
}

Test(client, starttls_refused_opportunistic_goes_on_plain)
{
	/* The fake answers 500 to a STARTTLS it does not take. */
	struct fake	 f = { .ehlo = EHLO_TLS };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.tls = CLIENT_TLS_OPPORTUNISTIC;
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	HEARD_HAS(&f, "STARTTLS\r\nMAIL");
}

/* --- mandatory TLS: DANE, and TLSA records none of which is usable ------- */

/* spki - the SHA-256 of the test certificate's public key (a TLSA
 * 3 1 1 record's data), made by the openssl command */
static void
spki(struct client_tlsa *t, unsigned char *buf, size_t max)
{
	char	 cmd[512];
	FILE	*fp;

	snprintf(cmd, sizeof(cmd), "openssl x509 -in %s -noout -pubkey | "
	    "openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary "
	    "> %s", certpath("c.pem"), certpath("c.spki.1"));
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	cr_assert_not_null(fp = fopen(certpath("c.spki.1"), "rb"));
	t->len = fread(buf, 1, max, fp);
	fclose(fp);
	cr_assert_eq(t->len, 32);
	t->usage = 3;
	t->selector = 1;
	t->mtype = 1;
	t->data = buf;
}

/* dane - r set for DANE against the fake, with its 3 1 1 record, one
 * byte of it changed when wrong */
static void
dane(struct run *r, const struct fake *f, struct client_tlsa *t,
    unsigned char *buf, bool wrong)
{
	opts(r, f);
	spki(t, buf, 64);
	buf[5] ^= wrong ? 0x20 : 0;
	r->o.tls = CLIENT_TLS_DANE;
	r->o.verify_name = CN;
	r->o.tlsa = t;
	r->o.ntlsa = 1;
}

Test(client, dane_match)
{
	struct fake	 f = { .ehlo = EHLO_TLS, .starttls = true };
	struct client_tlsa t;
	unsigned char	 buf[64];
	struct run	 r;

	fake_start(&f);
	dane(&r, &f, &t, buf, false);
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	HEARD_HAS(&f, "STARTTLS\r\nEHLO client.test\r\nMAIL");
	cr_assert(r.tls.offered && r.tls.used);
	cr_assert_eq(r.tls.auth, CLIENT_AUTH_DANE);
	cr_assert_eq(r.tls.result, TLSRPT_SUCCESS);
	cr_assert_str_eq(r.tls.version, "TLSv1.3");
	cr_assert_str_eq(r.tls.cipher, f.cipher);
}

Test(client, dane_mismatch_never_sends_mail)
{
	struct fake	 f = { .ehlo = EHLO_TLS, .starttls = true };
	struct client_tlsa t;
	unsigned char	 buf[64];
	struct run	 r;

	fake_start(&f);
	dane(&r, &f, &t, buf, true);
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 0, "%s", r.session.text);
	cr_assert_eq(r.rr[0].code, 0);
	cr_assert(strncmp(r.session.text, "DANE: ", 6) == 0, "%s",
	    r.session.text);
	cr_assert(strstr(r.session.text, "TLSA") != NULL, "%s",
	    r.session.text);
	HEARD_HASNT(&f, "MAIL");
	cr_assert_not(r.tls.used);
	cr_assert_eq(r.tls.result, TLSRPT_VALIDATION_FAILURE);
	cr_assert(strstr(r.tls.detail, "TLSA") != NULL, "%s", r.tls.detail);
}

Test(client, dane_without_starttls_never_sends_mail)
{
	struct fake	 f = { 0 };
	struct client_tlsa t;
	unsigned char	 buf[64];
	struct run	 r;

	fake_start(&f);
	dane(&r, &f, &t, buf, false);
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 0, "%s", r.session.text);
	cr_assert(strncmp(r.session.text, "DANE: TLS required but STARTTLS "
	    "not offered", 42) == 0, "%s", r.session.text);
	HEARD_HASNT(&f, "MAIL");
	cr_assert_not(r.tls.offered);
	cr_assert_eq(r.tls.result, TLSRPT_STARTTLS_NOT_SUPPORTED);
}

Test(client, dane_starttls_refused_never_sends_mail)
{
	/* offered, then answered 500 */
	struct fake	 f = { .ehlo = EHLO_TLS };
	struct client_tlsa t;
	unsigned char	 buf[64];
	struct run	 r;

	fake_start(&f);
	dane(&r, &f, &t, buf, false);
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 0, "%s", r.session.text);
	cr_assert(strstr(r.session.text, "STARTTLS refused") != NULL, "%s",
	    r.session.text);
	HEARD_HAS(&f, "STARTTLS\r\n");
	HEARD_HASNT(&f, "MAIL");
	cr_assert(r.tls.offered);
	cr_assert_eq(r.tls.result, TLSRPT_STARTTLS_NOT_SUPPORTED);
}

Test(client, dane_broken_handshake_never_sends_mail)
{
	struct fake	 f = { .ehlo = EHLO_TLS, .tls_breaks = true };
	struct client_tlsa t;
	unsigned char	 buf[64];
	struct run	 r;

	fake_start(&f);
	dane(&r, &f, &t, buf, false);
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 0, "%s", r.session.text);
	HEARD_HASNT(&f, "MAIL");
	cr_assert_eq(r.tls.result, TLSRPT_VALIDATION_FAILURE);
}

/* A refusal before TLS could come from anyone on the path: with TLS
 * mandatory it is no verdict (the mail waits, never bounces on it). */
Test(client, dane_refusal_before_tls_is_not_a_verdict)
{
	struct fake	 f = { .greeting = "554 5.7.1 go away" };
	struct client_tlsa t;
	unsigned char	 buf[64];
	struct run	 r;

	fake_start(&f);
	dane(&r, &f, &t, buf, false);
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 0, "%s", r.session.text);
	cr_assert_eq(r.rr[0].code, 0, "%s", r.rr[0].text);
	cr_assert(strstr(r.session.text, "refused before TLS, not trusted: "
	    "554 5.7.1 go away") != NULL, "%s", r.session.text);
	HEARD_HASNT(&f, "MAIL");

	/* EHLO and HELO refused */
	memset(&f, 0, sizeof(f));
	f.ehlo = "550 5.7.1 not you";
	f.helo = "550 5.7.1 not you either";
	fake_start(&f);
	opts(&r, &f);
	r.o.tls = CLIENT_TLS_ENCRYPT;
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 0, "%s", r.session.text);
	cr_assert_eq(r.rr[0].code, 0, "%s", r.rr[0].text);
	cr_assert(strstr(r.session.text, "TLSA records: TLS required; "
	    "refused before TLS, not trusted: 550 5.7.1 not you either") ==
	    r.session.text, "%s", r.session.text);
	HEARD_HASNT(&f, "MAIL");
}

Test(client, encrypt_takes_any_certificate)
{
	struct fake	 f = { .ehlo = EHLO_TLS, .starttls = true };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.tls = CLIENT_TLS_ENCRYPT;
	r.o.verify_name = "not-the-name.test";
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	cr_assert(f.tls_done);
	HEARD_HAS(&f, "STARTTLS\r\nEHLO client.test\r\nMAIL");
	cr_assert(r.tls.used);
	cr_assert_eq(r.tls.auth, CLIENT_AUTH_NONE);
}

Test(client, encrypt_without_starttls_never_sends_mail)
{
	struct fake	 f = { 0 };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.tls = CLIENT_TLS_ENCRYPT;
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 0, "%s", r.session.text);
	cr_assert(strncmp(r.session.text, "TLSA records: TLS required but "
	    "STARTTLS not offered", 50) == 0, "%s", r.session.text);
	HEARD_HASNT(&f, "MAIL");
	cr_assert_eq(r.tls.result, TLSRPT_STARTTLS_NOT_SUPPORTED);
}

/* --- failures of the connection ------------------------------------------- */

Test(client, server_that_never_answers)
{
	struct fake	 f = { .silent = true };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.timeout = 1;
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 0);
	cr_assert(strstr(r.session.text, "timed out after 1s") != NULL, "%s",
	    r.session.text);
	cr_assert(r.secs >= 0.9 && r.secs < 4.0, "%.2fs", r.secs);
	cr_assert_eq(r.rr[0].code, 0);
}

Test(client, connection_refused)
{
	static char *const one[] = { "r@example.net" };
	struct fake	 f = { 0 };
	struct run	 r;

	struct sockaddr_in sin;
	socklen_t	 len = sizeof(sin);
	int		 fd = socket(AF_INET, SOCK_STREAM, 0);

	/* A port that was free a moment ago, and nobody listens on. */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	f.port = ntohs(sin.sin_port);
	opts(&r, &f);
	send_body(&r, one, 1, "hi\r\n");
	cr_assert_eq(r.session.code, 0);
	cr_assert(strstr(r.session.text, "Connection refused") != NULL, "%s",
	    r.session.text);
	cr_assert_eq(r.rr[0].code, 0);
}

Test(client, reply_too_long_or_too_many_lines)
{
	static char	 longline[6000], many[600 * 8 + 16];
	struct fake	 f = { 0 };
	struct run	 r;
	size_t		 at = 0;

	memset(longline, 'x', sizeof(longline) - 1);
	memcpy(longline, "220 ", 4);
	f.greeting = longline;
	fake_start(&f);
	opts(&r, &f);
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 0);
	cr_assert(strstr(r.session.text, "reply line longer") != NULL, "%s",
	    r.session.text);

	for (int i = 0; i < 600; i++)
		at += (size_t)snprintf(many + at, sizeof(many) - at, "220-x\r\n");
	snprintf(many + at, sizeof(many) - at, "220 x");
	memset(&f, 0, sizeof(f));
	f.greeting = many;
	fake_start(&f);
	opts(&r, &f);
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 0);
	cr_assert(strstr(r.session.text, "more than 512 lines") != NULL,
	    "%s", r.session.text);
}

/* --- REQUIRETLS (RFC 8689) ------------------------------------------------ */

#define EHLO_RT		"250-fake\r\n250-REQUIRETLS\r\n250 STARTTLS"

/* A verified server that offers REQUIRETLS inside TLS: MAIL carries it. */
Test(client, requiretls_sent_to_a_verified_server_offering_it)
{
	struct fake	 f = { .ehlo = EHLO_TLS, .ehlo_tls = EHLO_RT,
	    .starttls = true };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.tls = CLIENT_TLS_REQUIRED;
	r.o.ca_file = certpath("c.pem");
	r.o.verify_name = CN;
	r.o.requiretls = true;
	deliver(&f, &r, "secret\r\n");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	HEARD_HAS(&f, "STARTTLS\r\nEHLO client.test\r\n"
	    "MAIL FROM:<s@example.org> REQUIRETLS\r\n");
	cr_assert(r.tls.requiretls);
	cr_assert_str_eq(f.body, "secret\r\n.\r\n");
}

/* Offered in clear only, not inside TLS: not offered (RFC 8689 4.2.1);
 * our own 550 5.7.30 before MAIL, not a server's. */
Test(client, requiretls_offered_only_in_clear_is_refused_by_us)
{
	struct fake	 f = { .ehlo = EHLO_RT, .ehlo_tls = EHLO_TLS,
	    .starttls = true };
	struct run	 r;
	char		 want[128];

	fake_start(&f);
	opts(&r, &f);
	r.o.tls = CLIENT_TLS_REQUIRED;
	r.o.ca_file = certpath("c.pem");
	r.o.verify_name = CN;
	r.o.requiretls = true;
	deliver(&f, &r, "secret\r\n");
	cr_assert_eq(r.session.code, 550);
	cr_assert(r.session.ours);
	snprintf(want, sizeof(want), "550 5.7.30 REQUIRETLS support "
	    "required, but was not offered by host 127.0.0.1:%u", f.port);
	cr_assert_str_eq(r.session.text, want);
	cr_assert_eq(r.rr[0].code, 550);
	cr_assert(r.rr[0].ours);
	cr_assert(f.tls_done);
	cr_assert_not(r.tls.requiretls);
	HEARD_HASNT(&f, "MAIL");
	cr_assert_eq(f.body_len, 0);
}

/* Opportunistic TLS, or none offered: never sent, whatever is offered. */
Test(client, requiretls_never_without_an_authenticated_tls_peer)
{
	static const struct {
		enum client_tls	 mode;
		bool		 starttls;
	} cases[] = {
		{ CLIENT_TLS_OPPORTUNISTIC, true },
		{ CLIENT_TLS_OPPORTUNISTIC, false },
		{ CLIENT_TLS_ENCRYPT, true },
		{ CLIENT_TLS_NONE, true },
	};
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake	 f = { .ehlo = cases[i].starttls ? EHLO_RT :
		    "250-fake\r\n250 REQUIRETLS", .starttls = cases[i].starttls };
		struct run	 r;

		fake_start(&f);
		opts(&r, &f);
		r.o.tls = cases[i].mode;
		r.o.requiretls = true;
		deliver(&f, &r, "secret\r\n");
		cr_assert_eq(r.session.code, 550, "%zu: %s", i,
		    r.session.text);
		cr_assert(r.session.ours);
		cr_assert(strncmp(r.session.text, "550 5.7.30 REQUIRETLS", 21)
		    == 0, "%s", r.session.text);
		HEARD_HASNT(&f, "MAIL");
		cr_assert_eq(f.body_len, 0);
	}
}

/* Without the flag nothing changes, REQUIRETLS offered or not. */
Test(client, no_requiretls_parameter_unless_asked)
{
	struct fake	 f = { .ehlo = EHLO_RT, .starttls = true };
	struct run	 r;

	fake_start(&f);
	opts(&r, &f);
	r.o.tls = CLIENT_TLS_OPPORTUNISTIC;
	deliver(&f, &r, "hi\r\n");
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	HEARD_HAS(&f, "MAIL FROM:<s@example.org>\r\n");
	cr_assert(r.tls.requiretls, "offered inside TLS, said so");
}

/* --- sessions kept for the next message ------------------------------------ */

static char *const reuse_one[] = { "r@example.net" };

/* reuse_run - r's options with a tls_out of its own, for a second
 * message of the same terms */
static void
reuse_run(struct run *to, const struct run *from)
{
	*to = *from;
	to->o.tls_out = &to->tls;
}

static void
reuse_off(void)
{
	smtp_client_reuse_close_all();
	smtp_client_reuse_limits(0, 0, 0, 1);
}

Test(client, a_kept_session_carries_the_next_message_inside_its_tls,
    .timeout = 30)
{
	struct fake	 f = { .ehlo = EHLO_TLS, .starttls = true };
	struct run	 r, r2;

	smtp_client_reuse_limits(4, 4, 30, 100);
	fake_start(&f);
	opts(&r, &f);
	r.o.tls = CLIENT_TLS_REQUIRED;
	r.o.ca_file = certpath("c.pem");
	r.o.verify_name = CN;
	r.o.reuse = true;
	send_body(&r, reuse_one, 1, "first\r\n");
	reuse_run(&r2, &r);
	send_body(&r2, reuse_one, 1, "second\r\n");
	reuse_off();		/* its QUIT ends the fake's session */
	fake_stop(&f);
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	cr_assert_eq(r2.session.code, 250, "%s", r2.session.text);
	/* one connection, one handshake, two transactions inside it */
	cr_assert_str_eq(f.heard, "EHLO client.test\r\nSTARTTLS\r\n"
	    "EHLO client.test\r\n"
	    "MAIL FROM:<s@example.org>\r\nRCPT TO:<r@example.net>\r\nDATA\r\n"
	    "MAIL FROM:<s@example.org>\r\nRCPT TO:<r@example.net>\r\nDATA\r\n"
	    "QUIT\r\n");
	cr_assert_str_eq(f.body, "first\r\n.\r\nsecond\r\n.\r\n");
	cr_assert_eq(f.conns, 1);
	/* the second message's log line says how the session was made */
	cr_assert_eq(r.tls.conn_use, 1);
	cr_assert_eq(r2.tls.conn_use, 2);
	cr_assert(r2.tls.used);
	cr_assert_str_eq(r2.tls.version, "TLSv1.3");
	cr_assert_str_eq(r2.tls.cipher, f.cipher);
	cr_assert_eq(r2.tls.auth, CLIENT_AUTH_CA);
	cr_assert_str_eq(r2.tls.peer_ip, "127.0.0.1");
}

Test(client, no_session_kept_past_the_limit, .timeout = 30)
{
	struct fake	 f = { 0 };
	struct run	 r;

	smtp_client_reuse_limits(4, 4, 30, 1);	/* one message each */
	fake_start(&f);
	opts(&r, &f);
	r.o.reuse = true;
	deliver(&f, &r, "only\r\n");	/* joins the fake: it had QUIT */
	reuse_off();
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	cr_assert_str_eq(f.heard, "EHLO client.test\r\n"
	    "MAIL FROM:<s@example.org>\r\nRCPT TO:<r@example.net>\r\nDATA\r\n"
	    "QUIT\r\n");
}

Test(client, a_session_closed_while_idle_is_not_used, .timeout = 30)
{
	struct fake	 f = { .again = 1, .hangup_after = true };
	struct run	 r, r2;

	smtp_client_reuse_limits(4, 4, 30, 100);
	fake_start(&f);
	opts(&r, &f);
	r.o.reuse = true;
	send_body(&r, reuse_one, 1, "first\r\n");
	while (!__atomic_load_n(&f.first_closed, __ATOMIC_SEQ_CST))
		usleep(1000);
	reuse_run(&r2, &r);
	send_body(&r2, reuse_one, 1, "second\r\n");
	reuse_off();
	fake_stop(&f);
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	cr_assert_eq(r2.session.code, 250, "%s", r2.session.text);
	cr_assert_eq(f.conns, 2);
	/* no MAIL into the closed one: it would have been heard there */
	cr_assert_eq(f.mails, 2, "%u MAILs, heard:\n%s", f.mails, f.heard);
	cr_assert_str_eq(f.body, "first\r\n.\r\nsecond\r\n.\r\n");
	cr_assert_eq(r2.tls.conn_use, 1);
}

Test(client, a_session_lost_at_mail_sends_it_over_a_new_one, .timeout = 30)
{
	struct fake	 f = { .again = 1, .hangup_mail = 2 };
	struct run	 r, r2;

	smtp_client_reuse_limits(4, 4, 30, 100);
	fake_start(&f);
	opts(&r, &f);
	r.o.reuse = true;
	send_body(&r, reuse_one, 1, "first\r\n");
	reuse_run(&r2, &r);
	send_body(&r2, reuse_one, 1, "second\r\n");
	reuse_off();
	fake_stop(&f);
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	/* the server hung up before a word to the second message: it was
	 * not delivered there, and goes again at once, not deferred */
	cr_assert_eq(r2.session.code, 250, "%s", r2.session.text);
	cr_assert_eq(r2.rr[0].code, 250, "%s", r2.rr[0].text);
	cr_assert_eq(f.conns, 2);
	cr_assert_eq(f.mails, 3);
	cr_assert_str_eq(f.body, "first\r\n.\r\nsecond\r\n.\r\n");
	cr_assert_eq(r2.tls.conn_use, 1);
}

Test(client, sessions_are_kept_for_their_exact_terms)
{
	static const unsigned char d1[] = { 1, 2, 3 }, d2[] = { 1, 2, 4 };
	struct client_tlsa t1 = { 3, 1, 1, d1, 3 }, t2 = { 3, 1, 1, d2, 3 };
	struct smtp_client_opts base, o;
	char	*k0, *k;
	size_t	 l0, l, i;

	memset(&base, 0, sizeof(base));
	base.host = "192.0.2.1";
	base.port = "25";
	base.helo = "client.test";
	base.tls = CLIENT_TLS_DANE;
	base.verify_name = "mx.example.net";
	base.tlsa = &t1;
	base.ntlsa = 1;
	base.auth_user = "u";
	base.auth_pass = "p";
	cr_assert_not_null(k0 = client_reuse_key(&base, &l0));
	/* the same terms: the same key */
	o = base;
	cr_assert_not_null(k = client_reuse_key(&o, &l));
	cr_assert(l == l0 && memcmp(k, k0, l) == 0);
	client_reuse_key_free(k, l);
	for (i = 0; i < 13; i++) {
		o = base;
		switch (i) {
		case 0: o.host = "192.0.2.2"; break;
		case 1: o.port = "587"; break;
		case 2: o.helo = "other.test"; break;
		case 3: o.tls = CLIENT_TLS_REQUIRED; break;
		case 4: o.ca_file = "/etc/ssl/x.pem"; break;
		case 5: o.verify_name = "mx2.example.net"; break;
		case 6: o.dane_mx_name = "mx.example.net"; break;
		case 7: o.auth_user = NULL; o.auth_pass = NULL; break;
		case 8: o.auth_pass = "q"; break;
		case 9: o.tlsa = &t2; break;
		case 10: o.ntlsa = 0; break;
		case 11: o.verify_report = true; break;
		case 12: o.reuse_tag = "example.org"; break;
		}
		cr_assert_not_null(k = client_reuse_key(&o, &l));
		cr_assert(l != l0 || memcmp(k, k0, l) != 0,
		    "change %zu gives the same key", i);
		client_reuse_key_free(k, l);
	}
	/* LMTP and unix sockets: never kept */
	o = base;
	o.lmtp = true;
	cr_assert_null(client_reuse_key(&o, &l));
	o = base;
	o.unix_path = "/run/x";
	cr_assert_null(client_reuse_key(&o, &l));
	client_reuse_key_free(k0, l0);
}

Test(client, a_421_to_the_first_mail_on_a_kept_session_is_no_deferral,
    .timeout = 30)
{
	struct fake	 f = { .again = 1, .idle421_mail = 2 };
	struct run	 r, r2;

	smtp_client_reuse_limits(4, 4, 30, 100);
	fake_start(&f);
	opts(&r, &f);
	r.o.reuse = true;
	send_body(&r, reuse_one, 1, "first\r\n");
	reuse_run(&r2, &r);
	send_body(&r2, reuse_one, 1, "second\r\n");
	reuse_off();
	fake_stop(&f);
	cr_assert_eq(r.session.code, 250, "%s", r.session.text);
	/* the server's idle timeout, said to the kept session's MAIL: the
	 * message goes over a new session at once */
	cr_assert_eq(r2.session.code, 250, "%s", r2.session.text);
	cr_assert_eq(f.conns, 2);
	cr_assert_eq(f.mails, 3);
	cr_assert_str_eq(f.body, "first\r\n.\r\nsecond\r\n.\r\n");
	cr_assert_eq(r2.tls.conn_use, 1);
}
