/*
 * keymemo.c - the memo of decoded public keys (keymemo.h): this file
 * defines OpenSSL's d2i_PUBKEY_bio() for the executables that link it.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "log.h"
#include "keymemo.h"
#include "xmalloc.h"

typedef EVP_PKEY *km_d2i_fn(BIO *, EVP_PKEY **);

struct km_slot {
	uint64_t	 hash;
	size_t		 len;		/* 0: free */
	unsigned char	*der;
	EVP_PKEY	*key;		/* the table's reference */
	uint64_t	 used;		/* km_clock at the last hit */
};

static pthread_mutex_t	km_lock = PTHREAD_MUTEX_INITIALIZER;
static struct km_slot	km_slot[KEYMEMO_SLOTS];
static uint64_t		km_clock;
static struct keymemo_stats km_stats;
static pthread_once_t	km_once = PTHREAD_ONCE_INIT;
static km_d2i_fn	*km_openssl;

static void	km_find_openssl(void);
static EVP_PKEY *km_pass(BIO *, EVP_PKEY **);
static long	km_extent(const unsigned char *, long);
static uint64_t	km_hash(const unsigned char *, size_t);
static EVP_PKEY *km_lookup(uint64_t, const unsigned char *, size_t);
static EVP_PKEY *km_keep(uint64_t, const unsigned char *, size_t,
		    EVP_PKEY *);
static void	km_skip(BIO *, long);

static void
km_find_openssl(void)
{
	/* the next definition after this executable's: libcrypto's */
	km_openssl = (km_d2i_fn *)dlvsym(RTLD_NEXT, "d2i_PUBKEY_bio",
	    "OPENSSL_3.0.0");
	if (km_openssl == NULL)
		km_openssl = (km_d2i_fn *)dlsym(RTLD_NEXT, "d2i_PUBKEY_bio");
	if (km_openssl == NULL)
		fatalx("keymemo: OpenSSL's d2i_PUBKEY_bio is not loaded");
}

static EVP_PKEY *
km_pass(BIO *bp, EVP_PKEY **a)
{
	pthread_once(&km_once, km_find_openssl);
	pthread_mutex_lock(&km_lock);
	km_stats.passed++;
	pthread_mutex_unlock(&km_lock);
	return km_openssl(bp, a);
}

/*
 * The length of the whole DER object (header and contents) at der[n]:
 * >0, or -1 when it is not one definite-length object within n bytes.
 */
static long
km_extent(const unsigned char *der, long n)
{
	const unsigned char *p = der;
	long len;
	int tag, class, r;

	r = ASN1_get_object(&p, &len, &tag, &class, n);
	if ((r & 0x80) != 0 || (r & 0x01) != 0)
		return -1;
	if (len > n - (p - der))
		return -1;
	return (long)(p - der) + len;
}

/* FNV-1a: spreads the slots' first comparison; memcmp decides. */
static uint64_t
km_hash(const unsigned char *p, size_t len)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

/* The key kept for der[len] with a reference for the caller, or NULL. */
static EVP_PKEY *
km_lookup(uint64_t h, const unsigned char *der, size_t len)
{
	EVP_PKEY *key = NULL;
	size_t i;

	pthread_mutex_lock(&km_lock);
	for (i = 0; i < KEYMEMO_SLOTS; i++) {
		struct km_slot *s = &km_slot[i];

		if (s->len == len && s->hash == h &&
		    memcmp(s->der, der, len) == 0) {
			if (EVP_PKEY_up_ref(s->key) == 1) {
				key = s->key;
				s->used = ++km_clock;
				km_stats.hits++;
			}
			break;
		}
	}
	pthread_mutex_unlock(&km_lock);
	return key;
}

/*
 * Keeps key (decoded from der[len], the caller's reference) in the least
 * recently used slot and returns the key to give the caller: key itself,
 * or the one another thread kept for the same bytes meanwhile.
 */
static EVP_PKEY *
km_keep(uint64_t h, const unsigned char *der, size_t len, EVP_PKEY *key)
{
	struct km_slot *s, *old = NULL;
	EVP_PKEY *drop = NULL;
	unsigned char *dropder = NULL;
	size_t i;

	pthread_mutex_lock(&km_lock);
	km_stats.misses++;
	for (i = 0; i < KEYMEMO_SLOTS; i++) {
		s = &km_slot[i];
		if (s->len == len && s->hash == h &&
		    memcmp(s->der, der, len) == 0 &&
		    EVP_PKEY_up_ref(s->key) == 1) {
			s->used = ++km_clock;
			pthread_mutex_unlock(&km_lock);
			EVP_PKEY_free(key);
			return s->key;
		}
		if (old == NULL || s->used < old->used)
			old = s;
	}
	if (EVP_PKEY_up_ref(key) == 1) {
		drop = old->key;
		dropder = old->der;
		old->hash = h;
		old->len = len;
		old->der = xmemdup(der, len);
		old->key = key;
		old->used = ++km_clock;
	}
	pthread_mutex_unlock(&km_lock);
	EVP_PKEY_free(drop);
	free(dropder);
	return key;
}

/* Moves bp past n bytes, as OpenSSL's reading of the object would. */
static void
km_skip(BIO *bp, long n)
{
	char buf[512];
	int got;

	while (n > 0) {
		got = BIO_read(bp, buf, n > (long)sizeof(buf) ?
		    (int)sizeof(buf) : (int)n);
		if (got <= 0)
			break;
		n -= got;
	}
}

EVP_PKEY *
d2i_PUBKEY_bio(BIO *bp, EVP_PKEY **a)
{
	const unsigned char *q;
	EVP_PKEY *key;
	char *data;
	long n, len;
	uint64_t h;

	if (a != NULL || bp == NULL || BIO_method_type(bp) != BIO_TYPE_MEM ||
	    (n = BIO_get_mem_data(bp, &data)) <= 0 ||
	    (len = km_extent((const unsigned char *)data, n)) == -1 ||
	    len > KEYMEMO_DER_MAX)
		return km_pass(bp, a);
	h = km_hash((const unsigned char *)data, (size_t)len);
	if ((key = km_lookup(h, (const unsigned char *)data,
	    (size_t)len)) == NULL) {
		q = (const unsigned char *)data;
		ERR_set_mark();
		key = d2i_PUBKEY(NULL, &q, len);
		ERR_pop_to_mark();
		if (key == NULL)	/* OpenSSL's own errors, please */
			return km_pass(bp, a);
		key = km_keep(h, (const unsigned char *)data, (size_t)len,
		    key);
	}
	km_skip(bp, len);
	return key;
}

int
keymemo_bound(void)
{
	return dlsym(RTLD_DEFAULT, "d2i_PUBKEY_bio") ==
	    (void *)d2i_PUBKEY_bio;
}

void
keymemo_stats(struct keymemo_stats *s_r)
{
	pthread_mutex_lock(&km_lock);
	*s_r = km_stats;
	pthread_mutex_unlock(&km_lock);
}
