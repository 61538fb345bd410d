/*
 * batv.h - Bounce Address Tag Validation, the "prvs" form of
 * draft-levine-smtp-batv-01.
 *
 * Mail that leaves signs its envelope sender local@domain as
 *   prvs=KDDDSSSSSS=local@domain
 * K the key number (one digit: we have one key, 0), DDD the day the tag
 * expires (days since the epoch + max_age, mod 1000), SSSSSS the first
 * 3 bytes, in hex, of HMAC-SHA1(secret, "K" "DDD" "local@domain")
 * (tagmac.h: SHA-1 as the draft says, the input case-folded because the
 * store folds local parts and hops may change case).  A bounce comes
 * back to the tagged address: a valid tag proves the bounced message
 * was ours, so bounces of forged mail (backscatter) can be refused.
 *
 * Checking accepts any case ("PRVS=", hex digits), keeps the local part
 * as it is ('=', '+' and all: the tag has a fixed width) and takes a tag
 * whose expiry day is today or up to max_age days ahead (mod 1000, so
 * the day wraps).
 *
 * Pure: the caller passes the secret and the time.  Which senders are
 * signed and which recipients must carry a tag is the caller's choice.
 */
#ifndef VELLUM_DELIVER_BATV_H
#define VELLUM_DELIVER_BATV_H

#include <stddef.h>
#include <stdint.h>

#define BATV_PREFIX_LEN		5	/* "prvs=" */
#define BATV_TAG_LEN		10	/* KDDDSSSSSS */
#define BATV_KEY		'0'	/* the number of our one key */
#define BATV_DAYS		1000	/* DDD wraps around */
#define BATV_MAX_AGE		7	/* days: [batv] max_age default */
#define BATV_SECRET_MIN		16	/* bytes: shorter is refused */
#define BATV_SECRET_LEN		32	/* bytes the store makes */
#define BATV_LOCAL_MAX		64	/* RFC 5321 4.5.3.1.1 */
#define BATV_ADDR_MAX		320	/* an out buffer of this + 1 fits */

/* Whether addr's local part starts with "prvs=" (any case). */
int	batv_is_tagged(const char *addr);

/*
 * Signs sender (local@domain) at unix time now, the tag valid for
 * max_age days (1 .. BATV_DAYS / 2), into out[outsize]
 * (BATV_ADDR_MAX + 1 always fits).  Returns 1 done, -1 error: INVALID
 * (not local@domain, a quoted local part, already tagged, a short
 * secret, max_age out of range), LIMIT (the tagged local part would pass
 * BATV_LOCAL_MAX octets, or out is too small: send the sender untagged),
 * TEMP (OpenSSL).
 */
int	batv_sign(const unsigned char *secret, size_t secretlen,
	    const char *sender, int64_t now, unsigned max_age, char *out,
	    size_t outsize);

/*
 * Checks a tagged addr (as received, any case) and writes the address
 * without its tag into out[outsize].  Returns 1 valid, 0 not tagged
 * (batv_is_tagged() false), -1 error with a message saying why: INVALID
 * (malformed tag), PERM (not our key or the hash does not match: not
 * made here, or altered), LIMIT (expired: its day is past, or more than
 * max_age days ahead; or out too small), TEMP (OpenSSL).
 */
int	batv_check(const unsigned char *secret, size_t secretlen,
	    const char *addr, int64_t now, unsigned max_age, char *out,
	    size_t outsize);

#endif
