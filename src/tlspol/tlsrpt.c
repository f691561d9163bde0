/*
 * tlsrpt - the names RFC 8460 gives to policies and session results.
 */
#include "tlspol/tlsrpt.h"

const char *
tlsrpt_policy_name(enum tlsrpt_policy p)
{
	switch (p) {
	case TLSRPT_TLSA:
		return "tlsa";
	case TLSRPT_STS:
		return "sts";
	case TLSRPT_NO_POLICY:
		break;
	}
	return "no-policy-found";
}

const char *
tlsrpt_result_name(enum tlsrpt_result r)
{
	static const char *const names[] = {
		[TLSRPT_SUCCESS] = "success",
		[TLSRPT_STARTTLS_NOT_SUPPORTED] = "starttls-not-supported",
		[TLSRPT_CERT_HOST_MISMATCH] = "certificate-host-mismatch",
		[TLSRPT_CERT_EXPIRED] = "certificate-expired",
		[TLSRPT_CERT_NOT_TRUSTED] = "certificate-not-trusted",
		[TLSRPT_VALIDATION_FAILURE] = "validation-failure",
		[TLSRPT_TLSA_INVALID] = "tlsa-invalid",
		[TLSRPT_DNSSEC_INVALID] = "dnssec-invalid",
		[TLSRPT_DANE_REQUIRED] = "dane-required",
		[TLSRPT_STS_POLICY_FETCH_ERROR] = "sts-policy-fetch-error",
		[TLSRPT_STS_POLICY_INVALID] = "sts-policy-invalid",
		[TLSRPT_STS_WEBPKI_INVALID] = "sts-webpki-invalid",
	};

	if ((unsigned)r < sizeof(names) / sizeof(names[0]) && names[r])
		return names[r];
	return "validation-failure";
}
