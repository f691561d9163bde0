/*
 * fuzz_config - config_parse on arbitrary text: a config (perhaps with
 * warnings), or NULL with the errors said; then free.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "lib/log.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_quiet(1);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg;
	char *text, *errors = NULL;

	/* config_parse takes a C string, as read from a file. */
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	cfg = config_parse(text, "fuzz.conf", &errors);
	if (cfg == NULL && (errors == NULL || errors[0] == '\0')) {
		fprintf(stderr, "fuzz_config: refused without a reason\n");
		abort();
	}
	config_free(cfg);
	free(errors);
	free(text);
	return 0;
}
