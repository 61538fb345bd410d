/*
 * user.c - accounts: `users` (id -> record) and `logins` (primary address
 * -> id).
 */
#include <crypt.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/config.h"
#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "addr.h"
#include "domain.h"
#include "policy.h"
#include "list.h"
#include "mailbox.h"
#include "private.h"
#include "user.h"

int
store_address_normalize(const char *in, char *buf, int allow_catchall)
{
	const char *at;
	size_t n = strlen(in), i, local;
	char dom[STORE_DOMAIN_MAX + 1];

	while (n > 0 && isspace((unsigned char)in[n - 1]))
		n--;
	while (n > 0 && isspace((unsigned char)*in)) {
		in++;
		n--;
	}
	if (n > 2 && in[0] == '<' && in[n - 1] == '>') {
		in++;
		n -= 2;
	}
	if (n == 0 || n > STORE_ADDRESS_MAX)
		return err_set(ERR_INVALID, "'%.*s' is not an address (empty or "
		    "too long)", (int)n, in);
	/*
	 * The last '@' (or '#' when there is no '@') splits local@domain.
	 * (A loop, not memrchr(): gcc 12 -O3 with UBSan wrongly proves `in`
	 * NULL there and -Werror=nonnull fails the release build.)
	 */
	at = NULL;
	for (i = n; i > 0 && at == NULL; i--)
		if (in[i - 1] == '@')
			at = in + i - 1;
	for (i = n; i > 0 && at == NULL; i--)
		if (in[i - 1] == '#')
			at = in + i - 1;
	if (at == NULL)
		return err_set(ERR_INVALID, "'%.*s' is not an address: write "
		    "user@domain", (int)n, in);
	local = (size_t)(at - in);
	if (local == 0 && !allow_catchall)
		return err_set(ERR_INVALID, "'%.*s' has an empty local part",
		    (int)n, in);
	for (i = 0; i < local; i++)
		if ((unsigned char)in[i] <= 0x20 || in[i] == 0x7f ||
		    in[i] == '<' || in[i] == '>' || in[i] == ',')
			return err_set(ERR_INVALID, "'%.*s': invalid character "
			    "in the local part", (int)n, in);
	if (n - local - 1 > STORE_DOMAIN_MAX)
		return err_set(ERR_INVALID, "'%.*s': domain too long", (int)n,
		    in);
	memcpy(dom, at + 1, n - local - 1);
	dom[n - local - 1] = '\0';
	if (store_domain_normalize(dom, dom) == -1)
		return -1;
	for (i = 0; i < local; i++)
		buf[i] = (char)tolower((unsigned char)in[i]);
	buf[local] = '@';
	strcpy(buf + local + 1, dom);
	return 0;
}

/* The scheme store_password_hash() makes: yescrypt. */
#define PW_DEFAULT_PREFIX	"$y$"

int
store_password_hash(const char *password, char **hash_r)
{
	char *setting, *h;
	struct crypt_data *cd;

	setting = crypt_gensalt_ra(PW_DEFAULT_PREFIX, 0, NULL, 0);
	if (setting == NULL)
		return err_set(ERR_TEMP, "cannot make a password salt");
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_r(password, setting, cd);
	free(setting);
	if (h == NULL || h[0] == '*') {
		free(cd);
		return err_set(ERR_TEMP, "yescrypt hashing failed");
	}
	*hash_r = xstrdup(h);
	free(cd);
	return 0;
}

/*
 * Password schemes.  What a stored hash may be is in user.h; the tables
 * below are the whole list, so that an import refuses (and names) what a
 * login could never check instead of storing it.
 */

/* A digest scheme: "{NAME}" + base64(digest [+ salt]). */
struct pw_digest {
	const char	*name;
	const char	*md;		/* OpenSSL's name of the digest */
	size_t		 len;		/* digest bytes */
	int		 salted;	/* a salt follows the digest */
	int		 hex;		/* Dovecot's default encoding is hex */
};

static const struct pw_digest pw_digests[] = {
	{ "SSHA512", "SHA512", 64, 1, 0 },
	{ "SSHA256", "SHA256", 32, 1, 0 },
	{ "SSHA", "SHA1", 20, 1, 0 },
	{ "SHA512", "SHA512", 64, 0, 0 },
	{ "SHA256", "SHA256", 32, 0, 0 },
	{ "SHA", "SHA1", 20, 0, 0 },
	{ "SHA1", "SHA1", 20, 0, 0 },
	{ "SMD5", "MD5", 16, 1, 0 },
	{ "LDAP-MD5", "MD5", 16, 0, 0 },
	{ "PLAIN-MD5", "MD5", 16, 0, 1 },
};

/* A crypt(3) scheme: "{NAME}" before a crypt string with this prefix. */
struct pw_crypt {
	const char	*name;
	const char	*prefix[3];	/* any of these; NULL ends */
};

static const struct pw_crypt pw_crypts[] = {
	{ "CRYPT", { NULL } },			/* any crypt(3) hash */
	{ "SHA512-CRYPT", { "$6$", NULL } },
	{ "SHA256-CRYPT", { "$5$", NULL } },
	{ "MD5-CRYPT", { "$1$", NULL } },
	{ "MD5", { "$1$", NULL } },		/* Dovecot's alias */
	{ "BLF-CRYPT", { "$2b$", "$2y$", "$2a$" } },
	{ "DES-CRYPT", { NULL } },
};

/*
 * The length of the whole hash for the crypt(3) prefixes whose checksum
 * has a fixed size, so that a truncated hash (which crypt_checksalt()
 * still calls valid) is refused on import; 0 = the setting decides and
 * the caller checks it with one crypt_r().
 */
struct pw_crypt_len {
	const char	*prefix;
	size_t		 checksum;	/* characters after the last '$' */
};

static const struct pw_crypt_len pw_crypt_lens[] = {
	{ "$6$", 86 }, { "$5$", 43 }, { "$1$", 22 }, { "$y$", 43 },
	{ "$gy$", 43 }, { "$7$", 43 }, { "$2b$", 53 }, { "$2y$", 53 },
	{ "$2a$", 53 },
};

static const struct pw_digest *pw_digest_find(const char *, size_t);
static const struct pw_crypt *pw_crypt_find(const char *, size_t);
static int	pw_crypt_valid(const char *);
static int	pw_decode(const char *, int hex, unsigned char *, size_t *);
static int	pw_digest_verify(const struct pw_digest *, const char *b64,
		    const char *password);
static void	pw_scheme_name(const char *, int bare, char *, size_t);
static int	pw_scheme_known(const char *, size_t, int dollar);

static const struct pw_digest *
pw_digest_find(const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(pw_digests) / sizeof(pw_digests[0]); i++)
		if (strlen(pw_digests[i].name) == n &&
		    strncasecmp(pw_digests[i].name, name, n) == 0)
			return &pw_digests[i];
	return NULL;
}

static const struct pw_crypt *
pw_crypt_find(const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(pw_crypts) / sizeof(pw_crypts[0]); i++)
		if (strlen(pw_crypts[i].name) == n &&
		    strncasecmp(pw_crypts[i].name, name, n) == 0)
			return &pw_crypts[i];
	return NULL;
}

/* 1 when libxcrypt can check passwords against this whole hash. */
static int
pw_crypt_valid(const char *hash)
{
	struct crypt_data *cd;
	const char *h, *last;
	size_t i, n = strlen(hash);
	int rc;

	if (n == 0 || n > STORE_PWHASH_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)hash[i] <= 0x20 || hash[i] == 0x7f ||
		    hash[i] == ':')
			return 0;
	rc = crypt_checksalt(hash);
	if (rc != CRYPT_SALT_OK && rc != CRYPT_SALT_METHOD_LEGACY &&
	    rc != CRYPT_SALT_TOO_CHEAP)
		return 0;
	if (hash[0] != '$' && hash[0] != '_')
		return n == 13;		/* traditional DES */
	last = strrchr(hash, '$');
	for (i = 0; i < sizeof(pw_crypt_lens) / sizeof(pw_crypt_lens[0]); i++)
		if (strncmp(hash, pw_crypt_lens[i].prefix,
		    strlen(pw_crypt_lens[i].prefix)) == 0)
			return strlen(last + 1) == pw_crypt_lens[i].checksum;
	/* Rarer methods: the setting decides the length; ask crypt once. */
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_r("", hash, cd);
	rc = h != NULL && h[0] != '*' && strlen(h) == n;
	free(cd);
	return rc;
}

/*
 * Scheme names that are refused but named in messages as they are (the
 * supported ones are in the tables above): Dovecot's other passdb
 * schemes, and crypt(3) method ids ("$ID$").
 */
static const char *const pw_other_schemes[] = {
	"PLAIN", "CLEAR", "CLEARTEXT", "PLAIN-TRUNC", "PLAIN-MD4", "ARGON2I",
	"ARGON2ID", "PBKDF2", "SCRYPT", "SCRAM-SHA-1", "SCRAM-SHA-256",
	"CRAM-MD5", "HMAC-MD5", "DIGEST-MD5", "LANMAN", "NTLM", "OTP", "SKEY",
	"RPA", NULL,
};
static const char *const pw_crypt_ids[] = {
	"1", "2", "2a", "2b", "2x", "2y", "3", "5", "6", "7", "y", "gy",
	"sha1", "md5", "argon2i", "argon2id", "argon2d", "scrypt", "pbkdf2",
	"pbkdf2-sha256", "pbkdf2-sha512", "sm3", "sm3-yescrypt", NULL,
};

/* Whether name (n bytes; dollar: a crypt(3) id) is a scheme we know. */
static int
pw_scheme_known(const char *name, size_t n, int dollar)
{
	const char *const *l = dollar ? pw_crypt_ids : pw_other_schemes;
	size_t i;

	if (!dollar && n > 4 && (strncasecmp(name + n - 4, ".HEX", 4) == 0 ||
	    strncasecmp(name + n - 4, ".B64", 4) == 0))
		n -= 4;
	if (!dollar && (pw_digest_find(name, n) != NULL ||
	    pw_crypt_find(name, n) != NULL))
		return 1;
	for (i = 0; l[i] != NULL; i++)
		if (strlen(l[i]) == n && strncasecmp(l[i], name, n) == 0)
			return 1;
	return 0;
}

/*
 * The scheme of a hash for messages: "{ARGON2ID}" or "$argon2id$".  Where
 * the text may be a password (STORE_PW_BARE_PLAIN: "{x}y" or "$x$y" that
 * is no hash), only a scheme we know is named, never a piece of it.
 */
static void
pw_scheme_name(const char *in, int bare, char *buf, size_t size)
{
	size_t n;

	if (in[0] == '{' && (n = strcspn(in, "}")) < 40 && in[n] == '}' &&
	    (bare != STORE_PW_BARE_PLAIN || pw_scheme_known(in + 1, n - 1,
	    0)))
		snprintf(buf, size, "{%.*s}", (int)n - 1, in + 1);
	else if (in[0] == '$' && (n = strcspn(in + 1, "$")) < 20 &&
	    in[n + 1] == '$' && (bare != STORE_PW_BARE_PLAIN ||
	    pw_scheme_known(in + 1, n, 1)))
		snprintf(buf, size, "%.*s", (int)n + 2, in);
	else if (bare == STORE_PW_BARE_PLAIN)
		snprintf(buf, size, "an unknown scheme (a password that "
		    "starts with '{' or '$' is written {PLAIN}password)");
	else
		snprintf(buf, size, "an unknown scheme (not a crypt(3) "
		    "hash)");
}

/* Decodes base64 (or hex) into out; 0 ok and *n_r set, -1 not valid. */
static int
pw_decode(const char *enc, int hex, unsigned char *out, size_t *n_r)
{
	size_t n = strlen(enc), i, pad = 0;
	int len;

	if (hex) {
		if (n % 2 != 0 || n / 2 > STORE_PWHASH_MAX)
			return -1;
		for (i = 0; i < n; i += 2) {
			unsigned v;

			if (!isxdigit((unsigned char)enc[i]) ||
			    !isxdigit((unsigned char)enc[i + 1]) ||
			    sscanf(enc + i, "%2x", &v) != 1)
				return -1;
			out[i / 2] = (unsigned char)v;
		}
		*n_r = n / 2;
		return 0;
	}
	if (n == 0 || n % 4 != 0 || n / 4 * 3 > STORE_PWHASH_MAX)
		return -1;
	if (strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/=") != n)
		return -1;
	while (pad < 2 && enc[n - 1 - pad] == '=')
		pad++;
	if (strchr(enc, '=') != enc + n - pad && pad > 0)
		return -1;
	if (pad == 0 && strchr(enc, '=') != NULL)
		return -1;
	len = EVP_DecodeBlock(out, (const unsigned char *)enc, (int)n);
	if (len < 0 || (size_t)len < pad)
		return -1;
	*n_r = (size_t)len - pad;
	return 0;
}

/* 1 the password matches the digest hash (base64 after "{NAME}"). */
static int
pw_digest_verify(const struct pw_digest *d, const char *b64,
    const char *password)
{
	unsigned char raw[STORE_PWHASH_MAX + 1], md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	size_t n;
	EVP_MD_CTX *ctx;
	int ok = 0;

	if (pw_decode(b64, 0, raw, &n) < 0 || n < d->len ||
	    (!d->salted && n != d->len) || (d->salted && n == d->len))
		return 0;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return 0;
	if (EVP_DigestInit_ex(ctx, EVP_get_digestbyname(d->md), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, password, strlen(password)) == 1 &&
	    EVP_DigestUpdate(ctx, raw + d->len, n - d->len) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == d->len)
		ok = CRYPTO_memcmp(md, raw, d->len) == 0;
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(md, sizeof(md));
	return ok;
}

int
store_password_import(const char *in, int bare, char **hash_r)
{
	const struct pw_digest *d;
	const struct pw_crypt *c;
	unsigned char raw[STORE_PWHASH_MAX + 1];
	char scheme[128], *out;
	const char *body;
	size_t n, i, size;
	int hex;

	*hash_r = NULL;
	/* "{" without "}" is no scheme: in the old format, a password. */
	if (in[0] != '{' || (bare == STORE_PW_BARE_PLAIN &&
	    strchr(in, '}') == NULL)) {
		if (bare == STORE_PW_BARE_PLAIN && in[0] != '$')
			return store_password_hash(in, hash_r);
		if (!pw_crypt_valid(in)) {
			pw_scheme_name(in, bare, scheme, sizeof(scheme));
			return err_set(ERR_INVALID, "%s: not a password "
			    "hash this server can check (see 'user import' "
			    "in vellumctl(8) for the schemes)", scheme);
		}
		*hash_r = xstrdup(in);
		return 0;
	}
	pw_scheme_name(in, bare, scheme, sizeof(scheme));
	if ((body = strchr(in, '}')) == NULL)
		return err_set(ERR_INVALID, "a '{' without '}': write "
		    "{SCHEME}hash");
	n = (size_t)(body - in - 1);
	body++;
	if ((n == 5 && strncasecmp(in + 1, "PLAIN", 5) == 0) ||
	    (n == 9 && strncasecmp(in + 1, "CLEARTEXT", 9) == 0) ||
	    (n == 5 && strncasecmp(in + 1, "CLEAR", 5) == 0)) {
		if (*body == '\0')
			return err_set(ERR_INVALID, "%s with an empty "
			    "password", scheme);
		return store_password_hash(body, hash_r);
	}
	if ((c = pw_crypt_find(in + 1, n)) != NULL) {
		int match = c->prefix[0] == NULL;

		for (i = 0; i < 3 && c->prefix[i] != NULL; i++)
			if (strncmp(body, c->prefix[i],
			    strlen(c->prefix[i])) == 0)
				match = 1;
		if (strcasecmp(c->name, "DES-CRYPT") == 0)
			match = body[0] != '$' && body[0] != '_';
		if (!match || !pw_crypt_valid(body))
			return err_set(ERR_INVALID, "%s: the hash is not "
			    "a valid %s hash", scheme, c->name);
		*hash_r = xstrdup(body);
		return 0;
	}
	/* "{SHA256.HEX}", "{SSHA.B64}": Dovecot's explicit encodings. */
	hex = -1;
	if (n > 4 && strncasecmp(in + 1 + n - 4, ".HEX", 4) == 0)
		hex = 1;
	else if (n > 4 && (strncasecmp(in + 1 + n - 4, ".B64", 4) == 0))
		hex = 0;
	if ((d = pw_digest_find(in + 1, hex >= 0 ? n - 4 : n)) == NULL)
		return err_set(ERR_INVALID, "%s: this password scheme is not "
		    "supported (see 'user import' in vellumctl(8) for the "
		    "schemes)", scheme);
	/* As Dovecot: the length of the hex digest decodes as hex. */
	if (hex < 0)
		hex = d->hex || (strlen(body) == 2 * d->len &&
		    strspn(body, "0123456789abcdefABCDEF") == 2 * d->len);
	if (pw_decode(body, hex, raw, &n) < 0 || n < d->len ||
	    (!d->salted && n != d->len) || (d->salted && n == d->len))
		return err_set(ERR_INVALID, "%s: the hash is not %s of a "
		    "%zu-byte digest%s", scheme, hex ? "hex" : "base64",
		    d->len, d->salted ? " and a salt" : "");
	size = strlen(d->name) + 3 + 4 * ((n + 2) / 3) + 1;
	out = xmalloc(size);
	i = (size_t)snprintf(out, size, "{%s}", d->name);
	EVP_EncodeBlock((unsigned char *)out + i, raw, (int)n);
	if (strlen(out) > STORE_PWHASH_MAX) {
		free(out);
		return err_set(ERR_INVALID, "%s: the hash is longer than %d "
		    "bytes", scheme, STORE_PWHASH_MAX);
	}
	*hash_r = out;
	return 0;
}

int
store_password_verify(const char *hash, const char *password)
{
	const struct pw_digest *d;
	struct crypt_data *cd;
	const char *h, *end;
	size_t n;
	int ok = 0;

	if (hash == NULL || hash[0] == '\0' || password == NULL)
		return 0;
	/*
	 * "{SSHA512}..." and the other digests; a crypt scheme's name
	 * (stored before the import checked them) is skipped.
	 */
	if (hash[0] == '{' && (end = strchr(hash, '}')) != NULL) {
		if ((d = pw_digest_find(hash + 1,
		    (size_t)(end - hash - 1))) != NULL)
			return pw_digest_verify(d, end + 1, password);
		if (pw_crypt_find(hash + 1, (size_t)(end - hash - 1)) == NULL)
			return 0;
		hash = end + 1;
	}
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_r(password, hash, cd);
	n = strlen(hash);
	if (h != NULL && h[0] != '*' && strlen(h) == n)
		ok = CRYPTO_memcmp(h, hash, n) == 0;
	free(cd);
	return ok;
}

static int
user_put(struct store_txn *t, const struct store_user *u)
{
	struct pack p;
	uint8_t key[4];
	int rc;

	be32enc(key, u->id);
	pack_init(&p);
	pack_str(&p, u->address);
	pack_str(&p, u->pwhash);
	pack_u64(&p, u->quota_bytes);
	pack_u64(&p, u->quota_messages);
	pack_u64(&p, u->used_bytes);
	pack_u64(&p, u->used_messages);
	pack_u64(&p, (uint64_t)u->over_quota_since);
	pack_u8(&p, (uint8_t)u->disabled);
	pack_u64(&p, (uint64_t)u->disabled_since);
	pack_str(&p, u->disabled_reason);
	pack_u32(&p, u->fs_uid);
	pack_u32(&p, u->fs_gid);
	pack_u64(&p, (uint64_t)u->created);
	rc = sdb_put(t, DB_USERS, key, 4, p.buf, p.len, 0);
	pack_free(&p);
	return rc == -1 ? -1 : 0;
}

int
store_user_get(struct store_txn *t, uint32_t id, struct store_user *r)
{
	struct unpack u;
	uint8_t key[4];
	MDB_val v;
	int rc;

	be32enc(key, id);
	if ((rc = sdb_get(t, DB_USERS, key, 4, &v)) != 1)
		return rc;
	memset(r, 0, sizeof(*r));
	r->id = id;
	unpack_init(&u, &v);
	unpack_str(&u, r->address, sizeof(r->address));
	unpack_str(&u, r->pwhash, sizeof(r->pwhash));
	r->quota_bytes = unpack_u64(&u);
	r->quota_messages = unpack_u64(&u);
	r->used_bytes = unpack_u64(&u);
	r->used_messages = unpack_u64(&u);
	r->over_quota_since = (int64_t)unpack_u64(&u);
	r->disabled = unpack_u8(&u);
	r->disabled_since = (int64_t)unpack_u64(&u);
	unpack_str(&u, r->disabled_reason, sizeof(r->disabled_reason));
	r->fs_uid = unpack_u32(&u);
	r->fs_gid = unpack_u32(&u);
	r->created = (int64_t)unpack_u64(&u);
	if (unpack_done(&u, "user") == -1)
		return -1;
	return 1;
}

int
store_user_find(struct store_txn *t, const char *login, struct store_user *r)
{
	char addr[STORE_ADDRESS_MAX + 1];
	MDB_val v;
	int rc;

	if (store_address_normalize(login, addr, 0) == -1)
		return 0;
	if ((rc = sdb_get(t, DB_LOGINS, addr, strlen(addr), &v)) != 1)
		return rc;
	if (v.mv_size != 4)
		return err_set(ERR_CORRUPT, "login index entry damaged");
	if ((rc = store_user_get(t, be32dec(v.mv_data), r)) == 0)
		return err_set(ERR_CORRUPT, "login %s refers to a missing "
		    "user", addr);
	return rc;
}

/*
 * The domain index (DB_DOMUSERS): "domain NUL local@" -> user id, so the
 * users of one domain (the file view's domain directories, user list
 * --domain, domain del) are one range of keys, in address order, not a
 * scan of every user.  Written with the login index, in the same
 * transactions.  Returns the key's length.
 */
static size_t
domuser_key(const char *address, uint8_t *key)
{
	const char *at = strrchr(address, '@');
	size_t ll, dl;

	if (at == NULL)
		fatalx("domuser_key: %s has no domain", address);
	ll = (size_t)(at - address);
	dl = strlen(at + 1);
	memcpy(key, at + 1, dl);
	key[dl] = '\0';
	memcpy(key + dl + 1, address, ll);
	/*
	 * "local@": keys of one domain then sort as the addresses do in
	 * the login index (u1@ before u10@), so both lists agree.
	 */
	key[dl + 1 + ll] = '@';
	return dl + 1 + ll + 1;
}

static int
domuser_put(struct store_txn *t, const char *address, uint32_t id)
{
	uint8_t key[STORE_ADDRESS_MAX + 3], idb[4];

	be32enc(idb, id);
	return sdb_put(t, DB_DOMUSERS, key, domuser_key(address, key), idb, 4,
	    0) == -1 ? -1 : 0;
}

static int
domuser_del(struct store_txn *t, const char *address)
{
	uint8_t key[STORE_ADDRESS_MAX + 3];

	/* sdb_del() of a missing key is not an error (a store upgrading). */
	return sdb_del(t, DB_DOMUSERS, key, domuser_key(address, key)) == -1 ?
	    -1 : 0;
}

int
user_domindex_get(struct store_txn *t, const char *address, uint32_t *id_r)
{
	uint8_t key[STORE_ADDRESS_MAX + 3];
	MDB_val v;
	int rc;

	if ((rc = sdb_get(t, DB_DOMUSERS, key, domuser_key(address, key),
	    &v)) != 1)
		return rc;
	if (v.mv_size != 4)
		return err_set(ERR_CORRUPT, "domain index entry of %s damaged",
		    address);
	*id_r = be32dec(v.mv_data);
	return 1;
}

int
store_user_add(struct store_txn *t, const char *address, const char *pwhash,
    uint64_t quota_bytes, uint64_t quota_messages, uint32_t *id_r)
{
	struct store_user u;
	struct store_domain d;
	const char *dom;
	uint8_t idb[4];
	uint64_t id;
	int rc;

	memset(&u, 0, sizeof(u));
	if (store_address_normalize(address, u.address, 0) == -1)
		return -1;
	if (pwhash != NULL && strlen(pwhash) > STORE_PWHASH_MAX)
		return err_set(ERR_INVALID, "password hash too long");
	dom = strchr(u.address, '@') + 1;
	if ((rc = store_domain_get(t, dom, &d)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "domain %s is not "
		    "local: add it first (vellumctl domain add %s)", dom, dom);
	if (d.alias_of[0] != '\0')
		return err_set(ERR_INVALID, "%s is an alias of %s: add the "
		    "user there", dom, d.alias_of);
	if ((rc = sdb_get(t, DB_LOGINS, u.address, strlen(u.address),
	    &(MDB_val){ 0 })) != 0)
		return rc == -1 ? -1 : err_set(ERR_EXISTS, "user %s already "
		    "exists", u.address);
	if ((rc = sdb_get(t, DB_ADDRESSES, u.address, strlen(u.address),
	    &(MDB_val){ 0 })) != 0)
		return rc == -1 ? -1 : err_set(ERR_EXISTS, "%s is already an "
		    "address route (remove it with vellumctl addr del %s)",
		    u.address, u.address);
	if (sdb_counter_add(t, "next_user", 1, &id) == -1)
		return -1;
	u.id = (uint32_t)id;
	if (pwhash != NULL)
		strcpy(u.pwhash, pwhash);
	u.quota_bytes = quota_bytes;
	u.quota_messages = quota_messages;
	u.created = store_now();
	be32enc(idb, u.id);
	if (user_put(t, &u) == -1 ||
	    sdb_put(t, DB_LOGINS, u.address, strlen(u.address), idb, 4, 0)
	    == -1 || domuser_put(t, u.address, u.id) == -1 ||
	    store_mailbox_create_defaults(t, u.id) == -1 ||
	    store_addr_add_mailbox(t, u.address, u.id) == -1)
		return -1;
	if (id_r != NULL)
		*id_r = u.id;
	return 1;
}

static int
user_notify_one(const struct store_mailbox *mb, void *ctx)
{
	notify_txn_add(ctx, mb->id);
	return 0;
}

int
store_user_update(struct store_txn *t, const struct store_user *nu)
{
	struct store_user u;
	int rc;

	if ((rc = store_user_get(t, nu->id, &u)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no user with "
		    "id %u", nu->id);
	if (strlen(nu->pwhash) > STORE_PWHASH_MAX)
		return err_set(ERR_INVALID, "password hash too long");
	strcpy(u.pwhash, nu->pwhash);
	u.quota_bytes = nu->quota_bytes;
	u.quota_messages = nu->quota_messages;
	u.over_quota_since = nu->over_quota_since;
	if (nu->disabled && !u.disabled)
		u.disabled_since = store_now();
	u.disabled = nu->disabled;
	if (!u.disabled)
		u.disabled_since = 0;
	snprintf(u.disabled_reason, sizeof(u.disabled_reason), "%s",
	    nu->disabled ? nu->disabled_reason : "");
	/* The file view owns the user's tree by these: tell it. */
	if ((u.fs_uid != nu->fs_uid || u.fs_gid != nu->fs_gid) &&
	    store_mailbox_list(t, u.id, user_notify_one, t) == -1)
		return -1;
	u.fs_uid = nu->fs_uid;
	u.fs_gid = nu->fs_gid;
	return user_put(t, &u) == -1 ? -1 : 1;
}


/* The full mark of this process (store_user_set_full_mark()). */
static unsigned user_full_mark = CONFIG_QUOTA_FULL_MARK;

void
store_user_set_full_mark(unsigned percent)
{
	user_full_mark = percent < 1 ? 1 : percent > 100 ? 100 : percent;
}

unsigned
store_user_full_mark(void)
{
	return user_full_mark;
}

/* used >= limit * mark / 100, without overflow for any 64-bit limit. */
static int
user_at_mark(uint64_t used, uint64_t limit)
{
	uint64_t whole = limit / 100 * user_full_mark;
	uint64_t part = (limit % 100 * user_full_mark + 99) / 100;

	return limit != 0 && used >= whole + part;
}

int
store_user_quota_full(const struct store_user *u)
{
	return user_at_mark(u->used_bytes, u->quota_bytes) ||
	    user_at_mark(u->used_messages, u->quota_messages);
}

int64_t
store_user_usage_permille(const struct store_user *u, int messages)
{
	uint64_t used = messages ? u->used_messages : u->used_bytes;
	uint64_t limit = messages ? u->quota_messages : u->quota_bytes;

	if (limit == 0)
		return -1;
	if (used <= UINT64_MAX / 1000)
		return (int64_t)(used * 1000 / limit);
	/* Huge counts (display only): a little precision goes. */
	if (limit >= 1000)
		used /= limit / 1000;
	else if ((used /= limit) <= INT64_MAX / 1000)
		used *= 1000;
	return used > INT64_MAX ? INT64_MAX : (int64_t)used;
}

enum store_grace
store_user_grace(const struct store_user *u, unsigned grace_days,
    time_t now, int64_t *ends_r)
{
	int64_t ends = 0;
	enum store_grace g = STORE_GRACE_OFF;

	if (u->over_quota_since != 0) {
		ends = u->over_quota_since + 86400 * (int64_t)grace_days;
		if ((int64_t)now <= ends)
			g = STORE_GRACE_RUNS;
		else
			g = store_user_quota_full(u) ? STORE_GRACE_DISABLE :
			    STORE_GRACE_CLEAR;
	}
	if (ends_r != NULL)
		*ends_r = ends;
	return g;
}

/* The grace clock after a change (see store_user_quota_update()). */
static int
user_mark_quota(struct store_user *u, int how)
{
	int over = !store_user_quota_fits(u, 0, 0);

	if (over && u->over_quota_since == 0)
		u->over_quota_since = store_now();
	else if (u->over_quota_since != 0 && (how == STORE_QUOTA_FITTED ||
	    (how == STORE_QUOTA_BELOW_MARK && !store_user_quota_full(u))))
		u->over_quota_since = 0;
	else
		return 0;
	return 1;
}

int
user_usage_add(struct store_txn *t, uint32_t id, int64_t bytes,
    int64_t messages, int how)
{
	struct store_user u;
	int rc;

	if ((rc = store_user_get(t, id, &u)) != 1)
		return rc == -1 ? -1 : err_set(ERR_CORRUPT, "usage of missing "
		    "user %u", id);
	if ((bytes < 0 && (uint64_t)-bytes > u.used_bytes) ||
	    (messages < 0 && (uint64_t)-messages > u.used_messages))
		return err_set(ERR_CORRUPT, "usage of %s would go below zero",
		    u.address);
	u.used_bytes += (uint64_t)bytes;
	u.used_messages += (uint64_t)messages;
	/* Usage and the over-quota mark: one read, one write. */
	user_mark_quota(&u, how);
	return user_put(t, &u);
}

int
store_user_quota_fits(const struct store_user *u, uint64_t bytes,
    uint64_t messages)
{
	if (u->quota_bytes != 0 && u->used_bytes + bytes > u->quota_bytes)
		return 0;
	if (u->quota_messages != 0 &&
	    u->used_messages + messages > u->quota_messages)
		return 0;
	return 1;
}

int
store_user_quota_update(struct store_txn *t, uint32_t id, int how)
{
	struct store_user u;
	int rc;

	if ((rc = store_user_get(t, id, &u)) != 1)
		return rc == -1 ? -1 : 0;
	if (!user_mark_quota(&u, how))
		return 0;
	return user_put(t, &u) == -1 ? -1 : 1;
}

struct mb_collect {
	struct store_mailbox	*v;
	size_t			 n;
};

static int
user_mb_collect(const struct store_mailbox *mb, void *ctx)
{
	struct mb_collect *c = ctx;

	c->v = xreallocarray(c->v, c->n + 1, sizeof(*c->v));
	c->v[c->n++] = *mb;
	return 0;
}

int
store_user_del(struct store_txn *t, uint32_t id)
{
	struct store_user u;
	struct mb_collect c = { 0 };
	uint8_t key[4];
	size_t i;
	int rc;

	if ((rc = store_user_get(t, id, &u)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no user with "
		    "id %u", id);
	if (store_mailbox_list(t, id, user_mb_collect, &c) == -1)
		goto fail;
	for (i = 0; i < c.n; i++)
		if (mailbox_delete(t, &c.v[i]) == -1)
			goto fail;
	free(c.v);
	be32enc(key, id);
	if (addr_del_user_targets(t, id) == -1 ||
	    userdata_user_del(t, id) == -1 ||
	    policy_user_drop(t, id) == -1 ||
	    sdb_del(t, DB_LOGINS, u.address, strlen(u.address)) == -1 ||
	    domuser_del(t, u.address) == -1 ||
	    sdb_del(t, DB_USERS, key, 4) == -1)
		return -1;
	return 1;
fail:
	free(c.v);
	return -1;
}

/* Routes with an alias target naming one address (store_user_rename()). */
struct alias_refs {
	const char	*addr;
	char		(*v)[STORE_ADDRESS_MAX + 1];
	size_t		 n;
};

static int
user_alias_ref(const struct store_route *r, void *ctx)
{
	struct alias_refs *a = ctx;
	size_t i;

	if (strcmp(r->address, a->addr) == 0)
		return 0;
	for (i = 0; i < r->ntargets; i++)
		if (r->targets[i].type == STORE_TARGET_ALIAS &&
		    strcmp(r->targets[i].addr, a->addr) == 0) {
			a->v = xreallocarray(a->v, a->n + 1, sizeof(*a->v));
			snprintf(a->v[a->n++], sizeof(a->v[0]), "%s",
			    r->address);
			break;
		}
	return 0;
}

/* Moves the route of from (if any) to to, target by target, in order. */
static int
user_route_move(struct store_txn *t, const char *from, const char *to)
{
	struct store_route r;
	const char *addr;
	size_t i;
	int rc;

	if ((rc = store_addr_get(t, from, &r)) != 1)
		return rc;
	rc = store_addr_del(t, from, NULL) == -1 ? -1 : 1;
	for (i = 0; rc == 1 && i < r.ntargets; i++) {
		addr = r.targets[i].addr;
		if (r.targets[i].type == STORE_TARGET_MAILBOX)
			rc = store_addr_add_mailbox(t, to, r.targets[i].user_id);
		else
			rc = store_addr_add(t, to, &addr, 1);
		if (rc != -1)
			rc = 1;
	}
	store_route_clear(&r);
	return rc;
}

int
store_user_rename(struct store_txn *t, uint32_t id, const char *new_address,
    unsigned *naliases_r)
{
	struct alias_refs refs = { NULL, NULL, 0 };
	struct store_user u;
	struct store_domain d;
	struct store_list l;
	char to[STORE_ADDRESS_MAX + 1], old[STORE_ADDRESS_MAX + 1];
	const char *dom, *addr;
	uint8_t idb[4];
	size_t i;
	int rc;

	if (naliases_r != NULL)
		*naliases_r = 0;
	if (store_address_normalize(new_address, to, 0) == -1)
		return -1;
	if ((rc = store_user_get(t, id, &u)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "no user with "
		    "id %u", id);
	if (strcmp(u.address, to) == 0)
		return err_set(ERR_INVALID, "%s is already its address", to);
	dom = strchr(to, '@') + 1;
	if ((rc = store_domain_get(t, dom, &d)) != 1)
		return rc == -1 ? -1 : err_set(ERR_NOTFOUND, "domain %s is not "
		    "local: add it first (vellumctl domain add %s)", dom, dom);
	if (d.alias_of[0] != '\0')
		return err_set(ERR_INVALID, "%s is an alias of %s: rename the "
		    "user there", dom, d.alias_of);
	if ((rc = sdb_get(t, DB_LOGINS, to, strlen(to), &(MDB_val){ 0 })) !=
	    0)
		return rc == -1 ? -1 : err_set(ERR_EXISTS, "user %s already "
		    "exists", to);
	if ((rc = sdb_get(t, DB_ADDRESSES, to, strlen(to),
	    &(MDB_val){ 0 })) != 0)
		return rc == -1 ? -1 : err_set(ERR_EXISTS, "%s is already an "
		    "address route (vellumctl addr list shows it)", to);
	if ((rc = store_list_get(t, to, &l)) != 0) {
		if (rc == 1)
			store_list_clear(&l);
		return rc == -1 ? -1 : err_set(ERR_EXISTS, "%s is a mailing "
		    "list", to);
	}
	snprintf(old, sizeof(old), "%s", u.address);
	refs.addr = old;
	if (store_addr_list(t, user_alias_ref, &refs) == -1)
		goto fail;
	if (user_route_move(t, old, to) == -1)
		goto fail;
	addr = to;
	for (i = 0; i < refs.n; i++)
		if (store_addr_del(t, refs.v[i], old) == -1 ||
		    store_addr_add(t, refs.v[i], &addr, 1) == -1)
			goto fail;
	free(refs.v);
	snprintf(u.address, sizeof(u.address), "%s", to);
	be32enc(idb, u.id);
	if (sdb_del(t, DB_LOGINS, old, strlen(old)) == -1 ||
	    sdb_put(t, DB_LOGINS, to, strlen(to), idb, 4, 0) == -1 ||
	    domuser_del(t, old) == -1 || domuser_put(t, to, u.id) == -1 ||
	    user_put(t, &u) == -1)
		return -1;
	/* The file view names the user's tree by the address: tell it. */
	if (store_mailbox_list(t, u.id, user_notify_one, t) == -1)
		return -1;
	if (naliases_r != NULL)
		*naliases_r = (unsigned)i;
	return 1;
fail:
	free(refs.v);
	return -1;
}

int
store_user_list(struct store_txn *t, store_user_fn *fn, void *ctx)
{
	char last[STORE_ADDRESS_MAX + 1];

	return store_user_list_page(t, "", SIZE_MAX, fn, ctx, last) == -1 ?
	    -1 : 0;
}

int
store_user_list_page(struct store_txn *t, const char *after, size_t max,
    store_user_fn *fn, void *ctx, char *last_r)
{
	struct store_user u;
	MDB_cursor *c;
	MDB_val k, v;
	size_t n = 0, alen = strlen(after);
	int rc, r = 0;

	if (sdb_cursor(t, DB_LOGINS, &c) == -1)
		return -1;
	if (alen == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	else {
		/* The first key >= after, then past after itself. */
		k.mv_data = (void *)after;
		k.mv_size = alen;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == 0 && k.mv_size == alen &&
		    memcmp(k.mv_data, after, alen) == 0)
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	for (; rc == 0 && n < max; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (v.mv_size != 4 || k.mv_size > STORE_ADDRESS_MAX ||
		    store_user_get(t, be32dec(v.mv_data), &u) != 1) {
			r = err_class() == ERR_CORRUPT ? -1 : err_set(
			    ERR_CORRUPT, "login index refers to a missing "
			    "user");
			break;
		}
		memcpy(last_r, k.mv_data, k.mv_size);
		last_r[k.mv_size] = '\0';
		n++;
		if (fn(&u, ctx) == -1) {
			r = -1;
			break;
		}
	}
	mdb_cursor_close(c);
	if (r == -1)
		return -1;
	if (rc != 0 && rc != MDB_NOTFOUND && n < max)
		return sdb_error(t, rc, "user list");
	return n > 0;
}

/* A store not upgraded to the domain index yet: every user, filtered. */
struct domfilter {
	const char	*domain;
	store_user_fn	*fn;
	void		*ctx;
};

static int
domfilter_one(const struct store_user *u, void *ctx)
{
	struct domfilter *f = ctx;
	const char *at = strrchr(u->address, '@');

	if (at == NULL || strcmp(at + 1, f->domain) != 0)
		return 0;
	return f->fn(u, f->ctx);
}

int
store_user_list_domain(struct store_txn *t, const char *domain,
    const char *after, size_t max, store_user_fn *fn, void *ctx,
    char *last_r)
{
	struct domfilter f = { domain, fn, ctx };
	struct store_user u;
	uint8_t key[STORE_ADDRESS_MAX + 3];
	const char *at;
	MDB_cursor *c;
	MDB_val k, v;
	size_t n = 0, dl = strlen(domain), klen;
	int rc, r = 0;

	if (dl == 0 || dl > STORE_DOMAIN_MAX)
		return 0;
	if (t->st->schema < 5)
		return store_user_list_page(t, after, max, domfilter_one, &f,
		    last_r);
	/* From "domain NUL" (or after's key) while the prefix holds. */
	at = strrchr(after, '@');
	if (after[0] != '\0' && at != NULL && strcmp(at + 1, domain) == 0)
		klen = domuser_key(after, key);
	else {
		memcpy(key, domain, dl);
		key[dl] = '\0';
		klen = dl + 1;
	}
	if (sdb_cursor(t, DB_DOMUSERS, &c) == -1)
		return -1;
	k.mv_data = key;
	k.mv_size = klen;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && klen > dl + 1 && k.mv_size == klen &&
	    memcmp(k.mv_data, key, klen) == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	for (; rc == 0 && n < max; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size <= dl + 1 || memcmp(k.mv_data, domain, dl) != 0 ||
		    ((const uint8_t *)k.mv_data)[dl] != '\0')
			break;
		if (v.mv_size != 4 || k.mv_size < dl + 3 ||
		    k.mv_size > STORE_ADDRESS_MAX + 1 ||
		    (rc = store_user_get(t, be32dec(v.mv_data), &u)) != 1) {
			r = rc == -1 ? -1 : err_set(ERR_CORRUPT, "domain index "
			    "of %s refers to a missing user", domain);
			break;
		}
		snprintf(last_r, STORE_ADDRESS_MAX + 1, "%.*s%s",
		    (int)(k.mv_size - dl - 1),
		    (const char *)k.mv_data + dl + 1, domain);
		n++;
		if (fn(&u, ctx) == -1) {
			r = -1;
			break;
		}
	}
	mdb_cursor_close(c);
	if (r == -1)
		return -1;
	if (rc != 0 && rc != MDB_NOTFOUND && n < max)
		return sdb_error(t, rc, "user list");
	return n > 0;
}

/* Schema 5: the domain index of every user, a page per transaction. */
struct domup {
	char	after[STORE_ADDRESS_MAX + 1];
	char	last[STORE_ADDRESS_MAX + 1];
	int	more;
	size_t	done;
	struct store_txn *t;
};

static int
domup_one(const struct store_user *u, void *ctx)
{
	struct domup *d = ctx;

	return domuser_put(d->t, u->address, u->id);
}

static int
domup_txn(struct store_txn *t, void *ctx)
{
	struct domup *d = ctx;
	int rc;

	d->t = t;
	if ((rc = store_user_list_page(t, d->after, 1000, domup_one, d,
	    d->last)) == -1)
		return -1;
	d->more = rc;
	return 0;
}

int
user_upgrade_domains(struct store *st)
{
	struct domup *d = xcalloc(1, sizeof(*d));
	size_t n = 0;

	for (;;) {
		if (store_write(st, domup_txn, d) == -1) {
			free(d);
			return -1;
		}
		if (!d->more)
			break;
		memcpy(d->after, d->last, sizeof(d->after));
		n++;
	}
	log_info("store %s: domain index built (%zu transactions)", st->path,
	    n);
	free(d);
	return 0;
}

struct login {
	const char		*login;
	struct store_user	*u;
	int			 domains;	/* a domain login may do */
};

/*
 * The user of a login; with domains, a login without '@' that names a
 * local domain with a login password (store/policy.h) is that domain's
 * login: a record with id 0, the domain as address and that hash.
 */
static int
user_login_txn(struct store_txn *t, void *ctx)
{
	struct login *l = ctx;
	struct store_domain d;
	char norm[STORE_DOMAIN_MAX + 1];
	int rc;

	if (!l->domains || strchr(l->login, '@') != NULL)
		return store_user_find(t, l->login, l->u);
	if (store_domain_normalize(l->login, norm) == -1 ||
	    (rc = store_domain_get(t, norm, &d)) == 0 || d.alias_of[0] != '\0')
		return 0;
	if (rc == -1)
		return -1;
	memset(l->u, 0, sizeof(*l->u));
	snprintf(l->u->address, sizeof(l->u->address), "%s", d.name);
	return store_domain_pw_get(t, d.name, l->u->pwhash,
	    sizeof(l->u->pwhash));
}

/*
 * Recent successful logins, per process: a slot per user id holds the
 * stored hash it was checked against and a salted SHA-256 of the
 * password.  A repeat login with the same password against the same
 * stored hash skips crypt(3) (yescrypt costs ~19 ms of the event loop
 * here); a changed password hash misses, and a disabled account is
 * still refused because the record is read every time.
 */
#define LOGIN_CACHE_SLOTS	4096
#define LOGIN_CACHE_TTL		300	/* s */

struct login_slot {
	uint32_t	user_id;
	int64_t		until;
	uint8_t		digest[32];
	char		pwhash[STORE_PWHASH_MAX + 1];
};

struct login_cache {
	uint8_t			salt[32];
	struct login_slot	slot[LOGIN_CACHE_SLOTS];
};

static void
login_digest(struct login_cache *lc, const char *pwhash, const char *password,
    uint8_t *out)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 32;

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, lc->salt, sizeof(lc->salt)) != 1 ||
	    EVP_DigestUpdate(md, pwhash, strlen(pwhash) + 1) != 1 ||
	    EVP_DigestUpdate(md, password, strlen(password)) != 1 ||
	    EVP_DigestFinal_ex(md, out, &n) != 1)
		fatalx("SHA-256 failed");
	EVP_MD_CTX_free(md);
}

/* 1 when this password was verified against this hash lately. */
static int
login_cached(struct store *st, const struct store_user *u,
    const char *password)
{
	struct login_slot *sl;
	uint8_t d[32];

	if (st->logins == NULL)
		return 0;
	sl = &st->logins->slot[u->id % LOGIN_CACHE_SLOTS];
	if (sl->user_id != u->id || sl->until < store_now() ||
	    strcmp(sl->pwhash, u->pwhash) != 0)
		return 0;
	login_digest(st->logins, u->pwhash, password, d);
	return CRYPTO_memcmp(d, sl->digest, 32) == 0;
}

static void
login_remember(struct store *st, const struct store_user *u,
    const char *password)
{
	struct login_slot *sl;

	if (st->logins == NULL) {
		st->logins = xcalloc(1, sizeof(*st->logins));
		if (RAND_bytes(st->logins->salt, sizeof(st->logins->salt)) !=
		    1)
			fatalx("no random bytes for the login cache");
	}
	sl = &st->logins->slot[u->id % LOGIN_CACHE_SLOTS];
	sl->user_id = u->id;
	sl->until = store_now() + LOGIN_CACHE_TTL;
	snprintf(sl->pwhash, sizeof(sl->pwhash), "%s", u->pwhash);
	login_digest(st->logins, u->pwhash, password, sl->digest);
}

void
store_login_cache_free(struct store *st)
{
	if (st->logins != NULL)
		explicit_bzero(st->logins, sizeof(*st->logins));
	free(st->logins);
	st->logins = NULL;
}

/*
 * The hash an unknown login is verified against, so that it costs what a
 * known one does: one yescrypt hash of the default scheme, the kind
 * store_password_hash() makes (vellumctl user add), made once per
 * process, by the first thread that needs it (a worker, not the loop).
 */
static pthread_once_t	login_dummy_once = PTHREAD_ONCE_INIT;
static char		login_dummy_hash[STORE_PWHASH_MAX + 1];

static void
login_dummy_make(void)
{
	char *h;

	if (store_password_hash("vellum-no-such-user", &h) == 0) {
		snprintf(login_dummy_hash, sizeof(login_dummy_hash), "%s", h);
		free(h);
	}
}

struct store_login *
store_login_begin(struct store *st, const char *login, const char *password)
{
	return store_login_begin_domains(st, login, password, 0);
}

struct store_login *
store_login_begin_domains(struct store *st, const char *login,
    const char *password, int domains)
{
	struct store_login *l = xcalloc(1, sizeof(*l));
	struct login q = { login, &l->u, domains };
	int rc;

	l->password = xstrdup(password);
	rc = store_read(st, user_login_txn, &q);
	if (rc == -1) {
		l->rc = -1;
		l->err = err_class();
		snprintf(l->why, sizeof(l->why), "%s", err_msg());
		return l;
	}
	l->found = rc == 1;
	if (l->found && l->u.pwhash[0] != '\0')
		l->cached = login_cached(st, &l->u, password);
	if (l->found)
		snprintf(l->hash, sizeof(l->hash), "%s", l->u.pwhash);
	return l;
}

void
store_login_verify(struct store_login *l)
{
	if (l->rc == -1 || l->cached)
		return;
	/*
	 * An unknown login, or an account without a password, costs a hash
	 * all the same and verifies nothing.
	 */
	if (!l->found || l->hash[0] == '\0') {
		pthread_once(&login_dummy_once, login_dummy_make);
		(void)store_password_verify(login_dummy_hash, l->password);
		return;
	}
	l->verified = store_password_verify(l->hash, l->password);
	/*
	 * An imported hash of a faster scheme ({SSHA512}, $1$, DES...)
	 * costs the default scheme's hash on top, so that the time a login
	 * takes says nothing about which accounts exist or how they are
	 * hashed.
	 */
	if (strncmp(l->hash, PW_DEFAULT_PREFIX,
	    strlen(PW_DEFAULT_PREFIX)) != 0) {
		pthread_once(&login_dummy_once, login_dummy_make);
		(void)store_password_verify(login_dummy_hash, l->password);
	}
}

int
store_login_end(struct store *st, struct store_login *l, struct store_user *r)
{
	if (l->rc == -1)
		return err_set(l->err, "%s", l->why);
	if (!l->found) {
		err_set(ERR_NOTFOUND, "no such user");
		return 0;
	}
	if (!l->cached && !l->verified) {
		err_set(ERR_PERM, l->u.pwhash[0] == '\0' ? "no password set" :
		    "wrong password");
		return 0;
	}
	if (l->u.disabled) {
		err_set(ERR_PERM, "account disabled: %s",
		    l->u.disabled_reason[0] != '\0' ? l->u.disabled_reason :
		    "no reason given");
		return 0;
	}
	if (!l->cached)
		login_remember(st, &l->u, l->password);
	if (r != NULL)
		*r = l->u;
	return 1;
}

void
store_login_free(struct store_login **lp)
{
	struct store_login *l = *lp;

	if (l == NULL)
		return;
	explicit_bzero(l->password, strlen(l->password));
	free(l->password);
	explicit_bzero(l, sizeof(*l));
	free(l);
	*lp = NULL;
}

int
store_user_login(struct store *st, const char *login, const char *password,
    struct store_user *r)
{
	struct store_login *l;
	int rc;

	l = store_login_begin(st, login, password);
	store_login_verify(l);
	rc = store_login_end(st, l, r);
	store_login_free(&l);
	return rc;
}
