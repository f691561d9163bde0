/*
 * dns_rdata - the data of the records we read ourselves, out of an
 * answer as received: TLSA (RFC 6698 2.1) for DANE, and TXT, whose
 * character-strings make one text (RFC 1035 3.3.14; MTA-STS and
 * TLS-RPT records, RFC 8461 3.1, RFC 8460 3).
 *
 * Every length is checked against the record's own; nothing here
 * decides what a record means for delivery (which TLSA records are
 * usable for SMTP is the caller's business, RFC 7672 3.1).
 */
#ifndef SALLYPORT_DNS_RDATA_H
#define SALLYPORT_DNS_RDATA_H

#include <stdbool.h>
#include <stddef.h>

#define DNS_TLSA_MAX		64	/* records kept of one answer */
#define DNS_TXT_MAX		64	/* records kept of one answer */

/* One TLSA record: the three fields and the association data. */
struct dns_tlsa {
	unsigned char	 usage;		/* 0 PKIX-TA .. 3 DANE-EE */
	unsigned char	 selector;	/* 0 certificate, 1 SubjectPublicKeyInfo */
	unsigned char	 mtype;		/* 0 full, 1 SHA2-256, 2 SHA2-512 */
	unsigned char	*data;		/* owned by the set */
	size_t		 len;		/* at least 1 */
};

/* The TLSA records of one answer. */
struct dns_tlsa_set {
	struct dns_tlsa	*v;
	size_t		 n;
	size_t		 malformed;	/* records too short to hold a field
					 * and data: unusable, still records */
};

/* One TXT record, its character-strings joined. */
struct dns_txt {
	char		*text;		/* NUL-terminated (may hold a NUL
					 * before len: compare len) */
	size_t		 len;
};

struct dns_txt_set {
	struct dns_txt	*v;
	size_t		 n;
};

/* A TLSA record's data (len bytes) into *out, whose data points into
 * rdata. 0, or -1 when it is shorter than the three fields and one
 * byte of data (RFC 6698 2.1). */
int	dns_tlsa_parse(const unsigned char *rdata, size_t len,
	    struct dns_tlsa *out);
/* "3 1 1 4A5B...", the record's presentation form (RFC 6698 2.2), in
 * out: 0, or -1 when it does not fit (out then holds "" ). */
int	dns_tlsa_format(const struct dns_tlsa *, char *out, size_t outlen);

/* The TXT record's character-strings (len bytes of data) joined into
 * out (at least len bytes): their total length, or -1 when a string's
 * length byte runs past the data. */
long	dns_txt_join(const unsigned char *rdata, size_t len, char *out);

/* The TLSA (TXT) records of msg's answer section, CNAME chains
 * included, the first DNS_TLSA_MAX (DNS_TXT_MAX) kept. 0, or -1 for a
 * malformed message or no memory (the set is then empty). Free with
 * dns_*_set_free, also after a failure. */
int	dns_tlsa_set_read(const unsigned char *msg, size_t len,
	    struct dns_tlsa_set *);
void	dns_tlsa_set_free(struct dns_tlsa_set *);
int	dns_txt_set_read(const unsigned char *msg, size_t len,
	    struct dns_txt_set *);
void	dns_txt_set_free(struct dns_txt_set *);

#endif
