/*
 * fuzz_dkim_verify - a whole message through the verifier (header
 * collection, every DKIM-Signature parsed, header and body hashes, the
 * key answers): fed at once and in pieces whose length byte 0 picks, the
 * two give the same signatures with the same results, and every result
 * is final once the keys are answered. The keys are the RFC 8463 ones;
 * any query answers the Ed25519 key, then the RSA key, then NXDOMAIN,
 * then a temporary failure, in turn.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dkim_verify.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const records[] = {
	"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
	"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6"
	"NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/"
	"e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTI"
	"KT+l/K4w3QIDAQAB",
};

static struct dkim_verify *
run(const char *in, size_t len, size_t step)
{
	struct dkim_verify_opts o;
	struct dkim_verify *v;
	size_t off = 0, k, i;

	dkim_verify_defaults(&o, 1600000000);
	o.max_header = 16384;
	o.max_fields = 64;
	if ((v = dkim_verify_new(&o)) == NULL)
		abort();
	while (off < len) {
		k = step == 0 || step > len - off ? len - off : step;
		if (dkim_verify_feed(v, in + off, k) != 0)
			return v;
		off += k;
	}
	if (dkim_verify_end(v) != 0)
		return v;
	for (i = 0; i < dkim_verify_count(v); i++) {
		if (dkim_verify_query(v, i) == NULL)
			continue;
		if (i % 4 < 2) {
			const char *rec = records[i % 4];
			size_t rl = strlen(rec);

			dkim_verify_answer(v, i, DKIM_DNS_OK, &rec, &rl, 1);
		} else {
			dkim_verify_answer(v, i, i % 4 == 2 ? DKIM_DNS_NXDOMAIN :
			    DKIM_DNS_TEMPFAIL, NULL, NULL, 0);
		}
	}
	if (!dkim_verify_done(v))
		abort();
	return v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data + (size ? 1 : 0);
	size_t len = size ? size - 1 : 0, i;
	struct dkim_verify *a = run(in, len, 0);
	struct dkim_verify *b = run(in, len, size ? (size_t)data[0] % 31 + 1 : 1);

	if (dkim_verify_done(a) != dkim_verify_done(b) ||
	    dkim_verify_count(a) != dkim_verify_count(b))
		abort();
	for (i = 0; i < dkim_verify_count(a); i++) {
		const struct dkim_result *ra = dkim_verify_result(a, i);
		const struct dkim_result *rb = dkim_verify_result(b, i);

		if (ra->status != rb->status || strcmp(ra->reason, rb->reason) != 0 ||
		    strcmp(ra->domain, rb->domain) != 0)
			abort();
	}
	dkim_verify_free(a);
	dkim_verify_free(b);
	return 0;
}
