/*
 * base64 - RFC 4648 base64 for SMTP AUTH exchanges (RFC 4954).
 */
#ifndef SALLYPORT_BASE64_H
#define SALLYPORT_BASE64_H

#include <stddef.h>

/* Room needed to encode n bytes, NUL included. */
#define BASE64_ENCODED_LEN(n)	((((n) + 2) / 3) * 4 + 1)

/* Encode; out must hold BASE64_ENCODED_LEN(len). Returns the length. */
size_t	base64_encode(const void *in, size_t len, char *out);
/* Decode strictly: only the alphabet, padding only at the end, length a
 * multiple of 4, no blanks. Returns the decoded length, or -1. out must
 * hold len / 4 * 3 bytes. */
long	base64_decode(const char *in, size_t len, void *out);

#endif
