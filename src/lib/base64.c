/*
 * base64 - strict RFC 4648 encoding and decoding.
 */
#include <stdint.h>

#include "lib/base64.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
base64_encode(const void *in, size_t len, char *out)
{
	const unsigned char *p = in;
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/* value - the 6-bit value of a base64 character, or -1 */
static int
value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
base64_decode(const char *in, size_t len, void *out)
{
	unsigned char *o = out;
	size_t i, n = 0;

	if (len % 4 != 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		int a = value((unsigned char)in[i]);
		int b = value((unsigned char)in[i + 1]);
		int c = value((unsigned char)in[i + 2]);
		int d = value((unsigned char)in[i + 3]);
		if (a < 0 || b < 0)
			return -1;
		if (i + 4 == len && in[i + 3] == '=') {
			/* "xx==" or "xxx=": only in the last group */
			if (in[i + 2] == '=') {
				if ((b & 15) != 0)
					return -1;
				o[n++] = (unsigned char)(a << 2 | b >> 4);
				return (long)n;
			}
			if (c < 0 || (c & 3) != 0)
				return -1;
			o[n++] = (unsigned char)(a << 2 | b >> 4);
			o[n++] = (unsigned char)((b & 15) << 4 | c >> 2);
			return (long)n;
		}
		if (c < 0 || d < 0)
			return -1;
		o[n++] = (unsigned char)(a << 2 | b >> 4);
		o[n++] = (unsigned char)((b & 15) << 4 | c >> 2);
		o[n++] = (unsigned char)((c & 3) << 6 | d);
	}
	return (long)n;
}
