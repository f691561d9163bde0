/*
 * config_msg - one configuration parse's state and its messages
 * (config_msg.c): where the parse is, which line set each key, and the
 * "file:line: message" text collected for the caller.
 */
#ifndef SALLYPORT_CONFIG_MSG_H
#define SALLYPORT_CONFIG_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"
#include "conf/config_keys.h"

#define CONF_ERR_LEN	256		/* one message, without "file:line: " */

/* One parse: where we are, what was set where, what went wrong. */
struct conf_parse {
	struct config	*cfg;
	const char	*name;		/* file name for messages */
	unsigned	 lineno;	/* 0: not from a line (defaults) */
	unsigned	 seen[CONF_KEYS_MAX];	/* line first set, 0: never */
	unsigned	 role_line[ROLE_METRICS + 1];	/* first
					 * listener of each role */
	unsigned	 proxy_line;	/* first listener with `proxy` */
	char		*text;		/* collected messages */
	size_t		 len, cap;
	unsigned	 nerrors;
	bool		 nomem;
};

/* conf_addtext - append to the message text; remember a failure */
void	conf_addtext(struct conf_parse *, const char *);
/* conf_error - one error at p->lineno (0: no line), counted */
void	conf_error(struct conf_parse *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
/* conf_warn - one warning: said, but the configuration stands */
void	conf_warn(struct conf_parse *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
/* conf_report - hand the messages to the caller (*errors), or free them */
void	conf_report(struct conf_parse *, char **);

#endif
