/*
 * keygen - sallyport --dkim-keygen: a DKIM key and the DNS record to
 * publish for it (keygen.c).
 */
#ifndef SALLYPORT_KEYGEN_H
#define SALLYPORT_KEYGEN_H

/* argv: DOMAIN SELECTOR [rsa|ed25519] DIR. config names the service
 * user a key made by root is given to. Exit status: 0, 1 failed, 2
 * usage. */
int	keygen_command(const char *config, int argc, char **argv);

#endif
