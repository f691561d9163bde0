/*
 * workers_steer - how many workers, whether a master runs over them, and
 * which one gets a client: the classic BPF program attached to each
 * reuseport group, and the same choice made in C for the clients the
 * master accepts itself.
 */
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/server.h"
#include "daemon/workers.h"
#include "lib/log.h"
#include "lib/netaddr.h"

/* usable_cpus - the CPUs this process may run on (a container's or
 * taskset's share), else the online ones */
static long
usable_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	return sysconf(_SC_NPROCESSORS_ONLN);
}

unsigned
workers_count(const struct config *cfg)
{
	long n;

	if (cfg->workers > 0)
		return cfg->workers;
	/* One per two CPUs: a worker is an event loop and the three threads
	 * that commit, write out and log for it, which keep more than one
	 * CPU busy at full load (doc/benchmarks.md, "How many workers"). */
	n = usable_cpus() / 2;
	if (n < 1)
		return 1;
	return n > WORKERS_MAX ? WORKERS_MAX : (unsigned)n;
}

/* workers_master - a master and worker processes, even with one worker:
 * when the number is left to the daemon (workers = 0), so that a worker
 * that dies is replaced while the master and the runner go on; and with
 * the qmail-queue hand-off, where the runner (and what starts and
 * restarts it) must be free to run a set-user-ID program, and the
 * process that faces the network must not be: they cannot be one
 * process. Only an explicit workers = 1 is one process. */
bool
workers_master(const struct config *cfg, unsigned nworkers)
{
	return nworkers > 1 || cfg->workers == 0 || config_qmail_queue(cfg);
}

/*
 * The steering program, classic BPF run by the kernel for each new
 * connection on a reuseport group; it returns the index of the socket
 * (the worker) to use. A client in mynetworks gets STEER_SPREAD, out of
 * range, so the kernel spreads those connections by its own hash: they
 * are exempt from max_connections_per_ip (their AUTH failures then
 * count per worker), and a busy local relay or a benchmark from one
 * address uses every worker. Any other client
 * gets a hash of its IPv4 address, or of the first ipv6_client_prefix
 * bits of its IPv6 one (netaddr_client_key's key: one site), mod n, so
 * that every connection a per-address limit counts together reaches the
 * worker that counts it. The packet's network header is at SKF_NET_OFF.
 * Each test jumps at most a few instructions, within cBPF's 8-bit
 * conditional offsets, however long mynetworks is.
 */
#define STEER_SPREAD	0xffffffffu
#define STEER_MUL	2654435761u	/* Knuth's multiplicative hash */
#define STEER_SHIFT	16
#define STEER_MAX	4000	/* instructions; the kernel takes 4096 */
#define NET(off)	(SKF_NET_OFF + (off))

struct steer {
	struct sock_filter	code[STEER_MAX];
	unsigned		len;
	bool			overflow;
};

static unsigned
steer_at(const struct steer *p)
{
	return p->len;
}

static void
steer_op(struct steer *p, unsigned short op, unsigned k, unsigned char jt,
    unsigned char jf)
{
	if (p->len == STEER_MAX) {
		p->overflow = true;
		return;
	}
	p->code[p->len].code = op;
	p->code[p->len].jt = jt;
	p->code[p->len].jf = jf;
	p->code[p->len].k = k;
	p->len++;
}

static uint32_t
word(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
}

/* steer_cidr - "in this network: spread"; words at network offset `at` */
static void
steer_cidr(struct steer *p, const struct cidr *c, unsigned at)
{
	unsigned nwords = c->family == AF_INET ? 1 : 4, used, k;

	for (used = 0; used < nwords && netaddr_mask_word(c->prefix, used); used++)
		continue;
	/* Per word: load, mask, compare; a mismatch skips the rest of
	 * this network's test and its return. */
	for (k = 0; k < used; k++) {
		unsigned left = (used - k - 1) * 3 + 1;

		steer_op(p, BPF_LD | BPF_W | BPF_ABS, NET(at + 4 * k), 0, 0);
		steer_op(p, BPF_ALU | BPF_AND | BPF_K,
		    netaddr_mask_word(c->prefix, k), 0, 0);
		steer_op(p, BPF_JMP | BPF_JEQ | BPF_K,
		    word(c->addr + 4 * k), 0, (unsigned char)left);
	}
	steer_op(p, BPF_RET | BPF_K, STEER_SPREAD, 0, 0);
}

/* steer_v6_key - A = the XOR of the words of the IPv6 source address
 * (network offset 8), each masked as netaddr_client_key masks it */
static void
steer_v6_key(struct steer *p, unsigned prefix)
{
	unsigned k;

	for (k = 0; k < 4; k++) {
		uint32_t m = netaddr_mask_word(prefix, k);

		if (m == 0)
			break;
		if (k > 0)
			steer_op(p, BPF_MISC | BPF_TAX, 0, 0, 0);
		steer_op(p, BPF_LD | BPF_W | BPF_ABS, NET(8 + 4 * k), 0, 0);
		if (m != 0xffffffffu)
			steer_op(p, BPF_ALU | BPF_AND | BPF_K, m, 0, 0);
		if (k > 0)
			steer_op(p, BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0);
	}
}

int
workers_steer(int fd, unsigned n, const struct config *cfg)
{
	static struct steer p;		/* 32 KiB: not on the stack */
	struct sock_fprog prog;
	unsigned v6_jump, mix_jump, v6_start, mix_start;
	size_t i;

	memset(&p, 0, sizeof(p));
	/* IP version: 4 falls through, 6 jumps (unconditional jumps have
	 * 32-bit offsets) past the IPv4 part. */
	steer_op(&p, BPF_LD | BPF_B | BPF_ABS, NET(0), 0, 0);
	steer_op(&p, BPF_ALU | BPF_RSH | BPF_K, 4, 0, 0);
	steer_op(&p, BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 1);
	v6_jump = steer_at(&p);
	steer_op(&p, BPF_JMP | BPF_JA, 0, 0, 0);
	for (i = 0; i < cfg->nmynetworks; i++)
		if (cfg->mynetworks[i].family == AF_INET)
			steer_cidr(&p, &cfg->mynetworks[i], 12);
	steer_op(&p, BPF_LD | BPF_W | BPF_ABS, NET(12), 0, 0);
	mix_jump = steer_at(&p);
	steer_op(&p, BPF_JMP | BPF_JA, 0, 0, 0);
	v6_start = steer_at(&p);
	for (i = 0; i < cfg->nmynetworks; i++)
		if (cfg->mynetworks[i].family == AF_INET6)
			steer_cidr(&p, &cfg->mynetworks[i], 8);
	steer_v6_key(&p, cfg->ipv6_client_prefix);
	mix_start = steer_at(&p);
	steer_op(&p, BPF_ALU | BPF_MUL | BPF_K, STEER_MUL, 0, 0);
	steer_op(&p, BPF_ALU | BPF_RSH | BPF_K, STEER_SHIFT, 0, 0);
	steer_op(&p, BPF_ALU | BPF_MOD | BPF_K, n, 0, 0);
	steer_op(&p, BPF_RET | BPF_A, 0, 0, 0);
	if (p.overflow) {
		errno = E2BIG;
		return -1;
	}
	p.code[v6_jump].k = v6_start - v6_jump - 1;
	p.code[mix_jump].k = mix_start - mix_jump - 1;
	/* Zeroed first: the padding after len goes to the kernel too
	 * (valgrind's memcheck reports it otherwise). */
	memset(&prog, 0, sizeof(prog));
	prog.len = (unsigned short)p.len;
	prog.filter = p.code;
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
	    sizeof(prog));
}

int
workers_steer_pick(const struct config *cfg, const struct sockaddr *sa,
    unsigned n)
{
	struct netaddr_key key;
	uint32_t a = 0;
	size_t i;
	unsigned k;

	if (n < 2 || netaddr_client_key(sa, cfg->ipv6_client_prefix, &key) == -1)
		return -1;
	/* The program tests the networks of the packet's own IP version
	 * (an IPv4 client of a dual-stack socket is an IPv4 packet). */
	for (i = 0; i < cfg->nmynetworks; i++)
		if (cfg->mynetworks[i].family == key.family &&
		    cidr_match(&cfg->mynetworks[i], sa))
			return -1;
	/* The key's host bits are zero: the XOR of every word is the
	 * XOR of the words the program loads. */
	for (k = 0; k < (key.family == AF_INET ? 1u : 4u); k++)
		a ^= word(key.addr + 4 * k);
	return (int)(((uint32_t)(a * STEER_MUL) >> STEER_SHIFT) % n);
}

bool
workers_steer_all(struct server *srv, bool reload)
{
	bool all = true;
	size_t i;

	if (srv->nworkers < 2)
		return false;	/* one worker: no reuseport group */
	/* A proxy listener's connections all come from the proxy: steered
	 * by address, one worker would serve them all. The kernel spreads
	 * them by its own hash (no program), and the per-address limits
	 * count per worker there (sallyport.conf(5), listen). */
	for (i = 0; i < srv->nlisten; i++)
		if (srv->listeners[i].fd != -1 && !srv->listeners[i].proxy &&
		    workers_steer(srv->listeners[i].fd, srv->nworkers,
		    srv->cfg->cfg) == -1) {
			all = false;
			log_warn("listen %s: cannot steer clients to workers "
			    "by address (%s): %s", srv->listeners[i].name,
			    strerror(errno), reload ? "the steering of the "
			    "previous mynetworks stays" : "per-address limits "
			    "count per worker");
		}
	return all;
}
