/*
 * queue.c - `queue`: id -> envelope, body id, attempts, next try.
 */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/xmalloc.h"
#include "message.h"
#include "private.h"
#include "queue.h"

static int
queue_decode(const MDB_val *k, const MDB_val *v, struct store_queue_entry *e)
{
	struct unpack u;
	size_t i;

	memset(e, 0, sizeof(*e));
	if (k->mv_size != 8)
		return err_set(ERR_CORRUPT, "queue key damaged");
	e->id = be64dec(k->mv_data);
	unpack_init(&u, v);
	unpack_str(&u, e->sender, sizeof(e->sender));
	e->nrcpts = unpack_u32(&u);
	if (u.bad || e->nrcpts == 0 || e->nrcpts > STORE_QUEUE_RCPTS_MAX)
		return err_set(ERR_CORRUPT, "queue entry damaged");
	e->rcpts = xcalloc(e->nrcpts, sizeof(*e->rcpts));
	for (i = 0; i < e->nrcpts; i++)
		unpack_str(&u, e->rcpts[i], sizeof(e->rcpts[i]));
	e->body = unpack_u64(&u);
	e->size = unpack_u64(&u);
	e->queued = (int64_t)unpack_u64(&u);
	e->attempts = unpack_u32(&u);
	e->next_try = (int64_t)unpack_u64(&u);
	if (unpack_done(&u, "queue") == -1) {
		free(e->rcpts);
		e->rcpts = NULL;
		return -1;
	}
	return 1;
}

int
store_queue_add(struct store_txn *t, const char *sender,
    const char *const *rcpts, size_t n, struct store_prepared *prep,
    uint64_t *id_r)
{
	struct pack p;
	uint8_t key[8];
	uint64_t id, body;
	size_t i;
	int rc;

	if (n == 0 || n > STORE_QUEUE_RCPTS_MAX)
		return err_set(ERR_LIMIT, "a queue entry has 1 to %d "
		    "recipients", STORE_QUEUE_RCPTS_MAX);
	if (strlen(sender) > STORE_ADDRESS_MAX)
		return err_set(ERR_INVALID, "sender address too long");
	for (i = 0; i < n; i++)
		if (rcpts[i][0] == '\0' || strlen(rcpts[i]) > STORE_ADDRESS_MAX)
			return err_set(ERR_INVALID, "bad recipient '%s'",
			    rcpts[i]);
	if (body_insert(t, prep, &body) == -1 ||
	    sdb_next_id(t, DB_QUEUE, &id) == -1)
		return -1;
	be64enc(key, id);
	pack_init(&p);
	pack_str(&p, sender);
	pack_u32(&p, (uint32_t)n);
	for (i = 0; i < n; i++)
		pack_str(&p, rcpts[i]);
	pack_u64(&p, body);
	pack_u64(&p, store_prepared_size(prep));
	pack_u64(&p, (uint64_t)store_now());
	pack_u32(&p, 0);
	pack_u64(&p, (uint64_t)store_now());
	rc = sdb_put(t, DB_QUEUE, key, 8, p.buf, p.len, MDB_APPEND);
	pack_free(&p);
	if (rc != 1)
		return rc == -1 ? -1 : err_set(ERR_CORRUPT, "queue id %llu "
		    "already used", (unsigned long long)id);
	if (id_r != NULL)
		*id_r = id;
	return 1;
}

int
store_queue_del(struct store_txn *t, uint64_t id)
{
	struct store_queue_entry e;
	uint8_t key[8];
	MDB_val k = { 8, key }, v;
	int rc;

	be64enc(key, id);
	if ((rc = sdb_get(t, DB_QUEUE, key, 8, &v)) != 1)
		return rc;
	if (queue_decode(&k, &v, &e) == -1)
		return -1;
	free(e.rcpts);
	if (sdb_del(t, DB_QUEUE, key, 8) == -1 || body_unref(t, e.body) == -1)
		return -1;
	return 1;
}

int
store_queue_list(struct store_txn *t, store_queue_fn *fn, void *ctx)
{
	struct store_queue_entry e;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r = 0;

	if (sdb_cursor(t, DB_QUEUE, &c) == -1)
		return -1;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (queue_decode(&k, &v, &e) == -1) {
			r = -1;
			break;
		}
		rc = fn(&e, ctx);
		free(e.rcpts);
		if (rc == -1) {
			r = -1;
			break;
		}
	}
	mdb_cursor_close(c);
	return r;
}
