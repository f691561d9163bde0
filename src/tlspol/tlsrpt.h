/*
 * tlsrpt - the results of outbound TLS sessions as SMTP TLS Reporting
 * (RFC 8460) names them: which policy applied to the destination, and
 * how a session ended under it. The delivery side reports one result
 * per session it tried; the report is built from them.
 */
#ifndef SALLYPORT_TLSRPT_H
#define SALLYPORT_TLSRPT_H

/* The policy that applied (RFC 8460 4.4, "policy-type"). */
enum tlsrpt_policy {
	TLSRPT_NO_POLICY,		/* "no-policy-found" */
	TLSRPT_TLSA,			/* "tlsa": DANE (RFC 7672) */
	TLSRPT_STS,			/* "sts": MTA-STS (RFC 8461) */
};

/* How one session ended (RFC 8460 4.3, "result-type"). */
enum tlsrpt_result {
	TLSRPT_SUCCESS,			/* TLS as the policy asks */
	/* Negotiation failures (4.3.1) */
	TLSRPT_STARTTLS_NOT_SUPPORTED,	/* "starttls-not-supported" */
	TLSRPT_CERT_HOST_MISMATCH,	/* "certificate-host-mismatch" */
	TLSRPT_CERT_EXPIRED,		/* "certificate-expired" */
	TLSRPT_CERT_NOT_TRUSTED,	/* "certificate-not-trusted" */
	TLSRPT_VALIDATION_FAILURE,	/* "validation-failure": any other,
					 * a failed handshake, a TLSA mismatch */
	/* Policy failures, DANE (4.3.2.1) */
	TLSRPT_TLSA_INVALID,		/* "tlsa-invalid" */
	TLSRPT_DNSSEC_INVALID,		/* "dnssec-invalid" */
	TLSRPT_DANE_REQUIRED,		/* "dane-required" */
	/* Policy failures, MTA-STS (4.3.2.2) */
	TLSRPT_STS_POLICY_FETCH_ERROR,	/* "sts-policy-fetch-error" */
	TLSRPT_STS_POLICY_INVALID,	/* "sts-policy-invalid" */
	TLSRPT_STS_WEBPKI_INVALID,	/* "sts-webpki-invalid" */
};

/* The RFC's names: "tlsa", "certificate-expired", ... */
const char	*tlsrpt_policy_name(enum tlsrpt_policy);
const char	*tlsrpt_result_name(enum tlsrpt_result);

#endif
