/*
 * test_base64 - RFC 4648 test vectors and strict decoding.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "lib/base64.h"

Test(base64, rfc4648_vectors)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const coded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	char enc[64], dec[64];
	size_t i;

	for (i = 0; i < 7; i++) {
		cr_assert_eq(base64_encode(plain[i], strlen(plain[i]), enc), strlen(coded[i]));
		cr_assert_str_eq(enc, coded[i]);
		cr_assert_eq(base64_decode(coded[i], strlen(coded[i]), dec), (long)strlen(plain[i]));
		cr_assert_arr_eq(dec, plain[i], strlen(plain[i]));
	}
}

Test(base64, auth_plain_with_nuls)
{
	static const char resp[] = "\0alice\0wonderland";
	char enc[64], dec[64];

	base64_encode(resp, sizeof(resp) - 1, enc);
	cr_assert_str_eq(enc, "AGFsaWNlAHdvbmRlcmxhbmQ=");
	cr_assert_eq(base64_decode(enc, strlen(enc), dec), (long)sizeof(resp) - 1);
	cr_assert_arr_eq(dec, resp, sizeof(resp) - 1);
}

Test(base64, strict_decoding)
{
	static const char *const bad[] = {
		"Zg=", "Zg", "Z===", "Zm9v!", "Zm 9", "Zg==Zg==", "=Zg=", "Zh==",
		"Zm9=", "Zm9vYmFy=", "Z\r\n=",
	};
	char dec[64];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(base64_decode(bad[i], strlen(bad[i]), dec), -1, "%s", bad[i]);
}
