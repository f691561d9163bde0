/*
 * fuzz_tcprules - the qmail importer's tcp.smtp reader and its mapping
 * of nested rules. Any input is imported or refused with a message;
 * what is imported is two lists of networks that config.c reads back,
 * and no address is both relayed and refused (each rule decides a part
 * of the address space no other rule decides).
 *
 * Built with the importer's import_tcprules.c and import_util.c (not
 * the program's main): see the fuzz rule in Makefile.am.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "import/import_qmail.h"
#include "lib/netaddr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define NETS_MAX	4096

/* nets - the value of key as networks; the count, or -1 if one does not
 * parse */
static int
nets(const struct imp *imp, const char *key, struct cidr *out)
{
	const struct imp_key *k = NULL;
	char *copy, *tok, *save, err[256];
	int n = 0;

	for (size_t i = 0; i < imp->nkeys; i++)
		if (strcmp(imp->keys[i].key, key) == 0)
			k = &imp->keys[i];
	if (k == NULL)
		return 0;
	if ((copy = strdup(k->value)) == NULL)
		return 0;
	for (tok = strtok_r(copy, " ", &save); tok != NULL && n < NETS_MAX;
	    tok = strtok_r(NULL, " ", &save))
		if (cidr_parse(tok, &out[n++], err, sizeof(err)) == -1) {
			fprintf(stderr, "%s: %s: %s\n", key, tok, err);
			n = -1;
			break;
		}
	free(copy);
	return n;
}

/* overlap - a and b share an address */
static int
overlap(const struct cidr *a, const struct cidr *b)
{
	const struct cidr *wide = a->prefix <= b->prefix ? a : b;
	const struct cidr *narrow = wide == a ? b : a;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

	if (a->family != b->family)
		return 0;
	if (a->family == AF_INET) {
		memcpy(&sin.sin_addr, narrow->addr, 4);
		return cidr_match(wide, (const struct sockaddr *)&sin);
	}
	memcpy(&sin6.sin6_addr, narrow->addr, 16);
	return cidr_match(wide, (const struct sockaddr *)&sin6);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	static struct cidr relay[NETS_MAX], deny[NETS_MAX];
	struct imp imp;
	FILE *fp;
	int nr, nd;

	if (path[0] == '\0') {
		snprintf(path, sizeof(path), "/tmp/fuzz_tcprules.%ld",
		    (long)getpid());
	}
	if ((fp = fopen(path, "w")) == NULL)
		return 0;
	fwrite(data, 1, size, fp);
	fclose(fp);

	memset(&imp, 0, sizeof(imp));
	imp.tcprules = path;
	imp.tcprules_given = true;
	if ((imp.report = open_memstream(&imp.report_text,
	    &imp.report_len)) == NULL)
		return 0;
	if (imp_tcprules(&imp) == 0) {
		if (imp.err[0] != '\0')
			abort();	/* success leaves no error */
		nr = nets(&imp, "mynetworks", relay);
		nd = nets(&imp, "client_deny", deny);
		if (nr < 0 || nd < 0)
			abort();	/* config.c would refuse the result */
		for (int i = 0; i < nr; i++)
			for (int j = 0; j < nd; j++)
				if (overlap(&relay[i], &deny[j]))
					abort();
	} else if (imp.err[0] == '\0') {
		abort();		/* a refusal says why */
	}
	imp_free(&imp);
	unlink(path);
	return 0;
}
