/*
 * check_keymemo.c - the memo of decoded keys (common/keymemo.c):
 * d2i_PUBKEY_bio(), d2i_PrivateKey_bio() and PEM_read_bio_PrivateKey() as
 * this executable defines them.  The same bytes give
 * the same key object, decoded once; the BIO is moved past the object as
 * OpenSSL's function moves it; what the memo does not take (another BIO
 * type, a reuse object, bytes that do not decode, a cut object) is
 * decoded or refused by OpenSSL's own function; the least recently used
 * key goes when the table is full; threads share it.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/keymemo.h"

#define KM_THREADS	4
#define KM_ROUNDS	2000

static Suite	*keymemo_suite(void);
static size_t	der_of(EVP_PKEY *, unsigned char **);
static size_t	new_key(unsigned char **);
static EVP_PKEY *decode(const unsigned char *, size_t, size_t *);
static EVP_PKEY *decode_with(EVP_PKEY *(*)(BIO *, EVP_PKEY **),
		    const unsigned char *, size_t, size_t *);
static int	no_passphrase(char *, int, int, void *);
static void	*hammer(void *);

static unsigned char	*tder[3];
static size_t		 tlen[3];

/* A fresh P-256 key's SubjectPublicKeyInfo (fast to make, as RSA is not). */
static size_t
der_of(EVP_PKEY *k, unsigned char **der_r)
{
	int n;

	*der_r = NULL;
	n = i2d_PUBKEY(k, der_r);
	ck_assert_int_gt(n, 0);
	return (size_t)n;
}

static size_t
new_key(unsigned char **der_r)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	size_t n;

	ck_assert_ptr_nonnull(k);
	n = der_of(k, der_r);
	EVP_PKEY_free(k);
	return n;
}

/* fn on a memory BIO of der[len]; *left_r (may be NULL): bytes unread. */
static EVP_PKEY *
decode_with(EVP_PKEY *(*fn)(BIO *, EVP_PKEY **), const unsigned char *der,
    size_t len, size_t *left_r)
{
	BIO *b = BIO_new_mem_buf(der, (int)len);
	EVP_PKEY *k;

	ck_assert_ptr_nonnull(b);
	k = fn(b, NULL);
	if (left_r != NULL)
		*left_r = (size_t)BIO_pending(b);
	BIO_free(b);
	return k;
}

/* d2i_PUBKEY_bio() on a memory BIO of der[len]. */
static EVP_PKEY *
decode(const unsigned char *der, size_t len, size_t *left_r)
{
	return decode_with(d2i_PUBKEY_bio, der, len, left_r);
}

START_TEST(test_same_bytes_same_key)
{
	struct keymemo_stats s0, s1;
	unsigned char *a, *b, *buf;
	EVP_PKEY *k1, *k2, *k3;
	size_t la, lb, left;

	la = new_key(&a);
	lb = new_key(&b);
	keymemo_stats(&s0);
	k1 = decode(a, la, &left);
	ck_assert_ptr_nonnull(k1);
	ck_assert_uint_eq(left, 0);
	/* the object, then three more bytes: only the object is read */
	buf = malloc(la + 3);
	memcpy(buf, a, la);
	memcpy(buf + la, "xyz", 3);
	k2 = decode(buf, la + 3, &left);
	ck_assert_ptr_eq(k1, k2);
	ck_assert_uint_eq(left, 3);
	k3 = decode(b, lb, NULL);
	ck_assert_ptr_nonnull(k3);
	ck_assert_ptr_ne(k1, k3);
	ck_assert_int_eq(EVP_PKEY_eq(k1, k3), 0);
	keymemo_stats(&s1);
	ck_assert_uint_eq(s1.misses - s0.misses, 2);
	ck_assert_uint_eq(s1.hits - s0.hits, 1);
	ck_assert_uint_eq(s1.passed - s0.passed, 0);
	/* each caller holds a reference of its own */
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	k1 = decode(a, la, NULL);
	ck_assert_ptr_eq(k1, k2);
	ck_assert_int_eq(EVP_PKEY_get_bits(k1), 256);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k3);
	free(buf);
	OPENSSL_free(a);
	OPENSSL_free(b);
}
END_TEST

START_TEST(test_what_openssl_decides)
{
	struct keymemo_stats s0, s1;
	unsigned char *a, junk[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };
	EVP_PKEY *k, *m, *reuse = NULL;
	size_t la, left;
	FILE *f;
	BIO *b;

	la = new_key(&a);
	m = decode(a, la, NULL);
	keymemo_stats(&s0);
	/* a file BIO: OpenSSL's function, an equal key of its own */
	f = tmpfile();
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(a, 1, la, f), la);
	rewind(f);
	b = BIO_new_fp(f, BIO_CLOSE);
	k = d2i_PUBKEY_bio(b, NULL);
	BIO_free(b);
	ck_assert_ptr_nonnull(k);
	ck_assert_ptr_ne(k, m);
	ck_assert_int_eq(EVP_PKEY_eq(k, m), 1);
	EVP_PKEY_free(k);
	/* a reuse object */
	b = BIO_new_mem_buf(a, (int)la);
	k = d2i_PUBKEY_bio(b, &reuse);
	BIO_free(b);
	ck_assert_ptr_nonnull(k);
	ck_assert_ptr_eq(k, reuse);
	ck_assert_ptr_ne(k, m);
	EVP_PKEY_free(k);
	/* a sequence that is no key, a cut key, an empty BIO */
	ck_assert_ptr_null(decode(junk, sizeof(junk), NULL));
	ck_assert_ptr_null(decode(a, la - 1, &left));
	ck_assert_ptr_null(decode(a, 0, NULL));
	keymemo_stats(&s1);
	ck_assert_uint_eq(s1.passed - s0.passed, 5);
	ck_assert_uint_eq(s1.hits - s0.hits, 0);
	ck_assert_uint_eq(s1.misses - s0.misses, 0);
	EVP_PKEY_free(m);
	OPENSSL_free(a);
}
END_TEST

static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

START_TEST(test_private_keys)
{
	struct keymemo_stats s0, s1;
	EVP_PKEY *k = EVP_EC_gen("P-256"), *p1, *p2, *d1, *d2, *c;
	unsigned char *der = NULL;
	char *pem, *text;
	BIO *b;
	long n;
	int dlen;

	ck_assert_ptr_nonnull(k);
	b = BIO_new(BIO_s_mem());
	ck_assert_int_eq(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL,
	    NULL), 1);
	n = BIO_get_mem_data(b, &text);
	pem = malloc((size_t)n + 32);
	memcpy(pem, "leading words\n", 14);
	memcpy(pem + 14, text, (size_t)n);
	memcpy(pem + 14 + n, "trailing\n", 9);
	BIO_free(b);
	dlen = i2d_PrivateKey(k, &der);
	ck_assert_int_gt(dlen, 0);
	keymemo_stats(&s0);
	/* PEM, twice: one key; what follows the END line stays unread */
	b = BIO_new_mem_buf(pem, (int)(14 + n + 9));
	p1 = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	ck_assert_int_eq(BIO_pending(b), 9);
	BIO_free(b);
	b = BIO_new_mem_buf(pem, (int)(14 + n + 9));
	p2 = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	ck_assert_ptr_nonnull(p1);
	ck_assert_ptr_eq(p1, p2);
	ck_assert_int_eq(EVP_PKEY_eq(p1, k), 1);
	/* DER, twice: one key, not the PEM's slot */
	d1 = decode_with(d2i_PrivateKey_bio, der, (size_t)dlen, NULL);
	d2 = decode_with(d2i_PrivateKey_bio, der, (size_t)dlen, NULL);
	ck_assert_ptr_nonnull(d1);
	ck_assert_ptr_eq(d1, d2);
	ck_assert_ptr_ne(d1, p1);
	ck_assert_int_eq(EVP_PKEY_eq(d1, k), 1);
	keymemo_stats(&s1);
	ck_assert_uint_eq(s1.misses - s0.misses, 2);
	ck_assert_uint_eq(s1.hits - s0.hits, 2);
	/* a passphrase callback: OpenSSL's function, a key of its own */
	b = BIO_new_mem_buf(pem, (int)(14 + n + 9));
	c = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
	BIO_free(b);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_ne(c, p1);
	keymemo_stats(&s0);
	ck_assert_uint_eq(s0.passed - s1.passed, 1);
	/* a PEM with no END line: no key */
	b = BIO_new_mem_buf(pem, 40);
	ck_assert_ptr_null(PEM_read_bio_PrivateKey(b, NULL, NULL, NULL));
	BIO_free(b);
	EVP_PKEY_free(c);
	EVP_PKEY_free(d2);
	EVP_PKEY_free(d1);
	EVP_PKEY_free(p2);
	EVP_PKEY_free(p1);
	EVP_PKEY_free(k);
	OPENSSL_free(der);
	free(pem);
}
END_TEST

START_TEST(test_least_recently_used_goes)
{
	struct keymemo_stats s0, s1;
	unsigned char *der[KEYMEMO_SLOTS + 1];
	size_t len[KEYMEMO_SLOTS + 1], i;
	EVP_PKEY *k;

	for (i = 0; i <= KEYMEMO_SLOTS; i++)
		len[i] = new_key(&der[i]);
	keymemo_stats(&s0);
	/* key 0 first; key 1 to the last fill the table; 0 is used again */
	for (i = 0; i < KEYMEMO_SLOTS; i++)
		EVP_PKEY_free(decode(der[i], len[i], NULL));
	EVP_PKEY_free(decode(der[0], len[0], NULL));
	keymemo_stats(&s1);
	ck_assert_uint_eq(s1.misses - s0.misses, KEYMEMO_SLOTS);
	ck_assert_uint_eq(s1.hits - s0.hits, 1);
	/* one more key: key 1, the least recently used, goes, key 0 stays */
	EVP_PKEY_free(decode(der[KEYMEMO_SLOTS], len[KEYMEMO_SLOTS], NULL));
	keymemo_stats(&s0);
	k = decode(der[0], len[0], NULL);
	ck_assert_ptr_nonnull(k);
	EVP_PKEY_free(k);
	keymemo_stats(&s1);
	ck_assert_uint_eq(s1.hits - s0.hits, 1);
	k = decode(der[1], len[1], NULL);
	ck_assert_ptr_nonnull(k);
	EVP_PKEY_free(k);
	keymemo_stats(&s0);
	ck_assert_uint_eq(s0.misses - s1.misses, 1);
	for (i = 0; i <= KEYMEMO_SLOTS; i++)
		OPENSSL_free(der[i]);
}
END_TEST

static void *
hammer(void *arg)
{
	unsigned i;
	EVP_PKEY *k;

	(void)arg;
	for (i = 0; i < KM_ROUNDS; i++) {
		k = decode(tder[i % 3], tlen[i % 3], NULL);
		if (k == NULL || EVP_PKEY_get_bits(k) != 256)
			return (void *)1;
		EVP_PKEY_free(k);
	}
	return NULL;
}

START_TEST(test_threads_share_it)
{
	pthread_t t[KM_THREADS];
	void *rc;
	int i;

	for (i = 0; i < 3; i++)
		tlen[i] = new_key(&tder[i]);
	for (i = 0; i < KM_THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, NULL), 0);
	for (i = 0; i < KM_THREADS; i++) {
		ck_assert_int_eq(pthread_join(t[i], &rc), 0);
		ck_assert_msg(rc == NULL, "thread %d got a wrong key", i);
	}
	for (i = 0; i < 3; i++)
		OPENSSL_free(tder[i]);
}
END_TEST

static Suite *
keymemo_suite(void)
{
	Suite *s = suite_create("keymemo");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_same_bytes_same_key);
	tcase_add_test(tc, test_what_openssl_decides);
	tcase_add_test(tc, test_private_keys);
	tcase_add_test(tc, test_least_recently_used_goes);
	tcase_add_test(tc, test_threads_share_it);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(keymemo_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
