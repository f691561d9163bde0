/*
 * test_mime8 - 8-bit MIME made 7-bit: what a next hop without 8BITMIME
 * gets. Each message goes through the scan and the conversion whole and
 * byte by byte (the same output either way), the output is checked to
 * be 7-bit with encoded lines of at most 76 octets, and quoted-printable
 * bodies are decoded again and compared with what was sent.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mime8.h"

struct sink {
	char	*data;
	size_t	 len, cap;
};

static int
emit(void *ctx, const char *p, size_t n)
{
	struct sink *s = ctx;

	if (s->len + n + 1 > s->cap) {
		s->cap = (s->len + n + 1) * 2;
		cr_assert_not_null(s->data = realloc(s->data, s->cap));
	}
	memcpy(s->data + s->len, p, n);
	s->len += n;
	s->data[s->len] = '\0';
	return 0;
}

static struct mime8 m;

/* run - scan and convert `in`, `step` octets at a time (0: at once);
 * the output, or NULL when the scan says it cannot be converted */
static char *
run(const char *in, size_t n, size_t step)
{
	struct sink s = { NULL, 0, 0 };
	size_t i, k;

	emit(&s, "", 0);
	mime8_init(&m);
	for (i = 0; i < n; i += k) {
		k = step && n - i > step ? step : n - i;
		cr_assert_eq(mime8_feed(&m, in + i, k), 0);
	}
	cr_assert_eq(mime8_end(&m), 0);
	if (m.error) {
		free(s.data);
		return NULL;
	}
	{
		bool h = m.head8, b = m.body8;

		mime8_encode(&m, emit, &s);
		for (i = 0; i < n; i += k) {
			k = step && n - i > step ? step : n - i;
			cr_assert_eq(mime8_feed(&m, in + i, k), 0);
		}
		cr_assert_eq(mime8_end(&m), 0);
		cr_assert_null(m.error);
		cr_assert_eq(m.head8, h);
		cr_assert_eq(m.body8, b);
	}
	return s.data;
}

/* convert - run at once and byte by byte; both must agree and give
 * 7-bit output with lines of at most 998 octets */
static char *
convert(const char *in)
{
	char *whole = run(in, strlen(in), 0), *bytes, *p, *nl;
	bool h = m.head8, b = m.body8;
	const char *e = m.error;

	bytes = run(in, strlen(in), 1);
	cr_assert_eq(m.head8, h);
	cr_assert_eq(m.body8, b);
	cr_assert_eq(m.error, e);
	if (whole == NULL) {
		cr_assert_null(bytes);
		return NULL;
	}
	cr_assert_str_eq(whole, bytes, "split input gives another output");
	free(bytes);
	for (p = whole; *p; p++)
		cr_assert_lt((unsigned char)*p, 0x80, "8-bit output: %s", whole);
	for (p = whole; (nl = strstr(p, "\r\n")) != NULL; p = nl + 2)
		cr_assert_leq(nl - p, 998);
	return whole;
}

/* qp_decode - RFC 2045 6.7 back to octets, for the round trips */
static char *
qp_decode(const char *p, const char *end)
{
	static char out[1 << 16];
	size_t n = 0;

	while (p < end) {
		if (p[0] == '=' && p + 2 < end + 1 && p[1] == '\r' && p[2] == '\n') {
			p += 3;
		} else if (p[0] == '=') {
			unsigned v;

			cr_assert(sscanf(p + 1, "%2X", &v) == 1, "bad escape %.3s", p);
			out[n++] = (char)v;
			p += 3;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	return out;
}

/* every encoded line is at most 76 octets, soft break included */
static void
qp_lines_short(const char *p)
{
	const char *nl;

	for (; (nl = strstr(p, "\r\n")) != NULL; p = nl + 2)
		cr_assert_leq(nl - p, 76, "QP line of %d: %.80s", (int)(nl - p), p);
}

Test(mime8, plain_text_without_mime_headers)
{
	static const char in[] = "From: a@example.org\r\nSubject: caf\xc3\xa9?\r\n"
	    "\r\nJ\xc3\xb6rg says gr\xc3\xbc\xc3\x9f" "e\r\n";
	char *o;

	/* a Content-Transfer-Encoding is MIME only with a MIME-Version:
	 * the header gets both (as sendmail's mime8to7 does) */
	o = convert("Subject: hi\r\n\r\nJ\xc3\xb6rg = 1 \r\n");
	cr_assert_str_eq(o, "Subject: hi\r\nMIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "J=C3=B6rg =3D 1=20\r\n");
	cr_assert_not(m.head8);
	cr_assert(m.body8);
	free(o);
	/* 8-bit octets in a header cannot be converted */
	cr_assert_null(convert(in));
	cr_assert(m.head8);
	cr_assert_str_eq(m.error, "8-bit octets in a header");
}

Test(mime8, seven_bit_message_is_left_alone)
{
	static const char in[] = "Subject: hi\r\nContent-Type: text/plain\r\n"
	    "\r\nline = 1 \r\n.dot\r\n";
	char *o = convert(in);

	cr_assert_str_eq(o, in);
	cr_assert_not(m.head8);
	cr_assert_not(m.body8);
	free(o);
}

Test(mime8, eight_bit_label_becomes_quoted_printable)
{
	char *o = convert("MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "Content-Type: text/plain;\r\n\tcharset=utf-8\r\n"
	    "Subject: x\r\n\r\nt\xc3\xa4st\r\n\tend\t\r\n");

	cr_assert_str_eq(o, "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain;\r\n\tcharset=utf-8\r\n"
	    "Subject: x\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "t=C3=A4st\r\n\tend=09\r\n");
	free(o);
	/* labelled 8bit but 7-bit after all: still relabelled, as Postfix */
	o = convert("Content-Transfer-Encoding: 8BIT\r\n\r\nplain\r\n");
	cr_assert_str_eq(o, "MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\nplain\r\n");
	free(o);
}

Test(mime8, long_lines_get_soft_breaks_and_decode_back)
{
	char in[8192], body[4096], *o, *b;
	size_t i;

	for (i = 0; i < 3000; i++)
		body[i] = i % 7 == 0 ? '\xe9' : i % 11 == 0 ? ' ' :
		    i % 13 == 0 ? '=' : i % 17 == 0 ? '-' : 'a' + (char)(i % 26);
	body[i] = '\0';
	snprintf(in, sizeof(in), "Content-Type: text/plain; charset=latin1\r\n"
	    "Content-Transfer-Encoding: binary\r\n\r\n%s\r\nshort \r\n", body);
	o = convert(in);
	b = strstr(o, "\r\n\r\n") + 4;
	qp_lines_short(b);
	cr_assert_eq(strstr(b, "\r\n-"), NULL, "a soft-broken line opens with -");
	strcat(body, "\r\nshort \r\n");
	cr_assert_str_eq(qp_decode(b, b + strlen(b)), body);
	free(o);
}

Test(mime8, multipart_parts_each_as_needed)
{
	static const char in[] =
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"=_b (x)\"\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "preamble\r\n"
	    "--=_b (x)\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "gr\xc3\xbc\xc3\x9f" "e\r\n"
	    "--=_b (x)\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n"
	    "AAEC\r\n"
	    "--=_b (x)\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "seven bit = fine\r\n"
	    "--=_b (x)\r\n"
	    "\r\n"
	    "unlabelled but 8-bit: \xe9t\xe9\r\n"
	    "--=_b (x)--  \r\n"
	    "epilogue\r\n";
	char *o = convert(in);

	cr_assert_str_eq(o,
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"=_b (x)\"\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n"
	    "\r\n"
	    "preamble\r\n"
	    "--=_b (x)\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "gr=C3=BC=C3=9Fe\r\n"
	    "--=_b (x)\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n"
	    "AAEC\r\n"
	    "--=_b (x)\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "seven bit = fine\r\n"
	    "--=_b (x)\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "unlabelled but 8-bit: =E9t=E9\r\n"
	    "--=_b (x)--  \r\n"
	    "epilogue\r\n");
	free(o);
}

Test(mime8, nested_multipart_and_message_rfc822)
{
	static const char in[] =
	    "Content-Type: multipart/mixed; boundary=outer\r\n\r\n"
	    "--outer\r\n"
	    "Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
	    "--inner\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n"
	    "\xc3\xa9\r\n"
	    "--outer\r\n"		/* the outer one ends the inner too */
	    "Content-Type: message/rfc822\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n"
	    "Subject: inner message\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n"
	    "\xc3\xa8\r\n"
	    "--outer--\r\n";
	char *o = convert(in);

	cr_assert_str_eq(o,
	    "Content-Type: multipart/mixed; boundary=outer\r\n\r\n"
	    "--outer\r\n"
	    "Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
	    "--inner\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "=C3=A9\r\n"
	    "--outer\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n"
	    "Subject: inner message\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "=C3=A8\r\n"
	    "--outer--\r\n");
	free(o);
}

Test(mime8, what_cannot_be_converted)
{
	static const struct {
		const char *in, *why;
	} bad[] = {
		{ "Subject: \xc3\xa9\r\n\r\nx\r\n", "8-bit octets in a header" },
		{ "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
		  "Subject: \xc3\xa9\r\n\r\nx\r\n--b--\r\n",
		  "8-bit octets in a header" },
		{ "Content-Transfer-Encoding: base64\r\n\r\n\xc3\xa9\r\n",
		  "8-bit octets in a part that must be 7-bit" },
		{ "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		  "pre \xc3\xa9\r\n--b\r\n\r\nx\r\n--b--\r\n",
		  "8-bit octets outside every MIME part" },
		{ "Content-Type: message/partial; id=1\r\n\r\n\xc3\xa9\r\n",
		  "8-bit octets in a part that must be 7-bit" },
		{ "Content-Type: multipart/mixed\r\n\r\n\xc3\xa9\r\n",
		  "8-bit octets in a part that must be 7-bit" },
		{ "Content-Type: text/plain\r\nContent-Type: text/html\r\n\r\n"
		  "\xc3\xa9\r\n", "a repeated Content-Type or "
		  "Content-Transfer-Encoding" },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_null(convert(bad[i].in), "%zu converted", i);
		cr_assert_str_eq(m.error, bad[i].why, "%zu", i);
	}
}

Test(mime8, bounded_whatever_the_input)
{
	char *in = malloc(200000), *o;
	size_t n = 0, i;

	/* a header line longer than the line buffer */
	n = (size_t)sprintf(in, "X-Long: ");
	memset(in + n, 'a', 5000);
	n += 5000;
	n += (size_t)sprintf(in + n, "\r\n\r\n\xc3\xa9\r\n");
	in[n] = '\0';
	cr_assert_null(convert(in));
	cr_assert_str_eq(m.error, "a header line too long to convert");

	/* multiparts nested past the limit */
	for (n = 0, i = 0; i < MIME8_DEPTH_MAX + 1; i++)
		n += (size_t)sprintf(in + n, "Content-Type: multipart/mixed; "
		    "boundary=b%zu\r\n\r\n--b%zu\r\n", i, i);
	n += (size_t)sprintf(in + n, "\r\n\xc3\xa9\r\n");
	cr_assert_null(convert(in));
	cr_assert_str_eq(m.error, "MIME parts nested too deeply to convert");

	/* a body line far longer than the line buffer: fine */
	n = (size_t)sprintf(in, "Subject: x\r\n\r\n");
	for (i = 0; i < 100000; i++)
		in[n++] = i % 3 ? 'x' : '\xe9';
	n += (size_t)sprintf(in + n, "\r\nend");
	o = convert(in);
	qp_lines_short(strstr(o, "\r\n\r\n") + 4);
	cr_assert(strstr(o, "\r\nend\r\n") != NULL, "the last line, ended");
	free(o);
	free(in);
}

Test(mime8, a_delivery_report_is_converted_like_text)
{
	char *o = convert("Content-Type: multipart/report; report-type="
	    "delivery-status; boundary=r\r\nContent-Transfer-Encoding: 8bit"
	    "\r\n\r\n--r\r\nContent-Type: message/delivery-status\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n"
	    "Final-Recipient: rfc822; j\xc3\xb6rg@example.net\r\n--r--\r\n");

	cr_assert_str_eq(o, "Content-Type: multipart/report; report-type="
	    "delivery-status; boundary=r\r\nMIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: 7bit"
	    "\r\n\r\n--r\r\nContent-Type: message/delivery-status\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "Final-Recipient: rfc822; j=C3=B6rg@example.net\r\n--r--\r\n");
	free(o);
}

Test(mime8, digest_parts_are_messages)
{
	char *o = convert("Content-Type: multipart/digest; boundary=d\r\n\r\n"
	    "--d\r\n\r\n"
	    "Subject: one\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\xc3\xa9\r\n"
	    "--d--\r\n");

	cr_assert_str_eq(o, "Content-Type: multipart/digest; boundary=d\r\n\r\n"
	    "--d\r\n\r\n"
	    "Subject: one\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n=C3=A9\r\n"
	    "--d--\r\n");
	free(o);
}

Test(mime8, header_only_and_bare_lf_input)
{
	char *o = convert("Subject: x\nContent-Transfer-Encoding: 7bit");

	cr_assert_str_eq(o, "Subject: x\r\nContent-Transfer-Encoding: 7bit\r\n");
	free(o);
	/* a body that starts without its empty line gets one */
	o = convert("Subject: x\r\nno colon \xc3\xa9 here\r\n");
	cr_assert_str_eq(o, "Subject: x\r\nMIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "no colon =C3=A9 here\r\n");
	free(o);
}

/* RFC 5322 4.5.3's obsolete "Name : value" is a header field (Postfix's
 * is_header takes it so): the fields after it stay header, and 8-bit
 * octets in them are still seen as 8-bit octets in a header */
Test(mime8, blanks_before_the_colon_are_still_a_field)
{
	static const char in[] = "MIME-Version: 1.0\r\nSubject: x\r\n"
	    "X-Obs : y\r\nTo: a@example.org\r\nContent-Type\t: multipart/mixed;"
	    " boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
	    "\xc3\xa9t\xc3\xa9\r\n--b--\r\n";
	char *o = convert(in);

	cr_assert_str_eq(o, "MIME-Version: 1.0\r\nSubject: x\r\n"
	    "X-Obs : y\r\nTo: a@example.org\r\nContent-Type\t: multipart/mixed;"
	    " boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "=C3=A9t=C3=A9\r\n--b--\r\n");
	cr_assert_not(m.head8);
	cr_assert(m.body8);
	free(o);
	cr_assert_null(convert("Subject: x\r\nX-Obs  \t: y\r\n"
	    "Subject: caf\xc3\xa9\r\n\r\nbody\r\n"));
	cr_assert(m.head8);
	cr_assert_str_eq(m.error, "8-bit octets in a header");
	/* no name, or blanks inside a name: no field, the body started */
	o = convert("Subject: x\r\n: y\r\n");
	cr_assert_str_eq(o, "Subject: x\r\n\r\n: y\r\n");
	free(o);
	o = convert("Subject: x\r\nNo field: \xc3\xa9\r\n");
	cr_assert_str_eq(o, "Subject: x\r\nMIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "No field: =C3=A9\r\n");
	free(o);
}

/* A header that has a MIME-Version (any case, blanks before the colon)
 * does not get a second one, nor does a 7-bit message get one */
Test(mime8, mime_version_added_once_where_missing)
{
	char *o = convert("Subject: x\r\nmime-version : 1.0\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9\r\n");

	cr_assert_str_eq(o, "Subject: x\r\nmime-version : 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "caf=C3=A9\r\n");
	free(o);
	/* a 7-bit message gains nothing */
	o = convert("Subject: x\r\n\r\ncafe\r\n");
	cr_assert_str_eq(o, "Subject: x\r\n\r\ncafe\r\n");
	free(o);
}
