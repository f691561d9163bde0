/*
 * dkim_tag - the tag=value list of RFC 6376 section 3.2, shared by the
 * DKIM-Signature header field and the DKIM key record in DNS.
 *
 * Strict: a tag name is ALPHA *(ALPHA / DIGIT / "_"), a value is
 * printable ASCII without ";" with folding white space only between its
 * words, a tag appears once, an empty tag-spec (";;") is an error. The
 * list holds at most DKIM_TAGS_MAX tags. Nothing is copied: every tag
 * points into the caller's text, and carries its offsets so that the
 * verifier can cut the b= value out of the header field it hashes.
 */
#ifndef SALLYPORT_DKIM_TAG_H
#define SALLYPORT_DKIM_TAG_H

#include <stddef.h>

#define DKIM_TAGS_MAX	32	/* a signature has 14 defined tags */

struct dkim_tag {
	const char	*name;		/* into the text, not NUL-terminated */
	size_t		 name_len;
	const char	*value;		/* first to last character, inner FWS kept */
	size_t		 value_len;
	size_t		 eq_off;	/* offset of the "=" in the text */
	size_t		 end_off;	/* offset of the ";" ending it, or the text's length */
};

struct dkim_tags {
	size_t		 n;
	struct dkim_tag	 tag[DKIM_TAGS_MAX];
};

/* Parse len bytes of text (which need not be NUL-terminated). Returns 0,
 * or -1 with *err set to a static description of the first fault. */
int	dkim_tags_parse(const char *text, size_t len, struct dkim_tags *,
	    const char **err);
/* The tag called name (case-sensitive, as RFC 6376 says), or NULL. */
const struct dkim_tag *dkim_tags_get(const struct dkim_tags *, const char *name);
/* Is the tag's value exactly s? */
int	dkim_tag_is(const struct dkim_tag *, const char *s);
/* Copy the value without its white space (for b=, bh=, p= and h=) into
 * out, NUL-terminated. Returns the length, or -1 if it does not fit. */
long	dkim_tag_compact(const struct dkim_tag *, char *out, size_t size);
/* 1 when the colon-separated list value holds word, case-insensitively,
 * white space around the items ignored (h=, s=, t= and q= lists). */
int	dkim_tag_list_has(const char *list, size_t len, const char *word);
/* 1 when s is a domain name as d= and s= hold them: dot-separated
 * labels of letters, digits, "-" and "_", none empty or over 63. */
int	dkim_tag_domain(const char *s, size_t n);

#endif
