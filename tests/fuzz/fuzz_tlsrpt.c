/*
 * fuzz_tlsrpt - TLS-RPT's parsers and report: the _smtp._tls record
 * (a record that parses has at most TLSRPT_RUA_MAX URIs, each inside
 * the record, and reads the same twice; every mailto: address it
 * yields is plain), and the day file's line (any bytes as a line: one
 * that parses formats back to a line that parses to the same session;
 * its report is valid UTF-8 JSON with no raw control character).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlspol/tlsrpt_record.h"
#include "tlspol/tlsrpt_report.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_record(const uint8_t *data, size_t size)
{
	struct tlsrpt_record *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	char addr[TLSRPT_ADDR_MAX + 1];
	const char *why;
	size_t i, j;
	int ra, rb;

	ra = tlsrpt_record_parse((const char *)data, size, a, &why);
	rb = tlsrpt_record_parse((const char *)data, size, b, &why);
	if (ra != rb || a->nrua != b->nrua || a->nrua > TLSRPT_RUA_MAX)
		abort();
	for (i = 0; ra == 0 && i < a->nrua; i++) {
		if (a->rua[i] < a->text || a->rua[i] >= a->text + size ||
		    strcmp(a->rua[i], b->rua[i]) != 0)
			abort();
		if (tlsrpt_mailto(a->rua[i], addr, sizeof(addr)) == 0)
			for (j = 0; addr[j]; j++)
				if ((unsigned char)addr[j] <= 0x20 ||
				    (unsigned char)addr[j] >= 0x7f ||
				    strchr("<>,\"", addr[j]))
					abort();
	}
	free(a);
	free(b);
}

static void
same(const char *x, const char *y)
{
	if (strcmp(x ? x : "", y ? y : "") != 0)
		abort();
}

static void
check_json(const char *j, size_t len)
{
	size_t i;

	if (strlen(j) != len || len == 0 || j[len - 1] != '\n')
		abort();
	for (i = 0; i + 1 < len; i++)
		if ((unsigned char)j[i] < 0x20)
			abort();
}

static void
fuzz_line(const uint8_t *data, size_t size)
{
	static const struct tlsrpt_meta meta = { "org", "c@d.example", "id",
	    0, 86399 };
	char *line = malloc(size + 1), *again = malloc(TLSRPT_LINE_MAX), *json;
	struct tlsrpt_session s, t;
	struct tlsrpt_agg *agg;
	size_t n, i, len;

	memcpy(line, data, size);
	line[size] = '\0';
	if (tlsrpt_line_parse(line, &s) == 0) {
		n = tlsrpt_line_format(&s, again, TLSRPT_LINE_MAX);
		if (n == 0 || n > TLSRPT_LINE_MAX || again[n - 1] != '\n' ||
		    memchr(again, '\n', n - 1) != NULL)
			abort();
		again[n - 1] = '\0';
		if (tlsrpt_line_parse(again, &t) != 0 || t.when != s.when ||
		    t.policy != s.policy || t.result != s.result)
			abort();
		same(t.domain, s.domain);
		same(t.mx_host, s.mx_host);
		same(t.sending_ip, s.sending_ip);
		same(t.receiving_mx, s.receiving_mx);
		same(t.receiving_ip, s.receiving_ip);
		same(t.reason, s.reason);
		if (t.npstrings != s.npstrings)
			abort();
		for (i = 0; i < t.npstrings; i++)
			same(t.pstrings[i], s.pstrings[i]);
		if ((agg = tlsrpt_agg_new(4, 4, 4)) != NULL) {
			if (tlsrpt_agg_add(agg, &s) == 0 && tlsrpt_agg_add(agg,
			    &t) == 0 && (json = tlsrpt_report_json(agg, 0,
			    &meta, &len)) != NULL) {
				check_json(json, len);
				free(json);
			}
			tlsrpt_agg_free(agg);
		}
	}
	free(line);
	free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the first byte says which parser */
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_record(data + 1, size - 1);
	else
		fuzz_line(data + 1, size - 1);
	return 0;
}
