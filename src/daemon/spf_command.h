/*
 * spf_command - sallyport --spf-check IP MAILFROM [HELO]: one SPF check
 * against the configured resolver, its result printed for scripts.
 */
#ifndef SALLYPORT_SPF_COMMAND_H
#define SALLYPORT_SPF_COMMAND_H

#define SPF_COMMAND_USAGE \
	"       sallyport --spf-check [-c file] IP MAILFROM [HELO]\n"

/* Exit status: 0 with a result printed (whatever it is), 2 for a
 * usage or configuration error. */
int	spf_check_command(const char *config, int argc, char **argv);

#endif
