/*
 * crc32c - CRC-32C, by the CPU's instruction where it has one (x86-64
 * with SSE 4.2: eight octets a step), else by a table of octet values.
 *
 * The journal checksums every queue entry it holds (up to the 64 KiB
 * spool buffer) and replay checks them again: by the table that was
 * about 2 us for a 1 KB entry and 130 us for 64 KiB on the development
 * machine, by the instruction 0.07 and 6.
 */
#include <pthread.h>
#include <string.h>

#include "lib/crc32c.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define CRC32C_X86 1
#endif

static uint32_t table[256];
static bool use_hw;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t crc = i;

		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
		table[i] = crc;
	}
#ifdef CRC32C_X86
	__builtin_cpu_init();
	use_hw = __builtin_cpu_supports("sse4.2");
#endif
}

/* by_table - the CRC register over n more octets */
static uint32_t
by_table(uint32_t reg, const uint8_t *p, size_t n)
{
	while (n-- > 0)
		reg = (reg >> 8) ^ table[(reg ^ *p++) & 0xff];
	return reg;
}

#ifdef CRC32C_X86
/* by_instruction - the same with SSE 4.2's crc32: octets up to an
 * 8-aligned address, then eight at a time, then the rest */
__attribute__((target("sse4.2")))
static uint32_t
by_instruction(uint32_t reg, const uint8_t *p, size_t n)
{
	uint64_t r = reg, v;

	for (; n > 0 && ((uintptr_t)p & 7) != 0; n--)
		r = _mm_crc32_u8((uint32_t)r, *p++);
	for (; n >= 8; n -= 8, p += 8) {
		memcpy(&v, p, sizeof(v));
		r = _mm_crc32_u64(r, v);
	}
	for (; n > 0; n--)
		r = _mm_crc32_u8((uint32_t)r, *p++);
	return (uint32_t)r;
}
#endif

uint32_t
crc32c_add(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&once, crc32c_init);
#ifdef CRC32C_X86
	if (use_hw)
		return ~by_instruction(~crc, buf, len);
#endif
	return ~by_table(~crc, buf, len);
}

uint32_t
crc32c(const void *buf, size_t len)
{
	return crc32c_add(0, buf, len);
}

uint32_t
crc32c_add_portable(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&once, crc32c_init);
	return ~by_table(~crc, buf, len);
}

bool
crc32c_hardware(void)
{
	pthread_once(&once, crc32c_init);
	return use_hw;
}
