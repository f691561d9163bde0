/*
 * spf - check_host() of RFC 7208 as a resumable state machine.
 *
 * The check is a stack of frames, one per record being evaluated: the
 * domain's own at the bottom, one more for each include: being
 * followed (redirect= replaces the frame it ends). Terms are read from
 * the record's text one at a time (spf_record.c). Whenever DNS must be
 * asked, the machine writes the question, notes the step to resume at
 * and returns to the caller; the answer is folded as it is fed into
 * what that step needs (a record, a count, names, a match).
 *
 * The names of a PTR answer that validate (their A or AAAA record is
 * the client's address, RFC 7208 5.5) are looked up once per check and
 * serve both the ptr mechanism and the %{p} macro.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "auth/spf_int.h"

/* --- names and addresses ------------------------------------------------- */

/* spf_copy - a string into a buffer, cut short if need be (names are
 * checked before they are asked for, so a cut one is never used) */
void
spf_copy(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src);

	if (len >= n)
		len = n - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* problemf - say what went wrong, for the log */
static void
problemf(struct spf *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->problem, sizeof(s->problem), fmt, ap);
	va_end(ap);
}

/* name_ok - can this be asked of DNS: labels of 1 to 63 bytes, 253 in
 * all, an optional final dot */
static bool
name_ok(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > SPF_DOMAIN_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (++label > 63) {
			return false;
		}
	}
	return label > 0;
}

/* domain_ok - RFC 7208 4.3: a well-formed multi-label domain name of
 * letters, digits, hyphens and underscores; anything else is "none" */
static bool
domain_ok(const char *s)
{
	const char *dot = strchr(s, '.');

	if (!name_ok(s) || dot == NULL || dot[1] == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr("-_.", *s) == NULL)
			return false;
	return true;
}

/* same_or_under - is name the domain or one of its subdomains? Case and
 * a final dot aside. */
static bool
same_or_under(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (d > 0 && domain[d - 1] == '.')
		d--;
	if (n < d || strncasecmp(name + n - d, domain, d) != 0)
		return false;
	return n == d || name[n - d - 1] == '.';
}

/* spf_in_net - is the client's address in addr/prefix? */
bool
spf_in_net(const struct spf *s, const unsigned char *addr, unsigned prefix)
{
	size_t	 whole = prefix / 8;
	unsigned rest = prefix % 8;

	if (memcmp(s->ip, addr, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((s->ip[whole] ^ addr[whole]) & (0xff00 >> rest) & 0xff) == 0;
}

/* reverse_name - the in-addr.arpa or ip6.arpa name of the client */
static void
reverse_name(const struct spf *s, char *out, size_t outlen)
{
	size_t n = 0;

	if (s->family == AF_INET) {
		snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", s->ip[3],
		    s->ip[2], s->ip[1], s->ip[0]);
		return;
	}
	for (int i = 15; i >= 0 && n + 5 < outlen; i--)
		n += (size_t)snprintf(out + n, outlen - n, "%x.%x.",
		    s->ip[i] & 15, s->ip[i] >> 4);
	snprintf(out + n, outlen - n, "ip6.arpa");
}

unsigned
spf_addr_type(const struct spf *s)
{
	return s->family == AF_INET ? SPF_TYPE_A : SPF_TYPE_AAAA;
}

/* --- the machine ----------------------------------------------------------- */

/* finish - the check's result, whatever frames are open */
static void
finish(struct spf *s, enum spf_result r, const char *problem)
{
	s->result = r;
	if (problem != NULL)
		problemf(s, "%s", problem);
	s->step = ST_DONE;
}

/* ask - put a question out; the answer resumes at `after` */
static void
ask(struct spf *s, const char *name, unsigned type, enum fold fold,
    enum step after)
{
	spf_copy(s->qname, sizeof(s->qname), name);
	s->qtype = type;
	s->fold = fold;
	s->after = after;
	s->count = s->nspf = 0;
	s->too_long = s->match = false;
	free(s->rec);
	s->rec = NULL;
	s->reclen = 0;
	if (fold == FOLD_MX)
		s->nmx = 0;
	if (!name_ok(name)) {
		/* No such name can exist: answered without asking. */
		s->rcode = SPF_DNS_NXDOMAIN;
		s->step = after;
		return;
	}
	s->queries++;
	s->step = ST_WAIT;
}

/* macro_ctx - the macros' values in the current frame */
static void
macro_ctx(const struct spf *s, struct spf_macro_ctx *c)
{
	c->sender = s->sender;
	c->local = s->local;
	c->sender_domain = s->sender_domain;
	c->domain = s->depth > 0 ? s->frames[s->depth - 1].domain :
	    s->sender_domain;
	c->family = s->family;
	c->ip = s->ip;
	c->helo = s->helo;
	c->ptr = s->pv_done ? s->p : NULL;
	c->receiver = s->receiver;
	c->now = s->now;
}

/* choose_p - %{p} (RFC 7208 7.3): a validated name that is the domain,
 * else one under it, else any validated name, else "unknown" */
static void
choose_p(struct spf *s)
{
	const char *d = s->frames[s->depth - 1].domain, *pick = NULL;

	for (int pass = 0; pass < 3 && pick == NULL; pass++)
		for (unsigned i = 0; i < s->npv && pick == NULL; i++) {
			if (!s->pv_ok[i])
				continue;
			if (pass == 2 || (pass == 0 && same_or_under(d,
			    s->pv[i]) && same_or_under(s->pv[i], d)) ||
			    (pass == 1 && same_or_under(s->pv[i], d)))
				pick = s->pv[i];
		}
	spf_copy(s->p, sizeof(s->p), pick != NULL ? pick : "unknown");
	/* No final dot in a name given to macros. */
	if (s->p[0] != '\0' && s->p[strlen(s->p) - 1] == '.')
		s->p[strlen(s->p) - 1] = '\0';
}

/* expand - a domain-spec into s->target. 1: done; 0: %{p} must be
 * looked up first (ST_PV runs, then `again`); -1: permerror. */
static int
expand(struct spf *s, const char *spec, size_t len, enum step again)
{
	struct spf_macro_ctx c;

	if (spf_macro_uses_p(spec, len) && !s->pv_done) {
		s->pv_ret = again;
		s->step = ST_PV;
		return 0;
	}
	if (s->pv_done && s->depth > 0)
		choose_p(s);
	macro_ctx(s, &c);
	if (spf_macro_expand(spec, len, SPF_MACRO_DOMAIN, &c, s->target,
	    sizeof(s->target)) == -1) {
		finish(s, SPF_PERMERROR, "a domain-spec does not expand to "
		    "a domain name");
		return -1;
	}
	return 1;
}

/* push - a frame for domain; false (and permerror) past the bound */
static bool
push(struct spf *s, const char *domain, char qual)
{
	struct frame *f;

	if (s->depth > s->lim.dns_terms) {
		finish(s, SPF_PERMERROR, "includes nested too deep");
		return false;
	}
	f = &s->frames[s->depth++];
	memset(f, 0, sizeof(*f));
	spf_copy(f->domain, sizeof(f->domain), domain);
	f->qual = qual;
	return true;
}

static enum spf_result
qual_result(char q)
{
	switch (q) {
	case '-':
		return SPF_FAIL;
	case '~':
		return SPF_SOFTFAIL;
	case '?':
		return SPF_NEUTRAL;
	}
	return SPF_PASS;
}

/* frame_done - the record on top has given r */
static void
frame_done(struct spf *s, enum spf_result r)
{
	struct frame	*f = &s->frames[s->depth - 1];
	char		 qual = f->qual;

	if (r == SPF_NONE && f->redirected) {
		/* RFC 7208 6.1: redirect= to a domain without a record. */
		finish(s, SPF_PERMERROR, "redirect= to a domain without an "
		    "SPF record");
		return;
	}
	if (s->depth == 1) {
		s->result = r;
		s->step = r == SPF_FAIL && f->exp.kind == SPF_TERM_EXP ?
		    ST_EXP : ST_DONE;
		return;
	}
	free(f->text);
	f->text = NULL;
	s->depth--;
	/* RFC 7208 5.2: what an include's result means for its term. */
	switch (r) {
	case SPF_PASS:
		frame_done(s, qual_result(qual));
		break;
	case SPF_FAIL:
	case SPF_SOFTFAIL:
	case SPF_NEUTRAL:
		s->step = ST_TERM;
		break;
	case SPF_TEMPERROR:
		finish(s, SPF_TEMPERROR, NULL);
		break;
	case SPF_NONE:
		finish(s, SPF_PERMERROR, "include: of a domain without an "
		    "SPF record");
		break;
	case SPF_PERMERROR:
		finish(s, SPF_PERMERROR, NULL);
		break;
	}
}

/* void_lookup - the answer was empty: one more void lookup */
static bool
void_lookup(struct spf *s)
{
	if (++s->voids > s->lim.void_lookups) {
		finish(s, SPF_PERMERROR, "too many lookups that found "
		    "nothing");
		return false;
	}
	return true;
}

/* dns_error - a failed lookup in a mechanism: temperror */
static bool
dns_error(struct spf *s)
{
	if (s->rcode != SPF_DNS_TEMPFAIL)
		return false;
	problemf(s, "DNS error looking up %s", s->qname);
	finish(s, SPF_TEMPERROR, NULL);
	return true;
}

static void
fetched(struct spf *s)
{
	struct frame	*f = &s->frames[s->depth - 1];
	const char	*err;

	if (s->rcode == SPF_DNS_TEMPFAIL) {
		problemf(s, "DNS error looking up the SPF record of %s",
		    f->domain);
		finish(s, SPF_TEMPERROR, NULL);
		return;
	}
	if (s->nspf == 0) {
		frame_done(s, SPF_NONE);
		return;
	}
	if (s->nspf > 1 || s->too_long) {
		problemf(s, "%s: %s", f->domain, s->nspf > 1 ?
		    "more than one SPF record" : "SPF record too long");
		finish(s, SPF_PERMERROR, NULL);
		return;
	}
	free(f->text);
	f->text = s->rec;
	f->len = s->reclen;
	s->rec = NULL;
	if (spf_record_check(f->text, f->len, &f->redirect, &f->exp,
	    &err) == -1) {
		problemf(s, "%s: SPF record: %s", f->domain, err);
		finish(s, SPF_PERMERROR, NULL);
		return;
	}
	f->pos = spf_record_version(f->text, f->len);
	s->step = ST_TERM;
}

/* term - read and evaluate the next term of the frame on top */
static void
term(struct spf *s)
{
	struct frame	*f = &s->frames[s->depth - 1];
	struct spf_term	*t = &s->term;
	const char	*err;
	int		 rc;

	while ((rc = spf_term_next(f->text, f->len, &f->pos, t, &err)) == 1 &&
	    t->kind != SPF_TERM_MECH)
		;
	if (rc == -1) {
		finish(s, SPF_PERMERROR, err);	/* checked: never */
		return;
	}
	if (rc == 0) {
		if (f->redirect.kind != SPF_TERM_REDIRECT) {
			frame_done(s, SPF_NEUTRAL);
			return;
		}
		*t = f->redirect;
	}
	switch (t->kind == SPF_TERM_REDIRECT ? SPF_MECH_INCLUDE : t->mech) {
	case SPF_MECH_ALL:
		frame_done(s, qual_result(t->qual));
		return;
	case SPF_MECH_IP4:
	case SPF_MECH_IP6:
		if ((t->mech == SPF_MECH_IP4) == (s->family == AF_INET) &&
		    spf_in_net(s, t->addr, s->family == AF_INET ? t->cidr4 :
		    t->cidr6))
			frame_done(s, qual_result(t->qual));
		return;
	default:
		break;
	}
	if (++s->terms > s->lim.dns_terms) {
		finish(s, SPF_PERMERROR, "too many DNS lookups (include, a, "
		    "mx, ptr, exists, redirect)");
		return;
	}
	s->step = t->kind == SPF_TERM_REDIRECT ? ST_REDIRECT : ST_TARGET;
}

/* target - the term's domain known, ask for what it needs */
static void
target(struct spf *s)
{
	struct spf_term	*t = &s->term;
	struct frame	*f = &s->frames[s->depth - 1];

	if (t->spec == NULL)
		spf_copy(s->target, sizeof(s->target), f->domain);
	else if (expand(s, t->spec, t->speclen, ST_TARGET) != 1)
		return;
	switch (t->mech) {
	case SPF_MECH_INCLUDE:
		if (push(s, s->target, t->qual))
			s->step = ST_FETCH;
		break;
	case SPF_MECH_A:
		ask(s, s->target, spf_addr_type(s), FOLD_ADDR, ST_A_DONE);
		break;
	case SPF_MECH_MX:
		ask(s, s->target, SPF_TYPE_MX, FOLD_MX, ST_MX_DONE);
		break;
	case SPF_MECH_EXISTS:
		/* RFC 7208 5.7: always A, whatever the client's family. */
		ask(s, s->target, SPF_TYPE_A, FOLD_ADDR, ST_EXISTS_DONE);
		break;
	case SPF_MECH_PTR:
		if (!s->pv_done) {
			s->pv_ret = ST_PTR_DONE;
			s->step = ST_PV;
		} else {
			s->step = ST_PTR_DONE;
		}
		break;
	default:
		finish(s, SPF_PERMERROR, "internal: no target");
		break;
	}
}

/* matched - a mechanism that asked DNS has its answer */
static void
matched(struct spf *s, bool match)
{
	if (match)
		frame_done(s, qual_result(s->term.qual));
	else
		s->step = ST_TERM;
}

static void
redirect(struct spf *s)
{
	struct frame *f = &s->frames[s->depth - 1];

	if (expand(s, s->term.spec, s->term.speclen, ST_REDIRECT) != 1)
		return;
	/* The new record replaces this one, its exp= included. */
	free(f->text);
	f->text = NULL;
	f->len = f->pos = 0;
	spf_copy(f->domain, sizeof(f->domain), s->target);
	f->redirected = true;
	s->step = ST_FETCH;
}

static void
explain(struct spf *s)
{
	struct frame *f = &s->frames[s->depth - 1];

	if (expand(s, f->exp.spec, f->exp.speclen, ST_EXP) != 1) {
		/* RFC 7208 6.2: a bad exp= is as if there were none. */
		s->result = SPF_FAIL;
		s->step = ST_DONE;
		return;
	}
	ask(s, s->target, SPF_TYPE_TXT, FOLD_EXP, ST_EXP_DONE);
}

/* explained - the TXT of exp= has come: RFC 7208 6.2 takes exactly one
 * record; anything else is as if there were no exp= */
static void
explained(struct spf *s)
{
	s->step = ST_DONE;
	if (s->rcode != SPF_DNS_OK || s->count != 1 || s->rec == NULL)
		return;
	s->exp_text = s->rec;
	s->exp_len = s->reclen;
	s->rec = NULL;
	s->step = ST_EXP_EXPAND;
}

static void
exp_expand(struct spf *s)
{
	struct spf_macro_ctx	c;
	char			buf[SPF_EXPAND_MAX];

	if (spf_macro_uses_p(s->exp_text, s->exp_len) && !s->pv_done) {
		s->pv_ret = ST_EXP_EXPAND;
		s->step = ST_PV;
		return;
	}
	s->step = ST_DONE;
	if (s->pv_done)
		choose_p(s);
	macro_ctx(s, &c);
	if (spf_macro_expand(s->exp_text, s->exp_len, SPF_MACRO_EXPLAIN, &c,
	    buf, sizeof(buf)) != 0)
		return;
	/* The text goes into an SMTP reply: what the macros brought in
	 * from the client (HELO, a UTF-8 local part) stays printable. */
	for (char *b = buf; *b != '\0'; b++)
		if ((unsigned char)*b < 0x20 || (unsigned char)*b > 0x7e)
			*b = '?';
	s->explanation = strdup(buf);
}

void
spf_run(struct spf *s)
{
	struct frame *f;

	while (s->step != ST_WAIT && s->step != ST_DONE) {
		f = s->depth > 0 ? &s->frames[s->depth - 1] : NULL;
		switch (s->step) {
		case ST_START:
		case ST_WAIT:
		case ST_DONE:
			finish(s, SPF_PERMERROR, "internal: bad step");
			break;
		case ST_FETCH:
			ask(s, f->domain, SPF_TYPE_TXT, FOLD_RECORD,
			    ST_FETCHED);
			break;
		case ST_FETCHED:
			fetched(s);
			break;
		case ST_TERM:
			term(s);
			break;
		case ST_TARGET:
			target(s);
			break;
		case ST_A_DONE:
		case ST_EXISTS_DONE:
			if (dns_error(s))
				break;
			if (s->count == 0 && !void_lookup(s))
				break;
			matched(s, s->step == ST_EXISTS_DONE ?
			    s->count > 0 : s->match);
			break;
		case ST_MX_DONE:
			if (dns_error(s))
				break;
			if (s->count == 0 && !void_lookup(s))
				break;
			if (s->count > s->lim.mx_names) {
				finish(s, SPF_PERMERROR, "mx: more MX "
				    "records than allowed");
				break;
			}
			s->imx = 0;
			s->step = ST_MX_ADDR;
			break;
		case ST_MX_ADDR:
			if (s->imx >= s->nmx) {
				matched(s, false);
				break;
			}
			ask(s, s->mx[s->imx], spf_addr_type(s), FOLD_ADDR,
			    ST_MX_ADDR_DONE);
			break;
		case ST_MX_ADDR_DONE:
			if (dns_error(s))
				break;
			if (s->match) {
				matched(s, true);
				break;
			}
			s->imx++;
			s->step = ST_MX_ADDR;
			break;
		case ST_PTR_DONE: {
			bool match = false;

			for (unsigned i = 0; i < s->npv && !match; i++)
				match = s->pv_ok[i] &&
				    same_or_under(s->pv[i], s->target);
			matched(s, match);
			break;
		}
		case ST_REDIRECT:
			redirect(s);
			break;
		case ST_PV: {
			char rev[80];

			reverse_name(s, rev, sizeof(rev));
			s->npv = 0;
			ask(s, rev, SPF_TYPE_PTR, FOLD_PTR, ST_PV_PTR_DONE);
			break;
		}
		case ST_PV_PTR_DONE:
			/* RFC 7208 5.5: an error is no match, not an
			 * error; so for %{p}, "unknown". */
			if (s->rcode != SPF_DNS_OK)
				s->npv = 0;
			s->ipv = 0;
			s->step = ST_PV_ADDR;
			break;
		case ST_PV_ADDR:
			if (s->ipv >= s->npv) {
				s->pv_done = true;
				s->step = s->pv_ret;
				break;
			}
			ask(s, s->pv[s->ipv], spf_addr_type(s), FOLD_ADDR,
			    ST_PV_ADDR_DONE);
			break;
		case ST_PV_ADDR_DONE:
			s->pv_ok[s->ipv] = s->rcode == SPF_DNS_OK && s->match;
			s->ipv++;
			s->step = ST_PV_ADDR;
			break;
		case ST_EXP:
			explain(s);
			break;
		case ST_EXP_DONE:
			explained(s);
			break;
		case ST_EXP_EXPAND:
			exp_expand(s);
			break;
		}
	}
}

bool
spf_step(struct spf *s, struct spf_query *q)
{
	if (s->step == ST_START) {
		s->step = ST_FETCH;
		if (!domain_ok(s->sender_domain)) {
			/* RFC 7208 4.3: not a domain one can check. */
			finish(s, SPF_NONE, NULL);
		} else {
			push(s, s->sender_domain, '+');
		}
		spf_run(s);
	}
	if (s->step != ST_WAIT)
		return false;
	q->name = s->qname;
	q->type = s->qtype;
	return true;
}


void
spf_abort(struct spf *s, const char *why)
{
	if (s->step != ST_DONE)
		finish(s, SPF_TEMPERROR, why);
}
