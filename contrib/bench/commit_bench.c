/*
 * commit-bench - ways of making an accepted entry durable, timed on one
 * file system (doc/queue.md, "Commit designs measured").
 *
 *	commit-bench [-r RUNS] [-n N] [-m MIB] [-t T,T..] [-s S,S..]
 *		     [-D abcd] DIR
 *
 * In a fresh directory under DIR, T committer threads (default 20 and
 * 100) commit N entries (default 2000, fewer when N*S passes -m MiB,
 * default 128) of S octets (default 1024 and 102400), each design in
 * turn, RUNS times (default 5) interleaved: a b c d a b c d ...
 *
 *   a files	tmp/ID created O_EXCL, written, fsync'd, renamed into
 *		incoming/; one fsync of incoming/ for every rename that
 *		completed before it began (src/queue/committer.c)
 *   b journal	the entry kept in memory, appended (with the CRC32c of
 *		it and of its header) to a journal file
 *		written out in advance, one fdatasync for every append
 *		that completed before it began; a writer thread meanwhile
 *		turns acknowledged entries into files in batches (create
 *		and write each, one syncfs, the renames, one fsync of
 *		incoming/) and frees them
 *   c reused	a pool of files in tmp/ made at full size in advance:
 *		pwrite, fdatasync, rename into incoming/, the grouped
 *		fsync of incoming/; a refill thread makes new ones
 *   d io_uring	as a, the write and fsync one linked submission (only
 *		when built with liburing and the kernel lets us)
 *
 * For each it prints the medians over RUNS of: entries acknowledged per
 * second (N over the time from the start to the last acknowledgement),
 * the median and 99th percentile commit latency, the CPU time of the
 * whole process (user + system, background threads included, until
 * their work is done) per entry, entries per flush, entries per second
 * until the last was in incoming/ (for b the writer's pace, for the
 * others their acknowledgements); for b also how long after the last
 * acknowledgement every entry was in incoming/ and the most entry
 * memory held at once. The load average, and the CPU other processes
 * used meanwhile, go beside them.
 *
 * Each run's directory is moved aside and all are deleted at the end
 * (about 7 GiB with the defaults), so that no run creates files just
 * after many were deleted; on tmpfs each is deleted at once.
 *
 * Exit 0 when every run completed, 1 on any error, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "commit.h"

#define RUNS_MAX	99
#define LIST_MAX	8

static const char *const dname[D_COUNT] = {
	"a files", "b journal", "c reused", "d io_uring",
};

struct result {
	double		 rate, p50, p99, cpu, per_flush, out_after, held_mib;
	double		 out_rate;	/* N over the time until all are out */
};

void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("commit-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void
xlock(pthread_mutex_t *m)
{
	if (pthread_mutex_lock(m) != 0)
		die("pthread_mutex_lock failed");
}

void
xunlock(pthread_mutex_t *m)
{
	if (pthread_mutex_unlock(m) != 0)
		die("pthread_mutex_unlock failed");
}

uint64_t
ns_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)(t.tv_sec - t0->tv_sec) * 1000000000u +
	    (uint64_t)t.tv_nsec - (uint64_t)t0->tv_nsec;
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		die("getrusage: %s", strerror(errno));
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

void
write_all(int fd, const char *p, size_t n, off_t off, const char *what)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write %s: %s", what, w < 0 ? strerror(errno) :
			    "wrote nothing");
		p += w;
		n -= (size_t)w;
		off += w;
	}
}

/* --- one run ----------------------------------------------------------- */

static void *
committer(void *arg)
{
	struct run *r = arg;
#ifdef HAVE_LIBURING
	struct io_uring ring;

	if (r->design == D_URING) {
		int rc = io_uring_queue_init(4, &ring, 0);

		if (rc < 0)
			die("io_uring_queue_init: %s", strerror(-rc));
	}
#endif
	pthread_barrier_wait(&r->go);
	for (;;) {
		struct timespec t0;
		unsigned id;
		uint64_t done;

		xlock(&r->mu);
		id = r->next++;
		xunlock(&r->mu);
		if (id >= r->n)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		switch (r->design) {
		case D_FILES:	commit_files(r, id); break;
		case D_JOURNAL:	commit_journal(r, id); break;
		case D_REUSED:	commit_reused(r, id); break;
		case D_URING:
#ifdef HAVE_LIBURING
			commit_uring(r, &ring, id);
#endif
			break;
		default:	die("no such design");
		}
		r->lat[id] = ns_since(&t0);
		done = ns_since(&r->start);
		xlock(&r->mu);
		if (done > r->last_ack)
			r->last_ack = done;
		xunlock(&r->mu);
	}
#ifdef HAVE_LIBURING
	if (r->design == D_URING)
		io_uring_queue_exit(&ring);
#endif
	return NULL;
}

static unsigned graves;		/* runs moved aside: base/done.K */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) != 0)
		die("remove %s: %s", path, strerror(errno));
	return 0;
}

static void
rm_tree(const char *path)
{
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		die("remove %s: %s", path, strerror(errno));
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
run_once(const char *base, enum design d, unsigned threads, unsigned n,
    size_t size, const char *pattern, struct result *res)
{
	struct run r;
	char dir[4096], grave[4096];
	pthread_t *th, bg;
	bool have_bg = d == D_JOURNAL || d == D_REUSED;
	double cpu0;
	unsigned i;
	struct statfs sfs;
	int basefd;

	memset(&r, 0, sizeof(r));
	memset(res, 0, sizeof(*res));
	r.design = d;
	r.threads = threads;
	r.n = n;
	r.size = size;
	r.pattern = pattern;
	r.jfd = -1;
	r.todo_tail = &r.todo;
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.todo_cv, NULL);
	pthread_cond_init(&r.pool_cv, NULL);
	pthread_cond_init(&r.refill_cv, NULL);

	if ((size_t)snprintf(dir, sizeof(dir), "%s/run", base) >= sizeof(dir))
		die("directory name too long");
	if (mkdir(dir, 0700) != 0)
		die("mkdir %s: %s", dir, strerror(errno));
	if ((r.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		die("open %s: %s", dir, strerror(errno));
	if (mkdirat(r.dirfd, "tmp", 0700) != 0 ||
	    mkdirat(r.dirfd, "incoming", 0700) != 0)
		die("mkdir in %s: %s", dir, strerror(errno));
	r.tmpfd = openat(r.dirfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r.infd = openat(r.dirfd, "incoming", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (r.tmpfd < 0 || r.infd < 0)
		die("open tmp/, incoming/: %s", strerror(errno));
	group_init(&r.g, r.infd, false);

	if (d == D_JOURNAL) {		/* written out in advance, off the clock */
		uint64_t jsize = ((uint64_t)n * (JHDR + size) + (1u << 20)) &
		    ~(uint64_t)((1u << 20) - 1);
		char *zero = calloc(1, 1u << 20);
		uint64_t o;

		if (zero == NULL)
			die("out of memory");
		r.jfd = openat(r.dirfd, "journal", O_RDWR | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0600);
		if (r.jfd < 0)
			die("create journal: %s", strerror(errno));
		for (o = 0; o < jsize; o += 1u << 20)
			write_all(r.jfd, zero, 1u << 20, (off_t)o, "journal");
		free(zero);
		if (fsync(r.jfd) != 0 || fsync(r.dirfd) != 0)
			die("fsync journal: %s", strerror(errno));
		group_fini(&r.g);
		group_init(&r.g, r.jfd, true);
	}
	if (d == D_REUSED) {		/* the first pool, off the clock */
		r.pool_want = threads * POOL_PER_THREAD;
		r.pool = calloc(r.pool_want, sizeof(*r.pool));
		r.pool_name = calloc(r.pool_want, sizeof(*r.pool_name));
		if (r.pool == NULL || r.pool_name == NULL)
			die("out of memory");
		for (i = 0; i < r.pool_want; i++) {
			r.pool[i] = pool_make(&r, &r.pool_name[i]);
			r.pool_len++;
		}
		if (syncfs(r.tmpfd) != 0 || fsync(r.tmpfd) != 0)
			die("pool sync: %s", strerror(errno));
	}
	if (syncfs(r.dirfd) != 0)	/* nothing of the set-up left dirty */
		die("syncfs: %s", strerror(errno));

	r.lat = calloc(n, sizeof(*r.lat));
	th = calloc(threads, sizeof(*th));
	if (r.lat == NULL || th == NULL)
		die("out of memory");
	if (pthread_barrier_init(&r.go, NULL, threads + 1 + have_bg) != 0)
		die("pthread_barrier_init failed");
	for (i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, committer, &r) != 0)
			die("pthread_create failed");
	if (have_bg && pthread_create(&bg, NULL, d == D_JOURNAL ? writer :
	    refill, &r) != 0)
		die("pthread_create failed");

	cpu0 = cpu_seconds();
	clock_gettime(CLOCK_MONOTONIC, &r.start);
	pthread_barrier_wait(&r.go);
	for (i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	xlock(&r.mu);
	r.acks_done = true;
	r.refill_stop = true;
	pthread_cond_broadcast(&r.todo_cv);
	pthread_cond_broadcast(&r.refill_cv);
	xunlock(&r.mu);
	if (have_bg)
		pthread_join(bg, NULL);
	res->cpu = (cpu_seconds() - cpu0) / n * 1e6;

	if (d == D_JOURNAL && r.written != n)
		die("writer wrote %u of %u entries", r.written, n);
	res->rate = n / (r.last_ack / 1e9);
	res->out_rate = d == D_JOURNAL ? n / (r.out_at / 1e9) : res->rate;
	qsort(r.lat, n, sizeof(*r.lat), cmp_u64);
	res->p50 = r.lat[n / 2] / 1e6;
	res->p99 = r.lat[(size_t)n * 99 / 100] / 1e6;
	res->per_flush = r.g.flushes ? (double)n / r.g.flushes : 0;
	if (d == D_JOURNAL) {
		res->out_after = (r.out_at > r.last_ack ? r.out_at -
		    r.last_ack : 0) / 1e9;
		res->held_mib = r.held_max / 1048576.0;
	}

	for (i = 0; i < r.pool_len; i++)
		close(r.pool[i]);
	free(r.pool);
	free(r.pool_name);
	free(r.lat);
	free(th);
	pthread_barrier_destroy(&r.go);
	group_fini(&r.g);
	if (r.jfd >= 0)
		close(r.jfd);
	close(r.tmpfd);
	close(r.infd);
	close(r.dirfd);
	/* Moved aside, deleted at the end: on ext4 without a journal a
	 * freed inode is looked at on every file creation for a minute or
	 * more (doc/benchmarks.md, "Fairness"), which would slow the runs
	 * after it. tmpfs keeps them in memory: deleted at once. */
	if (statfs(base, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC)
		rm_tree(dir);
	else if ((size_t)snprintf(grave, sizeof(grave), "%s/done.%u", base,
	    graves++) >= sizeof(grave) || rename(dir, grave) != 0)
		die("rename %s: %s", dir, strerror(errno));
	basefd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (basefd < 0 || syncfs(basefd) != 0)
		die("syncfs: %s", strerror(errno));
	close(basefd);
}

/* --- the table --------------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* median - of field off in runs results */
static double
median(const struct result *res, unsigned runs, size_t off)
{
	double v[RUNS_MAX];
	unsigned i;

	for (i = 0; i < runs; i++)
		memcpy(&v[i], (const char *)&res[i] + off, sizeof(double));
	qsort(v, runs, sizeof(double), cmp_double);
	return runs % 2 ? v[runs / 2] : (v[runs / 2 - 1] + v[runs / 2]) / 2;
}

/* busy_seconds - CPU time the whole machine spent outside idle and
 * iowait since boot (/proc/stat), 0 when unreadable */
static double
busy_seconds(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	long hz = sysconf(_SC_CLK_TCK);
	int got = 0;

	if (f != NULL) {
		got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
		    &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
		fclose(f);
	}
	if (got != 8 || hz <= 0)
		return 0;
	/* user nice system [idle iowait] irq softirq steal */
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz;
}

/* print_row - one design's medians as a row of the table */
static void
print_row(enum design k, const struct result *r, unsigned runs,
    unsigned long threads, unsigned long size, unsigned long n)
{
#define MED(f)	median(r, runs, offsetof(struct result, f))
	printf("| %s | %lu | %lu | %lu | %.0f | %.3f | %.3f | %.0f | %.1f | ",
	    dname[k], threads, size, n, MED(rate), MED(p50), MED(p99),
	    MED(cpu), MED(per_flush));
	if (k == D_JOURNAL)
		printf("%.2f | %.0f | %.1f |\n", MED(out_after), MED(out_rate),
		    MED(held_mib));
	else
		printf("| %.0f | |\n", MED(out_rate));
#undef MED
}

static void
loadavg(char *buf, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "r");

	if (f == NULL || fgets(buf, (int)len, f) == NULL)
		snprintf(buf, len, "unknown\n");
	if (f != NULL)
		fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

/* parse_list - "20,100" into v; the count, 0 on a bad list */
static unsigned
parse_list(const char *s, unsigned long *v, unsigned long max)
{
	unsigned n = 0;

	while (*s != '\0' && n < LIST_MAX) {
		char *end;

		errno = 0;
		v[n] = strtoul(s, &end, 10);
		if (errno != 0 || end == s || v[n] == 0 || v[n] > max ||
		    (*end != ',' && *end != '\0'))
			return 0;
		n++;
		s = *end == ',' ? end + 1 : end;
	}
	return *s == '\0' ? n : 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: commit-bench [-r RUNS] [-n N] [-m MIB] "
	    "[-t T,T..] [-s S,S..] [-D abcd] DIR\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	unsigned long tlist[LIST_MAX] = { 20, 100 }, slist[LIST_MAX] = {
		1024, 102400 }, runs = 5, nmax = 3000, mib = 128;
	unsigned nt = 2, ns = 2, ti, si, k, rep;
	bool want[D_COUNT] = { true, true, true, true };
	char base[4096], la[128], why[256] = "not built with liburing";
	struct result (*res)[RUNS_MAX];
	char *pattern, *end;
	struct timespec wall0;
	double busy0, own0, others;
	int c;

	while ((c = getopt(argc, argv, "r:n:m:t:s:D:")) != -1) {
		switch (c) {
		case 'r':
		case 'n':
		case 'm': {
			unsigned long v = strtoul(optarg, &end, 10);

			if (*optarg == '\0' || *end != '\0' || v == 0 ||
			    v > (c == 'r' ? RUNS_MAX : 10000000ul))
				usage();
			*(c == 'r' ? &runs : c == 'n' ? &nmax : &mib) = v;
			break;
		}
		case 't':
			if ((nt = parse_list(optarg, tlist, 1000)) == 0)
				usage();
			break;
		case 's':
			if ((ns = parse_list(optarg, slist, 64ul << 20)) == 0)
				usage();
			break;
		case 'D':
			memset(want, 0, sizeof(want));
			for (end = optarg; *end != '\0'; end++) {
				if (*end < 'a' || *end >= 'a' + D_COUNT)
					usage();
				want[*end - 'a'] = true;
			}
			break;
		default:
			usage();
		}
	}
	if (optind + 1 != argc)
		usage();

#ifdef HAVE_LIBURING
	if (want[D_URING] && uring_usable(why, sizeof(why)))
		why[0] = '\0';
#endif
	if (want[D_URING] && why[0] != '\0') {
		printf("d io_uring: skipped (%s)\n", why);
		want[D_URING] = false;
	}

	if ((size_t)snprintf(base, sizeof(base), "%s/commit-bench.%ld",
	    argv[optind], (long)getpid()) >= sizeof(base) - 8)
		die("directory name too long");
	if (mkdir(base, 0700) != 0)
		die("mkdir %s: %s", base, strerror(errno));
	pattern = malloc(64u << 20);
	res = calloc(D_COUNT, sizeof(*res));
	if (pattern == NULL || res == NULL)
		die("out of memory");
	for (k = 0; k < 64u << 20; k++)
		pattern[k] = (char)('a' + k % 26);

	loadavg(la, sizeof(la));
	printf("directory %s, %lu runs interleaved, medians; "
	    "load average at start: %s\n\n", argv[optind], runs, la);
	printf("| design | T | size | N | acks/s | p50 ms | p99 ms |"
	    " CPU us/entry | per flush | out after s | out/s | held MiB |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	    "\n");
	fflush(stdout);
	busy0 = busy_seconds();
	own0 = cpu_seconds();
	clock_gettime(CLOCK_MONOTONIC, &wall0);
	for (si = 0; si < ns; si++) {
		unsigned long n = nmax;

		if (n * slist[si] > mib << 20)
			n = (mib << 20) / slist[si];
		if (n < 100)
			die("-m %lu MiB holds fewer than 100 entries of %lu",
			    mib, slist[si]);
		for (ti = 0; ti < nt; ti++) {
			for (rep = 0; rep < runs; rep++)
				for (k = 0; k < D_COUNT; k++)
					if (want[k])
						run_once(base, k, tlist[ti], n,
						    slist[si], pattern,
						    &res[k][rep]);
			for (k = 0; k < D_COUNT; k++) {
				if (!want[k])
					continue;
				print_row(k, res[k], runs, tlist[ti],
				    slist[si], n);
			}
			fflush(stdout);
		}
	}
	others = busy_seconds() - busy0 - (cpu_seconds() - own0);
	loadavg(la, sizeof(la));
	printf("\nload average at end: %s (it counts this program's threads"
	    " waiting for the disk)\nother processes used %.2f of %ld CPUs"
	    " meanwhile (/proc/stat less this process)\n", la, others /
	    (ns_since(&wall0) / 1e9), sysconf(_SC_NPROCESSORS_ONLN));
	rm_tree(base);
	free(pattern);
	free(res);
	return 0;
}
