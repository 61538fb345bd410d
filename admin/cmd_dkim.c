/*
 * cmd_dkim.c - vellumctl dkim keygen|list|show|delete
 *
 * Keys are made here with OpenSSL (EVP), stored as PKCS#8 PEM in the
 * store (store/dkim.h), and vellum-mta signs with them from the next
 * message on.  What the operator needs from us is the DNS record: keygen
 * and show print it ready for a zone file, the TXT text split in strings
 * of at most 255 bytes (RFC 1035 3.3.14; RFC 6376 3.6.2.2 has verifiers
 * join them).  The private key is never printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/error.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "store/dkim.h"

#include "ctl.h"

#define DKIM_BITS_DEFAULT	2048
#define DKIM_BITS_MIN		1024	/* RFC 8301: verifiers refuse less */
#define DKIM_BITS_MAX		4096
/* One character-string of a TXT record. */
#define DKIM_TXT_CHUNK		255

struct dkim_args {
	const char		*domain, *selector;
	struct store_dkim_key	*key;		/* keygen */
	struct store_dkim_key	*list;
	size_t			 n;
	int			 found;
};

static int	dkim_keygen_pem(enum store_dkim_alg, int bits, char *out,
		    size_t size);
static const char *dkim_alg_text(enum store_dkim_alg, int bits, char *,
		    size_t);
static char	*dkim_txt(const struct store_dkim_key *, int *bits_r);
static void	dkim_print_record(const struct store_dkim_key *,
		    const char *txt);
static int	cmd_dkim_put_txn(struct store_txn *, void *);
static int	cmd_dkim_del_txn(struct store_txn *, void *);
static int	cmd_dkim_get_txn(struct store_txn *, void *);
static int	cmd_dkim_list_one(const struct store_dkim_key *, void *);
static int	cmd_dkim_list_txn(struct store_txn *, void *);
static int	cmd_dkim_keygen(struct ctl *, int, char **);
static int	cmd_dkim_list(struct ctl *, int, char **);
static int	cmd_dkim_show(struct ctl *, int, char **);
static int	cmd_dkim_delete(struct ctl *, int, char **);

/* A new private key as PKCS#8 PEM into out.  0, -1 (err set). */
static int
dkim_keygen_pem(enum store_dkim_alg alg, int bits, char *out, size_t size)
{
	EVP_PKEY *pk = NULL;
	BIO *b = NULL;
	char *p;
	long n;
	int rc = -1;

	if (alg == STORE_DKIM_RSA)
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	else
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pk == NULL)
		return err_set(ERR_TEMP, "OpenSSL could not make a %s key",
		    store_dkim_alg_name(alg));
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL) != 1) {
		err_set(ERR_TEMP, "OpenSSL could not write the key");
		goto done;
	}
	n = BIO_get_mem_data(b, &p);
	if (n <= 0 || (size_t)n >= size) {
		err_set(ERR_INVALID, "the %s key takes %ld bytes of PEM, more "
		    "than the store keeps (%zu)", store_dkim_alg_name(alg), n,
		    size - 1);
		goto done;
	}
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	OPENSSL_cleanse(p, (size_t)n);
	rc = 0;
done:
	BIO_free(b);
	EVP_PKEY_free(pk);
	return rc;
}

/* "rsa-2048", "ed25519": an ed25519 key has no size to choose. */
static const char *
dkim_alg_text(enum store_dkim_alg alg, int bits, char *buf, size_t size)
{
	if (alg == STORE_DKIM_RSA)
		snprintf(buf, size, "rsa-%d", bits);
	else
		snprintf(buf, size, "%s", store_dkim_alg_name(alg));
	return buf;
}

/*
 * The TXT text of a key, "v=DKIM1; k=rsa; p=BASE64" (malloc'd): for RSA
 * p is the DER SubjectPublicKeyInfo (RFC 6376 3.6.1), for ed25519 the
 * raw 32-byte public key (RFC 8463 4.2).  NULL with err set when the
 * stored key does not parse.
 */
static char *
dkim_txt(const struct store_dkim_key *k, int *bits_r)
{
	unsigned char *der = NULL, raw[32];
	EVP_PKEY *pk = NULL;
	BIO *b;
	char *txt = NULL, *b64 = NULL;
	size_t rawlen = sizeof(raw), len = 0;
	int n;

	if ((b = BIO_new_mem_buf(k->key, -1)) == NULL ||
	    (pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL) {
		err_set(ERR_CORRUPT, "the stored key %s of %s does not parse",
		    k->selector, k->domain);
		goto done;
	}
	*bits_r = EVP_PKEY_get_bits(pk);
	if (k->alg == STORE_DKIM_ED25519) {
		if (EVP_PKEY_get_raw_public_key(pk, raw, &rawlen) != 1 ||
		    rawlen != sizeof(raw)) {
			err_set(ERR_CORRUPT, "key %s of %s is not an ed25519 "
			    "key", k->selector, k->domain);
			goto done;
		}
		der = xmalloc(rawlen);
		memcpy(der, raw, rawlen);
		len = rawlen;
	} else {
		if ((n = i2d_PUBKEY(pk, &der)) <= 0 ||
		    EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
			err_set(ERR_CORRUPT, "key %s of %s is not an RSA key",
			    k->selector, k->domain);
			goto done;
		}
		len = (size_t)n;
	}
	b64 = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)b64, der, (int)len);
	if (asprintf(&txt, "v=DKIM1; k=%s; p=%s", store_dkim_alg_name(k->alg),
	    b64) == -1)
		fatalx("out of memory");
done:
	if (k->alg == STORE_DKIM_ED25519)
		free(der);
	else
		OPENSSL_free(der);
	free(b64);
	EVP_PKEY_free(pk);
	BIO_free(b);
	return txt;
}

/* NAME. IN TXT ( "..." "..." ), one string of at most 255 bytes a line. */
static void
dkim_print_record(const struct store_dkim_key *k, const char *txt)
{
	size_t len = strlen(txt), off, n;

	printf("%s._domainkey.%s. IN TXT (", k->selector, k->domain);
	for (off = 0; off < len; off += n) {
		n = len - off > DKIM_TXT_CHUNK ? DKIM_TXT_CHUNK : len - off;
		printf("%s\"%.*s\"", off == 0 ? " " : "\n\t", (int)n,
		    txt + off);
	}
	printf(" )\n");
}

static int
cmd_dkim_put_txn(struct store_txn *txn, void *arg)
{
	struct dkim_args *a = arg;

	return store_dkim_put(txn, a->key);
}

static int
cmd_dkim_del_txn(struct store_txn *txn, void *arg)
{
	struct dkim_args *a = arg;
	int rc;

	if ((rc = store_dkim_del(txn, a->domain, a->selector)) == 0)
		return err_set(ERR_NOTFOUND, "%s has no DKIM key with "
		    "selector %s", a->domain, a->selector);
	return rc;
}

static int
cmd_dkim_get_txn(struct store_txn *txn, void *arg)
{
	struct dkim_args *a = arg;
	int rc;

	if ((rc = store_dkim_get(txn, a->domain, a->selector, a->key)) == 0)
		return err_set(ERR_NOTFOUND, "%s has no DKIM key with "
		    "selector %s", a->domain, a->selector);
	return rc;
}

static int
cmd_dkim_list_one(const struct store_dkim_key *k, void *arg)
{
	struct dkim_args *a = arg;

	a->list = xreallocarray(a->list, a->n + 1, sizeof(*a->list));
	a->list[a->n++] = *k;
	return 0;
}

static int
cmd_dkim_list_txn(struct store_txn *txn, void *arg)
{
	struct dkim_args *a = arg;
	struct store_domain d;
	int rc;

	free(a->list);
	a->list = NULL;
	a->n = 0;
	if (a->domain != NULL) {
		if ((rc = store_domain_get(txn, a->domain, &d)) == -1)
			return -1;
		if (rc == 0)
			return err_set(ERR_NOTFOUND, "no domain %s",
			    a->domain);
	}
	return store_dkim_list(txn, a->domain, cmd_dkim_list_one, a);
}

static int
cmd_dkim_keygen(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_opt opts[] = {
		{ "algorithm", 1, NULL, 0 },
		{ "bits", 1, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	struct dkim_args a;
	struct store_dkim_key *k;
	const char *v;
	char sel[STORE_DKIM_SELECTOR_MAX + 1], *end, *txt, tbuf[32];
	long bits = DKIM_BITS_DEFAULT;
	int n, rc, got;

	if ((rc = ctl_args(ctl, argc, argv, opts, 2, 2, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	k = xcalloc(1, sizeof(*k));
	a.key = k;
	k->alg = STORE_DKIM_RSA;
	if ((v = ctl_opt(opts, "algorithm")->value) != NULL &&
	    store_dkim_alg_parse(v, &k->alg) == -1) {
		free(k);
		return ctl_usage(ctl, "%s", err_msg());
	}
	if ((v = ctl_opt(opts, "bits")->value) != NULL) {
		if (k->alg != STORE_DKIM_RSA) {
			free(k);
			return ctl_usage(ctl, "--bits is for rsa keys (an "
			    "ed25519 key has no size to choose)");
		}
		bits = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || bits < DKIM_BITS_MIN ||
		    bits > DKIM_BITS_MAX) {
			free(k);
			return ctl_usage(ctl, "--bits takes %d to %d, not "
			    "'%s'", DKIM_BITS_MIN, DKIM_BITS_MAX, v);
		}
	}
	/* Checked before the slow key generation (the store checks again). */
	if (store_dkim_selector_normalize(argv[1], sel) == -1 ||
	    store_domain_normalize(argv[0], k->domain) == -1) {
		free(k);
		return ctl_usage(ctl, "%s", err_msg());
	}
	snprintf(k->selector, sizeof(k->selector), "%s", sel);
	if (ctl_open(ctl, STORE_NOCREATE) < 0) {
		free(k);
		return CTL_FAIL;
	}
	if (dkim_keygen_pem(k->alg, (int)bits, k->key, sizeof(k->key)) == -1 ||
	    store_write(ctl->store, cmd_dkim_put_txn, &a) < 0) {
		rc = ctl_fail(err_class() == ERR_EXISTS ?
		    "'vellumctl dkim list' shows the keys" : NULL,
		    "dkim keygen %s %s", argv[0], argv[1]);
		explicit_bzero(k, sizeof(*k));
		free(k);
		return rc;
	}
	txt = dkim_txt(k, &got);
	explicit_bzero(k->key, sizeof(k->key));
	if (txt == NULL) {
		free(k);
		return ctl_fail(NULL, "dkim keygen %s %s", argv[0], argv[1]);
	}
	if (ctl->json) {
		printf("{\"domain\": ");
		ctl_json_str(stdout, k->domain);
		printf(", \"selector\": ");
		ctl_json_str(stdout, k->selector);
		printf(", \"algorithm\": \"%s\", \"bits\": %d, \"name\": "
		    "\"%s._domainkey.%s\", \"txt\": ",
		    store_dkim_alg_name(k->alg), got, k->selector, k->domain);
		ctl_json_str(stdout, txt);
		printf("}\n");
	} else {
		printf("; %s key for %s, selector %s: publish this record\n",
		    dkim_alg_text(k->alg, got, tbuf, sizeof(tbuf)), k->domain,
		    k->selector);
		dkim_print_record(k, txt);
	}
	free(txt);
	free(k);
	return CTL_OK;
}

static int
cmd_dkim_list(struct ctl *ctl, int argc, char **argv)
{
	struct dkim_args a;
	struct store_dkim_key *k;
	char tbuf[32], abuf[32], *txt;
	size_t i;
	int n, rc, bits;

	if ((rc = ctl_args(ctl, argc, argv, NULL, 0, 1, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	a.domain = n > 0 ? argv[0] : NULL;
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_read(ctl->store, cmd_dkim_list_txn, &a) < 0) {
		free(a.list);
		return ctl_fail(err_class() == ERR_NOTFOUND ?
		    "'vellumctl domain list' shows the domains" : NULL,
		    "dkim list");
	}
	if (ctl->json)
		printf("[");
	for (i = 0; i < a.n; i++) {
		k = &a.list[i];
		bits = 0;
		if ((txt = dkim_txt(k, &bits)) == NULL)
			bits = 0;
		if (ctl->json) {
			printf("%s\n  {\"domain\": ", i > 0 ? "," : "");
			ctl_json_str(stdout, k->domain);
			printf(", \"selector\": ");
			ctl_json_str(stdout, k->selector);
			printf(", \"algorithm\": \"%s\", \"bits\": %d, "
			    "\"created\": ", store_dkim_alg_name(k->alg), bits);
			ctl_json_str(stdout, ctl_time(k->created, tbuf));
			printf(", \"txt\": ");
			if (txt != NULL)
				ctl_json_str(stdout, txt);
			else
				printf("null");
			printf("}");
		} else
			printf("%s\t%s\t%s\t%s\n", k->domain, k->selector,
			    dkim_alg_text(k->alg, bits, abuf, sizeof(abuf)),
			    ctl_time(k->created, tbuf));
		free(txt);
	}
	if (ctl->json)
		printf("%s]\n", a.n > 0 ? "\n" : "");
	if (a.list != NULL)
		explicit_bzero(a.list, a.n * sizeof(*a.list));
	free(a.list);
	return CTL_OK;
}

static int
cmd_dkim_show(struct ctl *ctl, int argc, char **argv)
{
	struct dkim_args a;
	char *txt;
	int n, rc, bits;

	if ((rc = ctl_args(ctl, argc, argv, NULL, 2, 2, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	a.domain = argv[0];
	a.selector = argv[1];
	a.key = xcalloc(1, sizeof(*a.key));
	if (ctl_open(ctl, STORE_NOCREATE) < 0 ||
	    store_read(ctl->store, cmd_dkim_get_txn, &a) < 0 ||
	    (txt = dkim_txt(a.key, &bits)) == NULL) {
		rc = ctl->store == NULL ? CTL_FAIL : ctl_fail(
		    err_class() == ERR_NOTFOUND ?
		    "'vellumctl dkim list' shows the keys" : NULL,
		    "dkim show %s %s", argv[0], argv[1]);
		explicit_bzero(a.key, sizeof(*a.key));
		free(a.key);
		return rc;
	}
	explicit_bzero(a.key->key, sizeof(a.key->key));
	if (ctl->json) {
		printf("{\"domain\": ");
		ctl_json_str(stdout, a.key->domain);
		printf(", \"selector\": ");
		ctl_json_str(stdout, a.key->selector);
		printf(", \"algorithm\": \"%s\", \"bits\": %d, \"name\": "
		    "\"%s._domainkey.%s\", \"txt\": ",
		    store_dkim_alg_name(a.key->alg), bits, a.key->selector,
		    a.key->domain);
		ctl_json_str(stdout, txt);
		printf("}\n");
	} else
		dkim_print_record(a.key, txt);
	free(txt);
	free(a.key);
	return CTL_OK;
}

static int
cmd_dkim_delete(struct ctl *ctl, int argc, char **argv)
{
	struct dkim_args a;
	int n, rc;

	if ((rc = ctl_args(ctl, argc, argv, NULL, 2, 2, &n)) != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	a.domain = argv[0];
	a.selector = argv[1];
	if (ctl_open(ctl, STORE_NOCREATE) < 0)
		return CTL_FAIL;
	if (store_write(ctl->store, cmd_dkim_del_txn, &a) < 0)
		return ctl_fail(err_class() == ERR_NOTFOUND ?
		    "'vellumctl dkim list' shows the keys" : NULL,
		    "dkim delete %s %s", a.domain, a.selector);
	ctl_done(ctl, "DKIM key %s of %s deleted: mail is no longer signed "
	    "with it (remove its DNS record once no mail in transit needs it)",
	    a.selector, a.domain);
	return CTL_OK;
}

int
cmd_dkim(struct ctl *ctl, int argc, char **argv)
{
	if (strcmp(ctl->verb, "keygen") == 0)
		return cmd_dkim_keygen(ctl, argc, argv);
	if (strcmp(ctl->verb, "list") == 0)
		return cmd_dkim_list(ctl, argc, argv);
	if (strcmp(ctl->verb, "show") == 0)
		return cmd_dkim_show(ctl, argc, argv);
	if (strcmp(ctl->verb, "delete") == 0)
		return cmd_dkim_delete(ctl, argc, argv);
	return ctl_usage(ctl, "unknown command 'dkim %s'", ctl->verb);
}
