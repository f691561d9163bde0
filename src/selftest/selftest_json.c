/*
 * selftest_json - the self-test's result as JSON, for monitoring: the
 * same facts as the text report, every exchange included.
 *
 * Strings are escaped by one encoder: ", \ and control characters, and
 * every byte >= 0x80 as \u00XX (the byte's Latin-1 reading, so a
 * server's exact bytes can be recovered; a hostile reply cannot break
 * the document).
 */
#include <stdbool.h>
#include <stdio.h>

#include "lib/buf.h"
#include "selftest/selftest.h"

#define SUMMARY_MAX	(64 * 1024)

/* json_str - a JSON string (or null): ", \ and control characters
 * escaped, bytes >= 0x80 as \u00XX */
static void
json_str(FILE *fp, const char *s)
{
	if (s == NULL) {
		fputs("null", fp);
		return;
	}
	fputc('"', fp);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(fp, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", fp);
		else if (c == '\r')
			fputs("\\r", fp);
		else if (c == '\t')
			fputs("\\t", fp);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(fp, "\\u%04x", c);
		else
			fputc(c, fp);
	}
	fputc('"', fp);
}

/* json_key - "key": at an indent, after a comma unless first */
static void
json_key(FILE *fp, int indent, bool *first, const char *key)
{
	fprintf(fp, "%s\n%*s", *first ? "" : ",", indent, "");
	*first = false;
	json_str(fp, key);
	fputs(": ", fp);
}

static void
json_kv(FILE *fp, int indent, bool *first, const char *key, const char *v)
{
	json_key(fp, indent, first, key);
	json_str(fp, v);
}

static void
json_num(FILE *fp, int indent, bool *first, const char *key, unsigned v)
{
	json_key(fp, indent, first, key);
	fprintf(fp, "%u", v);
}

static void
json_strlist(FILE *fp, char *const *v, size_t n)
{
	fputc('[', fp);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ", " : "", fp);
		json_str(fp, v[i]);
	}
	fputc(']', fp);
}

static void
json_exchanges(FILE *fp, int indent, const struct st_transcript *t)
{
	fputc('[', fp);
	for (size_t i = 0; i < t->n; i++) {
		const struct st_exchange *x = &t->v[i];
		bool first = true;

		fprintf(fp, "%s\n%*s{", i ? "," : "", indent + 2, "");
		json_kv(fp, indent + 4, &first, "sent", x->sent);
		json_kv(fp, indent + 4, &first, "reply", x->reply);
		json_key(fp, indent + 4, &first, "code");
		if (x->code)
			fprintf(fp, "%d", x->code);
		else
			fputs("null", fp);
		json_kv(fp, indent + 4, &first, "error", x->error);
		json_kv(fp, indent + 4, &first, "dns", x->dns);
		json_key(fp, indent + 4, &first, "tls");
		fputs(x->tls ? "true" : "false", fp);
		fprintf(fp, "\n%*s}", indent + 2, "");
	}
	if (t->n)
		fprintf(fp, "\n%*s", indent, "");
	fputc(']', fp);
}

static void
json_policy(FILE *fp, const struct selftest *st)
{
	const struct config *cfg = st->cfg;
	char net[CIDR_STRLEN], l[NETADDR_STRLEN + 16];
	bool first = true, f2;
	size_t nsmtp = 0;

	fputc('{', fp);
	json_kv(fp, 4, &first, "text", st->policy);
	if (cfg == NULL) {
		const char *ehlo = NULL;
		bool tls = false;

		for (size_t i = 0; i < st->intro.n; i++)
			if (st->intro.v[i].kind == ST_EHLO &&
			    st->intro.v[i].code == 250) {
				ehlo = st->intro.v[i].reply;
				tls = st->intro.v[i].tls;
			}
		json_key(fp, 4, &first, "implicit_tls");
		fputs(tls ? "true" : "false", fp);
		json_key(fp, 4, &first, "starttls");
		fputs(ehlo && st_ehlo_has(ehlo, "STARTTLS") ? "true" : "false", fp);
		json_key(fp, 4, &first, "auth_before_tls");
		fputs(ehlo && !tls && st_ehlo_has(ehlo, "AUTH") ? "true" :
		    "false", fp);
		fprintf(fp, "\n  }");
		return;
	}
	json_key(fp, 4, &first, "mynetworks");
	fputc('[', fp);
	for (size_t i = 0; i < cfg->nmynetworks; i++) {
		cidr_format(&cfg->mynetworks[i], net, sizeof(net));
		fputs(i ? ", " : "", fp);
		json_str(fp, net);
	}
	fputc(']', fp);
	json_key(fp, 4, &first, "local_domains");
	json_strlist(fp, cfg->local_domains.v, cfg->local_domains.n);
	json_key(fp, 4, &first, "relay_domains");
	json_strlist(fp, cfg->relay_domains.v, cfg->relay_domains.n);
	json_key(fp, 4, &first, "allow_untrusted_routing");
	fputs(cfg->allow_untrusted_routing ? "true" : "false", fp);
	json_key(fp, 4, &first, "sender_checks");
	fprintf(fp, "{\"unqualified\": %s, \"non_fqdn\": %s, "
	    "\"unknown_domain\": %s}",
	    cfg->reject_unqualified_sender ? "true" : "false",
	    cfg->reject_non_fqdn_sender ? "true" : "false",
	    cfg->reject_unknown_sender_domain ? "true" : "false");
	json_key(fp, 4, &first, "dns_servers");
	json_strlist(fp, cfg->dns_servers.v, cfg->dns_servers.n);
	json_key(fp, 4, &first, "listeners");
	fputc('[', fp);
	for (size_t i = 0; i < cfg->nlisten; i++) {
		/* The metrics listener takes no mail: not probed, not here. */
		if (cfg->listen[i].role == ROLE_METRICS)
			continue;
		st_listener_text(l, sizeof(l), &cfg->listen[i]);
		f2 = true;
		fprintf(fp, "%s\n      {", nsmtp++ ? "," : "");
		json_kv(fp, 8, &f2, "listen", l);
		json_kv(fp, 8, &f2, "role", config_role_name(cfg->listen[i].role));
		json_kv(fp, 8, &f2, "auth", st_listener_auth(cfg,
		    &cfg->listen[i]));
		fprintf(fp, "\n      }");
	}
	fprintf(fp, "%s]", nsmtp ? "\n    " : "");
	fprintf(fp, "\n  }");
}

/* json_rows - a table of probe rows as an array, at `ind` */
static void
json_rows(FILE *fp, int ind, const struct st_row *rows)
{
	bool f2;

	fputc('[', fp);
	for (size_t i = 0; i < ST_NPROBES; i++) {
		const struct st_row *r = &rows[i];

		if (r->probe == NULL)
			continue;
		f2 = true;
		fprintf(fp, "%s\n%*s{", i ? "," : "", ind + 2, "");
		json_num(fp, ind + 4, &f2, "number", (unsigned)r->probe->number);
		json_kv(fp, ind + 4, &f2, "idea", r->probe->idea);
		json_kv(fp, ind + 4, &f2, "listener", r->listener);
		json_kv(fp, ind + 4, &f2, "client", r->client);
		json_key(fp, ind + 4, &f2, "exchanges");
		json_exchanges(fp, ind + 4, &r->t);
		json_kv(fp, ind + 4, &f2, "verdict", st_verdict_name(r->verdict));
		json_key(fp, ind + 4, &f2, "relay_reached");
		fputs(r->relay_reached ? "true" : "false", fp);
		json_kv(fp, ind + 4, &f2, "note", r->note);
		fprintf(fp, "\n%*s}", ind + 2, "");
	}
	fprintf(fp, "\n%*s]", ind, "");
}

void
selftest_print_json(const struct selftest *st, FILE *fp)
{
	const struct st_places *p = &st->p;
	char rcpt[ST_NAME_MAX + 80], l[NETADDR_STRLEN + 16];
	struct st_counts c;
	struct buf b;
	bool first = true, f2;
	const char *sep = "";

	st_count(st, &c);
	fputc('{', fp);
	json_kv(fp, 2, &first, "mode", st->remote ? "remote" : "in-process");
	json_kv(fp, 2, &first, "config", st->cfg ? st->cfg->path : NULL);
	json_kv(fp, 2, &first, "target", st->remote ? st->target : NULL);
	json_key(fp, 2, &first, "client");
	f2 = true;
	fputc('{', fp);
	json_kv(fp, 4, &f2, "address", st->client);
	json_kv(fp, 4, &f2, "note", st->client_note);
	if (st->listener) {
		st_listener_text(l, sizeof(l), st->listener);
		json_kv(fp, 4, &f2, "listener", l);
		json_kv(fp, 4, &f2, "role", config_role_name(st->listener->role));
	}
	fprintf(fp, "\n  }");

	json_key(fp, 2, &first, "placeholders");
	f2 = true;
	snprintf(rcpt, sizeof(rcpt), "%s@%s", p->external_local,
	    p->external_domain);
	fputc('{', fp);
	json_kv(fp, 4, &f2, "SERVER_HOST", p->server_host);
	json_kv(fp, 4, &f2, "SERVER_IP", p->server_ip);
	json_kv(fp, 4, &f2, "OTHER_IP", p->other_ip);
	json_kv(fp, 4, &f2, "TESTER_DOMAIN", p->tester_domain);
	json_kv(fp, 4, &f2, "TESTER_IP", p->tester_ip);
	json_kv(fp, 4, &f2, "EXTERNAL_RCPT", rcpt);
	json_kv(fp, 4, &f2, "BAD_DOMAIN", p->bad_domain);
	json_kv(fp, 4, &f2, "EHLO", p->ehlo);
	json_kv(fp, 4, &f2, "SERVER_HOST_note", p->server_host_note);
	json_kv(fp, 4, &f2, "SERVER_IP_note", p->server_ip_note);
	json_kv(fp, 4, &f2, "TESTER_DOMAIN_note", p->tester_domain_note);
	fprintf(fp, "\n  }");

	json_key(fp, 2, &first, "policy");
	json_policy(fp, st);
	if (st->remote) {
		json_key(fp, 2, &first, "intro");
		json_exchanges(fp, 4, &st->intro);
	}

	json_key(fp, 2, &first, "probes");
	json_rows(fp, 2, st->rows);
	json_key(fp, 2, &first, "runs");
	fputc('[', fp);
	for (size_t k = 0; k < st->nruns; k++) {
		const struct st_run *run = &st->runs[k];

		f2 = true;
		fprintf(fp, "%s\n    {", k ? "," : "");
		json_kv(fp, 6, &f2, "title", run->title);
		json_kv(fp, 6, &f2, "listener", run->listener);
		json_kv(fp, 6, &f2, "client", run->client);
		json_kv(fp, 6, &f2, "via", run->via[0] ? run->via : NULL);
		json_key(fp, 6, &f2, "probes");
		json_rows(fp, 6, run->rows);
		fprintf(fp, "\n    }");
	}
	fprintf(fp, "%s]", st->nruns ? "\n  " : "");

	json_key(fp, 2, &first, "positive");
	fputc('[', fp);
	for (size_t i = 0; i < st->nchecks; i++) {
		const struct st_check *k = &st->checks[i];

		f2 = true;
		fprintf(fp, "%s\n    {", i ? "," : "");
		json_kv(fp, 6, &f2, "check", k->name);
		if (k->listener[0]) {
			json_kv(fp, 6, &f2, "listener", k->listener);
		} else {
			json_key(fp, 6, &f2, "listener");
			fputs("null", fp);
		}
		json_kv(fp, 6, &f2, "verdict", st_verdict_name(k->verdict));
		json_key(fp, 6, &f2, "exchanges");
		json_exchanges(fp, 6, &k->t);
		json_kv(fp, 6, &f2, "note", k->note);
		fprintf(fp, "\n    }");
	}
	fprintf(fp, "%s]", st->nchecks ? "\n  " : "");

	json_key(fp, 2, &first, "summary");
	f2 = true;
	fputc('{', fp);
	json_num(fp, 4, &f2, "probes", ST_NPROBES);
	json_num(fp, 4, &f2, "pass", c.pass);
	json_num(fp, 4, &f2, "weak", c.weak);
	json_num(fp, 4, &f2, "fail", c.fail);
	json_num(fp, 4, &f2, "error", c.error);
	json_num(fp, 4, &f2, "unreached", c.unreached);
	json_num(fp, 4, &f2, "checks_pass", c.cpass);
	json_num(fp, 4, &f2, "checks_fail", c.cfail);
	json_num(fp, 4, &f2, "checks_na", c.cna);
	json_num(fp, 4, &f2, "checks_weak", c.cweak);
	json_num(fp, 4, &f2, "checks_error", c.cerror);
	json_key(fp, 4, &f2, "open_relay");
	fputs(c.fail ? "true" : "false", fp);
	json_key(fp, 4, &f2, "failed_probes");
	fputc('[', fp);
	for (size_t i = 0; i < ST_NPROBES; i++)
		if (st->rows[i].probe && st->rows[i].verdict == ST_FAIL) {
			fprintf(fp, "%s%d", sep, st->rows[i].probe->number);
			sep = ", ";
		}
	fputc(']', fp);
	json_key(fp, 4, &f2, "elapsed");
	fprintf(fp, "%.6f", st->elapsed);
	buf_init(&b, SUMMARY_MAX);
	st_summary(st, &b);
	buf_append(&b, "", 1);
	json_kv(fp, 4, &f2, "text", b.data);
	buf_free(&b);
	fprintf(fp, "\n  }");
	json_num(fp, 2, &first, "exit", (unsigned)st_exit_code(st));
	fputs("\n}\n", fp);
}

void
st_json_string(FILE *fp, const char *s)
{
	json_str(fp, s);
}

void
st_json_strings(FILE *fp, char *const *v, size_t n)
{
	json_strlist(fp, v, n);
}
