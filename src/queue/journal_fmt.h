/*
 * journal_fmt - the journal file's layout, shared by the writer
 * (journal.c) and the replay (journal_replay.c); doc/queue.md, "The
 * journal". Integers are little-endian.
 *
 *	0	JH_BLOCK octets: the header block, two copies of
 *		  "sallyport-journal 1\n", zeros to 24, gen u32, zeros
 *		  to 32, retired u64 (the file offset replay starts
 *		  at), seq u64, CRC32c u32 of the octets before it;
 *		  at JH_SLOT0 and JH_SLOT1, the higher seq counts
 *	JH_BLOCK records: JR_MAGIC u32, gen u32, flags u32 (JR_HELD),
 *		  zero u32, the id (16 octets), len u64, CRC32c u32
 *		  of the entry, CRC32c u32 of the 44 octets before
 *		  it; the entry's len octets; zeros to a multiple of 8
 */
#ifndef SALLYPORT_JOURNAL_FMT_H
#define SALLYPORT_JOURNAL_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JH_BLOCK	4096
#define JH_SLOT0	0
#define JH_SLOT1	2048
#define JH_SLOT_LEN	64
#define JH_MAGIC	"sallyport-journal 1\n"
#define JH_MAGIC_LEN	20
#define JR_HDR		48
#define JR_MAGIC	0x524a5053u	/* "SPJR" */
#define JR_HELD		0x1u
#define JR_ALIGN	8

struct jhdr {
	uint32_t	 gen;
	uint64_t	 retired;	/* a file offset */
	uint64_t	 seq;
};

static inline uint64_t
jr_pad(uint64_t len)
{
	return (len + JR_ALIGN - 1) & ~(uint64_t)(JR_ALIGN - 1);
}

void	jhdr_encode(uint8_t out[JH_SLOT_LEN], const struct jhdr *);
/* The header of a file of size octets from its first JH_BLOCK: 1 with
 * *h, 0 when the block is all zeros (a file whose making was cut short:
 * no record in it was ever acknowledged), -1 when neither copy is whole
 * or the retired offset is not one of the file's. */
int	jhdr_decode(const uint8_t block[JH_BLOCK], uint64_t size,
	    struct jhdr *h);
/* The JR_HDR octets in front of an entry of len octets whose CRC32c is
 * dcrc. */
void	jrec_encode(uint8_t out[JR_HDR], uint32_t gen, const char *id,
	    bool held, uint64_t len, uint32_t dcrc);
/* 16 upper-case hexadecimal digits? */
bool	jr_id_ok(const uint8_t *id);
/* A name journal/ may hold: not empty, no '/', no leading dot, short. */
bool	journal_name_ok(const char *name);
/* Replay one journal file of the queue in dir (journal_replay_file),
 * or all of them; by path, so that queue_open can call it. */
int	jreplay_file(const char *dir, const char *name, unsigned *recovered,
	    char *err, size_t errlen);
int	jreplay_all(const char *dir, unsigned *recovered, char *err,
	    size_t errlen);

#endif
