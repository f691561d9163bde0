/*
 * dns_rdata - TLSA and TXT record data, read strictly.
 *
 * The records come from dns_answer_each, which has checked each
 * record's length against the message; here each field is checked
 * against the record. A set holds copies, so that it outlives the
 * message it was read from.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns_answer.h"
#include "dns/dns_rdata.h"

#define TLSA_FIXED	3	/* usage, selector, matching type */

int
dns_tlsa_parse(const unsigned char *rdata, size_t len, struct dns_tlsa *out)
{
	memset(out, 0, sizeof(*out));
	if (rdata == NULL || len < TLSA_FIXED + 1)
		return -1;
	out->usage = rdata[0];
	out->selector = rdata[1];
	out->mtype = rdata[2];
	out->data = (unsigned char *)(uintptr_t)(rdata + TLSA_FIXED);
	out->len = len - TLSA_FIXED;
	return 0;
}

int
dns_tlsa_format(const struct dns_tlsa *t, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	int	 n;
	size_t	 pos, i;

	if (outlen == 0)
		return -1;
	n = snprintf(out, outlen, "%u %u %u ", t->usage, t->selector,
	    t->mtype);
	/* two digits a byte, then the NUL */
	if (n < 0 || (size_t)n >= outlen || t->len > (outlen - (size_t)n -
	    1) / 2) {
		out[0] = '\0';
		return -1;
	}
	pos = (size_t)n;
	for (i = 0; i < t->len; i++) {
		out[pos++] = hex[t->data[i] >> 4];
		out[pos++] = hex[t->data[i] & 0xf];
	}
	out[pos] = '\0';
	return 0;
}

long
dns_txt_join(const unsigned char *rdata, size_t len, char *out)
{
	size_t	 pos = 0, o = 0, n;

	while (pos < len) {
		n = rdata[pos++];
		if (n > len - pos)
			return -1;
		memcpy(out + o, rdata + pos, n);
		o += n;
		pos += n;
	}
	return (long)o;
}

/* --- sets ----------------------------------------------------------------- */

struct rdata_ctx {
	struct dns_tlsa_set	*tlsa;
	struct dns_txt_set	*txt;
	int			 err;
};

static void
tlsa_add(void *arg, unsigned type, const void *data, size_t len)
{
	struct rdata_ctx	*c = arg;
	struct dns_tlsa_set	*s = c->tlsa;
	struct dns_tlsa		 t;

	(void)type;
	if (c->err || s->n + s->malformed >= DNS_TLSA_MAX)
		return;
	if (dns_tlsa_parse(data, len, &t) == -1) {
		s->malformed++;
		return;
	}
	if ((s->v[s->n].data = malloc(t.len)) == NULL) {
		c->err = 1;
		return;
	}
	memcpy(s->v[s->n].data, t.data, t.len);
	s->v[s->n].usage = t.usage;
	s->v[s->n].selector = t.selector;
	s->v[s->n].mtype = t.mtype;
	s->v[s->n].len = t.len;
	s->n++;
}

int
dns_tlsa_set_read(const unsigned char *msg, size_t len,
    struct dns_tlsa_set *s)
{
	struct rdata_ctx c = { s, NULL, 0 };

	memset(s, 0, sizeof(*s));
	if ((s->v = calloc(DNS_TLSA_MAX, sizeof(*s->v))) == NULL)
		return -1;
	if (dns_answer_each(msg, len, DNS_TYPE_TLSA, tlsa_add, &c) == -1 ||
	    c.err) {
		dns_tlsa_set_free(s);
		return -1;
	}
	return 0;
}

void
dns_tlsa_set_free(struct dns_tlsa_set *s)
{
	for (size_t i = 0; s->v != NULL && i < s->n; i++)
		free(s->v[i].data);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static void
txt_add(void *arg, unsigned type, const void *data, size_t len)
{
	struct rdata_ctx	*c = arg;
	struct dns_txt_set	*s = c->txt;
	char			*text;
	long			 n;

	(void)type;
	if (c->err || s->n >= DNS_TXT_MAX)
		return;
	/* The joined text is never longer than the data. */
	if ((text = malloc(len + 1)) == NULL) {
		c->err = 1;
		return;
	}
	if ((n = dns_txt_join(data, len, text)) < 0) {
		free(text);
		c->err = 1;	/* a record that lies: the answer is broken */
		return;
	}
	text[n] = '\0';
	s->v[s->n].text = text;
	s->v[s->n].len = (size_t)n;
	s->n++;
}

int
dns_txt_set_read(const unsigned char *msg, size_t len, struct dns_txt_set *s)
{
	struct rdata_ctx c = { NULL, s, 0 };

	memset(s, 0, sizeof(*s));
	if ((s->v = calloc(DNS_TXT_MAX, sizeof(*s->v))) == NULL)
		return -1;
	if (dns_answer_each(msg, len, DNS_TYPE_TXT, txt_add, &c) == -1 ||
	    c.err) {
		dns_txt_set_free(s);
		return -1;
	}
	return 0;
}

void
dns_txt_set_free(struct dns_txt_set *s)
{
	for (size_t i = 0; s->v != NULL && i < s->n; i++)
		free(s->v[i].text);
	free(s->v);
	memset(s, 0, sizeof(*s));
}
