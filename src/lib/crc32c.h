#ifndef SALLYPORT_LIB_CRC32C_H
#define SALLYPORT_LIB_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of
 * buf[0..len), as iSCSI and the PROXY v2 CRC32C TLV define it:
 * crc32c("123456789", 9) == 0xE3069283. */
uint32_t	crc32c(const void *buf, size_t len);
/* The CRC-32C of what crc was the CRC-32C of, followed by buf[0..len):
 * crc32c_add(0, ...) is crc32c (the journal's records, in pieces). */
uint32_t	crc32c_add(uint32_t crc, const void *buf, size_t len);
/* The same, always by the table of octet values: what a CPU without a
 * CRC-32C instruction runs (the tests compare the two). */
uint32_t	crc32c_add_portable(uint32_t crc, const void *buf, size_t len);
/* Whether crc32c and crc32c_add use the CPU's instruction (SSE 4.2). */
bool		crc32c_hardware(void);

#endif
