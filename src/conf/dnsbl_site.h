/*
 * dnsbl_site - one item of the dnsbl key, ZONE[=FILTER][*WEIGHT], in
 * Postfix's postscreen_dnsbl_sites syntax: the zone a client address is
 * looked up in, which 127.x.y.z answers count (each octet a number or
 * a bracketed list of numbers and N..M ranges, "127.0.0.[2..11;20]"),
 * and what a match adds to the client's score (default 1; negative for
 * a whitelist). No I/O: the daemon's lookups (daemon/dnsbl.c) use it.
 */
#ifndef SALLYPORT_DNSBL_SITE_H
#define SALLYPORT_DNSBL_SITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNSBL_ZONE_MAX		253	/* a domain name's text */
#define DNSBL_WEIGHT_MAX	10000	/* |weight|: ample, and no overflow */
#define DNSBL_REPLY_MAX		400	/* dnsbl_reply's text: a 512-octet line */

struct dnsbl_site {
	char	 zone[DNSBL_ZONE_MAX + 1];	/* lower case, no final dot */
	bool	 filtered;			/* an =FILTER was given */
	uint8_t	 octet[4][32];			/* the filter: a bit a value */
	int	 weight;
};

/* Parse one item; 0, or -1 with a message in err. */
int	dnsbl_site_parse(const char *item, struct dnsbl_site *,
	    char *err, size_t errlen);
/* Does an A record (network order) count as a listing by this site?
 * Never for 127.255.255.x, the list operator's error codes. */
bool	dnsbl_site_match(const struct dnsbl_site *, const uint8_t a[4]);
/* Is an A record one of those error codes ("your resolver is refused")? */
bool	dnsbl_error_code(const uint8_t a[4]);

/* The config table's checks (config_types.c): a dnsbl item made
 * canonical (the zone lower case), and dnsbl_reply's text (printable,
 * one line, at most DNSBL_REPLY_MAX). 0, or -1 with err. */
int	dnsbl_site_norm(const char *in, char *out, size_t outlen, char *err,
	    size_t errlen);
int	dnsbl_reply_norm(const char *in, char *out, size_t outlen, char *err,
	    size_t errlen);

#endif
