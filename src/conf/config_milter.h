/*
 * config_milter - the milter key (config_milter.c): one line a milter,
 * "NAME unix:PATH|inet:HOST:PORT [option=value ...]", in the order the
 * milters run, and milter_default_action's words.
 */
#ifndef SALLYPORT_CONFIG_MILTER_H
#define SALLYPORT_CONFIG_MILTER_H

#include <stddef.h>
#include <stdio.h>

#include "conf/config.h"
#include "conf/config_keys.h"
#include "conf/config_msg.h"

#define MILTER_NAME_MAX	64		/* a milter's name: it goes in logs */

/* The CONF_MILTER type's setter (one line adds one milter), printer
 * and freer, for config_types.c's table. */
int	conf_set_milter(struct conf_parse *, const struct conf_key *,
	    const char *, char *, size_t);
void	conf_print_milter(const struct config *, const struct conf_key *,
	    FILE *);
void	conf_free_milter(struct config *, const struct conf_key *);
/* CONF_MILTER_ACTION: "accept", "tempfail" or "reject", lower case. */
int	conf_milter_action_norm(const char *in, char *out, size_t outlen,
	    char *err, size_t errlen);
/* After the file: what a milter line left out takes the global keys'
 * values (milter_timeout_*, milter_default_action). */
void	conf_milter_finish(struct conf_parse *);
/* A milter_action's name, as the file spells it. */
const char	*conf_milter_action_name(enum milter_action);

#endif
