/*
 * tagmac.h - the keyed hash that the address tags of SRS (srs.h) and
 * BATV (batv.h) carry: HMAC-SHA1 (OpenSSL) over the case-folded input,
 * the first 24 bits of it.  24 bits is what both schemes put in an
 * address: enough that forging one means about 2^23 tries, each a
 * message the server sees.
 *
 * The input is folded to lower case first because hops may change the
 * case of an address (and the store keeps local parts in lower case):
 * a tag must survive that.
 */
#ifndef VELLUM_DELIVER_TAGMAC_H
#define VELLUM_DELIVER_TAGMAC_H

#include <stddef.h>

#define TAGMAC_LEN		3	/* bytes kept */
#define TAGMAC_SECRET_MAX	64	/* bytes of the secret used at most */
#define TAGMAC_INPUT_MAX	1024	/* bytes hashed at most */

/*
 * HMAC-SHA1(secret, lower-case(in[len])) into out[TAGMAC_LEN] (the first
 * bytes).  0, or -1: LIMIT (len above TAGMAC_INPUT_MAX), TEMP (OpenSSL).
 */
int	tagmac(const unsigned char *secret, size_t secretlen, const char *in,
	    size_t len, unsigned char out[TAGMAC_LEN]);

#endif
