/*
 * spf_record - the syntax of an SPF record (RFC 7208 sections 4.5, 4.6
 * and 12): the version, then terms read one at a time, each a
 * mechanism with its qualifier or a modifier.
 *
 * Terms are read in place from the record's text, so that a record
 * costs its own length and no more: spf_record_check reads them all
 * once (any syntax error anywhere is a permerror before anything is
 * evaluated, RFC 7208 4.6), then the evaluator reads them again as it
 * goes.
 */
#ifndef SALLYPORT_SPF_RECORD_H
#define SALLYPORT_SPF_RECORD_H

#include <stdbool.h>
#include <stddef.h>

enum spf_mech {
	SPF_MECH_ALL,
	SPF_MECH_INCLUDE,
	SPF_MECH_A,
	SPF_MECH_MX,
	SPF_MECH_PTR,
	SPF_MECH_IP4,
	SPF_MECH_IP6,
	SPF_MECH_EXISTS,
};

enum spf_term_kind {
	SPF_TERM_MECH,
	SPF_TERM_REDIRECT,		/* redirect=domain-spec */
	SPF_TERM_EXP,			/* exp=domain-spec */
	SPF_TERM_UNKNOWN,		/* name=macro-string, ignored */
};

struct spf_term {
	enum spf_term_kind	 kind;
	enum spf_mech		 mech;
	char			 qual;		/* '+', '-', '~' or '?' */
	const char		*spec;		/* domain-spec, in the text; */
	size_t			 speclen;	/* NULL when left out */
	unsigned		 cidr4, cidr6;	/* prefix lengths: 32, 128 */
	unsigned char		 addr[16];	/* ip4: or ip6: network */
};

/* Length of the version section "v=spf1" (case aside) when text
 * starts with it and a space or its end; 0 when it is no SPF record. */
size_t	spf_record_version(const char *text, size_t len);
/* Read the term at *pos (after the version), moving *pos past it.
 * 1: a term; 0: no more; -1: a syntax error, *err saying which. */
int	spf_term_next(const char *text, size_t len, size_t *pos,
	    struct spf_term *, const char **err);
/* Check a whole record (version included): every term valid, at most
 * one redirect= and one exp=, kept in *redirect and *exp (kind
 * SPF_TERM_UNKNOWN when absent). 0, or -1 with *err. */
int	spf_record_check(const char *text, size_t len,
	    struct spf_term *redirect, struct spf_term *exp,
	    const char **err);

#endif
