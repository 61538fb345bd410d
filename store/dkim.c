/*
 * dkim.c - see dkim.h.
 *
 * `dkim`: (domain, NUL, selector) -> record: version 1, algorithm (u8),
 * creation time (u64), the PEM private key (u32 length, bytes).  Keys of
 * one domain are neighbours, so the signer's lookup is one cursor range.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "dkim.h"
#include "private.h"

#define DKIM_KEY_MAX	(STORE_DOMAIN_MAX + 1 + STORE_DKIM_SELECTOR_MAX)
/* The longest DNS name (RFC 1035 without the root dot). */
#define DKIM_NAME_MAX	253
#define PEM_BEGIN	"-----BEGIN "

struct dkim_key {
	char	buf[DKIM_KEY_MAX + 1];
	size_t	len;
};

static int	dkim_key_make(const char *domain, const char *selector,
		    struct dkim_key *);
static int	dkim_decode(const MDB_val *, const MDB_val *,
		    struct store_dkim_key *);
static int	dkim_domain_known(struct store_txn *, const char *);

static const char *const alg_names[] = {
	[STORE_DKIM_RSA] = "rsa",
	[STORE_DKIM_ED25519] = "ed25519",
};

const char *
store_dkim_alg_name(enum store_dkim_alg alg)
{
	if (alg != STORE_DKIM_RSA && alg != STORE_DKIM_ED25519)
		return "?";
	return alg_names[alg];
}

int
store_dkim_alg_parse(const char *s, enum store_dkim_alg *r)
{
	if (strcasecmp(s, "rsa") == 0)
		*r = STORE_DKIM_RSA;
	else if (strcasecmp(s, "ed25519") == 0)
		*r = STORE_DKIM_ED25519;
	else
		return err_set(ERR_INVALID, "'%s' is not a DKIM key algorithm "
		    "(write rsa or ed25519)", s);
	return 0;
}

int
store_dkim_selector_normalize(const char *in, char *buf)
{
	size_t n = strlen(in), i, label = 0;
	unsigned char c;

	if (n == 0 || n > STORE_DKIM_SELECTOR_MAX)
		return err_set(ERR_INVALID, "'%s' is not a DKIM selector "
		    "(empty or longer than %d)", in, STORE_DKIM_SELECTOR_MAX);
	for (i = 0; i < n; i++) {
		c = (unsigned char)in[i];
		if (c == '.') {
			if (label == 0 || in[i - 1] == '-')
				goto bad;
			label = 0;
		} else if (isascii(c) && (isalnum(c) || c == '-')) {
			if (c == '-' && label == 0)
				goto bad;
			if (++label > 63)
				return err_set(ERR_INVALID, "DKIM selector "
				    "'%s': a label is longer than 63", in);
		} else
			goto bad;
		buf[i] = (char)tolower(c);
	}
	if (label == 0 || in[n - 1] == '-')
		goto bad;
	buf[n] = '\0';
	return 0;
bad:
	return err_set(ERR_INVALID, "'%s' is not a DKIM selector (labels of "
	    "letters, digits and inner hyphens, separated by dots, e.g. "
	    "mail2024 or rsa.jan)", in);
}

static int
dkim_key_make(const char *domain, const char *selector, struct dkim_key *k)
{
	char dom[STORE_DOMAIN_MAX + 1], sel[STORE_DKIM_SELECTOR_MAX + 1];
	size_t dl, sl;

	if (store_domain_normalize(domain, dom) == -1 ||
	    store_dkim_selector_normalize(selector, sel) == -1)
		return -1;
	dl = strlen(dom);
	sl = strlen(sel);
	memcpy(k->buf, dom, dl);
	k->buf[dl] = '\0';
	memcpy(k->buf + dl + 1, sel, sl);
	k->len = dl + 1 + sl;
	k->buf[k->len] = '\0';
	return 0;
}

static int
dkim_decode(const MDB_val *k, const MDB_val *v, struct store_dkim_key *r)
{
	const char *kp = k->mv_data, *nul;
	struct unpack u;
	size_t dl, sl;
	uint32_t n;
	uint8_t alg;

	memset(r, 0, sizeof(*r));
	if (k->mv_size < 3 || k->mv_size > DKIM_KEY_MAX ||
	    (nul = memchr(kp, '\0', k->mv_size)) == NULL)
		return err_set(ERR_CORRUPT, "DKIM key row with a damaged key "
		    "(run vellumctl store check)");
	dl = (size_t)(nul - kp);
	sl = k->mv_size - dl - 1;
	if (dl == 0 || dl > STORE_DOMAIN_MAX || sl == 0 ||
	    sl > STORE_DKIM_SELECTOR_MAX || memchr(nul + 1, '\0', sl) != NULL)
		return err_set(ERR_CORRUPT, "DKIM key row with a damaged key "
		    "(run vellumctl store check)");
	memcpy(r->domain, kp, dl);
	memcpy(r->selector, nul + 1, sl);
	unpack_init(&u, v);
	alg = unpack_u8(&u);
	r->created = (int64_t)unpack_u64(&u);
	n = unpack_u32(&u);
	if (!u.bad && (n == 0 || n > STORE_DKIM_KEY_MAX || n > u.left))
		u.bad = 1;
	if (!u.bad)
		unpack_bytes(&u, r->key, n);
	if (!u.bad && (alg != STORE_DKIM_RSA && alg != STORE_DKIM_ED25519))
		u.bad = 1;
	if (!u.bad && (u.left != 0 || memchr(r->key, '\0', n) != NULL))
		u.bad = 1;
	r->alg = (enum store_dkim_alg)alg;
	return unpack_done(&u, "DKIM key") == -1 ? -1 : 1;
}

/* 1 when domain (normalised) is in `domains`, else -1 NOTFOUND. */
static int
dkim_domain_known(struct store_txn *t, const char *domain)
{
	struct store_domain d;
	int rc;

	if ((rc = store_domain_get(t, domain, &d)) == -1)
		return -1;
	if (rc == 0)
		return err_set(ERR_NOTFOUND, "no domain %s (add it first: "
		    "vellumctl domain add %s)", domain, domain);
	return 1;
}

int
store_dkim_put(struct store_txn *t, const struct store_dkim_key *key)
{
	struct dkim_key k;
	struct pack p;
	const char *sel;
	size_t kl, dl;
	MDB_val v;
	int rc;

	if (dkim_key_make(key->domain, key->selector, &k) == -1)
		return -1;
	dl = strlen(k.buf);
	sel = k.buf + dl + 1;
	if (strlen(sel) + strlen("._domainkey.") + dl > DKIM_NAME_MAX)
		return err_set(ERR_INVALID, "%s._domainkey.%s is longer than "
		    "a DNS name may be (%d): choose a shorter selector", sel,
		    k.buf, DKIM_NAME_MAX);
	if (key->alg != STORE_DKIM_RSA && key->alg != STORE_DKIM_ED25519)
		return err_set(ERR_INVALID, "unknown DKIM key algorithm %d",
		    (int)key->alg);
	kl = strnlen(key->key, sizeof(key->key));
	if (kl == 0 || kl > STORE_DKIM_KEY_MAX)
		return err_set(ERR_INVALID, "a DKIM private key must be 1 to "
		    "%d bytes of PEM", STORE_DKIM_KEY_MAX);
	if (strncmp(key->key, PEM_BEGIN, strlen(PEM_BEGIN)) != 0)
		return err_set(ERR_INVALID, "a DKIM private key must be PEM "
		    "(-----BEGIN PRIVATE KEY-----)");
	if (dkim_domain_known(t, k.buf) == -1)
		return -1;
	if (t->st->no_dkim)
		return err_set(ERR_PERM, "the store is read-only");
	if ((rc = sdb_get(t, DB_DKIM, k.buf, k.len, &v)) == -1)
		return -1;
	if (rc == 1)
		return err_set(ERR_EXISTS, "%s already has a DKIM key with "
		    "selector %s (delete it first, or choose another "
		    "selector)", k.buf, sel);
	pack_init(&p);
	pack_u8(&p, (uint8_t)key->alg);
	pack_u64(&p, (uint64_t)(key->created != 0 ? key->created :
	    (int64_t)store_now()));
	pack_u32(&p, (uint32_t)kl);
	pack_bytes(&p, key->key, kl);
	rc = sdb_put(t, DB_DKIM, k.buf, k.len, p.buf, p.len, 0);
	explicit_bzero(p.buf, p.len);
	pack_free(&p);
	return rc == -1 ? -1 : 1;
}

int
store_dkim_get(struct store_txn *t, const char *domain, const char *selector,
    struct store_dkim_key *r)
{
	struct dkim_key k;
	MDB_val kv, v;
	int rc;

	memset(r, 0, sizeof(*r));
	if (dkim_key_make(domain, selector, &k) == -1)
		return -1;
	if (t->st->no_dkim)
		return 0;
	if ((rc = sdb_get(t, DB_DKIM, k.buf, k.len, &v)) != 1)
		return rc;
	kv.mv_size = k.len;
	kv.mv_data = k.buf;
	return dkim_decode(&kv, &v, r);
}

int
store_dkim_del(struct store_txn *t, const char *domain, const char *selector)
{
	struct dkim_key k;

	if (dkim_key_make(domain, selector, &k) == -1)
		return -1;
	if (t->st->no_dkim)
		return 0;
	return sdb_del(t, DB_DKIM, k.buf, k.len);
}

int
store_dkim_list(struct store_txn *t, const char *domain, store_dkim_fn *fn,
    void *ctx)
{
	char dom[STORE_DOMAIN_MAX + 2];
	struct store_dkim_key *r;
	MDB_cursor *c;
	MDB_val k, v;
	size_t plen = 0;
	int rc, ret = 0;

	if (domain != NULL) {
		if (store_domain_normalize(domain, dom) == -1)
			return -1;
		plen = strlen(dom) + 1;		/* with the NUL */
	}
	if (t->st->no_dkim)
		return 0;
	if (sdb_cursor(t, DB_DKIM, &c) == -1)
		return -1;
	/* 6 KB: not on the stack of a worker thread's caller */
	r = malloc(sizeof(*r));
	if (r == NULL) {
		mdb_cursor_close(c);
		return err_set(ERR_TEMP, "out of memory");
	}
	k.mv_size = plen;
	k.mv_data = dom;
	for (rc = mdb_cursor_get(c, &k, &v, plen > 0 ? MDB_SET_RANGE :
	    MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (plen > 0 && (k.mv_size < plen ||
		    memcmp(k.mv_data, dom, plen) != 0))
			break;
		if (dkim_decode(&k, &v, r) == -1 || fn(r, ctx) == -1) {
			ret = -1;
			break;
		}
	}
	if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
		ret = sdb_error(t, rc, "dkim");
	explicit_bzero(r, sizeof(*r));
	free(r);
	mdb_cursor_close(c);
	return ret;
}

/* Deletes the keys of a domain (store_domain_del()). */
int
dkim_domain_drop(struct store_txn *t, const char *domain)
{
	char dom[STORE_DOMAIN_MAX + 2];

	if (t->st->no_dkim || store_domain_normalize(domain, dom) == -1)
		return 0;
	return sdb_del_prefix(t, DB_DKIM, dom, strlen(dom) + 1, "dkim") ==
	    -1 ? -1 : 0;
}

/* The check: every row decodes, names a domain that exists. */
int
dkim_check(struct store_txn *t, check_report_fn *report, void *ctx)
{
	struct store_dkim_key *r;
	struct store_domain d;
	char buf[600];
	MDB_cursor *c;
	MDB_val k, v;
	int rc, ret = 0;

	if (t->st->no_dkim)
		return 0;
	if (sdb_cursor(t, DB_DKIM, &c) == -1)
		return -1;
	r = malloc(sizeof(*r));
	if (r == NULL) {
		mdb_cursor_close(c);
		return err_set(ERR_TEMP, "out of memory");
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (dkim_decode(&k, &v, r) == -1) {
			snprintf(buf, sizeof(buf), "dkim: %s", err_msg());
			report(ctx, buf);
			continue;
		}
		if ((rc = store_domain_get(t, r->domain, &d)) == -1) {
			ret = -1;
			break;
		}
		if (rc == 0) {
			snprintf(buf, sizeof(buf), "dkim: key %s of domain %s, "
			    "which does not exist", r->selector, r->domain);
			report(ctx, buf);
		}
	}
	explicit_bzero(r, sizeof(*r));
	free(r);
	mdb_cursor_close(c);
	return ret;
}
