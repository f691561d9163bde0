/*
 * proc - signal masks and PR_SET_NO_NEW_PRIVS for a process.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "lib/log.h"
#include "lib/proc.h"

int
proc_no_new_privs(const char *who)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		log_err("%s: prctl(PR_SET_NO_NEW_PRIVS): %s", who,
		    strerror(errno));
		return -1;
	}
	return 0;
}

void
proc_signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

void
proc_signals(int how)
{
	sigset_t set;

	proc_signal_set(&set);
	sigprocmask(how, &set, NULL);
}

void
proc_thread_name(const char *name)
{
	char n[16];

	snprintf(n, sizeof(n), "%s", name);
	(void)prctl(PR_SET_NAME, n, 0, 0, 0);
}

