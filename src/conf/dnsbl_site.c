/*
 * dnsbl_site - parse and match one dnsbl item (see dnsbl_site.h).
 */
#include <stdio.h>
#include <string.h>

#include "conf/config_value.h"
#include "conf/dnsbl_site.h"

/* number - a decimal of at most `max`; the text after it, or NULL */
static const char *
number(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;
	int n = 0;

	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (unsigned)(*s++ - '0');
		if (v > max || ++n > 5)
			return NULL;
	}
	if (n == 0)
		return NULL;
	*out = v;
	return s;
}

static void
set_range(uint8_t bits[32], unsigned lo, unsigned hi)
{
	for (unsigned v = lo; v <= hi; v++)
		bits[v / 8] |= (uint8_t)(1u << (v % 8));
}

/* octet - N, or [ITEM;ITEM...] with ITEM N or N..M (N <= M) */
static const char *
octet(const char *s, uint8_t bits[32])
{
	unsigned lo, hi;

	if (*s != '[') {
		if ((s = number(s, 255, &lo)) == NULL)
			return NULL;
		set_range(bits, lo, lo);
		return s;
	}
	s++;
	for (;;) {
		if ((s = number(s, 255, &lo)) == NULL)
			return NULL;
		hi = lo;
		if (s[0] == '.' && s[1] == '.' &&
		    ((s = number(s + 2, 255, &hi)) == NULL || hi < lo))
			return NULL;
		set_range(bits, lo, hi);
		if (*s == ']')
			return s + 1;
		if (*s++ != ';')
			return NULL;
	}
}

static int
parse_filter(const char *s, struct dnsbl_site *site)
{
	for (int i = 0; i < 4; i++) {
		if (i > 0 && *s++ != '.')
			return -1;
		if ((s = octet(s, site->octet[i])) == NULL)
			return -1;
	}
	return *s == '\0' ? 0 : -1;
}

static int
parse_weight(const char *s, int *out)
{
	unsigned v;
	bool neg = *s == '-';

	if (neg || *s == '+')
		s++;
	if ((s = number(s, DNSBL_WEIGHT_MAX, &v)) == NULL || *s != '\0')
		return -1;
	*out = neg ? -(int)v : (int)v;
	return 0;
}

int
dnsbl_site_parse(const char *item, struct dnsbl_site *site, char *err,
    size_t errlen)
{
	char zone[DNSBL_ZONE_MAX + 2], filter[128], weight[16];
	size_t zl = strcspn(item, "=*"), fl = 0;
	const char *p = item + zl;

	memset(site, 0, sizeof(*site));
	site->weight = 1;
	if (zl == 0 || zl >= sizeof(zone)) {
		snprintf(err, errlen, "a DNSBL needs a zone name (up to %d "
		    "octets) before =FILTER or *WEIGHT", DNSBL_ZONE_MAX);
		return -1;
	}
	memcpy(zone, item, zl);
	zone[zl] = '\0';
	if (cv_domain_norm(zone, site->zone, sizeof(site->zone), err,
	    errlen) == -1)
		return -1;
	if (*p == '=') {
		fl = strcspn(++p, "*");
		if (fl == 0 || fl >= sizeof(filter)) {
			snprintf(err, errlen, "%s: the filter after = is "
			    "empty or too long", site->zone);
			return -1;
		}
		memcpy(filter, p, fl);
		filter[fl] = '\0';
		p += fl;
		site->filtered = true;
		if (parse_filter(filter, site) == -1) {
			snprintf(err, errlen, "%s: filter %s is not an address "
			    "such as 127.0.0.2 or 127.0.0.[2..11;20]",
			    site->zone, filter);
			return -1;
		}
	}
	if (*p == '*') {
		if (strlen(++p) >= sizeof(weight) ||
		    parse_weight(p, &site->weight) == -1) {
			snprintf(err, errlen, "%s: weight %.15s is not a whole "
			    "number from -%d to %d", site->zone, p,
			    DNSBL_WEIGHT_MAX, DNSBL_WEIGHT_MAX);
			return -1;
		}
	} else if (*p != '\0') {
		snprintf(err, errlen, "%s: unexpected text after the zone",
		    site->zone);
		return -1;
	}
	return 0;
}

bool
dnsbl_error_code(const uint8_t a[4])
{
	return a[0] == 127 && a[1] == 255 && a[2] == 255;
}

bool
dnsbl_site_match(const struct dnsbl_site *site, const uint8_t a[4])
{
	if (dnsbl_error_code(a))
		return false;
	if (!site->filtered)
		return true;
	for (int i = 0; i < 4; i++)
		if (!(site->octet[i][a[i] / 8] & (1u << (a[i] % 8))))
			return false;
	return true;
}

int
dnsbl_site_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	struct dnsbl_site site;

	if (dnsbl_site_parse(in, &site, err, errlen) == -1)
		return -1;
	if ((size_t)snprintf(out, outlen, "%s%s", site.zone,
	    in + strcspn(in, "=*")) >= outlen) {
		snprintf(err, errlen, "DNSBL item too long");
		return -1;
	}
	return 0;
}

int
dnsbl_reply_norm(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	size_t n = strlen(in);

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)in[i] < 0x20 || (unsigned char)in[i] > 0x7e) {
			snprintf(err, errlen, "the reply text must be "
			    "printable ASCII");
			return -1;
		}
	if (n > DNSBL_REPLY_MAX || n >= outlen) {
		snprintf(err, errlen, "the reply text is longer than %d "
		    "octets", DNSBL_REPLY_MAX);
		return -1;
	}
	memcpy(out, in, n + 1);
	return 0;
}
