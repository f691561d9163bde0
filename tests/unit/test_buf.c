/*
 * test_buf - the bounded buffer never grows past its maximum.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "lib/buf.h"

Test(buf, append_up_to_max_then_fail)
{
	struct buf b;

	buf_init(&b, 10);
	cr_assert_eq(buf_append(&b, "0123456789", 10), 0);
	cr_assert_eq(b.len, 10);
	cr_assert_str_eq(b.data, "0123456789");
	cr_assert_eq(buf_append(&b, "x", 1), -1);
	cr_assert_eq(b.len, 10, "a failed append changes nothing");
	buf_free(&b);
}

Test(buf, printf_and_consume)
{
	struct buf b;

	buf_init(&b, 64);
	cr_assert_eq(buf_printf(&b, "%s-%d", "abc", 42), 0);
	cr_assert_str_eq(b.data, "abc-42");
	buf_consume(&b, 4);
	cr_assert_str_eq(b.data, "42");
	cr_assert_eq(b.len, 2);
	buf_consume(&b, 100);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(buf_printf(&b, "%0100d", 1), -1, "past max");
	cr_assert_eq(b.len, 0);
	buf_free(&b);
}

Test(buf, grows_across_many_appends)
{
	struct buf b;
	size_t i;

	buf_init(&b, 100000);
	for (i = 0; i < 10000; i++)
		cr_assert_eq(buf_append(&b, "abcdefghij", 10), 0);
	cr_assert_eq(b.len, 100000);
	cr_assert_eq(buf_append(&b, "a", 1), -1);
	cr_assert_eq(memcmp(b.data + 99990, "abcdefghij", 10), 0);
	buf_reset(&b);
	cr_assert_eq(b.len, 0);
	buf_free(&b);
}
