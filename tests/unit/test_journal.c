/*
 * test_journal - the journal file: appends made durable by group
 * flushes, retirement, and the replay that turns what a dead writer
 * left into entries (byte for byte, nothing half-visible, nothing
 * twice). A crash is a journal closed without removal: the file stays
 * exactly as the writer left it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* O_DIRECT, RWF_DSYNC */
#endif
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "queue/journal.h"
#include "queue/qentry.h"
#include "qfixture.h"
#include "scratch.h"

QFIXTURE_SUITE(journal, "journal");

/* Every fdatasync of the process comes here: counted, and failed on
 * demand. starts: calls begun; done_max: the highest start number of a
 * call that has returned 0. */
static unsigned long starts, done_max;
static int fail_flush;
/* gate: 1, the next fdatasync (2) waits until the one after it has
 * failed (3), as a flush of records and a header's flush can overlap */
static int gate;

int
fdatasync(int fd)
{
	unsigned long me = __atomic_add_fetch(&starts, 1, __ATOMIC_SEQ_CST);
	unsigned long cur;
	int armed = 1;

	if (__atomic_compare_exchange_n(&gate, &armed, 2, false,
	    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		while (__atomic_load_n(&gate, __ATOMIC_SEQ_CST) != 3)
			usleep(1000);
	} else if (__atomic_load_n(&gate, __ATOMIC_SEQ_CST) == 2) {
		__atomic_store_n(&gate, 3, __ATOMIC_SEQ_CST);
		errno = EIO;
		return -1;
	}
	if (__atomic_load_n(&fail_flush, __ATOMIC_SEQ_CST)) {
		errno = EIO;
		return -1;
	}
	if (syscall(SYS_fdatasync, fd) == -1)
		return -1;
	cur = __atomic_load_n(&done_max, __ATOMIC_SEQ_CST);
	while (cur < me && !__atomic_compare_exchange_n(&done_max, &cur, me,
	    false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
	return 0;
}

/* And every write that syncs itself (the journal's records past the page
 * cache, journal_stage.c): a flush too, counted and failed as above. */
ssize_t
pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	unsigned long me = 0, cur;
	ssize_t w;

	if (flags & RWF_DSYNC) {
		me = __atomic_add_fetch(&starts, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&fail_flush, __ATOMIC_SEQ_CST)) {
			errno = EIO;
			return -1;
		}
	}
	/* The offset as two halves; on 64 bits the high one is 0. */
	w = syscall(SYS_pwritev2, fd, iov, cnt, (long)off, 0L, flags);
	if (w == -1 || me == 0)
		return w;
	cur = __atomic_load_n(&done_max, __ATOMIC_SEQ_CST);
	while (cur < me && !__atomic_compare_exchange_n(&done_max, &cur, me,
	    false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
	return w;
}

/* Every pwrite of the process comes here too: with hdr_write_lies set,
 * one into the header block is done but reported failed (EIO), as a
 * device may when it wrote the sector and then faulted. */
static int hdr_write_lies;

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	ssize_t w = syscall(SYS_pwrite64, fd, buf, n, off);

	if (w >= 0 && off < 4096 &&
	    __atomic_load_n(&hdr_write_lies, __ATOMIC_SEQ_CST)) {
		errno = EIO;
		return -1;
	}
	return w;
}

ssize_t pwrite64(int, const void *, size_t, off_t)
    __attribute__((alias("pwrite")));

/* entry - a whole entry file for id: envelope, empty line, message of
 * about size octets (out: static per slot) */
static char *
entry(const char *id, size_t size, char fill)
{
	char *e;
	int n;

	cr_assert_not_null(e = malloc(size + 512));
	n = snprintf(e, 512, "sallyport-queue 1\nid %s\narrival 1700000000\n"
	    "client 192.0.2.7\nhelo client.example.org\nproto ESMTP\n"
	    "from sender@example.org\nrcpt user@example.test\n"
	    "tlsrequired yes\n\nSubject: %s\r\n\r\n", id, id);
	memset(e + n, fill, size);
	memcpy(e + n + size, "\r\n", 3);
	return e;
}

static uint64_t
append(struct journal *j, const char *id, bool held, const char *text)
{
	struct iovec iov[2];
	size_t len = strlen(text), half = len / 2;
	char err[256];
	uint64_t t;

	/* Two pieces, as a spool's image may be. */
	iov[0].iov_base = (void *)text;
	iov[0].iov_len = half;
	iov[1].iov_base = (void *)(text + half);
	iov[1].iov_len = len - half;
	cr_assert_eq(journal_append(j, id, held, iov, 2, -1, len, &t, err,
	    sizeof(err)), 0, "%s", err);
	return t;
}

static char *
slurp(const char *sub, const char *id, size_t *len)
{
	char path[512];
	struct stat st;
	char *data;
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, id);
	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_not_null(data = malloc((size_t)st.st_size + 1));
	cr_assert_eq(read(fd, data, (size_t)st.st_size), st.st_size);
	data[st.st_size] = '\0';
	close(fd);
	*len = (size_t)st.st_size;
	return data;
}

/* has - sub/id holds exactly text */
static void
has(const char *sub, const char *id, const char *text)
{
	size_t len;
	char *data = slurp(sub, id, &len);

	cr_assert_not_null(data, "no %s/%s", sub, id);
	cr_assert_eq(len, strlen(text), "%s/%s: %zu octets", sub, id, len);
	cr_assert_eq(memcmp(data, text, len), 0, "%s/%s differs", sub, id);
	free(data);
}

static bool
exists(const char *sub, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	return access(path, F_OK) == 0;
}

/* direct_here - whether the scratch directory's file system takes
 * O_DIRECT: the journal must then write past the page cache */
static bool
direct_here(void)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/tmp/direct-probe", dir);
	fd = open(path, O_RDWR | O_CREAT | O_DIRECT, 0600);
	unlink(path);
	if (fd == -1)
		return false;
	close(fd);
	return true;
}

/* jopen - a new journal w0 of size octets, written past the page cache
 * (the default, where the file system allows it) or not */
static struct journal *
jopen_how(uint64_t size, bool direct)
{
	char err[256];
	struct journal *j;

	journal_set_direct(direct);
	cr_assert_not_null(j = journal_create(q, "w0", size, err,
	    sizeof(err)), "%s", err);
	cr_assert_eq(journal_direct(j), direct && direct_here(),
	    "journal_direct %d, asked %d", journal_direct(j), direct);
	return j;
}

/* Set by the tests run again with records through the page cache. */
static bool buffered;

static struct journal *
jopen(uint64_t size)
{
	return jopen_how(size, !buffered);
}

/* BOTH_WAYS(name) - Test(journal, name) as written (records past the
 * page cache) and Test(journal, name_buffered) (through it, with an
 * fdatasync per group), both running name_body() */
#define BOTH_WAYS(name, ...)						\
	static void name##_body(void);					\
	Test(journal, name, ##__VA_ARGS__) { name##_body(); }		\
	Test(journal, name##_buffered, ##__VA_ARGS__)			\
	{								\
		buffered = true;					\
		name##_body();						\
	}								\
	static void name##_body(void)

static unsigned
replay(void)
{
	char err[256];
	unsigned n = 0;

	cr_assert_eq(journal_replay_file(q, "w0", &n, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_not(exists("journal", "w0"), "the journal file is left");
	return n;
}

static const char *ID1 = "6B035034926088F1", *ID2 = "6B035034926088F2",
    *ID3 = "6B035034926088F3";

Test(journal, round_trip)
{
	struct journal *j = jopen(JOURNAL_SIZE_MIN);
	char *a = entry(ID1, 1000, 'a'), *b = entry(ID2, 3, 'b');
	char err[256];
	uint64_t t1, t2;

	log_set_quiet(1);
	cr_assert(exists("journal", "w0"));
	t1 = append(j, ID1, false, a);
	t2 = append(j, ID2, true, b);
	cr_assert_gt(t2, t1);
	cr_assert_eq(journal_sync(j, t2, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(journal_sync(j, t1, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(journal_retire(j, t1, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(journal_retire(j, t2, err, sizeof(err)), 0, "%s", err);
	/* Retiring an old ticket again changes nothing. */
	cr_assert_eq(journal_retire(j, t1, err, sizeof(err)), 0, "%s", err);
	journal_close(j, true);
	cr_assert_not(exists("journal", "w0"));
	free(a);
	free(b);
}

BOTH_WAYS(replay_unretired)
{
	struct journal *j = jopen(JOURNAL_SIZE_MIN);
	char *a = entry(ID1, 70000, 'a'), *b = entry(ID2, 10, 'b');
	char *c = entry(ID3, 200000, 'c');
	char err[256], path[512];
	struct qentry *e;
	uint64_t t;
	int fd;

	log_set_quiet(1);
	append(j, ID1, false, a);
	append(j, ID2, true, b);
	/* The third from a file, as an entry that outgrew memory. */
	snprintf(path, sizeof(path), "%s/tmp/big", dir);
	cr_assert_neq(fd = open(path, O_RDWR | O_CREAT, 0600), -1);
	cr_assert_eq(write(fd, c, strlen(c)), (ssize_t)strlen(c));
	cr_assert_eq(write(fd, "tail not in the entry", 21), 21);
	cr_assert_eq(journal_append(j, ID3, false, NULL, 0, fd, strlen(c),
	    &t, err, sizeof(err)), 0, "%s", err);
	close(fd);
	unlink(path);
	cr_assert_eq(journal_sync(j, t, err, sizeof(err)), 0, "%s", err);
	journal_close(j, false);

	/* Start-up recovers them. */
	queue_close(q);
	cr_assert_not_null(q = queue_open(dir, err, sizeof(err)), "%s", err);
	cr_assert_eq(queue_recovered_at_open(q), 3);
	cr_assert_eq(queue_entries_at_open(q), 2);
	has("incoming", ID1, a);
	has("hold", ID2, b);
	has("incoming", ID3, c);
	cr_assert_eq(scratch_count(dir, "journal"), 0);
	cr_assert_eq(scratch_count(dir, "tmp"), 0);
	cr_assert_not_null(e = qentry_load(dir, ID1, err, sizeof(err)),
	    "%s", err);
	qentry_free(e);
	free(a);
	free(b);
	free(c);
}

Test(journal, retired_not_replayed)
{
	struct journal *j = jopen(JOURNAL_SIZE_MIN);
	char *a = entry(ID1, 100, 'a'), *b = entry(ID2, 100, 'b');
	char err[256];
	uint64_t t1, t2;

	log_set_quiet(1);
	t1 = append(j, ID1, false, a);
	t2 = append(j, ID2, false, b);
	cr_assert_eq(journal_sync(j, t2, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(journal_retire(j, t1, err, sizeof(err)), 0, "%s", err);
	journal_close(j, false);
	cr_assert_eq(replay(), 1);
	cr_assert_not(exists("incoming", ID1));
	has("incoming", ID2, b);
	free(a);
	free(b);
}

/* put_image - journal/w0 holds len octets of img, then zeros */
static void
put_image(const char *img, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/journal/w0", dir);
	cr_assert_neq(fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600),
	    -1);
	cr_assert_eq(write(fd, img, len), (ssize_t)len);
	cr_assert_eq(ftruncate(fd, JOURNAL_SIZE_MIN), 0);
	close(fd);
}

static void
clear_incoming(void)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/incoming/%s", dir, ID1);
	unlink(path);
	snprintf(path, sizeof(path), "%s/incoming/%s", dir, ID2);
	unlink(path);
	snprintf(path, sizeof(path), "%s/incoming/%s", dir, ID3);
	unlink(path);
}

/* aside - how many journal/NAME.bad-* there are, each a file holding
 * exactly img (len octets) when img is not NULL; removed */
static unsigned
aside(const char *name, const char *img, size_t len)
{
	char path[1024], prefix[80];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/journal", dir);
	snprintf(prefix, sizeof(prefix), "%s.bad-", name);
	cr_assert_not_null(d = opendir(path));
	while ((de = readdir(d)) != NULL) {
		size_t flen;
		char *data;

		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		n++;
		if (img != NULL) {
			cr_assert_not_null(data = slurp("journal", de->d_name,
			    &flen));
			cr_assert_eq(flen, len, "%s", de->d_name);
			cr_assert(memcmp(data, img, len) == 0, "%s changed",
			    de->d_name);
			free(data);
		}
		snprintf(path, sizeof(path), "%s/journal/%s", dir, de->d_name);
		cr_assert(unlink(path) == 0 || rmdir(path) == 0, "%s", path);
	}
	closedir(d);
	return n;
}

/* A group larger than a stage buffer (1 MiB): the append that fills one
 * writes it out itself, the sync writes the rest; replay finds every
 * entry whole. */
BOTH_WAYS(group_past_the_buffer)
{
	struct journal *j = jopen(8 * JOURNAL_SIZE_MIN);
	char id[QUEUE_ID_LEN + 1], err[256];
	char *text[24];
	uint64_t t = 0;

	log_set_quiet(1);
	for (int i = 0; i < 24; i++) {
		snprintf(id, sizeof(id), "6B0350349261%04X", (unsigned)i);
		text[i] = entry(id, 60000 + (size_t)i * 1013, (char)('a' + i));
		t = append(j, id, false, text[i]);
	}
	cr_assert_eq(journal_sync(j, t, err, sizeof(err)), 0, "%s", err);
	journal_close(j, false);
	cr_assert_eq(replay(), 24);
	for (int i = 0; i < 24; i++) {
		snprintf(id, sizeof(id), "6B0350349261%04X", (unsigned)i);
		has("incoming", id, text[i]);
		free(text[i]);
	}
}

BOTH_WAYS(torn_tail)
{
	struct journal *j = jopen(JOURNAL_SIZE_MIN);
	char *a = entry(ID1, 300, 'a'), *b = entry(ID2, 50, 'b');
	char *c = entry(ID3, 777, 'c');
	char err[256];
	uint64_t t2, t3;
	size_t len, start;
	char *img;

	log_set_quiet(1);
	append(j, ID1, false, a);
	t2 = append(j, ID2, false, b);
	t3 = append(j, ID3, false, c);
	cr_assert_eq(journal_sync(j, t3, err, sizeof(err)), 0, "%s", err);
	journal_close(j, false);
	cr_assert_not_null(img = slurp("journal", "w0", &len));
	/* The third record starts at 4096 + t2 (the first pass's tickets
	 * start at 0); cut anywhere before its last octet. */
	start = 4096 + (size_t)t2;
	for (size_t cut = start; cut < start + 48 + strlen(c); cut += 5) {
		put_image(img, cut);
		cr_assert_eq(replay(), 2, "cut at %zu", cut);
		has("incoming", ID1, a);
		has("incoming", ID2, b);
		cr_assert_not(exists("incoming", ID3), "cut at %zu", cut);
		cr_assert_eq(scratch_count(dir, "tmp"), 0);
		clear_incoming();
	}
	/* Whole, it comes back. */
	put_image(img, 4096 + t3);
	cr_assert_eq(replay(), 3);
	has("incoming", ID3, c);
	clear_incoming();

	/* One flipped bit in the second record's entry: the first only,
	 * though the third is whole; the file is kept aside, since a whole
	 * record behind a damaged one may have been acknowledged. */
	img[start - 20] ^= 0x10;
	put_image(img, len);
	cr_assert_eq(replay(), 1);
	has("incoming", ID1, a);
	cr_assert_not(exists("incoming", ID2));
	cr_assert_not(exists("incoming", ID3));
	cr_assert_eq(aside("w0", img, len), 1);
	clear_incoming();
	img[start - 20] ^= 0x10;

	/* And in the header of the third. */
	img[start + 20] ^= 0x01;
	put_image(img, len);
	cr_assert_eq(replay(), 2);
	cr_assert_not(exists("incoming", ID3));
	free(img);
	free(a);
	free(b);
	free(c);
}

/* A journal whose header no copy of is whole (damaged storage, not a
 * crash) is moved aside as it is, the start-up goes on and says so;
 * so is something in journal/ that is no file. The next start leaves
 * them alone. */
Test(journal, unreadable_set_aside_at_start)
{
	struct journal *j = jopen(JOURNAL_SIZE_MIN);
	char *a = entry(ID1, 100, 'a');
	char err[256], path[512];
	struct queue *q2;
	uint64_t t;
	size_t len;
	char *img;

	log_set_quiet(1);
	t = append(j, ID1, false, a);
	cr_assert_eq(journal_sync(j, t, err, sizeof(err)), 0, "%s", err);
	journal_close(j, false);
	cr_assert_not_null(img = slurp("journal", "w0", &len));
	img[10] ^= 1;			/* both copies */
	img[2048 + 30] ^= 1;
	put_image(img, len);
	snprintf(path, sizeof(path), "%s/journal/w1", dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	for (int round = 0; round < 2; round++) {
		cr_assert_not_null(q2 = queue_open(dir, err, sizeof(err)),
		    "round %d: %s", round, err);
		queue_close(q2);
		cr_assert_not(exists("journal", "w0"));
		cr_assert_not(exists("journal", "w1"));
		cr_assert_not(exists("incoming", ID1));
	}
	cr_assert_eq(aside("w0", img, len), 1);
	cr_assert_eq(aside("w1", NULL, 0), 1);
	free(img);
	free(a);
}

Test(journal, entry_already_there)
{
	struct journal *j = jopen(JOURNAL_SIZE_MIN);
	char *a = entry(ID1, 100, 'a'), *b = entry(ID2, 100, 'b');
	char *other = entry(ID2, 100, 'x');
	char err[256], path[512];
	char **ids = NULL;
	size_t n = 0;
	uint64_t t;
	FILE *f;

	log_set_quiet(1);
	append(j, ID1, false, a);
	t = append(j, ID2, false, b);
	cr_assert_eq(journal_sync(j, t, err, sizeof(err)), 0, "%s", err);
	journal_close(j, false);
	/* The first was written out before the crash; the second's name
	 * was taken by another entry. */
	snprintf(path, sizeof(path), "%s/incoming/%s", dir, ID1);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(a, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/incoming/%s", dir, ID2);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(other, f);
	fclose(f);

	cr_assert_eq(replay(), 1);
	has("incoming", ID1, a);
	has("incoming", ID2, other);
	cr_assert_eq(scratch_count(dir, "incoming"), 3);
	/* The third is b under a fresh id, its id line saying so. */
	cr_assert_not_null(ids = qentry_list(dir, &n));
	for (size_t i = 0; i < n; i++) {
		struct qentry *e;
		char *want;

		if (strcmp(ids[i], ID1) == 0 || strcmp(ids[i], ID2) == 0)
			continue;
		cr_assert_not_null(e = qentry_load(dir, ids[i], err,
		    sizeof(err)), "%s", err);
		qentry_free(e);
		want = entry(ids[i], 100, 'b');
		/* The Subject line names the old id: only the id line
		 * changes. */
		memcpy(strstr(want, "Subject: ") + 9, ID2, 16);
		has("incoming", ids[i], want);
		free(want);
	}
	qentry_list_free(ids, n);
	free(a);
	free(b);
	free(other);
}

struct waiter {
	struct journal	*j;
	const char	*text;
	uint64_t	 ticket;
	int		 done;
};

static void *
wait_append(void *arg)
{
	struct waiter *w = arg;

	w->ticket = append(w->j, ID3, false, w->text);
	__atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

BOTH_WAYS(wrapped)
{
	struct journal *j = jopen(JOURNAL_SIZE_MIN);
	char *a = entry(ID1, 200000, 'a'), *c = entry(ID3, 200000, 'c');
	char err[256];
	struct waiter w = { j, c, 0, 0 };
	pthread_t th;
	uint64_t t = 0;
	int i;

	log_set_quiet(1);
	/* Five of these fill the first pass; the sixth waits, and the
	 * committer is told so beforehand (journal_wraps). */
	for (i = 0; i < 5; i++) {
		cr_assert_not(journal_wraps(j, strlen(a)), "append %d", i);
		t = append(j, ID1, false, a);
	}
	cr_assert(journal_wraps(j, strlen(c)));
	cr_assert_not(journal_wraps(j, 0), "an empty record still fits");
	cr_assert_eq(journal_sync(j, t, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(pthread_create(&th, NULL, wait_append, &w), 0);
	usleep(100000);
	cr_assert_eq(__atomic_load_n(&w.done, __ATOMIC_SEQ_CST), 0,
	    "appended over records not retired");
	cr_assert_eq(journal_retire(j, t, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_gt(w.ticket, t);
	cr_assert_not(journal_wraps(j, strlen(a)), "the new pass has room");
	cr_assert_eq(journal_sync(j, w.ticket, err, sizeof(err)), 0, "%s",
	    err);
	journal_close(j, false);
	/* The second pass's record only: the first pass's after it are of
	 * another pass. */
	cr_assert_eq(replay(), 1);
	has("incoming", ID3, c);
	cr_assert_not(exists("incoming", ID1));
	free(a);
	free(c);
}

/* One committer thread appends a group and syncs it after: an append
 * that needs a new pass while records of its own group are not synced
 * must not wait for their retirement (they never would be: a deadlock)
 * but say EAGAIN, so that the caller syncs them and appends again. */
Test(journal, wrap_behind_unsynced_records, .timeout = 20)
{
	struct journal *j = jopen(JOURNAL_SIZE_MIN);
	char *a = entry(ID1, 200000, 'a'), *c = entry(ID3, 200000, 'c');
	struct iovec iov = { c, strlen(c) };
	char err[256];
	uint64_t t = 0, t2;
	int i;

	for (i = 0; i < 5; i++)
		t = append(j, ID1, false, a);
	cr_assert_eq(journal_append(j, ID3, false, &iov, 1, -1, iov.iov_len,
	    &t2, err, sizeof(err)), -1, "appended over records not retired");
	cr_assert_eq(errno, EAGAIN);
	cr_assert(strstr(err, "not yet synced") != NULL, "%s", err);
	cr_assert_eq(journal_sync(j, t, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(journal_retire(j, t, err, sizeof(err)), 0, "%s", err);
	t2 = append(j, ID3, false, c);
	cr_assert_gt(t2, t);
	cr_assert_eq(journal_sync(j, t2, err, sizeof(err)), 0, "%s", err);
	journal_close(j, false);
	cr_assert_eq(replay(), 1);
	has("incoming", ID3, c);
	free(a);
	free(c);
}

/* try_append - one append in a thread: its result and errno */
struct tryer {
	struct journal	*j;
	const char	*text;
	int		 rc, err, done;
};

static void *
try_append(void *arg)
{
	struct tryer *w = arg;
	struct iovec iov = { (void *)w->text, strlen(w->text) };
	char err[256];
	uint64_t t;

	w->rc = journal_append(w->j, ID3, false, &iov, 1, -1, iov.iov_len,
	    &t, err, sizeof(err));
	w->err = errno;
	__atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Entries that cannot be written out (a full disk) keep their records
 * unretired: an append waiting for room, and any after it, fail with
 * ENOSPC once the writer says so (their clients hear 451, not nothing),
 * until a retirement makes room again. */
Test(journal, stalled_appends_fail, .timeout = 20)
{
	struct journal *j = jopen(JOURNAL_SIZE_MIN);
	char *a = entry(ID1, 200000, 'a'), *c = entry(ID3, 200000, 'c');
	struct iovec iov = { c, strlen(c) };
	struct tryer w = { j, c, 0, 0, 0 };
	char err[256];
	pthread_t th;
	uint64_t t = 0, t2;
	int i;

	for (i = 0; i < 5; i++)
		t = append(j, ID1, false, a);
	cr_assert_eq(journal_sync(j, t, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(pthread_create(&th, NULL, try_append, &w), 0);
	usleep(100000);
	cr_assert_eq(__atomic_load_n(&w.done, __ATOMIC_SEQ_CST), 0);
	journal_stall(j);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_eq(w.rc, -1);
	cr_assert_eq(w.err, ENOSPC);
	cr_assert_eq(journal_append(j, ID3, false, &iov, 1, -1, iov.iov_len,
	    &t2, err, sizeof(err)), -1);
	cr_assert_eq(errno, ENOSPC);
	cr_assert(strstr(err, "not being written out") != NULL, "%s", err);
	cr_assert_eq(journal_retire(j, t, err, sizeof(err)), 0, "%s", err);
	t2 = append(j, ID3, false, c);
	cr_assert_eq(journal_sync(j, t2, err, sizeof(err)), 0, "%s", err);
	journal_close(j, false);
	cr_assert_eq(replay(), 1);
	has("incoming", ID3, c);
	free(a);
	free(c);
}

/* A journal whose writer lives (a second daemon started on the same
 * queue) is not replayed nor removed from under it: its records would
 * be written out twice and those appended later lost with the file. */
Test(journal, live_journal_not_replayed)
{
	struct journal *j = jopen(JOURNAL_SIZE_MIN);
	char *a = entry(ID1, 100, 'a');
	char err[256];
	unsigned n = 0;
	uint64_t t;

	log_set_quiet(1);
	t = append(j, ID1, false, a);
	cr_assert_eq(journal_sync(j, t, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(journal_replay_file(q, "w0", &n, err, sizeof(err)), -1);
	cr_assert(strstr(err, "in use") != NULL, "%s", err);
	cr_assert(exists("journal", "w0"));
	cr_assert_not(exists("incoming", ID1));
	cr_assert_null(queue_open(dir, err, sizeof(err)));
	cr_assert(strstr(err, "in use") != NULL, "%s", err);
	journal_close(j, false);
	cr_assert_eq(replay(), 1);
	has("incoming", ID1, a);
	free(a);
}

/* A new pass's header whose write failed may still be on the disk:
 * records appended after it in the old pass would then be read as of
 * another pass and lost. The journal takes no more appends. */
Test(journal, failed_pass_header_breaks_the_journal)
{
	struct journal *j = jopen(JOURNAL_SIZE_MIN);
	char *a = entry(ID1, 200000, 'a'), *b = entry(ID2, 100, 'b');
	char *c = entry(ID3, 200000, 'c');
	struct iovec iov = { c, strlen(c) }, ib = { b, strlen(b) };
	char err[256];
	uint64_t t = 0, t2;
	int i;

	log_set_quiet(1);
	for (i = 0; i < 5; i++)
		t = append(j, ID1, false, a);
	cr_assert_eq(journal_sync(j, t, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(journal_retire(j, t, err, sizeof(err)), 0, "%s", err);
	__atomic_store_n(&hdr_write_lies, 1, __ATOMIC_SEQ_CST);
	cr_assert_eq(journal_append(j, ID3, false, &iov, 1, -1, iov.iov_len,
	    &t2, err, sizeof(err)), -1);
	__atomic_store_n(&hdr_write_lies, 0, __ATOMIC_SEQ_CST);
	/* A small one fits before the end, in the old pass. */
	if (journal_append(j, ID2, false, &ib, 1, -1, ib.iov_len, &t2, err,
	    sizeof(err)) == 0 && journal_sync(j, t2, err, sizeof(err)) == 0) {
		journal_close(j, false);
		cr_assert_eq(replay(), 1, "an acknowledged record lost");
		has("incoming", ID2, b);
	} else
		journal_close(j, false);
	free(a);
	free(b);
	free(c);
}

Test(journal, larger_than_the_journal)
{
	struct journal *j = jopen(JOURNAL_SIZE_MIN);
	char *a = entry(ID1, JOURNAL_SIZE_MIN, 'a');
	struct iovec iov = { a, strlen(a) };
	char err[256];
	uint64_t t;

	cr_assert_eq(journal_append(j, ID1, false, &iov, 1, -1, iov.iov_len,
	    &t, err, sizeof(err)), -1);
	cr_assert_eq(errno, EFBIG);
	cr_assert(strstr(err, "larger than the journal") != NULL, "%s", err);
	journal_close(j, true);
	free(a);
}

BOTH_WAYS(failed_flush)
{
	struct journal *j = jopen(JOURNAL_SIZE_MIN);
	char *a = entry(ID1, 100, 'a');
	char err[256];
	uint64_t t1, t2;

	t1 = append(j, ID1, false, a);
	cr_assert_eq(journal_sync(j, t1, err, sizeof(err)), 0, "%s", err);
	t2 = append(j, ID2, false, a);
	__atomic_store_n(&fail_flush, 1, __ATOMIC_SEQ_CST);
	cr_assert_eq(journal_sync(j, t2, err, sizeof(err)), -1);
	__atomic_store_n(&fail_flush, 0, __ATOMIC_SEQ_CST);
	/* Still failed: the page cache's state is unknown. */
	cr_assert_eq(journal_sync(j, t2, err, sizeof(err)), -1);
	cr_assert_eq(journal_sync(j, t1, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(journal_append(j, ID3, false, NULL, 0, -1, 0, &t1, err,
	    sizeof(err)), -1);
	cr_assert(strstr(err, "commit as files") != NULL, "%s", err);
	journal_close(j, false);
	free(a);
}

/* A header's flush (journal_retire) fails while a flush of records runs
 * and succeeds: the records are not durable either, since the page
 * cache's state is unknown from the failure on. */
struct sync_arg {
	struct journal	*j;
	uint64_t	 t;
	int		 rc;
};

static void *
sync_in_thread(void *arg)
{
	struct sync_arg *a = arg;
	char err[256];

	a->rc = journal_sync(a->j, a->t, err, sizeof(err));
	return NULL;
}

Test(journal, failed_header_flush_fails_a_running_flush)
{
	struct journal *j = jopen_how(JOURNAL_SIZE_MIN, false);
	char *a = entry(ID1, 100, 'a');
	char err[256];
	struct sync_arg sa = { j, 0, 0 };
	pthread_t th;
	uint64_t t1;

	log_set_quiet(1);
	t1 = append(j, ID1, false, a);
	cr_assert_eq(journal_sync(j, t1, err, sizeof(err)), 0, "%s", err);
	sa.t = append(j, ID2, false, a);
	__atomic_store_n(&gate, 1, __ATOMIC_SEQ_CST);
	cr_assert_eq(pthread_create(&th, NULL, sync_in_thread, &sa), 0);
	while (__atomic_load_n(&gate, __ATOMIC_SEQ_CST) != 2)
		usleep(1000);
	/* The records' flush waits in fdatasync; the header's fails. */
	cr_assert_eq(journal_retire(j, t1, err, sizeof(err)), -1);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_eq(sa.rc, -1, "the records were taken for durable");
	journal_close(j, false);
	free(a);
}

#define THREADS		8
#define PER_THREAD	150

static struct journal *shared;
static int bad;

static void *
appender(void *arg)
{
	char id[QUEUE_ID_LEN + 1], err[256];
	char *text;

	for (int i = 0; i < PER_THREAD; i++) {
		struct iovec iov;
		unsigned long before;
		uint64_t t;

		snprintf(id, sizeof(id), "%08X%08X", (unsigned)(uintptr_t)arg,
		    (unsigned)i);
		text = entry(id, 1200, 'm');
		iov.iov_base = text;
		iov.iov_len = strlen(text);
		before = __atomic_load_n(&starts, __ATOMIC_SEQ_CST);
		if (journal_append(shared, id, false, &iov, 1, -1,
		    iov.iov_len, &t, err, sizeof(err)) == -1)
			__atomic_store_n(&bad, 1, __ATOMIC_SEQ_CST);
		if (journal_sync(shared, t, err, sizeof(err)) == -1)
			__atomic_store_n(&bad, 2, __ATOMIC_SEQ_CST);
		/* A flush begun since the append began has ended. */
		if (__atomic_load_n(&done_max, __ATOMIC_SEQ_CST) <= before)
			__atomic_store_n(&bad, 3, __ATOMIC_SEQ_CST);
		free(text);
	}
	return NULL;
}

BOTH_WAYS(group_flush)
{
	pthread_t th[THREADS];
	unsigned long flushes;
	unsigned n;

	log_set_quiet(1);
	shared = jopen(8 * JOURNAL_SIZE_MIN);
	flushes = starts;
	for (uintptr_t i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, appender,
		    (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_join(th[i], NULL), 0);
	cr_assert_eq(bad, 0, "failure %d", bad);
	flushes = starts - flushes;
	cr_assert_lt(flushes, THREADS * PER_THREAD, "%lu flushes", flushes);
	cr_log_info("%d appends, %lu flushes", THREADS * PER_THREAD, flushes);
	journal_close(shared, false);
	n = replay();
	cr_assert_eq(n, THREADS * PER_THREAD);
	cr_assert_eq(scratch_count(dir, "incoming"), THREADS * PER_THREAD);
}

/* killed_writer - a child appends and syncs entries, telling the parent
 * each id once its sync returned, until it is killed -9 at a moment of
 * the parent's choosing (mid-write, often). */
static void
killed_writer(int wfd)
{
	char id[QUEUE_ID_LEN + 1], err[256];
	struct journal *j = jopen(8 * JOURNAL_SIZE_MIN);

	for (unsigned i = 0; ; i++) {
		struct iovec iov;
		uint64_t t;
		char *text;

		snprintf(id, sizeof(id), "7000000000%06X", i & 0xffffffu);
		text = entry(id, 200 + (i * 397) % 5000, 'k');
		iov.iov_base = text;
		iov.iov_len = strlen(text);
		if (journal_append(j, id, i % 7 == 3, &iov, 1, -1, iov.iov_len,
		    &t, err, sizeof(err)) == -1 ||
		    journal_sync(j, t, err, sizeof(err)) == -1)
			_exit(1);
		if (write(wfd, id, QUEUE_ID_LEN) != QUEUE_ID_LEN)
			_exit(1);
		free(text);
	}
}

BOTH_WAYS(killed_writer)
{
	char id[QUEUE_ID_LEN + 1];
	unsigned acked = 0, n;
	int p[2], st;
	pid_t pid;

	log_set_quiet(1);
	cr_assert_eq(pipe(p), 0);
	cr_assert_neq(pid = fork(), -1);
	if (pid == 0) {
		close(p[0]);
		killed_writer(p[1]);
	}
	close(p[1]);
	id[QUEUE_ID_LEN] = '\0';
	while (acked < 300 &&
	    read(p[0], id, QUEUE_ID_LEN) == QUEUE_ID_LEN)
		acked++;
	kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st), "the writer stopped by itself");
	/* Every id acknowledged before the kill. */
	while (read(p[0], id, QUEUE_ID_LEN) == QUEUE_ID_LEN)
		acked++;
	close(p[0]);
	cr_assert_geq(acked, 300);
	n = replay();
	cr_assert_geq(n, acked);
	/* At most two more: one synced but not yet told, one written but
	 * not synced (a kill leaves the page cache); past the page cache
	 * a record this small is written only with its sync (a full
	 * buffer is written by an append), so just the first. */
	cr_assert_leq(n, acked + (buffered ? 2 : 1),
	    "%u entries for %u acknowledged", n, acked);
	/* Each acknowledged one whole, and nothing else but whole. */
	for (unsigned i = 0; i < n; i++) {
		char *want;

		snprintf(id, sizeof(id), "7000000000%06X", i & 0xffffffu);
		want = entry(id, 200 + (i * 397) % 5000, 'k');
		has(i % 7 == 3 ? "hold" : "incoming", id, want);
		free(want);
	}
	cr_assert_eq(scratch_count(dir, "incoming") +
	    scratch_count(dir, "hold"), n);
}
