/*
 * metrics - the shared counter slots (metrics.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/metrics.h"

static struct metrics_slot private_slot;
struct metrics_slot *metrics_self = &private_slot;

static struct metrics_slot *shared;	/* METRICS_SLOTS of them */
static int shared_fd = -1;

static const uint64_t commit_bounds[] = METRICS_COMMIT_BOUNDS;

static int
map_fd(int fd)
{
	void *p;

	p = mmap(NULL, sizeof(struct metrics_slot) * METRICS_SLOTS,
	    PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	shared = p;
	shared_fd = fd;
	return 0;
}

int
metrics_create(void)
{
	int fd, saved;

	/* Sealed at its size: no process can shrink the mapping under
	 * the others (a SIGBUS on their next count). */
	if ((fd = memfd_create("sallyport-metrics", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) == -1)
		return -1;
	if (ftruncate(fd, sizeof(struct metrics_slot) * METRICS_SLOTS) == -1 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_SEAL) == -1 || map_fd(fd) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return 0;
}

int
metrics_fd(void)
{
	return shared_fd;
}

int
metrics_open(int fd)
{
	off_t size;

	/* Only a mapping of the size this build expects: a descriptor
	 * from another build is refused, never half used. */
	if ((size = lseek(fd, 0, SEEK_END)) == (off_t)-1)
		return -1;
	if ((size_t)size != sizeof(struct metrics_slot) * METRICS_SLOTS) {
		errno = EINVAL;
		return -1;
	}
	return map_fd(fd);
}

void
metrics_gauges_reset(unsigned slot)
{
	struct metrics_slot *s;
	size_t i;

	if (shared == NULL || slot >= METRICS_SLOTS)
		return;
	s = &shared[slot];
	for (i = 0; i < METRICS_LISTENERS; i++)
		__atomic_store_n(&s->conn_open[i], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->queue_entries, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->queue_held, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->queue_oldest, 0, __ATOMIC_RELAXED);
}

void
metrics_attach(unsigned slot)
{
	if (shared == NULL || slot >= METRICS_SLOTS)
		return;
	metrics_gauges_reset(slot);
	__atomic_store_n(&shared[slot].pid, (int32_t)getpid(),
	    __ATOMIC_RELAXED);
	metrics_self = &shared[slot];
}

const struct metrics_slot *
metrics_slots(void)
{
	return shared;
}

void
metrics_commit_latency(uint64_t us)
{
	size_t i;

	for (i = 0; i < METRICS_COMMIT_BUCKETS - 1; i++)
		if (us <= commit_bounds[i])
			break;
	METRICS_INC(commit_bucket[i]);
	METRICS_INC(commit_count);
	METRICS_ADD(commit_sum_us, us);
}
