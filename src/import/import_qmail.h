/*
 * import_qmail - what the parts of sallyport-import-qmail share: the
 * import in progress (keys to write, each with the qmail lines it came
 * from; the report; the first fatal error) and a bounded line reader
 * for qmail's control files.
 *
 * Top first: import_qmail.c has main, writes the results and checks
 * them; import_control.c maps control/; import_tcprules.c maps tcp.smtp;
 * import_sasldb.c turns /etc/poppasswd into a sasldb; import_util.c has
 * the helpers declared here, which all of them use.
 */
#ifndef SALLYPORT_IMPORT_QMAIL_H
#define SALLYPORT_IMPORT_QMAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "conf/config_addr.h"
#include "conf/config_value.h"

#define IMP_FILE_MAX	(4 * 1024 * 1024)	/* bytes of one input file */
#define IMP_ERR_LEN	1024

/* One key of the sallyport.conf being written. */
struct imp_key {
	char	*key;
	char	*value;
	char	*why;		/* comment lines, each "# ...\n" */
};

/* One user of /etc/poppasswd. */
struct imp_user {
	char		*name;
	char		*password;
	unsigned	 line;
};

struct imp {
	const char	*qmail_dir;	/* absolute */
	const char	*tcprules;	/* tcp.smtp, the tcprules source */
	bool		 tcprules_given;	/* missing is then an error */
	const char	*poppasswd;
	bool		 poppasswd_given;
	const char	*dns_servers;	/* NULL: resolv.conf */
	char		 hostname[CV_DOMAIN_MAX + 1];	/* "" if no control/me */
	struct imp_key	*keys;
	size_t		 nkeys;
	struct imp_user	*users;
	size_t		 nusers;
	FILE		*report;	/* mapped and unmapped, in order */
	char		*report_text;
	size_t		 report_len;
	char		 err[IMP_ERR_LEN];	/* "file:line: message" */
	bool		 nomem;
};

/* The lines of a file, numbered from 1, without their line ends. */
struct imp_lines {
	char		**v;
	size_t		  n;
	char		 *data;		/* the file, cut into v */
};

/* A text being built, as by open_memstream. */
struct imp_text {
	FILE	*fp;
	char	*s;
	size_t	 len;
};

/* imp_texts_open - open n texts at once; -1 (none left open) if any
 * fails */
int	imp_texts_open(struct imp_text *, size_t n);
/* imp_text_close - the text, the caller's to free; NULL if never open */
char	*imp_text_close(struct imp_text *);

/* imp_lines_read - a whole file into lines; 0, 1 if it does not exist,
 * -1 with imp->err set */
int	imp_lines_read(struct imp *, const char *path, struct imp_lines *);
void	imp_lines_free(struct imp_lines *);
/* imp_trim - blanks off both ends, in place */
char	*imp_trim(char *);

/* imp_key_set - a key to write, its comment saying where it came from */
void	imp_key_set(struct imp *, const char *key, const char *value,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* imp_key_find - a key set so far, or NULL */
struct imp_key *imp_key_find(struct imp *, const char *key);
/* imp_mapped, imp_unmapped - one line of the report */
void	imp_mapped(struct imp *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	imp_unmapped(struct imp *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* imp_fail - set the fatal error; returns -1 */
int	imp_fail(struct imp *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* imp_control - map the control files of imp->qmail_dir */
int	imp_control(struct imp *);
/* imp_free - everything the import holds */
void	imp_free(struct imp *);
/* imp_tcprules - map tcp.smtp: mynetworks and client_deny */
int	imp_tcprules(struct imp *);
/* imp_poppasswd_read - read the users of imp->poppasswd */
int	imp_poppasswd_read(struct imp *);
/* imp_sasldb_write - every user into the sasldb at path, in realm
 * (without a report: the caller renames the file after) */
int	imp_sasldb_write(struct imp *, const char *path, const char *realm);

#endif
