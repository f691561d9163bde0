/*
 * dkim-tool - drives the DKIM library (src/auth/dkim_*) from the
 * integration tests, the way the daemon will: the message streamed in
 * chunks of a chosen size, the keys looked up over real DNS (libresolv,
 * at the server -D names, else /etc/resolv.conf's) as soon as the header
 * is complete. Never installed.
 *
 *	dkim-tool sign [-c CHUNK] [-t NOW] [-x SECONDS] FILE DOMAIN SELECTOR KEY...
 *		prints the message with one DKIM-Signature per signer on top
 *	dkim-tool verify [-c CHUNK] [-t NOW] [-p] [-D IP[:PORT]] FILE
 *		prints one line per signature: dkim=RESULT header.d=...
 *		reason="..."; "dkim=none" when there is none
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/dkim_msg.h"
#include "auth/dkim_sign.h"
#include "auth/dkim_verify.h"
#include "lib/buf.h"

static size_t chunk = 65536;
static uint64_t now;

static void
usage(void)
{
	fprintf(stderr, "usage: dkim-tool sign [-c CHUNK] [-t NOW] [-x SECONDS] "
	    "FILE DOMAIN SELECTOR KEY...\n"
	    "       dkim-tool verify [-c CHUNK] [-t NOW] [-p] [-D IP[:PORT]] FILE\n");
	exit(2);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (data = malloc((size_t)n + 1)) == NULL ||
	    fread(data, 1, (size_t)n, f) != (size_t)n) {
		perror(path);
		exit(1);
	}
	fclose(f);
	*len = (size_t)n;
	return data;
}

static int
sign(int argc, char **argv, uint64_t expire)
{
	struct dkim_sign *s = dkim_sign_new(DKIM_MAX_HEADER, DKIM_MAX_FIELDS);
	struct buf out;
	size_t len, off;
	char *msg;
	int i;

	if (argc < 4 || (argc - 1) % 3 != 0)
		usage();
	msg = slurp(argv[0], &len);
	for (off = 0; off < len; off += chunk)
		if (dkim_sign_feed(s, msg + off, len - off < chunk ? len - off : chunk) == -1) {
			fprintf(stderr, "dkim-tool: the header is too large\n");
			return 1;
		}
	if (dkim_sign_end(s) == -1) {
		fprintf(stderr, "dkim-tool: the message cannot be signed\n");
		return 1;
	}
	buf_init(&out, 1 << 20);
	for (i = 1; i < argc; i += 3) {
		const char *err;
		size_t klen;
		char *pem = slurp(argv[i + 2], &klen);
		EVP_PKEY *key = dkim_key_from_pem(pem, klen, &err);
		struct dkim_signer *sg;

		if (key == NULL ||
		    (sg = dkim_signer_new(argv[i], argv[i + 1], key, &err)) == NULL) {
			fprintf(stderr, "dkim-tool: %s: %s\n", argv[i + 2], err);
			return 1;
		}
		if (dkim_sign_field(s, sg, now, expire, &out, &err) == -1) {
			fprintf(stderr, "dkim-tool: %s\n", err);
			return 1;
		}
		dkim_signer_free(sg);
		EVP_PKEY_free(key);
		free(pem);
	}
	fwrite(out.data, 1, out.len, stdout);
	fwrite(msg, 1, len, stdout);
	buf_free(&out);
	free(msg);
	dkim_sign_free(s);
	return 0;
}

/* lookup - the TXT records at name, each one's strings joined */
static void
lookup(struct __res_state *rs, struct dkim_verify *v, size_t i, const char *name)
{
	unsigned char ans[8192];
	char *recs[16];
	size_t lens[16], n = 0, k;
	ns_msg m;
	ns_rr rr;
	int len;

	len = res_nquery(rs, name, ns_c_in, ns_t_txt, ans, sizeof ans);
	if (len < 0) {
		if (rs->res_h_errno == HOST_NOT_FOUND)
			dkim_verify_answer(v, i, DKIM_DNS_NXDOMAIN, NULL, NULL, 0);
		else if (rs->res_h_errno == NO_DATA)
			dkim_verify_answer(v, i, DKIM_DNS_OK, NULL, NULL, 0);
		else
			dkim_verify_answer(v, i, DKIM_DNS_TEMPFAIL, NULL, NULL, 0);
		return;
	}
	if (ns_initparse(ans, len, &m) < 0) {
		dkim_verify_answer(v, i, DKIM_DNS_TEMPFAIL, NULL, NULL, 0);
		return;
	}
	for (k = 0; k < ns_msg_count(m, ns_s_an) && n < 16; k++) {
		const unsigned char *p, *end;

		if (ns_parserr(&m, ns_s_an, (int)k, &rr) < 0 || ns_rr_type(rr) != ns_t_txt)
			continue;
		p = ns_rr_rdata(rr);
		end = p + ns_rr_rdlen(rr);
		recs[n] = malloc(ns_rr_rdlen(rr) + 1);
		lens[n] = 0;
		while (p < end && p + 1 + *p <= end) {
			memcpy(recs[n] + lens[n], p + 1, *p);
			lens[n] += *p;
			p += 1 + *p;
		}
		n++;
	}
	dkim_verify_answer(v, i, DKIM_DNS_OK, (const char *const *)recs, lens, n);
	for (k = 0; k < n; k++)
		free(recs[k]);
}

static void
ask_all(struct __res_state *rs, struct dkim_verify *v)
{
	size_t i;
	const char *q;

	for (i = 0; i < dkim_verify_count(v); i++)
		if ((q = dkim_verify_query(v, i)) != NULL)
			lookup(rs, v, i, q);
}

static int
verify(int argc, char **argv, const char *server, int partial)
{
	struct dkim_verify_opts o;
	struct dkim_verify *v;
	struct __res_state rs;
	size_t len, off, i;
	int asked = 0;
	char *msg;

	if (argc != 1)
		usage();
	memset(&rs, 0, sizeof rs);
	if (res_ninit(&rs) != 0) {
		fprintf(stderr, "dkim-tool: res_ninit failed\n");
		return 1;
	}
	if (server != NULL) {
		char ip[64];
		const char *colon = strrchr(server, ':');
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(53) };

		snprintf(ip, sizeof ip, "%.*s", colon ? (int)(colon - server) : 63, server);
		if (colon)
			sin.sin_port = htons((unsigned short)atoi(colon + 1));
		if (inet_pton(AF_INET, ip, &sin.sin_addr) != 1)
			usage();
		rs.nsaddr_list[0] = sin;
		rs.nscount = 1;
	}
	msg = slurp(argv[0], &len);
	dkim_verify_defaults(&o, now);
	o.partial_body_policy = partial;
	v = dkim_verify_new(&o);
	for (off = 0; off < len; off += chunk) {
		if (dkim_verify_feed(v, msg + off, len - off < chunk ? len - off : chunk) == -1) {
			printf("dkim=neutral reason=\"header too large to check\"\n");
			return 0;
		}
		/* as the daemon will: the keys are asked for while the body streams */
		if (!asked && dkim_verify_header_done(v)) {
			ask_all(&rs, v);
			asked = 1;
		}
	}
	if (dkim_verify_end(v) == -1) {
		printf("dkim=neutral reason=\"header too large to check\"\n");
		return 0;
	}
	if (!asked)
		ask_all(&rs, v);
	if (!dkim_verify_done(v)) {
		fprintf(stderr, "dkim-tool: a result is still pending\n");
		return 1;
	}
	if (dkim_verify_count(v) == 0)
		printf("dkim=none\n");
	for (i = 0; i < dkim_verify_count(v); i++) {
		const struct dkim_result *r = dkim_verify_result(v, i);

		printf("dkim=%s header.d=%s header.s=%s header.a=%s header.b=%s",
		    dkim_status_name(r->status), r->domain, r->selector, r->alg,
		    r->b_prefix);
		if (r->identity[0])
			printf(" header.i=%s", r->identity);
		if (r->key_bits)
			printf(" bits=%u", r->key_bits);
		if (r->testing)
			printf(" testing=y");
		if (r->has_length)
			printf(" l=%llu body=%llu", (unsigned long long)r->length,
			    (unsigned long long)r->body_length);
		printf(" reason=\"%s\"\n", r->reason);
	}
	dkim_verify_free(v);
	res_nclose(&rs);
	free(msg);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *server = NULL, *mode;
	uint64_t expire = 0;
	int c, partial = 0;

	if (argc < 2)
		usage();
	mode = argv[1];
	argv++;
	argc--;
	now = (uint64_t)time(NULL);
	while ((c = getopt(argc, argv, "c:t:x:pD:")) != -1) {
		switch (c) {
		case 'c':	chunk = strtoul(optarg, NULL, 10); break;
		case 't':	now = strtoull(optarg, NULL, 10); break;
		case 'x':	expire = strtoull(optarg, NULL, 10); break;
		case 'p':	partial = 1; break;
		case 'D':	server = optarg; break;
		default:	usage();
		}
	}
	if (chunk == 0)
		usage();
	if (strcmp(mode, "sign") == 0)
		return sign(argc - optind, argv + optind, expire);
	if (strcmp(mode, "verify") == 0)
		return verify(argc - optind, argv + optind, server, partial);
	usage();
	return 2;
}
