/*
 * spf_answer - DNS answers fed to an SPF check, folded as they come
 * into what the waiting step needs: the one SPF record of a TXT answer
 * (other TXT records dropped, a second one counted), the one TXT of an
 * exp=, whether an address matches, the names of an MX or PTR answer up
 * to their limit. Nothing else of an answer is kept, so its size does
 * not matter.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "auth/spf_int.h"


/* printable - a name as text: visible ASCII only (c-ares writes other
 * bytes as \DDD; another caller may not) */
static bool
printable(const unsigned char *d, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (d[i] < 0x21 || d[i] > 0x7e)
			return false;
	return true;
}

/* txt - the TXT RDATA's strings, joined, into s->rec when it is the
 * record or explanation looked for */
static void
txt(struct spf *s, const unsigned char *d, size_t len)
{
	char	 head[8];
	size_t	 total = 0, n = 0, i;

	/* Character-strings, each after its length; a string running
	 * past the end makes the record unreadable: ignored. */
	for (i = 0; i < len; i += 1 + d[i])
		if (i + 1 + d[i] > len)
			return;
	for (i = 0; i < len; i += 1 + d[i]) {
		for (size_t k = 0; k < d[i] && n < sizeof(head) - 1; k++)
			head[n++] = (char)d[i + 1 + k];
		total += d[i];
	}
	head[n] = '\0';
	if (s->fold == FOLD_RECORD && spf_record_version(head, n) == 0)
		return;		/* some other TXT record */
	s->count++;
	s->nspf++;
	if (s->rec != NULL)
		return;		/* only one is used: the first */
	if (total > (s->fold == FOLD_RECORD ? s->lim.record_max :
	    SPF_EXPAND_MAX - 1)) {
		s->too_long = true;
		return;
	}
	if ((s->rec = malloc(total + 1)) == NULL) {
		s->too_long = true;
		return;
	}
	s->reclen = 0;
	for (i = 0; i < len; i += 1 + d[i]) {
		memcpy(s->rec + s->reclen, d + i + 1, d[i]);
		s->reclen += d[i];
	}
	s->rec[s->reclen] = '\0';
}

void
spf_answer_rr(struct spf *s, unsigned type, const void *data, size_t len)
{
	const unsigned char *d = data;

	if (s->step != ST_WAIT || type != s->qtype)
		return;
	switch (s->fold) {
	case FOLD_RECORD:
	case FOLD_EXP:
		txt(s, d, len);
		if (s->fold == FOLD_EXP)
			s->count = s->nspf;
		return;
	case FOLD_ADDR:
		if (len != (type == SPF_TYPE_A ? 4u : 16u))
			return;
		s->count++;
		if (s->qtype == spf_addr_type(s)) {
			unsigned prefix = s->family == AF_INET ?
			    s->term.cidr4 : s->term.cidr6;

			/* Validating PTR names: the whole address. */
			if (s->after == ST_PV_ADDR_DONE)
				prefix = s->family == AF_INET ? 32 : 128;
			if (spf_in_net(s, d, prefix))
				s->match = true;
		}
		return;
	case FOLD_MX:
	case FOLD_PTR: {
		unsigned	 max = s->fold == FOLD_MX ? s->lim.mx_names :
				    s->lim.ptr_names;
		unsigned	*n = s->fold == FOLD_MX ? &s->nmx : &s->npv;
		char		(*names)[NAME_SIZE] = s->fold == FOLD_MX ?
				    s->mx : s->pv;

		s->count++;
		/* A null MX (RFC 7505) names no host. */
		if (len == 0 || (len == 1 && d[0] == '.'))
			return;
		if (*n >= max || len >= NAME_SIZE || !printable(d, len))
			return;		/* beyond the limit, or no name */
		memcpy(names[*n], d, len);
		names[*n][len] = '\0';
		(*n)++;
		return;
	}
	}
}

void
spf_answer_end(struct spf *s, enum spf_dns rcode)
{
	if (s->step != ST_WAIT)
		return;
	s->rcode = rcode;
	if (rcode != SPF_DNS_OK)
		s->count = 0;
	s->step = s->after;
	spf_run(s);
}

