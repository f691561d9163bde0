/*
 * generation - which configuration every process serves.
 *
 * The process that reads SIGHUP (the master, or the only process) numbers
 * each configuration it has loaded: generation 1 at start, one more for
 * every reload it takes. Each child (a worker, the queue runner) has a
 * control socket to it (a SOCK_SEQPACKET pair, one message per packet):
 * the master sends "reload N DIGEST"; the child reads the file again and
 * answers "N ok", or "N refused: why" and keeps serving what it had. The
 * digest (SHA-256 of the bytes the master read) pins the content: a child
 * that reads other bytes (the file edited between the master's read and
 * its own) refuses. A child that starts answers for the generation it
 * started with: a forked worker has the master's configuration itself,
 * the runner (exec'd, it reads the file) checks the digest too. When every child has
 * answered for the newest generation the master logs one line saying so
 * and tells the service manager (notify.h): READY=1 at start and after a
 * reload, RELOADING=1 before one.
 */
#ifndef SALLYPORT_GENERATION_H
#define SALLYPORT_GENERATION_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "conf/config.h"
#include "daemon/workers.h"

/* A loaded configuration shared by the sessions that started under it:
 * a reload installs a new one and the old one goes when its last
 * session ends. */
struct cfg_ref {
	struct config	*cfg;
	unsigned	 refs;
};

struct cfg_ref	*cfg_ref_new(struct config *);	/* NULL: out of memory */
struct cfg_ref	*cfg_ref_get(struct cfg_ref *);
void		 cfg_ref_put(struct cfg_ref *);

struct gen_child {
	int		 fd;		/* our end of its control socket, -1 */
	pid_t		 pid;		/* 0: not running */
	unsigned long	 serves;	/* generation it said it serves; 0: none */
	unsigned long	 refused;	/* newest one it refused; 0: none */
};

struct gens {
	unsigned long	 gen;		/* the master's, wanted everywhere */
	unsigned long	 settled;	/* the newest logged as live (or not) */
	bool		 settled_refused; /* ... as NOT live: logged again as
					 * live once every process serves it
					 * (a refuser replaced, say) */
	bool		 ready_sent;	/* READY=1 told once (start-up over) */
	unsigned	 nworkers;	/* worker children; 0: one process */
	bool		 runner;	/* a queue runner child (delivery) */
	char		 digest[CONFIG_DIGEST_HEX];	/* of the file gen was
							 * read from */
	struct gen_child child[WORKERS_MAX + 1];	/* workers, then the
							 * runner */
};

/* Generation 1, read from the file with this digest (config.h), no
 * child running yet. */
void	gen_init(struct gens *, unsigned nworkers, bool runner,
	    const char *digest);
/* The runner's index in child[]. */
unsigned gen_runner(const struct gens *);
/* A new control socket for child i, about to be started: our end is
 * kept, the child's end returned (to be closed here after the fork), or
 * -1 with err. The runner's end already holds "reload N": it is exec'd,
 * and reads which generation it is before its configuration. */
int	gen_child_socket(struct gens *, unsigned i, char *err, size_t errlen);
/* Child i runs as pid (after its fork), or failed to start. */
void	gen_child_started(struct gens *, unsigned i, pid_t pid);
/* Child i has gone (reaped): its successor answers for itself. */
void	gen_child_gone(struct gens *, unsigned i);
/* In a new child: our copies of the other children's sockets closed. */
void	gen_close_all(struct gens *);

/* SIGHUP: RELOADING=1 (once start-up is over), before the file is read. */
void	gen_reload_begin(struct gens *);
/* The master took the new configuration, read from the file with this
 * digest: "reload N DIGEST" to every child. */
void	gen_reload(struct gens *, const char *digest);
/* The master refused the file: READY=1, the running generation stays
 * (the caller has logged why). */
void	gen_reload_refused(struct gens *);
/* Child i's socket is readable: take its answers. */
void	gen_read(struct gens *, unsigned i);
/* Log and tell the manager when every child serves gen (once each). */
void	gen_check(struct gens *);
/* STOPPING=1. */
void	gen_stopping(void);

/* The child's side is in conf/config_gen.h. */

#endif
