/*
 * buf - a growable byte buffer with a hard maximum.
 *
 * Every buffer that holds client bytes is one of these: an append past
 * `max` fails instead of growing, so no client can make us allocate
 * without bound.
 */
#ifndef SALLYPORT_BUF_H
#define SALLYPORT_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char	*data;
	size_t	 len;		/* bytes in use */
	size_t	 cap;		/* bytes allocated */
	size_t	 max;		/* hard limit on len */
	bool	 secret;	/* zeroed before any byte of it is given back */
};

void	buf_init(struct buf *, size_t max);
/* buf_init_secret - a buffer for passwords: what it drops (consumed or
 * reset bytes, the old block when it grows, the block it frees) is
 * zeroed first, so that no freed memory holds one */
void	buf_init_secret(struct buf *, size_t max);
void	buf_free(struct buf *);
int	buf_append(struct buf *, const void *, size_t);	/* -1: past max or ENOMEM */
int	buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	buf_consume(struct buf *, size_t);		/* drop n bytes from the front */
void	buf_reset(struct buf *);

#endif
