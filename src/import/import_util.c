/*
 * import_util - what the parts of sallyport-import-qmail share (declared
 * in import_qmail.h): the bounded line reader for qmail's files, texts
 * built in memory, the first fatal error, the report's lines, the keys
 * to write and the end of an import. The program (import_qmail.c) and
 * the mappings (import_control.c, import_tcprules.c, import_sasldb.c)
 * use them; they use nothing of the importer's own.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/import_qmail.h"

char *
imp_trim(char *s)
{
	size_t	 n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

int
imp_lines_read(struct imp *imp, const char *path, struct imp_lines *l)
{
	FILE	*fp;
	size_t	 len, cap = 0;
	char	*s;

	memset(l, 0, sizeof(*l));
	if ((fp = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return 1;
		return imp_fail(imp, "%s: %s", path, strerror(errno));
	}
	if ((l->data = malloc(IMP_FILE_MAX + 1)) == NULL) {
		fclose(fp);
		return imp_fail(imp, "out of memory");
	}
	len = fread(l->data, 1, IMP_FILE_MAX + 1, fp);
	if (ferror(fp) || len > IMP_FILE_MAX) {
		fclose(fp);
		imp_lines_free(l);
		return imp_fail(imp, "%s: %s", path, len > IMP_FILE_MAX ?
		    "file too large" : strerror(errno));
	}
	fclose(fp);
	l->data[len] = '\0';
	for (s = l->data; s < l->data + len; ) {
		size_t	 n = strcspn(s, "\n");
		char	**t;

		if (l->n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((t = reallocarray(l->v, cap, sizeof(*t))) == NULL) {
				imp_lines_free(l);
				return imp_fail(imp, "out of memory");
			}
			l->v = t;
		}
		l->v[l->n++] = s;
		if (strlen(s) < n) {
			unsigned line = (unsigned)l->n;

			imp_lines_free(l);
			return imp_fail(imp, "%s:%u: NUL byte in line", path,
			    line);
		}
		if (n > CV_LINE_MAX) {
			unsigned line = (unsigned)l->n;

			imp_lines_free(l);
			return imp_fail(imp, "%s:%u: line too long", path,
			    line);
		}
		s[n] = '\0';
		if (n > 0 && s[n - 1] == '\r')
			s[n - 1] = '\0';
		s += n + 1;
	}
	return 0;
}

void
imp_lines_free(struct imp_lines *l)
{
	free(l->v);
	free(l->data);
	memset(l, 0, sizeof(*l));
}

int
imp_texts_open(struct imp_text *t, size_t n)
{
	memset(t, 0, n * sizeof(*t));
	for (size_t i = 0; i < n; i++)
		if ((t[i].fp = open_memstream(&t[i].s, &t[i].len)) == NULL) {
			while (i-- > 0)
				free(imp_text_close(&t[i]));
			return -1;
		}
	return 0;
}

char *
imp_text_close(struct imp_text *t)
{
	char	*s;

	if (t->fp == NULL)
		return NULL;
	fclose(t->fp);
	s = t->s;
	memset(t, 0, sizeof(*t));
	return s;
}

int
imp_fail(struct imp *imp, const char *fmt, ...)
{
	va_list	 ap;

	if (imp->err[0] != '\0')
		return -1;		/* the first one says it */
	va_start(ap, fmt);
	vsnprintf(imp->err, sizeof(imp->err), fmt, ap);
	va_end(ap);
	return -1;
}

static void imp_vreport(struct imp *, const char *, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

static void
imp_vreport(struct imp *imp, const char *kind, const char *fmt, va_list ap)
{
	fputs(kind, imp->report);
	vfprintf(imp->report, fmt, ap);
	fputc('\n', imp->report);
}

void
imp_mapped(struct imp *imp, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	imp_vreport(imp, "mapped:     ", fmt, ap);
	va_end(ap);
}

void
imp_unmapped(struct imp *imp, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	imp_vreport(imp, "not mapped: ", fmt, ap);
	va_end(ap);
}

struct imp_key *
imp_key_find(struct imp *imp, const char *key)
{
	for (size_t i = 0; i < imp->nkeys; i++)
		if (strcmp(imp->keys[i].key, key) == 0)
			return &imp->keys[i];
	return NULL;
}

void
imp_key_set(struct imp *imp, const char *key, const char *value,
    const char *fmt, ...)
{
	struct imp_key	*k, *t;
	char		*text = NULL, *why = NULL;
	size_t		 len = 0;
	FILE		*fp;
	va_list		 ap;
	int		 n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0 || (fp = open_memstream(&why, &len)) == NULL) {
		if (n >= 0)
			free(text);
		imp->nomem = true;
		return;
	}
	/* "# from " then the text, each of its lines a comment */
	fputs("# from ", fp);
	for (const char *c = text; *c != '\0'; c++) {
		fputc(*c, fp);
		if (*c == '\n')
			fputs("#   ", fp);
	}
	fputc('\n', fp);
	fclose(fp);
	free(text);
	if ((k = imp_key_find(imp, key)) == NULL) {
		if ((t = reallocarray(imp->keys, imp->nkeys + 1,
		    sizeof(*t))) == NULL) {
			free(why);
			imp->nomem = true;
			return;
		}
		imp->keys = t;
		k = &t[imp->nkeys++];
		k->key = strdup(key);
	} else {
		free(k->value);
		free(k->why);
	}
	k->value = strdup(value);
	k->why = why;
	if (k->key == NULL || k->value == NULL)
		imp->nomem = true;
}

void
imp_free(struct imp *imp)
{
	for (size_t i = 0; i < imp->nkeys; i++) {
		free(imp->keys[i].key);
		free(imp->keys[i].value);
		free(imp->keys[i].why);
	}
	free(imp->keys);
	for (size_t i = 0; i < imp->nusers; i++) {
		explicit_bzero(imp->users[i].password,
		    strlen(imp->users[i].password));
		free(imp->users[i].name);
		free(imp->users[i].password);
	}
	free(imp->users);
	if (imp->report != NULL)
		fclose(imp->report);
	free(imp->report_text);
}
