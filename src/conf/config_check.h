/*
 * config_check - after a file's lines: the defaults that depend on other
 * keys and the checks across keys (config_check.c).
 */
#ifndef SALLYPORT_CONFIG_CHECK_H
#define SALLYPORT_CONFIG_CHECK_H

#include "conf/config_msg.h"

/* conf_finish - defaults that depend on the file, and checks across
 * keys; sysname is the system's host name, for the message when it
 * was no domain name and the file sets none */
void	conf_finish(struct conf_parse *, const char *);

#endif
