/*
 * spf_check - the SPF check object: made from the envelope (the client's
 * address, MAIL FROM or, for the null sender, HELO; RFC 7208 2.3, 2.4
 * and 4.3), and what it found once done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "auth/spf_int.h"

const char *
spf_result_name(enum spf_result r)
{
	static const char *const names[] = { "none", "neutral", "pass",
	    "fail", "softfail", "temperror", "permerror" };

	return (unsigned)r < sizeof(names) / sizeof(names[0]) ?
	    names[r] : "unknown";
}

const char *
spf_identity_name(enum spf_identity id)
{
	return id == SPF_ID_HELO ? "helo" : "mailfrom";
}



struct spf *
spf_new(const struct spf_params *p)
{
	static const struct spf_limits def = SPF_LIMITS_DEFAULT;
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0xff, 0xff };
	struct spf	*s;
	const char	*from = p->mail_from != NULL ? p->mail_from : "";
	const char	*helo = p->helo != NULL ? p->helo : "";
	const char	*at;
	size_t		 names;

	if (p->family != AF_INET && p->family != AF_INET6)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->lim = p->limits != NULL ? *p->limits : def;
	if (s->lim.dns_terms > SPF_DNS_TERMS_MAX)
		s->lim.dns_terms = SPF_DNS_TERMS_MAX;
	if (s->lim.mx_names > SPF_NAMES_MAX)
		s->lim.mx_names = SPF_NAMES_MAX;
	if (s->lim.ptr_names > SPF_NAMES_MAX)
		s->lim.ptr_names = SPF_NAMES_MAX;
	if (s->lim.record_max > SPF_RECORD_MAX)
		s->lim.record_max = SPF_RECORD_MAX;
	s->family = p->family;
	if (p->family == AF_INET6 && memcmp(p->ip, mapped, 12) == 0) {
		s->family = AF_INET;
		memcpy(s->ip, p->ip + 12, 4);
	} else {
		memcpy(s->ip, p->ip, p->family == AF_INET ? 4 : 16);
	}
	s->now = p->now;
	names = s->lim.mx_names > 0 ? s->lim.mx_names : 1;
	s->frames = calloc(s->lim.dns_terms + 1, sizeof(*s->frames));
	s->mx = calloc(names, sizeof(*s->mx));
	s->pv = calloc(s->lim.ptr_names + 1, sizeof(*s->pv));
	s->pv_ok = calloc(s->lim.ptr_names + 1, sizeof(*s->pv_ok));
	s->helo = strdup(helo);
	s->receiver = strdup(p->receiver != NULL ? p->receiver : "");
	if (s->frames == NULL || s->mx == NULL || s->pv == NULL ||
	    s->pv_ok == NULL || s->helo == NULL || s->receiver == NULL) {
		spf_free(s);
		return NULL;
	}

	/* RFC 7208 2.4: a null MAIL FROM is postmaster@HELO; a sender
	 * without a local-part has "postmaster" (4.3). */
	s->identity = *from == '\0' ? SPF_ID_HELO : SPF_ID_MAILFROM;
	if (*from == '\0')
		from = helo;
	at = strrchr(from, '@');
	if (at == NULL || at == from)
		snprintf(s->sender, sizeof(s->sender), "postmaster@%s",
		    at == NULL ? from : at + 1);
	else
		spf_copy(s->sender, sizeof(s->sender), from);
	at = strrchr(s->sender, '@');
	spf_copy(s->sender_domain, sizeof(s->sender_domain), at + 1);
	if (strlen(at + 1) >= sizeof(s->sender_domain))
		s->sender_domain[0] = '\0';	/* too long: "none" */
	if ((s->local = strndup(s->sender, (size_t)(at - s->sender))) == NULL) {
		spf_free(s);
		return NULL;
	}
	s->step = ST_START;
	s->result = SPF_NONE;
	return s;
}

void
spf_free(struct spf *s)
{
	if (s == NULL)
		return;
	if (s->frames != NULL)
		for (size_t i = 0; i < s->depth; i++)
			free(s->frames[i].text);
	free(s->frames);
	free(s->mx);
	free(s->pv);
	free(s->pv_ok);
	free(s->rec);
	free(s->helo);
	free(s->receiver);
	free(s->local);
	free(s->exp_text);
	free(s->explanation);
	free(s);
}

enum spf_result
spf_result(const struct spf *s)
{
	return s->result;
}

enum spf_identity
spf_identity(const struct spf *s)
{
	return s->identity;
}

const char *
spf_domain(const struct spf *s)
{
	return s->sender_domain;
}

const char *
spf_explanation(const struct spf *s)
{
	return s->result == SPF_FAIL ? s->explanation : NULL;
}

const char *
spf_problem(const struct spf *s)
{
	/* A problem met on the way to another result (an exp= that did
	 * not expand) is no problem of the result. */
	if (s->result != SPF_TEMPERROR && s->result != SPF_PERMERROR)
		return "";
	return s->problem;
}

unsigned
spf_queries(const struct spf *s)
{
	return s->queries;
}

