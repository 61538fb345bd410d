/*
 * srs.c - see srs.h.
 *
 * Our own small implementation (no libsrs2 in Debian 12) on OpenSSL's
 * HMAC-SHA1 (tagmac.h, shared with BATV).  Everything hashed is
 * case-folded first and hashes are compared without case, so a hop that
 * upper- or lower-cases the address does not break the return path.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "srs.h"
#include "tagmac.h"

static const char srs_b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char srs_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#define SRS_HASH_INPUT_MAX	(2 * SRS_ADDR_MAX + 16)

static int	srs_tag(const char *local, size_t len);
static int	srs_hash(const unsigned char *, size_t, const char *a,
		    size_t alen, const char *b, size_t blen, const char *c,
		    size_t clen, char *out);
static unsigned	srs_today(int64_t now);

/* 0: not SRS; '0' or '1' when local starts with SRS0/SRS1 + separator. */
static int
srs_tag(const char *local, size_t len)
{
	if (len < 5 || strncasecmp(local, "SRS", 3) != 0)
		return 0;
	if (local[3] != '0' && local[3] != '1')
		return 0;
	if (local[4] != '=' && local[4] != '+' && local[4] != '-')
		return 0;
	return local[3];
}

int
srs_is_srs(const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t len = at != NULL ? (size_t)(at - addr) : strlen(addr);

	return srs_tag(addr, len) != 0;
}

static unsigned
srs_today(int64_t now)
{
	int64_t days = now / 86400;

	if (days < 0)
		days = 0;
	return (unsigned)(days % SRS_TIME_SLOTS);
}

/*
 * The first SRS_HASH_LEN base64 characters of HMAC-SHA1 over the
 * case-folded fields a "=" b ["=" c] (c may be NULL): tagmac().  0, or
 * -1 when the input is too long or OpenSSL fails.
 */
static int
srs_hash(const unsigned char *secret, size_t secretlen, const char *a,
    size_t alen, const char *b, size_t blen, const char *c, size_t clen,
    char *out)
{
	unsigned char md[TAGMAC_LEN];
	char buf[SRS_HASH_INPUT_MAX];
	size_t n = 0;

	if (alen + blen + clen + 2 > sizeof(buf))
		return err_set(ERR_LIMIT, "SRS: address too long");
	memcpy(buf + n, a, alen);
	n += alen;
	buf[n++] = '=';
	memcpy(buf + n, b, blen);
	n += blen;
	if (c != NULL) {
		buf[n++] = '=';
		memcpy(buf + n, c, clen);
		n += clen;
	}
	if (secretlen > SRS_SECRET_MAX)
		secretlen = SRS_SECRET_MAX;
	if (tagmac(secret, secretlen, buf, n, md) == -1)
		return err_set(err_class(), "SRS: %s", err_msg());
	/* 4 base64 characters are the first 24 bits */
	out[0] = srs_b64[md[0] >> 2];
	out[1] = srs_b64[((md[0] & 0x03) << 4) | (md[1] >> 4)];
	out[2] = srs_b64[((md[1] & 0x0f) << 2) | (md[2] >> 6)];
	out[3] = srs_b64[md[2] & 0x3f];
	out[SRS_HASH_LEN] = '\0';
	return 0;
}

/* Writes into out, LIMIT when it does not fit or the local part is long. */
static int
srs_out(char *out, size_t outsize, size_t locallen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
srs_out(char *out, size_t outsize, size_t locallen, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (locallen > SRS_LOCAL_MAX)
		return err_set(ERR_LIMIT, "SRS: the rewritten local part "
		    "would be %zu octets, more than %d", locallen,
		    SRS_LOCAL_MAX);
	va_start(ap, fmt);
	n = vsnprintf(out, outsize, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= outsize)
		return err_set(ERR_LIMIT, "SRS: the address does not fit");
	return 1;
}

int
srs_forward(const unsigned char *secret, size_t secretlen, const char *sender,
    const char *fwd_domain, int64_t now, char *out, size_t outsize)
{
	const char *at = strrchr(sender, '@'), *local = sender, *dom, *p, *q;
	char hash[SRS_HASH_LEN + 1], tt[3];
	size_t llen, dlen;
	unsigned day;

	if (secretlen < SRS_SECRET_MIN)
		return err_set(ERR_INVALID, "SRS: secret shorter than %d "
		    "bytes", SRS_SECRET_MIN);
	if (at == NULL || at == sender || at[1] == '\0' ||
	    fwd_domain == NULL || fwd_domain[0] == '\0')
		return err_set(ERR_INVALID, "SRS: <%.100s> is not "
		    "local@domain", sender);
	llen = (size_t)(at - sender);
	dom = at + 1;
	dlen = strlen(dom);
	if (llen > SRS_ADDR_MAX || dlen > SRS_ADDR_MAX)
		return err_set(ERR_LIMIT, "SRS: address too long");
	/* A quoted local part ("a b"@x) cannot be put inside another
	   address's local part as it is: such a sender is kept. */
	if (sender[0] == '"')
		return err_set(ERR_INVALID, "SRS: <%.100s> has a quoted local "
		    "part", sender);
	/* '=' separates the fields: a domain holding one would not parse */
	if (strchr(dom, '=') != NULL)
		return err_set(ERR_INVALID, "SRS: domain of <%.100s> holds "
		    "'='", sender);

	switch (srs_tag(local, llen)) {
	case '0':
		/* SRS1=HHHH=dom==HHHH=TT=d=l: the tail from the separator */
		p = local + 4;
		if (srs_hash(secret, secretlen, dom, dlen, p,
		    llen - 4, NULL, 0, hash) == -1)
			return -1;
		return srs_out(out, outsize, 5 + SRS_HASH_LEN + 1 + dlen + 1 +
		    (llen - 4), "SRS1=%s=%s=%.*s@%s", hash, dom,
		    (int)(llen - 4), p, fwd_domain);
	case '1':
		/* keep the first forwarder and the tail: SRS1=H=host=tail */
		p = memchr(local + 5, '=', llen - 5);
		q = p != NULL ? memchr(p + 1, '=', (size_t)(at - p - 1)) :
		    NULL;
		if (q == NULL || q == p + 1 || q + 1 == at)
			break;	/* not our form: rewrite it as any address */
		if (srs_hash(secret, secretlen, p + 1, (size_t)(q - p - 1),
		    q + 1, (size_t)(at - q - 1), NULL, 0, hash) == -1)
			return -1;
		return srs_out(out, outsize, 5 + SRS_HASH_LEN +
		    (size_t)(at - p), "SRS1=%s=%.*s@%s", hash,
		    (int)(at - p - 1), p + 1, fwd_domain);
	}
	day = srs_today(now);
	tt[0] = srs_b32[(day >> 5) & 31];
	tt[1] = srs_b32[day & 31];
	tt[2] = '\0';
	if (srs_hash(secret, secretlen, tt, 2, dom, dlen, local, llen,
	    hash) == -1)
		return -1;
	return srs_out(out, outsize, 5 + SRS_HASH_LEN + 1 + 2 + 1 + dlen + 1 +
	    llen, "SRS0=%s=%s=%s=%.*s@%s", hash, tt, dom, (int)llen, local,
	    fwd_domain);
}

static int
srs_b32_value(char c)
{
	const char *p = strchr(srs_b32, toupper((unsigned char)c));

	return c != '\0' && p != NULL ? (int)(p - srs_b32) : -1;
}

int
srs_reverse(const unsigned char *secret, size_t secretlen, const char *addr,
    int64_t now, unsigned max_age_days, char *out, size_t outsize)
{
	const char *at = strrchr(addr, '@'), *h, *f1, *f2, *f3;
	char hash[SRS_HASH_LEN + 1];
	size_t llen;
	unsigned day, age;
	int tag, hi, lo;

	llen = at != NULL ? (size_t)(at - addr) : strlen(addr);
	if ((tag = srs_tag(addr, llen)) == 0)
		return 0;
	if (secretlen < SRS_SECRET_MIN)
		return err_set(ERR_INVALID, "SRS: secret shorter than %d "
		    "bytes", SRS_SECRET_MIN);
	if (at == NULL || at[1] == '\0')
		return err_set(ERR_INVALID, "SRS address without a domain");
	/* h: the hash; f1 .. : the fields after it, each past its '=' */
	h = addr + 5;
	f1 = memchr(h, '=', (size_t)(at - h));
	if (f1 == NULL || f1 - h != SRS_HASH_LEN)
		return err_set(ERR_INVALID, "SRS address with a malformed "
		    "hash");
	f1++;
	f2 = memchr(f1, '=', (size_t)(at - f1));
	if (f2 == NULL || f2 == f1)
		return err_set(ERR_INVALID, "malformed SRS address");
	f2++;
	if (tag == '1') {
		/* f1: the first forwarder, f2: the tail of its SRS0 */
		if (f2 == at)
			return err_set(ERR_INVALID, "malformed SRS1 address");
		if (srs_hash(secret, secretlen, f1, (size_t)(f2 - 1 - f1), f2,
		    (size_t)(at - f2), NULL, 0, hash) == -1)
			return -1;
		if (strncasecmp(hash, h, SRS_HASH_LEN) != 0)
			return err_set(ERR_PERM, "SRS1 address with a bad hash "
			    "(not made here, or altered)");
		if (srs_out(out, outsize, 0, "SRS0%.*s@%.*s",
		    (int)(at - f2), f2, (int)(f2 - 1 - f1), f1) == -1)
			return -1;
		return 1;
	}
	/* SRS0: f1 TT, f2 the domain, f3 the local part */
	if (f2 - 1 - f1 != 2 || (hi = srs_b32_value(f1[0])) == -1 ||
	    (lo = srs_b32_value(f1[1])) == -1)
		return err_set(ERR_INVALID, "SRS address with a malformed "
		    "timestamp");
	f3 = memchr(f2, '=', (size_t)(at - f2));
	if (f3 == NULL || f3 == f2 || f3 + 1 == at)
		return err_set(ERR_INVALID, "malformed SRS0 address");
	f3++;
	if (srs_hash(secret, secretlen, f1, 2, f2, (size_t)(f3 - 1 - f2), f3,
	    (size_t)(at - f3), hash) == -1)
		return -1;
	if (strncasecmp(hash, h, SRS_HASH_LEN) != 0)
		return err_set(ERR_PERM, "SRS address with a bad hash (not "
		    "made here, or altered)");
	day = srs_today(now);
	age = (day + SRS_TIME_SLOTS - (unsigned)(hi * 32 + lo)) %
	    SRS_TIME_SLOTS;
	if (age > max_age_days)
		return err_set(ERR_LIMIT, "SRS address too old (%u days; "
		    "kept %u)", age, max_age_days);
	if (srs_out(out, outsize, 0, "%.*s@%.*s", (int)(at - f3), f3,
	    (int)(f3 - 1 - f2), f2) == -1)
		return -1;
	return 1;
}
