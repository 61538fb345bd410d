/*
 * secret.c - see secret.h.
 *
 * Key "secret:NAME" in `meta`.  The random bytes are drawn before the
 * write transaction (store_write() may run its body again) and stored
 * only when no secret of that name is there yet, so racing processes
 * all end up with the first one committed.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "common/error.h"
#include "private.h"
#include "secret.h"

struct secret_op {
	char		 key[STORE_SECRET_NAME_MAX + 8];
	unsigned char	 fresh[STORE_SECRET_MAX];
	unsigned char	*buf;
	size_t		 len;
	int		 found;
};

static int
secret_copy(struct secret_op *o, const MDB_val *v)
{
	if (v->mv_size < o->len)
		return err_set(ERR_CORRUPT, "store %s: %zu bytes, %zu wanted",
		    o->key, v->mv_size, o->len);
	memcpy(o->buf, v->mv_data, o->len);
	o->found = 1;
	return 0;
}

static int
secret_read_txn(struct store_txn *t, void *ctx)
{
	struct secret_op *o = ctx;
	MDB_val v;
	int rc;

	o->found = 0;
	if ((rc = sdb_get(t, DB_META, o->key, strlen(o->key), &v)) != 1)
		return rc;
	return secret_copy(o, &v);
}

static int
secret_make_txn(struct store_txn *t, void *ctx)
{
	struct secret_op *o = ctx;

	if (secret_read_txn(t, o) == -1)
		return -1;
	if (o->found)
		return 0;
	if (sdb_put(t, DB_META, o->key, strlen(o->key), o->fresh, o->len,
	    0) == -1)
		return -1;
	memcpy(o->buf, o->fresh, o->len);
	o->found = 1;
	return 0;
}

int
store_secret_get(struct store *st, const char *name, void *buf, size_t len)
{
	struct secret_op o;
	size_t nlen = strlen(name);

	if (nlen == 0 || nlen > STORE_SECRET_NAME_MAX || len == 0 ||
	    len > STORE_SECRET_MAX)
		return err_set(ERR_INVALID, "secret name or length not valid");
	memset(&o, 0, sizeof(o));
	snprintf(o.key, sizeof(o.key), "secret:%s", name);
	o.buf = buf;
	o.len = len;
	if (store_read(st, secret_read_txn, &o) == -1)
		return -1;
	if (o.found)
		return 0;
	if (RAND_bytes(o.fresh, (int)len) != 1)
		return err_set(ERR_TEMP, "no random bytes for the %s secret",
		    name);
	if (store_write(st, secret_make_txn, &o) == -1)
		return -1;
	OPENSSL_cleanse(o.fresh, sizeof(o.fresh));
	return 0;
}
