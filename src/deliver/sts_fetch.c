/*
 * sts_fetch - an MTA-STS policy fetched (RFC 8461 3.3): one HTTP/1.1
 * GET of https://mta-sts.DOMAIN/.well-known/mta-sts.txt over TLS with
 * the certificate checked for that name against the system's CA store
 * (or mta_sts_ca_file), the name resolved through dns_servers like any
 * name delivery looks up. No redirect is followed (a 3xx is a failed
 * fetch, as any status but 200), no cache is asked, the media type must
 * be text/plain, the body is bounded by mta_sts_max_size and the whole
 * fetch by mta_sts_timeout. A body that ends with the connection counts
 * only if TLS closed it (close_notify): a truncated policy is no policy.
 *
 * The connection, TLS and the deadlines are the SMTP client's
 * (smtp_client_io.c); the response is read by tlspol/httpresp.c, a
 * parser without I/O. Blocking: it runs on the delivery thread of the
 * entry that needs the policy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deliver/smtp_client_int.h"
#include "deliver/sts.h"
#include "dns/resolve.h"
#include "lib/deadline.h"
#include "lib/netaddr.h"
#include "sec/tls.h"
#include "tlspol/httpresp.h"

#define STS_FETCH_ADDRS		4	/* addresses of mta-sts.DOMAIN tried */
#define STS_PATH		"/.well-known/mta-sts.txt"

/* One fetch's state. */
struct fetch {
	struct client		 c;
	struct smtp_client_opts	 o;
	struct timespec		 deadline;	/* of the whole fetch */
	struct httpresp		 r;
	char			 why[CLIENT_TEXT_MAX];
};

/* fetch_step - the next step gets what is left of the fetch's time:
 * false once none is */
static bool
fetch_step(struct fetch *f, const char *step)
{
	int	 ms = deadline_left(&f->deadline);

	f->c.step = step;
	f->c.timeout = (unsigned)((ms + 999) / 1000);
	return ms > 0;
}

/* fetch_step_name - the SMTP client names the TLS step STARTTLS;
 * here it is TLS */
static void
fetch_step_name(char *why)
{
	char	*at = strstr(why, ", STARTTLS)");

	if (at != NULL)
		memcpy(at, ", TLS)", sizeof(", TLS)"));
}

/* fetch_from - the GET at one address: TLSRPT_SUCCESS with the body,
 * or why not in f->why; *next says whether another address may do
 * better (no connection, no answer) */
static enum tlsrpt_result
fetch_from(struct fetch *f, const char *host, bool *next)
{
	char		 buf[4096];
	size_t		 used, at;
	ssize_t		 got;
	enum httpresp_status st = HTTPRESP_MORE;

	*next = true;
	if (!fetch_step(f, "connect") || client_connect(&f->c) == -1)
		goto failed;
	if (!fetch_step(f, "TLS") || client_handshake(&f->c) == -1) {
		/* A certificate that does not chain to a trusted CA, has
		 * expired or does not carry the name (RFC 8460's
		 * sts-webpki-invalid); any other failure is the fetch's. */
		if (f->c.tls != NULL &&
		    tls_conn_verify_failure(f->c.tls) != TLS_VERIFY_OTHER) {
			*next = false;
			snprintf(f->why, sizeof(f->why), "%s", f->c.fail.text);
			fetch_step_name(f->why);
			return TLSRPT_STS_WEBPKI_INVALID;
		}
		goto failed;
	}
	/* A body may end with the connection: only close_notify says it
	 * was not cut short. */
	tls_conn_strict_eof(f->c.tls);
	if (!fetch_step(f, "GET") ||
	    client_cmd(&f->c, "GET %s HTTP/1.1", STS_PATH) == -1 ||
	    client_cmd(&f->c, "Host: %s", host) == -1 ||
	    client_cmd(&f->c, "User-Agent: sallyport") == -1 ||
	    client_cmd(&f->c, "Accept: text/plain") == -1 ||
	    client_cmd(&f->c, "Connection: close") == -1 ||
	    client_cmd(&f->c, "%s", "") == -1 || client_flush(&f->c) == -1)
		goto failed;
	*next = false;
	while (st == HTTPRESP_MORE) {
		if (!fetch_step(f, "response")) {
			snprintf(f->why, sizeof(f->why), "no whole response "
			    "within %us", f->o.timeout);
			return TLSRPT_STS_POLICY_FETCH_ERROR;
		}
		if ((got = client_recv(&f->c, buf, sizeof(buf))) == -1)
			goto failed;
		if (got == 0) {
			st = httpresp_eof(&f->r);
			break;
		}
		for (at = 0; st == HTTPRESP_MORE && at < (size_t)got;
		    at += used)
			st = httpresp_feed(&f->r, buf + at, (size_t)got - at,
			    &used);
		if (f->r.headers_done && f->r.status != 200)
			break;		/* no need of its body */
	}
	if (f->r.status != 0 && f->r.status != 200) {
		snprintf(f->why, sizeof(f->why), "HTTP status %d%s",
		    f->r.status, f->r.status / 100 == 3 ? " (a redirect, "
		    "not followed)" : "");
		return TLSRPT_STS_POLICY_FETCH_ERROR;
	}
	if (st != HTTPRESP_DONE) {
		snprintf(f->why, sizeof(f->why), "%s%s", f->r.why,
		    f->r.too_large ? " (mta_sts_max_size)" : "");
		return TLSRPT_STS_POLICY_FETCH_ERROR;
	}
	if (strcmp(f->r.content_type, "text/plain") != 0) {
		snprintf(f->why, sizeof(f->why), "media type \"%.64s\", not "
		    "text/plain", f->r.content_type);
		return TLSRPT_STS_POLICY_INVALID;
	}
	return TLSRPT_SUCCESS;
failed:
	snprintf(f->why, sizeof(f->why), "%s", f->c.fail.text);
	fetch_step_name(f->why);
	return TLSRPT_STS_POLICY_FETCH_ERROR;
}

enum tlsrpt_result
sts_fetch(const struct config *cfg, const char *domain, char *body,
    size_t max, size_t *len, char *why, size_t whylen)
{
	struct sockaddr_storage addrs[STS_FETCH_ADDRS];
	struct fetch	*f;
	char		 host[300], ip[NETADDR_STRLEN];
	enum tlsrpt_result res = TLSRPT_STS_POLICY_FETCH_ERROR;
	size_t		 n = 0, i;
	bool		 next = true;
	int		 rc;

	*len = 0;
	snprintf(why, whylen, "out of memory");
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return res;
	snprintf(host, sizeof(host), "mta-sts.%s", domain);
	deadline_in(&f->deadline, (unsigned long)cfg->mta_sts_timeout * 1000);
	if ((rc = resolve_addrs(cfg, host, addrs, STS_FETCH_ADDRS, &n)) !=
	    RESOLVE_OK) {
		snprintf(why, whylen, "%s: %s", host, rc == RESOLVE_NONE ?
		    "host not found" : "DNS failure");
		goto done;
	}
	for (i = 0; i < n && next; i++) {
		netaddr_format((const struct sockaddr *)&addrs[i], ip,
		    sizeof(ip));
		memset(&f->c, 0, sizeof(f->c));
		memset(&f->o, 0, sizeof(f->o));
		f->o.host = ip;
		f->o.port = "443";
		f->o.tls = CLIENT_TLS_REQUIRED;
		f->o.verify_name = host;	/* SNI, and the name checked */
		f->o.ca_file = cfg->mta_sts_ca_file;
		f->o.timeout = cfg->mta_sts_timeout;
		f->c.o = &f->o;
		f->c.fd = -1;
		httpresp_init(&f->r, body, max);
		res = fetch_from(f, host, &next);
		tls_conn_free(f->c.tls);
		if (f->c.fd != -1)
			close(f->c.fd);
		snprintf(why, whylen, "%s", f->why);
	}
	if (res == TLSRPT_SUCCESS)
		*len = f->r.body_len;
done:
	free(f);
	return res;
}
