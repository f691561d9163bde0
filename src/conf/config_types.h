/*
 * config_types - set, print and free a key's value by its type
 * (config_types.c).
 */
#ifndef SALLYPORT_CONFIG_TYPES_H
#define SALLYPORT_CONFIG_TYPES_H

#include <stddef.h>
#include <stdio.h>

#include "conf/config.h"
#include "conf/config_keys.h"
#include "conf/config_msg.h"

/* conf_set - set the key from val (file text) and report its error as
 * the parse's; an empty value only where the key allows one */
void	conf_set(struct conf_parse *, const struct conf_key *, const char *);
/* conf_type_set - the same without a message: -1 and err on failure */
int	conf_type_set(struct conf_parse *, const struct conf_key *,
	    const char *, char *, size_t);
/* conf_type_print - the key's "key = value" line(s) */
void	conf_type_print(const struct config *, const struct conf_key *,
	    FILE *);
/* conf_type_free - free the key's value and leave the field empty */
void	conf_type_free(struct config *, const struct conf_key *);

#endif
