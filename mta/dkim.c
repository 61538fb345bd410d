/*
 * dkim.c - see dkim.h.
 *
 * One DKIM_LIB for the process, set up before any thread signs and only
 * read afterwards (libopendkim keeps per-message state in the DKIM
 * handle, which one thread owns).  Each key gets a handle of its own
 * over the same bytes: the signatures are independent, each over the
 * message without the others (RFC 6376 5.4: signatures added later are
 * not covered), which is what verifiers expect of dual signing.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <opendkim/dkim.h>

#include "common/error.h"
#include "common/keymemo.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "mail/mime.h"
#include "mail/rfc822.h"
#include "mta/dkim.h"
#include "store/store.h"

/* An unfolded From: value is cut here; the first address is enough. */
#define FROM_MAX	4096

static const char *sign_headers[] = {
	"from", "to", "cc", "subject", "date", "message-id", "reply-to",
	"in-reply-to", "references", "mime-version", "content-type",
	"content-transfer-encoding", "sender", "list-*", NULL
};
static const char *oversign_headers[] = { "from", NULL };

static DKIM_LIB *dkim_lib;

struct load_ctx {
	struct mta_dkim_keys	*k;
};

static int	keys_one(const struct store_dkim_key *, void *);
static int	keys_txn(struct store_txn *, void *);
static int	sign_one(const struct mta_dkim_keys *, size_t,
		    const void *, size_t, char **, size_t *);

int
mta_dkim_init(void)
{
	unsigned int flags = DKIM_LIBFLAGS_FIXCRLF;

	if (dkim_lib != NULL)
		return 0;
	if ((dkim_lib = dkim_init(NULL, NULL)) == NULL)
		return err_set(ERR_TEMP, "libopendkim: cannot initialise");
	/* each private key decoded once, not per signature (keymemo.h) */
	if (!keymemo_bound())
		log_warnx("dkim: the key memo is not in effect: every "
		    "signature decodes its key again");
	/*
	 * FIXCRLF: a stored message may have bare LFs, which the SMTP client
	 * sends as CRLF; the signature must be over what is sent.
	 */
	if (dkim_options(dkim_lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags,
	    sizeof(flags)) != DKIM_STAT_OK ||
	    dkim_options(dkim_lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS,
	    sign_headers, sizeof(char **)) != DKIM_STAT_OK ||
	    dkim_options(dkim_lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS,
	    oversign_headers, sizeof(char **)) != DKIM_STAT_OK) {
		mta_dkim_shutdown();
		return err_set(ERR_TEMP, "libopendkim: cannot set the signing "
		    "options");
	}
	return 0;
}

void
mta_dkim_shutdown(void)
{
	if (dkim_lib != NULL)
		dkim_close(dkim_lib);
	dkim_lib = NULL;
}

int
mta_dkim_from_domain(const void *msg, size_t len, char *dom)
{
	char *value, name[STORE_DOMAIN_MAX + 1];
	struct rfc822_addr *a = NULL;
	size_t hl, n = 0, i;
	int rc = 0;

	hl = mime_header_end(msg, len);
	value = xmalloc(FROM_MAX);
	if (mime_header_get(msg, hl, "From", value, FROM_MAX) != 1)
		goto done;
	rfc822_addr_parse_n(value, strlen(value), 1, &a, &n);
	for (i = 0; i < n; i++) {
		if (a[i].domain.p == NULL || a[i].mailbox.p == NULL)
			continue;	/* a group marker */
		if (a[i].domain.len == 0 || a[i].domain.len > STORE_DOMAIN_MAX)
			break;
		memcpy(name, a[i].domain.p, a[i].domain.len);
		name[a[i].domain.len] = '\0';
		if (store_domain_normalize(name, dom) == 0)
			rc = 1;
		break;
	}
	rfc822_addr_free(a, n);
done:
	free(value);
	return rc;
}

static int
keys_one(const struct store_dkim_key *sk, void *arg)
{
	struct load_ctx *l = arg;
	struct mta_dkim_key *k;

	l->k->v = xreallocarray(l->k->v, l->k->n + 1, sizeof(*l->k->v));
	k = &l->k->v[l->k->n++];
	memset(k, 0, sizeof(*k));
	snprintf(k->selector, sizeof(k->selector), "%s", sk->selector);
	k->alg = sk->alg;
	k->pem = xstrdup(sk->key);
	return 0;
}

static int
keys_txn(struct store_txn *t, void *arg)
{
	struct load_ctx *l = arg;

	/* store_read() may run the body again: start empty each time */
	mta_dkim_keys_clear(l->k);
	return store_dkim_list(t, l->k->domain, keys_one, l);
}

int
mta_dkim_keys_load(struct store *st, const char *domain,
    struct mta_dkim_keys *k)
{
	struct load_ctx l = { k };

	memset(k, 0, sizeof(*k));
	snprintf(k->domain, sizeof(k->domain), "%s", domain);
	if (store_read(st, keys_txn, &l) == -1) {
		mta_dkim_keys_clear(k);
		return -1;
	}
	return k->n > 0 ? 1 : 0;
}

void
mta_dkim_keys_clear(struct mta_dkim_keys *k)
{
	size_t i;

	for (i = 0; i < k->n; i++) {
		if (k->v[i].pem != NULL) {
			explicit_bzero(k->v[i].pem, strlen(k->v[i].pem));
			free(k->v[i].pem);
		}
	}
	free(k->v);
	k->v = NULL;
	k->n = 0;
}

char *
mta_dkim_keys_id(const struct mta_dkim_keys *k)
{
	char *s = xstrdup(""), *t;
	size_t i;

	for (i = 0; i < k->n; i++) {
		if (asprintf(&t, "%s%s:%d", s, k->v[i].selector,
		    (int)k->v[i].alg) == -1)
			fatalx("out of memory");
		free(s);
		s = t;
	}
	return s;
}

/* One DKIM-Signature line set (CRLF-ended) with key i into *out_r. */
static int
sign_one(const struct mta_dkim_keys *k, size_t i, const void *msg,
    size_t len, char **out_r, size_t *outlen_r)
{
	static const char name[] = "DKIM-Signature: ";
	const struct mta_dkim_key *key = &k->v[i];
	DKIM_STAT st;
	DKIM *d;
	u_char *hdr;
	size_t hlen;
	char *out;

	d = dkim_sign(dkim_lib, (const u_char *)"vellum-mta", NULL,
	    (dkim_sigkey_t)key->pem, (const u_char *)key->selector,
	    (const u_char *)k->domain, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
	    key->alg == STORE_DKIM_ED25519 ? DKIM_SIGN_ED25519SHA256 :
	    DKIM_SIGN_RSASHA256, -1, &st);
	if (d == NULL)
		return err_set(ERR_INVALID, "DKIM key %s of %s: %s",
		    key->selector, k->domain, dkim_getresultstr(st));
	/* libopendkim's chunk interface takes the message as it is */
	if ((st = dkim_chunk(d, (u_char *)(uintptr_t)msg, len)) !=
	    DKIM_STAT_OK ||
	    (st = dkim_chunk(d, NULL, 0)) != DKIM_STAT_OK ||
	    (st = dkim_eom(d, NULL)) != DKIM_STAT_OK ||
	    (st = dkim_getsighdr_d(d, strlen(name), &hdr, &hlen)) !=
	    DKIM_STAT_OK) {
		const char *why = dkim_geterror(d);

		err_set(st == DKIM_STAT_NORESOURCE ? ERR_TEMP : ERR_INVALID,
		    "DKIM signing with key %s of %s: %s", key->selector,
		    k->domain, why != NULL && why[0] != '\0' ? why :
		    dkim_getresultstr(st));
		dkim_free(d);
		return -1;
	}
	/* the value comes folded with CRLF + tab already */
	out = xmalloc(strlen(name) + hlen + 3);
	memcpy(out, name, strlen(name));
	memcpy(out + strlen(name), hdr, hlen);
	memcpy(out + strlen(name) + hlen, "\r\n", 3);
	*out_r = out;
	*outlen_r = strlen(name) + hlen + 2;
	dkim_free(d);
	return 0;
}

int
mta_dkim_sign(const struct mta_dkim_keys *k, const void *msg, size_t len,
    char **hdr_r, size_t *len_r)
{
	char *all = NULL, *one = NULL;
	size_t n = 0, olen = 0, i;

	*hdr_r = NULL;
	*len_r = 0;
	if (dkim_lib == NULL)
		return err_set(ERR_TEMP, "libopendkim is not initialised");
	for (i = 0; i < k->n; i++) {
		if (sign_one(k, i, msg, len, &one, &olen) == -1) {
			free(all);
			return -1;
		}
		all = xreallocarray(all, n + olen + 1, 1);
		memcpy(all + n, one, olen + 1);
		n += olen;
		free(one);
	}
	*hdr_r = all;
	*len_r = n;
	return 0;
}
