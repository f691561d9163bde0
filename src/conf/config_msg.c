/*
 * config_msg - the messages of one configuration parse: every error and
 * warning collected as "file:line: message", so that one run shows them
 * all, and handed to the caller at the end. Nothing here logs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config_msg.h"

/* conf_addtext - append to the message text; remember a failure */
void
conf_addtext(struct conf_parse *p, const char *s)
{
	size_t	 n = strlen(s);

	if (p->nomem)
		return;
	if (p->len + n + 1 > p->cap) {
		size_t	 cap = p->cap ? p->cap : 256;
		char	*t;

		while (cap < p->len + n + 1)
			cap *= 2;
		if ((t = realloc(p->text, cap)) == NULL) {
			p->nomem = true;
			return;
		}
		p->text = t;
		p->cap = cap;
	}
	memcpy(p->text + p->len, s, n + 1);
	p->len += n;
}

static void conf_vmsg(struct conf_parse *, const char *, const char *,
    va_list) __attribute__((format(printf, 3, 0)));

/* conf_vmsg - one "file:line: [kind]message" line */
static void
conf_vmsg(struct conf_parse *p, const char *kind, const char *fmt, va_list ap)
{
	char	 where[32];
	char	 msg[CONF_ERR_LEN];

	if (p->lineno > 0)
		snprintf(where, sizeof(where), ":%u: ", p->lineno);
	else
		snprintf(where, sizeof(where), ": ");
	/* Messages quote at most CV_QUOTE_MAX bytes of input, which
	 * keeps them well within msg. */
	vsnprintf(msg, sizeof(msg), fmt, ap);
	conf_addtext(p, p->name);
	conf_addtext(p, where);
	conf_addtext(p, kind);
	conf_addtext(p, msg);
	conf_addtext(p, "\n");
}

void
conf_error(struct conf_parse *p, const char *fmt, ...)
{
	va_list	 ap;

	p->nerrors++;
	va_start(ap, fmt);
	conf_vmsg(p, "", fmt, ap);
	va_end(ap);
}

void
conf_warn(struct conf_parse *p, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	conf_vmsg(p, "warning: ", fmt, ap);
	va_end(ap);
}

/* conf_report - hand the messages to the caller, or free them */
void
conf_report(struct conf_parse *p, char **errors)
{
	if (p->nomem) {
		/* The text itself could not grow: say what we can. */
		free(p->text);
		p->text = NULL;
		p->len = p->cap = 0;
		p->nomem = false;
		p->nerrors++;
		conf_addtext(p, "out of memory\n");
	}
	if (errors != NULL)
		*errors = p->text;
	else
		free(p->text);
	p->text = NULL;
}
