/*
 * batv.c - see batv.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "batv.h"
#include "tagmac.h"

static const char batv_hex[] = "0123456789abcdef";

static unsigned	batv_today(int64_t now);
static int	batv_hash(const unsigned char *, size_t, char key,
		    unsigned day, const char *addr, size_t len, char *out);

int
batv_is_tagged(const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t len = at != NULL ? (size_t)(at - addr) : strlen(addr);

	return len >= BATV_PREFIX_LEN && strncasecmp(addr, "prvs=",
	    BATV_PREFIX_LEN) == 0;
}

static unsigned
batv_today(int64_t now)
{
	int64_t days = now / 86400;

	return days < 0 ? 0 : (unsigned)(days % BATV_DAYS);
}

/*
 * The 6 hex digits of the tag: the first 3 bytes of HMAC-SHA1 over
 * "K" "DDD" "local@domain" (addr[len], folded by tagmac()).
 */
static int
batv_hash(const unsigned char *secret, size_t secretlen, char key,
    unsigned day, const char *addr, size_t len, char *out)
{
	char buf[4 + BATV_ADDR_MAX];
	unsigned char md[TAGMAC_LEN];
	size_t i;

	if (len > BATV_ADDR_MAX)
		return err_set(ERR_LIMIT, "BATV: address too long");
	snprintf(buf, sizeof(buf), "%c%03u", key, day);
	memcpy(buf + 4, addr, len);
	if (tagmac(secret, secretlen, buf, 4 + len, md) == -1)
		return err_set(err_class(), "BATV: %s", err_msg());
	for (i = 0; i < TAGMAC_LEN; i++) {
		out[2 * i] = batv_hex[md[i] >> 4];
		out[2 * i + 1] = batv_hex[md[i] & 0x0f];
	}
	out[2 * TAGMAC_LEN] = '\0';
	return 0;
}

int
batv_sign(const unsigned char *secret, size_t secretlen, const char *sender,
    int64_t now, unsigned max_age, char *out, size_t outsize)
{
	const char *at = strrchr(sender, '@');
	char hash[2 * TAGMAC_LEN + 1];
	size_t llen;
	unsigned day;
	int n;

	if (secretlen < BATV_SECRET_MIN)
		return err_set(ERR_INVALID, "BATV: secret shorter than %d "
		    "bytes", BATV_SECRET_MIN);
	if (max_age < 1 || max_age > BATV_DAYS / 2)
		return err_set(ERR_INVALID, "BATV: a tag valid for %u days "
		    "(1 to %d)", max_age, BATV_DAYS / 2);
	if (at == NULL || at == sender || at[1] == '\0')
		return err_set(ERR_INVALID, "BATV: <%.100s> is not "
		    "local@domain", sender);
	/* "a b"@x cannot take a prefix inside its quotes and stay valid */
	if (sender[0] == '"')
		return err_set(ERR_INVALID, "BATV: <%.100s> has a quoted "
		    "local part", sender);
	if (batv_is_tagged(sender))
		return err_set(ERR_INVALID, "BATV: <%.100s> is tagged "
		    "already", sender);
	llen = (size_t)(at - sender);
	if (BATV_PREFIX_LEN + BATV_TAG_LEN + 1 + llen > BATV_LOCAL_MAX)
		return err_set(ERR_LIMIT, "BATV: the tagged local part would "
		    "be %zu octets, more than %d", BATV_PREFIX_LEN +
		    BATV_TAG_LEN + 1 + llen, BATV_LOCAL_MAX);
	day = (batv_today(now) + max_age) % BATV_DAYS;
	if (batv_hash(secret, secretlen, BATV_KEY, day, sender,
	    strlen(sender), hash) == -1)
		return -1;
	n = snprintf(out, outsize, "prvs=%c%03u%s=%s", BATV_KEY, day, hash,
	    sender);
	if (n < 0 || (size_t)n >= outsize)
		return err_set(ERR_LIMIT, "BATV: the address does not fit");
	return 1;
}

int
batv_check(const unsigned char *secret, size_t secretlen, const char *addr,
    int64_t now, unsigned max_age, char *out, size_t outsize)
{
	const char *tag = addr + BATV_PREFIX_LEN, *orig, *at;
	char hash[2 * TAGMAC_LEN + 1];
	unsigned day, left;
	size_t i;
	int n;

	if (!batv_is_tagged(addr))
		return 0;
	if (secretlen < BATV_SECRET_MIN)
		return err_set(ERR_INVALID, "BATV: secret shorter than %d "
		    "bytes", BATV_SECRET_MIN);
	/* a fixed width: the local part after it may hold '=' itself */
	at = strrchr(addr, '@');
	orig = tag + BATV_TAG_LEN + 1;
	if (at == NULL || at < orig || tag[BATV_TAG_LEN] != '=' ||
	    at == orig || at[1] == '\0')
		return err_set(ERR_INVALID, "malformed BATV tag");
	for (i = 0; i < BATV_TAG_LEN; i++)
		if (!(i < 4 ? isdigit((unsigned char)tag[i]) :
		    isxdigit((unsigned char)tag[i])))
			return err_set(ERR_INVALID, "malformed BATV tag");
	if (tag[0] != BATV_KEY)
		return err_set(ERR_PERM, "BATV tag of an unknown key");
	day = (unsigned)((tag[1] - '0') * 100 + (tag[2] - '0') * 10 +
	    (tag[3] - '0'));
	if (batv_hash(secret, secretlen, tag[0], day, orig, strlen(orig),
	    hash) == -1)
		return -1;
	if (strncasecmp(hash, tag + 4, 2 * TAGMAC_LEN) != 0)
		return err_set(ERR_PERM, "BATV tag with a bad hash (not made "
		    "here, or altered)");
	/* days from today to its expiry: past days wrap to large ones */
	left = (day + BATV_DAYS - batv_today(now)) % BATV_DAYS;
	if (left > max_age)
		return err_set(ERR_LIMIT, "expired BATV tag (its day %03u, "
		    "today %03u)", day, batv_today(now));
	n = snprintf(out, outsize, "%s", orig);
	if (n < 0 || (size_t)n >= outsize)
		return err_set(ERR_LIMIT, "BATV: the address does not fit");
	return 1;
}
