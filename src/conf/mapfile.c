/*
 * mapfile - the reader of the key-to-targets files (aliases, the
 * recipient table): lines, continuations, comments and the
 * "file:line: message" list. What an entry means is the caller's
 * (mapfile->entry).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config_value.h"
#include "conf/mapfile.h"

#define MAPFILE_LINE_MAX	CV_LINE_MAX	/* bytes per line */
#define MAPFILE_ERRTEXT_MAX	(64 * 1024)

void
mapfile_init(struct mapfile *m, const char *path,
    void (*entry)(struct mapfile *, char *, unsigned))
{
	memset(m, 0, sizeof(*m));
	m->path = path;
	m->entry = entry;
	buf_init(&m->errors, MAPFILE_ERRTEXT_MAX);
}

/* mapfile_error - one "file:line: message" line */
void
mapfile_error(struct mapfile *m, unsigned line, const char *fmt, ...)
{
	char	 msg[256];
	va_list	 ap;

	m->nerrors++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		buf_printf(&m->errors, "%s:%u: %s\n", m->path, line, msg);
	else
		buf_printf(&m->errors, "%s: %s\n", m->path, msg);
}

/* mapfile_getline - the next line into `line` (MAPFILE_LINE_MAX + 1
 * bytes), without its newline; 0 at the end of the file. A line too
 * long or with a control character is read whole and reported. */
static int
mapfile_getline(struct mapfile *m, FILE *fp, char *line, bool *ok)
{
	size_t	 n = 0;
	int	 c;
	bool	 any = false, toolong = false;
	int	 bad = -1;

	*ok = true;
	while ((c = getc(fp)) != EOF) {
		any = true;
		if (c == '\n')
			break;
		if (((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) &&
		    bad == -1)
			bad = c;
		if (n < MAPFILE_LINE_MAX)
			line[n++] = (char)c;
		else
			toolong = true;
	}
	if (!any)
		return 0;
	m->lineno++;
	if (n > 0 && line[n - 1] == '\r' && !toolong)
		n--;		/* CRLF */
	line[n] = '\0';
	if (strchr(line, '\r') != NULL && bad == -1)
		bad = '\r';
	if (toolong) {
		mapfile_error(m, m->lineno, "line too long (more than %d "
		    "bytes)", MAPFILE_LINE_MAX);
		*ok = false;
	} else if (bad != -1) {
		mapfile_error(m, m->lineno, "control character 0x%02x in "
		    "line", bad);
		*ok = false;
	}
	return 1;
}

/* mapfile_entries - every entry of the file, continuation lines joined */
static void
mapfile_entries(struct mapfile *m, FILE *fp)
{
	char		 line[MAPFILE_LINE_MAX + 1];
	struct buf	 entry;
	unsigned	 start = 0;	/* line of the entry; 0: none */
	bool		 ok, broken = false;

	buf_init(&entry, MAPFILE_ENTRY_MAX);
	for (;;) {
		int	 more = mapfile_getline(m, fp, line, &ok);
		char	*s = line;

		if (m->nerrors >= MAPFILE_ERRORS_MAX || m->nomem) {
			if (more)
				mapfile_error(m, m->lineno, "too many errors, "
				    "stopped reading");
			break;
		}
		while (more && cv_isblank(*s))
			s++;
		if (more && (*s == '\0' || *s == '#'))
			continue;
		if (more && s != line) {	/* a continuation */
			if (start == 0 && !broken && ok)
				mapfile_error(m, m->lineno, "continuation "
				    "line without an entry above it");
			if (!ok || start == 0)
				continue;
			if (buf_printf(&entry, " %s", s) == -1) {
				mapfile_error(m, start, "entry too long (more "
				    "than %d bytes)", MAPFILE_ENTRY_MAX);
				start = 0;
				broken = true;
			}
			continue;
		}
		if (start != 0)
			m->entry(m, entry.data, start);
		buf_reset(&entry);
		start = 0;
		if (!more)
			break;
		/* A bad line breaks its entry; its continuations go with
		 * it, without more messages. */
		broken = !ok;
		if (ok && buf_printf(&entry, "%s", s) == 0)
			start = m->lineno;
	}
	buf_free(&entry);
}

void
mapfile_read(struct mapfile *m)
{
	FILE	*fp;

	if ((fp = fopen(m->path, "r")) == NULL) {
		mapfile_error(m, 0, "cannot open: %s", strerror(errno));
		return;
	}
	mapfile_entries(m, fp);
	if (ferror(fp))
		mapfile_error(m, 0, "cannot read: %s", strerror(errno));
	fclose(fp);
}

char *
mapfile_errors(struct mapfile *m)
{
	char	*text;

	if (m->nomem)
		mapfile_error(m, 0, "out of memory");
	if (m->nerrors == 0) {
		buf_free(&m->errors);
		return NULL;
	}
	/* A message that could not be kept still counts (and with no
	 * memory left even for this, the caller says out of memory). */
	if ((text = m->errors.data) == NULL)
		text = strdup("out of memory\n");
	return text;
}
