/*
 * fuzz_dns_rdata - TLSA and TXT record data, and the sets read from a
 * whole answer: any bytes as one record's data give a TLSA record whose
 * data lies inside them and whose presentation form reads back, a TXT
 * text no longer than its data; any bytes as a DNS message give sets
 * within their bounds, each record inside what came, and nothing
 * leaked (the sets are freed).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns_rdata.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* check_format - "U S M HEX" is the record, byte for byte */
static void
check_format(const struct dns_tlsa *t)
{
	static char	 buf[16 + 2 * 65536];
	unsigned	 u, s, m;
	int		 n = 0;
	size_t		 i;

	if (dns_tlsa_format(t, buf, sizeof(buf)) == -1)
		abort();	/* always fits: 3 numbers and 2 digits a byte */
	if (sscanf(buf, "%u %u %u %n", &u, &s, &m, &n) != 3 || n == 0 ||
	    u != t->usage || s != t->selector || m != t->mtype ||
	    strlen(buf + n) != 2 * t->len)
		abort();
	for (i = 0; i < t->len; i++) {
		unsigned b;

		if (sscanf(buf + n + 2 * i, "%2X", &b) != 1 || b != t->data[i])
			abort();
	}
	/* too small a buffer: -1 and an empty string, never a cut one */
	if (t->len > 0 && (dns_tlsa_format(t, buf, (size_t)n + 2 * t->len) !=
	    -1 || buf[0] != '\0'))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_tlsa		 t;
	struct dns_tlsa_set	 ts;
	struct dns_txt_set	 xs;
	char			*text;
	long			 n;
	size_t			 i;

	/* the bytes as one record's data */
	if (dns_tlsa_parse(data, size, &t) == 0) {
		if (size < 4 || t.data != data + 3 || t.len != size - 3 ||
		    t.usage != data[0] || t.selector != data[1] ||
		    t.mtype != data[2])
			abort();
		check_format(&t);
	} else if (size >= 4) {
		abort();
	}
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	n = dns_txt_join(data, size, text);
	if (n > (long)size || n < -1)
		abort();
	free(text);

	/* the bytes as a DNS message */
	if (dns_tlsa_set_read(data, size, &ts) == 0) {
		if (ts.n + ts.malformed > DNS_TLSA_MAX)
			abort();
		for (i = 0; i < ts.n; i++) {
			if (ts.v[i].len == 0 || ts.v[i].len > size)
				abort();
			check_format(&ts.v[i]);
		}
	} else if (ts.n != 0 || ts.v != NULL) {
		abort();	/* a failure leaves an empty set */
	}
	dns_tlsa_set_free(&ts);
	if (dns_txt_set_read(data, size, &xs) == 0) {
		if (xs.n > DNS_TXT_MAX)
			abort();
		for (i = 0; i < xs.n; i++)
			if (xs.v[i].len > size || xs.v[i].text[xs.v[i].len] !=
			    '\0')
				abort();
	}
	dns_txt_set_free(&xs);
	return 0;
}
