/*
 * fuzz_keymemo.c - common/keymemo.c against OpenSSL itself, on any bytes
 * (what a DKIM key record's p= decodes to is a peer's choice).  Byte 0
 * picks the function: d2i_PUBKEY_bio, d2i_PrivateKey_bio or
 * PEM_read_bio_PrivateKey; the rest is the BIO's content.  The memo's
 * answer, asked twice (the second may come from the table), must be
 * OpenSSL's own: both no key, or equal keys; and each call must leave
 * the BIO where OpenSSL's function leaves it.
 */
#include <dlfcn.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/keymemo.h"

#include "fuzz.h"

typedef EVP_PKEY *read_fn(BIO *, EVP_PKEY **);

static const char *const names[] = {
	"d2i_PUBKEY_bio", "d2i_PrivateKey_bio", "PEM_read_bio_PrivateKey"
};

/* fn (the memo's, or OpenSSL's when real) on a memory BIO of d[n]. */
static EVP_PKEY *
call(int which, int real, const uint8_t *d, size_t n, int *left_r)
{
	static void *openssl[3];
	BIO *b = BIO_new_mem_buf(n > 0 ? d : (const uint8_t *)"", (int)n);
	EVP_PKEY *k;

	FUZZ_CHECK(b != NULL, "no BIO");
	if (real && openssl[which] == NULL) {
		openssl[which] = dlvsym(RTLD_NEXT, names[which],
		    "OPENSSL_3.0.0");
		FUZZ_CHECK(openssl[which] != NULL, "%s not found",
		    names[which]);
	}
	if (which == 2)
		k = real ? ((EVP_PKEY *(*)(BIO *, EVP_PKEY **,
		    pem_password_cb *, void *))openssl[which])(b, NULL, NULL,
		    NULL) : PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	else if (real)
		k = ((read_fn *)openssl[which])(b, NULL);
	else
		k = which == 0 ? d2i_PUBKEY_bio(b, NULL) :
		    d2i_PrivateKey_bio(b, NULL);
	*left_r = (int)BIO_pending(b);
	BIO_free(b);
	ERR_clear_error();
	return k;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EVP_PKEY *want, *got[2];
	int which, lwant, lgot, i;

	if (size < 1 || size > 8192)
		return 0;
	which = data[0] % 3;
	data++;
	size--;
	/* an encrypted PEM would ask the terminal: refuse it for both */
	if (which == 2 && size > 0 && memmem(data, size, "ENCRYPTED", 9) !=
	    NULL)
		return 0;
	want = call(which, 1, data, size, &lwant);
	for (i = 0; i < 2; i++) {
		got[i] = call(which, 0, data, size, &lgot);
		FUZZ_CHECK((got[i] == NULL) == (want == NULL), "%s, call %d: "
		    "memo %s, OpenSSL %s", names[which], i + 1,
		    got[i] ? "a key" : "none", want ? "a key" : "none");
		FUZZ_CHECK(got[i] == NULL || EVP_PKEY_eq(got[i], want) == 1,
		    "%s, call %d: another key than OpenSSL's", names[which],
		    i + 1);
		FUZZ_CHECK(lgot == lwant, "%s, call %d: %d bytes left, "
		    "OpenSSL leaves %d", names[which], i + 1, lgot, lwant);
	}
	EVP_PKEY_free(got[0]);
	EVP_PKEY_free(got[1]);
	EVP_PKEY_free(want);
	return 0;
}
