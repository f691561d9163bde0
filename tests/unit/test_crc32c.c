/*
 * test_crc32c - CRC-32C by the CPU's instruction and by the table: the
 * published check values, and the two agreeing on every length and
 * alignment a record can start at, whole or in pieces.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/crc32c.h"

static uint8_t data[70000];

static void
fill(void)
{
	uint32_t x = 2463534242u;	/* xorshift32: the same octets each run */

	for (size_t i = 0; i < sizeof(data); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (uint8_t)x;
	}
}

Test(crc32c, check_values)
{
	uint8_t	 zeros[32] = { 0 }, ones[32], up[32];

	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++)
		up[i] = (uint8_t)i;
	/* the catalogue's check value, and RFC 3720 B.4's */
	cr_assert_eq(crc32c("123456789", 9), 0xE3069283u);
	cr_assert_eq(crc32c_add_portable(0, "123456789", 9), 0xE3069283u);
	cr_assert_eq(crc32c("", 0), 0u);
	cr_assert_eq(crc32c(zeros, sizeof(zeros)), 0x8A9136AAu);
	cr_assert_eq(crc32c(ones, sizeof(ones)), 0x62A8AB43u);
	cr_assert_eq(crc32c(up, sizeof(up)), 0x46DD794Eu);
	cr_assert_eq(crc32c_add_portable(0, up, sizeof(up)), 0x46DD794Eu);
}

Test(crc32c, instruction_agrees_with_table)
{
	fill();
	cr_log_info("CRC-32C instruction: %s", crc32c_hardware() ? "used" :
	    "not on this CPU (both sides are the table)");
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len <= 300; len++)
			cr_assert_eq(crc32c(data + off, len),
			    crc32c_add_portable(0, data + off, len),
			    "offset %zu, length %zu", off, len);
	cr_assert_eq(crc32c(data + 3, 65536 + 5),
	    crc32c_add_portable(0, data + 3, 65536 + 5));
	cr_assert_neq(crc32c(data, 1024), crc32c(data + 1, 1024));
}

Test(crc32c, in_pieces)
{
	uint32_t whole, crc;

	fill();
	whole = crc32c(data, 5000);
	for (size_t cut = 0; cut <= 5000; cut += 37) {
		crc = crc32c(data, cut);
		cr_assert_eq(crc32c_add(crc, data + cut, 5000 - cut), whole,
		    "cut at %zu", cut);
		cr_assert_eq(crc32c_add_portable(crc, data + cut, 5000 - cut),
		    whole, "cut at %zu", cut);
	}
	/* one octet changed anywhere changes the sum */
	data[4321] ^= 0x10;
	cr_assert_neq(crc32c(data, 5000), whole);
}
