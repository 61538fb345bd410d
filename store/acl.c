/*
 * acl.c - see acl.h.  The access(5) text is aclmap.c's.
 *
 * `acl` keys (the first byte is the kind, so one kind is one range):
 *   'i' family(4|6) address(4|16)            an ip entry
 *   'n' family prefix-length address(masked) a net entry
 *   'N' family -> 17 bytes: bit L set when a net of prefix length L
 *                 exists (the lookup's list of lengths to try)
 *   's' "user@domain" or "user@"             a sender entry
 *   'd' "domain"                             a domain entry
 *   'r' "user@domain"                        a recipient entry
 * -> record: version 1, list (u8), action (u8), code (varint), created
 * (u64), text (string).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "acl.h"
#include "domain.h"
#include "private.h"

#define ACL_KEY_MAX	(1 + STORE_ADDRESS_MAX)
#define ACL_BITS	'N'
#define ACL_BITS_LEN	17		/* prefix lengths 0..128 */
/* Postfix's recipient_delimiter as vellum resolves user+ext (DESIGN.md). */
#define ACL_DELIM	'+'

struct acl_ip {
	uint8_t		fam;		/* 4 or 6 */
	uint8_t		a[16];
	size_t		alen;		/* 4 or 16 */
};

static int	acl_ip_parse(const char *, struct acl_ip *);
static void	acl_ip_format(const struct acl_ip *, char *, size_t);
static int	acl_net_parse(const char *, struct acl_ip *, unsigned *);
static int	acl_mask_len(const char *, unsigned *);
static void	acl_ip_mask(struct acl_ip *, unsigned);
static int	acl_local_ok(const char *, size_t);
static size_t	acl_key(enum store_acl_kind, const char *norm, uint8_t *);
static int	acl_decode(const MDB_val *, const MDB_val *,
		    struct store_acl *);
static int	acl_get_key(struct store_txn *, const uint8_t *, size_t,
		    struct store_acl *);
static int	acl_bits_get(struct store_txn *, uint8_t,
		    uint8_t bits[ACL_BITS_LEN]);
static int	acl_bits_update(struct store_txn *, uint8_t fam,
		    unsigned len, int set);
static int	acl_entry_ok(const struct store_acl *);
static int	acl_get_str(struct store_txn *, enum store_acl_kind,
		    const char *, struct store_acl *);

/* The skip table ------------------------------------------------------ */

/*
 * MailPlus's whitelist table: a white IP skips every check; a white
 * network all but the antivirus (a network is broader trust, a virus may
 * still come from a host of it); a white sender or recipient address
 * only SPF and the antivirus; a white sender domain SPF, antivirus,
 * DKIM and DMARC (the domain vouches for its own mail).
 */
static const unsigned acl_skip_table[][2] = {
	{ STORE_ACL_IP,		ACL_SKIP_DNSBL | ACL_SKIP_SPF | ACL_SKIP_AV |
				ACL_SKIP_DKIM | ACL_SKIP_DMARC },
	{ STORE_ACL_NET,	ACL_SKIP_DNSBL | ACL_SKIP_SPF | ACL_SKIP_DKIM |
				ACL_SKIP_DMARC },
	{ STORE_ACL_SENDER,	ACL_SKIP_SPF | ACL_SKIP_AV },
	{ STORE_ACL_RECIPIENT,	ACL_SKIP_SPF | ACL_SKIP_AV },
	{ STORE_ACL_DOMAIN,	ACL_SKIP_SPF | ACL_SKIP_AV | ACL_SKIP_DKIM |
				ACL_SKIP_DMARC },
};

unsigned
store_acl_skips(enum store_acl_kind kind)
{
	size_t i;

	for (i = 0; i < sizeof(acl_skip_table) / sizeof(acl_skip_table[0]);
	    i++)
		if (acl_skip_table[i][0] == (unsigned)kind)
			return acl_skip_table[i][1];
	return 0;
}

void
store_acl_skip_names(unsigned mask, char *buf, size_t size)
{
	static const char *const names[] = { "DNSBL", "SPF", "AV", "DKIM",
	    "DMARC" };
	size_t i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < 5; i++)
		if ((mask & (1u << i)) && len < size)
			len += (size_t)snprintf(buf + len, size - len, "%s%s",
			    len > 0 ? ", " : "", names[i]);
	if (buf[0] == '\0')
		snprintf(buf, size, "nothing");
}

/* Names --------------------------------------------------------------- */

const char *
store_acl_kind_name(enum store_acl_kind kind)
{
	switch (kind) {
	case STORE_ACL_IP:
		return "ip";
	case STORE_ACL_NET:
		return "net";
	case STORE_ACL_SENDER:
		return "sender";
	case STORE_ACL_DOMAIN:
		return "domain";
	case STORE_ACL_RECIPIENT:
		return "recipient";
	}
	return "?";
}

enum store_acl_kind
store_acl_kind_parse(const char *s)
{
	static const enum store_acl_kind kinds[] = { STORE_ACL_IP,
	    STORE_ACL_NET, STORE_ACL_SENDER, STORE_ACL_DOMAIN,
	    STORE_ACL_RECIPIENT };
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(s, store_acl_kind_name(kinds[i])) == 0)
			return kinds[i];
	return 0;
}

const char *
store_acl_list_name(enum store_acl_list l)
{
	return l == STORE_ACL_WHITE ? "white" : l == STORE_ACL_BLACK ?
	    "black" : "?";
}

const char *
store_acl_action_name(enum store_acl_action a)
{
	return a == STORE_ACL_REJECT ? "reject" : a == STORE_ACL_DISCARD ?
	    "discard" : "-";
}

/* Values -------------------------------------------------------------- */

/* An address as text: v4, v6, v4-mapped v6 (taken as v4).  0, or -1. */
static int
acl_ip_parse(const char *in, struct acl_ip *ip)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };

	memset(ip, 0, sizeof(*ip));
	if (inet_pton(AF_INET, in, ip->a) == 1) {
		ip->fam = 4;
		ip->alen = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, in, ip->a) != 1)
		return err_set(ERR_INVALID, "'%s' is not an IP address", in);
	ip->fam = 6;
	ip->alen = 16;
	if (memcmp(ip->a, mapped, sizeof(mapped)) == 0) {
		memmove(ip->a, ip->a + 12, 4);
		memset(ip->a + 4, 0, 12);
		ip->fam = 4;
		ip->alen = 4;
	}
	return 0;
}

static void
acl_ip_format(const struct acl_ip *ip, char *buf, size_t size)
{
	if (inet_ntop(ip->fam == 4 ? AF_INET : AF_INET6, ip->a, buf,
	    (socklen_t)size) == NULL)
		snprintf(buf, size, "?");
}

/* A dotted IPv4 netmask into its prefix length (contiguous only). */
static int
acl_mask_len(const char *s, unsigned *len)
{
	uint8_t m[4];
	uint32_t v;
	unsigned n = 0;

	if (inet_pton(AF_INET, s, m) != 1)
		return -1;
	v = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 |
	    (uint32_t)m[2] << 8 | m[3];
	while (n < 32 && (v & (1u << (31 - n))))
		n++;
	if (n < 32 && (v << n) != 0)
		return -1;
	*len = n;
	return 0;
}

/* Clears the bits of ip past len. */
static void
acl_ip_mask(struct acl_ip *ip, unsigned len)
{
	size_t i;

	for (i = 0; i < ip->alen; i++) {
		if (len >= 8 * (i + 1))
			continue;
		if (len <= 8 * i)
			ip->a[i] = 0;
		else
			ip->a[i] &= (uint8_t)(0xff00u >> (len - 8 * i));
	}
}

/*
 * "addr/len", "[v6]/len" or "v4/mask": the network and its length.  0,
 * or -1 INVALID (host bits set, a length out of range...).
 */
static int
acl_net_parse(const char *in, struct acl_ip *ip, unsigned *len_r)
{
	char addr[INET6_ADDRSTRLEN + 2], *end;
	const char *slash = strchr(in, '/'), *a = in;
	struct acl_ip masked;
	size_t alen;
	unsigned long len;

	if (slash == NULL)
		return err_set(ERR_INVALID, "'%s' is not a network: write "
		    "ADDRESS/LENGTH or ADDRESS/MASK", in);
	alen = (size_t)(slash - in);
	if (alen > 2 && in[0] == '[' && in[alen - 1] == ']') {
		a++;
		alen -= 2;
	}
	if (alen == 0 || alen >= sizeof(addr))
		return err_set(ERR_INVALID, "'%s' is not a network", in);
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	if (acl_ip_parse(addr, ip) == -1 || (strchr(addr, ':') != NULL &&
	    ip->fam == 4))
		return err_set(ERR_INVALID, "'%s': '%s' is not an IPv4 or "
		    "IPv6 address%s", in, addr, strchr(addr, ':') != NULL &&
		    ip->fam == 4 ? " (write a v4-mapped network in IPv4 form)" :
		    "");
	if (strchr(slash + 1, '.') != NULL) {
		if (ip->fam != 4 || acl_mask_len(slash + 1, len_r) == -1)
			return err_set(ERR_INVALID, "'%s': '%s' is not an IPv4 "
			    "netmask (contiguous ones, as 255.255.255.0)", in,
			    slash + 1);
	} else {
		if (!isdigit((unsigned char)slash[1]))
			return err_set(ERR_INVALID, "'%s': no prefix length "
			    "after '/'", in);
		len = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || len > 8 * ip->alen)
			return err_set(ERR_INVALID, "'%s': the prefix length "
			    "is 0 to %zu", in, 8 * ip->alen);
		*len_r = (unsigned)len;
	}
	masked = *ip;
	acl_ip_mask(&masked, *len_r);
	if (memcmp(masked.a, ip->a, ip->alen) != 0) {
		acl_ip_format(&masked, addr, sizeof(addr));
		return err_set(ERR_INVALID, "'%s' has host bits set (the "
		    "network is %s/%u)", in, addr, *len_r);
	}
	return 0;
}

/* A local part as an address may have it (user.c's rules). */
static int
acl_local_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f ||
		    s[i] == '<' || s[i] == '>' || s[i] == ',' || s[i] == '@')
			return 0;
	return 1;
}

int
store_acl_normalize(enum store_acl_kind kind, const char *in, char *buf)
{
	char txt[INET6_ADDRSTRLEN];
	struct acl_ip ip;
	unsigned len;
	size_t n, i;

	if (in == NULL || in[0] == '\0')
		return err_set(ERR_INVALID, "an empty %s",
		    store_acl_kind_name(kind));
	switch (kind) {
	case STORE_ACL_IP:
		if (strchr(in, '/') != NULL)
			return err_set(ERR_INVALID, "'%s' is a network: give it "
			    "as kind net", in);
		if (acl_ip_parse(in, &ip) == -1)
			return -1;
		acl_ip_format(&ip, buf, STORE_ADDRESS_MAX + 1);
		return 0;
	case STORE_ACL_NET:
		if (strchr(in, '/') == NULL)
			return err_set(ERR_INVALID, "'%s' is no network: give "
			    "one address as kind ip, or write ADDRESS/LENGTH",
			    in);
		if (acl_net_parse(in, &ip, &len) == -1)
			return -1;
		acl_ip_format(&ip, txt, sizeof(txt));
		snprintf(buf, STORE_ADDRESS_MAX + 1, "%s/%u", txt, len);
		return 0;
	case STORE_ACL_SENDER:
		n = strlen(in);
		/* "user@": that local part in every domain */
		if (in[n - 1] == '@' && strchr(in, '@') == in + n - 1) {
			if (n > STORE_ADDRESS_MAX || !acl_local_ok(in, n - 1))
				return err_set(ERR_INVALID, "'%s' is not a "
				    "local part", in);
			for (i = 0; i < n; i++)
				buf[i] = (char)tolower((unsigned char)in[i]);
			buf[n] = '\0';
			return 0;
		}
		/* FALLTHROUGH */
	case STORE_ACL_RECIPIENT:
		if (strchr(in, '@') == NULL)
			return err_set(ERR_INVALID, "'%s' is not an address%s",
			    in, kind == STORE_ACL_SENDER ? " (a whole sender "
			    "domain is kind domain)" : "");
		if (store_address_normalize(in, buf, 0) == -1)
			return -1;
		if (strchr(buf, '@') != strrchr(buf, '@'))
			return err_set(ERR_INVALID, "'%s' is not an address "
			    "(more than one '@')", in);
		return 0;
	case STORE_ACL_DOMAIN:
		if (in[0] == '@')
			in++;
		if (strchr(in, '@') != NULL)
			return err_set(ERR_INVALID, "'%s' is not a domain (an "
			    "address is kind sender)", in);
		if (in[0] == '.')
			return err_set(ERR_INVALID, "'%s': write the domain "
			    "without the dot (it matches its subdomains too)",
			    in);
		return store_domain_normalize(in, buf);
	}
	return err_set(ERR_INVALID, "unknown list entry kind %d", (int)kind);
}

/* Rows ---------------------------------------------------------------- */

/* The key of a normalised value (valid: normalize made it). */
static size_t
acl_key(enum store_acl_kind kind, const char *norm, uint8_t *key)
{
	struct acl_ip ip;
	unsigned len = 0;
	size_t n;

	key[0] = (uint8_t)kind;
	switch (kind) {
	case STORE_ACL_IP:
		if (acl_ip_parse(norm, &ip) == -1)
			fatalx("acl: '%s' is no normalised address", norm);
		key[1] = ip.fam;
		memcpy(key + 2, ip.a, ip.alen);
		return 2 + ip.alen;
	case STORE_ACL_NET:
		if (acl_net_parse(norm, &ip, &len) == -1)
			fatalx("acl: '%s' is no normalised network", norm);
		key[1] = ip.fam;
		key[2] = (uint8_t)len;
		memcpy(key + 3, ip.a, ip.alen);
		return 3 + ip.alen;
	default:
		n = strlen(norm);
		memcpy(key + 1, norm, n);
		return 1 + n;
	}
}

static int
acl_decode(const MDB_val *k, const MDB_val *v, struct store_acl *r)
{
	const uint8_t *kp = k->mv_data;
	struct acl_ip ip;
	struct unpack u;
	char txt[INET6_ADDRSTRLEN];
	size_t n = k->mv_size;

	memset(r, 0, sizeof(*r));
	if (n < 2 || n > ACL_KEY_MAX)
		goto badkey;
	r->kind = (enum store_acl_kind)kp[0];
	memset(&ip, 0, sizeof(ip));
	switch (r->kind) {
	case STORE_ACL_IP:
	case STORE_ACL_NET:
		ip.fam = kp[1];
		ip.alen = ip.fam == 4 ? 4 : 16;
		if ((ip.fam != 4 && ip.fam != 6) || n != (r->kind ==
		    STORE_ACL_IP ? 2 : 3) + ip.alen)
			goto badkey;
		memcpy(ip.a, kp + n - ip.alen, ip.alen);
		acl_ip_format(&ip, txt, sizeof(txt));
		if (r->kind == STORE_ACL_IP)
			snprintf(r->value, sizeof(r->value), "%s", txt);
		else {
			if (kp[2] > 8 * ip.alen)
				goto badkey;
			snprintf(r->value, sizeof(r->value), "%s/%u", txt,
			    kp[2]);
		}
		break;
	case STORE_ACL_SENDER:
	case STORE_ACL_DOMAIN:
	case STORE_ACL_RECIPIENT:
		if (memchr(kp, '\0', n) != NULL)
			goto badkey;
		memcpy(r->value, kp + 1, n - 1);
		r->value[n - 1] = '\0';
		if ((r->kind == STORE_ACL_DOMAIN) !=
		    (strchr(r->value, '@') == NULL))
			goto badkey;
		break;
	default:
		goto badkey;
	}
	unpack_init(&u, v);
	r->list = (enum store_acl_list)unpack_u8(&u);
	r->action = (enum store_acl_action)unpack_u8(&u);
	r->code = (unsigned)unpack_uv(&u);
	r->created = (int64_t)unpack_u64(&u);
	unpack_str(&u, r->text, sizeof(r->text));
	if (!u.bad && (u.left != 0 || acl_entry_ok(r) == -1)) {
		err_clear();
		u.bad = 1;
	}
	return unpack_done(&u, "black/white list entry") == -1 ? -1 : 1;
badkey:
	return err_set(ERR_CORRUPT, "black/white list entry with a damaged "
	    "key (run vellumctl store check)");
}

/* list, action, code and text agree.  0, or -1 INVALID. */
static int
acl_entry_ok(const struct store_acl *e)
{
	const char *p;

	if (e->list != STORE_ACL_WHITE && e->list != STORE_ACL_BLACK)
		return err_set(ERR_INVALID, "an entry is white or black");
	if (e->list == STORE_ACL_WHITE && (e->action != STORE_ACL_NONE ||
	    e->code != 0 || e->text[0] != '\0'))
		return err_set(ERR_INVALID, "a white entry has no action, code "
		    "or text");
	if (e->list == STORE_ACL_BLACK && e->action != STORE_ACL_REJECT &&
	    e->action != STORE_ACL_DISCARD)
		return err_set(ERR_INVALID, "a black entry's action is reject "
		    "or discard");
	if (e->code != 0 && (e->action != STORE_ACL_REJECT || e->code < 500 ||
	    e->code > 599))
		return err_set(ERR_INVALID, "a reply code is 5XX, of a reject "
		    "entry");
	for (p = e->text; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return err_set(ERR_INVALID, "the text of an entry is "
			    "printable ASCII on one line");
	return 0;
}

static int
acl_get_key(struct store_txn *t, const uint8_t *key, size_t kl,
    struct store_acl *r)
{
	MDB_val kv, v;
	int rc;

	memset(r, 0, sizeof(*r));
	if (t->st->no_acl)
		return 0;
	if ((rc = sdb_get(t, DB_ACL, key, kl, &v)) != 1)
		return rc;
	kv.mv_data = (void *)key;
	kv.mv_size = kl;
	return acl_decode(&kv, &v, r);
}

/* The prefix-length bitmap of a family (zeros when none).  0, or -1. */
static int
acl_bits_get(struct store_txn *t, uint8_t fam, uint8_t bits[ACL_BITS_LEN])
{
	uint8_t key[2] = { ACL_BITS, fam };
	MDB_val v;
	int rc;

	memset(bits, 0, ACL_BITS_LEN);
	if (t->st->no_acl)
		return 0;
	if ((rc = sdb_get(t, DB_ACL, key, 2, &v)) != 1)
		return rc;
	if (v.mv_size != ACL_BITS_LEN)
		return err_set(ERR_CORRUPT, "damaged network index of the "
		    "black/white lists (run vellumctl store check)");
	memcpy(bits, v.mv_data, ACL_BITS_LEN);
	return 0;
}

/*
 * After a net of fam and len was added (set) or removed: the bitmap says
 * whether nets of that length exist.  0, or -1.
 */
static int
acl_bits_update(struct store_txn *t, uint8_t fam, unsigned len, int set)
{
	uint8_t bits[ACL_BITS_LEN], key[2] = { ACL_BITS, fam };
	uint8_t prefix[3] = { STORE_ACL_NET, fam, (uint8_t)len };
	MDB_cursor *c;
	MDB_val k, v;
	int rc;
	size_t i;

	if (acl_bits_get(t, fam, bits) == -1)
		return -1;
	if (!set) {
		/* any other net of that length left? */
		if (sdb_cursor(t, DB_ACL, &c) == -1)
			return -1;
		k.mv_data = prefix;
		k.mv_size = sizeof(prefix);
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		mdb_cursor_close(c);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return sdb_error(t, rc, "acl");
		if (rc == 0 && k.mv_size >= 3 &&
		    memcmp(k.mv_data, prefix, 3) == 0)
			return 0;
		bits[len / 8] &= (uint8_t)~(1u << (len % 8));
	} else {
		if (bits[len / 8] & (1u << (len % 8)))
			return 0;
		bits[len / 8] |= (uint8_t)(1u << (len % 8));
	}
	for (i = 0; i < ACL_BITS_LEN && bits[i] == 0; i++)
		;
	if (i == ACL_BITS_LEN)
		return sdb_del(t, DB_ACL, key, 2) == -1 ? -1 : 0;
	return sdb_put(t, DB_ACL, key, 2, bits, ACL_BITS_LEN, 0) == -1 ? -1 :
	    0;
}

int
store_acl_put(struct store_txn *t, const struct store_acl *e, int replace)
{
	struct store_acl n = *e, old;
	uint8_t key[ACL_KEY_MAX];
	struct pack p;
	size_t kl;
	int rc;

	if (store_acl_normalize(e->kind, e->value, n.value) == -1 ||
	    acl_entry_ok(&n) == -1)
		return -1;
	if (t->st->no_acl)
		return err_set(ERR_PERM, "the store is read-only");
	kl = acl_key(n.kind, n.value, key);
	if ((rc = acl_get_key(t, key, kl, &old)) == -1)
		return -1;
	if (rc == 1 && old.list == n.list && old.action == n.action &&
	    old.code == n.code && strcmp(old.text, n.text) == 0)
		return 0;
	if (rc == 1 && !replace)
		return err_set(ERR_EXISTS, "the %s %s is on the %s list "
		    "already%s%s (delete it first)",
		    store_acl_kind_name(n.kind), n.value,
		    store_acl_list_name(old.list), old.list == STORE_ACL_BLACK ?
		    ", action " : "", old.list == STORE_ACL_BLACK ?
		    store_acl_action_name(old.action) : "");
	n.created = store_now();
	pack_init(&p);
	pack_u8(&p, (uint8_t)n.list);
	pack_u8(&p, (uint8_t)n.action);
	pack_uv(&p, n.code);
	pack_u64(&p, (uint64_t)n.created);
	pack_str(&p, n.text);
	rc = sdb_put(t, DB_ACL, key, kl, p.buf, p.len, 0);
	pack_free(&p);
	if (rc == -1)
		return -1;
	if (n.kind == STORE_ACL_NET &&
	    acl_bits_update(t, key[1], key[2], 1) == -1)
		return -1;
	return 1;
}

int
store_acl_del(struct store_txn *t, enum store_acl_kind kind,
    const char *value)
{
	char norm[STORE_ADDRESS_MAX + 1];
	uint8_t key[ACL_KEY_MAX];
	size_t kl;
	int rc;

	if (store_acl_normalize(kind, value, norm) == -1)
		return -1;
	if (t->st->no_acl)
		return 0;
	kl = acl_key(kind, norm, key);
	if ((rc = sdb_del(t, DB_ACL, key, kl)) != 1)
		return rc;
	if (kind == STORE_ACL_NET &&
	    acl_bits_update(t, key[1], key[2], 0) == -1)
		return -1;
	return 1;
}

int
store_acl_get(struct store_txn *t, enum store_acl_kind kind,
    const char *value, struct store_acl *r)
{
	char norm[STORE_ADDRESS_MAX + 1];
	uint8_t key[ACL_KEY_MAX];

	memset(r, 0, sizeof(*r));
	if (store_acl_normalize(kind, value, norm) == -1)
		return -1;
	return acl_get_key(t, key, acl_key(kind, norm, key), r);
}

int
store_acl_list(struct store_txn *t, enum store_acl_kind kind,
    store_acl_fn *fn, void *ctx)
{
	struct store_acl r;
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t first = (uint8_t)kind;
	int rc, ret = 0;

	if (t->st->no_acl)
		return 0;
	if (sdb_cursor(t, DB_ACL, &c) == -1)
		return -1;
	k.mv_size = 1;
	k.mv_data = &first;
	for (rc = mdb_cursor_get(c, &k, &v, kind != 0 ? MDB_SET_RANGE :
	    MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 1)
			continue;
		if (kind != 0 && ((const uint8_t *)k.mv_data)[0] != first)
			break;
		if (((const uint8_t *)k.mv_data)[0] == ACL_BITS)
			continue;
		if (acl_decode(&k, &v, &r) == -1 || fn(&r, ctx) == -1) {
			ret = -1;
			break;
		}
	}
	if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
		ret = sdb_error(t, rc, "acl");
	mdb_cursor_close(c);
	return ret;
}

long
store_acl_clear(struct store_txn *t, enum store_acl_kind kind)
{
	uint8_t first = (uint8_t)kind, bk[2] = { ACL_BITS, 0 };
	long n;

	if (store_acl_kind_name(kind)[0] == '?')
		return err_set(ERR_INVALID, "unknown list entry kind %d",
		    (int)kind);
	if (t->st->no_acl)
		return 0;
	if ((n = sdb_del_prefix(t, DB_ACL, &first, 1, "acl")) == -1)
		return -1;
	if (kind == STORE_ACL_NET) {
		bk[1] = 4;
		if (sdb_del(t, DB_ACL, bk, 2) == -1)
			return -1;
		bk[1] = 6;
		if (sdb_del(t, DB_ACL, bk, 2) == -1)
			return -1;
	}
	return n;
}

/* Lookups ------------------------------------------------------------- */

int
store_acl_client(struct store_txn *t, const char *ipstr,
    struct store_acl *r)
{
	uint8_t bits[ACL_BITS_LEN], key[3 + 16];
	struct acl_ip ip, m;
	int len, rc;

	memset(r, 0, sizeof(*r));
	if (t->st->no_acl || ipstr == NULL || acl_ip_parse(ipstr, &ip) == -1) {
		err_clear();
		return 0;
	}
	key[0] = STORE_ACL_IP;
	key[1] = ip.fam;
	memcpy(key + 2, ip.a, ip.alen);
	if ((rc = acl_get_key(t, key, 2 + ip.alen, r)) != 0)
		return rc;
	if (acl_bits_get(t, ip.fam, bits) == -1)
		return -1;
	/* the longest prefix first: the most specific net decides */
	for (len = (int)(8 * ip.alen); len >= 0; len--) {
		if (!(bits[len / 8] & (1u << (len % 8))))
			continue;
		m = ip;
		acl_ip_mask(&m, (unsigned)len);
		key[0] = STORE_ACL_NET;
		key[2] = (uint8_t)len;
		memcpy(key + 3, m.a, m.alen);
		if ((rc = acl_get_key(t, key, 3 + m.alen, r)) != 0)
			return rc;
	}
	return 0;
}

/* The entry of kind and an already normalised string value. */
static int
acl_get_str(struct store_txn *t, enum store_acl_kind kind, const char *norm,
    struct store_acl *r)
{
	uint8_t key[ACL_KEY_MAX];
	size_t n = strlen(norm);

	if (n == 0 || n > STORE_ADDRESS_MAX)
		return 0;
	key[0] = (uint8_t)kind;
	memcpy(key + 1, norm, n);
	return acl_get_key(t, key, 1 + n, r);
}

int
store_acl_sender(struct store_txn *t, const char *addr, struct store_acl *r)
{
	char norm[STORE_ADDRESS_MAX + 1], base[STORE_ADDRESS_MAX + 1];
	char *at, *plus, *d;
	int rc;

	memset(r, 0, sizeof(*r));
	/* <> and what is not an address have no entry */
	if (t->st->no_acl || addr == NULL || strchr(addr, '@') == NULL ||
	    store_address_normalize(addr, norm, 0) == -1) {
		err_clear();
		return 0;
	}
	at = strrchr(norm, '@');
	plus = memchr(norm, ACL_DELIM, (size_t)(at - norm));
	base[0] = '\0';
	if (plus != NULL && plus > norm)
		snprintf(base, sizeof(base), "%.*s%s", (int)(plus - norm), norm,
		    at);
	if ((rc = acl_get_str(t, STORE_ACL_SENDER, norm, r)) != 0 ||
	    (base[0] != '\0' &&
	    (rc = acl_get_str(t, STORE_ACL_SENDER, base, r)) != 0))
		return rc;
	/* the domain, then each parent (parent_domain_matches_subdomains) */
	for (d = at + 1; d != NULL && *d != '\0'; d = strchr(d, '.') != NULL ?
	    strchr(d, '.') + 1 : NULL)
		if ((rc = acl_get_str(t, STORE_ACL_DOMAIN, d, r)) != 0)
			return rc;
	/* "user@" in every domain */
	at[1] = '\0';
	if ((rc = acl_get_str(t, STORE_ACL_SENDER, norm, r)) != 0)
		return rc;
	if (base[0] != '\0') {
		strchr(base, '@')[1] = '\0';
		return acl_get_str(t, STORE_ACL_SENDER, base, r);
	}
	return 0;
}

int
store_acl_recipient(struct store_txn *t, const char *addr,
    struct store_acl *r)
{
	char norm[STORE_ADDRESS_MAX + 1], base[STORE_ADDRESS_MAX + 1];
	char *at, *plus;
	int rc;

	memset(r, 0, sizeof(*r));
	if (t->st->no_acl || addr == NULL || strchr(addr, '@') == NULL ||
	    store_address_normalize(addr, norm, 0) == -1) {
		err_clear();
		return 0;
	}
	if ((rc = acl_get_str(t, STORE_ACL_RECIPIENT, norm, r)) != 0)
		return rc;
	at = strrchr(norm, '@');
	plus = memchr(norm, ACL_DELIM, (size_t)(at - norm));
	if (plus == NULL || plus == norm)
		return 0;
	snprintf(base, sizeof(base), "%.*s%s", (int)(plus - norm), norm, at);
	return acl_get_str(t, STORE_ACL_RECIPIENT, base, r);
}

/* The check ----------------------------------------------------------- */

/* Every row decodes; each family's bitmap names exactly its nets' lengths. */
int
acl_check(struct store_txn *t, check_report_fn *report, void *ctx)
{
	uint8_t have[2][ACL_BITS_LEN], want[2][ACL_BITS_LEN];
	const uint8_t *kp;
	struct store_acl r;
	char buf[600];
	MDB_cursor *c;
	MDB_val k, v;
	int rc, f;

	if (t->st->no_acl)
		return 0;
	memset(have, 0, sizeof(have));
	memset(want, 0, sizeof(want));
	if (sdb_cursor(t, DB_ACL, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		kp = k.mv_data;
		if (k.mv_size == 2 && kp[0] == ACL_BITS &&
		    (kp[1] == 4 || kp[1] == 6)) {
			if (v.mv_size != ACL_BITS_LEN)
				report(ctx, "acl: damaged network index row");
			else
				memcpy(have[kp[1] == 6], v.mv_data,
				    ACL_BITS_LEN);
			continue;
		}
		if (acl_decode(&k, &v, &r) == -1) {
			snprintf(buf, sizeof(buf), "acl: %s", err_msg());
			report(ctx, buf);
			continue;
		}
		if (r.kind == STORE_ACL_NET)
			want[kp[1] == 6][kp[2] / 8] |=
			    (uint8_t)(1u << (kp[2] % 8));
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return sdb_error(t, rc, "acl");
	for (f = 0; f < 2; f++)
		if (memcmp(have[f], want[f], ACL_BITS_LEN) != 0) {
			snprintf(buf, sizeof(buf), "acl: the IPv%d network "
			    "index does not match the networks listed "
			    "(lookups would miss some)", f ? 6 : 4);
			report(ctx, buf);
		}
	return 0;
}
