/*
 * keymemo.c - the memo of decoded keys (keymemo.h): this file defines
 * OpenSSL's d2i_PUBKEY_bio(), d2i_PrivateKey_bio() and
 * PEM_read_bio_PrivateKey() for the executables that link it.
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
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "log.h"
#include "keymemo.h"
#include "xmalloc.h"

/* How OpenSSL reads a key from a BIO; which of them a slot came from. */
enum km_kind {
	KM_PUBKEY,		/* d2i_PUBKEY_bio: SubjectPublicKeyInfo DER */
	KM_PRIVKEY,		/* d2i_PrivateKey_bio: DER */
	KM_PRIVKEY_PEM,		/* PEM_read_bio_PrivateKey, no passphrase */
	KM_KINDS
};

typedef EVP_PKEY *km_bio_fn(BIO *, EVP_PKEY **);
typedef EVP_PKEY *km_pem_fn(BIO *, EVP_PKEY **, pem_password_cb *, void *);

struct km_slot {
	uint64_t	 hash;
	size_t		 len;		/* 0: free */
	enum km_kind	 kind;
	unsigned char	*bytes;
	EVP_PKEY	*key;		/* the table's reference */
	uint64_t	 used;		/* km_clock at the last hit */
};

static pthread_mutex_t	km_lock = PTHREAD_MUTEX_INITIALIZER;
static struct km_slot	km_slot[KEYMEMO_SLOTS];
static uint64_t		km_clock;
static struct keymemo_stats km_stats;
static pthread_once_t	km_once = PTHREAD_ONCE_INIT;
static km_bio_fn	*km_openssl_pub, *km_openssl_priv;
static km_pem_fn	*km_openssl_pem;

static void	*km_openssl_fn(const char *);
static void	km_find_openssl(void);
static void	km_passed(void);
static EVP_PKEY *km_openssl(enum km_kind, BIO *);
static long	km_der_extent(const unsigned char *, long);
static long	km_pem_extent(const unsigned char *, long);
static uint64_t	km_hash(enum km_kind, const unsigned char *, size_t);
static struct km_slot *km_find(uint64_t, enum km_kind, const unsigned char *,
		    size_t);
static EVP_PKEY *km_lookup(uint64_t, enum km_kind, const unsigned char *,
		    size_t);
static EVP_PKEY *km_keep(uint64_t, enum km_kind, const unsigned char *,
		    size_t, EVP_PKEY *);
static void	km_skip(BIO *, long);
static EVP_PKEY *km_memo(BIO *, enum km_kind);

/* The next definition after this executable's: libcrypto's. */
static void *
km_openssl_fn(const char *name)
{
	void *f;

	if ((f = dlvsym(RTLD_NEXT, name, "OPENSSL_3.0.0")) == NULL)
		f = dlsym(RTLD_NEXT, name);
	if (f == NULL)
		fatalx("keymemo: OpenSSL's %s is not loaded", name);
	return f;
}

static void
km_find_openssl(void)
{
	km_openssl_pub = (km_bio_fn *)km_openssl_fn("d2i_PUBKEY_bio");
	km_openssl_priv = (km_bio_fn *)km_openssl_fn("d2i_PrivateKey_bio");
	km_openssl_pem = (km_pem_fn *)km_openssl_fn("PEM_read_bio_PrivateKey");
}

/* Counts a call handed to OpenSSL, whose functions it finds first. */
static void
km_passed(void)
{
	pthread_once(&km_once, km_find_openssl);
	pthread_mutex_lock(&km_lock);
	km_stats.passed++;
	pthread_mutex_unlock(&km_lock);
}

/* OpenSSL's own reading of kind from bp (no reuse object, no passphrase). */
static EVP_PKEY *
km_openssl(enum km_kind kind, BIO *bp)
{
	pthread_once(&km_once, km_find_openssl);
	switch (kind) {
	case KM_PUBKEY:
		return km_openssl_pub(bp, NULL);
	case KM_PRIVKEY:
		return km_openssl_priv(bp, NULL);
	default:
		return km_openssl_pem(bp, NULL, NULL, NULL);
	}
}

/*
 * The length of the whole DER object (header and contents) at der[n]:
 * >0, or -1 when it is not one definite-length object within n bytes.
 */
static long
km_der_extent(const unsigned char *der, long n)
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

/*
 * What PEM reading takes of pem[n]: up to the end of the first "-----END "
 * line, or -1 when there is none.
 */
static long
km_pem_extent(const unsigned char *pem, long n)
{
	static const char end[] = "-----END ";
	const unsigned char *p, *nl;

	p = memmem(pem, (size_t)n, end, sizeof(end) - 1);
	if (p == NULL || (nl = memchr(p, '\n', (size_t)(pem + n - p))) ==
	    NULL)
		return -1;
	return (long)(nl + 1 - pem);
}

/* FNV-1a over the kind and the bytes: the slots' first test; memcmp decides. */
static uint64_t
km_hash(enum km_kind kind, const unsigned char *p, size_t len)
{
	uint64_t h = 14695981039346656037ULL ^ (uint64_t)kind;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

/* The slot holding bytes[len] of kind, or NULL (km_lock held). */
static struct km_slot *
km_find(uint64_t h, enum km_kind kind, const unsigned char *bytes,
    size_t len)
{
	size_t i;

	for (i = 0; i < KEYMEMO_SLOTS; i++) {
		struct km_slot *s = &km_slot[i];

		if (s->len == len && s->hash == h && s->kind == kind &&
		    memcmp(s->bytes, bytes, len) == 0)
			return s;
	}
	return NULL;
}

/* The key kept for bytes[len] with a reference for the caller, or NULL. */
static EVP_PKEY *
km_lookup(uint64_t h, enum km_kind kind, const unsigned char *bytes,
    size_t len)
{
	struct km_slot *s;
	EVP_PKEY *key = NULL;

	pthread_mutex_lock(&km_lock);
	if ((s = km_find(h, kind, bytes, len)) != NULL &&
	    EVP_PKEY_up_ref(s->key) == 1) {
		key = s->key;
		s->used = ++km_clock;
		km_stats.hits++;
	}
	pthread_mutex_unlock(&km_lock);
	return key;
}

/*
 * Keeps key (read from bytes[len], the caller's reference) in the least
 * recently used slot and returns the key to give the caller: key itself,
 * or the one another thread kept for the same bytes meanwhile.  A private
 * key's bytes are wiped when their slot is taken.
 */
static EVP_PKEY *
km_keep(uint64_t h, enum km_kind kind, const unsigned char *bytes,
    size_t len, EVP_PKEY *key)
{
	struct km_slot *s, *old;
	EVP_PKEY *drop = NULL;
	unsigned char *dropbytes = NULL;
	size_t droplen = 0, i;

	pthread_mutex_lock(&km_lock);
	km_stats.misses++;
	if ((s = km_find(h, kind, bytes, len)) != NULL &&
	    EVP_PKEY_up_ref(s->key) == 1) {
		s->used = ++km_clock;
		pthread_mutex_unlock(&km_lock);
		EVP_PKEY_free(key);
		return s->key;
	}
	old = &km_slot[0];
	for (i = 1; i < KEYMEMO_SLOTS; i++)
		if (km_slot[i].used < old->used)
			old = &km_slot[i];
	if (EVP_PKEY_up_ref(key) == 1) {
		drop = old->key;
		dropbytes = old->bytes;
		droplen = old->len;
		old->hash = h;
		old->kind = kind;
		old->len = len;
		old->bytes = xmemdup(bytes, len);
		old->key = key;
		old->used = ++km_clock;
	}
	pthread_mutex_unlock(&km_lock);
	EVP_PKEY_free(drop);
	if (dropbytes != NULL)
		OPENSSL_cleanse(dropbytes, droplen);
	free(dropbytes);
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

/*
 * Reads a key of kind from bp through the memo: what OpenSSL's function
 * returns for the same call, sharing one key object per byte string.
 */
static EVP_PKEY *
km_memo(BIO *bp, enum km_kind kind)
{
	EVP_PKEY *key;
	BIO *one;
	char *data;
	long n, len;
	uint64_t h;

	if (bp == NULL || BIO_method_type(bp) != BIO_TYPE_MEM ||
	    (n = BIO_get_mem_data(bp, &data)) <= 0 ||
	    (len = kind == KM_PRIVKEY_PEM ?
	    km_pem_extent((const unsigned char *)data, n) :
	    km_der_extent((const unsigned char *)data, n)) == -1 ||
	    len > KEYMEMO_BYTES_MAX) {
		km_passed();
		return km_openssl(kind, bp);
	}
	h = km_hash(kind, (const unsigned char *)data, (size_t)len);
	if ((key = km_lookup(h, kind, (const unsigned char *)data,
	    (size_t)len)) == NULL) {
		/* OpenSSL reads exactly those bytes; failing, bp as given */
		if ((one = BIO_new_mem_buf(data, (int)len)) == NULL) {
			km_passed();
			return km_openssl(kind, bp);
		}
		ERR_set_mark();
		key = km_openssl(kind, one);
		BIO_free(one);
		if (key == NULL) {
			ERR_pop_to_mark();
			km_passed();
			return km_openssl(kind, bp);
		}
		ERR_clear_last_mark();
		key = km_keep(h, kind, (const unsigned char *)data,
		    (size_t)len, key);
	}
	km_skip(bp, len);
	return key;
}

EVP_PKEY *
d2i_PUBKEY_bio(BIO *bp, EVP_PKEY **a)
{
	if (a != NULL) {
		km_passed();
		return km_openssl_pub(bp, a);
	}
	return km_memo(bp, KM_PUBKEY);
}

EVP_PKEY *
d2i_PrivateKey_bio(BIO *bp, EVP_PKEY **a)
{
	if (a != NULL) {
		km_passed();
		return km_openssl_priv(bp, a);
	}
	return km_memo(bp, KM_PRIVKEY);
}

EVP_PKEY *
PEM_read_bio_PrivateKey(BIO *bp, EVP_PKEY **x, pem_password_cb *cb, void *u)
{
	if (x != NULL || cb != NULL || u != NULL) {
		km_passed();
		return km_openssl_pem(bp, x, cb, u);
	}
	return km_memo(bp, KM_PRIVKEY_PEM);
}

int
keymemo_bound(void)
{
	return dlsym(RTLD_DEFAULT, "d2i_PUBKEY_bio") ==
	    (void *)d2i_PUBKEY_bio &&
	    dlsym(RTLD_DEFAULT, "d2i_PrivateKey_bio") ==
	    (void *)d2i_PrivateKey_bio &&
	    dlsym(RTLD_DEFAULT, "PEM_read_bio_PrivateKey") ==
	    (void *)PEM_read_bio_PrivateKey;
}

void
keymemo_stats(struct keymemo_stats *s_r)
{
	pthread_mutex_lock(&km_lock);
	*s_r = km_stats;
	pthread_mutex_unlock(&km_lock);
}
