/*
 * srs.h - the Sender Rewriting Scheme (Shevek's "Sender Rewriting
 * Scheme" paper; the forms libsrs2 and postsrsd use), written here
 * because Debian 12 has no libsrs2 package.
 *
 * A forwarder rewrites the envelope sender local@orig.domain to
 *   SRS0=HHHH=TT=orig.domain=local@forwarder
 * TT is today (days since the epoch) mod 1024 in two base32 characters
 * (RFC 4648 alphabet); HHHH the first 4 characters of the base64 of
 * HMAC-SHA1(secret, "TT=orig.domain=local") case-folded to lower case
 * first, so a hop that changes case keeps it valid (the "=" between the
 * fields keeps one hash from fitting another split of the same bytes).  An
 * address that is already SRS0 becomes SRS1 (the first forwarder is kept,
 * the chain does not grow):
 *   SRS1=HHHH=first.forwarder==HHHH=TT=orig.domain=local@forwarder
 * its hash over "first.forwarder" "=" "=HHHH=TT=orig.domain=local"
 * (folded; the tail as it came, from the separator after "SRS0").
 * An SRS1 address forwarded again keeps its first forwarder and tail.
 *
 * Reversing checks the hash case-insensitively (as the paper says: some
 * hops change case) and, for SRS0, the age; it gives back the original
 * (SRS0) or the SRS0 address at the first forwarder (SRS1), which that
 * forwarder reverses again.  The "SRS0"/"SRS1" tag is case-insensitive
 * too; "=", "+" and "-" are all accepted after the tag.
 *
 * Pure: the caller passes the secret and the time.  Which senders are
 * rewritten (not <>, not our own domains) is the caller's choice.
 */
#ifndef VELLUM_DELIVER_SRS_H
#define VELLUM_DELIVER_SRS_H

#include <stddef.h>
#include <stdint.h>

#define SRS_HASH_LEN		4	/* base64 characters kept */
#define SRS_SECRET_MIN		16	/* bytes: shorter is refused */
#define SRS_SECRET_MAX		64	/* bytes used at most */
#define SRS_SECRET_LEN		32	/* bytes the store makes */
#define SRS_LOCAL_MAX		64	/* RFC 5321 4.5.3.1.1 */
#define SRS_ADDR_MAX		320	/* an out buffer of this + 1 fits */
#define SRS_MAX_AGE		21	/* days: [srs] max_age default */
#define SRS_TIME_SLOTS		1024	/* TT wraps around */

/* Whether addr's local part starts with SRS0/SRS1 and a separator. */
int	srs_is_srs(const char *addr);

/*
 * Rewrites sender (local@domain) for forwarding through fwd_domain at
 * unix time now into out[outsize] (SRS_ADDR_MAX + 1 always fits).
 * Returns 1 done, -1 error: INVALID (no '@', empty local part or domain,
 * a domain with '=' in it, a secret shorter than SRS_SECRET_MIN), LIMIT (the new local part would
 * pass SRS_LOCAL_MAX octets, or out is too small: keep the sender as it
 * is then).
 */
int	srs_forward(const unsigned char *secret, size_t secretlen,
	    const char *sender, const char *fwd_domain, int64_t now,
	    char *out, size_t outsize);

/*
 * Reverses addr (an SRS0/SRS1 address as received, any case) into
 * out[outsize].  Returns 1 done, 0 not an SRS address (srs_is_srs()
 * false), -1 error with a message saying why: INVALID (malformed: a
 * missing field, a bad timestamp), PERM (the hash does not match: not
 * made with this secret, or altered), LIMIT (older than max_age_days, or
 * out too small).
 */
int	srs_reverse(const unsigned char *secret, size_t secretlen,
	    const char *addr, int64_t now, unsigned max_age_days,
	    char *out, size_t outsize);

#endif
