/*
 * doctor_auth - the deployment doctor's checks of mail authentication:
 * SPF, DKIM keys, DMARC.
 */
#include "selftest/doctor.h"

void
doc_job_spf(struct doctor *d)
{
	(void)d;
}

void
doc_job_dkim(struct doctor *d)
{
	(void)d;
}

void
doc_job_dmarc(struct doctor *d)
{
	(void)d;
}
