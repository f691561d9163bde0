/*
 * mxcheck_verdict - what a transaction's check results say: the one
 * Authentication-Results field (RFC 8601, our host name as authserv-id)
 * with what each policy records, and under `enforce` a refusal (an SPF
 * fail at MAIL: 550 5.7.23; a DMARC failure whose domain asks for
 * p=reject: 550 5.7.1 at the end of DATA) or, for p=quarantine, the
 * X-Sallyport-DMARC field a delivery agent acts on. A temperror never
 * refuses: the mail is taken with the temperror recorded, as RFC 7489
 * 6.6.3 and RFC 7208 8.6 leave to the receiver.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authres.h"
#include "auth/dkim_verify.h"
#include "auth/dmarc.h"
#include "auth/spf.h"
#include "conf/config.h"
#include "daemon/mxcheck_int.h"
#include "lib/log.h"
#include "smtp/smtp_reply.h"

#define QUARANTINE_FIELD	"X-Sallyport-DMARC"

enum mx_policy
mxcheck_policy(const char *v)
{
	if (v == NULL || strcmp(v, "off") == 0)
		return MX_OFF;
	return strcmp(v, "enforce") == 0 ? MX_ENFORCE : MX_HEADER;
}

/* printable - s as one line of printable ASCII for a reply */
static void
printable(char *out, size_t outlen, const char *s)
{
	size_t i;

	snprintf(out, outlen, "%s", s);
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
			out[i] = '?';
}

static void
spf_summary(const struct mxcheck *m, char *out, size_t outlen)
{
	if (!m->run_spf)
		snprintf(out, outlen, "spf=off");
	else
		snprintf(out, outlen, "spf=%s (%s=%s)",
		    spf_result_name(m->spf_result),
		    m->spf_helo ? "helo" : "mailfrom",
		    m->spf_domain[0] ? m->spf_domain : "-");
}

void
mxcheck_spf_verdict(struct mxcheck *m, struct smtp_check_result *r)
{
	char why[256];

	memset(r, 0, sizeof(*r));
	spf_summary(m, m->summary, sizeof(m->summary));
	r->summary = m->summary;
	r->verdict = SMTP_CHECK_ACCEPT;
	if (m->spf_pol != MX_ENFORCE || m->spf_result != SPF_FAIL)
		return;
	/* The domain's own explanation (exp=) when it gave one. */
	printable(why, sizeof(why), m->spf_why);
	snprintf(m->reply, sizeof(m->reply), "%s%s does not permit [%s] to "
	    "send its mail%s%s", R_SPF_REFUSED, m->spf_domain, m->ip,
	    why[0] ? ": " : "", why);
	r->verdict = SMTP_CHECK_REFUSE;
	r->reply = m->reply;
}

/* dkim_summary - "pass:example.com,fail:other.example" for the log */
static void
dkim_summary(const struct mxcheck *m, char *out, size_t outlen)
{
	const struct dkim_result *d;
	size_t i, n, len;

	if (!m->run_dkim || m->dkim == NULL) {
		snprintf(out, outlen, "dkim=off");
		return;
	}
	if (m->dkim_unreadable) {
		snprintf(out, outlen, "dkim=neutral (header too large)");
		return;
	}
	if ((n = dkim_verify_count(m->dkim)) == 0) {
		snprintf(out, outlen, "dkim=none");
		return;
	}
	snprintf(out, outlen, "dkim=");
	for (i = 0; i < n; i++) {
		d = dkim_verify_result(m->dkim, i);
		len = strlen(out);
		snprintf(out + len, outlen - len, "%s%s:%s", i ? "," : "",
		    dkim_status_name(d->status), d->domain);
	}
}

/* authres_dkims - the dkim= results of every signature */
static int
authres_dkims(const struct mxcheck *m, struct authres *a)
{
	const struct dkim_result *d;
	size_t i, n;

	if (m->dkim == NULL)
		return 0;
	if (m->dkim_unreadable)
		return authres_dkim(a, "neutral", NULL, NULL, NULL,
		    "header too large to check");
	if ((n = dkim_verify_count(m->dkim)) == 0)
		return authres_dkim(a, "none", NULL, NULL, NULL, NULL);
	for (i = 0; i < n; i++) {
		d = dkim_verify_result(m->dkim, i);
		if (authres_dkim(a, dkim_status_name(d->status), d->domain,
		    d->selector, d->b_prefix, d->reason[0] ? d->reason :
		    NULL) == -1)
			return -1;
	}
	return 0;
}

/* build_authres - our Authentication-Results field into m->fields */
static int
build_authres(struct mxcheck *m)
{
	struct authres a;
	int rc = 0;

	if (authres_begin(&a, m->p.cfg->hostname) == -1)
		return -1;
	if (m->spf_pol != MX_OFF)
		rc |= authres_spf(&a, spf_result_name(m->spf_result),
		    m->spf_helo ? NULL : m->sender, m->helo,
		    m->spf_result == SPF_TEMPERROR ||
		    m->spf_result == SPF_PERMERROR ? m->spf_why : NULL);
	if (m->dkim_pol != MX_OFF)
		rc |= authres_dkims(m, &a);
	if (m->outcome != NULL)
		rc |= authres_dmarc(&a, m->outcome);
	rc |= authres_end(&a);
	if (rc == 0)
		rc = buf_append(&m->fields, a.b.data, a.b.len);
	authres_free(&a);
	return rc == 0 ? 0 : -1;
}

void
mxcheck_verdict(struct mxcheck *m, struct smtp_check_result *r)
{
	const struct dmarc_outcome *o = m->outcome;
	char spf[300], dkim[300], why[DMARC_REASON_MAX];
	const char *action = "accept";

	memset(r, 0, sizeof(*r));
	r->verdict = SMTP_CHECK_ACCEPT;
	buf_reset(&m->fields);
	if (build_authres(m) == -1) {
		log_warn("s=%lx Authentication-Results past %u octets: "
		    "not added", m->p.sid, (unsigned)AUTHRES_MAX);
		buf_reset(&m->fields);
	}
	if (o != NULL && m->dmarc_pol == MX_ENFORCE) {
		printable(why, sizeof(why), o->reason);
		if (o->policy == DMARC_POLICY_REJECT) {
			action = "reject";
			snprintf(m->reply, sizeof(m->reply), "%s%s%s%s",
			    R_DMARC_REFUSED, o->domain[0] ? o->domain :
			    "(none)", why[0] ? ": " : "", why);
			r->verdict = SMTP_CHECK_REFUSE;
			r->reply = m->reply;
		} else if (o->result == DMARC_RESULT_TEMPERROR &&
		    o->requested == DMARC_POLICY_REJECT && !o->sampled_out) {
			/* No aligned pass, and an aligned check failed for
			 * now. Accepting would let a sender escape p=reject
			 * through a subdomain whose DNS it breaks; refusing
			 * for good would refuse good mail in a DNS outage.
			 * A temporary refusal asks for a final answer later. */
			action = "defer";
			snprintf(m->reply, sizeof(m->reply), "%s%s%s%s",
			    R_DMARC_DEFERRED, o->domain[0] ? o->domain :
			    "(none)", why[0] ? ": " : "", why);
			r->verdict = SMTP_CHECK_REFUSE;
			r->reply = m->reply;
		} else if (o->policy == DMARC_POLICY_QUARANTINE) {
			action = "quarantine";
			if (buf_printf(&m->fields, QUARANTINE_FIELD
			    ": quarantine; header.from=%s\r\n", o->domain) == -1)
				log_warn("s=%lx %s field: no room", m->p.sid,
				    QUARANTINE_FIELD);
		}
	}
	spf_summary(m, spf, sizeof(spf));
	dkim_summary(m, dkim, sizeof(dkim));
	snprintf(m->summary, sizeof(m->summary), "%s %s dmarc=%s%s%s%s "
	    "action=%s", spf, dkim, o ? dmarc_result_name(o->result) :
	    "off", o ? " (policy=" : "", o ? dmarc_policy_name(o->policy) :
	    "", o ? ")" : "", action);
	r->summary = m->summary;
	r->fields = m->fields.data;
	r->fields_len = m->fields.len;
}

void
mxcheck_forged(const struct config *cfg, const char *ip, const char *domain,
    char *spf_reply, size_t spflen, char *dmarc_reply, size_t dmarclen)
{
	struct dmarc_outcome o;
	struct smtp_check_result r;
	struct mxcheck *m;

	spf_reply[0] = dmarc_reply[0] = '\0';
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return;
	m->p.cfg = cfg;
	m->spf_pol = mxcheck_policy(cfg->spf_policy);
	m->dkim_pol = MX_OFF;
	m->dmarc_pol = mxcheck_policy(cfg->dmarc_policy);
	m->run_spf = m->spf_pol != MX_OFF;
	m->run_dmarc = m->dmarc_pol != MX_OFF;
	snprintf(m->ip, sizeof(m->ip), "%s", ip);
	snprintf(m->sender, sizeof(m->sender), "forged@%s", domain);
	snprintf(m->helo, sizeof(m->helo), "%s", domain);
	snprintf(m->spf_domain, sizeof(m->spf_domain), "%s", domain);
	m->spf_done = true;
	m->spf_result = SPF_FAIL;
	buf_init(&m->fields, SMTP_CHECK_ROOM);
	mxcheck_spf_verdict(m, &r);
	if (r.verdict == SMTP_CHECK_REFUSE && r.reply != NULL)
		snprintf(spf_reply, spflen, "%s", r.reply);
	if (m->run_dmarc) {
		memset(&o, 0, sizeof(o));
		o.result = DMARC_RESULT_FAIL;
		o.policy = o.requested = DMARC_POLICY_REJECT;
		o.domain = o.record_domain = domain;
		o.has_record = 1;
		snprintf(o.reason, sizeof(o.reason), "no aligned SPF or DKIM "
		    "pass");
		m->outcome = &o;
		m->dmarc_done = true;
		mxcheck_verdict(m, &r);
		if (r.verdict == SMTP_CHECK_REFUSE && r.reply != NULL)
			snprintf(dmarc_reply, dmarclen, "%s", r.reply);
	}
	buf_free(&m->fields);
	free(m);
}
