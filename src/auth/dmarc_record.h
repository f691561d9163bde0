/*
 * dmarc_record - the DMARC policy record (RFC 7489 6.3 and 6.4, np= of
 * RFC 9091) read from one TXT record's text, without I/O.
 *
 * What is wrong, and what we do (RFC 7489 6.3 and 6.6.3):
 *   - a record that does not begin with v=DMARC1 is not a DMARC record
 *     (DMARC_REC_NOT_DMARC: discarded, as if absent);
 *   - p= missing or not none/quarantine/reject, or sp= present and not
 *     one of them: the record is DMARC_REC_INVALID ("no DMARC
 *     processing", result none), unless rua= holds a valid URI, when it
 *     counts as p=none (6.6.3 step 6);
 *   - any other tag whose value is wrong keeps its default (pct=100,
 *     adkim=r, aspf=r, fo=0, rf=afrf, ri=86400; an invalid np= is
 *     ignored, so sp= applies); unknown tags are ignored; a tag given
 *     twice keeps its first value; a tag-spec that is not name=value
 *     is skipped.
 * p= may stand anywhere after v= (6.3 asks for it second; refusing a
 * p=reject that comes third would only help the forger).
 */
#ifndef SALLYPORT_DMARC_RECORD_H
#define SALLYPORT_DMARC_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define DMARC_RECORD_MAX	4096	/* bytes of one record read */

enum dmarc_policy {
	DMARC_POLICY_NONE,
	DMARC_POLICY_QUARANTINE,
	DMARC_POLICY_REJECT,
};

/* fo= flags (RFC 7489 6.3) */
#define DMARC_FO_0	0x1	/* report when everything failed */
#define DMARC_FO_1	0x2	/* report when anything failed */
#define DMARC_FO_D	0x4	/* DKIM signature failed */
#define DMARC_FO_S	0x8	/* SPF failed */

enum dmarc_record_status {
	DMARC_REC_OK,
	DMARC_REC_NOT_DMARC,	/* no v=DMARC1 first: not a DMARC record */
	DMARC_REC_INVALID,	/* a DMARC record we cannot use */
};

struct dmarc_record {
	enum dmarc_policy p;
	enum dmarc_policy sp;		/* = p when absent */
	enum dmarc_policy np;		/* valid when has_np */
	int		 has_sp, has_np;
	int		 p_from_rua;	/* p= unusable, taken as none (6.6.3) */
	unsigned	 pct;		/* 0..100 */
	int		 adkim_strict, aspf_strict;
	unsigned	 fo;		/* DMARC_FO_* */
	int		 rf_afrf;
	uint32_t	 ri;		/* seconds */
	unsigned	 rua_count, ruf_count;	/* valid URIs */
};

/* dmarc_record_parse - read `len` bytes of TXT text (the strings of one
 * record joined); why (may be NULL) says what made it NOT_DMARC or
 * INVALID, or the first tag ignored for an error on OK. */
enum dmarc_record_status dmarc_record_parse(const char *txt, size_t len,
	    struct dmarc_record *, char *why, size_t whylen);

const char *dmarc_policy_name(enum dmarc_policy);

#endif
