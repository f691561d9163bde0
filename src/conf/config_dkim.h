/*
 * config_dkim - the dkim_sign key (config_dkim.c): the private keys our
 * mail is signed with, loaded and checked with the configuration.
 */
#ifndef SALLYPORT_CONFIG_DKIM_H
#define SALLYPORT_CONFIG_DKIM_H

#include <stddef.h>
#include <stdio.h>

#include <openssl/evp.h>

#include "conf/config.h"
#include "conf/config_keys.h"
#include "conf/config_msg.h"

/* RFC 8301: a signer's RSA key has 2048 bits or more. */
#define DKIM_SIGN_RSA_MIN_BITS	2048

/* Read and check a private key file (mode, PEM, type, size); NULL with
 * err naming the file when it will not do. */
EVP_PKEY *conf_dkim_key_load(const char *path, char *err, size_t errlen);

/* The CONF_DKIM_SIGN type's setter (one line adds one key), printer
 * and freer, for config_types.c's table. */
int	conf_set_dkim_sign(struct conf_parse *, const struct conf_key *,
	    const char *, char *, size_t);
void	conf_print_dkim_sign(const struct config *, const struct conf_key *,
	    FILE *);
void	conf_free_dkim_sign(struct config *, const struct conf_key *);
/* Run as root with a `user`: every key file must be that user's, who
 * reads it again (the queue runner, a reload); an error naming the
 * line for each that is not. */
void	conf_check_dkim_owner(struct conf_parse *);

#endif
