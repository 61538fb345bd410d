/*
 * dkim.h - DKIM signing keys (`dkim` table): per local domain, any number
 * of selectors, each with its algorithm, creation time and private key.
 * vellum-mta signs mail that leaves with every key of the domain of its
 * From: header (RFC 8463 dual signing: an rsa and an ed25519 key both
 * sign); `vellumctl dkim` writes the keys and prints their DNS records.
 *
 * Keys are (normalised domain, NUL, selector); a selector is stored
 * lower case (DNS names compare without case).  The private key is kept
 * as PKCS#8 PEM, the form libopendkim and OpenSSL read as they are; the
 * store's files are readable by their owner only.
 *
 * A store made before this table opens as usual: a writable open
 * creates it, read-only opens of such a store see no keys.  Deleting a
 * domain deletes its keys.
 */
#ifndef VELLUM_STORE_DKIM_H
#define VELLUM_STORE_DKIM_H

#include <stdint.h>

#include "domain.h"
#include "store.h"

/*
 * A selector's longest text: with "._domainkey." and the domain, the
 * record's name must still fit in 253 bytes (store_dkim_put() checks).
 */
#define STORE_DKIM_SELECTOR_MAX	128
/* A PEM private key: an RSA-4096 PKCS#8 key takes about 3,300 bytes. */
#define STORE_DKIM_KEY_MAX	6144

enum store_dkim_alg {
	STORE_DKIM_RSA = 1,		/* rsa-sha256 */
	STORE_DKIM_ED25519 = 2,		/* ed25519-sha256 (RFC 8463) */
};

struct store_dkim_key {
	char			domain[STORE_DOMAIN_MAX + 1];
	char			selector[STORE_DKIM_SELECTOR_MAX + 1];
	enum store_dkim_alg	alg;
	int64_t			created;	/* Unix time */
	char			key[STORE_DKIM_KEY_MAX + 1];	/* PEM */
};

/* "rsa", "ed25519" ("?" for anything else). */
const char *store_dkim_alg_name(enum store_dkim_alg);
/* The reverse (any case).  0 done, -1 INVALID. */
int	store_dkim_alg_parse(const char *, enum store_dkim_alg *r);

/*
 * Checks a selector (RFC 6376 3.1: dot-separated labels of letters,
 * digits and inner hyphens, each 1 to 63 bytes) and lower-cases it into
 * buf (STORE_DKIM_SELECTOR_MAX + 1).  0, or -1 INVALID saying why.
 */
int	store_dkim_selector_normalize(const char *in, char *buf);

/*
 * Adds a key (domain and selector normalised; created 0: now).  1 done.
 * Errors: NOTFOUND (no such domain: the message names it), EXISTS (the
 * selector is taken), INVALID (selector, algorithm, a key that is empty,
 * too long or not PEM, a record name over 253 bytes).
 */
int	store_dkim_put(struct store_txn *, const struct store_dkim_key *);
/* 1 found (r filled), 0 none.  Errors: INVALID (domain or selector). */
int	store_dkim_get(struct store_txn *, const char *domain,
	    const char *selector, struct store_dkim_key *r);
/* 1 deleted, 0 none.  Errors: INVALID. */
int	store_dkim_del(struct store_txn *, const char *domain,
	    const char *selector);

/*
 * Calls fn for every key of domain (NULL: of every domain), in domain
 * then selector order; stops when fn returns -1 (the result then).
 * The key passed is valid during the call only.  0, or -1.
 */
typedef int store_dkim_fn(const struct store_dkim_key *, void *ctx);
int	store_dkim_list(struct store_txn *, const char *domain,
	    store_dkim_fn *fn, void *ctx);

#endif
