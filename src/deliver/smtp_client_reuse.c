/*
 * smtp_client_reuse - sessions kept open between messages. After a
 * message is delivered, its connection may wait, idle, for the next
 * message to the same server under the same terms; that message then
 * goes without a new connection, greeting, EHLO, STARTTLS or AUTH.
 *
 * The terms are the key: the address and port, our name, the TLS mode
 * and everything the certificate was checked against (CA file, name,
 * TLSA records), and the AUTH credentials. A message whose delivery
 * asks for anything else (another policy, another name to verify) gets
 * a connection of its own, so that no message goes over a session
 * checked for less than it needs.
 *
 * The process keeps at most max_idle idle connections, at most
 * per_key for one key, each for at most idle_secs seconds, and none
 * that has carried max_uses messages. A thread takes a connection out
 * of the list for one message and gives it back after; the list's
 * lock is never held across I/O. The sessions that waited their time
 * are closed with QUIT on a thread of their own, so that a server slow
 * to answer it holds up no delivery and not the runner's schedule.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliver/smtp_client.h"
#include "deliver/smtp_client_int.h"
#include "sec/tls.h"
#include "lib/proc.h"

struct idle_conn {
	struct client	*c;
	char		*key;
	size_t		 keylen;
	time_t		 since;		/* parked at */
	struct idle_conn *next;
};

static pthread_mutex_t	 reuse_lock = PTHREAD_MUTEX_INITIALIZER;
static struct idle_conn	*idle_list;
static unsigned		 idle_count;
static unsigned		 max_idle, per_key, idle_secs, max_uses = 1;
static unsigned		 reuse_gen;	/* sessions of an older one (before
					 * a reload) are never used again:
					 * the key holds it */

void
smtp_client_reuse_limits(unsigned idle, unsigned key, unsigned secs,
    unsigned uses)
{
	pthread_mutex_lock(&reuse_lock);
	max_idle = idle;
	per_key = key;
	idle_secs = secs;
	max_uses = uses;
	reuse_gen++;
	pthread_mutex_unlock(&reuse_lock);
}

/* key_field - one field into buf (when not NULL) at *len, as its
 * length, a colon and its bytes ("-" for none), so that no two lists of
 * fields give the same key */
static void
key_field(char *buf, size_t *len, const void *p, size_t n, bool none)
{
	char	 head[32];
	int	 h = none ? snprintf(head, sizeof(head), "-") :
		    snprintf(head, sizeof(head), "%zu:", n);

	if (buf != NULL) {
		memcpy(buf + *len, head, (size_t)h);
		if (!none)
			memcpy(buf + *len + h, p, n);
	}
	*len += (size_t)h + (none ? 0 : n);
}

static void
key_str(char *buf, size_t *len, const char *s)
{
	key_field(buf, len, s, s ? strlen(s) : 0, s == NULL);
}

/* key_build - the key into buf (NULL: its length only) */
static size_t
key_build(const struct smtp_client_opts *o, unsigned gen, char *buf)
{
	size_t	 len = 0, i;
	char	 num[64];

	snprintf(num, sizeof(num), "%u.%d.%d.%zu", gen, (int)o->tls,
	    (int)o->verify_report, o->ntlsa);
	key_str(buf, &len, num);
	key_str(buf, &len, o->host);
	key_str(buf, &len, o->port);
	key_str(buf, &len, o->helo);
	key_str(buf, &len, o->ca_file);
	key_str(buf, &len, o->verify_name);
	key_str(buf, &len, o->dane_mx_name);
	key_str(buf, &len, o->reuse_tag);
	key_str(buf, &len, o->auth_user);
	key_str(buf, &len, o->auth_pass);
	for (i = 0; i < o->ntlsa; i++) {
		snprintf(num, sizeof(num), "%u.%u.%u", o->tlsa[i].usage,
		    o->tlsa[i].selector, o->tlsa[i].mtype);
		key_str(buf, &len, num);
		key_field(buf, &len, o->tlsa[i].data, o->tlsa[i].len, false);
	}
	return len;
}

char *
client_reuse_key(const struct smtp_client_opts *o, size_t *keylen)
{
	unsigned gen;
	char	*key;

	if (o->unix_path != NULL || o->lmtp || o->host == NULL)
		return NULL;
	pthread_mutex_lock(&reuse_lock);
	gen = reuse_gen;
	pthread_mutex_unlock(&reuse_lock);
	/* sized first: no realloc leaves a copy of the password behind */
	*keylen = key_build(o, gen, NULL);
	if ((key = malloc(*keylen)) != NULL)
		(void)key_build(o, gen, key);
	return key;
}

void
client_reuse_key_free(char *key, size_t keylen)
{
	if (key != NULL)
		explicit_bzero(key, keylen);	/* it holds the password */
	free(key);
}

static void
idle_free(struct idle_conn *ic, bool quit)
{
	client_close(ic->c, quit);
	client_reuse_key_free(ic->key, ic->keylen);
	free(ic);
}

/* expired - past its time (or the clock went back) */
static bool
expired(const struct idle_conn *ic, time_t now)
{
	return now - ic->since >= (time_t)idle_secs || ic->since > now;
}

/* unlink_expired - the idle connections past their time (all when
 * now is 0) out of the list, chained into *out; lock held */
static void
unlink_expired(time_t now, struct idle_conn **out)
{
	struct idle_conn **pp = &idle_list, *ic;

	while ((ic = *pp) != NULL) {
		if (now == 0 || expired(ic, now)) {
			*pp = ic->next;
			ic->next = *out;
			*out = ic;
			idle_count--;
		} else
			pp = &ic->next;
	}
}

/* close_chain - QUIT to each first, then the replies that come within
 * one second for them all, then every one closed: a server that does
 * not answer costs the others nothing */
static void
close_chain(struct idle_conn *chain)
{
	struct idle_conn *ic, *next;
	struct pollfd	 pfd[64];
	struct timespec	 end, now;
	size_t		 n;
	int		 ms;

	for (ic = chain; ic != NULL; ic = ic->next)
		client_bye(ic->c);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += 1;
	for (;;) {
		n = 0;
		for (ic = chain; ic != NULL && n < 64; ic = ic->next)
			if (ic->c != NULL && !ic->c->lost &&
			    ic->c->quit_sent) {
				pfd[n].fd = ic->c->fd;
				pfd[n].events = POLLIN;
				pfd[n++].revents = 0;
			}
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (int)((end.tv_sec - now.tv_sec) * 1000 +
		    (end.tv_nsec - now.tv_nsec) / 1000000);
		if (n == 0 || ms <= 0 || poll(pfd, n, ms) <= 0)
			break;
		/* the ones that answered: their reply read, closed */
		for (ic = chain; ic != NULL; ic = ic->next)
			for (size_t k = 0; k < n && ic->c != NULL; k++)
				if (pfd[k].fd == ic->c->fd && pfd[k].revents) {
					client_close(ic->c, true);
					ic->c = NULL;
				}
	}
	for (ic = chain; ic != NULL; ic = next) {
		next = ic->next;
		if (ic->c != NULL)
			ic->c->lost = true;	/* no more waiting */
		idle_free(ic, false);
	}
}

static void *
closer_main(void *arg)
{
	proc_thread_name("sp-closer");
	close_chain(arg);
	return NULL;
}

/* close_later - close_chain on a thread of its own (here if none can
 * start) */
static void
close_later(struct idle_conn *chain)
{
	pthread_attr_t	 attr;
	pthread_t	 t;
	int		 rc;

	if (chain == NULL)
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, closer_main, chain);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		close_chain(chain);
}

/* still_quiet - an idle connection the server has not closed or spoken
 * on (a 421 for its own timeout): fit to carry a message */
static bool
still_quiet(const struct client *c)
{
	struct pollfd	 pfd = { .fd = c->fd, .events = POLLIN };

	if (c->tls != NULL && tls_pending(c->tls))
		return false;
	return poll(&pfd, 1, 0) == 0;
}

struct client *
client_reuse_take(const char *key, size_t keylen)
{
	struct idle_conn **pp, *ic;
	struct client	*c = NULL;
	time_t		 now = time(NULL);

	pthread_mutex_lock(&reuse_lock);
	for (pp = &idle_list; (ic = *pp) != NULL; pp = &ic->next)
		if (ic->keylen == keylen && !expired(ic, now) &&
		    memcmp(ic->key, key, keylen) == 0) {
			*pp = ic->next;
			idle_count--;
			break;
		}
	pthread_mutex_unlock(&reuse_lock);
	if (ic == NULL)
		return NULL;
	if (still_quiet(ic->c)) {
		c = ic->c;
		ic->c = NULL;
	} else
		ic->c->lost = true;	/* closed, or a 421: no QUIT */
	idle_free(ic, false);
	return c;
}

bool
client_reuse_park(struct client *c, const char *key, size_t keylen)
{
	struct idle_conn *ic, *p;
	unsigned	 same = 0;
	bool		 kept = false;

	if ((ic = calloc(1, sizeof(*ic))) == NULL)
		return false;
	if ((ic->key = malloc(keylen)) == NULL) {
		free(ic);
		return false;
	}
	memcpy(ic->key, key, keylen);
	ic->keylen = keylen;
	ic->c = c;
	ic->since = time(NULL);
	pthread_mutex_lock(&reuse_lock);
	for (p = idle_list; p != NULL; p = p->next)
		if (p->keylen == keylen && !expired(p, ic->since) &&
		    memcmp(p->key, key, keylen) == 0)
			same++;
	if (idle_secs > 0 && c->uses < max_uses && idle_count < max_idle &&
	    same < per_key) {
		c->o = NULL;	/* the caller's options: gone soon */
		ic->next = idle_list;
		idle_list = ic;
		idle_count++;
		kept = true;
	}
	pthread_mutex_unlock(&reuse_lock);
	if (!kept) {
		ic->c = NULL;		/* still the caller's */
		idle_free(ic, false);
	}
	return kept;
}

void
smtp_client_reuse_sweep(time_t now)
{
	struct idle_conn *gone = NULL;

	pthread_mutex_lock(&reuse_lock);
	if (idle_list != NULL)
		unlink_expired(now, &gone);
	pthread_mutex_unlock(&reuse_lock);
	close_later(gone);
}

void
smtp_client_reuse_close_all(void)
{
	struct idle_conn *gone = NULL;

	pthread_mutex_lock(&reuse_lock);
	unlink_expired(0, &gone);
	pthread_mutex_unlock(&reuse_lock);
	close_chain(gone);
}
