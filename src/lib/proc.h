/*
 * proc - process set-up shared by the daemon's processes: the signals
 * a daemon acts on (TERM, INT, HUP) as one mask, PR_SET_NO_NEW_PRIVS,
 * and the names of threads.
 */
#ifndef SALLYPORT_PROC_H
#define SALLYPORT_PROC_H

#include <signal.h>

/* Block or unblock (SIG_BLOCK, SIG_UNBLOCK) TERM, INT and HUP. */
void	proc_signals(int how);
/* Those three signals as a set, for a mask set in one step. */
void	proc_signal_set(sigset_t *);
/* PR_SET_NO_NEW_PRIVS for this process and what it runs: for the
 * processes that never run a set-user-ID program. It is inherited
 * across fork and exec and cannot be cleared, so each process that wants
 * it sets it after its fork. 0, or -1 logged with `who`. */
int	proc_no_new_privs(const char *who);
/* The calling thread's name (PR_SET_NAME: at most 15 characters, more
 * are cut), as `top -H`, `ps -L` and perf show it; for a process's
 * main thread, its name in `ps` and pgrep too. */
void	proc_thread_name(const char *name);

#endif
